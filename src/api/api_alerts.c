#include "api/api_alerts.h"

#include <stdlib.h>
#include <string.h>

#include "analysis/alert_rules.h"
#include "api/api_context.h"
#include "api/api_common.h"
#include "db/db.h"
#include "http/alerter.h"
#include "store/outbox.h"

void api_alerts_rules_get(void *ctx, struct http_request *req, struct http_reply *reply)
{
    (void)req;
    struct api_context *app = ctx;
    PGconn *conn = api_common_borrow(app, reply);
    if (conn == NULL)
        return;
    struct alert_rules rules;
    struct err e = {0};
    if (alert_rules_load(conn, &rules, &e) == ERR_OK)
        http_reply_json(reply, 200, alert_rules_json(&rules));
    else
        http_reply_err(reply, &e);
    api_common_release(app, conn);
}

/* Load, apply and save in one transaction, serialized by an advisory lock, so two updates of
 * different rules both stay. Everything is validated before anything is stored. */
static enum err_code update_rules(PGconn *conn, const json_t *body, struct alert_rules *rules,
                                  struct err *err)
{
    enum err_code rc = db_exec(conn, "BEGIN", err);
    if (rc == ERR_OK)
        rc = db_exec(conn, "SELECT pg_advisory_xact_lock(1885957751, 3)", err);
    if (rc == ERR_OK)
        rc = alert_rules_load(conn, rules, err);
    if (rc == ERR_OK)
        rc = alert_rules_apply_json(rules, body, err);
    if (rc == ERR_OK)
        rc = alert_rules_save(conn, rules, err);
    return db_end(conn, rc, err);
}

void api_alerts_rules_put(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    json_error_t jerr;
    json_t *body = json_loadb(req->body.data != NULL ? req->body.data : "", req->body.len,
                              JSON_REJECT_DUPLICATES, &jerr);
    if (body == NULL) {
        http_reply_error(reply, 400, "invalid_json", "%s", jerr.text);
        return;
    }
    /* Validated against the defaults first: a bad body is refused before the database. */
    struct alert_rules rules;
    struct err e = {0};
    alert_rules_defaults(&rules);
    if (alert_rules_apply_json(&rules, body, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        json_decref(body);
        return;
    }
    PGconn *conn = api_common_borrow(app, reply);
    if (conn != NULL) {
        if (update_rules(conn, body, &rules, &e) == ERR_OK) {
            http_reply_json(reply, 200, alert_rules_json(&rules));
            alerter_rules_changed(app->alerter);
        } else {
            http_reply_err(reply, &e);
        }
        api_common_release(app, conn);
    }
    json_decref(body);
}

void api_alerts_list(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    unsigned limit = 100;
    const char *v = http_request_query(req, "limit");
    if (v != NULL) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end != '\0' || n < 1 || n > 1000) {
            http_reply_error(reply, 400, "invalid_parameter", "limit: must be 1-1000");
            return;
        }
        limit = (unsigned)n;
    }
    const char *rule = http_request_query(req, "rule");
    if (rule != NULL && (rule[0] == '\0' || strlen(rule) > 64))
        rule = NULL;
    const char *cursor = http_request_query(req, "cursor");
    if (cursor != NULL && cursor[0] == '\0')
        cursor = NULL;
    PGconn *conn = api_common_borrow(app, reply);
    if (conn == NULL)
        return;
    json_t *out = NULL;
    struct err e = {0};
    if (outbox_list(conn, rule, limit, cursor, &out, &e) == ERR_OK)
        http_reply_json(reply, 200, out);
    else
        http_reply_err(reply, &e);
    api_common_release(app, conn);
}

void api_alerts_test(void *ctx, struct http_request *req, struct http_reply *reply)
{
    (void)req;
    struct api_context *app = ctx;
    PGconn *conn = api_common_borrow(app, reply);
    if (conn == NULL)
        return;
    json_t *out = NULL;
    struct err e = {0};
    if (alerter_send_test(app->alerter, conn, &out, &e) == ERR_OK)
        http_reply_json(reply, 200, out);
    else
        http_reply_err(reply, &e);
    api_common_release(app, conn);
}
