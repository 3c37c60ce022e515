/* Groups, verdicts and trends through the real server: simulated populations posted as many
 * networks would (X-Forwarded-For from the trusted loopback proxy), each landing in the right
 * verdict and kind with reasons that name the evidence. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testcert.h"
#include "testenv.h"
#include "testreport.h"

static struct testenv_server srv;
static struct testcert *pub_root, *pub_ca, *leaf_old, *leaf_new, *leaf_expired, *forti_root,
    *forti_leaf, *mitm_root, *mitm_leaf, *acme_root, *acme_leaf, *solo_root, *solo_leaf;
static char *store_path, *mmdb_path;
static char env_store[512], env_asn[512];
static const char *const versions[] = {"1.0", "2.0", "3.0", "4.0", "5.0"};

static struct testcert *leaf_for(const char *host, struct testcert *issuer, int64_t not_after)
{
    return testcert_new_leaf(&(struct testcert_opts){.cn = host,
                                                     .sans = (const char *[]){host, NULL},
                                                     .not_after = not_after},
                             issuer);
}

static void setup(void)
{
    testenv_reset_db();
    pub_root = testcert_new_root(&(struct testcert_opts){.cn = "Pinwatch Test Public Root"});
    pub_ca = testcert_new_ca(&(struct testcert_opts){.cn = "Pinwatch Test Public CA"}, pub_root);
    leaf_old = leaf_for("api.example.com", pub_ca, 0);
    leaf_new = leaf_for("api.example.com", pub_ca, 0);
    leaf_expired = testcert_new_leaf(
        &(struct testcert_opts){.cn = "legacy.example.com",
                                .sans = (const char *[]){"legacy.example.com", NULL},
                                .not_before = time(NULL) - 400 * 86400,
                                .not_after = time(NULL) - 30 * 86400},
        pub_ca);
    forti_root = testcert_new_root(&(struct testcert_opts){.cn = "FortiGate CA", .o = "Fortinet"});
    forti_leaf = leaf_for("api.example.com", forti_root, 0);
    mitm_root = testcert_new_root(&(struct testcert_opts){.cn = "mitmproxy", .o = "mitmproxy"});
    mitm_leaf = leaf_for("api.example.com", mitm_root, 0);
    acme_root = testcert_new_root(
        &(struct testcert_opts){.cn = "Acme Corp Internal Root", .o = "Acme Corp"});
    acme_leaf = leaf_for("api.example.com", acme_root, 0);
    solo_root = testcert_new_root(&(struct testcert_opts){.cn = "Bob's Laptop CA"});
    solo_leaf = leaf_for("api.example.com", solo_root, 0);
    const struct testcert *roots[] = {pub_root};
    store_path = testcert_bundle_tmpfile(roots, 1);
    mmdb_path = strdup("/tmp/pinwatch-asn-XXXXXX");
    close(mkstemp(mmdb_path));
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "perl %s/make_mmdb.pl %s 198.51.100.0/24=64500:Example-Telecom:KZ "
             "198.51.101.0/24=64500:Example-Telecom:KZ 203.0.113.0/24=64501:Acme-Corp-Net:US",
             TEST_SCRIPTS_DIR, mmdb_path);
    cr_assert_eq(system(cmd), 0, "cannot build the test .mmdb");
    snprintf(env_store, sizeof(env_store), "PINWATCH_TRUST_STORE=%s", store_path);
    snprintf(env_asn, sizeof(env_asn), "PINWATCH_ASN_DB=%s", mmdb_path);
    const char *env[] = {env_store, env_asn, "PINWATCH_TRUSTED_PROXIES=127.0.0.0/8", NULL};
    memset(&srv, 0, sizeof(srv));
    testenv_server_start(&srv, env);
}

static void teardown(void)
{
    testenv_server_kill(&srv);
    unlink(store_path);
    unlink(mmdb_path);
    free(store_path);
    free(mmdb_path);
    struct testcert *all[] = {pub_root,   pub_ca,     leaf_old,  leaf_new,  leaf_expired,
                              forti_root, forti_leaf, mitm_root, mitm_leaf, acme_root,
                              acme_leaf,  solo_root,  solo_leaf};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        testcert_free(all[i]);
}

TestSuite(groups, .init = setup, .fini = teardown, .timeout = 240);

static void post(const char *host, const char *version, const char *device,
                 const struct testcert *c0, const struct testcert *c1, int result, const char *ip)
{
    const struct testcert *chain[] = {c0, c1};
    const struct testcert *pins[] = {leaf_old};
    struct testreport tr = {.app = "com.example.shop",
                            .version = version,
                            .vendor_id = device,
                            .hostname = host,
                            .chain = chain,
                            .chain_len = 2,
                            .pins = pins,
                            .n_pins = 1,
                            .validation_result = result};
    free(testreport_post(&srv, &tr, ip));
}

static int put_keys(const char *host, const struct testcert *key, const char *label)
{
    char pin[45], body[256], path[256], h[160];
    testcert_pin(key, pin);
    snprintf(body, sizeof(body), "{\"keys\": [{\"pin\": \"%s\", \"label\": \"%s\"}]}", pin, label);
    snprintf(path, sizeof(path), "/v1/hosts/%s/keys", host);
    snprintf(h, sizeof(h), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             srv.token);
    struct testenv_response r;
    int st = testenv_http(srv.port, "PUT", path, h, body, strlen(body), false, &r);
    testenv_response_free(&r);
    return st;
}

/* The group whose anchor subject contains needle (and hostname), from /v1/groups. */
static json_t *find_group(json_t *groups, const char *host, const char *needle)
{
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g)
    {
        const char *subject =
            json_string_value(json_object_get(json_object_get(g, "anchor"), "subject"));
        if (strcmp(json_string_value(json_object_get(g, "hostname")), host) == 0 &&
            subject != NULL && strstr(subject, needle) != NULL)
            return g;
    }
    return NULL;
}

