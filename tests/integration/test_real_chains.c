/* Verdicts on real-world chains (issue 17) through the real server: TrustKit's documentation
 * samples (a thawte chain public in 2015-2017, since removed from the stores), Let's Encrypt's
 * long chain through DST Root CA X3, and a proxy chain with a genuine public root appended
 * (issue 16). The legacy roots are the shipped data/legacy_roots.pem plus a minted DST Root
 * CA X3 for the long chain. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testcert.h"
#include "testenv.h"
#include "testreport.h"

static struct testenv_server srv;
static struct testcert *isrg, *dst, *cross, *r3, *le_leaf, *old_leaf, *proxy, *proxy_leaf;
static char store_path[] = "/tmp/pinwatch-store-XXXXXX", legacy_path[] = "/tmp/pinwatch-lr-XXXXXX";
static char env_store[512], env_legacy[512];

static void write_legacy(void)
{
    size_t len = 0;
    char *shipped = testenv_read_file(PINWATCH_SOURCE_DIR "/data/legacy_roots.pem", &len);
    cr_assert_not_null(shipped);
    int fd = mkstemp(legacy_path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, shipped, len), (ssize_t)len);
    dprintf(fd, "\n# name: DST Root CA X3 (minted)\n# removed: 2021-10-07\n# source: test\n%s",
            testcert_pem(dst));
    close(fd);
    free(shipped);
}

static void setup(void)
{
    testenv_reset_db();
    dst = testcert_new_root(
        &(struct testcert_opts){.cn = "DST Root CA X3", .o = "Digital Signature Trust Co."});
    isrg = testcert_new_root(
        &(struct testcert_opts){.cn = "ISRG Root X1", .o = "Internet Security Research Group"});
    cross = testcert_new_ca(&(struct testcert_opts){.cn = "ISRG Root X1",
                                                    .o = "Internet Security Research Group",
                                                    .key_from = isrg},
                            dst);
    r3 = testcert_new_ca(&(struct testcert_opts){.cn = "R3", .o = "Let's Encrypt"}, isrg);
    le_leaf = testcert_new_leaf(
        &(struct testcert_opts){.cn = "api.example.com",
                                .sans = (const char *[]){"api.example.com", NULL}},
        r3);
    old_leaf = testcert_new_leaf(
        &(struct testcert_opts){.cn = "api.example.com",
                                .sans = (const char *[]){"api.example.com", NULL}},
        r3);
    proxy = testcert_new_root(&(struct testcert_opts){.cn = "Acme Inspection CA"});
    proxy_leaf = testcert_new_leaf(
        &(struct testcert_opts){.cn = "api.example.com",
                                .sans = (const char *[]){"api.example.com", NULL}},
        proxy);
    cr_assert(dst && isrg && cross && r3 && le_leaf && old_leaf && proxy && proxy_leaf);
    int fd = mkstemp(store_path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert(testcert_write_bundle(store_path, (const struct testcert *[]){isrg}, 1));
    write_legacy();
    snprintf(env_store, sizeof(env_store), "PINWATCH_TRUST_STORE=%s", store_path);
    snprintf(env_legacy, sizeof(env_legacy), "PINWATCH_LEGACY_ROOTS=%s", legacy_path);
    const char *env[] = {env_store, env_legacy, "PINWATCH_TRUSTED_PROXIES=127.0.0.0/8", NULL};
    memset(&srv, 0, sizeof(srv));
    testenv_server_start(&srv, env);
}

static void teardown(void)
{
    testenv_server_kill(&srv);
    unlink(store_path);
    unlink(legacy_path);
    struct testcert *all[] = {isrg, dst, cross, r3, le_leaf, old_leaf, proxy, proxy_leaf};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        testcert_free(all[i]);
}

TestSuite(real_chains, .init = setup, .fini = teardown, .timeout = 240);

static json_t *groups_of(const char *host)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/groups?hostname=%s&limit=1000", host);
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, path, &r), 200, "%s", r.body);
    json_t *g = json_incref(json_object_get(r.json, "groups"));
    testenv_response_free(&r);
    cr_assert_gt(json_array_size(g), 0, "no group for %s", host);
    return g;
}

static bool reasons_have(json_t *g, const char *code, const char *text)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(g, "reasons"), i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "code")), code) == 0 &&
            (text == NULL || strstr(json_string_value(json_object_get(r, "detail")), text)))
            return true;
    }
    return false;
}

/* The documentation samples (2015-2017) are a public chain of their time: never interception,
 * and the reasons say "public (legacy)". Before legacy roots they were
 * interception / debugging_proxy with "weak crypto, typical of interception products". */
