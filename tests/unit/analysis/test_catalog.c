#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/catalog.h"
#include "base/codec.h"
#include "report/cert.h"
#include "report/pin.h"
#include "testcert.h"

#define KZ_PEM                                                                                     \
    FIXTURES_DIR                                                                                   \
    "/chromium-blocklist/00309c736dd661da6f1eb24173aa849944c168a43a15bffd192eecfdb6f8dbd2.pem"
#define KZ_SPKI "b5ba8dd7f89564c2889d3d6453c84998c77824919b64ea0835aa62986591be50"

static struct catalog *load_default(void)
{
    struct catalog *cat = NULL;
    struct err err;
    cr_assert_eq(catalog_load(NULL, &cat, &err), ERR_OK, "%s", err.detail);
    return cat;
}

Test(catalog, default_file_loads)
{
    struct catalog *cat = load_default();
    cr_assert_geq(catalog_product_count(cat), 40);
    cr_assert_geq(catalog_hostile_count(cat), 18);
    catalog_free(cat);
    catalog_free(NULL);
}

struct name_case {
    const char *cn, *o;
    const char *product; /* substring expected in the product name; NULL: no match */
    const char *category;
};

Test(catalog, product_names)
{
    static const struct name_case cases[] = {
        /* landscape §3.6 (a): Chromium's list */
        {"FortiGate CA", "Fortinet", "Forti", "enterprise_proxy"},
        {"fortigate ca", "FORTINET", "Forti", "enterprise_proxy"},
        {"Some Device", "Fortinet Ltd.", "Forti", "enterprise_proxy"},
        {"BadSSL MITM Software Test", NULL, "BadSSL", "antivirus"},
        {"avast! Web/Mail Shield Root", "avast! Web/Mail Shield", "Avast", "antivirus"},
        {"Bitdefender Personal CA.Net-Defender", "Bitdefender", "Bitdefender", "antivirus"},
        {"Cisco Umbrella Root CA", "Cisco", "Cisco Umbrella", "enterprise_proxy"},
        {"Cisco Umbrella Primary SubCA", "Cisco", "Cisco Umbrella", "enterprise_proxy"},
        {"ContentKeeper Appliance CA (42)", "ContentKeeper Technologies", "ContentKeeper",
         "enterprise_proxy"},
        {NULL, "Cyberoam Certificate Authority", "Cyberoam", "enterprise_proxy"},
        {"Forcepoint Cloud CA", "Forcepoint LLC", "Forcepoint", "enterprise_proxy"},
        {"Kaspersky Anti-Virus Personal Root Certificate", NULL, "Kaspersky", "antivirus"},
        {"McAfee Web Gateway", NULL, "McAfee", "enterprise_proxy"},
        {"www.netspark.com", "NetSpark", "NetSpark", "enterprise_proxy"},
        {"Smoothwall-default-root-certificate-authority", NULL, "Smoothwall", "enterprise_proxy"},
        {NULL, "HTTPS Management Certificate for SonicWALL", "SonicWall", "enterprise_proxy"},
        {"Sophos SSL CA_C4-24A8B", "Sophos", "Sophos", "enterprise_proxy"},
        {"Sophos_CA_A1B2C3", NULL, "Sophos", "enterprise_proxy"},
        {"sophosutm Proxy CA", "sophosutm", "Sophos UTM", "enterprise_proxy"},
        {"Sophos Web Appliance", "Sophos Plc", "Sophos Web Appliance", "enterprise_proxy"},
        {"Proxy", "Blue Coat Systems, Inc.", "Blue Coat", "enterprise_proxy"},
        {"IWSS.TREND", NULL, "Trend Micro", "enterprise_proxy"},
        {"Zscaler Intermediate Root CA (zscaler.net)", "Zscaler Inc.", "Zscaler",
         "enterprise_proxy"},
        /* landscape §3.6 (b) */
        {"DO_NOT_TRUST_FiddlerRoot", "DO_NOT_TRUST", "Fiddler", "debugging_proxy"},
        {"Fiddler Root Certificate Authority", "Progress Telerik Fiddler", "Fiddler",
         "debugging_proxy"},
        {"mitmproxy", "mitmproxy", "mitmproxy", "debugging_proxy"},
        {"PortSwigger CA", "PortSwigger", "Burp", "debugging_proxy"},
        {"Charles Proxy CA (12 Mar 2019, laptop.local)", "XK72 Ltd", "Charles", "debugging_proxy"},
        {"Fortinet_CA_SSL", NULL, "Forti", "enterprise_proxy"},
        {"FG100D3G16801234", NULL, "Forti", "enterprise_proxy"},
        {"Zscaler Root CA", "Zscaler Inc.", "Zscaler", "enterprise_proxy"},
        {"Kaspersky Anti-Virus Personal Root Certificate", "AO Kaspersky Lab", "Kaspersky",
         "antivirus"},
        {"ESET SSL Filter CA", "ESET spol. s r. o.", "ESET", "antivirus"},
        {"Avast Web/Mail Shield Root", NULL, "Avast", "antivirus"},
        {"AVG Web/Mail Shield Root", NULL, "AVG", "antivirus"},
        {"Superfish, Inc.", "Superfish, Inc.", "Superfish", "malware_adware"},
        {"Qaznet Trust Network", NULL, "Kazakhstan", "state"},
        {"Information Security Certification Authority CA", "ISCA", "Kazakhstan", "state"},
        {"Information Security Certification Authority", "ISCA", "Kazakhstan", "state"},
        {"IopFailZeroAccessCreate", NULL, "ZeroAccess", "malware_adware"},
        /* must not match: patterns cover the whole value, CN and O both when both given */
        {"FortiGate CA", "Evil Corp", NULL, NULL},
        {"ContentKeeper Appliance CA (abc)", "ContentKeeper Technologies", NULL, NULL},
        {"notmitmproxy", "mitmproxy", NULL, NULL},
        {"Cisco Umbrella Root CA", "Cisco Systems", NULL, NULL},
        {"R3", "Let's Encrypt", NULL, NULL},
        {"DigiCert Global G2 TLS RSA SHA256 2020 CA1", "DigiCert Inc", NULL, NULL},
        {"www.example.com", NULL, NULL, NULL},
        {NULL, NULL, NULL, NULL},
    };
    struct catalog *cat = load_default();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct name_case *c = &cases[i];
        const struct catalog_product *p = catalog_match_names(cat, c->cn, c->o);
        if (c->product == NULL) {
            cr_assert_null(p, "CN=%s O=%s matched %s", c->cn, c->o, p ? p->product : "");
            continue;
        }
        cr_assert_not_null(p, "CN=%s O=%s did not match", c->cn, c->o);
        cr_assert(strstr(p->product, c->product) != NULL, "CN=%s: got %s", c->cn, p->product);
        cr_assert_str_eq(p->category, c->category, "CN=%s", c->cn);
        cr_assert(p->source != NULL && p->source[0] != '\0');
    }
    catalog_free(cat);
}

