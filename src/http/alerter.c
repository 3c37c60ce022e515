#include "http/alerter.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analysis/alert_rules.h"
#include "analysis/groups.h"
#include "base/log.h"
#include "base/timeparse.h"
#include "base/uuid.h"
#include "db/db.h"
#include "http/webhook.h"
#include "store/outbox.h"
#include "store/retention.h"
#include "store/spool.h"

#define LEASE_S     120 /* longer than any try: PINWATCH_ALERT_TIMEOUT is at most 120 s */
#define CLAIM_BATCH 10

static const char *const verdicts[3] = {"interception", "misconfiguration", "undetermined"};

struct gauge {
    long long groups, devices, reports;
};

/* ingest_degraded while the database is away: the alert lives here until it is sent directly
 * and, once the database is back, recorded. */
struct direct_alert {
    bool active;
    char id[UUID_STR_LEN];
    int64_t fired_usec;
    char state[32];
    char summary[256];
    json_t *object;
    char *body;
    bool delivered;
    int attempts;
    int64_t next_try; /* monotonic seconds */
};

struct alerter {
    const struct config *cfg;
    struct spool *spool;
    struct expected_keys *ek;
    char node[160];
    char health_subject[200];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;
    bool rules_dirty;
    /* under lock: what /metrics shows */
    struct gauge gauges[3];
    long long outbox_pending;
    unsigned long long fired[ALERT_N_RULES + 1]; /* + test */
    unsigned long long delivered, failed_tries, eval_errors;
    int64_t last_eval;
    struct retention_stats ret;
    /* thread only */
    struct alert_rules rules;
    int64_t db_down_since, spool_since; /* monotonic seconds, 0 = fine */
    bool degraded_fired;
    struct direct_alert direct;
};

static int64_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

static int64_t real_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool webhook_on(const struct alerter *al)
{
    return al->cfg->alert_webhook_url != NULL && al->cfg->alert_webhook_url[0] != '\0';
}

/* The base of the links in alerts: PINWATCH_PUBLIC_URL, else the listen address. */
static const char *base_url(const struct alerter *al, char *buf, size_t size)
{
    if (al->cfg->public_url != NULL && al->cfg->public_url[0] != '\0')
        return al->cfg->public_url;
    snprintf(buf, size, "http://%s", al->cfg->listen);
    return buf;
}

/* Post every due delivery (or only id), each claimed first so no other node posts it too. */

/* One delivery try, for /metrics. */
static void count_try(struct alerter *al, bool ok)
{
    pthread_mutex_lock(&al->lock);
    if (ok)
        al->delivered++;
    else
        al->failed_tries++;
    pthread_mutex_unlock(&al->lock);
}
static enum err_code deliver_due(struct alerter *al, PGconn *conn, const char *id, struct err *err)
{
    if (!webhook_on(al))
        return ERR_OK;
    for (;;) {
        struct outbox_item *items = NULL;
        size_t n = 0;
        enum err_code rc = outbox_claim(conn, al->node, LEASE_S, CLAIM_BATCH, id, &items, &n, err);
        for (size_t i = 0; rc == ERR_OK && i < n; i++) {
            struct webhook_result wr;
            struct err we = {0};
            bool ok = webhook_post(al->cfg->alert_webhook_url, al->cfg->alert_webhook_secret,
                                   items[i].payload, strlen(items[i].payload),
                                   al->cfg->alert_timeout, &wr, &we) == ERR_OK;
            if (!ok)
                log_warn("alerts: delivery of %s (try %d) failed: %s", items[i].id,
                         items[i].attempts, wr.error[0] ? wr.error : we.detail);
            rc = outbox_finish(conn, al->node, items[i].id, ok, wr.status, ok ? NULL : wr.error,
                               err);
            count_try(al, ok);
        }
        outbox_items_free(items, n);
        if (rc != ERR_OK || n < CLAIM_BATCH || id != NULL)
            return rc;
    }
}

static void count_fired(struct alerter *al, int rule)
{
    pthread_mutex_lock(&al->lock);
    al->fired[rule]++;
    pthread_mutex_unlock(&al->lock);
}

static enum err_code fire_candidates(struct alerter *al, PGconn *conn,
                                     const struct alert_candidates *c, struct err *err)
{
    char buf[300];
    const char *base = base_url(al, buf, sizeof(buf));
    enum err_code rc = ERR_OK;
    for (size_t i = 0; rc == ERR_OK && i < c->n; i++) {
        const struct alert_candidate *k = &c->items[i];
        struct outbox_alert a = {alert_rule_name(k->rule),
                                 k->subject,
                                 k->state,
                                 k->summary,
                                 k->route,
                                 k->key,
                                 k->object};
        bool fired = false;
        char id[UUID_STR_LEN];
        rc = outbox_fire(conn, &a, base, webhook_on(al), &fired, id, err);
        if (rc == ERR_OK && fired) {
            log_info("alerts: %s fired (%s): %s", a.rule, id, a.summary);
            count_fired(al, (int)k->rule);
        }
    }
    return rc;
}

