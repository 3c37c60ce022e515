#include "report/rawbody.h"

#include <openssl/sha.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define RAWBODY_MIN_FRAGMENT 128 /* shorter literals are cheaper inline than by reference */

/* Where the literal starting at body[i] (a '"') ends: index of the closing quote, or len. */
static size_t literal_end(const char *body, size_t len, size_t i)
{
    for (size_t j = i + 1; j < len; j++) {
        if (body[j] == '\\')
            j++;
        else if (body[j] == '"')
            return j;
    }
    return len;
}

static bool carries_certificate(const char *lit, size_t len)
{
    static const char needle[] = "-----BEGIN";
    if (len < RAWBODY_MIN_FRAGMENT)
        return false;
    for (size_t i = 0; i + sizeof(needle) - 1 <= len && i < 64; i++) {
        if (memcmp(lit + i, needle, sizeof(needle) - 1) == 0)
            return true;
    }
    return false;
}

enum err_code rawbody_split(const char *body, size_t len, struct rawbody_split *out,
                            struct err *err)
{
    memset(out, 0, sizeof(*out));
    struct buf tpl;
    buf_init(&tpl, 0);
    size_t cap = 0;
    enum err_code rc = ERR_OK;
    if (memchr(body, '\0', len) != NULL) {
        if ((rc = buf_append(&tpl, "P", 1)) != ERR_OK ||
            (rc = buf_append(&tpl, body, len)) != ERR_OK)
            goto fail;
        goto done;
    }
    if ((rc = buf_append(&tpl, "T", 1)) != ERR_OK)
        goto fail;
    size_t copied = 0;
    for (size_t i = 0; i < len; i++) {
        if (body[i] != '"')
            continue;
        size_t end = literal_end(body, len, i);
        if (end >= len)
            break;
        size_t lit_len = end - i + 1;
        if (carries_certificate(body + i, lit_len)) {
            if (out->n_frags == cap) {
                size_t ncap = cap ? 2 * cap : 4;
                struct rawbody_fragment *grown = realloc(out->frags, ncap * sizeof(*grown));
                if (grown == NULL) {
                    rc = ERR_NOMEM;
                    goto fail;
                }
                out->frags = grown;
                cap = ncap;
            }
            struct rawbody_fragment *f = &out->frags[out->n_frags++];
            f->data = body + i;
            f->len = lit_len;
            SHA256((const unsigned char *)f->data, f->len, f->sha256);
            unsigned char marker = 0;
            if ((rc = buf_append(&tpl, body + copied, i - copied)) != ERR_OK ||
                (rc = buf_append(&tpl, &marker, 1)) != ERR_OK ||
                (rc = buf_append(&tpl, f->sha256, 32)) != ERR_OK)
                goto fail;
            copied = end + 1;
        }
        i = end;
    }
    if ((rc = buf_append(&tpl, body + copied, len - copied)) != ERR_OK)
        goto fail;
done:
    out->tpl = (unsigned char *)buf_take(&tpl, &out->tpl_len);
    return ERR_OK;
fail:
    buf_cleanup(&tpl);
    rawbody_split_cleanup(out);
    return err_set(err, rc, NULL, "cannot split the body");
}

void rawbody_split_cleanup(struct rawbody_split *s)
{
    if (s == NULL)
        return;
    free(s->tpl);
    free(s->frags);
    memset(s, 0, sizeof(*s));
}

/* The preset dictionary of the 'Z' format: report field names and layouts of every format,
 * the commonest (TrustKit iOS, compact) last, since deflate codes nearer matches in fewer
 * bits. Stored templates depend on these exact bytes: never edit it; a better dictionary needs
 * a new format letter. */
