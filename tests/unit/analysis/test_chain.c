#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "analysis/catalog.h"
#include "analysis/chain.h"
#include "analysis/expected_keys.h"
#include "analysis/sigcache.h"
#include "analysis/trust_store.h"
#include "base/codec.h"
#include "report/cert.h"
#include "report/pin.h"
#include "testcert.h"

#define KZ_PEM                                                                                     \
    FIXTURES_DIR                                                                                   \
    "/chromium-blocklist/00309c736dd661da6f1eb24173aa849944c168a43a15bffd192eecfdb6f8dbd2.pem"
#define KZ_SPKI "b5ba8dd7f89564c2889d3d6453c84998c77824919b64ea0835aa62986591be50"
#define USEC    1000000LL

/* A small PKI per test: a public root (in the test trust store), its issuing CA, a leaf. */
static struct testcert *root, *ica, *leaf;
static struct trust_store *ts;
static struct catalog *cat;

static void setup(void)
{
    root = testcert_new_root(&(struct testcert_opts){.cn = "Test Public Root", .o = "Public CA"});
    ica = testcert_new_ca(&(struct testcert_opts){.cn = "Test Issuing CA", .o = "Public CA"}, root);
    leaf = testcert_new_leaf(
        &(struct testcert_opts){.cn = "www.example.com",
                                .sans = (const char *[]){"www.example.com", "example.com", NULL}},
        ica);
    cr_assert(root && ica && leaf);
    char *path = testcert_bundle_tmpfile((const struct testcert *[]){root}, 1);
    cr_assert_not_null(path);
    struct err err;
    cr_assert_eq(trust_store_load(path, &ts, &err), ERR_OK, "%s", err.detail);
    unlink(path);
    free(path);
    cr_assert_eq(catalog_load(NULL, &cat, &err), ERR_OK, "%s", err.detail);
}

static void teardown(void)
{
    testcert_free(leaf);
    testcert_free(ica);
    testcert_free(root);
    trust_store_free(ts);
    catalog_free(cat);
}

TestSuite(chain, .init = setup, .fini = teardown);

static struct chain_analysis *analyze(struct cert *const *certs, size_t n)
{
    struct chain_analysis *a = NULL;
    struct err err;
    cr_assert_eq(chain_analyze(certs, n, ts, cat, &a, &err), ERR_OK, "%s", err.detail);
    cr_assert_not_null(a);
    return a;
}

static bool weak_listed(const struct chain_analysis *a, const char *name)
{
    json_t *j = chain_analysis_to_json(a);
    size_t i;
    json_t *w;
    bool found = false;
    json_array_foreach(json_object_get(j, "weak"), i, w) found |=
        strcmp(json_string_value(w), name) == 0;
    json_decref(j);
    return found;
}

Test(chain, public_chain_anchors_at_store_root_when_root_omitted)
{
    struct cert *certs[] = {leaf->cert, ica->cert};
    struct chain_analysis *a = analyze(certs, 2);
    cr_assert(a->linked);
    cr_assert_eq(a->n_certs, 2);
    cr_assert(a->anchor_public);
    cr_assert(a->anchor_from_store);
    cr_assert_str_eq(a->anchor_subject, root->cert->subject);
    cr_assert_arr_eq(a->anchor_spki, root->cert->spki_sha256, 32);
    cr_assert_not(a->known_hostile);
    cr_assert_null(a->catalog_product);
    cr_assert_eq(a->weak, 0);

    /* the chain id is SHA-256 over the DER of its certificates, in order */
    uint8_t want[32];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, leaf->cert->der, leaf->cert->der_len);
    EVP_DigestUpdate(ctx, ica->cert->der, ica->cert->der_len);
    EVP_DigestFinal_ex(ctx, want, NULL);
    EVP_MD_CTX_free(ctx);
    cr_assert_arr_eq(a->sha256, want, 32);
    chain_analysis_free(a);
}

Test(chain, public_chain_with_root_included)
{
    struct cert *certs[] = {leaf->cert, ica->cert, root->cert};
    struct chain_analysis *a = analyze(certs, 3);
    cr_assert(a->linked);
    cr_assert(a->anchor_public);
    cr_assert_not(a->anchor_from_store);
    cr_assert_arr_eq(a->anchor_spki, root->cert->spki_sha256, 32);
    chain_analysis_free(a);

    /* no trust store: the same chain anchors privately */
    struct chain_analysis *b = NULL;
    cr_assert_eq(chain_analyze(certs, 3, NULL, NULL, &b, NULL), ERR_OK);
    cr_assert_not(b->anchor_public);
    cr_assert(b->linked);
    chain_analysis_free(b);
}