static const char GAUGES_SQL[] = "SELECT * FROM pinwatch_alert_gauges()";

static enum err_code refresh_gauges(struct alerter *al, PGconn *conn, struct err *err)
{
    PGresult *res = PQexec(conn, GAUGES_SQL);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 3) {
        enum err_code rc = db_result_error(conn, res, "alert gauges", err);
        PQclear(res);
        return rc;
    }
    long long pending = 0;
    enum err_code rc = outbox_pending(conn, &pending, err);
    pthread_mutex_lock(&al->lock);
    for (int i = 0; i < 3; i++) {
        al->gauges[i].groups = atoll(PQgetvalue(res, i, 1));
        al->gauges[i].devices = atoll(PQgetvalue(res, i, 2));
        al->gauges[i].reports = atoll(PQgetvalue(res, i, 3));
    }
    if (rc == ERR_OK)
        al->outbox_pending = pending;
    al->last_eval = real_usec() / 1000000;
    pthread_mutex_unlock(&al->lock);
    PQclear(res);
    return rc;
}

/* One evaluation: verdicts brought up to date (which also merges queued rollups), rules, the
 * gauges. Rules under an advisory lock so that nodes take turns rather than race. */
static enum err_code evaluate(struct alerter *al, PGconn *conn, struct err *err)
{
    int64_t t0 = real_usec();
    enum err_code rc = alert_rules_load(conn, &al->rules, err);
    if (rc == ERR_OK)
        rc = groups_evaluate(conn, al->ek, false, 1000, NULL, err);
    PGresult *res = NULL;
    if (rc == ERR_OK) {
        res = PQexec(conn, "SELECT pg_try_advisory_lock(1885957751, 1)");
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            rc = db_result_error(conn, res, "alert lock", err);
    }
    bool locked = rc == ERR_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    struct alert_candidates c = {0};
    if (locked) {
        rc = alert_rules_evaluate(conn, &al->rules, &c, err);
        if (rc == ERR_OK)
            rc = fire_candidates(al, conn, &c, err);
        res = PQexec(conn, "SELECT pg_advisory_unlock(1885957751, 1)");
        PQclear(res);
    }
    size_t n = c.n;
    alert_candidates_cleanup(&c);
    if (rc == ERR_OK)
        rc = refresh_gauges(al, conn, err);
    log_debug("alerts: evaluation in %lld ms (%s), %zu candidates",
              (long long)(real_usec() - t0) / 1000,
              locked ? "rules and gauges" : "gauges, another node had the rules", n);
    return rc;
}

static void direct_try(struct alerter *al, int64_t now)
{
    struct direct_alert *d = &al->direct;
    if (d->delivered || now < d->next_try || !webhook_on(al))
        return;
    struct webhook_result wr;
    struct err e = {0};
    bool ok = webhook_post(al->cfg->alert_webhook_url, al->cfg->alert_webhook_secret, d->body,
                           strlen(d->body), al->cfg->alert_timeout, &wr, &e) == ERR_OK;
    d->attempts++;
    count_try(al, ok);
    if (ok) {
        d->delivered = true;
        return;
    }
    int shift = d->attempts - 1 < 10 ? d->attempts - 1 : 10;
    int64_t wait = (int64_t)5 << shift;
    d->next_try = now + (wait < 3600 ? wait : 3600);
    log_warn("alerts: direct delivery of %s failed: %s", d->id, wr.error[0] ? wr.error : e.detail);
}

/* The direct alert goes into the tables once the database is back (queued when it was not
 * delivered meanwhile, so the outbox takes over). */
static void direct_record(struct alerter *al, PGconn *conn)
{
    struct direct_alert *d = &al->direct;
    struct outbox_alert a = {"ingest_degraded", al->health_subject, d->state, d->summary, "/",
                             "health",          d->object};
    struct err e = {0};
    if (outbox_record(conn, &a, d->id, d->fired_usec, d->body, d->delivered, &e) != ERR_OK) {
        log_warn("alerts: cannot record %s yet: %s", d->id, e.detail);
        return;
    }
    json_decref(d->object);
    free(d->body);
    memset(d, 0, sizeof(*d));
}