static const char DICT_Z[] =
    "[{\"age\":0,\"type\":\"network-error\",\"url\":\"https://\",\"user_agent\":\"Mozilla/5.0 ("
    "\"body\":{\"elapsed_time\":,\"method\":\"GET\",\"phase\":\"connection\",\"protocol\":"
    "\"http/1.1\",\"referrer\":\"\",\"sampling_fraction\":1.0,\"server_ip\":\"\",\"status_code\":0,"
    "\"type\":\"tcp.timed_out\"}}]"
    "{\"expect-ct-report\":{\"date-time\":\"\",\"hostname\":\"\",\"port\":443,"
    "\"effective-expiration-date\":\"\",\"scts\":[{\"version\":1,\"status\":\"unknown\","
    "\"source\":\"tls-extension\",\"serialized_sct\":\"\"}],"
    "{\"date-time\":\"\",\"hostname\":\"\",\"port\":443,\"effective-expiration-date\":\"\","
    "\"include-subdomains\":false,\"noted-hostname\":\"\",\"served-certificate-chain\":[],"
    "\"validated-certificate-chain\":[],\"known-pins\":[\"pin-sha256=\\\"\\\"\"]}"
    "{\n  \"app-bundle-id\": \"com.\",\n  \"app-version\": \"\",\n  \"app-vendor-id\": \"\",\n"
    "  \"app-platform\": \"ANDROID\",\n  \"app-platform-version\": \"\",\n"
    "  \"trustkit-version\": \"\",\n  \"hostname\": \"www.\",\n  \"port\": 443,\n"
    "  \"noted-hostname\": \"\",\n  \"include-subdomains\": false,\n"
    "  \"enforce-pinning\": true,\n  \"validated-certificate-chain\": [\n    ,\n    ],\n"
    "  \"date-time\": \"2026-01-01T00:00:00Z\",\n  \"known-pins\": [\n"
    "    \"pin-sha256=\\\"\\\"\",\n  ],\n  \"validation-result\": 1\n}\n"
    "{\"app-bundle-id\":\"com.\",\"app-version\":\"\",\"app-vendor-id\":\"\","
    "\"app-platform\":\"IOS\",\"app-platform-version\":\"\",\"trustkit-version\":\"\","
    "\"hostname\":\"www.\",\"port\":0,\"noted-hostname\":\"\",\"include-subdomains\":false,"
    "\"enforce-pinning\":true,\"validated-certificate-chain\":[,],"
    "\"date-time\":\"2026-01-01T00:00:00Z\",\"known-pins\":[\"pin-sha256=\\\"\\\"\",],"
    "\"validation-result\":1}";

#define Z_MAX_REFS     255
#define Z_MAX_INFLATED (64u << 20) /* above any accepted body: a bigger stream is corrupt */

/* dictionary = DICT_Z + the header's references. */
static bool z_dictionary(struct buf *dict, const unsigned char *refs, size_t refs_len)
{
    return buf_append(dict, DICT_Z, sizeof(DICT_Z) - 1) == ERR_OK &&
           buf_append(dict, refs, refs_len) == ERR_OK;
}

/* Distinct references of a 'T' template, each as 0x00 + hash, appended to hdr. */
static enum err_code z_header(const struct rawbody_split *s, struct buf *hdr, size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < s->n_frags; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = memcmp(s->frags[i].sha256, s->frags[j].sha256, 32) == 0;
        if (seen)
            continue;
        unsigned char marker = 0;
        if (++*n > Z_MAX_REFS)
            return ERR_INVALID;
        if (buf_append(hdr, &marker, 1) != ERR_OK ||
            buf_append(hdr, s->frags[i].sha256, 32) != ERR_OK)
            return ERR_NOMEM;
    }
    return ERR_OK;
}

enum err_code rawbody_compress(struct rawbody_split *s, struct err *err)
{
    if (s->tpl == NULL || s->tpl_len < 2 || s->tpl[0] != 'T')
        return ERR_OK;
    struct buf hdr, dict;
    buf_init(&hdr, 0);
    buf_init(&dict, 0);
    z_stream z;
    memset(&z, 0, sizeof(z));
    bool z_open = false;
    enum err_code rc = ERR_OK;
    size_t n = 0;
    unsigned char count_placeholder = 0;
    if (buf_append(&hdr, "Z", 1) != ERR_OK || buf_append(&hdr, &count_placeholder, 1) != ERR_OK) {
        rc = ERR_NOMEM;
        goto out;
    }
    if ((rc = z_header(s, &hdr, &n)) != ERR_OK) {
        rc = rc == ERR_INVALID ? ERR_OK : rc; /* too many references: keep the 'T' form */
        goto out;
    }
    hdr.data[1] = (char)n;
    /* A 4 KiB window holds the 2 KiB dictionary and a typical template. Measured on the
     * bench bodies: about 27 us a body, mostly the dictionary set-up, whatever the level
     * (1-9) or table size; level 6 is 7 % smaller than level 1. */
    if (!z_dictionary(&dict, (const unsigned char *)hdr.data + 2, hdr.len - 2) ||
        deflateInit2(&z, 6, Z_DEFLATED, -12, 5, Z_DEFAULT_STRATEGY) != Z_OK) {
        rc = ERR_NOMEM;
        goto out;
    }
    z_open = true;
    size_t header_len = hdr.len;
    uLong bound = deflateBound(&z, (uLong)(s->tpl_len - 1));
    if (deflateSetDictionary(&z, (const Bytef *)dict.data, (uInt)dict.len) != Z_OK ||
        buf_reserve(&hdr, bound) != ERR_OK) {
        rc = ERR_NOMEM;
        goto out;
    }
    z.next_in = s->tpl + 1;
    z.avail_in = (uInt)(s->tpl_len - 1);
    z.next_out = (Bytef *)hdr.data + header_len;
    z.avail_out = (uInt)bound;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        rc = ERR_INTERNAL;
        goto out;
    }
    size_t z_len = header_len + z.total_out;
    if (z_len < s->tpl_len) {
        hdr.len = z_len;
        hdr.data[z_len] = '\0';
        free(s->tpl);
        s->tpl = (unsigned char *)buf_take(&hdr, &s->tpl_len);
    }