/* Build a struct cert by hand (only the fields the catalog reads). */
static struct cert fake_cert(const char *subject_cn, const char *subject_o, const char *issuer_cn,
                             const char *issuer_o, bool is_ca)
{
    struct cert c = {.refs = 1, .is_ca = is_ca};
    c.subject_cn = (char *)subject_cn;
    c.subject_o = (char *)subject_o;
    c.issuer_cn = (char *)issuer_cn;
    c.issuer_o = (char *)issuer_o;
    c.self_issued = subject_cn && issuer_cn && strcmp(subject_cn, issuer_cn) == 0;
    return c;
}

Test(catalog, match_cert_issuer_and_ca_subject)
{
    struct catalog *cat = load_default();
    /* a leaf minted by a FortiGate: its issuer names the product */
    struct cert leaf = fake_cert("www.example.com", NULL, "FortiGate CA", "Fortinet", false);
    const struct catalog_product *p = catalog_match_cert(cat, &leaf);
    cr_assert_not_null(p);
    cr_assert_str_eq(p->category, "enterprise_proxy");

    /* an intermediate whose own subject is the product's CA */
    struct cert ca = fake_cert("mitmproxy", "mitmproxy", "Some Root", "Some Org", true);
    p = catalog_match_cert(cat, &ca);
    cr_assert_not_null(p);
    cr_assert_str_eq(p->category, "debugging_proxy");

    /* a leaf whose subject looks like a product but is issued by a public CA: no match */
    struct cert site = fake_cert("Kaspersky Anti-Virus Personal Root Certificate", NULL, "R3",
                                 "Let's Encrypt", false);
    cr_assert_null(catalog_match_cert(cat, &site));
    cr_assert_null(catalog_match_cert(NULL, &site));
    cr_assert_null(catalog_match_cert(cat, NULL));
    catalog_free(cat);
}

Test(catalog, match_minted_certificates)
{
    struct catalog *cat = load_default();
    struct testcert *root = testcert_new_root(
        &(struct testcert_opts){.cn = "Kaspersky Anti-Virus Personal Root Certificate"});
    struct testcert *leaf =
        testcert_new_leaf(&(struct testcert_opts){.cn = "bank.example",
                                                  .sans = (const char *[]){"bank.example", NULL}},
                          root);
    cr_assert_not_null(leaf);
    const struct catalog_product *p = catalog_match_cert(cat, leaf->cert);
    cr_assert_not_null(p);
    cr_assert_str_eq(p->category, "antivirus");
    p = catalog_match_cert(cat, root->cert); /* the root itself, by subject */
    cr_assert_not_null(p);
    cr_assert(strstr(p->product, "Kaspersky") != NULL);
    testcert_free(leaf);
    testcert_free(root);
    catalog_free(cat);
}

