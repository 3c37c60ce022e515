#include "api/api_reports.h"

#include <stdlib.h>

#include "api/api_context.h"
#include "api/api_ingest.h"
#include "base/log.h"
#include "db/db.h"
#include "store/query.h"

const char *api_query_param(void *req, const char *name)
{
    return http_request_query(req, name);
}

PGconn *api_reports_borrow(struct api_context *app, struct http_reply *reply)
{
    PGconn *conn;
    struct err e = {0};
    if (db_pool_acquire(app->pool, 5000, &conn, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        http_reply_header(reply, "Retry-After", "5");
        return NULL;
    }
    return conn;
}

/* Answer the JSON text in b (taken). */
static void reply_json_buf(struct http_reply *reply, struct buf *b)
{
    size_t len = 0;
    char *text = buf_take(b, &len);
    http_reply_json_text(reply, 200, text, len);
}

void api_reports_list(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    struct query_filters f;
    struct err e = {0};
    if (query_filters_parse(api_query_param, req, req->received_at, &f, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        return;
    }
    PGconn *conn = api_reports_borrow(app, reply);
    if (conn != NULL) {
        struct buf b;
        buf_init(&b, 0);
        if (query_reports_page(conn, &f, &b, &e) == ERR_OK)
            reply_json_buf(reply, &b);
        else
            http_reply_err(reply, &e);
        buf_cleanup(&b);
        db_pool_release(app->pool, conn);
    }
    query_filters_cleanup(&f);
}

void api_reports_get(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    PGconn *conn = api_reports_borrow(app, reply);
    if (conn == NULL)
        return;
    struct buf b;
    buf_init(&b, 0);
    struct err e = {0};
    if (query_report_get(conn, req->params[0], &b, &e) == ERR_OK)
        reply_json_buf(reply, &b);
    else
        http_reply_err(reply, &e);
    buf_cleanup(&b);
    db_pool_release(app->pool, conn);
}

void api_reports_raw(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    PGconn *conn = api_reports_borrow(app, reply);
    if (conn == NULL)
        return;
    struct buf b;
    buf_init(&b, 0);
    struct err e = {0};
    char sha[65];
    char media_type[QUERY_MEDIA_TYPE_MAX];
    if (query_report_raw(conn, req->params[0], &b, sha, media_type, &e) == ERR_OK) {
        /* Exactly the bytes received, with the media type they came with. */
        reply->status = 200;
        reply->content_type = api_ingest_media_type(media_type);
        if (reply->content_type == NULL)
            reply->content_type = "application/json";
        reply->body = buf_take(&b, &reply->len);
        if (reply->body == NULL)
            http_reply_error(reply, 500, "internal_error", "out of memory");
        else
            http_reply_header(reply, "X-Raw-SHA256", sha);
        /* Whatever the body holds, it is shown as the type it came with, never sniffed. */
        http_reply_header(reply, "X-Content-Type-Options", "nosniff");
    } else {
        http_reply_err(reply, &e);
    }
    buf_cleanup(&b);
    db_pool_release(app->pool, conn);
}
