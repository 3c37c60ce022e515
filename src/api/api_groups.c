#include "api/api_groups.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_common.h"
#include "base/timeparse.h"
#include "store/query.h"

/* The queries are functions of sql/functions/60_groups.sql (psql and EXPLAIN reach them). */
static const char LIST_SQL[] = "SELECT * FROM pinwatch_groups_json($1::timestamptz, "
                               "$2::timestamptz, $3, $4, $5, $6::int, $7::bigint, $8)";
static const char GROUP_SQL[] = "SELECT * FROM pinwatch_group_json($3, $1::timestamptz, "
                                "$2::timestamptz)";
static const char TRENDS_SQL[] = "SELECT pinwatch_trends($1, $2, $3::timestamptz, "
                                 "$4::timestamptz, $5, $6, $7, $8, $9, $10, $11::cidr, $12::int)";

static void window(const struct query_filters *f, char from[TIMEPARSE_FMT_LEN],
                   char to[TIMEPARSE_FMT_LEN])
{
    timeparse_format(f->from, from);
    timeparse_format(f->to, to);
}

/* A page of the group list: the report filters, the page size and where the page starts. */
struct list_page {
    struct query_filters f;
    char limit[16];
    char after_reports[24], after_id[72]; /* empty: from the start */
};

static enum err_code list(PGconn *conn, const struct api_common_request *r,
                          struct http_reply *reply, struct err *err)
{
    (void)err;
    const struct list_page *p = r->ctx;
    char from[TIMEPARSE_FMT_LEN], to[TIMEPARSE_FMT_LEN];
    window(&p->f, from, to);
    bool after = p->after_reports[0] != '\0';
    const char *params[] = {from,
                            to,
                            p->f.hostname,
                            p->f.app,
                            p->f.verdict,
                            p->limit,
                            after ? p->after_reports : NULL,
                            after ? p->after_id : NULL};
    api_common_reply_sql(conn, reply, LIST_SQL, 8, params, "no groups");
    return ERR_OK;
}

/* The query parameters without "cursor": a group list's cursor is not a report list's. */
static const char *param_but_cursor(void *req, const char *name)
{
    return strcmp(name, "cursor") == 0 ? NULL : api_common_query_param(req, name);
}

/* A group list cursor, "g<reports>.<group id>": the last group of the previous page. */
static bool parse_cursor(const char *v, struct list_page *p)
{
    const char *dot = v[0] == 'g' ? strchr(v, '.') : NULL;
    size_t nlen = dot != NULL ? (size_t)(dot - v - 1) : 0;
    size_t idlen = dot != NULL ? strlen(dot + 1) : 0;
    if (nlen == 0 || nlen >= sizeof(p->after_reports) - 4 || idlen == 0 ||
        idlen >= sizeof(p->after_id) || strspn(v + 1, "0123456789") != nlen ||
        strspn(dot + 1, "0123456789abcdef") != idlen)
        return false;
    memcpy(p->after_reports, v + 1, nlen);
    p->after_reports[nlen] = '\0';
    memcpy(p->after_id, dot + 1, idlen + 1);
    return true;
}

void api_groups_list(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct list_page p;
    memset(&p, 0, sizeof(p));
    struct err e = {0};
    if (query_filters_parse(param_but_cursor, req, req->received_at, &p.f, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        return;
    }
    const char *cursor = http_request_query(req, "cursor");
    if (cursor != NULL && cursor[0] != '\0' && !parse_cursor(cursor, &p)) {
        http_reply_error(reply, 400, "invalid_parameter", "cursor: not a cursor from this API");
    } else {
        snprintf(p.limit, sizeof(p.limit), "%u", p.f.limit);
        api_common_read(ctx, req, reply, API_COMMON_GROUPS_CURRENT, list, &p);
    }
    query_filters_cleanup(&p.f);
}

static enum err_code get(PGconn *conn, const struct api_common_request *r, struct http_reply *reply,
                         struct err *err)
{
    (void)err;
    char from[TIMEPARSE_FMT_LEN], to[TIMEPARSE_FMT_LEN];
    window(r->filters, from, to);
    const char *params[] = {from, to, r->req->params[0]};
    api_common_reply_sql(conn, reply, GROUP_SQL, 3, params, "no group with that id");
    return ERR_OK;
}

void api_groups_get(void *ctx, struct http_request *req, struct http_reply *reply)
{
    api_common_read(ctx, req, reply, API_COMMON_FILTERS | API_COMMON_GROUPS_CURRENT, get, NULL);
}

/* The dimensions of a trend. pinwatch_trends checks its arguments again, for psql. */
static bool trend_dimension(const char *by)
{
    static const char *const dims[] = {"app_version", "network", "hostname", "verdict", "platform"};
    for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++) {
        if (strcmp(by, dims[i]) == 0)
            return true;
    }
    return false;
}

/* A trend request: its bucket and dimension, checked before the filters are read. */
struct trend_request {
    const char *bucket;
    const char *by;
};

static enum err_code trend(PGconn *conn, const struct api_common_request *r,
                           struct http_reply *reply, struct err *err)
{
    (void)err;
    const struct trend_request *t = r->ctx;
    const struct query_filters *f = r->filters;
    if ((strcmp(t->by, "app_version") == 0 || f->app_version != NULL) &&
        (strcmp(t->by, "network") == 0 || f->network != NULL)) {
        http_reply_error(reply, 400, "invalid_parameter",
                         "app_version and network cannot be combined in one trend");
        return ERR_OK;
    }
    char from[TIMEPARSE_FMT_LEN], to[TIMEPARSE_FMT_LEN], limit[16];
    window(f, from, to);
    snprintf(limit, sizeof(limit), "%u", f->limit);
    const char *params[] = {t->bucket,   t->by,          from,       to,
                            f->hostname, f->app,         f->verdict, f->platform,
                            f->group,    f->app_version, f->network, limit};
    api_common_reply_sql(conn, reply, TRENDS_SQL, 12, params, "no data");
    return ERR_OK;
}

void api_groups_trends(void *ctx, struct http_request *req, struct http_reply *reply)
{
    const char *bucket = http_request_query(req, "bucket");
    const char *by = http_request_query(req, "by");
    if (bucket == NULL)
        bucket = "day";
    if (by == NULL)
        by = "verdict";
    if (strcmp(bucket, "hour") != 0 && strcmp(bucket, "day") != 0) {
        http_reply_error(reply, 400, "invalid_parameter", "bucket: must be hour or day");
        return;
    }
    if (!trend_dimension(by)) {
        http_reply_error(reply, 400, "invalid_parameter",
                         "by: must be app_version, network, hostname, verdict or platform");
        return;
    }
    struct trend_request t = {.bucket = bucket, .by = by};
    api_common_read(ctx, req, reply, API_COMMON_FILTERS | API_COMMON_GROUPS_CURRENT, trend, &t);
}
