#include "api_hosts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "db.h"
#include "expected_keys.h"
#include "groups.h"
#include "log.h"
#include "pin.h"

/* Replace one pattern's keys in the database (inside the caller's transaction). */
static enum err_code db_replace(PGconn *conn, const char *pattern, const struct expected_key *keys,
                                size_t n, struct err *err)
{
    const char *p1[] = {pattern};
    PGresult *res = PQexecParams(conn, "DELETE FROM expected_keys WHERE pattern = $1", 1, NULL, p1,
                                 NULL, NULL, 0);
    enum err_code rc = ERR_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = db_result_error(conn, res, "replacing expected keys", err);
    PQclear(res);
    for (size_t i = 0; rc == ERR_OK && i < n; i++) {
        char hex[PIN_HEX_LEN + 3] = "\\x";
        pin_hex_encode(keys[i].pin, PIN_LEN, hex + 2);
        hex[PIN_HEX_LEN + 2] = '\0';
        const char *p3[] = {pattern, hex, expected_keys_label_name(keys[i].label)};
        res = PQexecParams(conn,
                           "INSERT INTO expected_keys (pattern, pin, label) VALUES ($1, $2, $3)"
                           " ON CONFLICT (pattern, pin) DO UPDATE SET label = excluded.label",
                           3, NULL, p3, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = db_result_error(conn, res, "storing expected keys", err);
        PQclear(res);
    }
    return rc;
}

enum err_code api_hosts_sync(PGconn *conn, const struct expected_keys *file_ek,
                             struct expected_keys *ek, struct err *err)
{
    enum err_code rc = db_exec(conn, "BEGIN", err);
    if (rc != ERR_OK)
        return rc;
    json_t *doc = file_ek != NULL ? expected_keys_to_json(file_ek) : NULL;
    const char *pattern;
    json_t *host;
    json_object_foreach(json_object_get(doc, "hosts"), pattern, host)
    {
        struct expected_key *keys = NULL;
        size_t n = 0;
        rc = expected_keys_parse_keys(host, &keys, &n, err);
        if (rc == ERR_OK)
            rc = db_replace(conn, pattern, keys, n, err);
        free(keys);
        if (rc != ERR_OK)
            break;
    }
    json_decref(doc);
    PGresult *res = NULL;
    if (rc == ERR_OK) {
        res =
            PQexec(conn, "SELECT json_build_object('hosts', coalesce(json_object_agg(pattern,"
                         " json_build_object('keys', k)), '{}'::json))::text FROM ("
                         " SELECT pattern, json_agg(json_build_object('pin', encode(pin, 'base64'),"
                         " 'label', label) ORDER BY label, pin) AS k FROM expected_keys"
                         " GROUP BY pattern) x");
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = db_result_error(conn, res, "loading expected keys", err);
        } else {
            json_t *all = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
            rc = all != NULL ? expected_keys_load_json(ek, all, err)
                             : err_set(err, ERR_INTERNAL, NULL, "bad expected keys JSON");
            json_decref(all);
        }
        PQclear(res);
    }
    if (rc == ERR_OK)
        rc = db_exec(conn, "COMMIT", err);
    else
        (void)db_exec(conn, "ROLLBACK", NULL);
    return rc;
}

static PGconn *borrow(struct app *app, struct http_reply *reply)
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

void api_hosts_keys_get(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct app *app = ctx;
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
    struct app *app = ctx;
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
    if ((conn = borrow(app, reply)) == NULL)
        goto out;
    enum err_code rc = db_exec(conn, "BEGIN", &e);
    if (rc == ERR_OK)
        rc = db_replace(conn, pattern, keys, n, &e);
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
    if (conn != NULL)
        db_pool_release(app->pool, conn);
    free(keys);
    json_decref(body);
}

void api_chains_get(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct app *app = ctx;
    uint8_t sha[32];
    const char *hex = req->params[0];
    if (strlen(hex) != 64 || pin_hex_decode(hex, sha, 32, NULL) != ERR_OK) {
        http_reply_error(reply, 404, "not_found", "a chain id is 64 hex characters");
        return;
    }
    PGconn *conn = borrow(app, reply);
    if (conn == NULL)
        return;
    char lower[65];
    pin_hex_encode(sha, 32, lower);
    lower[64] = '\0';
    const char *params[] = {lower};
    PGresult *res =
        PQexecParams(conn,
                     "SELECT json_build_object('sha256', encode(sha256, 'hex'), 'certificates',"
                     " pinwatch_chain_certs_json(sha256), 'findings', analysis)::text"
                     " FROM chains WHERE sha256 = decode($1, 'hex')",
                     1, NULL, params, NULL, NULL, 0);
    struct err e = {0};
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        db_result_error(conn, res, "reading a chain", &e);
        http_reply_err(reply, &e);
    } else if (PQntuples(res) == 0) {
        http_reply_error(reply, 404, "not_found", "no chain with that id");
    } else {
        http_reply_bytes(reply, 200, "application/json", PQgetvalue(res, 0, 0),
                         (size_t)PQgetlength(res, 0, 0));
    }
    PQclear(res);
    db_pool_release(app->pool, conn);
}
