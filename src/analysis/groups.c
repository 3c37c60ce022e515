#include "analysis/groups.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/analysis.h"
#include "analysis/chain.h"
#include "analysis/expected_keys.h"
#include "analysis/keys_store.h"
#include "analysis/verdict.h"
#include "base/buf.h"
#include "base/json_text.h"
#include "base/log.h"
#include "db/db.h"
#include "base/codec.h"

/* The columns of pinwatch_groups_evidence (sql/functions/65_verdicts.sql) that the verdict
 * reads, by name. */
enum ev_col {
    EV_ID,
    EV_APP,
    EV_HOSTNAME,
    EV_HAS_CHAIN,
    EV_ANCHOR_PUBLIC,
    EV_ANCHOR_SUBJECT,
    EV_KNOWN_HOSTILE,
    EV_HOSTILE_NAME,
    EV_HOSTILE_CATEGORY,
    EV_CATALOG_PRODUCT,
    EV_CATALOG_CATEGORY,
    EV_WEAK,
    EV_EXPECTED_KEY_SEEN,
    EV_VERSION,
    EV_REPORTS,
    EV_DEVICES,
    EV_NETWORKS,
    EV_VERSIONS,
    EV_TOP_NETWORK_REPORTS,
    EV_PIN_IN_CHAIN,
    EV_LEAF_EXPECTED,
    EV_NOT_COVERING,
    EV_INVALID_AT_TIME,
    EV_UNLINKED,
    EV_RESULT_UNTRUSTED,
    EV_PINS_EXPIRED,
    EV_CLOCK_SKEW,
    EV_APP_VERSIONS,
    EV_APP_NETWORKS,
    EV_TOP_VERSION,
    EV_CHAIN_ANALYSIS,
    EV_NEL_TYPES,
    EV_REPORT_ONLY,
    EV_REPORT_ONLY_DEVICES,
    EV_N
};
static const char *const ev_names[EV_N] = {
    [EV_ID] = "id",
    [EV_APP] = "app",
    [EV_HOSTNAME] = "hostname",
    [EV_HAS_CHAIN] = "has_chain",
    [EV_ANCHOR_PUBLIC] = "anchor_public",
    [EV_ANCHOR_SUBJECT] = "anchor_subject",
    [EV_KNOWN_HOSTILE] = "known_hostile",
    [EV_HOSTILE_NAME] = "hostile_name",
    [EV_HOSTILE_CATEGORY] = "hostile_category",
    [EV_CATALOG_PRODUCT] = "catalog_product",
    [EV_CATALOG_CATEGORY] = "catalog_category",
    [EV_WEAK] = "weak",
    [EV_EXPECTED_KEY_SEEN] = "expected_key_seen",
    [EV_VERSION] = "version",
    [EV_REPORTS] = "reports",
    [EV_DEVICES] = "devices",
    [EV_NETWORKS] = "networks",
    [EV_VERSIONS] = "versions",
    [EV_TOP_NETWORK_REPORTS] = "top_network_reports",
    [EV_PIN_IN_CHAIN] = "pin_in_chain",
    [EV_LEAF_EXPECTED] = "leaf_expected",
    [EV_NOT_COVERING] = "not_covering",
    [EV_INVALID_AT_TIME] = "invalid_at_time",
    [EV_UNLINKED] = "unlinked",
    [EV_RESULT_UNTRUSTED] = "result_untrusted",
    [EV_PINS_EXPIRED] = "pins_expired",
    [EV_CLOCK_SKEW] = "clock_skew",
    [EV_APP_VERSIONS] = "app_versions",
    [EV_APP_NETWORKS] = "app_networks",
    [EV_TOP_VERSION] = "top_version",
    [EV_CHAIN_ANALYSIS] = "chain_analysis",
    [EV_NEL_TYPES] = "nel_types",
    [EV_REPORT_ONLY] = "report_only",
    [EV_REPORT_ONLY_DEVICES] = "report_only_devices",
};

static const char UPDATE_SQL[] =
    "UPDATE groups SET verdict = $2, kind = $3, product = $4, reasons = $5::jsonb,"
    " evaluated_version = greatest(evaluated_version, $6::bigint), evaluated_at = now()"
    " WHERE id = $1";

static uint64_t u64(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoull(PQgetvalue(res, row, col), NULL, 10);
}

