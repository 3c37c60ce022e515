/* Chain analysis through the real server: interception catalog, known-hostile roots,
 * public vs private anchors (a test trust store), expected keys API and file. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testcert.h"
#include "testenv.h"
#include "testreport.h"

static struct testenv_server srv;
static struct testcert *pub_root, *pub_ca, *leaf, *forti_root, *forti_leaf, *qaz_like, *qaz_leaf;
static char *store_path, *keys_path;
static char env_store[512], env_keys[512];

static void setup(void)
{
    testenv_reset_db();
    pub_root = testcert_new_root(
        &(struct testcert_opts){.cn = "Pinwatch Test Public Root", .o = "Pinwatch Test Trust"});
    pub_ca = testcert_new_ca(&(struct testcert_opts){.cn = "Pinwatch Test Public CA"}, pub_root);
    leaf = testcert_new_leaf(
        &(struct testcert_opts){.cn = "api.example.com",
                                .sans = (const char *[]){"api.example.com", NULL}},
        pub_ca);
    forti_root = testcert_new_root(&(struct testcert_opts){.cn = "FortiGate CA", .o = "Fortinet"});
    forti_leaf = testcert_new_leaf(
        &(struct testcert_opts){.cn = "api.example.com",
                                .sans = (const char *[]){"api.example.com", NULL}},
        forti_root);
    qaz_like = testcert_new_root(&(struct testcert_opts){.cn = "Qaznet Trust Network"});
    qaz_leaf = testcert_new_leaf(&(struct testcert_opts){.cn = "api.example.com"}, qaz_like);
    const struct testcert *roots[] = {pub_root};
    store_path = testcert_bundle_tmpfile(roots, 1);
    cr_assert_not_null(store_path);
    /* An expected-keys file that declares the CA key of legacy.example.com. */
    char pin[45];
    testcert_pin(pub_ca, pin);
    keys_path = strdup("/tmp/pinwatch-keys-XXXXXX");
    int fd = mkstemp(keys_path);
    dprintf(fd,
            "{\"hosts\": {\"*.legacy.example.com\": {\"keys\": [{\"pin\": \"%s\", \"label\": "
            "\"ca\"}]}}}",
            pin);
    close(fd);
    snprintf(env_store, sizeof(env_store), "PINWATCH_TRUST_STORE=%s", store_path);
    snprintf(env_keys, sizeof(env_keys), "PINWATCH_EXPECTED_KEYS=%s", keys_path);
    const char *env[] = {env_store, env_keys, "PINWATCH_TRUSTED_PROXIES=127.0.0.0/8", NULL};
    memset(&srv, 0, sizeof(srv));
    testenv_server_start(&srv, env);
}

static void teardown(void)
{
    testenv_server_kill(&srv);
    unlink(store_path);
    unlink(keys_path);
    free(store_path);
    free(keys_path);
    testcert_free(pub_root);
    testcert_free(pub_ca);
    testcert_free(leaf);
    testcert_free(forti_root);
    testcert_free(forti_leaf);
    testcert_free(qaz_like);
    testcert_free(qaz_leaf);
}

TestSuite(analysis, .init = setup, .fini = teardown, .timeout = 120);

static json_t *findings_of(const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/reports/%s", id);
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, path, &r), 200, "%s", r.body);
    json_t *f = json_incref(json_object_get(r.json, "findings"));
    cr_assert_not_null(f, "%s", r.body);
    testenv_response_free(&r);
    return f;
}

Test(analysis, fortinet_minted_chain_is_a_private_anchor_matching_the_product)
{
    const struct testcert *chain[] = {forti_leaf, forti_root};
    const struct testcert *pins[] = {leaf};
    struct testreport tr = {.app = "com.example.shop",
                            .version = "5.0",
                            .vendor_id = "D1",
                            .hostname = "api.example.com",
                            .chain = chain,
                            .chain_len = 2,
                            .pins = pins,
                            .n_pins = 1};
    char *id = testreport_post(&srv, &tr, "198.51.100.7");
    json_t *f = findings_of(id);
    json_t *anchor = json_object_get(f, "anchor");
    cr_assert(json_is_false(json_object_get(anchor, "public")));
    cr_assert_str_eq(json_string_value(json_object_get(anchor, "subject")),
                     "CN=FortiGate CA,O=Fortinet");
    const char *product =
        json_string_value(json_object_get(json_object_get(f, "catalog"), "product"));
    cr_assert_not_null(product);
    cr_assert(strstr(product, "Forti") != NULL, "product %s", product);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(f, "catalog"), "category")),
                     "enterprise_proxy");
    cr_assert(json_is_true(json_object_get(f, "linked")));
    cr_assert(json_is_true(json_object_get(f, "covers_hostname")));
    cr_assert(json_is_false(json_object_get(f, "pin_in_chain")));
    cr_assert(json_is_false(json_object_get(f, "known_hostile")));
    cr_assert(json_is_false(json_object_get(f, "expected_key")));
    json_decref(f);
    free(id);
}

