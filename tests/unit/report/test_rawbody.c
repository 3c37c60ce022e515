/* rawbody: bodies split into a template plus certificate fragments and joined back byte for
 * byte, on every fixture and on the awkward cases (NUL bytes, escaped quotes, "\/" escapes,
 * unterminated strings); a missing fragment or a malformed template is an error, not a guess. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report/rawbody.h"
#include "testenv.h"

static const char *lookup(void *ctx, const uint8_t sha256[32], size_t *len)
{
    const struct rawbody_split *s = ctx;
    for (size_t i = 0; i < s->n_frags; i++) {
        if (memcmp(s->frags[i].sha256, sha256, 32) == 0) {
            *len = s->frags[i].len;
            return s->frags[i].data;
        }
    }
    return NULL;
}

static const char *lookup_none(void *ctx, const uint8_t sha256[32], size_t *len)
{
    (void)ctx;
    (void)sha256;
    (void)len;
    return NULL;
}

/* Split body, check every fragment, join, compare; returns the split for more checks. */
static struct rawbody_split roundtrip(const char *body, size_t len, const char *what)
{
    struct rawbody_split s;
    struct err err = {0};
    cr_assert_eq(rawbody_split(body, len, &s, &err), ERR_OK, "%s: %s", what, err.detail);
    for (size_t i = 0; i < s.n_frags; i++) {
        const struct rawbody_fragment *f = &s.frags[i];
        uint8_t sha[32];
        SHA256((const unsigned char *)f->data, f->len, sha);
        cr_assert_eq(memcmp(sha, f->sha256, 32), 0, "%s: fragment %zu hash", what, i);
        cr_assert(f->data >= body && f->data + f->len <= body + len);
        cr_assert_eq(f->data[0], '"', "%s: fragment %zu is a whole literal", what, i);
        cr_assert_eq(f->data[f->len - 1], '"', "%s: fragment %zu is a whole literal", what, i);
    }
    struct buf out;
    buf_init(&out, 0);
    cr_assert_eq(rawbody_join(s.tpl, s.tpl_len, lookup, &s, &out, &err), ERR_OK, "%s: %s", what,
                 err.detail);
    cr_assert_eq(out.len, len, "%s: joined %zu bytes, body has %zu", what, out.len, len);
    cr_assert(len == 0 || memcmp(out.data, body, len) == 0, "%s: joined bytes differ", what);
    buf_cleanup(&out);
    return s;
}

/* A PEM certificate as a JSON string literal body (without quotes), "/" escaped as "\/" the
 * way NSJSONSerialization (TrustKit iOS) writes it. */
static const char CERT_LITERAL[] =
    "-----BEGIN "
    "CERTIFICATE-----\\nMIIBszCCAVmgAwIBAgIUSxk0D6ZyzvhoGx\\/k3kJ0s+Qj4bQwCgYIKoZIzj0EAwIw"
    "\\nLzEtMCsGA1UEAwwkcGlud2F0Y2ggdGVzdCBjZXJ0aWZpY2F0ZSAoZXNjYXBlcykw\\nHhcNMjQwMTAxMDAwMDAwWhc"
    "NMzQwMTAxMDAwMDAwWjAvMS0wKwYDVQQDDCRwaW53\\nYXRjaCB0ZXN0IGNlcnRpZmljYXRlIChlc2NhcGVzKTBZMBMGBy"
    "qGSM49AgEGCCqG\\/SM49AwEHA0IABA==\\n-----END CERTIFICATE-----\\n";

static size_t compressed_roundtrip(const char *body, size_t len, const char *what);

static void fixture_round_trips(const char *path, const char *body, size_t len, void *ctx)
{
    (void)ctx;
    struct rawbody_split s = roundtrip(body, len, path);
    rawbody_split_cleanup(&s);
    compressed_roundtrip(body, len, path);
}

Test(rawbody, every_fixture_round_trips)
{
    size_t files = testenv_each_fixture(fixture_round_trips, NULL);
    cr_assert_geq(files, 40, "only %zu fixtures found under %s", files, FIXTURES_DIR);
}

