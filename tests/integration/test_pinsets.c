/* Pin sets seen in reports, their health, and what a key rotation would break. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testcert.h"
#include "testenv.h"
#include "testreport.h"

static struct testenv_server srv;
static struct testcert *root, *ca, *leaf_old, *leaf_new, *backup;
static char *store_path;
static char env_store[512];

static void setup(void)
{
    testenv_reset_db();
    root = testcert_new_root(&(struct testcert_opts){.cn = "Pinsets Test Root"});
    ca = testcert_new_ca(&(struct testcert_opts){.cn = "Pinsets Test CA"}, root);
    leaf_old = testcert_new_leaf(
        &(struct testcert_opts){.cn = "api.example.com",
                                .sans = (const char *[]){"api.example.com", NULL}},
        ca);
    leaf_new = testcert_new_leaf(
        &(struct testcert_opts){.cn = "api.example.com",
                                .sans = (const char *[]){"api.example.com", NULL}},
        ca);
    backup = testcert_new_leaf(
        &(struct testcert_opts){.cn = "api.example.com",
                                .sans = (const char *[]){"api.example.com", NULL}},
        ca);
    const struct testcert *roots[] = {root};
    store_path = testcert_bundle_tmpfile(roots, 1);
    snprintf(env_store, sizeof(env_store), "PINWATCH_TRUST_STORE=%s", store_path);
    const char *env[] = {env_store, "PINWATCH_TRUSTED_PROXIES=127.0.0.0/8", NULL};
    memset(&srv, 0, sizeof(srv));
    testenv_server_start(&srv, env);

    /* v1.0 pins only the old leaf; v2.0 also pins the CA; v3.0 pins the old leaf and a
     * backup key that no server ever presented. */
    const struct testcert *chain[] = {leaf_new, ca};
    const struct testcert *p1[] = {leaf_old}, *p2[] = {leaf_old, ca}, *p3[] = {leaf_old, backup};
    struct {
        const char *version;
        const struct testcert *const *pins;
        size_t n;
        int devices;
    } sets[] = {{"1.0", p1, 1, 3}, {"2.0", p2, 2, 2}, {"3.0", p3, 2, 1}};
    for (size_t s = 0; s < 3; s++) {
        for (int d = 0; d < sets[s].devices; d++) {
            char dev[32], ip[32];
            snprintf(dev, sizeof(dev), "DEV-%s-%d", sets[s].version, d);
            snprintf(ip, sizeof(ip), "198.51.100.%d", 10 * (int)s + d);
            struct testreport tr = {.app = "com.example.shop",
                                    .version = sets[s].version,
                                    .vendor_id = dev,
                                    .hostname = "api.example.com",
                                    .chain = chain,
                                    .chain_len = 2,
                                    .pins = sets[s].pins,
                                    .n_pins = sets[s].n};
            free(testreport_post(&srv, &tr, ip));
        }
    }
}

static void teardown(void)
{
    testenv_server_kill(&srv);
    unlink(store_path);
    free(store_path);
    testcert_free(root);
    testcert_free(ca);
    testcert_free(leaf_old);
    testcert_free(leaf_new);
    testcert_free(backup);
}

TestSuite(pinsets, .init = setup, .fini = teardown, .timeout = 120);

static json_t *find_version(json_t *list, const char *version)
{
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "version")), version) == 0)
            return s;
    }
    return NULL;
}

static bool has_finding(json_t *set, const char *code)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(set, "findings"), i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "code")), code) == 0)
            return true;
    }
    return false;
}