static const char *str_or_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static unsigned weak_bits(const char *list)
{
    unsigned bits = 0;
    for (unsigned bit = 1; list != NULL && bit != 0 && bit <= CHAIN_WEAK_ALL; bit <<= 1) {
        const char *name = chain_weak_name(bit);
        if (name != NULL && strstr(list, name) != NULL)
            bits |= bit;
    }
    return bits;
}

static bool flag(const PGresult *res, int row, int col)
{
    return PQgetvalue(res, row, col)[0] == 't';
}

/* The anchor's legacy status and the appended-tail finding from a chain's findings JSON;
 * day (11 bytes) receives the removal day that ev->legacy_removed then points to. */
static void chain_evidence(const char *analysis, struct verdict_evidence *ev, char day[11])
{
    json_t *j = analysis != NULL ? json_loads(analysis, 0, NULL) : NULL;
    json_t *anchor = json_object_get(j, "anchor");
    ev->anchor_legacy = json_is_true(json_object_get(anchor, "legacy"));
    ev->unlinked_public_tail = json_is_true(json_object_get(j, "unlinked_public_tail"));
    const char *removed = json_string_value(json_object_get(anchor, "legacy_removed"));
    if (ev->anchor_legacy && removed != NULL && strlen(removed) == 10) {
        memcpy(day, removed, 11);
        ev->legacy_removed = day;
    }
    json_decref(j);
}

/* "type n,type n,..." (most frequent first) into the dominant type, its count and the sample
 * size; type (64 bytes) receives the type that ev->nel_type then points to. */
static void nel_evidence(const char *list, struct verdict_evidence *ev, char type[64])
{
    for (const char *p = list; p != NULL && *p != '\0';) {
        size_t len = strcspn(p, ",");
        const char *sp = memchr(p, ' ', len);
        if (sp != NULL) {
            uint64_t n = strtoull(sp + 1, NULL, 10);
            if (ev->nel_type == NULL && (size_t)(sp - p) < 64) {
                memcpy(type, p, (size_t)(sp - p));
                type[sp - p] = '\0';
                ev->nel_type = type;
                ev->nel_type_reports = n;
            }
            ev->nel_sampled += n;
        }
        p += len;
        if (*p == ',')
            p++;
    }
}

static void fill_evidence(const PGresult *res, int i, const int *c, const struct expected_keys *ek,
                          struct verdict_evidence *ev, char day[11], char type[64])
{
    memset(ev, 0, sizeof(*ev));
    ev->app = PQgetvalue(res, i, c[EV_APP]);
    ev->hostname = PQgetvalue(res, i, c[EV_HOSTNAME]);
    ev->has_chain = flag(res, i, c[EV_HAS_CHAIN]);
    ev->anchor_public = flag(res, i, c[EV_ANCHOR_PUBLIC]);
    ev->anchor_subject = str_or_null(res, i, c[EV_ANCHOR_SUBJECT]);
    ev->known_hostile = flag(res, i, c[EV_KNOWN_HOSTILE]);
    ev->hostile_name = str_or_null(res, i, c[EV_HOSTILE_NAME]);
    ev->hostile_category = str_or_null(res, i, c[EV_HOSTILE_CATEGORY]);
    ev->catalog_product = str_or_null(res, i, c[EV_CATALOG_PRODUCT]);
    ev->catalog_category = str_or_null(res, i, c[EV_CATALOG_CATEGORY]);
    ev->weak = weak_bits(str_or_null(res, i, c[EV_WEAK]));
    ev->expected_key_seen = flag(res, i, c[EV_EXPECTED_KEY_SEEN]);
    ev->host_has_expected_keys = expected_keys_has_host(ek, ev->hostname);
    ev->reports = u64(res, i, c[EV_REPORTS]);
    ev->devices = u64(res, i, c[EV_DEVICES]);
    ev->networks = u64(res, i, c[EV_NETWORKS]);
    ev->versions = u64(res, i, c[EV_VERSIONS]);
    ev->top_network_reports = u64(res, i, c[EV_TOP_NETWORK_REPORTS]);
    ev->pin_in_chain = u64(res, i, c[EV_PIN_IN_CHAIN]);
    ev->leaf_expected = u64(res, i, c[EV_LEAF_EXPECTED]);
    ev->not_covering = u64(res, i, c[EV_NOT_COVERING]);
    ev->invalid_at_time = u64(res, i, c[EV_INVALID_AT_TIME]);
    /* One odd chain must not make a whole group "broken": unlinked must hold for a majority,
     * like the other per-report findings. */
    ev->linked =
        u64(res, i, c[EV_UNLINKED]) * 100 < ev->reports * VERDICT_MAJORITY_PCT || ev->reports == 0;
    ev->result_untrusted = u64(res, i, c[EV_RESULT_UNTRUSTED]);
    ev->pins_expired = u64(res, i, c[EV_PINS_EXPIRED]);
    ev->clock_skew = u64(res, i, c[EV_CLOCK_SKEW]);
    ev->app_versions = u64(res, i, c[EV_APP_VERSIONS]);
    ev->app_networks = u64(res, i, c[EV_APP_NETWORKS]);
    ev->top_version = str_or_null(res, i, c[EV_TOP_VERSION]);
    chain_evidence(str_or_null(res, i, c[EV_CHAIN_ANALYSIS]), ev, day);
    nel_evidence(str_or_null(res, i, c[EV_NEL_TYPES]), ev, type);
    ev->report_only = u64(res, i, c[EV_REPORT_ONLY]);
    ev->report_only_devices = u64(res, i, c[EV_REPORT_ONLY_DEVICES]);
}