Test(rawbody, certificates_become_references)
{
    size_t len;
    char path[512];
    snprintf(path, sizeof(path), "%s/trustkit-android/docs_sample_report_2016-11-25_updated.json",
             FIXTURES_DIR);
    char *body = testenv_read_file(path, &len);
    struct rawbody_split s = roundtrip(body, len, path);
    /* 2 served + 3 validated certificates, each a 33-byte reference in a smaller template. */
    cr_assert_eq(s.n_frags, 5);
    cr_assert_eq(s.tpl[0], 'T');
    cr_assert_lt(s.tpl_len, len / 4, "template %zu bytes for a %zu-byte body", s.tpl_len, len);
    size_t frag_bytes = 0;
    for (size_t i = 0; i < s.n_frags; i++)
        frag_bytes += s.frags[i].len;
    cr_assert_eq(s.tpl_len, 1 + len - frag_bytes + 33 * s.n_frags);
    /* The same certificate served and validated is the same fragment (stored once). */
    size_t same = 0;
    for (size_t i = 0; i < s.n_frags; i++)
        for (size_t j = i + 1; j < s.n_frags; j++)
            same += memcmp(s.frags[i].sha256, s.frags[j].sha256, 32) == 0;
    cr_assert_geq(same, 1);
    rawbody_split_cleanup(&s);
    free(body);
}

Test(rawbody, slash_escapes_are_kept_exactly)
{
    char body[2048];
    int n = snprintf(body, sizeof(body),
                     "{\"hostname\":\"a.example\",\"validated-certificate-chain\":[\"%s\"]}",
                     CERT_LITERAL);
    struct rawbody_split s = roundtrip(body, (size_t)n, "slash escapes");
    cr_assert_eq(s.n_frags, 1);
    /* The fragment is the literal as sent, "\/" and all, not its decoded value. */
    cr_assert_eq(s.frags[0].len, strlen(CERT_LITERAL) + 2);
    cr_assert_eq(memcmp(s.frags[0].data + 1, CERT_LITERAL, strlen(CERT_LITERAL)), 0);
    cr_assert_not_null(strstr(s.frags[0].data, "\\/k3kJ0s"));
    rawbody_split_cleanup(&s);
}

Test(rawbody, escaped_quotes_do_not_end_a_fragment)
{
    char body[2048];
    int n = snprintf(body, sizeof(body), "[\"%s \\\"quoted\\\" \\\\\",\"after\",\"\\\\\",\"%s\"]",
                     CERT_LITERAL, CERT_LITERAL);
    struct rawbody_split s = roundtrip(body, (size_t)n, "escaped quotes");
    cr_assert_eq(s.n_frags, 2);
    /* First literal ends after the escaped backslash, not at an escaped quote. */
    cr_assert_eq(s.frags[0].len, strlen(CERT_LITERAL) + strlen(" \\\"quoted\\\" \\\\") + 2);
    /* "\\" then a real closing quote: the next literal ("after") is not swallowed. */
    cr_assert_eq(s.frags[1].len, strlen(CERT_LITERAL) + 2);
    cr_assert_neq(memcmp(s.frags[0].sha256, s.frags[1].sha256, 32), 0);
    rawbody_split_cleanup(&s);
}

Test(rawbody, nul_bytes_are_copied_plain)
{
    char body[1024];
    int n = snprintf(body, sizeof(body), "{\"a\":\"%s\"}", CERT_LITERAL);
    body[3] = '\0'; /* a raw NUL inside the key */
    struct rawbody_split s = roundtrip(body, (size_t)n, "raw NUL");
    cr_assert_eq(s.tpl[0], 'P');
    cr_assert_eq(s.n_frags, 0);
    cr_assert_eq(s.tpl_len, (size_t)n + 1);
    rawbody_split_cleanup(&s);
    /* Only NULs. */
    char zeros[64] = {0};
    s = roundtrip(zeros, sizeof(zeros), "zeros");
    cr_assert_eq(s.tpl[0], 'P');
    rawbody_split_cleanup(&s);
    /* "\u0000" is six ASCII bytes, not a NUL: templated as usual. */
    const char *esc = "{\"hostname\":\"a\\u0000b\"}";
    s = roundtrip(esc, strlen(esc), "escaped NUL");
    cr_assert_eq(s.tpl[0], 'T');
    rawbody_split_cleanup(&s);
}