Test(real_chains, trustkit_documentation_samples_are_not_interception)
{
    static const char *const files[] = {
        "trustkit-ios/docs_sample_report_2015-06-18_initial.json",
        "trustkit-ios/docs_sample_report_2015-10-13_app-identifier.json",
        "trustkit-ios/docs_sample_report_2015-10-30_app-vendor-id.json",
        "trustkit-ios/docs_sample_report_2015-11-05_validation-result.json",
        "trustkit-ios/docs_sample_report_2015-12-19_app-platform.json",
        "trustkit-ios/docs_sample_report_2016-06-07_trustkit-version_enforce-pinning.json",
        "trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json",
        "trustkit-android/docs_sample_report_2016-11-25_initial.json",
        "trustkit-android/docs_sample_report_2016-11-25_updated.json",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, files[i]);
        size_t len = 0;
        char *body = testenv_read_file(path, &len);
        cr_assert_not_null(body, "%s", path);
        struct testenv_response r;
        cr_assert_eq(testenv_post_report(&srv, body, len, NULL, &r), 200, "%s: %s", files[i],
                     r.body);
        testenv_response_free(&r);
        free(body);
    }
    json_t *groups = groups_of("www.datatheorem.com");
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g)
    {
        char *dump = json_dumps(g, JSON_COMPACT);
        cr_assert_str_neq(json_string_value(json_object_get(g, "verdict")), "interception", "%s",
                          dump);
        cr_assert(reasons_have(g, "legacy_anchor", "public (legacy)"), "%s", dump);
        cr_assert_not(reasons_have(g, "weak_crypto", NULL), "%s", dump);
        cr_assert(json_is_true(json_object_get(json_object_get(g, "anchor"), "public")), "%s",
                  dump);
        free(dump);
    }
    json_decref(groups);
}

/* Let's Encrypt's long chain after a key change, with the old leaf's pin: our pin mistake on
 * every network, though DST Root CA X3 left the stores in 2021. */
Test(real_chains, dst_root_ca_x3_long_chain_with_stale_pins_is_misconfiguration)
{
    const struct testcert *chain[] = {le_leaf, r3, cross, dst};
    const struct testcert *pins[] = {old_leaf};
    for (int d = 0; d < 8; d++) {
        char ip[32], dev[16];
        snprintf(ip, sizeof(ip), "100.64.%d.9", d);
        snprintf(dev, sizeof(dev), "LE-%d", d);
        struct testreport tr = {.app = "com.example.shop",
                                .version = "7.1",
                                .vendor_id = dev,
                                .hostname = "api.example.com",
                                .chain = chain,
                                .chain_len = 4,
                                .pins = pins,
                                .n_pins = 1};
        free(testreport_post(&srv, &tr, ip));
    }
    json_t *groups = groups_of("api.example.com");
    cr_assert_eq(json_array_size(groups), 1);
    json_t *g = json_array_get(groups, 0);
    char *dump = json_dumps(g, JSON_COMPACT);
    cr_assert_str_eq(json_string_value(json_object_get(g, "verdict")), "misconfiguration", "%s",
                     dump);
    cr_assert_str_eq(json_string_value(json_object_get(g, "kind")), "stale_pins", "%s", dump);
    cr_assert(strstr(json_string_value(json_object_get(json_object_get(g, "anchor"), "subject")),
                     "ISRG Root X1"),
              "%s", dump);
    free(dump);
    json_decref(groups);
}

