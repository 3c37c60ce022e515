#include "api/api_reports.h"

#include "api/api_common.h"
#include "api/api_ingest.h"
#include "store/query.h"

static enum err_code list(PGconn *conn, const struct api_common_request *r,
                          struct http_reply *reply, struct err *err)
{
    struct buf b;
    buf_init(&b, 0);
    enum err_code rc = query_reports_page(conn, r->filters, &b, err);
    if (rc == ERR_OK)
        api_common_reply_buf(reply, &b, "application/json");
    buf_cleanup(&b);
    return rc;
}

void api_reports_list(void *ctx, struct http_request *req, struct http_reply *reply)
{
    api_common_read(ctx, req, reply, API_COMMON_FILTERS, list, NULL);
}

static enum err_code get(PGconn *conn, const struct api_common_request *r, struct http_reply *reply,
                         struct err *err)
{
    struct buf b;
    buf_init(&b, 0);
    enum err_code rc = query_report_get(conn, r->req->params[0], &b, err);
    if (rc == ERR_OK)
        api_common_reply_buf(reply, &b, "application/json");
    buf_cleanup(&b);
    return rc;
}

void api_reports_get(void *ctx, struct http_request *req, struct http_reply *reply)
{
    api_common_read(ctx, req, reply, 0, get, NULL);
}

static enum err_code raw(PGconn *conn, const struct api_common_request *r, struct http_reply *reply,
                         struct err *err)
{
    struct buf b;
    buf_init(&b, 0);
    char sha[65];
    char media_type[QUERY_MEDIA_TYPE_MAX];
    enum err_code rc = query_report_raw(conn, r->req->params[0], &b, sha, media_type, err);
    if (rc == ERR_OK) {
        /* Exactly the bytes received, with the media type they came with (a static string),
         * never sniffed. */
        const char *type = api_ingest_media_type(media_type);
        api_common_reply_buf(reply, &b, "application/octet-stream");
        if (reply->status == 200)
            reply->content_type = type != NULL ? type : "application/json";
        http_reply_header(reply, "X-Raw-SHA256", sha);
        http_reply_header(reply, "X-Content-Type-Options", "nosniff");
    }
    buf_cleanup(&b);
    return rc;
}

void api_reports_raw(void *ctx, struct http_request *req, struct http_reply *reply)
{
    api_common_read(ctx, req, reply, 0, raw, NULL);
}
