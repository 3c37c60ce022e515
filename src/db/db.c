#include "db/db.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct db_pool {
    char *conninfo;
    unsigned size;
    unsigned open; /* connections created (idle + borrowed) */
    unsigned n_idle;
    PGconn **idle;
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

enum err_code db_connect(const char *conninfo, PGconn **out, struct err *err)
{
    /* Keys given after the caller's conninfo win, so timeouts are always bounded. */
    const char *keys[] = {"dbname", "connect_timeout", "options", "application_name", NULL};
    const char *vals[] = {conninfo, "5", "-c statement_timeout=30000", "pinwatch", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    if (PQstatus(conn) != CONNECTION_OK) {
        err_set(err, ERR_UNAVAILABLE, "database_unavailable", "cannot connect to PostgreSQL: %s",
                PQerrorMessage(conn));
        /* libpq messages end in a newline; keep the detail on one line. */
        if (err != NULL)
            err->detail[strcspn(err->detail, "\n")] = '\0';
        PQfinish(conn);
        return ERR_UNAVAILABLE;
    }
    *out = conn;
    return ERR_OK;
}

struct db_pool *db_pool_new(const char *conninfo, unsigned size)
{
    struct db_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return NULL;
    pool->conninfo = strdup(conninfo);
    pool->idle = calloc(size, sizeof(PGconn *));
    if (pool->conninfo == NULL || pool->idle == NULL) {
        free(pool->conninfo);
        free(pool->idle);
        free(pool);
        return NULL;
    }
    pool->size = size;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->cond, NULL);
    return pool;
}

void db_pool_free(struct db_pool *pool)
{
    if (pool == NULL)
        return;
    for (unsigned i = 0; i < pool->n_idle; i++)
        PQfinish(pool->idle[i]);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->cond);
    free(pool->idle);
    free(pool->conninfo);
    free(pool);
}

static void deadline_after(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

enum err_code db_pool_acquire(struct db_pool *pool, unsigned timeout_ms, PGconn **out,
                              struct err *err)
{
    struct timespec deadline;
    deadline_after(&deadline, timeout_ms);
    PGconn *conn = NULL;
    bool create = false;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        if (pool->n_idle > 0) {
            conn = pool->idle[--pool->n_idle];
            break;
        }
        if (pool->open < pool->size) {
            pool->open++;
            create = true;
            break;
        }
        if (pthread_cond_timedwait(&pool->cond, &pool->lock, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&pool->lock);
            return err_set(err, ERR_UNAVAILABLE, "database_busy",
                           "no database connection free within %u ms", timeout_ms);
        }
    }
    pthread_mutex_unlock(&pool->lock);

    if (conn != NULL && PQstatus(conn) != CONNECTION_OK) {
        PQreset(conn);
        if (PQstatus(conn) != CONNECTION_OK) {
            PQfinish(conn);
            conn = NULL;
            create = true;
        }
    }
    if (create) {
        enum err_code rc = db_connect(pool->conninfo, &conn, err);
        if (rc != ERR_OK) {
            pthread_mutex_lock(&pool->lock);
            pool->open--;
            pthread_cond_signal(&pool->cond);
            pthread_mutex_unlock(&pool->lock);
            return rc;
        }
    }
    *out = conn;
    return ERR_OK;
}

void db_pool_release(struct db_pool *pool, PGconn *conn)
{
    if (conn == NULL)
        return;
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PGresult *r = PQexec(conn, "ROLLBACK");
        PQclear(r);
    }
    pthread_mutex_lock(&pool->lock);
    if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PQfinish(conn);
        pool->open--;
    } else {
        pool->idle[pool->n_idle++] = conn;
    }
    pthread_cond_signal(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
}

static bool state_in(const char *state, const char *prefix)
{
    return state != NULL && strncmp(state, prefix, strlen(prefix)) == 0;
}

/* Nothing was written and the same statement may succeed later: a timeout (57014, also a lock
 * wait cut by statement_timeout), a lock not granted (55P03, 55006), a full disk or no memory
 * (53xxx), an I/O error (58xxx). Waiting and retrying is the answer, never giving up on the
 * rows. */
static bool state_transient(const char *state)
{
    return state_in(state, "53") || state_in(state, "57014") || state_in(state, "55P03") ||
           state_in(state, "55006") || state_in(state, "58");
}

enum err_code db_result_error(PGconn *conn, const PGresult *res, const char *what, struct err *err)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (msg == NULL)
        msg = PQerrorMessage(conn);
    enum err_code code = ERR_INTERNAL;
    const char *key = "database_error";
    if (state_in(state, "40P01") || state_in(state, "40001")) {
        /* Deadlock or serialization failure: nothing was written, the same work may retry. */
        code = ERR_CONFLICT;
        key = "database_conflict";
    } else if (PQstatus(conn) != CONNECTION_OK || state == NULL || state_in(state, "08") ||
               state_in(state, "57P") || state_in(state, "53300")) {
        code = ERR_UNAVAILABLE;
        key = "database_unavailable";
    } else if (state_transient(state)) {
        code = ERR_UNAVAILABLE;
        key = DB_KEY_BUSY;
    } else if (state_in(state, "22") || state_in(state, "23")) {
        /* The rows themselves are refused: retrying the same rows cannot help. */
        key = DB_KEY_DATA;
    }
    err_set(err, code, key, "%s: %s%s%s", what, msg, state != NULL ? " SQLSTATE " : "",
            state != NULL ? state : "");
    if (err != NULL)
        err->detail[strcspn(err->detail, "\n")] = '\0';
    return code;
}

enum err_code db_exec(PGconn *conn, const char *sql, struct err *err)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    enum err_code rc = ERR_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = db_result_error(conn, res, "query failed", err);
    PQclear(res);
    return rc;
}

enum err_code db_end(PGconn *conn, enum err_code rc, struct err *err)
{
    if (rc == ERR_OK)
        rc = db_exec(conn, "COMMIT", err);
    if (rc != ERR_OK) {
        struct err ignored = {0};
        (void)db_exec(conn, "ROLLBACK", &ignored);
    }
    return rc;
}

enum err_code db_ping(struct db_pool *pool, struct err *err)
{
    enum err_code rc = ERR_OK;
    /* An idle connection may have died since its last use (server restart): a broken one is
     * dropped on release, so one retry tells a dead connection from a dead database. */
    for (int attempt = 0; attempt < 2; attempt++) {
        PGconn *conn;
        rc = db_pool_acquire(pool, 2000, &conn, err);
        if (rc != ERR_OK)
            return rc;
        rc = db_exec(conn, "SELECT 1", err);
        db_pool_release(pool, conn);
        if (rc != ERR_UNAVAILABLE)
            break;
    }
    return rc;
}

enum err_code db_columns(const PGresult *res, const char *const *names, int n, int *cols,
                         struct err *err)
{
    for (int k = 0; k < n; k++) {
        cols[k] = PQfnumber(res, names[k]);
        if (cols[k] < 0)
            return err_set(err, ERR_INTERNAL, NULL, "the query has no column %s", names[k]);
    }
    return ERR_OK;
}