/* issue 16: a genuine public root appended to a proxy chain does not make it public. Before
 * the fix this population read "anchors in the trust store" and was not interception. */
Test(real_chains, appended_public_root_stays_interception)
{
    const struct testcert *chain[] = {proxy_leaf, proxy, isrg};
    const struct testcert *pins[] = {r3};
    for (int d = 0; d < 6; d++) {
        char dev[16];
        snprintf(dev, sizeof(dev), "CORP-%d", d);
        struct testreport tr = {.app = "com.example.shop",
                                .version = d % 2 ? "7.0" : "7.1",
                                .vendor_id = dev,
                                .hostname = "api.example.com",
                                .chain = chain,
                                .chain_len = 3,
                                .pins = pins,
                                .n_pins = 1};
        free(testreport_post(&srv, &tr, "203.0.113.20"));
    }
    json_t *groups = groups_of("api.example.com");
    json_t *g = json_array_get(groups, 0);
    char *dump = json_dumps(g, JSON_COMPACT);
    cr_assert_str_eq(json_string_value(json_object_get(g, "verdict")), "interception", "%s", dump);
    cr_assert(json_is_false(json_object_get(json_object_get(g, "anchor"), "public")), "%s", dump);
    cr_assert(reasons_have(g, "unlinked_public_tail", "tampering"), "%s", dump);
    free(dump);
    json_decref(groups);
}

static void post_nel(const char *type, const char *ip, int ua)
{
    char body[1024], headers[256];
    snprintf(body, sizeof(body),
             "[{\"age\":500,\"type\":\"network-error\",\"url\":\"https://www.example.org/cart\","
             "\"user_agent\":\"Mozilla/5.0 Test %d\",\"body\":{\"type\":\"%s\",\"phase\":"
             "\"connection\",\"server_ip\":\"203.0.113.9\",\"protocol\":\"h2\",\"elapsed_time\":"
             "12,\"sampling_fraction\":1,\"status_code\":0}}]",
             ua, type);
    snprintf(headers, sizeof(headers),
             "Content-Type: application/reports+json\r\nX-Forwarded-For: %s\r\n", ip);
    struct testenv_response r;
    cr_assert_eq(
        testenv_http(srv.port, "POST", "/v1/reports", headers, body, strlen(body), false, &r), 200,
        "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "accepted")), 1, "%s", r.body);
    testenv_response_free(&r);
}

/* Browser reports carry no chain: an expired certificate seen on every network is ours (it
 * was undetermined / no_chain before). */
Test(real_chains, nel_date_invalid_on_every_network_is_an_expired_certificate)
{
    for (int i = 0; i < 8; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "100.%d.0.7", 70 + i);
        post_nel("tls.cert.date_invalid", ip, i);
    }
    json_t *groups = groups_of("www.example.org");
    cr_assert_eq(json_array_size(groups), 1);
    json_t *g = json_array_get(groups, 0);
    char *dump = json_dumps(g, JSON_COMPACT);
    cr_assert_str_eq(json_string_value(json_object_get(g, "verdict")), "misconfiguration", "%s",
                     dump);
    cr_assert_str_eq(json_string_value(json_object_get(g, "kind")), "expired_certificate", "%s",
                     dump);
    cr_assert(reasons_have(g, "nel_type", "8 of the latest 8"), "%s", dump);
    free(dump);
    json_decref(groups);
}

static json_t *report_by_id(const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/reports/%s", id);
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, path, &r), 200, "%s", r.body);
    json_t *j = json_incref(r.json);
    testenv_response_free(&r);
    return j;
}

/* SPEC 5: an undecodable entry keeps its place in the chain as an opaque entry (the text as
 * sent, no hashes); it used to move to extra.*_undecodable and the chain read shorter. */