static void fire_health(struct alerter *al, PGconn *conn, const char *cond, int64_t secs,
                        int64_t now)
{
    unsigned long long units = (unsigned long long)spool_pending_units(al->spool);
    char summary[256];
    if (strcmp(cond, "database_unreachable") == 0)
        snprintf(summary, sizeof(summary),
                 "Ingest degraded on %s: PostgreSQL unreachable for %lld s, %llu units in the "
                 "spool.",
                 al->node, (long long)secs, units);
    else
        snprintf(summary, sizeof(summary),
                 "Ingest degraded on %s: the spool has not drained for %lld s (%llu units).",
                 al->node, (long long)secs, units);
    json_t *obj = json_pack("{s:s, s:s, s:I, s:I}", "condition", cond, "node", al->node,
                            "for_seconds", (json_int_t)secs, "spooled", (json_int_t)units);
    char buf[300];
    struct outbox_alert a = {
        "ingest_degraded", al->health_subject, cond, summary, "/", "health", obj};
    struct err e = {0};
    bool fired = false;
    if (conn != NULL && outbox_fire(conn, &a, base_url(al, buf, sizeof(buf)), webhook_on(al),
                                    &fired, NULL, &e) == ERR_OK) {
        if (fired)
            count_fired(al, ALERT_INGEST_DEGRADED);
        json_decref(obj);
        return;
    }
    if (al->direct.active) { /* one held at a time: the older one is still to be recorded */
        json_decref(obj);
        return;
    }
    struct direct_alert *d = &al->direct;
    d->fired_usec = real_usec();
    if (!uuid_v7(d->fired_usec, d->id)) {
        json_decref(obj);
        return;
    }
    d->active = true;
    snprintf(d->state, sizeof(d->state), "%s", cond);
    snprintf(d->summary, sizeof(d->summary), "%s", summary);
    d->object = obj;
    d->body = outbox_body(&a, d->id, d->fired_usec, base_url(al, buf, sizeof(buf)));
    d->next_try = now;
    count_fired(al, ALERT_INGEST_DEGRADED);
    log_warn("alerts: %s", summary);
}

static void health_rearm(struct alerter *al, PGconn *conn)
{
    const char *p[1] = {al->health_subject};
    PGresult *res = PQexecParams(conn,
                                 "UPDATE alert_subjects SET state = 'clear', updated_at = now()"
                                 " WHERE subject = $1 AND state <> 'clear'",
                                 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_COMMAND_OK)
        al->degraded_fired = false;
    PQclear(res);
}

/* ingest_degraded from process state: this node's database connection and spool. */
static void health_tick(struct alerter *al, PGconn *conn, int64_t now)
{
    bool spooled = spool_pending_units(al->spool) > 0;
    al->db_down_since = conn != NULL ? 0 : al->db_down_since ? al->db_down_since : now;
    al->spool_since = !spooled ? 0 : al->spool_since ? al->spool_since : now;
    int64_t limit = (int64_t)alert_rules_param(&al->rules, ALERT_INGEST_DEGRADED, "for_seconds");
    const char *cond = NULL;
    int64_t since = 0;
    if (al->db_down_since != 0 && now - al->db_down_since >= limit) {
        cond = "database_unreachable";
        since = al->db_down_since;
    } else if (al->spool_since != 0 && now - al->spool_since >= limit) {
        cond = "spool_not_drained";
        since = al->spool_since;
    }
    if (cond != NULL && !al->degraded_fired && al->rules.enabled[ALERT_INGEST_DEGRADED]) {
        al->degraded_fired = true;
        fire_health(al, conn, cond, now - since, now);
    } else if (cond == NULL && conn != NULL && al->degraded_fired) {
        health_rearm(al, conn);
    }
    if (al->direct.active) {
        direct_try(al, now);
        if (conn != NULL)
            direct_record(al, conn);
    }
}

static bool wait_tick(struct alerter *al)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_mutex_lock(&al->lock);
    if (!al->stopping)
        pthread_cond_timedwait(&al->cond, &al->lock, &ts);
    bool go = !al->stopping;
    pthread_mutex_unlock(&al->lock);
    return go;
}

