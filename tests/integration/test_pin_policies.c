/* POST /v1/pin-policies/check: a policy file against what the server is known to serve. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <plist/plist.h>

#include "testcert.h"
#include "testenv.h"
#include "testreport.h"

static struct testenv_server srv;
static struct testcert *root, *ca, *leaf, *backup, *other;
static char *store_path;
static char env_store[512];

static void setup(void)
{
    testenv_reset_db();
    root = testcert_new_root(&(struct testcert_opts){.cn = "Policy Test Root"});
    ca = testcert_new_ca(&(struct testcert_opts){.cn = "Policy Test CA"}, root);
    leaf = testcert_new_leaf(
        &(struct testcert_opts){.cn = "api.example.com",
                                .sans = (const char *[]){"api.example.com", NULL}},
        ca);
    backup = testcert_new_root(&(struct testcert_opts){.cn = "Policy backup key"});
    other = testcert_new_root(&(struct testcert_opts){.cn = "Policy other key"});
    store_path = testcert_bundle_tmpfile((const struct testcert *[]){root}, 1);
    snprintf(env_store, sizeof(env_store), "PINWATCH_TRUST_STORE=%s", store_path);
    const char *env[] = {env_store, "PINWATCH_PUBLIC_URL=http://127.0.0.1", NULL};
    memset(&srv, 0, sizeof(srv));
    testenv_server_start(&srv, env);
    /* The server is seen serving leaf + CA, anchored at the store root. */
    const struct testcert *chain[] = {leaf, ca};
    const struct testcert *pins[] = {other};
    struct testreport tr = {.app = "com.example.shop",
                            .version = "1.0",
                            .vendor_id = "DEV-1",
                            .hostname = "api.example.com",
                            .chain = chain,
                            .chain_len = 2,
                            .pins = pins,
                            .n_pins = 1};
    free(testreport_post(&srv, &tr, "198.51.100.7"));
}

static void teardown(void)
{
    testenv_server_kill(&srv);
    unlink(store_path);
    free(store_path);
    testcert_free(other);
    testcert_free(backup);
    testcert_free(leaf);
    testcert_free(ca);
    testcert_free(root);
}

TestSuite(pin_policies, .init = setup, .fini = teardown, .timeout = 120);

/* A TrustKit Info.plist pinning a and b for api.example.com, reporting here. */
static char *plist(const struct testcert *a, const struct testcert *b)
{
    char pa[45], pb[45];
    testcert_pin(a, pa);
    testcert_pin(b, pb);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"
            "<key>TSKConfiguration</key><dict><key>TSKPinnedDomains</key><dict>\n"
            "<key>api.example.com</key><dict>\n"
            "<key>TSKPublicKeyHashes</key><array><string>%s</string><string>%s</string></array>\n"
            "<key>TSKReportUris</key><array><string>http://127.0.0.1/v1/reports</string></array>\n"
            "<key>TSKExpirationDate</key><string>2099-01-01</string>\n"
            "</dict></dict></dict></dict></plist>\n",
            pa, pb);
    fclose(f);
    return text;
}

static int post_bytes(const char *body, size_t len, bool auth, struct testenv_response *r)
{
    char h[160] = "Content-Type: application/xml\r\n";
    if (auth)
        snprintf(h, sizeof(h), "Authorization: Bearer %s\r\nContent-Type: application/xml\r\n",
                 srv.token);
    return testenv_http(srv.port, "POST", "/v1/pin-policies/check", h, body, len, false, r);
}

static int post_policy(const char *body, bool auth, struct testenv_response *r)
{
    return post_bytes(body, strlen(body), auth, r);
}

static bool has(const struct testenv_response *r, const char *code)
{
    const json_t *d = json_array_get(json_object_get(r->json, "domains"), 0);
    size_t i;
    const json_t *f;
    json_array_foreach(json_object_get(d, "findings"), i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "code")), code) == 0)
            return true;
    }
    return false;
}

Test(pin_policies, reported_chains_stand_for_the_server)
{
    struct testenv_response r;
    char *good = plist(ca, backup), *bad = plist(backup, other);
    cr_assert_eq(post_policy(good, true, &r), 200, "%s", r.body);
    const json_t *d = json_array_get(json_object_get(r.json, "domains"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(d, "domain")), "api.example.com");
    cr_assert_str_eq(json_string_value(json_object_get(d, "expiration")), "2099-01-01");
    cr_assert(json_is_true(json_object_get(d, "enforce")));
    cr_assert_eq(json_array_size(json_object_get(d, "findings")), 0, "%s", r.body);
    testenv_response_free(&r);

    cr_assert_eq(post_policy(bad, true, &r), 200, "%s", r.body);
    cr_assert(has(&r, "misses_current_key"), "%s", r.body);
    testenv_response_free(&r);
    free(good);
    free(bad);
}

Test(pin_policies, a_binary_plist_reads_as_its_xml)
{
    char *xml = plist(backup, other);
    plist_t pl = NULL;
    plist_from_xml(xml, (uint32_t)strlen(xml), &pl);
    char *bin = NULL;
    uint32_t len = 0;
    plist_to_bin(pl, &bin, &len);
    plist_free(pl);
    cr_assert(len > 8 && memchr(bin, '\0', len) != NULL, "a binary plist carries NUL bytes");
    struct testenv_response r;
    cr_assert_eq(post_bytes(bin, len, true, &r), 200, "%s", r.body);
    cr_assert(has(&r, "misses_current_key"), "%s", r.body);
    testenv_response_free(&r);
    free(bin);
    free(xml);
}

Test(pin_policies, declared_keys_come_before_reported_chains)
{
    char pin[45], body[256], h[160];
    testcert_pin(backup, pin);
    snprintf(body, sizeof(body), "{\"keys\": [{\"pin\": \"%s\", \"label\": \"current\"}]}", pin);
    snprintf(h, sizeof(h), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             srv.token);
    struct testenv_response r;
    cr_assert_eq(testenv_http(srv.port, "PUT", "/v1/hosts/api.example.com/keys", h, body,
                              strlen(body), false, &r),
                 200, "%s", r.body);
    testenv_response_free(&r);
    /* ca is in the reported chain, but the declared key is backup: the declaration wins */
    char *text = plist(ca, other);
    cr_assert_eq(post_policy(text, true, &r), 200, "%s", r.body);
    cr_assert(has(&r, "misses_current_key"), "%s", r.body);
    testenv_response_free(&r);
    free(text);
}

Test(pin_policies, unreadable_policy_is_400_and_the_api_is_admin_only)
{
    struct testenv_response r;
    const char *broken = "<plist version=\"1.0\">\n<dict>\n<key>TSKConfiguration</key>\n";
    cr_assert_eq(post_policy(broken, true, &r), 400, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "invalid_policy");
    cr_assert(strstr(json_string_value(json_object_get(r.json, "detail")), "line") != NULL);
    testenv_response_free(&r);
    char *text = plist(ca, backup);
    cr_assert_eq(post_policy(text, false, &r), 401);
    testenv_response_free(&r);
    free(text);
}
