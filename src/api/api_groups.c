#include "api/api_groups.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/groups.h"
#include "api/api_context.h"
#include "api/api_reports.h"
#include "base/timeparse.h"
#include "db/db.h"
#include "store/query.h"

/* SQL assembled from pieces; clang-format would break the concatenations apart. */
/* clang-format off */

/* The window [$1, $2] as whole UTC days, for the day-grain rollups. */
#define DAY_FROM "($1::timestamptz AT TIME ZONE 'UTC')::date"
#define DAY_TO   "($2::timestamptz AT TIME ZONE 'UTC')::date"

/* Report counts over the window: daily rollups for the days strictly inside it, hourly ones
 * for its first and last day. WHERE_GROUP restricts the rows (e.g. to one group). */
#define WINDOW_REPORTS(WHERE_GROUP)                                                            \
    "SELECT group_id, reports AS n FROM rollup_group_daily WHERE " WHERE_GROUP                 \
    "  AND day > " DAY_FROM " AND day < " DAY_TO                                               \
    " UNION ALL SELECT group_id, reports FROM rollup_group_hourly WHERE " WHERE_GROUP          \
    "  AND hour >= date_trunc('hour', $1::timestamptz, 'UTC') AND hour <= $2::timestamptz"     \
    "  AND (hour < date_trunc('day', $1::timestamptz, 'UTC') + interval '24 hours'"            \
    "       OR hour >= date_trunc('day', $2::timestamptz, 'UTC'))"

/* Distinct devices and networks over the window's whole days (one HLL union per row). */
#define WINDOW_DISTINCTS(WHERE_GROUP)                                                          \
    "SELECT group_id, round(hll_cardinality(hll_union_agg(devices)))::bigint AS devices,"      \
    "  round(hll_cardinality(hll_union_agg(networks)))::bigint AS networks"                    \
    " FROM rollup_group_daily WHERE " WHERE_GROUP                                              \
    "  AND day >= " DAY_FROM " AND day <= " DAY_TO " GROUP BY group_id"

/* The group object of SPEC 7 from groups g, window counts s and the two breakdowns. */
#define GROUP_JSON(VERSIONS, TOP_NETWORKS)                                                     \
    "json_build_object('id', g.id, 'app', g.app_bundle_id, 'hostname', g.hostname,"            \
    "  'anchor', CASE WHEN g.anchor_spki IS NULL THEN NULL ELSE json_build_object("            \
    "    'subject', g.anchor_subject, 'spki_sha256', encode(g.anchor_spki, 'hex'),"            \
    "    'public', coalesce(g.anchor_public, false)) END,"                                     \
    "  'expected_key_seen', g.expected_key_seen, 'reports', coalesce(s.reports, 0),"           \
    "  'devices', coalesce(s.devices, 0), 'networks', coalesce(s.networks, 0),"                \
    "  'first_seen', pinwatch_ts(g.first_seen), 'last_seen', pinwatch_ts(g.last_seen),"        \
    "  'versions', " VERSIONS ", 'top_networks', " TOP_NETWORKS ","                            \
    "  'verdict', g.verdict, 'kind', g.kind, 'product', g.product, 'reasons', g.reasons)"

/* Breakdowns read day-grain rollups over the window's whole days. */
#define VERSION_JSON                                                                           \
    "json_build_object('version', nullif(v.app_version, ''), 'reports', v.n, 'devices', v.d)"
#define VERSION_ROWS(WHERE_GROUP)                                                              \
    "SELECT group_id, app_version, sum(reports) AS n,"                                         \
    "  round(hll_cardinality(hll_union_agg(devices)))::bigint AS d FROM rollup_version_daily"  \
    " WHERE " WHERE_GROUP " AND day >= " DAY_FROM " AND day <= " DAY_TO " GROUP BY 1, 2"
#define NETWORK_JSON                                                                           \
    "json_build_object('network', nullif(t.net, ''), 'asn', nullif(t.asn, 0), 'reports', t.n," \
    "  'devices', t.d)"

/* The versions of group g, read by key: in one aggregate for all groups they cost more at
 * millions of reports (every version-day row read, the HLL states spill). */
#define VERSIONS_OF_G                                                                          \
    "(SELECT coalesce(json_agg(" VERSION_JSON " ORDER BY v.n DESC, v.app_version), '[]')"      \
    "  FROM (" VERSION_ROWS("group_id = g.id") ") v)"

