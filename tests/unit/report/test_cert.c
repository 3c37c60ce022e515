/* cert: PEM decoding in every spelling, decoded fields checked against OpenSSL's CLI. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/codec.h"
#include "report/cert.h"
#include "report/pin.h"
#include "testenv.h"

#define IOS_FINAL                                                                                  \
    FIXTURES_DIR "/trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json"
#define QAZNET                                                                                     \
    FIXTURES_DIR "/chromium-blocklist/"                                                            \
                 "00309c736dd661da6f1eb24173aa849944c168a43a15bffd192eecfdb6f8dbd2.pem"

/* The i-th PEM string of the TrustKit iOS sample's validated chain (iOS CRLF 64-col form). */
static char *ios_pem(size_t i)
{
    json_error_t jerr;
    json_t *root = json_load_file(IOS_FINAL, 0, &jerr);
    cr_assert_not_null(root, "%s", jerr.text);
    json_t *s = json_array_get(json_object_get(root, "validated-certificate-chain"), i);
    cr_assert(json_is_string(s));
    char *pem = strdup(json_string_value(s));
    json_decref(root);
    return pem;
}

static struct cert *decode(const char *pem)
{
    struct cert *c = NULL;
    struct err err = {0};
    cr_assert_eq(cert_from_client_pem(pem, strlen(pem), &c, &err), ERR_OK, "%s: %s", err.key,
                 err.detail);
    return c;
}

static void hex_eq(const uint8_t bytes[32], const char *want)
{
    char hex[PIN_HEX_LEN + 1];
    codec_hex_encode(bytes, 32, hex);
    cr_assert_str_eq(hex, want);
}

static void b64_eq(const uint8_t bytes[32], const char *want)
{
    char b64[PIN_B64_LEN + 1];
    pin_to_base64(bytes, b64);
    cr_assert_str_eq(b64, want);
}

Test(cert, trustkit_leaf_fields)
{
    char *pem = ios_pem(0);
    struct cert *c = decode(pem);
    hex_eq(c->sha256, "d495962735cd1ca16b6e72ec5e18ae5a9d71f4bf1aec83e5a551d56a49893ca0");
    b64_eq(c->spki_sha256, "0SDf3cRToyZJaMsoS17oF72VMavLxj/N7WBNasNuiR8=");
    cr_assert_str_eq(c->subject, "CN=www.datatheorem.com,OU=Scan and Secure Mobile Apps,"
                                 "O=Data Theorem\\, Inc.,L=Palo Alto,ST=California,C=US");
    cr_assert_str_eq(c->issuer, "CN=Thawte SSL CA,O=Thawte\\, Inc.,C=US");
    cr_assert_str_eq(c->subject_cn, "www.datatheorem.com");
    cr_assert_str_eq(c->subject_o, "Data Theorem, Inc.");
    cr_assert_str_eq(c->issuer_cn, "Thawte SSL CA");
    cr_assert_str_eq(c->issuer_o, "Thawte, Inc.");
    cr_assert_str_eq(c->serial, "1550d3b3db475d7de2be1b2d8ff356db");
    cr_assert_eq(c->not_before, 1412208000); /* 2014-10-02T00:00:00Z */
    cr_assert_eq(c->not_after, 1446422399);  /* 2015-11-01T23:59:59Z */
    cr_assert_eq(c->n_sans, 1);
    cr_assert_str_eq(c->sans[0], "www.datatheorem.com");
    cr_assert_str_eq(c->key_type, "rsa");
    cr_assert_eq(c->key_bits, 2048);
    cr_assert_not(c->is_ca);
    cr_assert_not(c->self_issued);
    cr_assert_str_eq(c->sig_alg, "sha1WithRSAEncryption");
    cr_assert_eq(c->refs, 1);
    cert_free(c);
    free(pem);
}

Test(cert, trustkit_intermediate_and_root)
{
    char *pem1 = ios_pem(1), *pem2 = ios_pem(2);
    struct cert *ca = decode(pem1), *root = decode(pem2);
    b64_eq(ca->spki_sha256, "J0HK633IekUIMgCxADcUXWl3I+wr1XIbHkr038xIyRk=");
    b64_eq(root->spki_sha256, "HXXQgxueCIU5TTLHob/bPbwcKOKw6DkfsTWYHbxbqTY=");
    hex_eq(root->sha256, "8d722f81a9c113c0791df136a2966db26c950a971db46b4199f4ea54b78bfb9f");
    cr_assert(ca->is_ca);
    cr_assert_not(ca->self_issued);
    cr_assert_eq(ca->n_sans, 0, "a DirName SAN is neither DNS nor IP");
    cr_assert_str_eq(ca->issuer, root->subject);
    cr_assert(root->is_ca);
    cr_assert(root->self_issued);
    cr_assert_str_eq(root->subject_cn, "thawte Primary Root CA");
    cr_assert_eq(root->not_after, 2099865599); /* 2036-07-16T23:59:59Z */
    cert_free(ca);
    cert_free(root);
    free(pem1);
    free(pem2);
}