Test(chain, cross_signed_root_key_counts_as_public)
{
    /* the last certificate is the public root's key cross-signed by a root the store lacks */
    struct testcert *old = testcert_new_root(&(struct testcert_opts){.cn = "Retired Root"});
    struct testcert *cross = testcert_new_ca(
        &(struct testcert_opts){.cn = "Test Public Root", .o = "Public CA", .key_from = root}, old);
    cr_assert_not_null(cross);
    struct cert *certs[] = {leaf->cert, ica->cert, cross->cert};
    struct chain_analysis *a = analyze(certs, 3);
    cr_assert(a->linked);
    cr_assert_not(a->anchor_from_store);
    cr_assert(a->anchor_public, "the anchor key is a store root key");
    chain_analysis_free(a);
    testcert_free(cross);
    testcert_free(old);
}

static void check_private_product(const char *cn, const char *o, const char *product,
                                  const char *category)
{
    struct testcert *proot = testcert_new_root(&(struct testcert_opts){.cn = cn, .o = o});
    struct testcert *pleaf = testcert_new_leaf(
        &(struct testcert_opts){.cn = "www.example.com",
                                .sans = (const char *[]){"www.example.com", NULL}},
        proot);
    cr_assert(proot && pleaf);
    struct cert *certs[] = {pleaf->cert, proot->cert};
    struct chain_analysis *a = analyze(certs, 2);
    cr_assert(a->linked);
    cr_assert_not(a->anchor_public);
    cr_assert_arr_eq(a->anchor_spki, proot->cert->spki_sha256, 32);
    cr_assert_not_null(a->catalog_product, "%s not recognised", cn);
    cr_assert(strstr(a->catalog_product, product) != NULL, "%s", a->catalog_product);
    cr_assert_str_eq(a->catalog_category, category);
    cr_assert_not(a->known_hostile);

    /* the served chain often lacks the root: the issuer name still gives it away */
    struct chain_analysis *b = analyze(certs, 1);
    cr_assert_not_null(b->catalog_product);
    cr_assert_str_eq(b->catalog_category, category);
    cr_assert_not(b->anchor_public);
    chain_analysis_free(b);
    chain_analysis_free(a);
    testcert_free(pleaf);
    testcert_free(proot);
}

Test(chain, private_products_from_catalog)
{
    check_private_product("FortiGate CA", "Fortinet", "Forti", "enterprise_proxy");
    check_private_product("mitmproxy", "mitmproxy", "mitmproxy", "debugging_proxy");
    check_private_product("Kaspersky Anti-Virus Personal Root Certificate", "AO Kaspersky Lab",
                          "Kaspersky", "antivirus");
}

Test(chain, unknown_private_root)
{
    struct testcert *proot = testcert_new_root(&(struct testcert_opts){.cn = "Acme Corp Proxy"});
    struct testcert *pleaf = testcert_new_leaf(NULL, proot);
    struct cert *certs[] = {pleaf->cert, proot->cert};
    struct chain_analysis *a = analyze(certs, 2);
    cr_assert_not(a->anchor_public);
    cr_assert_null(a->catalog_product);
    cr_assert_null(a->catalog_category);
    cr_assert_not(a->known_hostile);
    chain_analysis_free(a);
    testcert_free(pleaf);
    testcert_free(proot);
}

Test(chain, missing_intermediate_wrong_order_and_forged_names)
{
    struct cert *missing[] = {leaf->cert, root->cert};
    struct chain_analysis *a = analyze(missing, 2);
    cr_assert_not(a->linked, "leaf is not issued by the root");
    cr_assert(a->anchor_public);
    chain_analysis_free(a);

    struct cert *reversed[] = {ica->cert, leaf->cert};
    a = analyze(reversed, 2);
    cr_assert_not(a->linked);
    chain_analysis_free(a);

    /* an intermediate with the right name but another key: the signature check fails */
    struct testcert *fake =
        testcert_new_ca(&(struct testcert_opts){.cn = "Test Issuing CA", .o = "Public CA"}, root);
    struct cert *forged[] = {leaf->cert, fake->cert};
    a = analyze(forged, 2);
    cr_assert_not(a->linked);
    chain_analysis_free(a);
    testcert_free(fake);

    struct cert *single[] = {leaf->cert};
    a = analyze(single, 1);
    cr_assert(a->linked, "one certificate is vacuously linked");
    cr_assert_not(a->anchor_public, "its issuer is not in the store");
    cr_assert_arr_eq(a->anchor_spki, leaf->cert->spki_sha256, 32);
    chain_analysis_free(a);
    struct cert *ica_only[] = {ica->cert};
    a = analyze(ica_only, 1);
    cr_assert(a->anchor_public, "the intermediate's issuer is a store root");
    cr_assert(a->anchor_from_store);
    chain_analysis_free(a);
}

