#include "store/outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/timeparse.h"
#include "base/uuid.h"
#include "db/db.h"

static int64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *outbox_body(const struct outbox_alert *a, const char *id, int64_t fired_at_usec,
                  const char *base_url)
{
    char when[TIMEPARSE_FMT_LEN];
    /* whole seconds: receivers compare and show it, microseconds help nobody */
    timeparse_format(fired_at_usec - fired_at_usec % 1000000, when);
    size_t blen = base_url != NULL ? strlen(base_url) : 0;
    while (blen > 0 && base_url[blen - 1] == '/')
        blen--;
    char *url = NULL;
    if (base_url != NULL) {
        size_t ulen = blen + strlen(a->route) + 1;
        if ((url = malloc(ulen)) == NULL)
            return NULL;
        snprintf(url, ulen, "%.*s%s", (int)blen, base_url, a->route);
    }
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "id", id, "rule", a->rule,
                             "fired_at", when, "summary", a->summary, "text", a->summary, "url",
                             url != NULL ? json_string(url) : json_null());
    free(url);
    if (body == NULL)
        return NULL;
    json_object_set(body, a->key, a->object);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

static enum err_code exec_ok(PGconn *conn, const char *sql, int n, const char *const *p,
                             const char *what, PGresult **keep, struct err *err)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        enum err_code rc = db_result_error(conn, res, what, err);
        PQclear(res);
        return rc;
    }
    if (keep != NULL)
        *keep = res;
    else
        PQclear(res);
    return ERR_OK;
}

static const char INSERT_ALERT_SQL[] =
    "INSERT INTO alerts (id, rule, subject, state, fired_at, summary)"
    " VALUES ($1, $2, $3, $4, to_timestamp($5::float8 / 1e6), $6) ON CONFLICT (id) DO NOTHING";

/* Outbox row: queued now, or (not queued) marked as not sent, or already delivered. */
static const char INSERT_OUTBOX_SQL[] =
    "INSERT INTO alert_outbox (id, payload, created_at, next_attempt_at, failed_at, last_error,"
    "  delivered_at, attempts)"
    " VALUES ($1, $2, to_timestamp($3::float8 / 1e6), now(),"
    "  CASE $4 WHEN 'unsent' THEN now() END,"
    "  CASE $4 WHEN 'unsent' THEN 'PINWATCH_ALERT_WEBHOOK_URL is not set' END,"
    "  CASE $4 WHEN 'delivered' THEN now() END, CASE $4 WHEN 'delivered' THEN 1 ELSE 0 END)"
    " ON CONFLICT (id) DO NOTHING";

static enum err_code insert_alert(PGconn *conn, const struct outbox_alert *a, const char *id,
                                  int64_t fired, const char *body, const char *how, struct err *err)
{
    char usec[24];
    snprintf(usec, sizeof(usec), "%lld", (long long)fired);
    const char *p1[6] = {id, a->rule, a->subject, a->state, usec, a->summary};
    enum err_code rc = exec_ok(conn, INSERT_ALERT_SQL, 6, p1, "alert", NULL, err);
    const char *p2[4] = {id, body, usec, how};
    if (rc == ERR_OK)
        rc = exec_ok(conn, INSERT_OUTBOX_SQL, 4, p2, "alert outbox", NULL, err);
    return rc;
}