Test(real_chains, undecodable_entries_stay_in_place)
{
    const struct testcert *chain[] = {le_leaf, r3};
    const struct testcert *pins[] = {old_leaf};
    struct testreport tr = {.app = "com.example.shop",
                            .version = "7.1",
                            .vendor_id = "OPAQUE-1",
                            .hostname = "api.example.com",
                            .chain = chain,
                            .chain_len = 2,
                            .pins = pins,
                            .n_pins = 1};
    json_t *body = testreport_json(&tr);
    json_t *vc = json_object_get(body, "validated-certificate-chain");
    cr_assert_eq(json_array_insert_new(vc, 1, json_string("not a certificate")), 0);
    json_array_append_new(vc, json_string("-----BEGIN CERTIFICATE-----\nAAAA\n"));
    char *text = json_dumps(body, JSON_COMPACT);
    struct testenv_response r;
    cr_assert_eq(testenv_post_report(&srv, text, strlen(text), NULL, &r), 200, "%s", r.body);
    char *id = strdup(json_string_value(json_array_get(json_object_get(r.json, "accepted"), 0)));
    testenv_response_free(&r);
    json_t *rep = report_by_id(id);
    char *dump = json_dumps(rep, JSON_COMPACT);
    json_t *got = json_object_get(rep, "validated_chain");
    cr_assert_eq(json_array_size(got), 4, "%s", dump);
    cr_assert_not_null(json_object_get(json_array_get(got, 0), "sha256"), "%s", dump);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(got, 1), "opaque")),
                     "not a certificate", "%s", dump);
    cr_assert_null(json_object_get(json_array_get(got, 1), "sha256"), "no hashes: %s", dump);
    cr_assert_not_null(json_object_get(json_array_get(got, 2), "sha256"), "%s", dump);
    cr_assert_not_null(json_object_get(json_array_get(got, 3), "opaque"), "%s", dump);
    char want[65];
    snprintf(want, sizeof(want), "%s",
             json_string_value(json_object_get(json_array_get(got, 2), "subject")));
    cr_assert(strstr(want, "R3") != NULL, "the intermediate stays third: %s", dump);
    cr_assert_null(json_object_get(json_object_get(rep, "extra"), "validated_undecodable"), "%s",
                   dump);
    free(dump);
    json_decref(rep);
    free(id);

    /* nothing decodes: the chain is its opaque entries */
    json_object_set_new(body, "validated-certificate-chain", json_pack("[s]", "junk"));
    free(text);
    text = json_dumps(body, JSON_COMPACT);
    cr_assert_eq(testenv_post_report(&srv, text, strlen(text), NULL, &r), 200, "%s", r.body);
    id = strdup(json_string_value(json_array_get(json_object_get(r.json, "accepted"), 0)));
    testenv_response_free(&r);
    rep = report_by_id(id);
    got = json_object_get(rep, "validated_chain");
    cr_assert_eq(json_array_size(got), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(got, 0), "opaque")), "junk");
    json_decref(rep);
    free(id);
    free(text);
    json_decref(body);
}

/* Report-only clients (TrustKit enforce-pinning false) are counted apart: the group, its
 * reasons, the pin sets and the trends say how many would break with pinning enforced. */