static void *alerter_main(void *arg)
{
    struct alerter *al = arg;
    PGconn *conn = NULL;
    int64_t next_eval = mono_s() + 1, next_retention = mono_s() + 2;
    bool rearmed = false;
    alert_rules_defaults(&al->rules);
    while (wait_tick(al)) {
        struct err e = {0};
        if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
            PQfinish(conn);
            if (db_connect(al->cfg->database_url, &conn, &e) != ERR_OK)
                conn = NULL;
        }
        bool db_ok = conn != NULL;
        if (db_ok && deliver_due(al, conn, NULL, &e) != ERR_OK) {
            log_warn("alerts: outbox: %s", e.detail);
            db_ok = PQstatus(conn) == CONNECTION_OK;
        }
        int64_t now = mono_s();
        pthread_mutex_lock(&al->lock);
        bool dirty = al->rules_dirty;
        al->rules_dirty = false;
        pthread_mutex_unlock(&al->lock);
        if (db_ok && (now >= next_eval || dirty)) {
            next_eval = now + al->cfg->alert_interval;
            if (evaluate(al, conn, &e) != ERR_OK) {
                log_warn("alerts: evaluation: %s", e.detail);
                pthread_mutex_lock(&al->lock);
                al->eval_errors++;
                pthread_mutex_unlock(&al->lock);
            }
        }
        if (db_ok && al->cfg->retention_days > 0 && now >= next_retention) {
            next_retention = now + al->cfg->retention_interval;
            struct retention_stats st;
            pthread_mutex_lock(&al->lock);
            st = al->ret;
            pthread_mutex_unlock(&al->lock);
            if (retention_run(conn, al->cfg->retention_days, &st, &e) != ERR_OK)
                log_warn("retention: %s", e.detail);
            pthread_mutex_lock(&al->lock);
            al->ret = st;
            pthread_mutex_unlock(&al->lock);
        }
        if (db_ok && !rearmed) { /* an episode before a restart must not mute the next */
            health_rearm(al, conn);
            rearmed = true;
        }
        health_tick(al, db_ok ? conn : NULL, now);
    }
    PQfinish(conn);
    return NULL;
}