static struct cert *load_kz(void)
{
    struct cert *c = testcert_load_pem_file(KZ_PEM);
    return c;
}

Test(chain, kazakhstan_root_is_known_hostile)
{
    struct cert *kz = load_kz();
    char hex[PIN_HEX_LEN + 1];
    codec_hex_encode(kz->spki_sha256, 32, hex);
    cr_assert_str_eq(hex, KZ_SPKI);

    struct cert *alone[] = {kz};
    struct chain_analysis *a = analyze(alone, 1);
    cr_assert(a->known_hostile);
    cr_assert(strstr(a->hostile_name, "Qaznet") != NULL, "%s", a->hostile_name);
    cr_assert_str_eq(a->hostile_category, "state");
    cr_assert_str_eq(a->catalog_category, "state");
    cr_assert_not(a->anchor_public);
    cr_assert_arr_eq(a->anchor_spki, kz->spki_sha256, 32);
    json_t *j = chain_analysis_to_json(a);
    cr_assert(json_is_true(json_object_get(j, "known_hostile")));
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(j, "anchor"), "spki_sha256")), KZ_SPKI);
    json_decref(j);
    chain_analysis_free(a);

    /* a hostile key anywhere in the chain counts, even when the chain does not link */
    struct cert *mixed[] = {leaf->cert, kz};
    a = analyze(mixed, 2);
    cr_assert(a->known_hostile);
    cr_assert_not(a->linked);
    chain_analysis_free(a);
    cert_free(kz);
}

Test(chain, weak_crypto)
{
    struct testcert *sha1_leaf =
        testcert_new_leaf(&(struct testcert_opts){.cn = "www.example.com", .digest = "sha1"}, ica);
    cr_assert_not_null(sha1_leaf, "OpenSSL refused to sign with SHA-1");
    struct cert *c1[] = {sha1_leaf->cert, ica->cert};
    struct chain_analysis *a = analyze(c1, 2);
    cr_assert(a->linked, "SHA-1 signatures still verify");
    cr_assert(a->weak & CHAIN_WEAK_SHA1_SIGNATURE);
    cr_assert_not(a->weak & CHAIN_WEAK_RSA_1024);
    cr_assert(weak_listed(a, "sha1_signature"));
    chain_analysis_free(a);
    testcert_free(sha1_leaf);

    struct testcert *rsa_root = testcert_new_root(
        &(struct testcert_opts){.cn = "Old Appliance CA", .rsa_bits = 1024, .digest = "sha1"});
    struct testcert *rsa_leaf = testcert_new_leaf(
        &(struct testcert_opts){.cn = "www.example.com", .rsa_bits = 2048}, rsa_root);
    cr_assert(rsa_root && rsa_leaf);
    struct cert *c2[] = {rsa_leaf->cert, rsa_root->cert};
    a = analyze(c2, 2);
    cr_assert(a->linked);
    cr_assert(a->weak & CHAIN_WEAK_RSA_1024, "the 1024-bit root key");
    cr_assert_not(a->weak & CHAIN_WEAK_SHA1_SIGNATURE,
                  "a root's own SHA-1 self-signature is not relied on");
    cr_assert(weak_listed(a, "rsa_1024"));
    chain_analysis_free(a);

    /* a SHA-1 self-signed root alone is not weak by signature */
    struct cert *c3[] = {rsa_root->cert};
    a = analyze(c3, 1);
    cr_assert_eq(a->weak, CHAIN_WEAK_RSA_1024);
    chain_analysis_free(a);

    struct testcert *md5_leaf = testcert_new_leaf(
        &(struct testcert_opts){.cn = "www.example.com", .digest = "md5"}, rsa_root);
    if (md5_leaf != NULL) {
        struct cert *c4[] = {md5_leaf->cert, rsa_root->cert};
        a = analyze(c4, 2);
        cr_assert(a->weak & CHAIN_WEAK_MD5_SIGNATURE);
        cr_assert(weak_listed(a, "md5_signature"));
        chain_analysis_free(a);
        testcert_free(md5_leaf);
    }
    testcert_free(rsa_leaf);
    testcert_free(rsa_root);
    cr_assert_str_eq(chain_weak_name(CHAIN_WEAK_RSA_1024), "rsa_1024");
    cr_assert_null(chain_weak_name(1u << 20));
}