static bool reasons_mention(json_t *g, const char *text)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(g, "reasons"), i, r)
    {
        if (strstr(json_string_value(json_object_get(r, "detail")), text) != NULL)
            return true;
    }
    return false;
}

static void assert_verdict(json_t *g, const char *verdict, const char *kind)
{
    cr_assert_not_null(g);
    char *dump = json_dumps(g, JSON_COMPACT);
    cr_assert_str_eq(json_string_value(json_object_get(g, "verdict")), verdict, "%s", dump);
    if (kind == NULL)
        cr_assert(json_is_null(json_object_get(g, "kind")), "%s", dump);
    else
        cr_assert_str_eq(json_string_value(json_object_get(g, "kind")), kind, "%s", dump);
    cr_assert_gt(json_array_size(json_object_get(g, "reasons")), 0, "%s", dump);
    free(dump);
}

static void populate(void)
{
    char ip[64], dev[32];
    /* Stale pins after a key rotation: app version 5.0 ships the old key's pin; the server
     * now serves the new key from a public CA. Twelve devices on twelve networks. */
    for (int i = 0; i < 12; i++) {
        snprintf(ip, sizeof(ip), "100.64.%d.10", i);
        snprintf(dev, sizeof(dev), "STALE-%02d", i);
        post("api.example.com", "5.0", dev, leaf_new, pub_ca, 1, ip);
    }
    /* An enterprise proxy named like Fortinet's, in two networks, every app version. */
    for (int d = 0; d < 6; d++) {
        for (int v = 0; v < 5; v++) {
            snprintf(ip, sizeof(ip), "198.51.%d.%d", 100 + d % 2, 20 + d);
            snprintf(dev, sizeof(dev), "FORTI-%d", d);
            post("api.example.com", versions[v], dev, forti_leaf, forti_root, 1, ip);
        }
    }
    /* A debugging proxy on one device. */
    for (int i = 0; i < 3; i++)
        post("api.example.com", "4.0", "DEV-LAPTOP", mitm_leaf, mitm_root, 1, "192.0.2.50");
    /* An unbranded private CA on one device, one network. */
    post("api.example.com", "5.0", "BOB", solo_leaf, solo_root, 1, "192.0.2.77");
    post("api.example.com", "5.0", "BOB", solo_leaf, solo_root, 1, "192.0.2.77");
    /* An unbranded corporate CA in one network, many devices, all versions. */
    for (int d = 0; d < 8; d++) {
        snprintf(ip, sizeof(ip), "203.0.113.%d", 10 + d);
        snprintf(dev, sizeof(dev), "ACME-%d", d);
        post("api.example.com", versions[d % 5], dev, acme_leaf, acme_root, 1, ip);
    }
}

