#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum err_code err_set(struct err *err, enum err_code code, const char *key, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    snprintf(err->key, sizeof(err->key), "%s", key != NULL ? key : err_default_key(code));
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
        va_end(ap);
    } else {
        err->detail[0] = '\0';
    }
    return code;
}

void err_clear(struct err *err)
{
    if (err == NULL)
        return;
    memset(err, 0, sizeof(*err));
}

int err_http_status(enum err_code code)
{
    switch (code) {
    case ERR_OK:
        return 200;
    case ERR_INVALID:
        return 400;
    case ERR_UNAUTHORIZED:
        return 401;
    case ERR_FORBIDDEN:
        return 403;
    case ERR_NOT_FOUND:
        return 404;
    case ERR_CONFLICT:
        return 409;
    case ERR_TOO_LARGE:
        return 413;
    case ERR_UNSUPPORTED:
        return 415;
    case ERR_RATE_LIMITED:
        return 429;
    case ERR_UNAVAILABLE:
        return 503;
    case ERR_NOMEM:
    case ERR_INTERNAL:
        break;
    }
    return 500;
}

const char *err_default_key(enum err_code code)
{
    switch (code) {
    case ERR_OK:
        return "ok";
    case ERR_INVALID:
        return "invalid_request";
    case ERR_UNSUPPORTED:
        return "unsupported_media_type";
    case ERR_TOO_LARGE:
        return "body_too_large";
    case ERR_NOT_FOUND:
        return "not_found";
    case ERR_CONFLICT:
        return "conflict";
    case ERR_FORBIDDEN:
        return "forbidden";
    case ERR_UNAUTHORIZED:
        return "unauthorized";
    case ERR_RATE_LIMITED:
        return "rate_limited";
    case ERR_UNAVAILABLE:
        return "unavailable";
    case ERR_NOMEM:
        return "out_of_memory";
    case ERR_INTERNAL:
        break;
    }
    return "internal_error";
}