Test(chain, hostname_coverage)
{
    struct testcert *w = testcert_new_leaf(
        &(struct testcert_opts){.cn = "ignored.example.org",
                                .sans = (const char *[]){"*.example.com", "api.example.net",
                                                         "192.0.2.7", "2001:db8::1", NULL}},
        ica);
    cr_assert_not_null(w);
    const struct cert *c = w->cert;
    cr_assert(chain_cert_covers_hostname(c, "www.example.com"));
    cr_assert(chain_cert_covers_hostname(c, "API.Example.com"));
    cr_assert(chain_cert_covers_hostname(c, "api.example.net"));
    cr_assert_not(chain_cert_covers_hostname(c, "example.com"), "wildcard needs a label");
    cr_assert_not(chain_cert_covers_hostname(c, "a.b.example.com"), "only one label");
    cr_assert_not(chain_cert_covers_hostname(c, "www.example.net"));
    cr_assert_not(chain_cert_covers_hostname(c, "ignored.example.org"), "CN ignored with SANs");
    cr_assert(chain_cert_covers_hostname(c, "192.0.2.7"));
    cr_assert_not(chain_cert_covers_hostname(c, "192.0.2.8"));
    cr_assert(chain_cert_covers_hostname(c, "2001:db8:0:0::1"));
    cr_assert(chain_cert_covers_hostname(c, "[2001:db8::1]"));
    cr_assert_not(chain_cert_covers_hostname(c, ""));
    cr_assert_not(chain_cert_covers_hostname(c, NULL));
    testcert_free(w);

    /* no SAN at all: the CN is used */
    struct testcert *cn_only =
        testcert_new_leaf(&(struct testcert_opts){.cn = "legacy.example.com"}, ica);
    cr_assert(chain_cert_covers_hostname(cn_only->cert, "legacy.example.com"));
    cr_assert_not(chain_cert_covers_hostname(cn_only->cert, "www.example.com"));
    testcert_free(cn_only);

    /* wildcards never stand for a public suffix or an IP address */
    struct testcert *bad = testcert_new_leaf(
        &(struct testcert_opts){.cn = "x", .sans = (const char *[]){"*.com", "*.0.2.7", NULL}},
        ica);
    cr_assert_not(chain_cert_covers_hostname(bad->cert, "example.com"));
    cr_assert_not(chain_cert_covers_hostname(bad->cert, "192.0.2.7"));
    testcert_free(bad);
}

/* What OpenSSL's X509_check_host / X509_check_ip decide, through both paths: a certificate
 * on its own, and the names kept with a chain's analysis. Parameters hold their text:
 * Criterion runs each one in a process of its own. */
struct coverage_case {
    char sans[3][32]; /* "" ends the list; none at all: no SAN extension */
    char cn[32];
    char host[48];
    bool covers;
    char why[64];
};

