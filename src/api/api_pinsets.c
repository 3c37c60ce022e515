#include "api/api_pinsets.h"

#include <stdlib.h>

#include "analysis/pinsets.h"
#include "api/api_common.h"
#include "api/api_context.h"
#include "report/hostname.h"

static enum err_code list(PGconn *conn, const struct api_common_request *r,
                          struct http_reply *reply, struct err *err)
{
    const struct query_filters *qf = r->filters;
    struct pinsets_filter f = {
        .app = qf->app, .hostname = qf->hostname, .from = qf->from, .to = qf->to};
    json_t *out = NULL;
    enum err_code rc = pinsets_list(conn, &f, r->app->expected, r->req->received_at, &out, err);
    if (rc == ERR_OK)
        http_reply_json(reply, 200, out);
    return rc;
}

void api_pinsets_list(void *ctx, struct http_request *req, struct http_reply *reply)
{
    api_common_read(ctx, req, reply, API_COMMON_FILTERS, list, NULL);
}

static enum err_code rotation_check(PGconn *conn, const struct api_common_request *r,
                                    struct http_reply *reply, struct err *err)
{
    const struct http_request *req = r->req;
    json_t *out = NULL;
    enum err_code rc =
        pinsets_rotation_check(conn, r->ctx, req->body.data != NULL ? req->body.data : "",
                               req->body.len, r->app->trust, req->received_at, &out, err);
    if (rc == ERR_OK)
        http_reply_json(reply, 200, out);
    return rc;
}

void api_pinsets_rotation_check(void *ctx, struct http_request *req, struct http_reply *reply)
{
    char *host = NULL;
    struct err e = {0};
    if (hostname_normalize(req->params[0], &host, &e) != ERR_OK) {
        http_reply_error(reply, 400, "invalid_hostname", "%s", e.detail);
        return;
    }
    api_common_read(ctx, req, reply, 0, rotation_check, host);
    free(host);
}
