#include "api/api_common.h"

#include <string.h>

#include "analysis/groups.h"
#include "api/api_context.h"
#include "db/db.h"

/* How long a request waits for a pooled connection before it answers 503. */
#define BORROW_WAIT_MS 5000
/* Verdicts brought up to date per read, at most: the evaluator thread does the rest. */
#define EVALUATE_MAX 10000

PGconn *api_common_borrow(struct api_context *app, struct http_reply *reply)
{
    PGconn *conn;
    struct err e = {0};
    if (db_pool_acquire(app->pool, BORROW_WAIT_MS, &conn, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        http_reply_header(reply, "Retry-After", "5");
        return NULL;
    }
    return conn;
}

void api_common_release(struct api_context *app, PGconn *conn)
{
    if (conn != NULL)
        db_pool_release(app->pool, conn);
}

const char *api_common_query_param(void *req, const char *name)
{
    return http_request_query(req, name);
}

void api_common_read(struct api_context *app, struct http_request *req, struct http_reply *reply,
                     unsigned flags, api_common_fn run, void *ctx)
{
    struct query_filters f;
    struct api_common_request r = {.app = app, .req = req, .ctx = ctx};
    struct err e = {0};
    if (flags & API_COMMON_FILTERS) {
        if (query_filters_parse(api_common_query_param, req, req->received_at, &f, &e) != ERR_OK) {
            http_reply_err(reply, &e);
            return;
        }
        r.filters = &f;
    }
    PGconn *conn = api_common_borrow(app, reply);
    enum err_code rc = conn != NULL ? ERR_OK : ERR_UNAVAILABLE; /* reply already set */
    unsigned n;
    if (rc == ERR_OK && (flags & API_COMMON_GROUPS_CURRENT))
        rc = groups_evaluate(conn, app->expected, false, EVALUATE_MAX, &n, &e);
    if (rc == ERR_OK)
        rc = run(conn, &r, reply, &e);
    if (rc != ERR_OK && conn != NULL)
        http_reply_err(reply, &e);
    api_common_release(app, conn);
    if (r.filters != NULL)
        query_filters_cleanup(&f);
}

void api_common_reply_buf(struct http_reply *reply, struct buf *b, const char *content_type)
{
    if (strcmp(content_type, "application/json") == 0) {
        /* One formatting for every JSON answer (base/json_text.h). */
        size_t len = 0;
        char *text = buf_take(b, &len);
        http_reply_json_text(reply, 200, text, len);
        return;
    }
    reply->status = 200;
    reply->content_type = content_type;
    reply->body = buf_take(b, &reply->len);
    if (reply->body == NULL)
        http_reply_error(reply, 500, "internal_error", "out of memory");
}

void api_common_reply_sql(PGconn *conn, struct http_reply *reply, const char *sql, int n_params,
                          const char *const *params, const char *not_found)
{
    PGresult *res = PQexecParams(conn, sql, n_params, NULL, params, NULL, NULL, 0);
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