ParameterizedTestParameters(chain, coverage_follows_openssl)
{
    static struct coverage_case cases[] = {
        {{"*.example.com"}, "x", "xn--bcher-kva.example.com", true, "wildcard over an A-label"},
        {{"*.example.com"}, "x", "www.example.com.", true, "absolute form"},
        {{"WWW.Example.COM"}, "x", "www.example.com", true, "case-insensitive"},
        {{"w*.example.com"}, "x", "www.example.com", false, "partial wildcard refused"},
        {{"*w.example.com"}, "x", "www.example.com", false, "partial wildcard refused"},
        {{"*.*.example.com"}, "x", "a.b.example.com", false, "one wildcard, left-most only"},
        {{"xn--bcher-kva.example"}, "x", "xn--bcher-kva.example", true, "A-label, exact"},
        {{"*.xn--bcher-kva.example"},
         "x",
         "shop.xn--bcher-kva.example",
         true,
         "wildcard above an A-label"},
        {{"xn--*.example.com"},
         "x",
         "xn--bcher-kva.example.com",
         false,
         "no wildcard inside an A-label"},
        {{"www.example.com"}, "x", ".example.com", false, "no 'any subdomain' form"},
        {{"2001:db8::1"}, "x", "2001:0db8:0:0:0:0:0:1", true, "IPv6 in any spelling"},
        {{"192.0.2.7"}, "x", "::ffff:192.0.2.7", false, "IPv4 SAN is not its mapped form"},
        {{"192.0.2.7"}, "www.example.com", "www.example.com", false, "CN ignored beside IP SAN"},
        {{""}, "192.0.2.7", "192.0.2.7", false, "a CN is never an IP identity"},
        {{""}, "*.example.com", "www.example.com", true, "CN wildcard without SANs"},
        {{""}, "legacy.example.com", "legacy.example.com.", true, "CN without SANs"},
    };
    return cr_make_param_array(struct coverage_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct coverage_case *c, chain, coverage_follows_openssl)
{
    const char *sans[4] = {NULL};
    for (size_t i = 0; i < 3 && c->sans[i][0] != '\0'; i++)
        sans[i] = c->sans[i];
    struct testcert *l = testcert_new_leaf(
        &(struct testcert_opts){.cn = c->cn, .sans = sans[0] != NULL ? sans : NULL}, ica);
    cr_assert_not_null(l);
    cr_assert_eq(chain_cert_covers_hostname(l->cert, c->host), c->covers, "%s: %s", c->host,
                 c->why);
    struct cert *certs[] = {l->cert, ica->cert};
    struct chain_analysis *a = analyze(certs, 2);
    cr_assert_not_null(a->leaf_names);
    struct chain_report_findings f;
    chain_report_findings(a, certs, 2, c->host, (int64_t)time(NULL) * USEC, NULL, 0, NULL, &f);
    cr_assert_eq(f.covers_hostname, c->covers, "analysed chain, %s: %s", c->host, c->why);
    chain_analysis_free(a);
    testcert_free(l);
}

Test(chain, report_findings_validity_and_names)
{
    int64_t now = (int64_t)time(NULL);
    struct testcert *old_ca = testcert_new_ca(
        &(struct testcert_opts){.cn = "Old CA", .not_before = now - 500 * 86400}, root);
    struct testcert *expired =
        testcert_new_leaf(&(struct testcert_opts){.cn = "www.example.com",
                                                  .sans = (const char *[]){"www.example.com", NULL},
                                                  .not_before = now - 400 * 86400,
                                                  .not_after = now - 30 * 86400},
                          old_ca);
    cr_assert_not_null(expired);
    struct cert *certs[] = {expired->cert, old_ca->cert};
    struct chain_analysis *a = analyze(certs, 2);
    struct chain_report_findings f;

    chain_report_findings(a, certs, 2, "www.example.com", now * USEC, NULL, 0, NULL, &f);
    cr_assert(f.covers_hostname);
    cr_assert_not(f.valid_at_report_time, "expired leaf");
    /* judged at the report time, not now */
    chain_report_findings(a, certs, 2, "www.example.com", (now - 100 * 86400) * USEC, NULL, 0, NULL,
                          &f);
    cr_assert(f.valid_at_report_time);
    chain_analysis_free(a);

    /* a good leaf, but the intermediate was not yet valid: every certificate counts */
    struct testcert *young =
        testcert_new_ca(&(struct testcert_opts){.cn = "Young CA", .not_before = now - 3600}, root);
    struct testcert *l2 = testcert_new_leaf(
        &(struct testcert_opts){.cn = "www.example.com", .not_before = now - 7200}, young);
    struct cert *c2[] = {l2->cert, young->cert};
    a = analyze(c2, 2);
    chain_report_findings(a, c2, 2, "www.example.com", (now - 5000) * USEC, NULL, 0, NULL, &f);
    cr_assert_not(f.valid_at_report_time);
    chain_report_findings(a, c2, 2, "www.example.com", now * USEC, NULL, 0, NULL, &f);
    cr_assert(f.valid_at_report_time);
    cr_assert(f.covers_hostname, "CN only");
    chain_report_findings(a, c2, 2, "mail.example.com", now * USEC, NULL, 0, NULL, &f);
    cr_assert_not(f.covers_hostname, "name mismatch");
    chain_analysis_free(a);
    testcert_free(l2);
    testcert_free(young);
    testcert_free(expired);
    testcert_free(old_ca);
}

Test(chain, report_findings_pins_and_expected_keys)
{
    struct cert *certs[] = {leaf->cert, ica->cert};
    struct chain_analysis *a = analyze(certs, 2);
    int64_t now = (int64_t)time(NULL) * USEC;
    struct chain_report_findings f;
    uint8_t pins[2][32];

    memset(pins[0], 0x11, 32);
    memcpy(pins[1], ica->cert->spki_sha256, 32);
    chain_report_findings(a, certs, 2, "www.example.com", now, (const uint8_t(*)[32])pins, 1, NULL,
                          &f);
    cr_assert_not(f.pin_in_chain);
    chain_report_findings(a, certs, 2, "www.example.com", now, (const uint8_t(*)[32])pins, 2, NULL,
                          &f);
    cr_assert(f.pin_in_chain);
    /* the store root the chain omits is part of the chain for pins */
    memcpy(pins[1], root->cert->spki_sha256, 32);
    chain_report_findings(a, certs, 2, "www.example.com", now, (const uint8_t(*)[32])pins, 2, NULL,
                          &f);
    cr_assert(f.pin_in_chain);

    struct expected_keys *ek = expected_keys_new();
    struct expected_key k = {.label = EXPECTED_KEYS_CURRENT};
    memcpy(k.pin, leaf->cert->spki_sha256, 32);
    cr_assert_eq(expected_keys_set_host(ek, "www.example.com", &k, 1, NULL), ERR_OK);
    chain_report_findings(a, certs, 2, "www.example.com", now, NULL, 0, ek, &f);
    cr_assert(f.expected_key);
    cr_assert(f.leaf_expected);
    chain_report_findings(a, certs, 2, "api.example.com", now, NULL, 0, ek, &f);
    cr_assert_not(f.expected_key, "keys are per host");
    cr_assert_not(f.leaf_expected);

    k.label = EXPECTED_KEYS_CA;
    memcpy(k.pin, root->cert->spki_sha256, 32);
    cr_assert_eq(expected_keys_set_host(ek, "*.example.com", &k, 1, NULL), ERR_OK);
    chain_report_findings(a, certs, 2, "api.example.com", now, NULL, 0, ek, &f);
    cr_assert(f.expected_key, "the store anchor's key is declared");
    cr_assert_not(f.leaf_expected);

    json_t *j = chain_report_findings_to_json(a, &f);
    const char *keys[] = {
        "chain_sha256", "anchor",       "linked",        "covers_hostname", "valid_at_report_time",
        "pin_in_chain", "expected_key", "known_hostile", "catalog",         "weak"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        cr_assert_not_null(json_object_get(j, keys[i]), "findings lack %s", keys[i]);
    cr_assert(json_is_true(json_object_get(j, "expected_key")));
    cr_assert(json_is_false(json_object_get(j, "leaf_expected")));
    cr_assert(json_is_null(json_object_get(j, "catalog")));
    json_decref(j);
    expected_keys_free(ek);
    chain_analysis_free(a);
}

Test(chain, json_round_trip)
{
    struct testcert *proot = testcert_new_root(&(struct testcert_opts){
        .cn = "FortiGate CA", .o = "Fortinet", .rsa_bits = 1024, .digest = "sha1"});
    struct testcert *pleaf = testcert_new_leaf(
        &(struct testcert_opts){.cn = "www.example.com", .digest = "sha1"}, proot);
    struct cert *certs[] = {pleaf->cert, proot->cert};
    struct chain_analysis *a = analyze(certs, 2);
    json_t *j = chain_analysis_to_json(a);
    cr_assert_not_null(j);

    char hex[PIN_HEX_LEN + 1];
    codec_hex_encode(a->sha256, 32, hex);
    cr_assert_str_eq(json_string_value(json_object_get(j, "chain_sha256")), hex);
    json_t *anchor = json_object_get(j, "anchor");
    cr_assert_str_eq(json_string_value(json_object_get(anchor, "subject")), proot->cert->subject);
    cr_assert(json_is_false(json_object_get(anchor, "public")));
    json_t *catalog = json_object_get(j, "catalog");
    cr_assert_str_eq(json_string_value(json_object_get(catalog, "category")), "enterprise_proxy");
    cr_assert_eq(json_array_size(json_object_get(j, "weak")), 2);

    struct chain_analysis *b = NULL;
    struct err err;
    cr_assert_eq(chain_analysis_from_json(j, &b, &err), ERR_OK, "%s", err.detail);
    cr_assert_arr_eq(b->sha256, a->sha256, 32);
    cr_assert_arr_eq(b->anchor_spki, a->anchor_spki, 32);
    cr_assert_str_eq(b->anchor_subject, a->anchor_subject);
    cr_assert_eq(b->linked, a->linked);
    cr_assert_eq(b->anchor_public, a->anchor_public);
    cr_assert_eq(b->weak, a->weak);
    cr_assert_eq(b->n_certs, 2);
    cr_assert_str_eq(b->catalog_product, a->catalog_product);
    cr_assert_str_eq(b->catalog_category, a->catalog_category);
    json_t *again = chain_analysis_to_json(b);
    cr_assert(json_equal(j, again));
    json_decref(again);
    chain_analysis_free(b);

    /* hostile too */
    struct cert *kz = load_kz();
    struct chain_analysis *h = analyze(&kz, 1);
    json_t *hj = chain_analysis_to_json(h);
    cr_assert_eq(chain_analysis_from_json(hj, &b, NULL), ERR_OK);
    cr_assert(b->known_hostile);
    cr_assert_str_eq(b->hostile_name, h->hostile_name);
    json_t *hj2 = chain_analysis_to_json(b);
    cr_assert(json_equal(hj, hj2));
    json_decref(hj2);
    json_decref(hj);
    chain_analysis_free(b);
    chain_analysis_free(h);
    cert_free(kz);

    /* broken inputs */
    json_t *broken = json_deep_copy(j);
    json_object_set_new(broken, "chain_sha256", json_string("xyz"));
    cr_assert_eq(chain_analysis_from_json(broken, &b, &err), ERR_INVALID);
    cr_assert_str_eq(err.key, "invalid_chain_analysis");
    json_decref(broken);
    broken = json_deep_copy(j);
    json_object_del(broken, "linked");
    cr_assert_eq(chain_analysis_from_json(broken, &b, NULL), ERR_INVALID);
    json_decref(broken);
    broken = json_deep_copy(j);
    json_object_set_new(broken, "catalog", json_string("Fortinet"));
    cr_assert_eq(chain_analysis_from_json(broken, &b, NULL), ERR_INVALID);
    json_decref(broken);
    cr_assert_eq(chain_analysis_from_json(json_null(), &b, NULL), ERR_INVALID);

    json_decref(j);
    chain_analysis_free(a);
    testcert_free(pleaf);
    testcert_free(proot);
}

Test(chain, invalid_input)
{
    struct chain_analysis *a = NULL;
    struct err err;
    cr_assert_eq(chain_analyze(NULL, 0, ts, cat, &a, &err), ERR_INVALID);
    cr_assert_str_eq(err.key, "empty_chain");
    cr_assert_null(a);
    struct cert bogus = {.refs = 1, .der = (unsigned char *)"junk", .der_len = 4};
    struct cert *certs[] = {&bogus};
    cr_assert_eq(chain_analyze(certs, 1, ts, cat, &a, &err), ERR_INVALID);
    cr_assert_str_eq(err.key, "undecodable_certificate");
    chain_analysis_free(NULL);

    struct chain_report_findings f;
    memset(&f, 0xff, sizeof(f));
    chain_report_findings(NULL, NULL, 0, "www.example.com", 0, NULL, 0, NULL, &f);
    cr_assert_not(f.covers_hostname || f.valid_at_report_time || f.pin_in_chain || f.expected_key ||
                  f.leaf_expected);
}

static double mono_s(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* RSA-3072 with a ~3070-bit public exponent: each signature check with it is a full modular
 * exponentiation. The link is not checked: not linked, and the finding says why. */
Test(chain, an_rsa_key_with_a_huge_exponent_is_not_verified_with)
{
    struct testcert *hostile = testcert_new_ca(
        &(struct testcert_opts){.cn = "Hostile CA", .rsa_bits = 3072, .rsa_exponent_bits = 3070},
        root);
    cr_assert_not_null(hostile, "OpenSSL refused the key");
    struct testcert *lf =
        testcert_new_leaf(&(struct testcert_opts){.cn = "www.example.com"}, hostile);
    cr_assert_not_null(lf);
    /* the signature is genuine: OpenSSL verifies it when asked */
    cr_assert_eq(X509_verify(lf->x509, hostile->key), 1);
    struct cert *c[] = {lf->cert, hostile->cert, root->cert};
    struct chain_analysis *a = analyze(c, 3); /* warm up */
    chain_analysis_free(a);
    double t0 = mono_s();
    a = analyze(c, 3);
    double took = mono_s() - t0;
    cr_assert_not(a->linked, "a link was verified with the hostile key");
    cr_assert(a->weak & CHAIN_WEAK_UNUSUAL_KEY);
    cr_assert(weak_listed(a, "unusual_key"));
    cr_log_info("chain analysis with the hostile key: %.3f ms", took * 1e3);
    chain_analysis_free(a);

    /* The same chain with a usual key links. */
    struct testcert *usual =
        testcert_new_ca(&(struct testcert_opts){.cn = "Usual CA", .rsa_bits = 3072}, root);
    struct testcert *lf2 =
        testcert_new_leaf(&(struct testcert_opts){.cn = "www.example.com"}, usual);
    struct cert *c2[] = {lf2->cert, usual->cert, root->cert};
    a = analyze(c2, 3);
    cr_assert(a->linked);
    cr_assert_not(a->weak & CHAIN_WEAK_UNUSUAL_KEY);
    chain_analysis_free(a);
    testcert_free(lf2);
    testcert_free(usual);
    testcert_free(lf);
    testcert_free(hostile);
}

/* A chain may be 64 certificates long; it gets CHAIN_MAX_VERIFY signature checks, no more. */
Test(chain, signature_checks_per_chain_are_capped)
{
    enum { N = CHAIN_MAX_VERIFY + 3 };
    struct testcert *cas[N];
    struct cert *c[N + 1];
    const struct testcert *issuer = root;
    for (int i = N - 1; i >= 0; i--) {
        char cn[32];
        snprintf(cn, sizeof(cn), "Step CA %d", i);
        cas[i] = testcert_new_ca(&(struct testcert_opts){.cn = cn}, issuer);
        cr_assert_not_null(cas[i]);
        issuer = cas[i];
        c[i] = cas[i]->cert;
    }
    c[N] = root->cert;
    struct chain_analysis *a = analyze(c, N + 1);
    cr_assert_not(a->linked, "%d links checked", N);
    cr_assert(a->weak & CHAIN_WEAK_UNVERIFIED_LINKS);
    cr_assert(weak_listed(a, "unverified_links"));
    chain_analysis_free(a);
    /* Within the cap the same kind of chain links. */
    a = analyze(c + N - CHAIN_MAX_VERIFY, CHAIN_MAX_VERIFY + 1);
    cr_assert(a->linked);
    cr_assert_eq(a->weak, 0);
    chain_analysis_free(a);
    for (int i = 0; i < N; i++)
        testcert_free(cas[i]);
}

/* A link checked once is not checked again, whichever chain repeats it; the findings are the
 * same with and without the cache. */
Test(chain, signature_results_are_cached_per_link)
{
    struct sigcache *sc = sigcache_new(1024);
    cr_assert_not_null(sc);
    struct cert *c[] = {leaf->cert, ica->cert, root->cert};
    struct chain_analysis *a = NULL, *plain = analyze(c, 3);
    unsigned long long hits, misses;
    cr_assert_eq(chain_analyze_cached(c, 3, ts, cat, sc, &a, NULL), ERR_OK);
    sigcache_stats(sc, &hits, &misses);
    cr_assert_eq(hits, 0);
    cr_assert_eq(misses, 2);
    cr_assert_eq(a->linked, plain->linked);
    cr_assert_eq(a->weak, plain->weak);
    chain_analysis_free(a);
    cr_assert_eq(chain_analyze_cached(c, 3, ts, cat, sc, &a, NULL), ERR_OK);
    sigcache_stats(sc, &hits, &misses);
    cr_assert_eq(hits, 2, "the second analysis checked a signature again");
    cr_assert(a->linked);
    chain_analysis_free(a);
    /* a new leaf under the same intermediate: only its own link is checked */
    struct testcert *other =
        testcert_new_leaf(&(struct testcert_opts){.cn = "other.example.com"}, ica);
    struct cert *c2[] = {other->cert, ica->cert, root->cert};
    cr_assert_eq(chain_analyze_cached(c2, 3, ts, cat, sc, &a, NULL), ERR_OK);
    sigcache_stats(sc, &hits, &misses);
    cr_assert_eq(hits, 3);
    cr_assert_eq(misses, 3);
    cr_assert(a->linked);
    chain_analysis_free(a);
    chain_analysis_free(plain);
    testcert_free(other);
    sigcache_free(sc);
}
