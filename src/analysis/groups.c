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
#include "report/pin.h"

/* One row per stale group: the group's chain-level evidence and its population evidence over
 * all its rollups, plus how widely its app+hostname fails overall (for spread vs concentration). */
static const char EVIDENCE_SQL[] =
    "SELECT g.id, g.app_bundle_id, g.hostname, g.anchor_spki IS NOT NULL,"
    "  coalesce(g.anchor_public, false), g.anchor_subject, g.known_hostile, g.hostile_name,"
    "  g.hostile_category, g.catalog_product, g.catalog_category, array_to_string(g.weak, ','),"
    "  g.expected_key_seen, g.version,"
    "  s.reports, s.devices, s.networks,"
    "  (SELECT count(DISTINCT app_version) FROM rollup_version_daily v WHERE v.group_id = g.id),"
    "  coalesce((SELECT max(n.reports) FROM group_networks n WHERE n.group_id = g.id), 0),"
    "  s.pin_in_chain, s.leaf_expected, s.not_covering, s.invalid_at_time, s.unlinked,"
    "  s.result_untrusted, s.pins_expired, s.clock_skew,"
    "  (SELECT count(DISTINCT v.app_version) FROM groups g2"
    "   JOIN rollup_version_daily v ON v.group_id = g2.id"
    "   WHERE g2.app_bundle_id = g.app_bundle_id AND g2.hostname = g.hostname),"
    "  (SELECT coalesce(round(hll_cardinality(hll_union_agg(h.networks))), 0)::bigint"
    "   FROM groups g2 JOIN rollup_group_daily h ON h.group_id = g2.id"
    "   WHERE g2.app_bundle_id = g.app_bundle_id AND g2.hostname = g.hostname),"
    "  (SELECT nullif(v.app_version, '') FROM rollup_version_daily v WHERE v.group_id = g.id"
    "   GROUP BY v.app_version ORDER BY sum(v.reports) DESC, v.app_version LIMIT 1)"
    " FROM groups g"
    " CROSS JOIN LATERAL ("
    "   SELECT coalesce(sum(reports), 0) AS reports,"
    "     coalesce(round(hll_cardinality(hll_union_agg(devices))), 0)::bigint AS devices,"
    "     coalesce(round(hll_cardinality(hll_union_agg(networks))), 0)::bigint AS networks,"
    "     coalesce(sum(pin_in_chain), 0) AS pin_in_chain,"
    "     coalesce(sum(leaf_expected), 0) AS leaf_expected,"
    "     coalesce(sum(not_covering), 0) AS not_covering,"
    "     coalesce(sum(invalid_at_time), 0) AS invalid_at_time,"
    "     coalesce(sum(unlinked), 0) AS unlinked,"
    "     coalesce(sum(result_untrusted), 0) AS result_untrusted,"
    "     coalesce(sum(pins_expired), 0) AS pins_expired,"
    "     coalesce(sum(clock_skew), 0) AS clock_skew"
    "   FROM rollup_group_daily r WHERE r.group_id = g.id) s"
    " WHERE ($1::boolean OR g.version > g.evaluated_version)"
    " ORDER BY g.id LIMIT $2";

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