/* The blocklist file starts with an `openssl x509 -text` dump before the armor. */
Test(cert, qaznet_blocklist_file)
{
    size_t len;
    char *text = testenv_read_file(QAZNET, &len);
    struct cert *c = NULL;
    cr_assert_eq(cert_from_client_pem(text, len, &c, NULL), ERR_OK);
    hex_eq(c->sha256, "00309c736dd661da6f1eb24173aa849944c168a43a15bffd192eecfdb6f8dbd2");
    hex_eq(c->spki_sha256, "b5ba8dd7f89564c2889d3d6453c84998c77824919b64ea0835aa62986591be50");
    b64_eq(c->spki_sha256, "tbqN1/iVZMKInT1kU8hJmMd4JJGbZOoINapimGWRvlA=");
    cr_assert_str_eq(c->subject, "CN=Qaznet Trust Network,C=KZ");
    cr_assert_str_eq(c->serial, "3d957fca1f8c0fc8692c01994eb55231035b9df1");
    cr_assert_null(c->subject_o);
    cr_assert(c->is_ca);
    cr_assert(c->self_issued);
    cr_assert_str_eq(c->key_type, "rsa");
    cr_assert_eq(c->key_bits, 4096);
    cr_assert_str_eq(c->sig_alg, "sha256WithRSAEncryption");
    cr_assert_eq(c->not_before, 1454391660); /* 2016-02-02T05:41:00Z */
    cert_free(c);
    free(text);
}

static void openssl_pin(const char *pem_path, char out[PIN_B64_LEN + 1])
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "openssl x509 -in '%s' -pubkey -noout | openssl pkey -pubin -outform der | "
             "openssl dgst -sha256 -binary | base64",
             pem_path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_not_null(fgets(out, PIN_B64_LEN + 1, p));
    cr_assert_eq(pclose(p), 0);
}

/* Our SPKI hash is the pin OpenSSL's own tools compute, for every certificate we have. */
Test(cert, spki_matches_openssl_cli)
{
    char want[PIN_B64_LEN + 1], got[PIN_B64_LEN + 1];
    for (size_t i = 0; i < 3; i++) {
        char *pem = ios_pem(i);
        struct cert *c = decode(pem);
        char path[] = "/tmp/pinwatch-test-cert-XXXXXX";
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        char *clean = cert_to_pem(c);
        cr_assert_eq(write(fd, clean, strlen(clean)), (ssize_t)strlen(clean));
        close(fd);
        openssl_pin(path, want);
        unlink(path);
        pin_to_base64(c->spki_sha256, got);
        cr_assert_str_eq(got, want, "certificate %zu", i);
        free(clean);
        cert_free(c);
        free(pem);
    }
    size_t len;
    char *text = testenv_read_file(QAZNET, &len);
    struct cert *c = NULL;
    cr_assert_eq(cert_from_client_pem(text, len, &c, NULL), ERR_OK);
    openssl_pin(QAZNET, want);
    pin_to_base64(c->spki_sha256, got);
    cr_assert_str_eq(got, want);
    cert_free(c);
    free(text);
}

/* Armor around base64 split every `cols` characters with `eol`, each line after `indent`. */
static char *spell_pem(const char *b64, size_t cols, const char *eol, const char *indent,
                       bool trailing_eol)
{
    size_t n = strlen(b64);
    char *out = calloc(1, 128 + n + (n / (cols ? cols : n) + 2) * (strlen(eol) + strlen(indent)));
    strcat(out, "-----BEGIN CERTIFICATE-----");
    strcat(out, eol);
    for (size_t off = 0; off < n; off += cols ? cols : n) {
        strcat(out, indent);
        strncat(out, b64 + off, cols ? cols : n);
        if (cols)
            strcat(out, eol);
    }
    strcat(out, "-----END CERTIFICATE-----");
    if (trailing_eol)
        strcat(out, eol);
    return out;
}