enum err_code alerter_start(const struct config *cfg, struct spool *spool, struct expected_keys *ek,
                            struct alerter **out, struct err *err)
{
    struct alerter *al = calloc(1, sizeof(*al));
    if (al == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    al->cfg = cfg;
    al->spool = spool;
    al->ek = ek;
    char host[64] = "node";
    gethostname(host, sizeof(host) - 1);
    char rnd[UUID_STR_LEN];
    if (!uuid_v7(real_usec(), rnd))
        snprintf(rnd, sizeof(rnd), "0");
    snprintf(al->node, sizeof(al->node), "%s:%ld:%.8s", host, (long)getpid(), rnd + 28);
    snprintf(al->health_subject, sizeof(al->health_subject), "health:%s:%s", host, cfg->listen);
    pthread_mutex_init(&al->lock, NULL);
    pthread_cond_init(&al->cond, NULL);
    if (pthread_create(&al->thread, NULL, alerter_main, al) != 0) {
        pthread_mutex_destroy(&al->lock);
        pthread_cond_destroy(&al->cond);
        free(al);
        return err_set(err, ERR_INTERNAL, NULL, "cannot start the alerter thread");
    }
    *out = al;
    return ERR_OK;
}

void alerter_stop(struct alerter *al)
{
    if (al == NULL)
        return;
    pthread_mutex_lock(&al->lock);
    al->stopping = true;
    pthread_cond_signal(&al->cond);
    pthread_mutex_unlock(&al->lock);
    pthread_join(al->thread, NULL);
    pthread_mutex_destroy(&al->lock);
    pthread_cond_destroy(&al->cond);
    json_decref(al->direct.object);
    free(al->direct.body);
    free(al);
}

void alerter_rules_changed(struct alerter *al)
{
    pthread_mutex_lock(&al->lock);
    al->rules_dirty = true;
    pthread_cond_signal(&al->cond);
    pthread_mutex_unlock(&al->lock);
}

enum err_code alerter_send_test(struct alerter *al, PGconn *conn, json_t **out, struct err *err)
{
    if (!webhook_on(al))
        return err_set(err, ERR_CONFLICT, "webhook_not_configured",
                       "set PINWATCH_ALERT_WEBHOOK_URL and PINWATCH_ALERT_WEBHOOK_SECRET first");
    char subject[80], uid[UUID_STR_LEN], buf[300], id[UUID_STR_LEN];
    if (!uuid_v7(real_usec(), uid))
        return err_set(err, ERR_INTERNAL, NULL, "cannot make an id");
    snprintf(subject, sizeof(subject), "test:%s", uid);
    json_t *obj = json_pack("{s:s}", "node", al->node);
    struct outbox_alert a = {
        "test", subject, "sent", "Test alert from pinwatch: the webhook is reachable and signed.",
        "/",    "test",  obj};
    bool fired = false;
    enum err_code rc = outbox_fire(conn, &a, base_url(al, buf, sizeof(buf)), true, &fired, id, err);
    json_decref(obj);
    if (rc == ERR_OK)
        count_fired(al, ALERT_N_RULES);
    if (rc == ERR_OK)
        rc = deliver_due(al, conn, id, err);
    json_t *delivery = NULL;
    if (rc == ERR_OK)
        rc = outbox_delivery(conn, id, &delivery, err);
    if (rc == ERR_OK)
        *out = json_pack("{s:s, s:o}", "id", id, "delivery", delivery);
    return rc;
}

void alerter_metrics(struct alerter *al, FILE *out)
{
    if (al == NULL)
        return;
    pthread_mutex_lock(&al->lock);
    static const char *const help[3][2] = {
        {"pinwatch_failing_groups", "Groups with reports in this clock hour or the one before"},
        {"pinwatch_failing_devices", "Distinct devices reporting in this clock hour or the one "
                                     "before"},
        {"pinwatch_failing_reports_last_hour", "Reports received in this clock hour or the one "
                                               "before"},
    };
    for (int m = 0; m < 3; m++) {
        fprintf(out,
                "# HELP %s %s, by current verdict (from the rollups, as of the last alert "
                "evaluation).\n# TYPE %s gauge\n",
                help[m][0], help[m][1], help[m][0]);
        for (int v = 0; v < 3; v++) {
            const struct gauge *g = &al->gauges[v];
            fprintf(out, "%s{verdict=\"%s\"} %lld\n", help[m][0], verdicts[v],
                    m == 0   ? g->groups
                    : m == 1 ? g->devices
                             : g->reports);
        }
    }
    fprintf(out, "# HELP pinwatch_alerts_fired_total Alerts fired by this node, by rule.\n"
                 "# TYPE pinwatch_alerts_fired_total counter\n");
    for (int r = 0; r <= ALERT_N_RULES; r++)
        fprintf(out, "pinwatch_alerts_fired_total{rule=\"%s\"} %llu\n",
                alert_rule_name((enum alert_rule)r), al->fired[r]);
    fprintf(out,
            "# HELP pinwatch_alert_deliveries_total Webhook tries by this node, by result.\n"
            "# TYPE pinwatch_alert_deliveries_total counter\n"
            "pinwatch_alert_deliveries_total{result=\"delivered\"} %llu\n"
            "pinwatch_alert_deliveries_total{result=\"failed\"} %llu\n"
            "# HELP pinwatch_alert_outbox_pending Alerts waiting for delivery (every node).\n"
            "# TYPE pinwatch_alert_outbox_pending gauge\n"
            "pinwatch_alert_outbox_pending %lld\n"
            "# HELP pinwatch_alert_evaluation_errors_total Rule evaluations that failed.\n"
            "# TYPE pinwatch_alert_evaluation_errors_total counter\n"
            "pinwatch_alert_evaluation_errors_total %llu\n"
            "# HELP pinwatch_alert_last_evaluation_timestamp_seconds End of the last evaluation.\n"
            "# TYPE pinwatch_alert_last_evaluation_timestamp_seconds gauge\n"
            "pinwatch_alert_last_evaluation_timestamp_seconds %lld\n",
            al->delivered, al->failed_tries, al->outbox_pending, al->eval_errors,
            (long long)al->last_eval);
    const struct retention_stats *s = &al->ret;
    fprintf(out,
            "# HELP pinwatch_retention_runs_total Retention runs finished by this node.\n"
            "# TYPE pinwatch_retention_runs_total counter\n"
            "pinwatch_retention_runs_total %llu\n"
            "# HELP pinwatch_retention_dropped_total What retention dropped, by kind.\n"
            "# TYPE pinwatch_retention_dropped_total counter\n"
            "pinwatch_retention_dropped_total{kind=\"partitions\"} %llu\n"
            "pinwatch_retention_dropped_total{kind=\"reports\"} %llu\n"
            "pinwatch_retention_dropped_total{kind=\"raw_bodies\"} %llu\n"
            "pinwatch_retention_dropped_total{kind=\"chains\"} %llu\n"
            "pinwatch_retention_dropped_total{kind=\"certificates\"} %llu\n"
            "pinwatch_retention_dropped_total{kind=\"fragments\"} %llu\n"
            "# HELP pinwatch_retention_last_run_timestamp_seconds End of the last retention run.\n"
            "# TYPE pinwatch_retention_last_run_timestamp_seconds gauge\n"
            "pinwatch_retention_last_run_timestamp_seconds %lld\n",
            s->runs, s->partitions, s->reports, s->raw_bodies, s->chains, s->certificates,
            s->fragments, (long long)s->last_run);
    pthread_mutex_unlock(&al->lock);
}