enum err_code outbox_fire(PGconn *conn, const struct outbox_alert *a, const char *base_url,
                          bool queue, bool *fired, char *id_out, struct err *err)
{
    *fired = false;
    int64_t when = now_usec();
    char id[UUID_STR_LEN];
    if (!uuid_v7(when, id))
        return err_set(err, ERR_INTERNAL, NULL, "cannot make an alert id");
    char *body = outbox_body(a, id, when, base_url);
    if (body == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    enum err_code rc = db_exec(conn, "BEGIN", err);
    PGresult *res = NULL;
    /* The upsert decides: it returns a row only when the state really changed, and a second
     * node doing the same waits for this row and then finds nothing to change. */
    const char *p[4] = {a->subject, a->rule, a->state, id};
    if (rc == ERR_OK)
        rc = exec_ok(conn,
                     "INSERT INTO alert_subjects AS s (subject, rule, state, alert_id)"
                     " VALUES ($1, $2, $3, $4)"
                     " ON CONFLICT (subject) DO UPDATE SET rule = excluded.rule,"
                     "   state = excluded.state, alert_id = excluded.alert_id, updated_at = now()"
                     " WHERE s.state IS DISTINCT FROM excluded.state RETURNING 1",
                     4, p, "alert subject", &res, err);
    bool changed = res != NULL && PQntuples(res) == 1;
    PQclear(res);
    if (rc == ERR_OK && changed)
        rc = insert_alert(conn, a, id, when, body, queue ? "queued" : "unsent", err);
    if ((rc = db_end(conn, rc, err)) == ERR_OK) {
        *fired = changed;
        if (id_out != NULL)
            memcpy(id_out, id, UUID_STR_LEN);
    }
    free(body);
    return rc;
}

enum err_code outbox_record(PGconn *conn, const struct outbox_alert *a, const char *id,
                            int64_t fired_at_usec, const char *body, bool delivered,
                            struct err *err)
{
    enum err_code rc = db_exec(conn, "BEGIN", err);
    if (rc == ERR_OK)
        rc =
            insert_alert(conn, a, id, fired_at_usec, body, delivered ? "delivered" : "queued", err);
    return db_end(conn, rc, err);
}

static const char CLAIM_SQL[] =
    "UPDATE alert_outbox o SET locked_by = $1, locked_until = now() + make_interval(secs => $2),"
    "  attempts = o.attempts + 1, last_attempt_at = now()"
    " FROM (SELECT id FROM alert_outbox"
    "   WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()"
    "     AND (locked_until IS NULL OR locked_until < now())"
    "     AND ($4::uuid IS NULL OR id = $4::uuid)"
    "   ORDER BY next_attempt_at LIMIT $3::int FOR UPDATE SKIP LOCKED) d"
    " WHERE o.id = d.id RETURNING o.id, o.payload, o.attempts";

enum err_code outbox_claim(PGconn *conn, const char *node, unsigned lease_s, unsigned max,
                           const char *id, struct outbox_item **items, size_t *n, struct err *err)
{
    *items = NULL;
    *n = 0;
    char lease[16], lim[16];
    snprintf(lease, sizeof(lease), "%u", lease_s);
    snprintf(lim, sizeof(lim), "%u", max);
    const char *p[4] = {node, lease, lim, id};
    PGresult *res = NULL;
    enum err_code rc = exec_ok(conn, CLAIM_SQL, 4, p, "alert outbox claim", &res, err);
    if (rc != ERR_OK)
        return rc;
    int rows = PQntuples(res);
    struct outbox_item *out = rows > 0 ? calloc((size_t)rows, sizeof(*out)) : NULL;
    if (rows > 0 && out == NULL) {
        PQclear(res);
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    }
    for (int i = 0; i < rows; i++) {
        snprintf(out[i].id, sizeof(out[i].id), "%s", PQgetvalue(res, i, 0));
        out[i].payload = strdup(PQgetvalue(res, i, 1));
        out[i].attempts = atoi(PQgetvalue(res, i, 2));
        if (out[i].payload == NULL)
            rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
    }
    PQclear(res);
    *items = out;
    *n = (size_t)rows;
    return rc;
}

void outbox_items_free(struct outbox_item *items, size_t n)
{
    for (size_t i = 0; items != NULL && i < n; i++)
        free(items[i].payload);
    free(items);
}

/* A failed try waits 5 s, then 10, 20, ... at most an hour; 24 hours after the alert was
 * queued a failure is the last. */
static const char FAIL_SQL[] =
    "UPDATE alert_outbox SET last_status = nullif($3::int, 0), last_error = $4,"
    "  locked_by = NULL, locked_until = NULL,"
    "  next_attempt_at = now() + make_interval(secs => least(3600, 5 * power(2, least(attempts - "
    "1, 20)))),"
    "  failed_at = CASE WHEN created_at < now() - interval '24 hours' THEN now() END"
    " WHERE id = $1 AND locked_by = $2";
static const char DONE_SQL[] =
    "UPDATE alert_outbox SET delivered_at = now(), last_status = $3::int, last_error = NULL,"
    "  locked_by = NULL, locked_until = NULL WHERE id = $1 AND locked_by = $2";

enum err_code outbox_finish(PGconn *conn, const char *node, const char *id, bool delivered,
                            long status, const char *error, struct err *err)
{
    char st[16];
    snprintf(st, sizeof(st), "%ld", status);
    const char *p[4] = {id, node, st, error != NULL ? error : ""};
    return exec_ok(conn, delivered ? DONE_SQL : FAIL_SQL, delivered ? 3 : 4, p,
                   "alert outbox finish", NULL, err);
}

#define DELIVERY_JSON                                                                              \
    "json_build_object('state', CASE WHEN o.delivered_at IS NOT NULL THEN 'delivered'"             \
    "   WHEN o.failed_at IS NOT NULL AND o.attempts = 0 THEN 'not_sent'"                           \
    "   WHEN o.failed_at IS NOT NULL THEN 'failed' ELSE 'pending' END,"                            \
    "  'attempts', o.attempts, 'last_attempt_at', pinwatch_ts(o.last_attempt_at),"                 \
    "  'next_attempt_at', CASE WHEN o.delivered_at IS NULL AND o.failed_at IS NULL"                \
    "    THEN pinwatch_ts(o.next_attempt_at) END,"                                                 \
    "  'delivered_at', pinwatch_ts(o.delivered_at), 'last_status', o.last_status,"                 \
    "  'last_error', o.last_error)::text"

static const char LIST_SQL[] =
    "SELECT o.payload, " DELIVERY_JSON ","
    "  (extract(epoch FROM a.fired_at) * 1000000)::bigint, a.id"
    " FROM alerts a JOIN alert_outbox o ON o.id = a.id"
    " WHERE ($1::text IS NULL OR a.rule = $1)"
    "   AND ($2::bigint IS NULL OR (a.fired_at, a.id) < (to_timestamp($2::float8 / 1e6), $3::uuid))"
    " ORDER BY a.fired_at DESC, a.id DESC LIMIT $4::int";

static enum err_code parse_cursor(const char *cursor, char ts[24], char id[40], struct err *err)
{
    const char *dot = cursor != NULL ? strchr(cursor, '.') : NULL;
    char *end = NULL;
    if (dot == NULL || dot == cursor || (size_t)(dot - cursor) >= 24 || !uuid_valid(dot + 1))
        return err_set(err, ERR_INVALID, "invalid_parameter", "cursor: not a cursor from this API");
    long long v = strtoll(cursor, &end, 10);
    if (end != dot)
        return err_set(err, ERR_INVALID, "invalid_parameter", "cursor: not a cursor from this API");
    snprintf(ts, 24, "%lld", v);
    snprintf(id, 40, "%s", dot + 1);
    return ERR_OK;
}

enum err_code outbox_list(PGconn *conn, const char *rule, unsigned limit, const char *cursor,
                          json_t **out, struct err *err)
{
    char ts[24] = "", cid[40] = "", lim[16];
    enum err_code rc = ERR_OK;
    if (cursor != NULL && (rc = parse_cursor(cursor, ts, cid, err)) != ERR_OK)
        return rc;
    snprintf(lim, sizeof(lim), "%u", limit + 1);
    const char *p[4] = {rule, cursor != NULL ? ts : NULL, cursor != NULL ? cid : NULL, lim};
    PGresult *res = NULL;
    if ((rc = exec_ok(conn, LIST_SQL, 4, p, "alerts", &res, err)) != ERR_OK)
        return rc;
    int rows = PQntuples(res);
    int shown = rows > (int)limit ? (int)limit : rows;
    json_t *list = json_array();
    for (int i = 0; i < shown; i++) {
        json_t *a = json_loads(PQgetvalue(res, i, 0), 0, NULL);
        if (a == NULL)
            continue;
        json_object_set_new(a, "delivery", json_loads(PQgetvalue(res, i, 1), 0, NULL));
        json_array_append_new(list, a);
    }
    json_t *next = json_null();
    if (rows > (int)limit) {
        char c[80];
        snprintf(c, sizeof(c), "%s.%s", PQgetvalue(res, shown - 1, 2),
                 PQgetvalue(res, shown - 1, 3));
        next = json_string(c);
    }
    PQclear(res);
    *out = json_pack("{s:o, s:o}", "alerts", list, "next_cursor", next);
    return *out != NULL ? ERR_OK : err_set(err, ERR_NOMEM, NULL, "out of memory");
}

enum err_code outbox_delivery(PGconn *conn, const char *id, json_t **out, struct err *err)
{
    const char *p[1] = {id};
    PGresult *res = NULL;
    enum err_code rc = exec_ok(conn, "SELECT " DELIVERY_JSON " FROM alert_outbox o WHERE id = $1",
                               1, p, "alert delivery", &res, err);
    if (rc != ERR_OK)
        return rc;
    *out = PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
    PQclear(res);
    return *out != NULL ? ERR_OK : err_set(err, ERR_NOT_FOUND, NULL, "no such alert");
}

enum err_code outbox_pending(PGconn *conn, long long *n, struct err *err)
{
    PGresult *res = NULL;
    enum err_code rc = exec_ok(conn,
                               "SELECT count(*) FROM alert_outbox"
                               " WHERE delivered_at IS NULL AND failed_at IS NULL",
                               0, NULL, "alert outbox", &res, err);
    if (rc == ERR_OK) {
        *n = atoll(PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    return rc;
}