Test(pinsets, pin_sets_per_app_version_with_health_findings)
{
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, "/v1/pinsets?hostname=api.example.com&app=com.example.shop", &r),
                 200, "%s", r.body);
    json_t *list = json_object_get(r.json, "pinsets");
    cr_assert_eq(json_array_size(list), 3);
    json_t *v1 = find_version(list, "1.0"), *v2 = find_version(list, "2.0"),
           *v3 = find_version(list, "3.0");
    cr_assert_eq(json_integer_value(json_object_get(v1, "devices")), 3);
    cr_assert_eq(json_integer_value(json_object_get(v1, "reports")), 3);
    cr_assert_eq(json_array_size(json_object_get(v1, "pins")), 1);
    cr_assert(has_finding(v1, "no_backup_pin"));
    cr_assert(!has_finding(v2, "no_backup_pin"));
    /* No server ever presented the old leaf or the backup key; the CA key was served. */
    cr_assert(has_finding(v3, "pin_not_served"), "neither pin of v3.0 was ever served");
    cr_assert(has_finding(v2, "pin_not_served"), "one pin of v2.0 (the old leaf) was never served");
    /* the host serves leaf_new + CA now: v1.0 and v3.0 miss it, v2.0 pins the CA */
    cr_assert(has_finding(v1, "misses_current_key"));
    cr_assert(has_finding(v3, "misses_current_key"));
    cr_assert(!has_finding(v2, "misses_current_key"));
    char pin[45];
    testcert_pin(leaf_old, pin);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(v1, "pins"), 0)), pin);
    /* most devices first */
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "version")), "1.0");
    testenv_response_free(&r);
}

static const char *finding_detail(json_t *set, const char *code)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(set, "findings"), i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "code")), code) == 0)
            return json_string_value(json_object_get(f, "detail"));
    }
    return NULL;
}

/* One pin set per health finding (SPEC 7), on a host of its own. */
Test(pinsets, one_pin_set_per_health_finding)
{
    struct testcert *leaf_h = testcert_new_leaf(
        &(struct testcert_opts){.cn = "health.example.com",
                                .sans = (const char *[]){"health.example.com", NULL}},
        ca);
    struct testcert *old_h =
        testcert_new_leaf(&(struct testcert_opts){.cn = "health.example.com"}, ca);
    char soon[16], *expire_soon = soon;
    time_t t = time(NULL) + 10 * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(soon, sizeof(soon), "%Y-%m-%d", &tm);
    const struct testcert *chain[] = {leaf_h, ca};
    const struct testcert *leaf_pin[] = {leaf_h}, *ca_backup[] = {ca, backup},
                          *stale[] = {old_h, backup}, *good[] = {ca, leaf_h};
    struct {
        const char *version;
        const struct testcert *const *pins;
        size_t n;
        const char *expire;
    } sets[] = {{"h1", leaf_pin, 1, NULL},
                {"h2", ca_backup, 2, NULL},
                {"h3", stale, 2, NULL},
                {"h4", good, 2, "2020-01-01"},
                {"h5", good, 2, expire_soon}};
    for (size_t k = 0; k < 5; k++) {
        char dev[16];
        snprintf(dev, sizeof(dev), "H-%zu", k);
        struct testreport tr = {.app = "com.example.shop",
                                .version = sets[k].version,
                                .vendor_id = dev,
                                .hostname = "health.example.com",
                                .chain = chain,
                                .chain_len = 2,
                                .pins = sets[k].pins,
                                .n_pins = sets[k].n,
                                .pins_expire = sets[k].expire};
        free(testreport_post(&srv, &tr, "198.51.100.200"));
    }
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, "/v1/pinsets?hostname=health.example.com", &r), 200, "%s",
                 r.body);
    json_t *list = json_object_get(r.json, "pinsets");
    cr_assert_eq(json_array_size(list), 5, "%s", r.body);
    json_t *h1 = find_version(list, "h1"), *h2 = find_version(list, "h2"),
           *h3 = find_version(list, "h3"), *h4 = find_version(list, "h4"),
           *h5 = find_version(list, "h5");
    char *dump = json_dumps(list, JSON_COMPACT);
    /* h1: the served leaf's key only */
    cr_assert(has_finding(h1, "leaf_only"), "%s", dump);
    cr_assert(has_finding(h1, "no_backup_pin"), "%s", dump);
    cr_assert(!has_finding(h1, "misses_current_key"), "%s", dump);
    cr_assert(!has_finding(h1, "pin_not_served"), "%s", dump);
    /* h2: the CA plus a backup key never deployed */
    cr_assert(!has_finding(h2, "leaf_only"), "%s", dump);
    cr_assert_not_null(finding_detail(h2, "pin_not_served"), "%s", dump);
    cr_assert(strstr(finding_detail(h2, "pin_not_served"), "1 of 2") != NULL, "%s", dump);
    cr_assert(!has_finding(h2, "misses_current_key"), "%s", dump);
    /* h3: an old leaf and the backup, neither in the chain served now */
    cr_assert(has_finding(h3, "misses_current_key"), "%s", dump);
    cr_assert(strstr(finding_detail(h3, "pin_not_served"), "2 of 2") != NULL, "%s", dump);
    cr_assert(!has_finding(h3, "leaf_only"), "never-served pins are not known leaf keys");
    /* h4, h5: a pin policy that expired, one that expires within 30 days */
    cr_assert(has_finding(h4, "pins_expired"), "%s", dump);
    cr_assert(!has_finding(h4, "pins_expire_soon"), "%s", dump);
    cr_assert(has_finding(h5, "pins_expire_soon"), "%s", dump);
    cr_assert(!has_finding(h5, "pins_expired"), "%s", dump);
    cr_assert(!has_finding(h4, "misses_current_key") && !has_finding(h5, "leaf_only"), "%s", dump);
    free(dump);
    testenv_response_free(&r);
    testcert_free(leaf_h);
    testcert_free(old_h);
}