/* One group, its rows read by key. A group outside the window still answers, with zeros. */
static const char GROUP_SQL[] =
    "SELECT (" GROUP_JSON(VERSIONS_OF_G,
        "pinwatch_top_networks(g.id, " DAY_FROM ", " DAY_TO ", 10)") "::jsonb"
    " || jsonb_build_object('chains', ("
    "   SELECT coalesce(jsonb_agg(jsonb_build_object('sha256', encode(c.sha, 'hex'),"
    "     'reports', c.n, 'certificates', pinwatch_chain_certs_json(c.sha),"
    "     'findings', ch.analysis) ORDER BY c.n DESC), '[]'::jsonb)"
    "   FROM (SELECT coalesce(r.validated_chain, r.served_chain) AS sha, count(*) AS n"
    "         FROM reports r WHERE r.group_id = g.id"
    "         AND coalesce(r.validated_chain, r.served_chain) IS NOT NULL"
    "         GROUP BY 1) c LEFT JOIN chains ch ON ch.sha256 = c.sha)))::text"
    " FROM groups g"
    " LEFT JOIN (SELECT sum(n) AS reports FROM (" WINDOW_REPORTS("group_id = $3") ") u) r"
    "   ON true"
    " LEFT JOIN (" WINDOW_DISTINCTS("group_id = $3") ") d ON true"
    " CROSS JOIN LATERAL (SELECT r.reports, d.devices, d.networks) s"
    " WHERE g.id = $3";

/* Every group with reports in the window; window counts and top-network devices computed for
 * all groups in one aggregate each (per group, each paid an executor and hash-table set-up).
 * Top networks: pinwatch_top_network_list (0008). */
static const char LIST_SQL[] =
    "WITH r AS (SELECT group_id, sum(n) AS reports FROM (" WINDOW_REPORTS("true") ") u"
    "   GROUP BY group_id HAVING sum(n) > 0),"
    " s AS (SELECT r.group_id, r.reports, d.devices, d.networks FROM r"
    "   JOIN groups g ON g.id = r.group_id"
    "   LEFT JOIN (" WINDOW_DISTINCTS("true") ") d ON d.group_id = r.group_id"
    "   WHERE ($3::text IS NULL OR g.hostname = $3)"
    "   AND ($4::text IS NULL OR g.app_bundle_id = $4)"
    "   AND ($5::text IS NULL OR g.verdict = $5)),"
    " t AS (SELECT s.group_id, x.net, x.n, x.ord FROM s"
    "   CROSS JOIN LATERAL pinwatch_top_network_list(s.group_id, " DAY_FROM ", " DAY_TO ", 10) l"
    "   CROSS JOIN LATERAL unnest(l.networks, l.counts) WITH ORDINALITY AS x(net, n, ord)),"
    " n AS (SELECT t.group_id, json_agg(" NETWORK_JSON " ORDER BY t.ord) AS top"
    "   FROM (SELECT t.group_id, t.net, t.n, t.ord, max(d.asn) AS asn,"
    "           round(hll_cardinality(hll_union_agg(d.devices)))::bigint AS d"
    "         FROM t JOIN rollup_network_daily d ON d.group_id = t.group_id"
    "           AND d.network = t.net AND d.day >= " DAY_FROM " AND d.day <= " DAY_TO
    "         GROUP BY 1, 2, 3, 4) t"
    "   GROUP BY t.group_id)"
    " SELECT json_build_object('groups', coalesce(json_agg("
    GROUP_JSON(VERSIONS_OF_G, "coalesce(n.top, '[]')")
    "   ORDER BY s.reports DESC, g.id), '[]'::json))::text"
    " FROM s JOIN groups g ON g.id = s.group_id"
    " LEFT JOIN n ON n.group_id = s.group_id";

/* clang-format on */

static PGconn *borrow(struct api_context *app, struct http_reply *reply)
{
    struct err e = {0};
    PGconn *conn = api_reports_borrow(app, reply);
    if (conn == NULL)
        return NULL;
    /* Verdicts of groups that changed since their last evaluation are brought up to date. */
    unsigned n;
    if (groups_evaluate(conn, app->expected, false, 10000, &n, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        db_pool_release(app->pool, conn);
        return NULL;
    }
    return conn;
}

/* Run a query returning one JSON text value and send it. */
static void reply_sql(PGconn *conn, struct http_reply *reply, const char *sql, int n,
                      const char *const *params, const char *not_found)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    struct err e = {0};
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        db_result_error(conn, res, "query", &e);
        http_reply_err(reply, &e);
    } else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        http_reply_error(reply, 404, "not_found", "%s", not_found);
    } else {
        size_t len = (size_t)PQgetlength(res, 0, 0);
        http_reply_json_text(reply, 200, strndup(PQgetvalue(res, 0, 0), len), len);
    }
    PQclear(res);
}

