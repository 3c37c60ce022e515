/*
 * fuzz_rawbody — rawbody_split then rawbody_join must give back the body byte for byte
 * (SPEC §5: the raw body is kept byte-exact), whatever the body: not JSON, unterminated
 * strings, NUL bytes, escapes; and again once the template is compressed. Also feeds the
 * input to rawbody_join as a stored template ('Z' ones inflate), since a template read back
 * from the database is data too. And the body parsed through its template (body_json, with a
 * literal cache kept across inputs) must be exactly the tree, or the error, of jansson parsing
 * it whole.
 */
#include <openssl/evp.h>
#include <string.h>

#include "base/buf.h"
#include "fuzz_check.h"
#include "report/body_json.h"
#include "report/literal_cache.h"
#include "report/rawbody.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

static const char *rb_lookup(void *ctx, const uint8_t sha256[32], size_t *len)
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

/* Any hash resolves to the same short literal, or (first byte of the hash odd) to nothing. */
static const char *rb_lookup_any(void *ctx, const uint8_t sha256[32], size_t *len)
{
    (void)ctx;
    if (sha256[0] & 1)
        return NULL;
    *len = 4;
    return "\"x\"";
}

/* Same tree or same error as the whole parse. The cache outlives inputs, so later bodies get
 * their literals from it. */
static void rb_parse_same(const char *body, size_t len, const struct rawbody_split *s)
{
    static struct literal_cache *literals;
    if (literals == NULL)
        literals = literal_cache_new(64, 1 << 20);
    json_error_t e_whole, e_tpl;
    json_t *whole = json_loadb(body, len, JSON_DECODE_ANY, &e_whole);
    json_t *tpl = body_json_load(body, len, s, literals, &e_tpl);
    FUZZ_CHECK((whole == NULL) == (tpl == NULL));
    if (whole != NULL)
        FUZZ_CHECK(json_equal(whole, tpl));
    else
        FUZZ_CHECK(strcmp(e_whole.text, e_tpl.text) == 0 && e_whole.position == e_tpl.position);
    json_decref(whole);
    json_decref(tpl);
}

static void rb_roundtrip(const char *body, size_t len)
{
    struct rawbody_split s;
    struct err err;
    memset(&err, 0, sizeof(err));
    FUZZ_CHECK(rawbody_split(body, len, &s, &err) == ERR_OK);
    FUZZ_CHECK(s.tpl != NULL && s.tpl_len >= 1);
    FUZZ_CHECK(s.tpl[0] == 'T' || s.tpl[0] == 'P');
    if (memchr(body, '\0', len) != NULL)
        FUZZ_CHECK(s.tpl[0] == 'P' && s.n_frags == 0);
    size_t frag_bytes = 0;
    for (size_t i = 0; i < s.n_frags; i++) {
        const struct rawbody_fragment *f = &s.frags[i];
        uint8_t sha[32];
        /* Fragments borrow the body, are whole literals and are hashed correctly. */
        FUZZ_CHECK(f->data >= body && f->data + f->len <= body + len);
        FUZZ_CHECK(f->len >= 2 && f->data[0] == '"' && f->data[f->len - 1] == '"');
        FUZZ_CHECK(EVP_Digest(f->data, f->len, sha, NULL, EVP_sha256(), NULL) == 1);
        FUZZ_CHECK(memcmp(sha, f->sha256, 32) == 0);
        if (i > 0)
            FUZZ_CHECK(s.frags[i - 1].data + s.frags[i - 1].len <= f->data);
        frag_bytes += f->len;
    }
    /* Each fragment becomes a 33-byte reference. */
    FUZZ_CHECK(s.tpl_len == 1 + len - frag_bytes + 33 * s.n_frags);
    rb_parse_same(body, len, &s);

    struct buf out;
    buf_init(&out, 0);
    FUZZ_CHECK(rawbody_join(s.tpl, s.tpl_len, rb_lookup, &s, &out, &err) == ERR_OK);
    FUZZ_CHECK(out.len == len);
    FUZZ_CHECK(len == 0 || memcmp(out.data, body, len) == 0);
    buf_cleanup(&out);
    /* Compressed, it joins back to the same bytes and is never larger. */
    size_t t_len = s.tpl_len;
    FUZZ_CHECK(rawbody_compress(&s, &err) == ERR_OK);
    FUZZ_CHECK(s.tpl_len <= t_len && (s.tpl[0] == 'Z' || s.tpl_len == t_len));
    buf_init(&out, 0);
    FUZZ_CHECK(rawbody_join(s.tpl, s.tpl_len, rb_lookup, &s, &out, &err) == ERR_OK);
    FUZZ_CHECK(out.len == len);
    FUZZ_CHECK(len == 0 || memcmp(out.data, body, len) == 0);
    buf_cleanup(&out);
    rawbody_split_cleanup(&s);
    rawbody_split_cleanup(&s); /* idempotent, like every cleanup */
}

static void rb_join_stored(const uint8_t *tpl, size_t len)
{
    struct buf out;
    struct err err;
    memset(&err, 0, sizeof(err));
    buf_init(&out, 0);
    enum err_code rc = rawbody_join(tpl, len, rb_lookup_any, NULL, &out, &err);
    FUZZ_CHECK(rc == ERR_OK || rc == ERR_INVALID || rc == ERR_NOT_FOUND);
    if (rc == ERR_OK && len > 0 && tpl[0] == 'P')
        FUZZ_CHECK(out.len == len - 1 && memcmp(out.data, tpl + 1, len - 1) == 0);
    if (rc == ERR_OK && len > 0 && tpl[0] == 'T')
        FUZZ_CHECK(out.len <= len);
    if (rc != ERR_OK)
        FUZZ_CHECK(err.key[0] != '\0');
    buf_cleanup(&out);
}

int FUZZ_ENTRY(const uint8_t *data, size_t size);
int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    char *body = malloc(size ? size : 1);
    FUZZ_CHECK(body != NULL);
    memcpy(body, data, size);
    rb_roundtrip(body, size);
    free(body);
    rb_join_stored(data, size);
    return 0;
}