Test(real_chains, report_only_failures_are_counted_apart)
{
    const struct testcert *chain[] = {proxy_leaf, proxy};
    const struct testcert *pins[] = {r3};
    for (int d = 0; d < 6; d++) {
        char dev[16];
        snprintf(dev, sizeof(dev), "RO-%d", d);
        struct testreport tr = {.app = "com.example.shop",
                                .version = "7.1",
                                .vendor_id = dev,
                                .hostname = "api.example.com",
                                .chain = chain,
                                .chain_len = 2,
                                .pins = pins,
                                .n_pins = 1,
                                .report_only = d < 4};
        free(testreport_post(&srv, &tr, "203.0.113.30"));
    }
    json_t *groups = groups_of("api.example.com");
    cr_assert_eq(json_array_size(groups), 1);
    json_t *g = json_array_get(groups, 0);
    char *dump = json_dumps(g, JSON_COMPACT);
    json_t *ro = json_object_get(g, "report_only");
    cr_assert_eq(json_integer_value(json_object_get(g, "reports")), 6, "%s", dump);
    cr_assert_eq(json_integer_value(json_object_get(ro, "reports")), 4, "%s", dump);
    cr_assert_eq(json_integer_value(json_object_get(ro, "devices")), 4, "%s", dump);
    cr_assert(reasons_have(g, "report_only", "4 more devices would break"), "%s", dump);
    free(dump);
    json_decref(groups);

    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, "/v1/pinsets?hostname=api.example.com", &r), 200, "%s", r.body);
    json_t *set = json_array_get(json_object_get(r.json, "pinsets"), 0);
    cr_assert_eq(
        json_integer_value(json_object_get(json_object_get(set, "report_only"), "reports")), 4,
        "%s", r.body);
    cr_assert_eq(
        json_integer_value(json_object_get(json_object_get(set, "report_only"), "devices")), 4,
        "%s", r.body);
    testenv_response_free(&r);

    cr_assert_eq(testenv_get(&srv, "/v1/trends?bucket=hour&by=hostname", &r), 200, "%s", r.body);
    json_t *pts = json_object_get(json_array_get(json_object_get(r.json, "series"), 0), "points");
    json_int_t sum = 0, total = 0;
    size_t i;
    json_t *p;
    json_array_foreach(pts, i, p)
    {
        sum += json_integer_value(json_object_get(p, "report_only"));
        total += json_integer_value(json_object_get(p, "reports"));
    }
    cr_assert_eq(total, 6, "%s", r.body);
    cr_assert_eq(sum, 4, "%s", r.body);
    testenv_response_free(&r);
}

/* A report's findings judge a legacy anchor at the report's time: a chain up to DST Root CA
 * X3 (removed 2021-10-07) is public (legacy) for a report of 2020, not for one of today. */
Test(real_chains, legacy_anchor_judged_at_the_report_time)
{
    struct testcert *ica = testcert_new_ca(&(struct testcert_opts){.cn = "Old DST Issued CA",
                                                                   .not_before = 1262304000,
                                                                   .not_after = 1893456000},
                                           dst);
    struct testcert *lf =
        testcert_new_leaf(&(struct testcert_opts){.cn = "old.example.com",
                                                  .sans = (const char *[]){"old.example.com", NULL},
                                                  .not_before = 1262304000,
                                                  .not_after = 1893456000},
                          ica);
    cr_assert(ica && lf);
    const struct testcert *chain[] = {lf, ica};
    const struct testcert *pins[] = {r3};
    const char *dates[] = {"2020-06-01T10:00:00Z", NULL};
    bool want[] = {true, false};
    for (int k = 0; k < 2; k++) {
        struct testreport tr = {.app = "com.example.shop",
                                .version = "1.0",
                                .vendor_id = k ? "NOW" : "THEN",
                                .hostname = "old.example.com",
                                .chain = chain,
                                .chain_len = 2,
                                .pins = pins,
                                .n_pins = 1,
                                .date_time = dates[k]};
        char *id = testreport_post(&srv, &tr, "198.51.100.99");
        json_t *rep = report_by_id(id);
        json_t *anchor = json_object_get(json_object_get(rep, "findings"), "anchor");
        char *dump = json_dumps(anchor, JSON_COMPACT);
        cr_assert(json_is_true(json_object_get(anchor, "legacy")), "%s", dump);
        cr_assert_eq(json_is_true(json_object_get(anchor, "public")), want[k], "%s: %s",
                     dates[k] ? dates[k] : "now", dump);
        cr_assert_str_eq(json_string_value(json_object_get(anchor, "legacy_removed")),
                         "2021-10-07");
        free(dump);
        json_decref(rep);
        free(id);
    }
    testcert_free(lf);
    testcert_free(ica);
}