static void window(const struct query_filters *f, char from[TIMEPARSE_FMT_LEN],
                   char to[TIMEPARSE_FMT_LEN])
{
    timeparse_format(f->from, from);
    timeparse_format(f->to, to);
}

void api_groups_list(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    struct query_filters f;
    struct err e = {0};
    if (query_filters_parse(api_query_param, req, req->received_at, &f, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        return;
    }
    PGconn *conn = borrow(app, reply);
    if (conn != NULL) {
        char from[TIMEPARSE_FMT_LEN], to[TIMEPARSE_FMT_LEN];
        window(&f, from, to);
        const char *params[] = {from, to, f.hostname, f.app, f.verdict};
        reply_sql(conn, reply, LIST_SQL, 5, params, "no groups");
        db_pool_release(app->pool, conn);
    }
    query_filters_cleanup(&f);
}

void api_groups_get(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    struct query_filters f;
    struct err e = {0};
    if (query_filters_parse(api_query_param, req, req->received_at, &f, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        return;
    }
    PGconn *conn = borrow(app, reply);
    if (conn != NULL) {
        char from[TIMEPARSE_FMT_LEN], to[TIMEPARSE_FMT_LEN];
        window(&f, from, to);
        const char *params[] = {from, to, req->params[0]};
        reply_sql(conn, reply, GROUP_SQL, 3, params, "no group with that id");
        db_pool_release(app->pool, conn);
    }
    query_filters_cleanup(&f);
}

/* The rollup that answers a trend: the one that has the dimension and every filter. */
enum trend_source {
    TREND_GROUPS,
    TREND_VERSIONS_HOURLY,
    TREND_VERSIONS_DAILY, /* daily buckets by version */
    TREND_NETWORKS,       /* by or filtered by network, with group filters */
    TREND_NETWORKS_ALL,   /* by or filtered by network alone: one row per network-hour */
};

/* FROM clause of each source, as r joined to groups g. The all-groups table has no group:
 * its filters on g, platform and group are all NULL there, so they pass. */
static const char *const trend_from[] = {
    [TREND_GROUPS] = "rollup_group_hourly r JOIN groups g ON g.id = r.group_id",
    [TREND_VERSIONS_HOURLY] = "rollup_version_hourly r JOIN groups g ON g.id = r.group_id",
    [TREND_VERSIONS_DAILY] = "rollup_version_daily r JOIN groups g ON g.id = r.group_id",
    [TREND_NETWORKS] = "rollup_network_hourly r JOIN groups g ON g.id = r.group_id",
    [TREND_NETWORKS_ALL] = "(SELECT network, hour, reports, devices, NULL::text AS platform,"
                           " NULL::text AS group_id FROM rollup_network_all_hourly) r"
                           " LEFT JOIN groups g ON false",
};

static bool trend_source(const char *by, const char *bucket, const struct query_filters *f,
                         enum trend_source *out, const char **err)
{
    bool version = strcmp(by, "app_version") == 0 || f->app_version != NULL;
    bool network = strcmp(by, "network") == 0 || f->network != NULL;
    bool group_filters = f->hostname != NULL || f->app != NULL || f->verdict != NULL ||
                         f->platform != NULL || f->group != NULL;
    if (version && network) {
        *err = "app_version and network cannot be combined in one trend";
        return false;
    }
    if (version)
        *out = strcmp(bucket, "day") == 0 ? TREND_VERSIONS_DAILY : TREND_VERSIONS_HOURLY;
    else if (network)
        *out = group_filters ? TREND_NETWORKS : TREND_NETWORKS_ALL;
    else
        *out = TREND_GROUPS;
    return true;
}

void api_groups_trends(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    const char *bucket = http_request_query(req, "bucket");
    const char *by = http_request_query(req, "by");
    if (bucket == NULL)
        bucket = "day";
    if (by == NULL)
        by = "verdict";
    if (strcmp(bucket, "hour") != 0 && strcmp(bucket, "day") != 0) {
        http_reply_error(reply, 400, "invalid_parameter", "bucket: must be hour or day");
        return;
    }
    /* The dimension is chosen from a fixed list, never spliced from the request. */
    static const char *const dims[][2] = {{"app_version", "nullif(r.app_version, '')"},
                                          {"network", "nullif(r.network, '')"},
                                          {"hostname", "g.hostname"},
                                          {"verdict", "g.verdict"},
                                          {"platform", "nullif(r.platform, '')"}};
    const char *expr = NULL;
    for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++) {
        if (strcmp(by, dims[i][0]) == 0)
            expr = dims[i][1];
    }
    if (expr == NULL) {
        http_reply_error(reply, 400, "invalid_parameter",
                         "by: must be app_version, network, hostname, verdict or platform");
        return;
    }
    struct query_filters f;
    struct err e = {0};
    if (query_filters_parse(api_query_param, req, req->received_at, &f, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        return;
    }
    const char *why = NULL;
    enum trend_source src;
    if (!trend_source(by, bucket, &f, &src, &why)) {
        http_reply_error(reply, 400, "invalid_parameter", "%s", why);
        query_filters_cleanup(&f);
        return;
    }
    bool daily = src == TREND_VERSIONS_DAILY;
    bool versions = src == TREND_VERSIONS_DAILY || src == TREND_VERSIONS_HOURLY;
    bool networks = src == TREND_NETWORKS || src == TREND_NETWORKS_ALL;
    PGconn *conn = borrow(app, reply);
    if (conn != NULL) {
        char from[TIMEPARSE_FMT_LEN], to[TIMEPARSE_FMT_LEN];
        window(&f, from, to);
        char sql[4096];
        int len = snprintf(
            sql, sizeof(sql),
            "SELECT json_build_object('bucket', $3::text, 'by', $4::text, 'series',"
            " coalesce(json_agg(json_build_object('key', k.key, 'points', k.points)"
            " ORDER BY k.total DESC, k.key), '[]'::json))::text FROM ("
            "  SELECT p.key, sum(p.reports) AS total, json_agg(json_build_object("
            "    't', pinwatch_ts(p.t), 'reports', p.reports, 'devices', p.devices)"
            "    ORDER BY p.t) AS points FROM ("
            "   SELECT %s AS key, date_trunc($3, %s, 'UTC') AS t, sum(r.reports) AS reports,"
            "     round(hll_cardinality(hll_union_agg(r.devices)))::bigint AS devices"
            "   FROM %s"
            "   WHERE %s"
            "   AND ($5::text IS NULL OR g.hostname = $5)"
            "   AND ($6::text IS NULL OR g.app_bundle_id = $6)"
            "   AND ($7::text IS NULL OR g.verdict = $7)"
            "   AND ($8::text IS NULL OR r.platform = $8)"
            "   AND ($9::text IS NULL OR r.group_id = $9)"
            "   %s %s GROUP BY 1, 2) p GROUP BY p.key ORDER BY 2 DESC, 1 LIMIT $11::int) k",
            expr, daily ? "(r.day::timestamp AT TIME ZONE 'UTC')" : "r.hour", trend_from[src],
            daily ? "r.day >= ($1::timestamptz AT TIME ZONE 'UTC')::date"
                    " AND r.day <= ($2::timestamptz AT TIME ZONE 'UTC')::date"
                  : "r.hour >= date_trunc('hour', $1::timestamptz, 'UTC')"
                    " AND r.hour <= $2::timestamptz",
            versions   ? "AND ($10::text IS NULL OR r.app_version = $10)"
            : networks ? "AND ($10::cidr IS NULL OR CASE WHEN r.network = '' THEN false"
                         " ELSE r.network::cidr <<= $10::cidr END)"
                       : "AND $10::text IS NULL",
            /* By network: only the networks of the series, found by a bounded walk
             * (pinwatch_trend_networks), are read; the key leads the table's index. */
            strcmp(by, "network") == 0
                ? "AND r.network = ANY((SELECT pinwatch_trend_networks($1::timestamptz,"
                  " $2::timestamptz, $11::int, $5, $6, $7, $8, $9, $10::cidr))::text[])"
                : "");
        char limit[16];
        snprintf(limit, sizeof(limit), "%u", f.limit);
        const char *params[] = {from,       to,
                                bucket,     by,
                                f.hostname, f.app,
                                f.verdict,  f.platform,
                                f.group,    f.app_version != NULL ? f.app_version : f.network,
                                limit};
        if (len < 0 || (size_t)len >= sizeof(sql))
            http_reply_error(reply, 500, "internal", "trend query too long");
        else
            reply_sql(conn, reply, sql, 11, params, "no data");
        db_pool_release(app->pool, conn);
    }
    query_filters_cleanup(&f);
}
