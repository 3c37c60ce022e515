/* alert_rules_evaluate: the rollup rules of SPEC 10, one query each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/alert_rules.h"
#include "db/db.h"

/* A group as the webhook shows it, first: id, app, hostname, verdict, kind, product, reports,
 * devices, networks, first_seen, last_seen, first three reasons (11 columns). Counts come from
 * the daily group rollup. */
#define GROUP_COLS                                                                                 \
    "g.id, g.app_bundle_id, g.hostname, g.verdict, g.kind, g.product, c.reports, c.devices,"       \
    " c.networks, pinwatch_ts(g.first_seen), pinwatch_ts(g.last_seen),"                            \
    " (SELECT coalesce(jsonb_agg(x ORDER BY n), '[]') FROM jsonb_array_elements(g.reasons)"        \
    "  WITH ORDINALITY AS e(x, n) WHERE n <= 3)::text"
#define GROUP_NCOLS 12
#define GROUP_COUNTS                                                                               \
    " CROSS JOIN LATERAL (SELECT coalesce(sum(d.reports), 0)::bigint AS reports,"                  \
    "   coalesce(round(hll_cardinality(hll_union_agg(d.devices))), 0)::bigint AS devices,"         \
    "   coalesce(round(hll_cardinality(hll_union_agg(d.networks))), 0)::bigint AS networks"        \
    "   FROM rollup_group_daily d WHERE d.group_id = g.id) c"

static json_t *text_or_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

static json_t *group_json(const PGresult *res, int row)
{
    json_t *reasons = json_loads(PQgetvalue(res, row, 11), 0, NULL);
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:s, s:s, s:o}", "id",
                     PQgetvalue(res, row, 0), "app", PQgetvalue(res, row, 1), "hostname",
                     PQgetvalue(res, row, 2), "verdict", PQgetvalue(res, row, 3), "kind",
                     text_or_null(res, row, 4), "product", text_or_null(res, row, 5), "reports",
                     (json_int_t)atoll(PQgetvalue(res, row, 6)), "devices",
                     (json_int_t)atoll(PQgetvalue(res, row, 7)), "networks",
                     (json_int_t)atoll(PQgetvalue(res, row, 8)), "first_seen",
                     PQgetvalue(res, row, 9), "last_seen", PQgetvalue(res, row, 10), "reasons",
                     reasons != NULL ? reasons : json_array());
}

/* "(enterprise_proxy, Fortinet FortiGate)" or "(stale_pins)" or "". */
static void kind_text(const PGresult *res, int row, char *out, size_t size)
{
    const char *kind = PQgetisnull(res, row, 4) ? NULL : PQgetvalue(res, row, 4);
    const char *product = PQgetisnull(res, row, 5) ? NULL : PQgetvalue(res, row, 5);
    if (kind != NULL && product != NULL)
        snprintf(out, size, " (%s, %s)", kind, product);
    else if (kind != NULL)
        snprintf(out, size, " (%s)", kind);
    else
        out[0] = '\0';
}

static PGresult *run(PGconn *conn, const char *sql, int n, const char *const *p, const char *what,
                     enum err_code *rc, struct err *err)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        *rc = db_result_error(conn, res, what, err);
        PQclear(res);
        return NULL;
    }
    *rc = ERR_OK;
    return res;
}

static const char GROUP_VERDICT_SQL[] =
    "SELECT " GROUP_COLS " FROM groups g" GROUP_COUNTS
    " LEFT JOIN alert_subjects s ON s.subject = 'group:' || g.id"
    " WHERE g.verdict = $1 AND g.last_seen >= now() - interval '7 days'"
    "   AND s.state IS DISTINCT FROM g.verdict AND c.devices >= $2::bigint"
    " ORDER BY g.first_seen, g.id LIMIT 200";

static enum err_code eval_group_verdict(PGconn *conn, enum alert_rule rule, const char *verdict,
                                        long devices, struct alert_candidates *out, struct err *err)
{
    char dev[24];
    snprintf(dev, sizeof(dev), "%ld", devices);
    const char *p[2] = {verdict, dev};
    enum err_code rc;
    PGresult *res = run(conn, GROUP_VERDICT_SQL, 2, p, "alert rule", &rc, err);
    for (int i = 0; res != NULL && rc == ERR_OK && i < PQntuples(res); i++) {
        char subject[160], route[160], kind[200], summary[1024];
        snprintf(subject, sizeof(subject), "group:%s", PQgetvalue(res, i, 0));
        snprintf(route, sizeof(route), "/groups/%s", PQgetvalue(res, i, 0));
        kind_text(res, i, kind, sizeof(kind));
        snprintf(summary, sizeof(summary),
                 "%s%s of %s in %s: %s devices on %s networks, %s reports.",
                 rule == ALERT_NEW_INTERCEPTION_GROUP ? "Interception" : "Misconfiguration", kind,
                 PQgetvalue(res, i, 2), PQgetvalue(res, i, 1), PQgetvalue(res, i, 7),
                 PQgetvalue(res, i, 8), PQgetvalue(res, i, 6));
        rc = alert_candidates_add(out, rule, subject, verdict, summary, route, "group",
                                  group_json(res, i));
    }
    PQclear(res);
    return rc == ERR_NOMEM ? err_set(err, rc, NULL, "out of memory") : rc;
}

