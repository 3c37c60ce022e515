#include "api/api_spool.h"

#include <stdio.h>
#include <stdlib.h>

#include "api/api_context.h"
#include "store/spool.h"

#define QUARANTINE_PAGE 100
#define QUARANTINE_MAX  1000

/* A positive number of at most max, or 0. */
static size_t parse_count(const char *v, size_t max)
{
    char *end;
    long long n = strtoll(v, &end, 10);
    return v[0] != '\0' && *end == '\0' && n >= 1 && (unsigned long long)n <= max ? (size_t)n : 0;
}

void api_spool_quarantine(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    size_t limit = QUARANTINE_PAGE, from = 0;
    const char *v = http_request_query(req, "limit");
    if (v != NULL && (limit = parse_count(v, QUARANTINE_MAX)) == 0) {
        http_reply_error(reply, 400, "invalid_parameter", "limit: must be 1-1000");
        return;
    }
    /* The cursor is "q" and the index of the next entry; opaque to clients. */
    v = http_request_query(req, "cursor");
    if (v != NULL && v[0] != '\0' &&
        (v[0] != 'q' || (from = parse_count(v + 1, (size_t)1 << 62)) == 0)) {
        http_reply_error(reply, 400, "invalid_parameter", "cursor: not a cursor from this API");
        return;
    }
    if (app->spool == NULL) {
        http_reply_json(reply, 200,
                        json_pack("{s:[], s:n, s:i}", "units", "next_cursor", "total", 0));
        return;
    }
    json_t *units = NULL;
    size_t next = 0;
    struct err e = {0};
    if (spool_quarantine_list(app->spool, from, limit, &units, &next, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        return;
    }
    char cursor[32];
    snprintf(cursor, sizeof(cursor), "q%zu", next);
    json_t *doc = json_pack("{s:o, s:o, s:I}", "units", units, "next_cursor",
                            next > 0 ? json_string(cursor) : json_null(), "total",
                            (json_int_t)spool_quarantined_units(app->spool));
    http_reply_json(reply, 200, doc);
}
