#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void buf_cleanup(struct buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static enum err_code reserve(struct buf *b, size_t extra)
{
    if (b->max != 0 && (extra > b->max || b->len > b->max - extra))
        return ERR_TOO_LARGE;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return ERR_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return ERR_OK;
}

enum err_code buf_reserve(struct buf *b, size_t extra)
{
    return reserve(b, extra);
}

enum err_code buf_append(struct buf *b, const void *data, size_t len)
{
    enum err_code rc = reserve(b, len);
    if (rc != ERR_OK)
        return rc;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return ERR_OK;
}

enum err_code buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

enum err_code buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return ERR_INTERNAL;
    enum err_code rc = reserve(b, (size_t)n);
    if (rc != ERR_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return ERR_OK;
}

char *buf_take(struct buf *b, size_t *len)
{
    if (b->data == NULL && reserve(b, 0) != ERR_OK)
        return NULL;
    char *p = b->data;
    if (len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

enum err_code buf_append_file(struct buf *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return ERR_INVALID;
    char chunk[65536];
    size_t n;
    enum err_code rc = ERR_OK;
    while (rc == ERR_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = buf_append(b, chunk, n);
    if (rc == ERR_OK && ferror(f))
        rc = ERR_INVALID;
    fclose(f);
    return rc;
}

char *buf_read_file(const char *path, size_t max, size_t *len)
{
    struct buf b;
    buf_init(&b, max);
    if (buf_append_file(&b, path) != ERR_OK) {
        buf_cleanup(&b);
        return NULL;
    }
    return buf_take(&b, len);
}