Test(cert, pem_spellings_all_decode_the_same)
{
    char *ios = ios_pem(0);
    struct cert *ref = decode(ios);
    char *b64 = malloc(4 * ref->der_len / 3 + 8);
    EVP_EncodeBlock((unsigned char *)b64, ref->der, (int)ref->der_len);

    char *variants[] = {
        spell_pem(b64, 64, "\r\n", "", false), /* iOS NSData 64-col CRLF, no trailing newline */
        spell_pem(b64, 76, "\n", "", true),    /* Android Base64.DEFAULT */
        spell_pem(b64, 64, "\n", "", true),    /* Chromium */
        spell_pem(b64, 0, "\n", "", false),    /* no line breaks inside */
        spell_pem(b64, 64, "\n", "   ", true), /* leading spaces (Relay sample style) */
        spell_pem(b64, 0, "", "", false),      /* everything on one line, armor included */
        strdup(b64),                           /* bare base64, no armor */
    };
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        struct cert *c = decode(variants[i]);
        cr_assert_eq(memcmp(c->sha256, ref->sha256, 32), 0, "variant %zu", i);
        cr_assert_eq(memcmp(c->spki_sha256, ref->spki_sha256, 32), 0, "variant %zu", i);
        cr_assert_eq(c->der_len, ref->der_len);
        cert_free(c);
        free(variants[i]);
    }
    /* The iOS fixture string itself carries \r\n inside the base64 and no trailing newline. */
    cr_assert_not_null(strstr(ios, "\r\n"));
    cr_assert_neq(ios[strlen(ios) - 1], '\n');
    free(b64);
    cert_free(ref);
    free(ios);
}

Test(cert, to_pem_is_64_columns_and_round_trips)
{
    char *ios = ios_pem(1);
    struct cert *c = decode(ios);
    char *pem = cert_to_pem(c);
    /* Same text as the fixture with CRLF turned into LF plus a trailing newline. */
    char *want = calloc(1, strlen(ios) + 2);
    for (const char *p = ios; *p; p++) {
        if (*p != '\r')
            strncat(want, p, 1);
    }
    strcat(want, "\n");
    cr_assert_str_eq(pem, want);
    struct cert *again = decode(pem);
    cr_assert_eq(memcmp(again->sha256, c->sha256, 32), 0);
    X509 *x = cert_to_x509(c);
    cr_assert_not_null(x);
    cr_assert_eq(X509_NAME_cmp(X509_get_subject_name(x), X509_get_subject_name(x)), 0);
    X509_free(x);
    cert_free(again);
    cert_free(c);
    free(want);
    free(pem);
    free(ios);
}

Test(cert, undecodable_inputs)
{
    char *ios = ios_pem(0);
    char *truncated = strdup(ios);
    strcpy(truncated + strlen(truncated) / 2, "\n-----END CERTIFICATE-----");
    char *no_end = strdup(ios);
    *strstr(no_end, "-----END") = '\0';
    const char *bad[] = {
        "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----", /* Relay unit tests */
        "-----BEGIN CERTIFICATE-----\nABC\n-----END CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----\n MIIEBDCCAuygBQUAMEIxCzAJBgNVBAYTAlVT\n -----END "
        "CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----\n MIIEBDCCAuygAwIBAgIDAjppMA0GCSqGSIb3DQEBBQUAMEIxCzAJBgNVBAYT"
        "AlVT\n... -----END CERTIFICATE-----",
        "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
        "pem1",
        "",
        "hello world",
        truncated,
        no_end,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cert *c = NULL;
        struct err err = {0};
        cr_assert_eq(cert_from_client_pem(bad[i], strlen(bad[i]), &c, &err), ERR_INVALID,
                     "input %zu", i);
        cr_assert_str_eq(err.key, "undecodable_certificate", "input %zu", i);
        cr_assert_null(c);
    }
    free(truncated);
    free(no_end);
    free(ios);
}

Test(cert, der_with_trailing_bytes_is_rejected)
{
    char *ios = ios_pem(0);
    struct cert *c = decode(ios);
    unsigned char *der = malloc(c->der_len + 2);
    memcpy(der, c->der, c->der_len);
    der[c->der_len] = 0;
    der[c->der_len + 1] = 0;
    struct cert *d = NULL;
    struct err err = {0};
    cr_assert_eq(cert_from_der(der, c->der_len + 2, &d, &err), ERR_INVALID);
    cr_assert_str_eq(err.key, "undecodable_certificate");
    cr_assert_eq(cert_from_der(der, c->der_len, &d, NULL), ERR_OK);
    cr_assert_eq(memcmp(d->sha256, c->sha256, 32), 0);
    cert_free(d);
    free(der);
    cert_free(c);
    free(ios);
}

Test(cert, refcount)
{
    char *ios = ios_pem(2);
    struct cert *c = decode(ios);
    cr_assert_eq(cert_ref(c), c);
    cr_assert_eq(c->refs, 2);
    cert_free(c);
    cr_assert_eq(c->refs, 1);
    cr_assert_str_eq(c->subject_cn, "thawte Primary Root CA"); /* still alive */
    cert_free(c);
    cert_free(NULL);
    cr_assert_null(cert_ref(NULL));
    free(ios);
}