Test(groups, populations_land_in_the_right_verdicts)
{
    /* Our own leaf for legacy.example.com, declared, but expired: a broken server chain. */
    cr_assert_eq(put_keys("legacy.example.com", leaf_expired, "current"), 200);
    populate();
    char ip[64], dev[32];
    for (int i = 0; i < 5; i++) {
        snprintf(ip, sizeof(ip), "100.65.%d.10", i);
        snprintf(dev, sizeof(dev), "LEGACY-%d", i);
        post("legacy.example.com", versions[i], dev, leaf_expired, pub_ca, 2, ip);
    }
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, "/v1/groups", &r), 200, "%s", r.body);
    json_t *groups = json_object_get(r.json, "groups");

    json_t *stale = find_group(groups, "api.example.com", "Pinwatch Test Public Root");
    assert_verdict(stale, "misconfiguration", "stale_pins");
    cr_assert_eq(json_integer_value(json_object_get(stale, "reports")), 12);
    cr_assert_eq(json_integer_value(json_object_get(stale, "devices")), 12);
    cr_assert_eq(json_integer_value(json_object_get(stale, "networks")), 12);
    cr_assert(json_is_true(json_object_get(json_object_get(stale, "anchor"), "public")));
    cr_assert(json_is_false(json_object_get(stale, "expected_key_seen")));
    json_t *v0 = json_array_get(json_object_get(stale, "versions"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(v0, "version")), "5.0");
    cr_assert_eq(json_array_size(json_object_get(stale, "versions")), 1);
    cr_assert(reasons_mention(stale, "12"), "reasons name the 12 networks");

    json_t *forti = find_group(groups, "api.example.com", "FortiGate CA");
    assert_verdict(forti, "interception", "enterprise_proxy");
    cr_assert(strstr(json_string_value(json_object_get(forti, "product")), "Forti") != NULL);
    cr_assert_eq(json_integer_value(json_object_get(forti, "reports")), 30);
    cr_assert_eq(json_integer_value(json_object_get(forti, "devices")), 6);
    cr_assert_eq(json_integer_value(json_object_get(forti, "networks")), 2);
    cr_assert_eq(json_array_size(json_object_get(forti, "versions")), 5);
    /* Networks carry their ASN from the .mmdb. */
    json_t *tn = json_array_get(json_object_get(forti, "top_networks"), 0);
    cr_assert_eq(json_integer_value(json_object_get(tn, "asn")), 64500);
    cr_assert_eq(json_integer_value(json_object_get(tn, "reports")), 15);

    json_t *mitm = find_group(groups, "api.example.com", "mitmproxy");
    assert_verdict(mitm, "interception", "debugging_proxy");
    cr_assert_eq(json_integer_value(json_object_get(mitm, "devices")), 1);

    json_t *solo = find_group(groups, "api.example.com", "Bob's Laptop CA");
    assert_verdict(solo, "interception", "debugging_proxy");

    json_t *acme = find_group(groups, "api.example.com", "Acme Corp Internal Root");
    assert_verdict(acme, "interception", "enterprise_proxy");
    cr_assert_eq(json_integer_value(json_object_get(acme, "networks")), 1);
    cr_assert_eq(json_integer_value(json_object_get(acme, "devices")), 8);
    cr_assert(json_is_null(json_object_get(acme, "product")));

    json_t *legacy = find_group(groups, "legacy.example.com", "Pinwatch Test Public Root");
    assert_verdict(legacy, "misconfiguration", "server_chain");
    cr_assert(json_is_true(json_object_get(legacy, "expected_key_seen")));

    /* Filters. */
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, "/v1/groups?verdict=misconfiguration", &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "groups")), 2);
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, "/v1/groups?hostname=legacy.example.com", &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "groups")), 1);
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, "/v1/groups?verdict=sure", &r), 400);
    testenv_response_free(&r);
}

