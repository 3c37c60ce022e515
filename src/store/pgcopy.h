/*
 * pgcopy — rows in PostgreSQL's COPY text format (tab-separated, \N for NULL, backslash
 * escapes), the cheapest form PostgreSQL reads rows in: the write path streams them into
 * per-session staging tables instead of building JSON that the server would parse again.
 *
 * A row is written field by field into a buffer; errors are sticky (the first out-of-memory
 * is kept and later calls do nothing), so callers check once, at pgcopy_end.
 */
#ifndef PGCOPY_H
#define PGCOPY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

struct pgcopy_row {
    struct buf *out; /* borrowed: the rows are appended to it */
    size_t start;    /* out->len when the row began, to undo a failed row */
    enum err_code rc;
};

/* Start a row at the end of out (borrowed). */
void pgcopy_begin(struct pgcopy_row *row, struct buf *out);
/* End the row. ERR_OK, or the first error of the row (the row is then removed from out). */
enum err_code pgcopy_end(struct pgcopy_row *row) ERR_MUSTCHECK;

void pgcopy_null(struct pgcopy_row *row);
/* Text; NULL writes NULL. */
void pgcopy_text(struct pgcopy_row *row, const char *s);
void pgcopy_textn(struct pgcopy_row *row, const char *s, size_t len);
void pgcopy_int(struct pgcopy_row *row, int64_t v);
void pgcopy_bool(struct pgcopy_row *row, bool v);
/* -1 writes NULL, 0 false, anything else true. */
void pgcopy_tristate(struct pgcopy_row *row, int v);
/* timestamptz from Unix microseconds (UTC). */
void pgcopy_time(struct pgcopy_row *row, int64_t usec);
void pgcopy_bytea(struct pgcopy_row *row, const uint8_t *data, size_t len);
/* json/jsonb: the value's compact text; NULL writes NULL. */
void pgcopy_json(struct pgcopy_row *row, const json_t *v);
/* text[] from n strings. */
void pgcopy_text_array(struct pgcopy_row *row, const char *const *items, size_t n);
/* bytea[] from n 32-byte values; item(i, ctx) returns the i-th (borrowed). */
void pgcopy_hash_array(struct pgcopy_row *row, size_t n,
                       const uint8_t *(*item)(size_t i, const void *ctx), const void *ctx);

/* The first field of a row written by pgcopy_bytea with 32 bytes, decoded; false when the
 * line does not start with one. line points at the start of a row. */
bool pgcopy_leading_hash(const char *line, size_t len, uint8_t out[32]);

#endif