/* A fresh certificate with IP and upper-case DNS SANs and an Ed25519 key. */
static struct cert *mint_ed25519(void)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 0x0a);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)"Zürich Proxy", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, key);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(
        NULL, &ctx, NID_subject_alt_name,
        "DNS:WWW.Example.COM, IP:2001:DB8:0:0:0:0:0:42, IP:192.0.2.1, email:a@b.example");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    cr_assert_gt(X509_sign(x, key, NULL), 0);
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    struct cert *c = NULL;
    cr_assert_eq(cert_from_der(der, (size_t)n, &c, NULL), ERR_OK);
    OPENSSL_free(der);
    X509_free(x);
    EVP_PKEY_free(key);
    return c;
}

Test(cert, sans_key_type_and_utf8_names)
{
    struct cert *c = mint_ed25519();
    cr_assert_eq(c->n_sans, 3, "email SANs are not kept");
    cr_assert_str_eq(c->sans[0], "www.example.com");
    cr_assert_str_eq(c->sans[1], "2001:db8::42");
    cr_assert_str_eq(c->sans[2], "192.0.2.1");
    cr_assert_str_eq(c->key_type, "ed25519");
    cr_assert_eq(c->key_bits, 256);
    cr_assert_str_eq(c->sig_alg, "ED25519");
    cr_assert_str_eq(c->subject, "CN=Zürich Proxy");
    cr_assert_str_eq(c->subject_cn, "Zürich Proxy");
    cr_assert_str_eq(c->serial, "0a");
    cr_assert(c->self_issued);
    cr_assert_not(c->is_ca, "no basicConstraints");
    cr_assert_eq(c->not_after - c->not_before, 86400);
    cert_free(c);
}

#include "base/utf8.h"
#include "testcert.h"

/* A certificate whose DNS SAN holds a Latin-1 byte and whose subject O is a UTF8String that is
 * not UTF-8: the text is kept, the stray bytes escaped (\XX), and the certificate says so. */
Test(cert, names_and_sans_that_are_not_utf8_are_escaped)
{
    struct testcert *tc =
        testcert_new_leaf(&(struct testcert_opts){.cn = "caf\xc3\xa9.example.com",
                                                  .sans = (const char *[]){"caf\xe9.example.com",
                                                                           "ok.example.com", NULL}},
                          NULL);
    cr_assert_not_null(tc);
    struct cert *c = testcert_cert(tc);
    cr_assert_eq(c->n_sans, 2);
    cr_assert_str_eq(c->sans[0], "caf\\E9.example.com");
    cr_assert_str_eq(c->sans[1], "ok.example.com");
    cr_assert(c->text_escaped);
    /* valid UTF-8 stays as it is */
    cr_assert_str_eq(c->subject, "CN=caf\xc3\xa9.example.com");

    /* A T61String O with Latin-1 bytes patched in (OpenSSL refuses to decode a UTF8String
     * that is not UTF-8 at all): the subject text is still UTF-8. */
    struct testcert *org =
        testcert_new_leaf(&(struct testcert_opts){.cn = "x", .o = "BadXX Org"}, NULL);
    cr_assert_not_null(org);
    unsigned char *der = malloc(testcert_cert(org)->der_len);
    size_t len = testcert_cert(org)->der_len;
    memcpy(der, testcert_cert(org)->der, len);
    int patched = 0;
    for (size_t i = 2; i + 5 <= len; i++) {
        if (memcmp(der + i, "BadXX", 5) != 0)
            continue;
        cr_assert_eq(der[i - 2], 0x0C, "the O is a UTF8String");
        der[i - 2] = 0x14; /* T61String */
        der[i + 3] = 0xE9;
        der[i + 4] = 0xE9;
        patched++;
    }
    cr_assert_eq(patched, 2, "issuer and subject");
    struct cert *bad = NULL;
    cr_assert_eq(cert_from_der(der, len, &bad, NULL), ERR_OK);
    cr_assert(utf8_valid(bad->subject, strlen(bad->subject)), "%s", bad->subject);
    cr_assert_not_null(strstr(bad->subject, "O=Bad\xc3\xa9\xc3\xa9 Org"), "%s", bad->subject);
    cert_free(bad);
    free(der);
    testcert_free(org);

    struct testcert *clean = testcert_new_leaf(
        &(struct testcert_opts){.cn = "www.example.com",
                                .sans = (const char *[]){"www.example.com", NULL}},
        NULL);
    cr_assert_not(testcert_cert(clean)->text_escaped);
    testcert_free(clean);
    testcert_free(tc);
}