/* Per group and app version, from the daily version rollup; a version fires when it is the
 * oldest (numeric order) that ever had a report in its group, and not fired yet. */
static const char VERSION_SQL[] =
    "WITH v AS ("
    "  SELECT d.group_id, d.app_version, min(d.day) AS first_day, sum(d.reports)::bigint AS n,"
    "    coalesce(round(hll_cardinality(hll_union_agg(d.devices))), 0)::bigint AS devices"
    "  FROM rollup_version_daily d JOIN groups g ON g.id = d.group_id"
    "  WHERE g.verdict <> 'interception' AND g.last_seen >= now() - interval '7 days'"
    "    AND d.app_version <> ''"
    "  GROUP BY 1, 2),"
    " w AS (SELECT v.*, min(v.k) OVER (PARTITION BY v.group_id) AS oldest"
    "  FROM (SELECT v.*, pinwatch_version_key(v.app_version) AS k FROM v) v)"
    " SELECT " GROUP_COLS ", w.app_version, w.n, w.devices, w.first_day::text"
    " FROM w JOIN groups g ON g.id = w.group_id" GROUP_COUNTS
    " WHERE w.devices >= $1::bigint AND w.k = w.oldest"
    "   AND NOT EXISTS (SELECT 1 FROM alert_subjects s"
    "     WHERE s.subject = 'version:' || w.group_id || '|' || w.app_version)"
    " ORDER BY w.first_day, g.id LIMIT 200";

static enum err_code eval_version(PGconn *conn, long devices, struct alert_candidates *out,
                                  struct err *err)
{
    char dev[24];
    snprintf(dev, sizeof(dev), "%ld", devices);
    const char *p[1] = {dev};
    enum err_code rc;
    PGresult *res = run(conn, VERSION_SQL, 1, p, "alert rule version_failing", &rc, err);
    for (int i = 0; res != NULL && rc == ERR_OK && i < PQntuples(res); i++) {
        const char *version = PQgetvalue(res, i, GROUP_NCOLS);
        char subject[400], route[160], kind[200], summary[1024];
        snprintf(subject, sizeof(subject), "version:%s|%s", PQgetvalue(res, i, 0), version);
        snprintf(route, sizeof(route), "/groups/%s", PQgetvalue(res, i, 0));
        kind_text(res, i, kind, sizeof(kind));
        snprintf(summary, sizeof(summary),
                 "Version %s of %s fails for %s on %s devices, older versions do not: %s%s.",
                 version, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                 PQgetvalue(res, i, GROUP_NCOLS + 2), PQgetvalue(res, i, 3), kind);
        json_t *g = group_json(res, i);
        json_object_set_new(g, "version",
                            json_pack("{s:s, s:I, s:I, s:s}", "version", version, "reports",
                                      (json_int_t)atoll(PQgetvalue(res, i, GROUP_NCOLS + 1)),
                                      "devices",
                                      (json_int_t)atoll(PQgetvalue(res, i, GROUP_NCOLS + 2)),
                                      "first_day", PQgetvalue(res, i, GROUP_NCOLS + 3)));
        rc = alert_candidates_add(out, ALERT_VERSION_FAILING, subject, "failing", summary, route,
                                  "group", g);
    }
    PQclear(res);
    return rc == ERR_NOMEM ? err_set(err, rc, NULL, "out of memory") : rc;
}

/* The busier of this clock hour and the one before against the median hour of the 7 days
 * before them (hours without reports count as 0), for groups older than those two hours. */
