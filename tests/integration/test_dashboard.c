/* The dashboard end to end: a known population posted through the ingest API (a stale-pins
 * misconfiguration, an enterprise proxy intercepting every app version on two networks, a
 * browser NEL group), then every page loaded in headless Chromium by
 * tests/scripts/dashboard_e2e.py, which asserts what the pages show against the admin API and
 * keeps a screenshot of each page under build-test/screenshots/. Chromium missing is a
 * failure, never a skip. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testcert.h"
#include "testenv.h"
#include "testreport.h"

static struct testenv_server srv;
static struct testcert *pub_root, *pub_ca, *leaf_old, *leaf_new, *forti_root, *forti_leaf,
    *backup_key;
static char *store_path, *mmdb_path;
static char env_store[512], env_asn[512];
static const char *const versions[] = {"1.0", "2.0", "3.0", "4.0", "5.0"};

static struct testcert *leaf_for(const char *host, struct testcert *issuer)
{
    return testcert_new_leaf(
        &(struct testcert_opts){.cn = host, .sans = (const char *[]){host, NULL}}, issuer);
}

static void setup(void)
{
    testenv_reset_db();
    pub_root = testcert_new_root(&(struct testcert_opts){.cn = "Pinwatch Test Public Root"});
    pub_ca = testcert_new_ca(&(struct testcert_opts){.cn = "Pinwatch Test Public CA"}, pub_root);
    leaf_old = leaf_for("api.example.com", pub_ca);
    leaf_new = leaf_for("api.example.com", pub_ca);
    backup_key = leaf_for("api.example.com", pub_ca);
    forti_root = testcert_new_root(&(struct testcert_opts){.cn = "FortiGate CA", .o = "Fortinet"});
    forti_leaf = leaf_for("api.example.com", forti_root);
    const struct testcert *roots[] = {pub_root};
    store_path = testcert_bundle_tmpfile(roots, 1);
    mmdb_path = strdup("/tmp/pinwatch-asn-XXXXXX");
    close(mkstemp(mmdb_path));
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "perl %s/make_mmdb.pl %s 198.51.100.0/24=64500:Example-Telecom:KZ "
             "198.51.101.0/24=64501:Acme-Corp-Net:US",
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
    struct testcert *all[] = {pub_root,   pub_ca,     leaf_old,  leaf_new,
                              forti_root, forti_leaf, backup_key};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        testcert_free(all[i]);
}

TestSuite(dashboard, .init = setup, .fini = teardown, .timeout = 500);

static void post(const char *version, const char *device, const struct testcert *c0,
                 const struct testcert *c1, const char *ip)
{
    const struct testcert *chain[] = {c0, c1};
    const struct testcert *pins[] = {leaf_old};
    struct testreport tr = {.app = "com.example.shop",
                            .version = version,
                            .vendor_id = device,
                            .hostname = "api.example.com",
                            .chain = chain,
                            .chain_len = 2,
                            .pins = pins,
                            .n_pins = 1};
    free(testreport_post(&srv, &tr, ip));
}

static void post_nel(const char *ip)
{
    static const char body[] =
        "[{\"type\": \"network-error\", \"age\": 10, \"url\": \"https://www.example.org/app.js\","
        " \"user_agent\": \"Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0\","
        " \"body\": {\"type\": \"tls.cert.authority_invalid\", \"phase\": \"connection\","
        " \"server_ip\": \"192.0.2.1\", \"protocol\": \"\", \"method\": \"GET\","
        " \"status_code\": 0, \"elapsed_time\": 40, \"sampling_fraction\": 1.0}}]";
    char headers[160];
    snprintf(headers, sizeof(headers),
             "Content-Type: application/reports+json\r\nX-Forwarded-For: %s\r\n", ip);
    struct testenv_response r;
    cr_assert_eq(
        testenv_http(srv.port, "POST", "/v1/reports", headers, body, strlen(body), false, &r), 200);
    testenv_response_free(&r);
}

static void put_backup_key(void)
{
    char pin[45], body[256], h[160];
    testcert_pin(backup_key, pin);
    snprintf(body, sizeof(body), "{\"keys\": [{\"pin\": \"%s\", \"label\": \"backup\"}]}", pin);
    snprintf(h, sizeof(h), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             srv.token);
    struct testenv_response r;
    cr_assert_eq(testenv_http(srv.port, "PUT", "/v1/hosts/api.example.com/keys", h, body,
                              strlen(body), false, &r),
                 200);
    testenv_response_free(&r);
}

static void populate(void)
{
    char ip[64], dev[32];
    /* Stale pins after a key rotation: version 5.0 ships the old key's pin, the server now
     * serves the new key from a public CA. Twelve devices on twelve networks. */
    for (int i = 0; i < 12; i++) {
        snprintf(ip, sizeof(ip), "100.64.%d.10", i);
        snprintf(dev, sizeof(dev), "STALE-%02d", i);
        post("5.0", dev, leaf_new, pub_ca, ip);
    }
    /* An enterprise proxy (Fortinet's name) on two networks, every app version. */
    for (int d = 0; d < 6; d++) {
        for (int v = 0; v < 5; v++) {
            snprintf(ip, sizeof(ip), "198.51.%d.%d", 100 + d % 2, 20 + d);
            snprintf(dev, sizeof(dev), "FORTI-%d", d);
            post(versions[v], dev, forti_leaf, forti_root, ip);
        }
    }
    /* Browsers on one network refusing a certificate authority. */
    for (int i = 0; i < 3; i++)
        post_nel("203.0.113.9");
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