Test(rawbody, odd_bodies_round_trip)
{
    char cert_unterminated[1024];
    snprintf(cert_unterminated, sizeof(cert_unterminated), "[\"%s", CERT_LITERAL);
    char cert_trailing_backslash[1024];
    snprintf(cert_trailing_backslash, sizeof(cert_trailing_backslash), "[\"%s\\", CERT_LITERAL);
    const char *bodies[] = {"",
                            "\"",
                            "\"\"",
                            "\\",
                            "\"\\",
                            "not json at all",
                            "{\"short\":\"-----BEGIN CERTIFICATE-----\"}", /* under 128 bytes */
                            cert_unterminated,
                            cert_trailing_backslash,
                            "\xff\xfe\x80 invalid UTF-8 \"\xc3\x28\""};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct rawbody_split s = roundtrip(bodies[i], strlen(bodies[i]), bodies[i]);
        cr_assert_eq(s.n_frags, 0, "body %zu has no complete certificate literal", i);
        rawbody_split_cleanup(&s);
    }
}

Test(rawbody, begin_far_into_a_literal_is_not_a_fragment)
{
    /* Only literals that start like a PEM (BEGIN within the first 64 bytes) are fragments. */
    char body[2048];
    char pad[101];
    memset(pad, 'x', 100);
    pad[100] = '\0';
    int n = snprintf(body, sizeof(body), "[\"%s%s\"]", pad, CERT_LITERAL);
    struct rawbody_split s = roundtrip(body, (size_t)n, "late BEGIN");
    cr_assert_eq(s.n_frags, 0);
    rawbody_split_cleanup(&s);
}

Test(rawbody, missing_fragment_is_not_found)
{
    char body[2048];
    int n = snprintf(body, sizeof(body), "[\"%s\"]", CERT_LITERAL);
    struct rawbody_split s = roundtrip(body, (size_t)n, "one cert");
    cr_assert_eq(s.n_frags, 1);
    struct buf out;
    buf_init(&out, 0);
    struct err err = {0};
    cr_assert_eq(rawbody_join(s.tpl, s.tpl_len, lookup_none, NULL, &out, &err), ERR_NOT_FOUND);
    cr_assert_str_eq(err.key, "raw_fragment_missing");
    buf_cleanup(&out);
    rawbody_split_cleanup(&s);
}

Test(rawbody, malformed_templates_are_invalid)
{
    static const struct {
        const char *tpl;
        size_t len;
    } bad[] = {
        {"", 0},        /* empty */
        {"X{}", 3},     /* unknown format byte */
        {"T{\0abc", 6}, /* reference cut short */
        {"T\0", 2},     /* marker without a hash */
        {"t{}", 3},     /* case matters */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf out;
        buf_init(&out, 0);
        struct err err = {0};
        cr_assert_eq(rawbody_join((const unsigned char *)bad[i].tpl, bad[i].len, lookup_none, NULL,
                                  &out, &err),
                     ERR_INVALID, "template %zu", i);
        cr_assert_str_eq(err.key, "raw_corrupt", "template %zu", i);
        buf_cleanup(&out);
    }
    /* A plain template is its bytes. */
    struct buf out;
    buf_init(&out, 0);
    cr_assert_eq(rawbody_join((const unsigned char *)"P{\0}", 4, lookup_none, NULL, &out, NULL),
                 ERR_OK);
    cr_assert_eq(out.len, 3);
    cr_assert_eq(memcmp(out.data, "{\0}", 3), 0);
    buf_cleanup(&out);
}

Test(rawbody, cleanup_is_idempotent)
{
    struct rawbody_split s;
    cr_assert_eq(rawbody_split("{}", 2, &s, NULL), ERR_OK);
    rawbody_split_cleanup(&s);
    cr_assert_null(s.tpl);
    cr_assert_eq(s.n_frags, 0);
    rawbody_split_cleanup(&s);
    rawbody_split_cleanup(NULL);
}

/* split + compress + join for a body; returns the compressed template length. */
static size_t compressed_roundtrip(const char *body, size_t len, const char *what)
{
    struct rawbody_split s = roundtrip(body, len, what);
    size_t t_len = s.tpl_len;
    struct err err = {0};
    cr_assert_eq(rawbody_compress(&s, &err), ERR_OK, "%s: %s", what, err.detail);
    cr_assert_leq(s.tpl_len, t_len, "%s: compression never grows a template", what);
    cr_assert(s.tpl[0] == 'Z' || s.tpl_len == t_len, "%s", what);
    struct buf out;
    buf_init(&out, 0);
    cr_assert_eq(rawbody_join(s.tpl, s.tpl_len, lookup, &s, &out, &err), ERR_OK, "%s: %s", what,
                 err.detail);
    cr_assert_eq(out.len, len, "%s", what);
    cr_assert(len == 0 || memcmp(out.data, body, len) == 0, "%s: joined bytes differ", what);
    buf_cleanup(&out);
    size_t z_len = s.tpl_len;
    rawbody_split_cleanup(&s);
    return z_len;
}