static char *qaznet_pem(void)
{
    char path[512];
    snprintf(path, sizeof(path),
             "%s/chromium-blocklist/"
             "00309c736dd661da6f1eb24173aa849944c168a43a15bffd192eecfdb6f8dbd2.pem",
             FIXTURES_DIR);
    struct cert *c = testcert_load_pem_file(path);
    char *pem = cert_to_pem(c);
    cert_free(c);
    return pem;
}

Test(analysis, the_real_qaznet_root_is_known_hostile)
{
    char *pem = qaznet_pem();
    json_t *chain = json_pack("[s, s]", testcert_pem(qaz_leaf), pem);
    char pin[45], entry[64];
    testcert_pin(leaf, pin);
    snprintf(entry, sizeof(entry), "pin-sha256=\"%s\"", pin);
    json_t *body = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:o, s:[s], s:i}", "app-bundle-id", "com.example.shop",
        "app-version", "5.0", "app-platform", "IOS", "hostname", "api.example.com",
        "noted-hostname", "api.example.com", "port", 0, "date-time", "2026-11-27T09:00:00Z",
        "validated-certificate-chain", chain, "known-pins", entry, "validation-result", 2);
    char *text = json_dumps(body, JSON_COMPACT);
    struct testenv_response r;
    cr_assert_eq(testenv_post_report(&srv, text, strlen(text), NULL, &r), 200, "%s", r.body);
    char *id = strdup(json_string_value(json_array_get(json_object_get(r.json, "accepted"), 0)));
    testenv_response_free(&r);
    json_t *f = findings_of(id);
    cr_assert(json_is_true(json_object_get(f, "known_hostile")), "%s", json_dumps(f, 0));
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(f, "anchor"), "spki_sha256")),
        "b5ba8dd7f89564c2889d3d6453c84998c77824919b64ea0835aa62986591be50");
    cr_assert(json_is_false(json_object_get(json_object_get(f, "anchor"), "public")));
    /* The chain endpoint shows the chain-level part. */
    char path[160];
    snprintf(path, sizeof(path), "/v1/chains/%s",
             json_string_value(json_object_get(f, "chain_sha256")));
    cr_assert_eq(testenv_get(&srv, path, &r), 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "certificates")), 2);
    json_t *cf = json_object_get(r.json, "findings");
    cr_assert(json_is_true(json_object_get(cf, "known_hostile")));
    cr_assert_not_null(json_object_get(cf, "weak"));
    cr_assert_not_null(json_object_get(cf, "linked"));
    cr_assert_null(json_object_get(cf, "covers_hostname"), "chain findings are chain-level only");
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, "/v1/chains/00", &r), 404);
    testenv_response_free(&r);
    json_decref(f);
    json_decref(body);
    free(text);
    free(pem);
    free(id);
}

static int put_keys(const char *host, const char *body, struct testenv_response *r)
{
    char path[256], h[160];
    snprintf(path, sizeof(path), "/v1/hosts/%s/keys", host);
    snprintf(h, sizeof(h), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             srv.token);
    return testenv_http(srv.port, "PUT", path, h, body, strlen(body), false, r);
}