Test(dashboard, every_page_shows_the_seeded_population)
{
    put_backup_key();
    populate();
    /* The candidate chain of the rotation check: the new leaf, which version 5.0 does not
     * pin. */
    char pem_path[512], shots[512], cmd[2048];
    snprintf(pem_path, sizeof(pem_path), "%s/dashboard-candidate.pem", TEST_STATE_DIR);
    const struct testcert *cand[] = {leaf_new, pub_ca};
    char *pem = testcert_chain_pem(cand, 2);
    write_file(pem_path, pem);
    free(pem);
    snprintf(shots, sizeof(shots), "%s/../screenshots", TEST_STATE_DIR);
    mkdir(shots, 0755);
    snprintf(cmd, sizeof(cmd),
             "python3 %s/dashboard_e2e.py --port %u --token '%s' --screenshots '%s'"
             " --candidate-pem '%s' --work '%s/dashboard-e2e'",
             TEST_SCRIPTS_DIR, srv.port, srv.token, shots, pem_path, TEST_STATE_DIR);
    int rc = system(cmd);
    cr_assert_eq(rc, 0, "the dashboard end-to-end script failed (exit %d): see its output", rc);
}

static json_t *group_with(json_t *groups, const char *verdict)
{
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g)
    {
        if (strcmp(json_string_value(json_object_get(g, "verdict")), verdict) == 0 &&
            strcmp(json_string_value(json_object_get(g, "app")), "web") != 0)
            return g;
    }
    return NULL;
}

static long cell_reports(json_t *heatmap, const char *version, const char *network, long *devices)
{
    size_t i;
    json_t *c;
    json_array_foreach(heatmap, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "version")), version) == 0 &&
            strcmp(json_string_value(json_object_get(c, "network")), network) == 0) {
            *devices = (long)json_integer_value(json_object_get(c, "devices"));
            return (long)json_integer_value(json_object_get(c, "reports"));
        }
    }
    return -1;
}

/* What the pages read, against the population itself: the overview's figures (distinct over
 * groups), the heatmap's version x network cells with their ASN, and whether a pin matched. */
Test(dashboard, the_api_counts_what_the_pages_show)
{
    populate();
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, "/v1/groups", &r), 200, "%s", r.body);
    json_t *t = json_object_get(r.json, "totals");
    cr_assert_not_null(t, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(t, "reports")), 12 + 30 + 3);
    /* 12 stale devices, 6 behind the proxy, one browser user agent on one network. */
    cr_assert_eq(json_integer_value(json_object_get(t, "devices")), 19);
    cr_assert_eq(json_integer_value(json_object_get(t, "networks")), 12 + 2 + 1);
    cr_assert_eq(json_integer_value(json_object_get(t, "groups")), 3);
    cr_assert_eq(json_integer_value(json_object_get(t, "new_groups")), 3);
    char path[256];
    json_t *forti = group_with(json_object_get(r.json, "groups"), "interception");
    json_t *stale = group_with(json_object_get(r.json, "groups"), "misconfiguration");
    cr_assert(forti != NULL && stale != NULL);
    snprintf(path, sizeof(path), "/v1/groups/%s", json_string_value(json_object_get(forti, "id")));
    char *stale_id = strdup(json_string_value(json_object_get(stale, "id")));
    testenv_response_free(&r);

    cr_assert_eq(testenv_get(&srv, path, &r), 200, "%s", r.body);
    json_t *hm = json_object_get(r.json, "heatmap");
    cr_assert_eq(json_array_size(hm), 10, "5 versions x 2 networks: %s", r.body);
    for (int v = 0; v < 5; v++) {
        long dev = 0;
        /* Devices 0, 2, 4 post from 198.51.100.x and 1, 3, 5 from 198.51.101.x. */
        cr_assert_eq(cell_reports(hm, versions[v], "198.51.100.0/24", &dev), 3);
        cr_assert_eq(dev, 3);
        cr_assert_eq(cell_reports(hm, versions[v], "198.51.101.0/24", &dev), 3);
    }
    json_t *c0 = json_array_get(hm, 0);
    json_int_t asn = json_integer_value(json_object_get(c0, "asn"));
    const char *org = json_string_value(json_object_get(c0, "as_org"));
    cr_assert(asn == 64500 || asn == 64501);
    cr_assert_str_eq(org, asn == 64500 ? "Example-Telecom" : "Acme-Corp-Net");
    json_t *chain = json_array_get(json_object_get(r.json, "chains"), 0);
    cr_assert(json_is_false(json_object_get(chain, "pin_matched")), "%s", r.body);
    testenv_response_free(&r);

    /* A window that holds none of the reports: the group answers, its heatmap is empty. */
    snprintf(path + strlen(path), sizeof(path) - strlen(path),
             "?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z");
    cr_assert_eq(testenv_get(&srv, path, &r), 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "heatmap")), 0, "%s", r.body);
    testenv_response_free(&r);

    /* The stale group's 12 networks: the 10 with most reports are kept. */
    snprintf(path, sizeof(path), "/v1/groups/%s", stale_id);
    cr_assert_eq(testenv_get(&srv, path, &r), 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "heatmap")), 10, "%s", r.body);
    testenv_response_free(&r);
    free(stale_id);

    /* A window with no group: the figures are zeros, not missing. */
    cr_assert_eq(testenv_get(&srv, "/v1/groups?hostname=nothing.example", &r), 200);
    t = json_object_get(r.json, "totals");
    cr_assert_eq(json_integer_value(json_object_get(t, "reports")), 0, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(t, "devices")), 0, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "groups")), 0);
    testenv_response_free(&r);
}