static enum err_code store_verdict(PGconn *conn, const char *id, const char *version,
                                   const struct verdict_result *vr, struct err *err)
{
    char *reasons = json_text_dump(vr->reasons);
    if (reasons == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    const char *params[] = {id, verdict_name(vr->verdict), vr->kind, vr->product, reasons, version};
    PGresult *res = PQexecParams(conn, UPDATE_SQL, 6, NULL, params, NULL, NULL, 0);
    enum err_code rc = ERR_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = db_result_error(conn, res, "storing a verdict", err);
    PQclear(res);
    free(reasons);
    return rc;
}

enum err_code groups_evaluate(PGconn *conn, const struct expected_keys *ek, bool all, unsigned max,
                              unsigned *n, struct err *err)
{
    char limit[16];
    snprintf(limit, sizeof(limit), "%u", max);
    const char *params[] = {all ? "true" : "false", limit};
    PGresult *res = NULL;
    unsigned done = 0;
    /* Rollup rows queued by commits are merged first: the evidence (and every read after this
     * call) includes every acknowledged report. */
    enum err_code rc = db_exec(conn, "SELECT pinwatch_rollups_flush()", err);
    if (rc != ERR_OK)
        goto out;
    res = PQexecParams(conn, "SELECT * FROM pinwatch_groups_evidence($1::boolean, $2::int)", 2,
                       NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = db_result_error(conn, res, "gathering group evidence", err);
        goto out;
    }
    int c[EV_N];
    if ((rc = db_columns(res, ev_names, EV_N, c, err)) != ERR_OK)
        goto out;
    for (int i = 0; rc == ERR_OK && i < PQntuples(res); i++) {
        struct verdict_evidence ev;
        char day[11], type[64];
        fill_evidence(res, i, c, ek, &ev, day, type);
        struct verdict_result vr;
        verdict_decide(&ev, &vr);
        rc = store_verdict(conn, PQgetvalue(res, i, c[EV_ID]), PQgetvalue(res, i, c[EV_VERSION]),
                           &vr, err);
        verdict_result_cleanup(&vr);
        done++;
    }
out:
    PQclear(res);
    if (n != NULL)
        *n = done;
    return rc;
}

#define KEYS_REFRESH_ROUNDS 5

struct groups_evaluator {
    const struct config *cfg;
    struct expected_keys *ek;
    char keys_fingerprint[33];
    unsigned interval_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;
};

static void *evaluator_main(void *arg)
{
    struct groups_evaluator *ev = arg;
    PGconn *conn = NULL;
    unsigned round = 0;
    pthread_mutex_lock(&ev->lock);
    while (!ev->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ev->interval_ms / 1000;
        ts.tv_nsec += (long)(ev->interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&ev->cond, &ev->lock, &ts);
        if (ev->stopping)
            break;
        pthread_mutex_unlock(&ev->lock);
        struct err e = {0};
        if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
            PQfinish(conn);
            conn = NULL;
            if (db_connect(ev->cfg->database_url, &conn, &e) != ERR_OK)
                conn = NULL;
        }
        unsigned n = 0;
        if (conn != NULL && ++round % KEYS_REFRESH_ROUNDS == 0 &&
            keys_store_load(conn, ev->ek, ev->keys_fingerprint, &e) != ERR_OK)
            log_warn("evaluator: expected keys: %s", e.detail);
        if (conn != NULL && groups_evaluate(conn, ev->ek, false, 500, &n, &e) != ERR_OK)
            log_warn("evaluator: %s", e.detail);
        pthread_mutex_lock(&ev->lock);
    }
    pthread_mutex_unlock(&ev->lock);
    PQfinish(conn);
    return NULL;
}