out:
    if (z_open)
        deflateEnd(&z);
    buf_cleanup(&hdr);
    buf_cleanup(&dict);
    return rc == ERR_OK ? ERR_OK : err_set(err, rc, NULL, "cannot compress a raw body template");
}

/* The 'T' template a 'Z' one was made from, into t. */
static enum err_code z_inflate(const unsigned char *tpl, size_t tpl_len, struct buf *t,
                               struct err *err)
{
    if (tpl_len < 2 || tpl_len < 2 + 33 * (size_t)tpl[1])
        return err_set(err, ERR_INVALID, "raw_corrupt", "truncated compressed template");
    size_t refs_len = 33 * (size_t)tpl[1];
    for (size_t i = 0; i < refs_len; i += 33) {
        if (tpl[2 + i] != 0)
            return err_set(err, ERR_INVALID, "raw_corrupt", "bad compressed template header");
    }
    struct buf dict;
    buf_init(&dict, 0);
    z_stream z;
    memset(&z, 0, sizeof(z));
    enum err_code rc = ERR_OK;
    if (inflateInit2(&z, -15) != Z_OK) {
        buf_cleanup(&dict);
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    }
    if (!z_dictionary(&dict, tpl + 2, refs_len) ||
        inflateSetDictionary(&z, (const Bytef *)dict.data, (uInt)dict.len) != Z_OK ||
        buf_append(t, "T", 1) != ERR_OK) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    z.next_in = (Bytef *)(uintptr_t)(tpl + 2 + refs_len);
    z.avail_in = (uInt)(tpl_len - 2 - refs_len);
    int zrc = Z_OK;
    while (zrc == Z_OK) {
        if (t->len >= Z_MAX_INFLATED || buf_reserve(t, 4096) != ERR_OK) {
            rc = err_set(err, ERR_INVALID, "raw_corrupt", "compressed template too large");
            goto out;
        }
        z.next_out = (Bytef *)t->data + t->len;
        z.avail_out = 4096;
        zrc = inflate(&z, Z_FINISH);
        t->len += 4096 - z.avail_out;
        t->data[t->len] = '\0';
        if (zrc == Z_BUF_ERROR && z.avail_out == 0)
            zrc = Z_OK; /* output full: go round with more room */
    }
    if (zrc != Z_STREAM_END || z.avail_in != 0)
        rc = err_set(err, ERR_INVALID, "raw_corrupt", "bad compressed template");
out:
    inflateEnd(&z);
    buf_cleanup(&dict);
    return rc;
}

enum err_code rawbody_join(const unsigned char *tpl, size_t tpl_len, rawbody_lookup_fn *lookup,
                           void *ctx, struct buf *out, struct err *err)
{
    if (tpl_len > 0 && tpl[0] == 'Z') {
        struct buf t;
        buf_init(&t, 0);
        enum err_code rc = z_inflate(tpl, tpl_len, &t, err);
        if (rc == ERR_OK)
            rc = rawbody_join((const unsigned char *)t.data, t.len, lookup, ctx, out, err);
        buf_cleanup(&t);
        return rc;
    }
    if (tpl_len == 0 || (tpl[0] != 'T' && tpl[0] != 'P'))
        return err_set(err, ERR_INVALID, "raw_corrupt", "unknown raw body template format");
    if (tpl[0] == 'P')
        return buf_append(out, tpl + 1, tpl_len - 1) == ERR_OK
                   ? ERR_OK
                   : err_set(err, ERR_NOMEM, NULL, "out of memory");
    size_t i = 1, start = 1;
    while (i < tpl_len) {
        if (tpl[i] != 0) {
            i++;
            continue;
        }
        if (i + 33 > tpl_len)
            return err_set(err, ERR_INVALID, "raw_corrupt", "truncated fragment reference");
        if (buf_append(out, tpl + start, i - start) != ERR_OK)
            return err_set(err, ERR_NOMEM, NULL, "out of memory");
        size_t flen = 0;
        const char *frag = lookup(ctx, tpl + i + 1, &flen);
        if (frag == NULL)
            return err_set(err, ERR_NOT_FOUND, "raw_fragment_missing", "a fragment is missing");
        if (buf_append(out, frag, flen) != ERR_OK)
            return err_set(err, ERR_NOMEM, NULL, "out of memory");
        i += 33;
        start = i;
    }
    if (buf_append(out, tpl + start, tpl_len - start) != ERR_OK)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    return ERR_OK;
}
