#include "api/api_hosts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/expected_keys.h"
#include "analysis/groups.h"
#include "analysis/keys_store.h"
#include "api/api_context.h"
#include "api/api_common.h"
#include "base/codec.h"
#include "base/log.h"
#include "db/db.h"

void api_hosts_keys_get(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    char pattern[EXPECTED_KEYS_MAX_PATTERN + 1];
    struct err e = {0};
    if (expected_keys_normalize_pattern(req->params[0], pattern, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        return;
    }
    json_t *j = expected_keys_host_json(app->expected, pattern);
    json_object_set_new(j, "hostname", json_string(pattern));
    http_reply_json(reply, 200, j);
}

void api_hosts_keys_put(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    char pattern[EXPECTED_KEYS_MAX_PATTERN + 1];
    struct err e = {0};
    struct expected_key *keys = NULL;
    size_t n = 0;
    json_error_t jerr;
    json_t *body =
        json_loadb(req->body.data != NULL ? req->body.data : "", req->body.len, 0, &jerr);
    PGconn *conn = NULL;
    if (expected_keys_normalize_pattern(req->params[0], pattern, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        goto out;
    }
    if (body == NULL) {
        http_reply_error(reply, 400, "invalid_json", "%s", jerr.text);
        goto out;
    }
    /* Validate everything before anything changes. */
    if (expected_keys_parse_keys(body, &keys, &n, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        goto out;
    }
    if ((conn = api_common_borrow(app, reply)) == NULL)
        goto out;
    enum err_code rc = db_exec(conn, "BEGIN", &e);
    if (rc == ERR_OK)
        rc = keys_store_replace(conn, pattern, keys, n, &e);
    if (rc == ERR_OK)
        rc = db_exec(conn, "COMMIT", &e);
    if (rc != ERR_OK) {
        (void)db_exec(conn, "ROLLBACK", NULL);
        http_reply_err(reply, &e);
        goto out;
    }
    if (expected_keys_set_host(app->expected, pattern, keys, n, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        goto out;
    }
    unsigned moved = 0;
    if (groups_rekey(conn, app->expected, pattern, &moved, &e) != ERR_OK) {
        log_write(LOG_LEVEL_ERROR, req->rid, "re-evaluating groups failed: %s", e.detail);
        http_reply_err(reply, &e);
        goto out;
    }
    json_t *j = expected_keys_host_json(app->expected, pattern);
    json_object_set_new(j, "hostname", json_string(pattern));
    json_object_set_new(j, "reports_regrouped", json_integer(moved));
    http_reply_json(reply, 200, j);
out:
    api_common_release(app, conn);
    free(keys);
    json_decref(body);
}

static enum err_code chain(PGconn *conn, const struct api_common_request *r,
                           struct http_reply *reply, struct err *err)
{
    (void)err;
    const char *params[] = {r->ctx};
    api_common_reply_sql(conn, reply, "SELECT * FROM pinwatch_chain_json(decode($1, 'hex'))", 1,
                         params, "no chain with that id");
    return ERR_OK;
}

void api_chains_get(void *ctx, struct http_request *req, struct http_reply *reply)
{
    uint8_t sha[32];
    const char *hex = req->params[0];
    if (strlen(hex) != 64 || codec_hex_decode(hex, sha, 32, NULL) != ERR_OK) {
        http_reply_error(reply, 404, "not_found", "a chain id is 64 hex characters");
        return;
    }
    char lower[CODEC_HEX_LEN(32) + 1];
    codec_hex_encode(sha, 32, lower);
    api_common_read(ctx, req, reply, 0, chain, lower);
}
