#include "api/api_pinsets.h"

#include <stdlib.h>

#include "analysis/pinsets.h"
#include "api/api_context.h"
#include "api/api_reports.h"
#include "db/db.h"
#include "report/hostname.h"
#include "store/query.h"

void api_pinsets_list(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    struct query_filters qf;
    struct err e = {0};
    if (query_filters_parse(api_query_param, req, req->received_at, &qf, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        return;
    }
    PGconn *conn = api_reports_borrow(app, reply);
    if (conn != NULL) {
        struct pinsets_filter f = {
            .app = qf.app, .hostname = qf.hostname, .from = qf.from, .to = qf.to};
        json_t *out = NULL;
        if (pinsets_list(conn, &f, app->expected, req->received_at, &out, &e) == ERR_OK)
            http_reply_json(reply, 200, out);
        else
            http_reply_err(reply, &e);
        db_pool_release(app->pool, conn);
    }
    query_filters_cleanup(&qf);
}

void api_pinsets_rotation_check(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    char *host = NULL;
    struct err e = {0};
    if (hostname_normalize(req->params[0], &host, &e) != ERR_OK) {
        http_reply_error(reply, 400, "invalid_hostname", "%s", e.detail);
        return;
    }
    PGconn *conn = api_reports_borrow(app, reply);
    if (conn != NULL) {
        json_t *out = NULL;
        if (pinsets_rotation_check(conn, host, req->body.data != NULL ? req->body.data : "",
                                   req->body.len, app->trust, req->received_at, &out, &e) == ERR_OK)
            http_reply_json(reply, 200, out);
        else
            http_reply_err(reply, &e);
        db_pool_release(app->pool, conn);
    }
    free(host);
}
