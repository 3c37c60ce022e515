#include "api/api_groups.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/groups.h"
#include "api/api_context.h"
#include "api/api_reports.h"
#include "base/timeparse.h"
#include "db/db.h"
#include "store/query.h"

/* The queries are functions of sql/functions/60_groups.sql (psql and EXPLAIN reach them). */
static const char LIST_SQL[] = "SELECT * FROM pinwatch_groups_json($1::timestamptz, "
                               "$2::timestamptz, $3, $4, $5)";
static const char GROUP_SQL[] = "SELECT * FROM pinwatch_group_json($3, $1::timestamptz, "
                                "$2::timestamptz)";
static const char TRENDS_SQL[] = "SELECT pinwatch_trends($1, $2, $3::timestamptz, "
                                 "$4::timestamptz, $5, $6, $7, $8, $9, $10, $11::cidr, $12::int)";

static PGconn *borrow(struct api_context *app, struct http_reply *reply)
{
    struct err e = {0};
    PGconn *conn = api_reports_borrow(app, reply);
    if (conn == NULL)
        return NULL;
    /* Verdicts of groups that changed since their last evaluation are brought up to date. */
    unsigned n;
    if (groups_evaluate(conn, app->expected, false, 10000, &n, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        db_pool_release(app->pool, conn);
        return NULL;
    }
    return conn;
}

/* Run a query returning one JSON text value and send it. */
static void reply_sql(PGconn *conn, struct http_reply *reply, const char *sql, int n,
                      const char *const *params, const char *not_found)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    struct err e = {0};
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        db_result_error(conn, res, "query", &e);
        http_reply_err(reply, &e);
    } else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        http_reply_error(reply, 404, "not_found", "%s", not_found);
    } else {
        size_t len = (size_t)PQgetlength(res, 0, 0);
        http_reply_json_text(reply, 200, strndup(PQgetvalue(res, 0, 0), len), len);
    }
    PQclear(res);
}

static void window(const struct query_filters *f, char from[TIMEPARSE_FMT_LEN],
                   char to[TIMEPARSE_FMT_LEN])
{
    timeparse_format(f->from, from);
    timeparse_format(f->to, to);
}

void api_groups_list(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    struct query_filters f;
    struct err e = {0};
    if (query_filters_parse(api_query_param, req, req->received_at, &f, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        return;
    }
    PGconn *conn = borrow(app, reply);
    if (conn != NULL) {
        char from[TIMEPARSE_FMT_LEN], to[TIMEPARSE_FMT_LEN];
        window(&f, from, to);
        const char *params[] = {from, to, f.hostname, f.app, f.verdict};
        reply_sql(conn, reply, LIST_SQL, 5, params, "no groups");
        db_pool_release(app->pool, conn);
    }
    query_filters_cleanup(&f);
}

void api_groups_get(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    struct query_filters f;
    struct err e = {0};
    if (query_filters_parse(api_query_param, req, req->received_at, &f, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        return;
    }
    PGconn *conn = borrow(app, reply);
    if (conn != NULL) {
        char from[TIMEPARSE_FMT_LEN], to[TIMEPARSE_FMT_LEN];
        window(&f, from, to);
        const char *params[] = {from, to, req->params[0]};
        reply_sql(conn, reply, GROUP_SQL, 3, params, "no group with that id");
        db_pool_release(app->pool, conn);
    }
    query_filters_cleanup(&f);
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

void api_groups_trends(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
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
    struct query_filters f;
    struct err e = {0};
    if (query_filters_parse(api_query_param, req, req->received_at, &f, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        return;
    }
    if ((strcmp(by, "app_version") == 0 || f.app_version != NULL) &&
        (strcmp(by, "network") == 0 || f.network != NULL)) {
        http_reply_error(reply, 400, "invalid_parameter",
                         "app_version and network cannot be combined in one trend");
        query_filters_cleanup(&f);
        return;
    }
    PGconn *conn = borrow(app, reply);
    if (conn != NULL) {
        char from[TIMEPARSE_FMT_LEN], to[TIMEPARSE_FMT_LEN], limit[16];
        window(&f, from, to);
        snprintf(limit, sizeof(limit), "%u", f.limit);
        const char *params[] = {bucket,    by,        from,       to,      f.hostname,
                                f.app,     f.verdict, f.platform, f.group, f.app_version,
                                f.network, limit};
        reply_sql(conn, reply, TRENDS_SQL, 12, params, "no data");
        db_pool_release(app->pool, conn);
    }
    query_filters_cleanup(&f);
}