static int rotation_check(const struct testcert *const *chain, size_t n, struct testenv_response *r)
{
    char *pem = testcert_chain_pem(chain, n);
    char h[160];
    snprintf(h, sizeof(h), "Authorization: Bearer %s\r\nContent-Type: application/x-pem-file\r\n",
             srv.token);
    int st = testenv_http(srv.port, "POST", "/v1/hosts/api.example.com/rotation-check", h, pem,
                          strlen(pem), false, r);
    free(pem);
    return st;
}

Test(pinsets, rotation_check_names_what_would_break_most_at_risk_first)
{
    const struct testcert *candidate[] = {leaf_new, ca};
    struct testenv_response r;
    cr_assert_eq(rotation_check(candidate, 2, &r), 200, "%s", r.body);
    json_t *list = json_object_get(r.json, "pinsets");
    cr_assert_eq(json_array_size(list), 3);
    /* v2.0 pinned the CA: it survives; v1.0 and v3.0 pinned leaf keys only. */
    cr_assert(json_is_false(json_object_get(find_version(list, "2.0"), "breaks")));
    cr_assert(json_is_true(json_object_get(find_version(list, "1.0"), "breaks")));
    cr_assert(json_is_true(json_object_get(find_version(list, "3.0"), "breaks")));
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "version")), "1.0");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 1), "version")), "3.0");
    cr_assert_eq(json_integer_value(json_object_get(r.json, "breaking")), 2);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "devices_at_risk")), 4);
    /* the trust-store root that issues the chain counts as a chain key (TrustKit validates
     * against the built chain) */
    cr_assert_eq(json_array_size(json_object_get(r.json, "candidate")), 3);
    testenv_response_free(&r);

    /* Rotating to the pinned backup key keeps v3.0 working. */
    const struct testcert *to_backup[] = {backup, ca};
    cr_assert_eq(rotation_check(to_backup, 2, &r), 200);
    cr_assert(json_is_false(
        json_object_get(find_version(json_object_get(r.json, "pinsets"), "3.0"), "breaks")));
    testenv_response_free(&r);

    char h[160];
    snprintf(h, sizeof(h), "Authorization: Bearer %s\r\n", srv.token);
    cr_assert_eq(testenv_http(srv.port, "POST", "/v1/hosts/api.example.com/rotation-check", h,
                              "not a certificate", 17, false, &r),
                 400);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "invalid_chain");
    testenv_response_free(&r);
}

Test(pinsets, cli_rotation_check_exits_non_zero_when_something_breaks)
{
    const struct testcert *candidate[] = {leaf_new, ca};
    char *pem = testcert_chain_pem(candidate, 2);
    char path[] = "/tmp/pinwatch-rotation-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(write(fd, pem, strlen(pem)) == (ssize_t)strlen(pem));
    close(fd);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "DATABASE_URL='%s' %s %s rotation-check --host api.example.com %s 2>&1",
             testenv_conninfo(), env_store, PINWATCH_BIN, path);
    FILE *p = popen(cmd, "r");
    char out[4096];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d: %s", status, out);
    cr_assert(strstr(out, "BREAKS") != NULL, "%s", out);
    cr_assert(strstr(out, "2 pin set(s) would break") != NULL, "%s", out);
    unlink(path);
    free(pem);
}
