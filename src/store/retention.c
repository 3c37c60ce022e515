#include "store/retention.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "db/db.h"

/* pg_advisory locks of pinwatch: (PINWATCH_LOCK_SPACE, 2) is retention. */
#define LOCK_SQL "SELECT pg_try_advisory_xact_lock(1885957751, 2)"

static enum err_code query(PGconn *conn, const char *sql, int n, const char *const *p,
                           PGresult **out, struct err *err)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        enum err_code rc = db_result_error(conn, res, "retention", err);
        PQclear(res);
        return rc;
    }
    if (out != NULL)
        *out = res;
    else
        PQclear(res);
    return ERR_OK;
}

static void rollback(PGconn *conn)
{
    struct err ignored = {0};
    (void)db_exec(conn, "ROLLBACK", &ignored);
}

static unsigned long long count_of(json_t *o, const char *k)
{
    return (unsigned long long)json_integer_value(json_object_get(o, k));
}

/* One partition. *dropped false when another node holds the lock or a newer report is in it. */
static enum err_code drop_one(PGconn *conn, const char *name, const char *cutoff,
                              struct retention_stats *st, struct err *err)
{
    PGresult *res = NULL;
    enum err_code rc = db_exec(conn, "BEGIN", err);
    /* Waiting for the commit lock holds new commits back: a few seconds at most, then the
     * next run tries again. */
    if (rc == ERR_OK)
        rc = db_exec(conn, "SET LOCAL lock_timeout = '5s'; SET LOCAL statement_timeout = '30min'",
                     err);
    if (rc == ERR_OK)
        rc = query(conn, LOCK_SQL, 0, NULL, &res, err);
    bool locked = rc == ERR_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    res = NULL;
    const char *p[2] = {name, cutoff};
    if (rc == ERR_OK && locked)
        rc = query(conn, "SELECT pinwatch_retention_drop($1, $2::timestamptz)", 2, p, &res, err);
    if (rc == ERR_OK)
        rc = db_exec(conn, "COMMIT", err);
    if (rc != ERR_OK) {
        PQclear(res);
        rollback(conn);
        return rc;
    }
    if (res != NULL && !PQgetisnull(res, 0, 0)) {
        json_t *o = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
        st->partitions++;
        st->reports += count_of(o, "reports");
        st->raw_bodies += count_of(o, "raw_bodies");
        st->chains += count_of(o, "chains");
        st->certificates += count_of(o, "certificates");
        st->fragments += count_of(o, "fragments");
        log_info("retention: dropped %s (before %s): %llu reports, %llu raw bodies, %llu chains, "
                 "%llu certificates, %llu fragments",
                 name, cutoff, count_of(o, "reports"), count_of(o, "raw_bodies"),
                 count_of(o, "chains"), count_of(o, "certificates"), count_of(o, "fragments"));
        json_decref(o);
    } else if (res != NULL) {
        log_warn("retention: %s holds reports received after %s; kept", name, cutoff);
    }
    PQclear(res);
    return ERR_OK;
}

enum err_code retention_run(PGconn *conn, unsigned days, struct retention_stats *st,
                            struct err *err)
{
    char d[16];
    snprintf(d, sizeof(d), "%u", days);
    const char *p[1] = {d};
    PGresult *res = NULL;
    enum err_code rc = query(conn,
                             "SELECT (now() - make_interval(days => $1::int))::text,"
                             " ARRAY(SELECT pinwatch_retention_due(now() - make_interval(days => "
                             "$1::int)))::text[]",
                             1, p, &res, err);
    if (rc != ERR_OK)
        return rc;
    char cutoff[64];
    snprintf(cutoff, sizeof(cutoff), "%s", PQgetvalue(res, 0, 0));
    /* "{reports_2025_01,reports_2025_02}": names are ours, no quoting needed */
    char *list = strdup(PQgetvalue(res, 0, 1));
    PQclear(res);
    if (list == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    char *save = NULL;
    for (char *name = strtok_r(list, "{},", &save); rc == ERR_OK && name != NULL;
         name = strtok_r(NULL, "{},", &save))
        rc = drop_one(conn, name, cutoff, st, err);
    free(list);
    if (rc == ERR_OK) {
        st->runs++;
        st->last_run = (int64_t)time(NULL);
    }
    return rc;
}
