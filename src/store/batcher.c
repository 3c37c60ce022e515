#include "store/batcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "db/db.h"
#include "store/spool.h"
#include "store/store.h"

#define REPLAY_UNITS    64
#define RECONNECT_MS    500
#define FLUSH_GATHER_MS 100
/* A failed replay round waits, doubling from the first to the last figure. */
#define REPLAY_BACKOFF_MIN_MS 500
#define REPLAY_BACKOFF_MAX_MS 30000
/* Rounds in which PostgreSQL refuses one unit's rows (22xxx, 23xxx) before it is quarantined. */
#define QUARANTINE_AFTER 3

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

struct batcher;

/* One connection committing batches. Writer 0 also replays the spool. */
struct writer {
    struct batcher *b;
    unsigned index;
    pthread_t thread;
    bool started;
    PGconn *conn;
    int64_t next_connect; /* monotonic ms */
    /* replay (writer 0): when the next round may run, and the unit refused so far */
    int64_t next_replay;
    unsigned backoff_ms;
    uint64_t suspect_start, suspect_end;
    unsigned suspect_rounds;
};

struct batcher {
    const struct config *cfg;
    struct store *st;
    struct spool *sp;
    pthread_mutex_t lock; /* the queue and stopping */
    pthread_cond_t work;
    struct pending *head, *tail;
    size_t queued_reports;
    bool stopping;
    pthread_mutex_t spool_lock; /* the spool: any writer appends, writer 0 replays */
    struct writer *writers;
    unsigned n_writers;
    /* the rollup flusher: merges queued rollup rows after commits (see 0010) */
    struct writer flusher;
    pthread_cond_t flush_cond; /* under lock */
    bool flush_wanted, flush_stop;
    int db_down; /* atomic */
    /* metrics (atomic) */
    uint64_t size_hist[N_SIZE + 1], size_sum, batches;
    uint64_t lat_hist[N_LAT + 1], lat_sum_us;
    uint64_t db_errors, spooled_units, replayed_units, failed_units, quarantined_units;
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

static uint64_t spool_pending(struct batcher *b)
{
    return b->sp != NULL ? spool_pending_bytes(b->sp) : 0;
}

/* A usable connection, or NULL (retried at most every RECONNECT_MS). */
static PGconn *writer_conn(struct writer *w)
{
    if (w->conn != NULL && PQstatus(w->conn) == CONNECTION_OK)
        return w->conn;
    PQfinish(w->conn);
    w->conn = NULL;
    if (mono_ms() < w->next_connect)
        return NULL;
    struct err e = {0};
    if (db_connect(w->b->cfg->database_url, &w->conn, &e) != ERR_OK) {
        w->next_connect = mono_ms() + RECONNECT_MS;
        set_down(w->b, true);
        return NULL;
    }
    /* The writer's commits are what a 200 promises: never asynchronous. */
    if (db_exec(w->conn, "SET synchronous_commit = on", &e) != ERR_OK ||
        store_connection_setup(w->conn, &e) != ERR_OK) {
        log_error("writer: cannot set up the connection: %s", e.detail);
        PQfinish(w->conn);
        w->conn = NULL;
        w->next_connect = mono_ms() + RECONNECT_MS;
        set_down(w->b, true);
        return NULL;
    }
    set_down(w->b, false);
    return w->conn;
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
    __atomic_add_fetch(&b->lat_sum_us, (uint64_t)(seconds * 1e6), __ATOMIC_RELAXED);
}

/* Commit units; ERR_UNAVAILABLE when the database is not there. */
static enum err_code commit(struct writer *w, struct store_unit *const *units, size_t n,
                            size_t reports, struct err *err)
{
    struct batcher *b = w->b;
    PGconn *conn = writer_conn(w);
    if (conn == NULL)
        return err_set(err, ERR_UNAVAILABLE, "database_unavailable", "PostgreSQL unreachable");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum err_code rc = store_commit(b->st, conn, units, n, err);
    /* Another writer or node may hold rows of the same groups: a deadlock victim retries. */
    for (int attempt = 0; rc == ERR_CONFLICT && attempt < 5; attempt++)
        rc = store_commit(b->st, conn, units, n, err);
    if (rc != ERR_OK && PQstatus(conn) != CONNECTION_OK) {
        /* A connection from before a database restart fails once: retry on a new one before
         * falling back to the spool (a commit is idempotent, whatever became of this one). */
        PQfinish(w->conn);
        w->conn = NULL;
        w->next_connect = 0;
        if ((conn = writer_conn(w)) != NULL)
            rc = store_commit(b->st, conn, units, n, err);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc == ERR_OK) {
        observe(b, reports,
                (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
        pthread_mutex_lock(&b->lock);
        b->flush_wanted = true;
        pthread_cond_signal(&b->flush_cond);
        pthread_mutex_unlock(&b->lock);
    } else {
        __atomic_add_fetch(&b->db_errors, 1, __ATOMIC_RELAXED);
        bool busy = rc == ERR_CONFLICT ||
                    (rc == ERR_UNAVAILABLE && err != NULL && strcmp(err->key, DB_KEY_BUSY) == 0);
        if (conn == NULL || PQstatus(conn) != CONNECTION_OK || (rc == ERR_UNAVAILABLE && !busy))
            set_down(b, true);
        /* A timeout, a lock wait, a full disk: the spool keeps the reports until it passes. */
        if (busy || conn == NULL || PQstatus(conn) != CONNECTION_OK)
            rc = ERR_UNAVAILABLE;
        log_error("writer: commit failed: %s", err != NULL ? err->detail : "");
    }
    return rc;
}

/* Quarantine entry e (fsynced) and count it. */
static enum err_code quarantine(struct batcher *b, const struct spool_entry *e, const char *why)
{
    struct err qe = {0};
    pthread_mutex_lock(&b->spool_lock);
    enum err_code rc = spool_quarantine(b->sp, e, why, &qe);
    pthread_mutex_unlock(&b->spool_lock);
    if (rc != ERR_OK) {
        log_error("writer: cannot quarantine a spooled unit (kept in the spool): %s", qe.detail);
        return rc;
    }
    log_error("writer: a spooled unit moved to the quarantine: %s", why);
    __atomic_add_fetch(&b->quarantined_units, 1, __ATOMIC_RELAXED);
    return ERR_OK;
}

/* Whether PostgreSQL refused entry e's rows in as many rounds as it takes to give up on them. */
static bool refused_for_good(struct writer *w, const struct spool_entry *e)
{
    if (w->suspect_rounds == 0 || w->suspect_start != e->start || w->suspect_end != e->end) {
        w->suspect_start = e->start;
        w->suspect_end = e->end;
        w->suspect_rounds = 0;
    }
    return ++w->suspect_rounds >= QUARANTINE_AFTER;
}

/* Commit entries one at a time, in order, after their chunk failed; *done: how many are
 * stored or quarantined. Stops at the first that must wait (a transient error, a unit refused
 * fewer than QUARANTINE_AFTER rounds, an error that is not the data's fault). */
static enum err_code replay_one_by_one(struct writer *w, struct spool_entry *entries, size_t n,
                                       size_t *done)
{
    struct batcher *b = w->b;
    enum err_code rc = ERR_OK;
    struct err e = {0};
    for (*done = 0; *done < n; (*done)++) {
        struct spool_entry *en = &entries[*done];
        if (en->unit == NULL) {
            rc = quarantine(b, en, "unreadable spool line");
        } else {
            rc = commit(w, &en->unit, 1, store_unit_reports(en->unit), &e);
            if (rc == ERR_INTERNAL && strcmp(e.key, DB_KEY_DATA) == 0 && refused_for_good(w, en)) {
                char why[sizeof(e.detail) + 32];
                snprintf(why, sizeof(why), "refused by PostgreSQL: %s", e.detail);
                rc = quarantine(b, en, why);
            }
        }
        if (rc != ERR_OK)
            break;
    }
    return rc;
}

/* Replay one chunk of the spool (writer 0 only). ERR_OK when it moved on or had nothing; a unit
 * leaves the spool only once it is stored or quarantined. */
static enum err_code replay_round(struct writer *w)
{
    struct batcher *b = w->b;
    if (spool_pending(b) == 0)
        return ERR_OK;
    if (writer_conn(w) == NULL)
        return ERR_UNAVAILABLE;
    struct spool_entry entries[REPLAY_UNITS];
    struct store_unit *units[REPLAY_UNITS];
    size_t n = 0, k = 0, done = 0;
    struct err e = {0};
    pthread_mutex_lock(&b->spool_lock);
    enum err_code rc = spool_peek(b->sp, REPLAY_UNITS, entries, &n, &e);
    pthread_mutex_unlock(&b->spool_lock);
    if (rc != ERR_OK) {
        log_error("writer: spool read failed: %s", e.detail);
        return rc;
    }
    size_t reports = 0;
    bool unreadable = false;
    for (size_t i = 0; i < n; i++) {
        if (entries[i].unit == NULL) {
            unreadable = true;
            continue;
        }
        units[k++] = entries[i].unit;
        reports += store_unit_reports(entries[i].unit);
    }
    rc = k > 0 && !unreadable ? commit(w, units, k, reports, &e) : ERR_INTERNAL;
    if (rc == ERR_OK)
        done = n;
    else if (rc == ERR_INTERNAL)
        rc = replay_one_by_one(w, entries, n, &done); /* isolate what PostgreSQL refuses */
    for (size_t i = 0; i < n; i++)
        store_unit_free(entries[i].unit);
    if (done == 0)
        return rc != ERR_OK ? rc : ERR_INTERNAL;
    pthread_mutex_lock(&b->spool_lock);
    enum err_code arc = spool_advance(b->sp, entries[done - 1].end, &e);
    bool drained = arc == ERR_OK && spool_pending_bytes(b->sp) == 0;
    pthread_mutex_unlock(&b->spool_lock);
    if (arc != ERR_OK) {
        log_error("writer: spool advance failed: %s", e.detail);
        return arc;
    }
    __atomic_add_fetch(&b->replayed_units, done, __ATOMIC_RELAXED);
    if (drained)
        log_info("writer: spool drained");
    return rc;
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

static void process(struct writer *w, struct pending *list, size_t reports)
{
    struct batcher *b = w->b;
    size_t n = 0;
    for (struct pending *p = list; p != NULL; p = p->next)
        n++;
    struct store_unit **units = calloc(n > 0 ? n : 1, sizeof(*units));
    if (units == NULL) {
        struct err e;
        err_set(&e, ERR_NOMEM, NULL, "out of memory");
        finish(b, list, ERR_NOMEM, &e);
        return;
    }
    size_t i = 0;
    for (struct pending *p = list; p != NULL; p = p->next)
        units[i++] = p->unit;
    struct err e = {0};
    enum err_code rc = ERR_UNAVAILABLE;
    /* While older reports wait in the spool, newer ones queue up behind them there: replay
     * keeps the order they came in, and a request never waits for a whole drain. */
    if (spool_pending(b) == 0)
        rc = commit(w, units, n, reports, &e);
    if (rc == ERR_INTERNAL && n > 1) {
        /* Isolate the unit PostgreSQL refuses; the others still commit. */
        free(units);
        struct pending *p = list;
        while (p != NULL) {
            struct pending *next = p->next;
            p->next = NULL;
            process(w, p, p->reports);
            p = next;
        }
        return;
    }
    if (rc == ERR_UNAVAILABLE && b->sp != NULL) {
        pthread_mutex_lock(&b->spool_lock);
        rc = spool_append(b->sp, units, n, &e);
        pthread_mutex_unlock(&b->spool_lock);
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

/* Take what is queued (up to batch_max reports); the caller holds the lock. */
static struct pending *take_batch(struct batcher *b, size_t *reports_out)
{
    struct pending *list = b->head, *last = NULL;
    size_t reports = 0;
    for (struct pending *p = b->head;
         p != NULL && (reports == 0 || reports + p->reports <= b->cfg->batch_max); p = p->next) {
        reports += p->reports;
        last = p;
    }
    *reports_out = reports;
    if (last == NULL)
        return NULL;
    b->head = last->next;
    if (b->head == NULL)
        b->tail = NULL;
    last->next = NULL;
    b->queued_reports -= reports;
    return list;
}

/* Whether writer w has spool work it can do now. Writer 0 replays; after a failed round it
 * retries at the reconnect pace rather than spinning. */
static bool replay_due(const struct writer *w)
{
    int64_t now = mono_ms();
    return w->index == 0 && spool_pending(w->b) > 0 && now >= w->next_connect &&
           now >= w->next_replay;
}

/* Replay a chunk; after a failure, wait longer each time (a full disk, a held lock). */
static void replay_paced(struct writer *w)
{
    if (replay_round(w) == ERR_OK) {
        w->backoff_ms = 0;
        w->next_replay = 0;
        return;
    }
    w->backoff_ms = w->backoff_ms == 0 ? REPLAY_BACKOFF_MIN_MS : w->backoff_ms * 2;
    if (w->backoff_ms > REPLAY_BACKOFF_MAX_MS)
        w->backoff_ms = REPLAY_BACKOFF_MAX_MS;
    w->next_replay = mono_ms() + w->backoff_ms;
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct batcher *b = w->b;
    for (;;) {
        pthread_mutex_lock(&b->lock);
        while (b->head == NULL && !b->stopping && !replay_due(w)) {
            struct timespec ts;
            deadline_in(&ts, spool_pending(b) > 0 && w->index == 0 ? RECONNECT_MS / 5 : 1000);
            pthread_cond_timedwait(&b->work, &b->lock, &ts);
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
        size_t reports = 0;
        struct pending *list = take_batch(b, &reports);
        pthread_mutex_unlock(&b->lock);
        if (list != NULL)
            process(w, list, reports);
        /* One chunk at a time, so queued requests are handled between chunks. */
        if (replay_due(w))
            replay_paced(w);
    }
    /* Drain what the spool holds before exiting, while the database takes it. */
    while (w->index == 0 && spool_pending(b) > 0 && replay_round(w) == ERR_OK)
        ;
    return NULL;
}

/* Merge the rollup rows that commits queued; the requests were answered already. Runs after
 * commits, and every second for what other nodes or an earlier run left queued. */
static void *flusher_main(void *arg)
{
    struct batcher *b = arg;
    struct writer *w = &b->flusher;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        if (!b->flush_wanted && !b->flush_stop) {
            struct timespec ts;
            deadline_in(&ts, 1000);
            pthread_cond_timedwait(&b->flush_cond, &b->lock, &ts);
        }
        /* Let several commits' rows gather: each group's rollup rows are then updated once
         * for all of them. Reads never wait for this, they merge what is queued. */
        struct timespec gather;
        deadline_in(&gather, FLUSH_GATHER_MS);
        while (!b->flush_stop &&
               pthread_cond_timedwait(&b->flush_cond, &b->lock, &gather) != ETIMEDOUT)
            ;
        bool last = b->flush_stop;
        b->flush_wanted = false;
        pthread_mutex_unlock(&b->lock);
        PGconn *conn = writer_conn(w);
        struct err e = {0};
        if (conn != NULL && db_exec(conn, "SELECT pinwatch_rollups_flush()", &e) != ERR_OK)
            log_warn("rollups: merging queued rows failed (retried): %s", e.detail);
        pthread_mutex_lock(&b->lock);
        if (last)
            break;
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

enum err_code batcher_start(const struct config *cfg, struct store *st, struct spool *sp,
                            struct batcher **out, struct err *err)
{
    struct batcher *b = calloc(1, sizeof(*b));
    unsigned n = cfg->writers > 0 ? cfg->writers : 1;
    if (b == NULL || (b->writers = calloc(n, sizeof(*b->writers))) == NULL) {
        free(b);
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    }
    b->cfg = cfg;
    b->st = st;
    b->sp = sp;
    b->n_writers = n;
    pthread_mutex_init(&b->lock, NULL);
    pthread_mutex_init(&b->spool_lock, NULL);
    pthread_cond_init(&b->work, NULL);
    pthread_cond_init(&b->flush_cond, NULL);
    b->flusher.b = b;
    b->flusher.index = n; /* never replays */
    if (pthread_create(&b->flusher.thread, NULL, flusher_main, b) != 0) {
        batcher_stop(b);
        return err_set(err, ERR_INTERNAL, NULL, "cannot start the rollup flusher");
    }
    b->flusher.started = true;
    for (unsigned i = 0; i < n; i++) {
        struct writer *w = &b->writers[i];
        w->b = b;
        w->index = i;
        if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
            batcher_stop(b);
            return err_set(err, ERR_INTERNAL, NULL, "cannot start the writer threads");
        }
        w->started = true;
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
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->lock);
    for (unsigned i = 0; i < b->n_writers; i++) {
        if (b->writers[i].started)
            pthread_join(b->writers[i].thread, NULL);
        PQfinish(b->writers[i].conn);
    }
    /* After the last commit: one more merge, so a clean stop leaves nothing queued. */
    pthread_mutex_lock(&b->lock);
    b->flush_stop = true;
    pthread_cond_signal(&b->flush_cond);
    pthread_mutex_unlock(&b->lock);
    if (b->flusher.started)
        pthread_join(b->flusher.thread, NULL);
    PQfinish(b->flusher.conn);
    pthread_cond_destroy(&b->flush_cond);
    pthread_mutex_destroy(&b->lock);
    pthread_mutex_destroy(&b->spool_lock);
    pthread_cond_destroy(&b->work);
    free(b->writers);
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
              b->lat_hist, (double)__atomic_load_n(&b->lat_sum_us, __ATOMIC_RELAXED) / 1e6);
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
            "# TYPE pinwatch_spool_bytes gauge\npinwatch_spool_bytes %llu\n"
            "# HELP pinwatch_spool_quarantined_units_total Spooled units moved to the quarantine "
            "by this process.\n"
            "# TYPE pinwatch_spool_quarantined_units_total counter\n"
            "pinwatch_spool_quarantined_units_total %llu\n"
            "# HELP pinwatch_spool_quarantine_units Units kept in the quarantine file.\n"
            "# TYPE pinwatch_spool_quarantine_units gauge\npinwatch_spool_quarantine_units %llu\n",
            (unsigned long long)__atomic_load_n(&b->db_errors, __ATOMIC_RELAXED),
            batcher_db_down(b) ? 0 : 1,
            (unsigned long long)__atomic_load_n(&b->spooled_units, __ATOMIC_RELAXED),
            (unsigned long long)__atomic_load_n(&b->replayed_units, __ATOMIC_RELAXED),
            (unsigned long long)spool_pending_units(b->sp),
            (unsigned long long)spool_pending_bytes(b->sp),
            (unsigned long long)__atomic_load_n(&b->quarantined_units, __ATOMIC_RELAXED),
            (unsigned long long)spool_quarantined_units(b->sp));
}
