/* policy: Android network security configs and TrustKit Info.plists (XML and binary) against
 * generated chains, one case per finding; malformed files named by line, never a crash. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <plist/plist.h>

#include "analysis/expected_keys.h"
#include "analysis/policy.h"
#include "base/timeparse.h"
#include "testcert.h"
#include "testenv.h"

#define NSC   TEST_DATA_DIR "/policy/network_security_config.xml"
#define PLIST TEST_DATA_DIR "/policy/Info.plist"
#define USEC  1000000LL

/* The served chain (leaf, CA, root) and two keys that are not in it. */
static struct testcert *root, *ca, *leaf, *backup, *other;

static void setup(void)
{
    root = testcert_new_root(&(struct testcert_opts){.cn = "Policy Root"});
    ca = testcert_new_ca(&(struct testcert_opts){.cn = "Policy CA"}, root);
    leaf = testcert_new_leaf(&(struct testcert_opts){.cn = "api.example.com"}, ca);
    backup = testcert_new_root(&(struct testcert_opts){.cn = "Backup key"});
    other = testcert_new_root(&(struct testcert_opts){.cn = "Someone else"});
    cr_assert(root && ca && leaf && backup && other);
}

static void teardown(void)
{
    testcert_free(other);
    testcert_free(backup);
    testcert_free(leaf);
    testcert_free(ca);
    testcert_free(root);
}

TestSuite(policy, .init = setup, .fini = teardown);

/* A new string: text with every `from` replaced by `to`. */
static char *replace(char *text, const char *from, const char *to)
{
    char *at = strstr(text, from);
    if (at == NULL)
        return text;
    size_t head = (size_t)(at - text), fl = strlen(from), tl = strlen(to);
    char *out = malloc(strlen(text) - fl + tl + 1);
    memcpy(out, text, head);
    memcpy(out + head, to, tl);
    strcpy(out + head + tl, at + fl);
    free(text);
    return replace(out, from, to);
}

/* The pin text of a name: a key of the PKI, or a broken pin. */
static void pin_of(const char *name, char out[64])
{
    const struct testcert *tc = strcmp(name, "leaf") == 0     ? leaf
                                : strcmp(name, "ca") == 0     ? ca
                                : strcmp(name, "root") == 0   ? root
                                : strcmp(name, "backup") == 0 ? backup
                                : strcmp(name, "other") == 0  ? other
                                                              : NULL;
    if (tc != NULL)
        testcert_pin(tc, out);
    else
        snprintf(out, 64, "%s", "not+a/pin");
}

/* YYYY-MM-DD that many days from now. */
static void date_in(int days, char out[16])
{
    char t[TIMEPARSE_FMT_LEN];
    timeparse_format(((int64_t)time(NULL) + (int64_t)days * 86400) * USEC, t);
    snprintf(out, 16, "%.10s", t);
}

/* policy_chain_fn over the generated chain. */
static bool served(void *ctx, const char *domain, struct policy_chain *out)
{
    (void)ctx;
    cr_assert_str_eq(domain, "api.example.com");
    memset(out, 0, sizeof(*out));
    out->keys = malloc(3 * sizeof(*out->keys));
    const struct testcert *chain[] = {leaf, ca, root};
    for (size_t i = 0; i < 3; i++)
        memcpy(out->keys[out->n_keys++], chain[i]->cert->spki_sha256, 32);
    memcpy(out->leaf, leaf->cert->spki_sha256, 32);
    out->has_leaf = true;
    return true;
}

static json_t *check(const char *text, size_t len, bool with_chain, const struct expected_keys *ek)
{
    struct policy *p = NULL;
    struct err err = {0};
    cr_assert_eq(policy_parse(text, len, &p, &err), ERR_OK, "%s", err.detail);
    struct policy_check_opts o = {.now_usec = (int64_t)time(NULL) * USEC,
                                  .ek = ek,
                                  .public_url = "https://pinwatch.example.com/",
                                  .chain = with_chain ? served : NULL};
    json_t *res = policy_check(p, &o);
    policy_free(p);
    cr_assert_not_null(res);
    cr_assert_eq(json_array_size(json_object_get(res, "domains")), 1);
    return res;
}

static const json_t *domain0(const json_t *res)
{
    return json_array_get(json_object_get(res, "domains"), 0);
}

/* Whether a finding with that code (and severity) is in the result. */
static bool has(const json_t *res, const char *code, const char *severity)
{
    size_t i;
    const json_t *f;
    json_array_foreach(json_object_get(domain0(res), "findings"), i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "code")), code) == 0) {
            cr_assert_str_eq(json_string_value(json_object_get(f, "severity")), severity, "%s",
                             code);
            return true;
        }
    }
    return false;
}

/* ---- Android network security config, one case per finding ---------------------------- */

