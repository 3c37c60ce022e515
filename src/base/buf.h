/*
 * buf — a growable byte buffer with a hard cap. Grows on demand (never pre-reserves a
 * declared length, so idle clients cannot pin memory). Always NUL-terminated for convenience.
 */
#ifndef BUF_H
#define BUF_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len; 0 = unlimited */
};

void buf_init(struct buf *b, size_t max);
void buf_cleanup(struct buf *b);
/* Append; ERR_TOO_LARGE when it would pass max (nothing appended), ERR_NOMEM on OOM. */
enum err_code buf_append(struct buf *b, const void *data, size_t len) ERR_MUSTCHECK;
enum err_code buf_append_str(struct buf *b, const char *s) ERR_MUSTCHECK;
enum err_code buf_printf(struct buf *b, const char *fmt, ...) ERR_PRINTF(2, 3) ERR_MUSTCHECK;
/* Append a whole file (reads up to b->max). ERR_INVALID when it cannot be read (errno set),
 * ERR_TOO_LARGE over the cap. */
enum err_code buf_append_file(struct buf *b, const char *path) ERR_MUSTCHECK;
/* A whole file of at most max bytes as a new NUL-terminated string (caller frees), its
 * length in *len; NULL when it cannot be read (errno set) or is larger. */
char *buf_read_file(const char *path, size_t max, size_t *len);
/* Make room for extra more bytes (and the NUL) without changing len: for writers that fill
 * data + len directly (then raise len and write the NUL themselves). */
enum err_code buf_reserve(struct buf *b, size_t extra) ERR_MUSTCHECK;
/* Hand the bytes to the caller (malloc'd, NUL-terminated) and reset the buffer. */
char *buf_take(struct buf *b, size_t *len);

#endif