enum err_code groups_evaluator_start(const struct config *cfg, struct expected_keys *ek,
                                     unsigned interval_ms, struct groups_evaluator **out,
                                     struct err *err)
{
    struct groups_evaluator *ev = calloc(1, sizeof(*ev));
    if (ev == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    ev->cfg = cfg;
    ev->ek = ek;
    ev->interval_ms = interval_ms;
    pthread_mutex_init(&ev->lock, NULL);
    pthread_cond_init(&ev->cond, NULL);
    if (pthread_create(&ev->thread, NULL, evaluator_main, ev) != 0) {
        free(ev);
        return err_set(err, ERR_INTERNAL, NULL, "cannot start the evaluator thread");
    }
    *out = ev;
    return ERR_OK;
}

void groups_evaluator_stop(struct groups_evaluator *ev)
{
    if (ev == NULL)
        return;
    pthread_mutex_lock(&ev->lock);
    ev->stopping = true;
    pthread_cond_signal(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
    pthread_join(ev->thread, NULL);
    pthread_mutex_destroy(&ev->lock);
    pthread_cond_destroy(&ev->cond);
    free(ev);
}

/* The columns of pinwatch_rekey_candidates (sql/functions/65_verdicts.sql), by name. */
enum rk_col {
    RK_ID,
    RK_APP,
    RK_HOSTNAME,
    RK_ANCHOR,
    RK_GROUP,
    RK_CHAIN_SPKIS,
    RK_ANCHOR_SPKIS,
    RK_LEAF_SPKI,
    RK_EXPECTED,
    RK_LEAF_EXPECTED,
    RK_N
};
static const char *const rk_names[RK_N] = {
    [RK_ID] = "id",
    [RK_APP] = "app",
    [RK_HOSTNAME] = "hostname",
    [RK_ANCHOR] = "anchor_spki",
    [RK_GROUP] = "group_id",
    [RK_CHAIN_SPKIS] = "chain_spkis",
    [RK_ANCHOR_SPKIS] = "chain_anchor_spkis",
    [RK_LEAF_SPKI] = "leaf_spki",
    [RK_EXPECTED] = "expected_key",
    [RK_LEAF_EXPECTED] = "leaf_expected",
};

/* Postgres array literal of simple tokens (uuids, hex ids, booleans). */
static enum err_code array_add(struct buf *b, const char *item)
{
    return buf_printf(b, "%s%s", b->len > 1 ? "," : "", item);
}

static bool any_expected(const struct expected_keys *ek, const char *host, const char *list)
{
    for (const char *p = list; p != NULL && *p;) {
        uint8_t spki[32];
        char hex[65];
        snprintf(hex, sizeof(hex), "%.*s", (int)strcspn(p, ","), p);
        if (strlen(hex) == 64 && codec_hex_decode(hex, spki, 32, NULL) == ERR_OK &&
            expected_keys_match(ek, host, spki) != NULL)
            return true;
        p = strchr(p, ',');
        if (p != NULL)
            p++;
    }
    return false;
}

enum err_code groups_rekey(PGconn *conn, const struct expected_keys *ek, const char *pattern,
                           unsigned *moved, struct err *err)
{
    struct buf ids, gids, es, ls, olds, touched;
    buf_init(&ids, 0);
    buf_init(&gids, 0);
    buf_init(&es, 0);
    buf_init(&ls, 0);
    buf_init(&olds, 0);
    buf_init(&touched, 0);
    unsigned n = 0;
    PGresult *res = NULL;
    enum err_code rc = db_exec(conn, "BEGIN", err);
    if (rc != ERR_OK)
        goto out;
    /* New commits wait until this one is done, and their queued rollup rows are merged now. */
    if ((rc = db_exec(conn, "SELECT pinwatch_rollups_hold()", err)) != ERR_OK)
        goto rollback;
    const char *p1[] = {pattern};
    res = PQexecParams(conn, "SELECT * FROM pinwatch_rekey_candidates($1)", 1, NULL, p1, NULL, NULL,
                       0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = db_result_error(conn, res, "finding the host's reports", err);
        goto rollback;
    }
    int c[RK_N];
    if ((rc = db_columns(res, rk_names, RK_N, c, err)) != ERR_OK)
        goto rollback;
    struct buf *all[] = {&ids, &gids, &es, &ls, &olds, &touched};
    for (size_t k = 0; rc == ERR_OK && k < 6; k++)
        rc = buf_append_str(all[k], "{");
    for (int i = 0; rc == ERR_OK && i < PQntuples(res); i++) {
        const char *host = PQgetvalue(res, i, c[RK_HOSTNAME]);
        bool expected = any_expected(ek, host, PQgetvalue(res, i, c[RK_CHAIN_SPKIS])) ||
                        any_expected(ek, host, PQgetvalue(res, i, c[RK_ANCHOR_SPKIS]));
        bool leaf = any_expected(ek, host, PQgetvalue(res, i, c[RK_LEAF_SPKI]));
        uint8_t anchor[32];
        bool has_anchor =
            !PQgetisnull(res, i, c[RK_ANCHOR]) &&
            codec_hex_decode(PQgetvalue(res, i, c[RK_ANCHOR]), anchor, 32, NULL) == ERR_OK;
        char gid[33];
        analysis_group_id(PQgetvalue(res, i, c[RK_APP]), host, has_anchor ? anchor : NULL, expected,
                          gid);
        const char *old = PQgetvalue(res, i, c[RK_GROUP]);
        bool was_e = flag(res, i, c[RK_EXPECTED]), was_l = flag(res, i, c[RK_LEAF_EXPECTED]);
        if (strcmp(gid, old) == 0 && was_e == expected && was_l == leaf)
            continue;
        const char *vals[] = {PQgetvalue(res, i, c[RK_ID]), gid,
                              expected ? "t" : "f",         leaf ? "t" : "f",
                              old[0] ? old : "none",        gid};
        for (size_t k = 0; rc == ERR_OK && k < 6; k++)
            rc = array_add(all[k], vals[k]);
        if (rc == ERR_OK)
            rc = array_add(&touched, old[0] ? old : "none");
        n++;
    }
    if (rc != ERR_OK) {
        rc = err_set(err, rc, NULL, "out of memory");
        goto rollback;
    }
    if (n > 0) {
        for (size_t k = 0; rc == ERR_OK && k < 6; k++)
            rc = buf_append_str(all[k], "}");
        if (rc != ERR_OK) {
            rc = err_set(err, rc, NULL, "out of memory");
            goto rollback;
        }
        const char *p5[] = {ids.data, gids.data, es.data, ls.data, olds.data};
        PQclear(res);
        res = PQexecParams(conn,
                           "SELECT pinwatch_move_reports($1::uuid[], $2::text[], $3::boolean[],"
                           " $4::boolean[], $5::text[])",
                           5, NULL, p5, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = db_result_error(conn, res, "moving reports between groups", err);
            goto rollback;
        }
        const char *p6[] = {touched.data};
        PQclear(res);
        res = PQexecParams(conn, "SELECT pinwatch_rebuild_rollups($1::text[])", 1, NULL, p6, NULL,
                           NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = db_result_error(conn, res, "rebuilding rollups", err);
            goto rollback;
        }
    }
    rc = db_exec(conn, "COMMIT", err);
    goto out;
rollback:
    (void)db_exec(conn, "ROLLBACK", NULL);
out:
    PQclear(res);
    buf_cleanup(&ids);
    buf_cleanup(&gids);
    buf_cleanup(&es);
    buf_cleanup(&ls);
    buf_cleanup(&olds);
    buf_cleanup(&touched);
    if (moved != NULL)
        *moved = rc == ERR_OK ? n : 0;
    return rc;
}