struct nsc_case {
    char pins[3][8];   /* names for pin_of; "" ends */
    char sha1[8];      /* "yes": the first pin says digest="SHA-1" */
    int expires_in;    /* days from now; 0: no expiration */
    char trustkit[12]; /* "", "enforce", "report", "default" (Data Theorem's URI kept) */
    bool chain;        /* judge against the served chain */
    char code[24];     /* the finding the case is about */
    char severity[8];
    bool present;
};

ParameterizedTestParameters(policy, nsc_findings)
{
    static struct nsc_case cases[] = {
        {{"ca", "backup"}, "", 365, "enforce", true, "misses_current_key", "error", false},
        {{"backup", "other"}, "", 365, "enforce", true, "misses_current_key", "error", true},
        {{"ca"}, "", 365, "enforce", true, "no_backup_pin", "warning", true},
        {{"ca", "backup"}, "", 365, "enforce", true, "no_backup_pin", "warning", false},
        {{"leaf", "backup"}, "", 365, "enforce", true, "leaf_only", "warning", true},
        {{"leaf", "ca"}, "", 365, "enforce", true, "leaf_only", "warning", false},
        {{"ca", "backup"}, "", 0, "enforce", true, "no_expiration", "warning", true},
        {{"ca", "backup"}, "", -3, "enforce", true, "expired", "error", true},
        {{"ca", "backup"}, "", 10, "enforce", true, "expires_soon", "warning", true},
        {{"ca", "backup"}, "", 90, "enforce", true, "expires_soon", "warning", false},
        {{"ca", "backup"}, "", 365, "report", true, "not_enforced", "info", true},
        {{"ca", "backup"}, "", 365, "", true, "not_enforced", "info", false},
        {{"ca", "backup"}, "", 365, "", true, "no_report_uri", "warning", true},
        {{"ca", "backup"}, "", 365, "enforce", true, "no_report_uri", "warning", false},
        {{"ca", "backup"}, "", 365, "default", true, "report_uri_elsewhere", "info", true},
        {{"ca", "backup"}, "", 365, "enforce", true, "report_uri_elsewhere", "info", false},
        {{"ca", "backup", "bad"}, "", 365, "enforce", true, "bad_pin", "error", true},
        {{"root", "backup"}, "yes", 365, "enforce", true, "bad_pin", "error", true},
        {{"backup", "other"}, "", 365, "enforce", false, "misses_current_key", "error", false},
    };
    return cr_make_param_array(struct nsc_case, cases, sizeof(cases) / sizeof(cases[0]));
}

static char *nsc_text(const struct nsc_case *c)
{
    char *text = testenv_read_file(NSC, NULL);
    char pins[1024] = "", pin[64], exp[48] = "";
    for (size_t i = 0; i < 3 && c->pins[i][0] != '\0'; i++) {
        pin_of(c->pins[i], pin);
        size_t n = strlen(pins);
        snprintf(pins + n, sizeof(pins) - n, "      <pin digest=\"%s\">%s</pin>\n",
                 i == 0 && c->sha1[0] ? "SHA-1" : "SHA-256", pin);
    }
    if (c->expires_in != 0) {
        char date[16];
        date_in(c->expires_in, date);
        snprintf(exp, sizeof(exp), " expiration=\"%s\"", date);
    }
    const char *tk = "";
    if (strcmp(c->trustkit, "enforce") == 0 || strcmp(c->trustkit, "report") == 0)
        tk =
            strcmp(c->trustkit, "enforce") == 0
                ? "    <trustkit-config enforcePinning=\"true\" disableDefaultReportUri=\"true\">\n"
                  "      <report-uri>https://pinwatch.example.com/v1/reports</report-uri>\n"
                  "    </trustkit-config>"
                : "    <trustkit-config disableDefaultReportUri=\"true\">\n"
                  "      <report-uri>https://pinwatch.example.com/v1/reports</report-uri>\n"
                  "    </trustkit-config>";
    else if (strcmp(c->trustkit, "default") == 0)
        tk = "    <trustkit-config enforcePinning=\"true\">\n"
             "      <report-uri>https://pinwatch.example.com/report</report-uri>\n"
             "    </trustkit-config>";
    text = replace(text, "@PINS@", pins);
    text = replace(text, "@EXPIRATION@", exp);
    return replace(text, "@TRUSTKIT@", tk);
}

ParameterizedTest(struct nsc_case *c, policy, nsc_findings)
{
    char *text = nsc_text(c);
    json_t *res = check(text, strlen(text), c->chain, NULL);
    bool found = has(res, c->code, c->severity);
    char *dump = json_dumps(res, JSON_INDENT(1));
    cr_assert_eq(found, c->present, "%s %s in\n%s", c->code, c->present ? "missing" : "found",
                 dump);
    cr_assert_eq(policy_has_error(res), has(res, "misses_current_key", "error") ||
                                            has(res, "expired", "error") ||
                                            has(res, "bad_pin", "error"));
    free(dump);
    json_decref(res);
    free(text);
}