static const char SPIKE_SQL[] =
    "WITH cur AS ("
    "  SELECT group_id, hour, sum(reports)::bigint AS n FROM rollup_group_hourly"
    "  WHERE hour >= date_trunc('hour', now()) - interval '1 hour' GROUP BY 1, 2),"
    " hot AS (SELECT group_id, max(n) AS n FROM cur GROUP BY 1 HAVING max(n) >= $2::bigint),"
    " b AS (SELECT h.group_id, h.n, (SELECT percentile_cont(0.5) WITHIN GROUP"
    "     (ORDER BY coalesce(x.n, 0))"
    "   FROM generate_series(date_trunc('hour', now()) - interval '169 hours',"
    "                        date_trunc('hour', now()) - interval '2 hours', interval '1 hour')"
    "        AS s(hour)"
    "   LEFT JOIN (SELECT r.hour, sum(r.reports) AS n FROM rollup_group_hourly r"
    "     WHERE r.group_id = h.group_id"
    "       AND r.hour >= date_trunc('hour', now()) - interval '169 hours'"
    "       AND r.hour < date_trunc('hour', now()) - interval '1 hour' GROUP BY 1) x"
    "   ON x.hour = s.hour) AS median FROM hot h)"
    " SELECT " GROUP_COLS ", b.n, b.median, s.state"
    " FROM b JOIN groups g ON g.id = b.group_id" GROUP_COUNTS
    " LEFT JOIN alert_subjects s ON s.subject = 'spike:' || g.id"
    /* a group that started within the window is new, not spiking: new_*_group covers it */
    " WHERE b.n > $1::float8 * b.median"
    "   AND g.first_seen < date_trunc('hour', now()) - interval '1 hour'"
    " ORDER BY g.id LIMIT 500";

static enum err_code rearm(PGconn *conn, const char *prefix, const char *states, json_t *active,
                           struct err *err)
{
    char *list = json_dumps(active, JSON_COMPACT);
    const char *p[3] = {prefix, states, list};
    enum err_code rc;
    PGresult *res = run(conn,
                        "UPDATE alert_subjects SET state = 'clear', updated_at = now()"
                        " WHERE starts_with(subject, $1) AND state = ANY ($2::text[])"
                        "   AND subject NOT IN (SELECT jsonb_array_elements_text($3::jsonb))",
                        3, p, "alert re-arm", &rc, err);
    PQclear(res);
    free(list);
    return rc;
}

static enum err_code eval_spike(PGconn *conn, double factor, long min_reports,
                                struct alert_candidates *out, struct err *err)
{
    char f[32], m[24];
    snprintf(f, sizeof(f), "%g", factor);
    snprintf(m, sizeof(m), "%ld", min_reports);
    const char *p[2] = {f, m};
    enum err_code rc;
    PGresult *res = run(conn, SPIKE_SQL, 2, p, "alert rule spike", &rc, err);
    json_t *active = json_array();
    for (int i = 0; res != NULL && rc == ERR_OK && i < PQntuples(res); i++) {
        char subject[160], route[160], summary[1024];
        snprintf(subject, sizeof(subject), "spike:%s", PQgetvalue(res, i, 0));
        json_array_append_new(active, json_string(subject));
        if (!PQgetisnull(res, i, GROUP_NCOLS + 2) &&
            strcmp(PQgetvalue(res, i, GROUP_NCOLS + 2), "spiking") == 0)
            continue;
        snprintf(route, sizeof(route), "/groups/%s", PQgetvalue(res, i, 0));
        double median = atof(PQgetvalue(res, i, GROUP_NCOLS + 1));
        snprintf(summary, sizeof(summary),
                 "Spike of %s failures for %s in %s: %s reports in an hour, the median hour of "
                 "the week before had %g.",
                 PQgetvalue(res, i, 3), PQgetvalue(res, i, 2), PQgetvalue(res, i, 1),
                 PQgetvalue(res, i, GROUP_NCOLS), median);
        json_t *g = group_json(res, i);
        json_object_set_new(g, "spike",
                            json_pack("{s:I, s:f, s:f}", "reports_last_hour",
                                      (json_int_t)atoll(PQgetvalue(res, i, GROUP_NCOLS)),
                                      "median_hour", median, "factor", factor));
        rc = alert_candidates_add(out, ALERT_SPIKE, subject, "spiking", summary, route, "group", g);
    }
    PQclear(res);
    if (rc == ERR_OK)
        rc = rearm(conn, "spike:", "{spiking}", active, err);
    json_decref(active);
    return rc == ERR_NOMEM ? err_set(err, rc, NULL, "out of memory") : rc;
}

static const char PINS_SQL[] =
    "SELECT p.app_bundle_id, p.app_version, p.hostname, pinwatch_ts(p.pins_expire),"
    "  pinwatch_ts(p.last_seen), p.reports,"
    "  CASE WHEN p.pins_expire <= now() THEN 'expired' ELSE 'expiring' END,"
    "  greatest(0, ceil(extract(epoch FROM p.pins_expire - now()) / 86400))::bigint, s.state"
    " FROM pin_expiry p"
    " LEFT JOIN alert_subjects s"
    "   ON s.subject = 'pinset:' || p.app_bundle_id || '|' || p.app_version || '|' || p.hostname"
    " WHERE p.last_seen >= now() - make_interval(days => $1::int)"
    "   AND p.pins_expire < now() + make_interval(days => $2::int)"
    " ORDER BY p.pins_expire LIMIT 500";

