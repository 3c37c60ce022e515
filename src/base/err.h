/*
 * err — the project-wide error idiom.
 *
 * A fallible function returns enum err_code (ERR_OK == 0) and, when the caller may want
 * detail, fills an optional struct err (NULL allowed) with the code, a short snake_case
 * key that the HTTP API shows as "error", and a human detail.
 */
#ifndef ERR_H
#define ERR_H

#include <stddef.h>

enum err_code {
    ERR_OK = 0,
    ERR_INVALID,      /* bad input: 400 */
    ERR_UNSUPPORTED,  /* unsupported media type / format: 415 */
    ERR_TOO_LARGE,    /* over a configured limit: 413 */
    ERR_NOT_FOUND,    /* 404 */
    ERR_CONFLICT,     /* 409 */
    ERR_FORBIDDEN,    /* allow-list: 403 */
    ERR_UNAUTHORIZED, /* 401 */
    ERR_RATE_LIMITED, /* 429 */
    ERR_UNAVAILABLE,  /* database and spool cannot take it: 503 */
    ERR_NOMEM,
    ERR_INTERNAL,
};

struct err {
    enum err_code code;
    char key[40];     /* snake_case code for API answers, e.g. "invalid_json" */
    char detail[256]; /* one human sentence, never report contents beyond short values */
};

#if defined(__GNUC__)
#define ERR_MUSTCHECK    __attribute__((warn_unused_result))
#define ERR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ERR_MUSTCHECK
#define ERR_PRINTF(a, b)
#endif

/* Fill err (if not NULL) and return code, so callers can write `return err_set(...)`. */
enum err_code err_set(struct err *err, enum err_code code, const char *key, const char *fmt, ...)
    ERR_PRINTF(4, 5);

/* Reset to ERR_OK with empty strings. */
void err_clear(struct err *err);

/* HTTP status for an error code (ERR_OK -> 200). */
int err_http_status(enum err_code code);

/* A default snake_case key for a code, used when none was given. */
const char *err_default_key(enum err_code code);

#endif
