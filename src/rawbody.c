#include "rawbody.h"

#include <openssl/sha.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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

enum err_code rawbody_join(const unsigned char *tpl, size_t tpl_len, rawbody_lookup_fn *lookup,
                           void *ctx, struct buf *out, struct err *err)
{
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