static enum err_code eval_pins(PGconn *conn, long seen_days, long within_days,
                               struct alert_candidates *out, struct err *err)
{
    char s1[24], s2[24];
    snprintf(s1, sizeof(s1), "%ld", seen_days);
    snprintf(s2, sizeof(s2), "%ld", within_days);
    const char *p[2] = {s1, s2};
    enum err_code rc;
    PGresult *res = run(conn, PINS_SQL, 2, p, "alert rule pins_expiring", &rc, err);
    json_t *active = json_array();
    for (int i = 0; res != NULL && rc == ERR_OK && i < PQntuples(res); i++) {
        const char *app = PQgetvalue(res, i, 0), *version = PQgetvalue(res, i, 1),
                   *host = PQgetvalue(res, i, 2), *state = PQgetvalue(res, i, 6);
        char subject[1024], route[1024], summary[2048];
        snprintf(subject, sizeof(subject), "pinset:%s|%s|%s", app, version, host);
        json_array_append_new(active, json_string(subject));
        if (!PQgetisnull(res, i, 8) && strcmp(PQgetvalue(res, i, 8), state) == 0)
            continue;
        /* The route's query string: names are bundle ids and hostnames, URL-safe already. */
        snprintf(route, sizeof(route), "/pinsets?app=%s&hostname=%s", app, host);
        if (strcmp(state, "expired") == 0)
            snprintf(summary, sizeof(summary),
                     "Pins of %s %s for %s expired on %.10s and are still reported.", app,
                     version[0] ? version : "(no version)", host, PQgetvalue(res, i, 3));
        else
            snprintf(summary, sizeof(summary),
                     "Pins of %s %s for %s expire on %.10s (in %s days) and are still reported.",
                     app, version[0] ? version : "(no version)", host, PQgetvalue(res, i, 3),
                     PQgetvalue(res, i, 7));
        json_t *o =
            json_pack("{s:s, s:o, s:s, s:s, s:s, s:I}", "app", app, "version",
                      version[0] ? json_string(version) : json_null(), "hostname", host,
                      "pins_expire", PQgetvalue(res, i, 3), "last_seen", PQgetvalue(res, i, 4),
                      "reports", (json_int_t)atoll(PQgetvalue(res, i, 5)));
        rc = alert_candidates_add(out, ALERT_PINS_EXPIRING, subject, state, summary, route,
                                  "pinset", o);
    }
    PQclear(res);
    if (rc == ERR_OK)
        rc = rearm(conn, "pinset:", "{expiring,expired}", active, err);
    json_decref(active);
    return rc == ERR_NOMEM ? err_set(err, rc, NULL, "out of memory") : rc;
}

enum err_code alert_rules_evaluate(PGconn *conn, const struct alert_rules *rules,
                                   struct alert_candidates *out, struct err *err)
{
    enum err_code rc = ERR_OK;
    const bool *on = rules->enabled;
    if (on[ALERT_NEW_INTERCEPTION_GROUP])
        rc = eval_group_verdict(
            conn, ALERT_NEW_INTERCEPTION_GROUP, "interception",
            (long)alert_rules_param(rules, ALERT_NEW_INTERCEPTION_GROUP, "devices"), out, err);
    if (rc == ERR_OK && on[ALERT_NEW_MISCONFIGURATION_GROUP])
        rc = eval_group_verdict(
            conn, ALERT_NEW_MISCONFIGURATION_GROUP, "misconfiguration",
            (long)alert_rules_param(rules, ALERT_NEW_MISCONFIGURATION_GROUP, "devices"), out, err);
    if (rc == ERR_OK && on[ALERT_VERSION_FAILING])
        rc = eval_version(conn, (long)alert_rules_param(rules, ALERT_VERSION_FAILING, "devices"),
                          out, err);
    if (rc == ERR_OK && on[ALERT_SPIKE])
        rc = eval_spike(conn, alert_rules_param(rules, ALERT_SPIKE, "factor"),
                        (long)alert_rules_param(rules, ALERT_SPIKE, "min_reports"), out, err);
    if (rc == ERR_OK && on[ALERT_PINS_EXPIRING])
        rc =
            eval_pins(conn, (long)alert_rules_param(rules, ALERT_PINS_EXPIRING, "seen_days"),
                      (long)alert_rules_param(rules, ALERT_PINS_EXPIRING, "within_days"), out, err);
    return rc;
}