Test(catalog, hostile_spki_lookup)
{
    struct catalog *cat = load_default();
    uint8_t spki[32];
    cr_assert_eq(codec_hex_decode(KZ_SPKI, spki, 32, NULL), ERR_OK);
    const struct catalog_hostile *h = catalog_hostile_spki(cat, spki);
    cr_assert_not_null(h);
    cr_assert(strstr(h->name, "Qaznet") != NULL, "%s", h->name);
    cr_assert_str_eq(h->category, "state");

    /* every entry of the file is found again (sorted lookup) */
    json_t *doc = json_load_file(CATALOG_DEFAULT_PATH, 0, NULL);
    cr_assert_not_null(doc);
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(doc, "hostile_spki"), i, item)
    {
        const char *hex = json_string_value(json_object_get(item, "spki_sha256"));
        cr_assert_eq(codec_hex_decode(hex, spki, 32, NULL), ERR_OK);
        h = catalog_hostile_spki(cat, spki);
        cr_assert_not_null(h, "%s not found", hex);
        cr_assert_str_eq(h->name, json_string_value(json_object_get(item, "name")));
    }
    json_decref(doc);

    memset(spki, 0x42, sizeof(spki));
    cr_assert_null(catalog_hostile_spki(cat, spki));
    cr_assert_null(catalog_hostile_spki(NULL, spki));
    catalog_free(cat);
}

Test(catalog, kazakhstan_fixture_is_hostile)
{
    /* the fixture is an `openssl x509 -text` dump followed by the PEM */
    struct cert *c = testcert_load_pem_file(KZ_PEM);
    char hex[PIN_HEX_LEN + 1];
    codec_hex_encode(c->spki_sha256, 32, hex);
    cr_assert_str_eq(hex, KZ_SPKI);

    struct catalog *cat = load_default();
    const struct catalog_hostile *h = catalog_hostile_spki(cat, c->spki_sha256);
    cr_assert_not_null(h);
    cr_assert_str_eq(h->category, "state");
    const struct catalog_product *p = catalog_match_cert(cat, c);
    cr_assert_not_null(p, "the Qaznet root's own name should match too");
    cr_assert_str_eq(p->category, "state");
    catalog_free(cat);
    cert_free(c);
}

static enum err_code load_text(const char *text, struct err *err)
{
    json_t *doc = json_loads(text, 0, NULL);
    cr_assert_not_null(doc, "test JSON: %s", text);
    struct catalog *cat = NULL;
    enum err_code rc = catalog_from_json(doc, &cat, err);
    json_decref(doc);
    if (rc == ERR_OK)
        cr_assert_not_null(cat);
    catalog_free(cat);
    return rc;
}

Test(catalog, invalid_documents)
{
    static const char *const bad[] = {
        "[]",
        "{\"version\": 2, \"products\": []}",
        "{\"version\": 1, \"products\": {}}",
        "{\"version\": 1, \"products\": [{\"product\": \"X\", \"category\": \"antivirus\", "
        "\"issuer_cn\": \"([\", \"source\": \"s\"}]}",
        "{\"version\": 1, \"products\": [{\"product\": \"X\", \"category\": \"spyware\", "
        "\"issuer_cn\": \"X\", \"source\": \"s\"}]}",
        "{\"version\": 1, \"products\": [{\"product\": \"X\", \"category\": \"antivirus\", "
        "\"issuer_cn\": \"X\"}]}",
        "{\"version\": 1, \"products\": [{\"product\": \"X\", \"category\": \"antivirus\", "
        "\"source\": \"s\"}]}",
        "{\"version\": 1, \"hostile_spki\": [{\"spki_sha256\": \"abcd\", \"name\": \"n\", "
        "\"category\": \"state\", \"source\": \"s\"}]}",
        "{\"version\": 1, \"hostile_spki\": [{\"spki_sha256\": "
        "\"b5ba8dd7f89564c2889d3d6453c84998c77824919b64ea0835aa62986591be50\", \"name\": \"n\", "
        "\"category\": \"state\"}]}",
        "{\"version\": 1, \"hostile_spki\": ["
        "{\"spki_sha256\": \"b5ba8dd7f89564c2889d3d6453c84998c77824919b64ea0835aa62986591be50\", "
        "\"name\": \"a\", \"category\": \"state\", \"source\": \"s\"},"
        "{\"spki_sha256\": \"B5BA8DD7F89564C2889D3D6453C84998C77824919B64EA0835AA62986591BE50\", "
        "\"name\": \"b\", \"category\": \"state\", \"source\": \"s\"}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct err err;
        cr_assert_eq(load_text(bad[i], &err), ERR_INVALID, "case %zu accepted", i);
        cr_assert_str_eq(err.key, "invalid_catalog", "case %zu", i);
    }
    cr_assert_eq(load_text("{\"version\": 1}", NULL), ERR_OK);

    struct catalog *cat = NULL;
    struct err err;
    cr_assert_eq(catalog_load("/nonexistent/catalog.json", &cat, &err), ERR_INVALID);
    cr_assert_null(cat);
    cr_assert_str_eq(err.key, "invalid_catalog");
}

Test(catalog, categories)
{
    cr_assert(catalog_category_valid("enterprise_proxy"));
    cr_assert(catalog_category_valid("antivirus"));
    cr_assert(catalog_category_valid("debugging_proxy"));
    cr_assert(catalog_category_valid("malware_adware"));
    cr_assert(catalog_category_valid("state"));
    cr_assert_not(catalog_category_valid("known_hostile"));
    cr_assert_not(catalog_category_valid(NULL));
}