Test(groups, declaring_the_rotated_key_turns_stale_pins_into_our_key)
{
    populate();
    cr_assert_eq(put_keys("api.example.com", leaf_new, "current"), 200);
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, "/v1/groups?hostname=api.example.com", &r), 200);
    json_t *stale = find_group(json_object_get(r.json, "groups"), "api.example.com",
                               "Pinwatch Test Public Root");
    assert_verdict(stale, "misconfiguration", "stale_pins");
    cr_assert(json_is_true(json_object_get(stale, "expected_key_seen")));
    cr_assert_eq(json_integer_value(json_object_get(stale, "reports")), 12);
    /* The group detail lists its chains with their findings. */
    char path[128];
    snprintf(path, sizeof(path), "/v1/groups/%s", json_string_value(json_object_get(stale, "id")));
    struct testenv_response d;
    cr_assert_eq(testenv_get(&srv, path, &d), 200, "%s", d.body);
    json_t *c0 = json_array_get(json_object_get(d.json, "chains"), 0);
    cr_assert_eq(json_integer_value(json_object_get(c0, "reports")), 12);
    cr_assert_eq(json_array_size(json_object_get(c0, "certificates")), 2);
    cr_assert(json_is_true(
        json_object_get(json_object_get(json_object_get(c0, "findings"), "anchor"), "public")));
    testenv_response_free(&d);
    cr_assert_eq(testenv_get(&srv, "/v1/groups/nope", &d), 404);
    testenv_response_free(&d);
    testenv_response_free(&r);
}

Test(groups, a_group_reads_the_same_alone_and_in_the_list)
{
    /* The list computes breakdowns for all groups at once, one group reads them by key. */
    populate();
    struct testenv_response list;
    cr_assert_eq(testenv_get(&srv, "/v1/groups", &list), 200);
    json_t *groups = json_object_get(list.json, "groups");
    cr_assert_geq(json_array_size(groups), 5);
    size_t i;
    json_t *g;
    long sum = 0;
    json_array_foreach(groups, i, g)
    {
        char path[256];
        snprintf(path, sizeof(path), "/v1/groups/%s", json_string_value(json_object_get(g, "id")));
        struct testenv_response one;
        cr_assert_eq(testenv_get(&srv, path, &one), 200);
        cr_assert(json_is_array(json_object_get(one.json, "chains")));
        cr_assert_gt(json_array_size(json_object_get(g, "top_networks")), 0);
        cr_assert_gt(json_array_size(json_object_get(g, "versions")), 0);
        /* Only the single group carries its chains and its version x network heatmap. */
        json_object_del(one.json, "chains");
        json_object_del(one.json, "heatmap");
        char *a = json_dumps(g, JSON_SORT_KEYS), *b = json_dumps(one.json, JSON_SORT_KEYS);
        cr_assert_str_eq(a, b);
        free(a);
        free(b);
        sum += (long)json_integer_value(json_object_get(g, "reports"));
        testenv_response_free(&one);
    }
    cr_assert_eq(sum, testenv_db_long("SELECT count(*) FROM reports"));
    /* Outside the window a group still answers, with zeros and empty breakdowns. */
    char path[256];
    snprintf(path, sizeof(path), "/v1/groups/%s?from=2001-01-01T00:00:00Z&to=2001-01-08T00:00:00Z",
             json_string_value(json_object_get(json_array_get(groups, 0), "id")));
    struct testenv_response old;
    cr_assert_eq(testenv_get(&srv, path, &old), 200, "%s", old.body);
    cr_assert_eq(json_integer_value(json_object_get(old.json, "reports")), 0);
    cr_assert_eq(json_integer_value(json_object_get(old.json, "devices")), 0);
    cr_assert_eq(json_array_size(json_object_get(old.json, "versions")), 0);
    cr_assert_eq(json_array_size(json_object_get(old.json, "top_networks")), 0);
    cr_assert_gt(json_array_size(json_object_get(old.json, "chains")), 0);
    testenv_response_free(&old);
    testenv_response_free(&list);
}