Test(policy, nsc_fields_and_a_clean_policy)
{
    struct nsc_case c = {{"ca", "backup"}, "", 365, "enforce", true, "", "", false};
    char *text = nsc_text(&c);
    json_t *res = check(text, strlen(text), true, NULL);
    const json_t *d = domain0(res);
    cr_assert_str_eq(json_string_value(json_object_get(d, "domain")), "api.example.com");
    cr_assert(json_is_true(json_object_get(d, "include_subdomains")));
    cr_assert(json_is_true(json_object_get(d, "enforce")));
    cr_assert_eq(json_array_size(json_object_get(d, "pins")), 2);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(d, "report_uris"), 0)),
                     "https://pinwatch.example.com/v1/reports");
    cr_assert_eq(json_array_size(json_object_get(d, "findings")), 0, "%s",
                 json_dumps(json_object_get(d, "findings"), 0));
    cr_assert_not(policy_has_error(res));
    json_decref(res);
    free(text);
}

Test(policy, nested_domain_configs_inherit_the_pin_set)
{
    char pin_ca[64], pin_backup[64], text[2048];
    pin_of("ca", pin_ca);
    pin_of("backup", pin_backup);
    snprintf(text, sizeof(text),
             "<network-security-config><domain-config>\n"
             "  <domain>example.com</domain>\n"
             "  <pin-set expiration=\"2099-01-01\"><pin digest=\"SHA-256\">%s</pin>"
             "<pin digest=\"SHA-256\">%s</pin></pin-set>\n"
             "  <domain-config><domain includeSubdomains=\"true\">API.Example.COM.</domain>"
             "</domain-config>\n"
             "</domain-config></network-security-config>",
             pin_ca, pin_backup);
    struct policy *p = NULL;
    cr_assert_eq(policy_parse(text, strlen(text), &p, NULL), ERR_OK);
    cr_assert_eq(p->n, 2);
    cr_assert_str_eq(p->domains[1].domain, "api.example.com", "normalized");
    cr_assert_eq(p->domains[1].n_pins, 2, "inherited from the enclosing domain-config");
    cr_assert(p->domains[1].include_subdomains);
    cr_assert_eq(p->domains[1].line, 4);
    cr_assert(p->domains[0].enforce, "Android enforces a pin-set by itself");
    policy_free(p);
}

/* ---- TrustKit Info.plist, XML and binary ---------------------------------------------- */

static char *plist_text(bool enforce, bool with_uri, int expires_in, const char *pin1,
                        const char *pin2)
{
    char *text = testenv_read_file(PLIST, NULL);
    char a[64], b[64], pins[256], exp[96] = "";
    pin_of(pin1, a);
    pin_of(pin2, b);
    snprintf(pins, sizeof(pins), "          <string>%s</string>\n          <string>%s</string>", a,
             b);
    if (expires_in != 0) {
        char date[16];
        date_in(expires_in, date);
        snprintf(exp, sizeof(exp),
                 "        <key>TSKExpirationDate</key>\n        <string>%s</string>", date);
    }
    text = replace(text, "@PINS@", pins);
    text = replace(text, "@ENFORCE@", enforce ? "true" : "false");
    text =
        replace(text, "@URIS@",
                with_uri ? "          <string>https://reports.elsewhere.example/r</string>" : "");
    return replace(text, "@EXPIRATION@", exp);
}

/* The same plist in Apple's binary format, through libplist. */
static char *to_binary(const char *xml, uint32_t *len)
{
    plist_t pl = NULL;
    plist_from_xml(xml, (uint32_t)strlen(xml), &pl);
    cr_assert_not_null(pl);
    char *bin = NULL;
    plist_to_bin(pl, &bin, len);
    plist_free(pl);
    cr_assert_not_null(bin);
    cr_assert_eq(memcmp(bin, "bplist00", 8), 0);
    return bin;
}

