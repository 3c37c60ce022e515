/* alert_rules_evaluate: the rollup rules of SPEC 10, one query each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/alert_rules.h"
#include "db/db.h"

/* The reads are functions of sql/functions/85_alerts.sql. Each returns the group as the
 * webhook shows it first (12 columns): id, app, hostname, verdict, kind, product, reports,
 * devices, networks, first_seen, last_seen, first three reasons. */
#define GROUP_NCOLS 12

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

/* new_*_group: groups of a verdict reaching the device threshold, not fired for it. */
static const char GROUP_VERDICT_SQL[] = "SELECT * FROM pinwatch_alert_groups($1, $2::bigint)";

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

/* version_failing: the oldest version of a group reaching the threshold, not fired. */
static const char VERSION_SQL[] = "SELECT * FROM pinwatch_alert_versions($1::bigint)";

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

/* spike: every spiking group (fired or not: the others are re-armed). */
static const char SPIKE_SQL[] = "SELECT * FROM pinwatch_alert_spikes($1::float8, $2::bigint)";

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

/* pins_expiring: every pin set in its window (fired or not: the others are re-armed). */
static const char PINS_SQL[] = "SELECT * FROM pinwatch_alert_pinsets($1::int, $2::int)";

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