static void fill_evidence(const PGresult *res, int i, const struct expected_keys *ek,
                          struct verdict_evidence *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->app = PQgetvalue(res, i, 1);
    ev->hostname = PQgetvalue(res, i, 2);
    ev->has_chain = PQgetvalue(res, i, 3)[0] == 't';
    ev->anchor_public = PQgetvalue(res, i, 4)[0] == 't';
    ev->anchor_subject = str_or_null(res, i, 5);
    ev->known_hostile = PQgetvalue(res, i, 6)[0] == 't';
    ev->hostile_name = str_or_null(res, i, 7);
    ev->hostile_category = str_or_null(res, i, 8);
    ev->catalog_product = str_or_null(res, i, 9);
    ev->catalog_category = str_or_null(res, i, 10);
    ev->weak = weak_bits(str_or_null(res, i, 11));
    ev->expected_key_seen = PQgetvalue(res, i, 12)[0] == 't';
    ev->host_has_expected_keys = expected_keys_has_host(ek, ev->hostname);
    ev->reports = u64(res, i, 14);
    ev->devices = u64(res, i, 15);
    ev->networks = u64(res, i, 16);
    ev->versions = u64(res, i, 17);
    ev->top_network_reports = u64(res, i, 18);
    ev->pin_in_chain = u64(res, i, 19);
    ev->leaf_expected = u64(res, i, 20);
    ev->not_covering = u64(res, i, 21);
    ev->invalid_at_time = u64(res, i, 22);
    /* One odd chain must not make a whole group "broken": unlinked must hold for a majority,
     * like the other per-report findings. */
    ev->linked = u64(res, i, 23) * 100 < ev->reports * VERDICT_MAJORITY_PCT || ev->reports == 0;
    ev->result_untrusted = u64(res, i, 24);
    ev->pins_expired = u64(res, i, 25);
    ev->clock_skew = u64(res, i, 26);
    ev->app_versions = u64(res, i, 27);
    ev->app_networks = u64(res, i, 28);
    ev->top_version = str_or_null(res, i, 29);
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
    res = PQexecParams(conn, EVIDENCE_SQL, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = db_result_error(conn, res, "gathering group evidence", err);
        goto out;
    }
    for (int i = 0; rc == ERR_OK && i < PQntuples(res); i++) {
        struct verdict_evidence ev;
        fill_evidence(res, i, ek, &ev);
        struct verdict_result vr;
        verdict_decide(&ev, &vr);
        rc = store_verdict(conn, PQgetvalue(res, i, 0), PQgetvalue(res, i, 13), &vr, err);
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

/* Reports of hostnames the pattern covers, with every key of their chains. */
static const char AFFECTED_SQL[] =
    "SELECT r.id, r.app_bundle_id, r.hostname, encode(g.anchor_spki, 'hex'), r.group_id,"
    "  (SELECT string_agg(encode(c.spki_sha256, 'hex'), ',') FROM chains ch"
    "   CROSS JOIN LATERAL unnest(ch.certs) AS m(sha) JOIN certificates c ON c.sha256 = m.sha"
    "   WHERE ch.sha256 IN (r.served_chain, r.validated_chain)),"
    "  (SELECT string_agg(ch.analysis->'anchor'->>'spki_sha256', ',') FROM chains ch"
    "   WHERE ch.sha256 IN (r.served_chain, r.validated_chain)),"
    "  (SELECT encode(c.spki_sha256, 'hex') FROM chains ch JOIN certificates c"
    "   ON c.sha256 = ch.certs[1] WHERE ch.sha256 = coalesce(r.validated_chain, r.served_chain)),"
    "  coalesce(pinwatch_flag(r.flags, 3), false), coalesce(pinwatch_flag(r.flags, 4), false)"
    " FROM reports r LEFT JOIN groups g ON g.id = r.group_id"
    " WHERE r.hostname = $1 OR (left($1, 2) = '*.' AND length(r.hostname) > length($1) - 1"
    "   AND right(r.hostname, length($1) - 1) = substr($1, 2))";

static const char MOVE_SQL[] =
    "WITH u AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::boolean[], $4::boolean[])"
    "           AS u(id, gid, e, l)),"
    " ng AS (INSERT INTO groups AS t (id, app_bundle_id, hostname, anchor_spki, anchor_subject,"
    "   anchor_public, expected_key_seen, first_seen, last_seen, catalog_product,"
    "   catalog_category, known_hostile, hostile_name, hostile_category, weak)"
    "  SELECT DISTINCT ON (m.gid) m.gid, g.app_bundle_id, g.hostname, g.anchor_spki,"
    "   g.anchor_subject, g.anchor_public, m.e, g.first_seen, g.last_seen, g.catalog_product,"
    "   g.catalog_category, g.known_hostile, g.hostile_name, g.hostile_category, g.weak"
    "  FROM unnest($2::text[], $5::text[], $3::boolean[]) AS m(gid, old, e)"
    "  JOIN groups g ON g.id = m.old ORDER BY m.gid"
    "  ON CONFLICT (id) DO UPDATE SET expected_key_seen = excluded.expected_key_seen)"
    /* finding bits 3 (expected_key) and 4 (leaf_expected), see migration 0008 */
    " UPDATE reports r SET group_id = u.gid,"
    "   flags = pinwatch_flag_set(pinwatch_flag_set(r.flags, 3, u.e), 4, u.l)"
    " FROM u WHERE r.id = u.id";

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
        if (strlen(hex) == 64 && pin_hex_decode(hex, spki, 32, NULL) == ERR_OK &&
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
    res = PQexecParams(conn, AFFECTED_SQL, 1, NULL, p1, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = db_result_error(conn, res, "finding the host's reports", err);
        goto rollback;
    }
    struct buf *all[] = {&ids, &gids, &es, &ls, &olds, &touched};
    for (size_t k = 0; rc == ERR_OK && k < 6; k++)
        rc = buf_append_str(all[k], "{");
    for (int i = 0; rc == ERR_OK && i < PQntuples(res); i++) {
        const char *host = PQgetvalue(res, i, 2);
        bool expected = any_expected(ek, host, PQgetvalue(res, i, 5)) ||
                        any_expected(ek, host, PQgetvalue(res, i, 6));
        bool leaf = any_expected(ek, host, PQgetvalue(res, i, 7));
        uint8_t anchor[32];
        bool has_anchor = !PQgetisnull(res, i, 3) &&
                          pin_hex_decode(PQgetvalue(res, i, 3), anchor, 32, NULL) == ERR_OK;
        char gid[33];
        analysis_group_id(PQgetvalue(res, i, 1), host, has_anchor ? anchor : NULL, expected, gid);
        const char *old = PQgetvalue(res, i, 4);
        bool was_e = PQgetvalue(res, i, 8)[0] == 't', was_l = PQgetvalue(res, i, 9)[0] == 't';
        if (strcmp(gid, old) == 0 && was_e == expected && was_l == leaf)
            continue;
        const char *vals[] = {PQgetvalue(res, i, 0), gid, expected ? "t" : "f", leaf ? "t" : "f",
                              old[0] ? old : "none", gid};
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
        res = PQexecParams(conn, MOVE_SQL, 5, NULL, p5, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
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