static char *received_at(const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/reports/%s", id);
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, path, &r), 200);
    char *at = strdup(json_string_value(json_object_get(r.json, "received_at")));
    testenv_response_free(&r);
    return at;
}

/* A group's times move when rollups are merged (migration 0011), not at each commit: a read
 * right after a 200 must still show that report's time. */
Test(groups, group_times_follow_every_acknowledged_report)
{
    const struct testcert *chain[] = {mitm_leaf, mitm_root};
    const struct testcert *pins[] = {leaf_old};
    struct testreport tr = {.app = "com.example.shop",
                            .version = "1.0",
                            .vendor_id = "dev-times",
                            .hostname = "api.example.com",
                            .chain = chain,
                            .chain_len = 2,
                            .pins = pins,
                            .n_pins = 1};
    char *first = testreport_post(&srv, &tr, "198.51.100.7");
    char *first_at = received_at(first);
    char *last = NULL, *last_at = NULL;
    for (int i = 0; i < 3; i++) {
        usleep(20000);
        free(last);
        free(last_at);
        last = testreport_post(&srv, &tr, "198.51.100.8");
        last_at = received_at(last);
        struct testenv_response list;
        cr_assert_eq(testenv_get(&srv, "/v1/groups", &list), 200);
        json_t *g =
            find_group(json_object_get(list.json, "groups"), "api.example.com", "mitmproxy");
        cr_assert_not_null(g);
        cr_assert_str_eq(json_string_value(json_object_get(g, "first_seen")), first_at);
        cr_assert_str_eq(json_string_value(json_object_get(g, "last_seen")), last_at,
                         "post %d: the group's last_seen is not its newest report", i);
        cr_assert_eq(json_integer_value(json_object_get(g, "reports")), i + 2);
        testenv_response_free(&list);
    }
    cr_assert_str_neq(first_at, last_at);
    free(first);
    free(first_at);
    free(last);
    free(last_at);
}

Test(groups, trends_count_reports_under_current_verdicts)
{
    populate();
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, "/v1/trends?bucket=hour&by=verdict", &r), 200, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "bucket")), "hour");
    json_t *series = json_object_get(r.json, "series");
    long interception = 0, misconfiguration = 0;
    size_t i;
    json_t *s;
    json_array_foreach(series, i, s)
    {
        long sum = 0;
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(s, "points"), k, p)
        {
            sum += (long)json_integer_value(json_object_get(p, "reports"));
            cr_assert_not_null(json_object_get(p, "t"));
            cr_assert_not_null(json_object_get(p, "devices"));
        }
        const char *key = json_string_value(json_object_get(s, "key"));
        if (strcmp(key, "interception") == 0)
            interception = sum;
        if (strcmp(key, "misconfiguration") == 0)
            misconfiguration = sum;
    }
    cr_assert_eq(interception, 30 + 3 + 2 + 8);
    cr_assert_eq(misconfiguration, 12);
    testenv_response_free(&r);

    cr_assert_eq(
        testenv_get(&srv, "/v1/trends?bucket=day&by=app_version&verdict=misconfiguration", &r),
        200);
    series = json_object_get(r.json, "series");
    cr_assert_eq(json_array_size(series), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(series, 0), "key")), "5.0");
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, "/v1/trends?by=network&network=198.51.100.0/23", &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "series")), 2);
    testenv_response_free(&r);
    /* Without group filters by network reads the all-groups rollup; an app filter that keeps
     * every report reads the per-group one: the same series either way. */
    cr_assert_eq(testenv_get(&srv, "/v1/trends?by=network&bucket=hour", &r), 200);
    struct testenv_response r2;
    cr_assert_eq(testenv_get(&srv, "/v1/trends?by=network&bucket=hour&app=com.example.shop", &r2),
                 200);
    char *all = json_dumps(json_object_get(r.json, "series"), JSON_SORT_KEYS);
    char *filtered = json_dumps(json_object_get(r2.json, "series"), JSON_SORT_KEYS);
    cr_assert_gt(json_array_size(json_object_get(r.json, "series")), 3);
    cr_assert_str_eq(all, filtered);
    free(all);
    free(filtered);
    testenv_response_free(&r);
    testenv_response_free(&r2);
    /* The series are the limit keys with most reports. */
    cr_assert_eq(testenv_get(&srv, "/v1/trends?by=network&limit=2", &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "series")), 2);
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, "/v1/trends?by=app_version&network=198.51.100.0/24", &r), 400);
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, "/v1/trends?by=color", &r), 400);
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, "/v1/trends?bucket=week", &r), 400);
    testenv_response_free(&r);
}

