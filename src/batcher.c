#include "batcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "spool.h"
#include "store.h"

#define REPLAY_UNITS 64
#define RECONNECT_MS 500

static const double size_bounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
static const double latency_bounds[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                        0.1,   0.2,   0.5,   1,    2,    5};
#define N_SIZE (sizeof(size_bounds) / sizeof(size_bounds[0]))
#define N_LAT  (sizeof(latency_bounds) / sizeof(latency_bounds[0]))

struct pending {
    struct store_unit *unit;
    size_t reports;
    struct pending *next;
    pthread_cond_t woken; /* its own, so a batch wakes only its own requests */
    bool done;
    enum err_code rc;
    struct err err;
};

struct batcher {
    const struct config *cfg;
    struct store *st;
    struct spool *sp;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work;
    struct pending *head, *tail;
    size_t queued_reports;
    bool stopping;
    PGconn *conn;         /* writer thread only */
    int64_t next_connect; /* writer thread only: monotonic ms */
    int db_down;          /* atomic */
    /* metrics (atomic) */
    uint64_t size_hist[N_SIZE + 1], size_sum, batches;
    uint64_t lat_hist[N_LAT + 1];
    double lat_sum_ms; /* writer thread only */
    uint64_t db_errors, spooled_units, replayed_units, failed_units;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += (long)ms * 1000000L;
    ts->tv_sec += ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

static void set_down(struct batcher *b, bool down)
{
    int was = __atomic_exchange_n(&b->db_down, down ? 1 : 0, __ATOMIC_RELAXED);
    if (was != (down ? 1 : 0)) {
        if (down)
            log_warn("writer: PostgreSQL unreachable, spooling reports");
        else
            log_info("writer: PostgreSQL reachable");
    }
}

/* A usable connection, or NULL (retried at most every RECONNECT_MS). */
static PGconn *writer_conn(struct batcher *b)
{
    if (b->conn != NULL && PQstatus(b->conn) == CONNECTION_OK)
        return b->conn;
    PQfinish(b->conn);
    b->conn = NULL;
    if (mono_ms() < b->next_connect)
        return NULL;
    struct err e = {0};
    if (db_connect(b->cfg->database_url, &b->conn, &e) != ERR_OK) {
        b->next_connect = mono_ms() + RECONNECT_MS;
        set_down(b, true);
        return NULL;
    }
    /* The writer's commits are what a 200 promises: never asynchronous. */
    if (db_exec(b->conn, "SET synchronous_commit = on", &e) != ERR_OK ||
        store_connection_setup(b->conn, &e) != ERR_OK) {
        log_error("writer: cannot set up the connection: %s", e.detail);
        PQfinish(b->conn);
        b->conn = NULL;
        b->next_connect = mono_ms() + RECONNECT_MS;
        set_down(b, true);
        return NULL;
    }
    set_down(b, false);
    return b->conn;
}

static void observe(struct batcher *b, size_t reports, double seconds)
{
    size_t i = 0;
    while (i < N_SIZE && (double)reports > size_bounds[i])
        i++;
    __atomic_add_fetch(&b->size_hist[i], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&b->size_sum, reports, __ATOMIC_RELAXED);
    __atomic_add_fetch(&b->batches, 1, __ATOMIC_RELAXED);
    i = 0;
    while (i < N_LAT && seconds > latency_bounds[i])
        i++;
    __atomic_add_fetch(&b->lat_hist[i], 1, __ATOMIC_RELAXED);
    b->lat_sum_ms += seconds * 1000.0;
}

/* Commit units; ERR_UNAVAILABLE when the database is not there. */
static enum err_code commit(struct batcher *b, struct store_unit *const *units, size_t n,
                            size_t reports, struct err *err)
{
    PGconn *conn = writer_conn(b);
    if (conn == NULL)
        return err_set(err, ERR_UNAVAILABLE, "database_unavailable", "PostgreSQL unreachable");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum err_code rc = store_commit(b->st, conn, units, n, err);
    /* Another node may hold rows of the same groups: a deadlock victim simply retries. */
    for (int attempt = 0; rc == ERR_CONFLICT && attempt < 5; attempt++)
        rc = store_commit(b->st, conn, units, n, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc == ERR_OK) {
        observe(b, reports,
                (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    } else {
        __atomic_add_fetch(&b->db_errors, 1, __ATOMIC_RELAXED);
        if (rc == ERR_UNAVAILABLE || PQstatus(conn) != CONNECTION_OK) {
            set_down(b, true);
            rc = ERR_UNAVAILABLE;
        }
        log_error("writer: commit failed: %s", err != NULL ? err->detail : "");
    }
    return rc;
}

/* Replay spooled units while the database takes them; bounded so new requests keep flowing. */
static void replay(struct batcher *b, int rounds)
{
    if (b->sp == NULL)
        return;
    for (int r = 0; r < rounds && spool_pending_bytes(b->sp) > 0; r++) {
        if (writer_conn(b) == NULL)
            return;
        struct store_unit *units[REPLAY_UNITS];
        size_t n = 0;
        uint64_t next = 0;
        struct err e = {0};
        if (spool_peek(b->sp, REPLAY_UNITS, units, &n, &next, &e) != ERR_OK) {
            log_error("writer: spool read failed: %s", e.detail);
            return;
        }
        size_t reports = 0;
        for (size_t i = 0; i < n; i++)
            reports += store_unit_reports(units[i]);
        enum err_code rc = n > 0 ? commit(b, units, n, reports, &e) : ERR_OK;
        if (rc == ERR_INTERNAL && n > 1) {
            /* One bad unit must not block the rest: commit them one by one. */
            rc = ERR_OK;
            for (size_t i = 0; i < n && rc != ERR_UNAVAILABLE; i++) {
                rc = commit(b, &units[i], 1, store_unit_reports(units[i]), &e);
                if (rc == ERR_INTERNAL) {
                    log_error("writer: dropping an unstorable spooled unit: %s", e.detail);
                    __atomic_add_fetch(&b->failed_units, 1, __ATOMIC_RELAXED);
                    rc = ERR_OK;
                }
            }
        }
        for (size_t i = 0; i < n; i++)
            store_unit_free(units[i]);
        if (rc != ERR_OK)
            return;
        if (spool_advance(b->sp, next, &e) != ERR_OK) {
            log_error("writer: spool advance failed: %s", e.detail);
            return;
        }
        __atomic_add_fetch(&b->replayed_units, n, __ATOMIC_RELAXED);
        if (spool_pending_bytes(b->sp) == 0)
            log_info("writer: spool drained");
    }
}

static void finish(struct batcher *b, struct pending *list, enum err_code rc, const struct err *e)
{
    pthread_mutex_lock(&b->lock);
    for (struct pending *p = list; p != NULL;) {
        struct pending *next = p->next; /* p may be gone once its waiter runs */
        p->rc = rc;
        if (e != NULL)
            p->err = *e;
        p->done = true;
        pthread_cond_signal(&p->woken);
        p = next;
    }
    pthread_mutex_unlock(&b->lock);
}

static void process(struct batcher *b, struct pending *list, size_t reports)
{
    size_t n = 0;
    for (struct pending *p = list; p != NULL; p = p->next)
        n++;
    struct store_unit **units = malloc(n * sizeof(*units));
    if (units == NULL) {
        struct err e;
        err_set(&e, ERR_NOMEM, NULL, "out of memory");
        finish(b, list, ERR_NOMEM, &e);
        return;
    }
    size_t i = 0;
    for (struct pending *p = list; p != NULL; p = p->next)
        units[i++] = p->unit;
    /* Spooled reports go first, so PostgreSQL sees reports in the order they came. */
    replay(b, 1000000);
    struct err e = {0};
    enum err_code rc = ERR_UNAVAILABLE;
    if (b->sp == NULL || spool_pending_bytes(b->sp) == 0)
        rc = commit(b, units, n, reports, &e);
    if (rc == ERR_INTERNAL && n > 1) {
        /* Isolate the unit PostgreSQL refuses; the others still commit. */
        free(units);
        struct pending *p = list;
        while (p != NULL) {
            struct pending *next = p->next;
            p->next = NULL;
            process(b, p, p->reports);
            p = next;
        }
        return;
    }
    if (rc == ERR_UNAVAILABLE && b->sp != NULL) {
        rc = spool_append(b->sp, units, n, &e);
        if (rc == ERR_OK)
            __atomic_add_fetch(&b->spooled_units, n, __ATOMIC_RELAXED);
        else
            log_error("writer: spool append failed: %s", e.detail);
    }
    if (rc != ERR_OK)
        __atomic_add_fetch(&b->failed_units, n, __ATOMIC_RELAXED);
    free(units);
    finish(b, list, rc, &e);
}

static void *writer_main(void *arg)
{
    struct batcher *b = arg;
    for (;;) {
        pthread_mutex_lock(&b->lock);
        while (b->head == NULL && !b->stopping) {
            struct timespec ts;
            deadline_in(&ts, 1000);
            if (pthread_cond_timedwait(&b->work, &b->lock, &ts) == ETIMEDOUT && b->sp != NULL &&
                spool_pending_bytes(b->sp) > 0)
                break;
        }
        if (b->head == NULL && b->stopping) {
            pthread_mutex_unlock(&b->lock);
            break;
        }
        if (b->head != NULL && b->queued_reports < b->cfg->batch_max && b->cfg->batch_wait_ms > 0 &&
            !b->stopping) {
            /* Let a few more requests join this batch. */
            struct timespec ts;
            deadline_in(&ts, b->cfg->batch_wait_ms);
            pthread_cond_timedwait(&b->work, &b->lock, &ts);
        }
        struct pending *list = b->head, *last = NULL;
        size_t reports = 0;
        for (struct pending *p = b->head;
             p != NULL && (reports == 0 || reports + p->reports <= b->cfg->batch_max);
             p = p->next) {
            reports += p->reports;
            last = p;
        }
        if (last != NULL) {
            b->head = last->next;
            if (b->head == NULL)
                b->tail = NULL;
            last->next = NULL;
            b->queued_reports -= reports;
        } else {
            list = NULL;
        }
        pthread_mutex_unlock(&b->lock);
        if (list != NULL)
            process(b, list, reports);
        else
            replay(b, 4);
    }
    replay(b, 1000000);
    return NULL;
}

enum err_code batcher_start(const struct config *cfg, struct store *st, struct spool *sp,
                            struct batcher **out, struct err *err)
{
    struct batcher *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    b->cfg = cfg;
    b->st = st;
    b->sp = sp;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->work, NULL);
    if (pthread_create(&b->thread, NULL, writer_main, b) != 0) {
        free(b);
        return err_set(err, ERR_INTERNAL, NULL, "cannot start the writer thread");
    }
    *out = b;
    return ERR_OK;
}

void batcher_stop(struct batcher *b)
{
    if (b == NULL)
        return;
    pthread_mutex_lock(&b->lock);
    b->stopping = true;
    pthread_cond_signal(&b->work);
    pthread_mutex_unlock(&b->lock);
    pthread_join(b->thread, NULL);
    PQfinish(b->conn);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->work);
    free(b);
}

enum err_code batcher_submit(struct batcher *b, struct store_unit *unit, struct err *err)
{
    struct pending p;
    memset(&p, 0, sizeof(p));
    p.unit = unit;
    p.reports = store_unit_reports(unit);
    pthread_cond_init(&p.woken, NULL);
    pthread_mutex_lock(&b->lock);
    if (b->stopping) {
        pthread_mutex_unlock(&b->lock);
        pthread_cond_destroy(&p.woken);
        store_unit_free(unit);
        return err_set(err, ERR_UNAVAILABLE, "shutting_down", "the server is shutting down");
    }
    if (b->tail != NULL)
        b->tail->next = &p;
    else
        b->head = &p;
    b->tail = &p;
    b->queued_reports += p.reports;
    pthread_cond_signal(&b->work);
    while (!p.done)
        pthread_cond_wait(&p.woken, &b->lock);
    pthread_mutex_unlock(&b->lock);
    pthread_cond_destroy(&p.woken);
    store_unit_free(unit);
    if (p.rc != ERR_OK && err != NULL)
        *err = p.err;
    return p.rc;
}

bool batcher_db_down(const struct batcher *b)
{
    return __atomic_load_n(&b->db_down, __ATOMIC_RELAXED) != 0;
}

static void histogram(FILE *out, const char *name, const char *help, const double *bounds, size_t n,
                      const uint64_t *counts, double sum)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += __atomic_load_n(&counts[i], __ATOMIC_RELAXED);
        fprintf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
    }
    cum += __atomic_load_n(&counts[n], __ATOMIC_RELAXED);
    fprintf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %g\n%s_count %llu\n", name,
            (unsigned long long)cum, name, sum, name, (unsigned long long)cum);
}