Test(analysis, declared_current_key_makes_the_report_expected_and_regroups_stored_ones)
{
    const struct testcert *chain[] = {leaf, pub_ca};
    const struct testcert *pins[] = {forti_root};
    struct testreport tr = {.app = "com.example.shop",
                            .version = "5.0",
                            .vendor_id = "D2",
                            .hostname = "api.example.com",
                            .chain = chain,
                            .chain_len = 2,
                            .pins = pins,
                            .n_pins = 1};
    char *before = testreport_post(&srv, &tr, "203.0.113.5");
    json_t *f = findings_of(before);
    cr_assert(json_is_false(json_object_get(f, "expected_key")));
    /* The store root issued the chain's last certificate: a public anchor. */
    cr_assert(json_is_true(json_object_get(json_object_get(f, "anchor"), "public")));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(f, "anchor"), "subject")),
                     "CN=Pinwatch Test Public Root,O=Pinwatch Test Trust");
    json_decref(f);

    char pin[45], body[256];
    testcert_pin(leaf, pin);
    snprintf(body, sizeof(body), "{\"keys\": [{\"pin\": \"%s\", \"label\": \"current\"}]}", pin);
    struct testenv_response r;
    cr_assert_eq(put_keys("api.example.com", body, &r), 200, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "reports_regrouped")), 1);
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, "/v1/hosts/api.example.com/keys", &r), 200);
    json_t *k0 = json_array_get(json_object_get(r.json, "keys"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(k0, "pin")), pin);
    cr_assert_str_eq(json_string_value(json_object_get(k0, "label")), "current");
    testenv_response_free(&r);

    /* The stored report was re-evaluated... */
    f = findings_of(before);
    cr_assert(json_is_true(json_object_get(f, "expected_key")));
    cr_assert(json_is_true(json_object_get(f, "leaf_expected")));
    json_decref(f);
    /* ...and a new one is expected at ingest. */
    tr.vendor_id = "D3";
    char *after = testreport_post(&srv, &tr, "203.0.113.6");
    f = findings_of(after);
    cr_assert(json_is_true(json_object_get(f, "expected_key")));
    cr_assert(json_is_true(json_object_get(f, "leaf_expected")));
    json_decref(f);
    cr_assert_eq(testenv_db_long("SELECT count(DISTINCT group_id) FROM reports"), 1);

    /* Invalid input changes nothing. */
    cr_assert_eq(put_keys("api.example.com",
                          "{\"keys\": [{\"pin\": \"AAAA\", \"label\": \"current\"}]}", &r),
                 400);
    testenv_response_free(&r);
    snprintf(body, sizeof(body), "{\"keys\": [{\"pin\": \"%s\", \"label\": \"spare\"}]}", pin);
    cr_assert_eq(put_keys("api.example.com", body, &r), 400);
    testenv_response_free(&r);
    cr_assert_eq(put_keys("api.example.com", "not json", &r), 400);
    testenv_response_free(&r);
    cr_assert_eq(
        testenv_db_long("SELECT count(*) FROM expected_keys WHERE pattern = 'api.example.com'"), 1);
    cr_assert_eq(testenv_get(&srv, "/v1/hosts/api.example.com/keys", &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "keys")), 1);
    testenv_response_free(&r);
    free(before);
    free(after);
}

struct poster {
    const char *body;
    int posted, failed;
};

/* Post the same report (distinct client networks) until 80 are in. */
static void *post_loop(void *arg)
{
    struct poster *p = arg;
    for (int i = 0; i < 80; i++) {
        char h[96];
        snprintf(h, sizeof(h), "X-Forwarded-For: 198.51.%d.7\r\n", i);
        struct testenv_response r;
        int st = testenv_post_report(&srv, p->body, strlen(p->body), h, &r);
        testenv_response_free(&r);
        __atomic_add_fetch(st == 200 ? &p->posted : &p->failed, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

Test(analysis, regrouping_while_reports_arrive_keeps_every_rollup_equal_to_the_reports)
{
    /* Commits queue their rollup rows; a re-grouping holds new commits back and merges the
     * queue first. Whatever interleaving happens, each group's rollups count its reports. */
    const struct testcert *chain[] = {leaf, pub_ca};
    const struct testcert *pins[] = {forti_root};
    struct testreport tr = {.app = "com.example.shop",
                            .version = "5.0",
                            .vendor_id = "D9",
                            .hostname = "api.example.com",
                            .chain = chain,
                            .chain_len = 2,
                            .pins = pins,
                            .n_pins = 1};
    free(testreport_post(&srv, &tr, "203.0.113.5"));
    json_t *doc = testreport_json(&tr);
    struct poster p = {.body = json_dumps(doc, JSON_COMPACT)};
    json_decref(doc);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, post_loop, &p), 0);
    usleep(150 * 1000);
    char pin[45], body[256];
    testcert_pin(leaf, pin);
    snprintf(body, sizeof(body), "{\"keys\": [{\"pin\": \"%s\", \"label\": \"current\"}]}", pin);
    struct testenv_response r;
    int before_put = __atomic_load_n(&p.posted, __ATOMIC_RELAXED);
    cr_assert_eq(put_keys("api.example.com", body, &r), 200, "%s", r.body);
    int after_put = __atomic_load_n(&p.posted, __ATOMIC_RELAXED);
    cr_assert_geq(json_integer_value(json_object_get(r.json, "reports_regrouped")), 1);
    testenv_response_free(&r);
    pthread_join(t, NULL);
    cr_assert(before_put > 0 && after_put < 80,
              "the re-grouping did not overlap the posts (%d, %d)", before_put, after_put);
    cr_assert_eq(p.failed, 0, "%d posts failed", p.failed);
    cr_assert_eq(testenv_get(&srv, "/v1/groups", &r), 200, "%s", r.body); /* merges the queue */
    testenv_response_free(&r);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 1 + p.posted);
    cr_assert_eq(
        testenv_db_long(
            "SELECT count(*) FROM (SELECT group_id, count(*) AS n FROM reports GROUP BY 1) r"
            " FULL JOIN (SELECT group_id, sum(reports) AS s FROM rollup_group_hourly"
            " GROUP BY 1 HAVING sum(reports) <> 0) h USING (group_id)"
            " WHERE r.n IS DISTINCT FROM h.s"),
        0, "a group's hourly rollup differs from its reports");
    cr_assert_eq(testenv_db_long("SELECT coalesce(sum(reports), 0) FROM group_networks"),
                 1 + p.posted);
    free((void *)p.body);
}

