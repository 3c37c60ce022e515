#include "analysis/keys_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/expected_keys.h"
#include "base/codec.h"
#include "db/db.h"
#include "report/pin.h"

enum err_code keys_store_replace(PGconn *conn, const char *pattern, const struct expected_key *keys,
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
        codec_hex_encode(keys[i].pin, PIN_LEN, hex + 2);
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

enum err_code keys_store_load(PGconn *conn, struct expected_keys *ek, char fingerprint[33],
                              struct err *err)
{
    PGresult *res = PQexec(conn, "SELECT keys, fingerprint FROM pinwatch_expected_keys_json()");
    enum err_code rc = ERR_OK;
    json_t *stored = NULL, *mine = NULL;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = db_result_error(conn, res, "loading expected keys", err);
        goto out;
    }
    if (fingerprint != NULL && strcmp(fingerprint, PQgetvalue(res, 0, 1)) == 0)
        goto out;
    stored = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    mine = expected_keys_to_json(ek);
    if (stored == NULL || mine == NULL) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    /* Patterns removed from the database (through another node) go here too. */
    const char *pattern;
    json_t *v;
    json_object_foreach(json_object_get(mine, "hosts"), pattern, v)
    {
        if (json_object_get(json_object_get(stored, "hosts"), pattern) == NULL &&
            (rc = expected_keys_set_host(ek, pattern, NULL, 0, err)) != ERR_OK)
            goto out;
    }
    rc = expected_keys_load_json(ek, stored, err);
    if (rc == ERR_OK && fingerprint != NULL)
        snprintf(fingerprint, 33, "%s", PQgetvalue(res, 0, 1));
out:
    json_decref(stored);
    json_decref(mine);
    PQclear(res);
    return rc;
}

enum err_code keys_store_sync(PGconn *conn, const struct expected_keys *file_ek,
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
            rc = keys_store_replace(conn, pattern, keys, n, err);
        free(keys);
        if (rc != ERR_OK)
            break;
    }
    json_decref(doc);
    if (rc == ERR_OK)
        rc = keys_store_load(conn, ek, NULL, err);
    if (rc == ERR_OK)
        rc = db_exec(conn, "COMMIT", err);
    else
        (void)db_exec(conn, "ROLLBACK", NULL);
    return rc;
}