Test(groups, reports_carry_asn_and_country_from_the_mmdb)
{
    const struct testcert *chain[] = {forti_leaf, forti_root};
    struct testreport tr = {.app = "com.example.shop",
                            .version = "1.0",
                            .vendor_id = "X",
                            .hostname = "api.example.com",
                            .chain = chain,
                            .chain_len = 2};
    char *id = testreport_post(&srv, &tr, "198.51.100.99");
    char path[128];
    snprintf(path, sizeof(path), "/v1/reports/%s", id);
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, path, &r), 200);
    json_t *client = json_object_get(r.json, "client");
    cr_assert_str_eq(json_string_value(json_object_get(client, "network")), "198.51.100.0/24");
    cr_assert_eq(json_integer_value(json_object_get(client, "asn")), 64500);
    cr_assert_str_eq(json_string_value(json_object_get(client, "as_org")), "Example-Telecom");
    cr_assert_str_eq(json_string_value(json_object_get(client, "country")), "KZ");
    testenv_response_free(&r);
    free(id);
}

/* Anyone can create groups (one per app and hostname): the list pages like the others. */
Test(groups, the_group_list_pages_with_limit_and_cursor)
{
    static const int counts[] = {3, 2, 2, 1, 1};
    char host[64];
    for (int h = 0; h < 5; h++) {
        snprintf(host, sizeof(host), "p%d.example.com", h);
        for (int i = 0; i < counts[h]; i++)
            post(host, "1.0", "dev-1", leaf_old, pub_ca, 1, "198.51.100.7");
    }
    char path[512] = "/v1/groups?limit=2";
    int seen[5] = {0}, pages = 0;
    long last = 1000;
    for (;;) {
        struct testenv_response r;
        cr_assert_eq(testenv_get(&srv, path, &r), 200, "%s", r.body);
        json_t *groups = json_object_get(r.json, "groups");
        cr_assert_leq(json_array_size(groups), 2, "%s", r.body);
        size_t i;
        json_t *g;
        json_array_foreach(groups, i, g)
        {
            const char *hn = json_string_value(json_object_get(g, "hostname"));
            long n = (long)json_integer_value(json_object_get(g, "reports"));
            cr_assert_leq(n, last, "most reports first: %s", r.body);
            last = n;
            int k = hn[1] - '0';
            cr_assert_eq(n, counts[k], "%s", r.body);
            seen[k]++;
        }
        pages++;
        json_t *next = json_object_get(r.json, "next_cursor");
        cr_assert(json_is_null(next) || json_is_string(next), "%s", r.body);
        if (json_is_null(next)) {
            testenv_response_free(&r);
            break;
        }
        snprintf(path, sizeof(path), "/v1/groups?limit=2&cursor=%s", json_string_value(next));
        testenv_response_free(&r);
        cr_assert_lt(pages, 10);
    }
    cr_assert_eq(pages, 3);
    for (int k = 0; k < 5; k++)
        cr_assert_eq(seen[k], 1, "group %d listed %d times", k, seen[k]);

    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, "/v1/groups?limit=1001", &r), 400, "%s", r.body);
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, "/v1/groups?cursor=nonsense", &r), 400, "%s", r.body);
    testenv_response_free(&r);
    /* the default page is 100 groups, and a full list says there is no next page */
    cr_assert_eq(testenv_get(&srv, "/v1/groups", &r), 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "groups")), 5);
    cr_assert(json_is_null(json_object_get(r.json, "next_cursor")), "%s", r.body);
    testenv_response_free(&r);
}