Test(rawbody, compressed_templates_round_trip_and_shrink)
{
    static const char *const files[] = {
        "trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json",
        "trustkit-android/docs_sample_report_2016-11-25_updated.json",
        "reportd/expect_ct_chrome_test_report_2019-10-04.json",
        "reportd/nel_chrome77_android_batch.json", "w3c-nel/nel_spec_dns-failure.json"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, files[i]);
        size_t len;
        char *body = testenv_read_file(path, &len);
        struct rawbody_split s = roundtrip(body, len, path);
        size_t t_len = s.tpl_len;
        rawbody_split_cleanup(&s);
        size_t z_len = compressed_roundtrip(body, len, path);
        /* Field names come from the dictionary: at least a third smaller. */
        cr_assert_lt(z_len * 3, t_len * 2, "%s: %zu -> %zu bytes", path, t_len, z_len);
        free(body);
    }
}

Test(rawbody, compressed_template_lists_its_references_in_the_clear)
{
    char body[4096];
    int n = snprintf(body, sizeof(body),
                     "{\"app-bundle-id\":\"com.example\",\"hostname\":\"www.example.com\","
                     "\"validated-certificate-chain\":[\"%s\",\"%s\"],\"known-pins\":[]}",
                     CERT_LITERAL, CERT_LITERAL);
    struct rawbody_split s = roundtrip(body, (size_t)n, "twice the same certificate");
    cr_assert_eq(rawbody_compress(&s, NULL), ERR_OK);
    cr_assert_eq(s.tpl[0], 'Z');
    cr_assert_eq(s.tpl[1], 1, "one distinct reference");
    cr_assert_eq(s.tpl[2], 0);
    cr_assert_eq(memcmp(s.tpl + 3, s.frags[0].sha256, 32), 0);
    rawbody_split_cleanup(&s);
}

Test(rawbody, odd_bodies_round_trip_compressed)
{
    const char *bodies[] = {"", "{}", "\"", "not json at all", "{\"a\":\"\\u0000\"}"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        compressed_roundtrip(bodies[i], strlen(bodies[i]), bodies[i]);
    char nul[8] = "{\"a\":1}";
    nul[3] = '\0';
    struct rawbody_split s = roundtrip(nul, sizeof(nul) - 1, "raw NUL");
    cr_assert_eq(rawbody_compress(&s, NULL), ERR_OK);
    cr_assert_eq(s.tpl[0], 'P', "plain bodies stay plain");
    rawbody_split_cleanup(&s);
}

Test(rawbody, corrupt_compressed_templates_are_invalid)
{
    char body[2048];
    int n =
        snprintf(body, sizeof(body), "{\"validated-certificate-chain\":[\"%s\"]}", CERT_LITERAL);
    struct rawbody_split s = roundtrip(body, (size_t)n, "one cert");
    cr_assert_eq(rawbody_compress(&s, NULL), ERR_OK);
    cr_assert_eq(s.tpl[0], 'Z');
    struct {
        size_t len;
        size_t flip; /* byte to change, or SIZE_MAX */
    } cases[] = {
        {1, SIZE_MAX},             /* no count */
        {20, SIZE_MAX},            /* header cut short */
        {s.tpl_len - 3, SIZE_MAX}, /* stream cut short */
        {s.tpl_len, 2},            /* reference marker not NUL */
        {s.tpl_len, 40},           /* stream bytes changed */
        {s.tpl_len, 1},            /* count says more references than there are */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char *t = malloc(s.tpl_len);
        memcpy(t, s.tpl, s.tpl_len);
        if (cases[i].flip != SIZE_MAX)
            t[cases[i].flip] ^= 0x5a;
        struct buf out;
        buf_init(&out, 0);
        struct err err = {0};
        enum err_code rc = rawbody_join(t, cases[i].len, lookup, &s, &out, &err);
        /* A changed stream byte may still inflate; then the bytes must differ from the body. */
        if (rc == ERR_OK)
            cr_assert(out.len != (size_t)n || memcmp(out.data, body, out.len) != 0, "case %zu", i);
        else
            cr_assert(strcmp(err.key, "raw_corrupt") == 0 ||
                          strcmp(err.key, "raw_fragment_missing") == 0,
                      "case %zu: %s", i, err.key);
        buf_cleanup(&out);
        free(t);
    }
    rawbody_split_cleanup(&s);
}