Test(policy, trustkit_plist_xml_and_binary_read_the_same)
{
    char *xml = plist_text(false, true, -1, "leaf", "other");
    uint32_t bin_len = 0;
    char *bin = to_binary(xml, &bin_len);
    const char *texts[] = {xml, bin};
    size_t lens[] = {strlen(xml), bin_len};
    for (size_t i = 0; i < 2; i++) {
        json_t *res = check(texts[i], lens[i], true, NULL);
        const json_t *d = domain0(res);
        cr_assert_str_eq(json_string_value(json_object_get(d, "domain")), "api.example.com");
        cr_assert(json_is_true(json_object_get(d, "include_subdomains")));
        cr_assert(json_is_false(json_object_get(d, "enforce")));
        cr_assert_eq(json_array_size(json_object_get(d, "pins")), 2);
        cr_assert(has(res, "not_enforced", "info"), "%zu", i);
        cr_assert(has(res, "expired", "error"), "%zu", i);
        cr_assert(has(res, "leaf_only", "warning"), "%zu", i);
        cr_assert(has(res, "report_uri_elsewhere", "info"), "%zu", i);
        cr_assert_not(has(res, "no_report_uri", "warning"));
        cr_assert(policy_has_error(res));
        json_decref(res);
    }
    free(bin);
    free(xml);

    xml = plist_text(true, false, 0, "ca", "backup");
    json_t *res = check(xml, strlen(xml), true, NULL);
    cr_assert(json_is_true(json_object_get(domain0(res), "enforce")), "TSKEnforcePinning");
    cr_assert(has(res, "no_report_uri", "warning"));
    cr_assert(has(res, "no_expiration", "warning"));
    cr_assert_not(has(res, "misses_current_key", "error"));
    cr_assert_not(policy_has_error(res));
    json_decref(res);
    free(xml);
}

/* Without a chain, the keys declared for the host say what is served: current and ca keys
 * are, backup keys are not, cdn keys are but may change. */
Test(policy, declared_keys_stand_for_the_chain)
{
    struct expected_keys *ek = expected_keys_new();
    struct expected_key keys[3];
    memcpy(keys[0].pin, leaf->cert->spki_sha256, 32);
    keys[0].label = EXPECTED_KEYS_CURRENT;
    memcpy(keys[1].pin, backup->cert->spki_sha256, 32);
    keys[1].label = EXPECTED_KEYS_BACKUP;
    memcpy(keys[2].pin, ca->cert->spki_sha256, 32);
    keys[2].label = EXPECTED_KEYS_CDN;
    cr_assert_eq(expected_keys_set_host(ek, "*.example.com", keys, 3, NULL), ERR_OK);

    char *xml = plist_text(true, true, 365, "backup", "other");
    json_t *res = check(xml, strlen(xml), false, ek);
    cr_assert(has(res, "misses_current_key", "error"), "backup keys are not served");
    json_decref(res);
    free(xml);

    xml = plist_text(true, true, 365, "leaf", "backup");
    res = check(xml, strlen(xml), false, ek);
    cr_assert_not(has(res, "misses_current_key", "error"));
    cr_assert(has(res, "leaf_only", "warning"));
    json_decref(res);
    free(xml);

    xml = plist_text(true, true, 365, "ca", "backup");
    res = check(xml, strlen(xml), false, ek);
    cr_assert(has(res, "cdn_pinned", "warning"));
    cr_assert_not(has(res, "leaf_only", "warning"));
    json_decref(res);
    free(xml);
    expected_keys_free(ek);
}

/* ---- what cannot be read ------------------------------------------------------------- */

struct bad_policy {
    char text[256];
    size_t len; /* 0: strlen */
    char detail[48];
};

ParameterizedTestParameters(policy, unreadable_policies_name_the_line)
{
    static struct bad_policy bad[] = {
        {"<network-security-config>\n<domain-config>\n<domain>x</domain>\n", 0, "line 4"},
        {"<network-security-config>\n<domain-config>\n  <domain>not a host</domain>\n"
         "</domain-config></network-security-config>",
         0, "line 3: 'not a host'"},
        {"<?xml version=\"1.0\"?>\n<manifest/>", 0, "line 2: <manifest>"},
        {"<network-security-config/>", 0, "pins no domain"},
        {"<plist version=\"1.0\"><dict><key>TSKConfiguration</key><dict/></dict></plist>", 0,
         "TSKPinnedDomains"},
        {"<plist version=\"1.0\"><array/></plist>", 0, "not a dictionary"},
        {"<plist><dict><key>TSKPinnedDomains</key>\n<dict>\n<key>a b</key><dict/></dict></dict>"
         "</plist>",
         0, "line 3: 'a b' is not a host name"},
        {"bplist00\x01\x02\x03garbage", 18, "binary plist"},
        {"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>", 0, "<x>"},
        {"not xml at all", 0, "line 1"},
        {"", 0, "empty"},
    };
    return cr_make_param_array(struct bad_policy, bad, sizeof(bad) / sizeof(bad[0]));
}

ParameterizedTest(struct bad_policy *b, policy, unreadable_policies_name_the_line)
{
    struct policy *p = NULL;
    struct err err = {0};
    size_t len = b->len ? b->len : strlen(b->text);
    cr_assert_eq(policy_parse(b->text, len, &p, &err), ERR_INVALID, "%s", b->text);
    cr_assert_str_eq(err.key, "invalid_policy");
    cr_assert(strstr(err.detail, b->detail) != NULL, "'%s' does not say '%s'", err.detail,
              b->detail);
    cr_assert_null(p);
}