Test(analysis, expected_keys_file_is_loaded_at_start)
{
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, "/v1/hosts/*.legacy.example.com/keys", &r), 200);
    json_t *k0 = json_array_get(json_object_get(r.json, "keys"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(k0, "label")), "ca");
    testenv_response_free(&r);
    const struct testcert *chain[] = {leaf, pub_ca};
    struct testreport tr = {.app = "com.example.shop",
                            .version = "5.0",
                            .vendor_id = "D4",
                            .hostname = "www.legacy.example.com",
                            .chain = chain,
                            .chain_len = 2};
    char *id = testreport_post(&srv, &tr, "203.0.113.8");
    json_t *f = findings_of(id);
    cr_assert(json_is_true(json_object_get(f, "expected_key")));
    cr_assert(json_is_false(json_object_get(f, "leaf_expected")));
    cr_assert(json_is_false(json_object_get(f, "covers_hostname")), "leaf is for api.example.com");
    json_decref(f);
    free(id);
}

Test(analysis, keys_declared_through_one_node_reach_the_ingest_of_another)
{
    struct testenv_server other;
    memset(&other, 0, sizeof(other));
    snprintf(other.token, sizeof(other.token), "%s", srv.token);
    const char *env[] = {env_store, "PINWATCH_TRUSTED_PROXIES=127.0.0.0/8", NULL};
    testenv_server_start(&other, env);
    char pin[45], body[256];
    testcert_pin(leaf, pin);
    snprintf(body, sizeof(body), "{\"keys\": [{\"pin\": \"%s\", \"label\": \"current\"}]}", pin);
    struct testenv_response r;
    cr_assert_eq(put_keys("api.example.com", body, &r), 200);
    testenv_response_free(&r);
    /* The other node re-reads the keys from the database within a few evaluator rounds. */
    bool seen = false;
    for (int i = 0; i < 150 && !seen; i++) {
        cr_assert_eq(testenv_get(&other, "/v1/hosts/api.example.com/keys", &r), 200);
        seen = json_array_size(json_object_get(r.json, "keys")) == 1;
        testenv_response_free(&r);
        if (!seen)
            usleep(100000);
    }
    cr_assert(seen, "node 2 never saw the keys declared through node 1");
    const struct testcert *chain[] = {leaf, pub_ca};
    struct testreport tr = {.app = "com.example.shop",
                            .version = "5.0",
                            .vendor_id = "N2",
                            .hostname = "api.example.com",
                            .chain = chain,
                            .chain_len = 2};
    char *id = testreport_post(&other, &tr, "203.0.113.44");
    json_t *f = findings_of(id);
    cr_assert(json_is_true(json_object_get(f, "leaf_expected")));
    json_decref(f);
    free(id);
    cr_assert_eq(testenv_server_stop(&other), 0);
}
