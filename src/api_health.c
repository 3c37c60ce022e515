#include "api_health.h"

#include "app.h"
#include "db.h"

void api_health_healthz(void *ctx, struct http_request *req, struct http_reply *reply)
{
    (void)ctx;
    (void)req;
    http_reply_json(reply, 200, json_pack("{s:s}", "status", "ok"));
}

void api_health_readyz(void *ctx, struct http_request *req, struct http_reply *reply)
{
    (void)req;
    struct app *app = ctx;
    struct err e = {0};
    if (db_ping(app->pool, &e) != ERR_OK) {
        http_reply_json(reply, 503,
                        json_pack("{s:s, s:s, s:s}", "status", "unavailable", "reason",
                                  "database_unreachable", "detail", e.detail));
        http_reply_header(reply, "Retry-After", "5");
        return;
    }
    http_reply_json(reply, 200, json_pack("{s:s, s:b}", "status", "ready", "database", 1));
}