void batcher_metrics(const struct batcher *b, FILE *out)
{
    histogram(out, "pinwatch_batch_reports", "Reports per group commit.", size_bounds, N_SIZE,
              b->size_hist, (double)__atomic_load_n(&b->size_sum, __ATOMIC_RELAXED));
    histogram(out, "pinwatch_commit_seconds", "Latency of one group commit.", latency_bounds, N_LAT,
              b->lat_hist, b->lat_sum_ms / 1000.0);
    fprintf(out,
            "# HELP pinwatch_database_errors_total Failed database commits.\n"
            "# TYPE pinwatch_database_errors_total counter\npinwatch_database_errors_total %llu\n"
            "# HELP pinwatch_database_up Whether the writer reaches PostgreSQL.\n"
            "# TYPE pinwatch_database_up gauge\npinwatch_database_up %d\n"
            "# HELP pinwatch_spooled_units_total Request units written to the spool.\n"
            "# TYPE pinwatch_spooled_units_total counter\npinwatch_spooled_units_total %llu\n"
            "# HELP pinwatch_replayed_units_total Spooled units replayed into PostgreSQL.\n"
            "# TYPE pinwatch_replayed_units_total counter\npinwatch_replayed_units_total %llu\n"
            "# HELP pinwatch_spool_depth Units waiting in the spool.\n"
            "# TYPE pinwatch_spool_depth gauge\npinwatch_spool_depth %llu\n"
            "# HELP pinwatch_spool_bytes Bytes waiting in the spool.\n"
            "# TYPE pinwatch_spool_bytes gauge\npinwatch_spool_bytes %llu\n",
            (unsigned long long)__atomic_load_n(&b->db_errors, __ATOMIC_RELAXED),
            batcher_db_down(b) ? 0 : 1,
            (unsigned long long)__atomic_load_n(&b->spooled_units, __ATOMIC_RELAXED),
            (unsigned long long)__atomic_load_n(&b->replayed_units, __ATOMIC_RELAXED),
            (unsigned long long)spool_pending_units(b->sp),
            (unsigned long long)spool_pending_bytes(b->sp));
}
