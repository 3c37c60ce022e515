#include "store/pgcopy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "base/json_text.h"
#include "base/timeparse.h"

void pgcopy_begin(struct pgcopy_row *row, struct buf *out)
{
    row->out = out;
    row->start = out->len;
    row->rc = ERR_OK;
}

enum err_code pgcopy_end(struct pgcopy_row *row)
{
    struct buf *b = row->out;
    if (row->rc == ERR_OK && b->len > row->start) {
        b->data[b->len - 1] = '\n'; /* every field ends with a tab: the last one ends the row */
        return ERR_OK;
    }
    if (row->rc == ERR_OK)
        row->rc = ERR_INVALID; /* a row without fields */
    b->len = row->start;
    if (b->data != NULL)
        b->data[b->len] = '\0';
    return row->rc;
}

static void put(struct pgcopy_row *row, const void *data, size_t len)
{
    if (row->rc == ERR_OK)
        row->rc = buf_append(row->out, data, len);
}

static void field_end(struct pgcopy_row *row)
{
    put(row, "\t", 1);
}

void pgcopy_null(struct pgcopy_row *row)
{
    put(row, "\\N\t", 3);
}

/* COPY text escaping: backslash, newline, carriage return and tab become backslash pairs. */
static void put_escaped(struct pgcopy_row *row, const char *s, size_t len)
{
    size_t run = 0;
    for (size_t i = 0; i < len && row->rc == ERR_OK; i++) {
        char c = s[i], esc;
        switch (c) {
        case '\\':
            esc = '\\';
            break;
        case '\n':
            esc = 'n';
            break;
        case '\r':
            esc = 'r';
            break;
        case '\t':
            esc = 't';
            break;
        default:
            continue;
        }
        put(row, s + run, i - run);
        char pair[2] = {'\\', esc};
        put(row, pair, 2);
        run = i + 1;
    }
    put(row, s + run, len - run);
}

void pgcopy_textn(struct pgcopy_row *row, const char *s, size_t len)
{
    put_escaped(row, s, len);
    field_end(row);
}

void pgcopy_text(struct pgcopy_row *row, const char *s)
{
    if (s == NULL)
        pgcopy_null(row);
    else
        pgcopy_textn(row, s, strlen(s));
}

void pgcopy_int(struct pgcopy_row *row, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRId64 "\t", v);
    put(row, num, (size_t)n);
}

void pgcopy_bool(struct pgcopy_row *row, bool v)
{
    put(row, v ? "t\t" : "f\t", 2);
}

void pgcopy_tristate(struct pgcopy_row *row, int v)
{
    if (v < 0)
        pgcopy_null(row);
    else
        pgcopy_bool(row, v != 0);
}

void pgcopy_time(struct pgcopy_row *row, int64_t usec)
{
    char text[TIMEPARSE_FMT_LEN];
    timeparse_format(usec, text);
    put(row, text, strlen(text));
    field_end(row);
}

/* "\\x" (an escaped backslash) and the hex digits, written in place. */
static void put_hex(struct pgcopy_row *row, const char *prefix, size_t prefix_len,
                    const uint8_t *data, size_t len)
{
    if (row->rc == ERR_OK)
        row->rc = buf_reserve(row->out, prefix_len + 2 * len);
    if (row->rc != ERR_OK)
        return;
    struct buf *b = row->out;
    memcpy(b->data + b->len, prefix, prefix_len);
    codec_hex_encode(data, len, b->data + b->len + prefix_len);
    b->len += prefix_len + 2 * len;
    b->data[b->len] = '\0';
}

void pgcopy_bytea(struct pgcopy_row *row, const uint8_t *data, size_t len)
{
    put_hex(row, "\\\\x", 3, data, len);
    field_end(row);
}

void pgcopy_json(struct pgcopy_row *row, const json_t *v)
{
    if (v == NULL) {
        pgcopy_null(row);
        return;
    }
    char *text = json_text_dump(v);
    if (text == NULL) {
        if (row->rc == ERR_OK)
            row->rc = ERR_NOMEM;
        return;
    }
    pgcopy_text(row, text);
    free(text);
}

void pgcopy_text_array(struct pgcopy_row *row, const char *const *items, size_t n)
{
    /* The array literal first ({"a","b\"c"}), then COPY's escaping of the whole literal. */
    struct buf lit;
    buf_init(&lit, 0);
    enum err_code rc = buf_append(&lit, "{", 1);
    for (size_t i = 0; rc == ERR_OK && i < n; i++) {
        rc = buf_append(&lit, i > 0 ? ",\"" : "\"", i > 0 ? 2 : 1);
        for (const char *p = items[i]; rc == ERR_OK && *p; p++) {
            if (*p == '"' || *p == '\\')
                rc = buf_append(&lit, "\\", 1);
            if (rc == ERR_OK)
                rc = buf_append(&lit, p, 1);
        }
        if (rc == ERR_OK)
            rc = buf_append(&lit, "\"", 1);
    }
    if (rc == ERR_OK)
        rc = buf_append(&lit, "}", 1);
    if (rc != ERR_OK && row->rc == ERR_OK)
        row->rc = rc;
    if (rc == ERR_OK)
        pgcopy_textn(row, lit.data, lit.len);
    buf_cleanup(&lit);
}

void pgcopy_hash_array(struct pgcopy_row *row, size_t n,
                       const uint8_t *(*item)(size_t i, const void *ctx), const void *ctx)
{
    put(row, "{", 1);
    /* Each element quoted in the literal ("\\x.." there), every backslash doubled by COPY. */
    for (size_t i = 0; i < n; i++)
        put_hex(row, i > 0 ? "\",\"\\\\\\\\x" : "\"\\\\\\\\x", i > 0 ? 8 : 6, item(i, ctx), 32);
    if (n > 0)
        put(row, "\"", 1);
    put(row, "}", 1);
    field_end(row);
}

bool pgcopy_leading_hash(const char *line, size_t len, uint8_t out[32])
{
    char hex[65];
    if (len <= 3 + 64 || memcmp(line, "\\\\x", 3) != 0 || line[3 + 64] != '\t')
        return false;
    memcpy(hex, line + 3, 64);
    hex[64] = '\0';
    return codec_hex_decode(hex, out, 32, NULL) == ERR_OK;
}
