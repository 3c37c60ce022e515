-- sql/functions/60_groups.sql: the group reads of the API: /v1/groups, /v1/groups/{id},
-- /v1/trends. Try them in psql, e.g.
--   SELECT * FROM pinwatch_groups_json(now() - interval '7 days', now(), NULL, NULL, NULL, 100,
--                                      NULL, NULL);
--   SELECT pinwatch_trends('day', 'verdict', now() - interval '7 days', now());
--
-- A repeatable file: the one current definition of each function in it, nothing but
-- CREATE OR REPLACE FUNCTION. migrations/ holds the DDL and data moves (forward only); the
-- files here are applied after them, in name order, each again whenever its checksum changes
-- (schema_repeatables) and all again after any new migration. So:
-- * to change a function, edit it here (never in a migration);
-- * a new function goes into the file of its area, or a new NN_area.sql;
-- * a LANGUAGE sql function is checked when created: put it after the functions it calls;
-- * a changed signature or return type, or a function removed, needs a DROP FUNCTION in a new
--   migration (CREATE OR REPLACE would add an overload or fail).
--
-- The set-returning LANGUAGE sql functions here are single SELECTs, neither STRICT nor
-- VOLATILE, so PostgreSQL inlines them into the query that calls them (SELECT * FROM f(...)):
-- they are planned with the caller's values, a NULL filter folds away, and a filter on
-- group_id reaches the rollups' indexes. Keep them so (EXPLAIN shows no Function Scan).

-- Report counts of each group over [p_from, p_to]: daily rollups for the days strictly inside
-- the window, hourly ones for its first and last day (a group has several rows; sum them).
CREATE OR REPLACE FUNCTION pinwatch_window_reports(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (group_id text, reports bigint) LANGUAGE sql STABLE AS $fn$
    SELECT group_id, reports FROM rollup_group_daily
    WHERE day > (p_from AT TIME ZONE 'UTC')::date AND day < (p_to AT TIME ZONE 'UTC')::date
    UNION ALL
    SELECT group_id, reports FROM rollup_group_hourly
    WHERE hour >= date_trunc('hour', p_from, 'UTC') AND hour <= p_to
      AND (hour < date_trunc('day', p_from, 'UTC') + interval '24 hours'
           OR hour >= date_trunc('day', p_to, 'UTC'))
$fn$;

-- Distinct devices and networks of each group over the window's whole days (one HLL union
-- per row).
CREATE OR REPLACE FUNCTION pinwatch_window_distincts(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (group_id text, devices bigint, networks bigint) LANGUAGE sql STABLE AS $fn$
    SELECT group_id, round(hll_cardinality(hll_union_agg(devices)))::bigint,
           round(hll_cardinality(hll_union_agg(networks)))::bigint
    FROM rollup_group_daily
    WHERE day >= (p_from AT TIME ZONE 'UTC')::date AND day <= (p_to AT TIME ZONE 'UTC')::date
    GROUP BY group_id
$fn$;

-- The versions of one group over the window's whole days, most reports first, read by key:
-- in one aggregate for all groups they cost more at millions of reports (every version-day
-- row read, the HLL states spill). One row.
CREATE OR REPLACE FUNCTION pinwatch_group_versions(p_group text, p_from timestamptz,
                                                   p_to timestamptz)
RETURNS SETOF json LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(json_agg(json_build_object('version', nullif(v.app_version, ''),
                                               'reports', v.n, 'devices', v.d)
                             ORDER BY v.n DESC, v.app_version), '[]')
    FROM (SELECT app_version, sum(reports) AS n,
                 round(hll_cardinality(hll_union_agg(devices)))::bigint AS d
          FROM rollup_version_daily
          WHERE group_id = p_group AND day >= (p_from AT TIME ZONE 'UTC')::date
            AND day <= (p_to AT TIME ZONE 'UTC')::date
          GROUP BY 1) v
$fn$;

-- The group object of the API from a group row, its window counts and its two breakdowns.
-- One expression: inlined where it is called.
CREATE OR REPLACE FUNCTION pinwatch_group_object(g groups, p_reports numeric, p_devices bigint,
                                                 p_networks bigint, p_versions json,
                                                 p_top_networks json)
RETURNS json LANGUAGE sql STABLE AS $fn$
    SELECT json_build_object('id', g.id, 'app', g.app_bundle_id, 'hostname', g.hostname,
        'anchor', CASE WHEN g.anchor_spki IS NULL THEN NULL ELSE json_build_object(
            'subject', g.anchor_subject, 'spki_sha256', encode(g.anchor_spki, 'hex'),
            'public', coalesce(g.anchor_public, false)) END,
        'expected_key_seen', g.expected_key_seen, 'reports', coalesce(p_reports, 0),
        'devices', coalesce(p_devices, 0), 'networks', coalesce(p_networks, 0),
        'first_seen', pinwatch_ts(g.first_seen), 'last_seen', pinwatch_ts(g.last_seen),
        'versions', p_versions, 'top_networks', p_top_networks,
        'verdict', g.verdict, 'kind', g.kind, 'product', g.product, 'reasons', g.reasons)
$fn$;

-- pinwatch_group_heatmap: a group's reports over [p_from, p_to] by app version x network, the
-- picture that tells our mistakes (few versions, many networks) from interception (few
-- networks, every version). No rollup crosses the two dimensions, so it reads the group's
-- reports by the (group_id, received_at) index; only the group's p_k networks with most
-- reports in the window are kept, each with its ASN and organisation when an ASN database
-- named them. Devices are counted like the rollups count them (vendor id, else network + user
-- agent).
CREATE OR REPLACE FUNCTION pinwatch_group_heatmap(p_group text, p_from timestamptz,
                                                  p_to timestamptz, p_k int)
RETURNS jsonb LANGUAGE sql STABLE AS $fn$
    WITH r AS (
        SELECT nullif(app_version, '') AS version, coalesce(network::text, '') AS network,
               asn, as_org,
               coalesce(vendor_id, coalesce(network::text, '') || '|' ||
                                   coalesce(user_agent, '')) AS device
          FROM reports
         WHERE group_id = p_group AND received_at >= p_from AND received_at <= p_to),
    top AS (
        SELECT network, count(*) AS n, max(asn) AS asn, max(as_org) AS as_org FROM r
         GROUP BY network ORDER BY 2 DESC, 1 LIMIT p_k)
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'version', c.version, 'network', nullif(c.network, ''), 'asn', top.asn,
               'as_org', top.as_org, 'reports', c.n, 'devices', c.d)
               ORDER BY c.version NULLS LAST, top.n DESC, c.network), '[]'::jsonb)
      FROM (SELECT version, network, count(*) AS n, count(DISTINCT device) AS d FROM r
             WHERE network IN (SELECT network FROM top) GROUP BY 1, 2) c
      JOIN top ON top.network = c.network
$fn$;

-- The overview's figures that a sum over groups cannot give: distinct devices and networks
-- of the groups p_groups over the window's whole UTC days (HLL union of their daily rollups,
-- so a device seen in two groups counts once).
CREATE OR REPLACE FUNCTION pinwatch_window_totals(p_from timestamptz, p_to timestamptz,
                                                  p_groups text[])
RETURNS jsonb LANGUAGE sql STABLE AS $fn$
    SELECT jsonb_build_object(
        'devices', coalesce(round(hll_cardinality(hll_union_agg(d.devices)))::bigint, 0),
        'networks', coalesce(round(hll_cardinality(hll_union_agg(d.networks)))::bigint, 0))
    FROM rollup_group_daily d
    WHERE d.group_id = ANY(coalesce(p_groups, '{}'))
      AND d.day >= (p_from AT TIME ZONE 'UTC')::date AND d.day <= (p_to AT TIME ZONE 'UTC')::date
$fn$;

-- GET /v1/groups/{id}: one group, its rows read by key, with the chains its reports carried
-- (and whether any of those reports had a known pin in the chain) and its version x network
-- heatmap. A group outside the window still answers, with zeros; no row: no such group.
CREATE OR REPLACE FUNCTION pinwatch_group_json(p_group text, p_from timestamptz,
                                               p_to timestamptz)
RETURNS SETOF text LANGUAGE sql STABLE AS $fn$
    SELECT (pinwatch_group_object(g, s.reports, s.devices, s.networks, v.versions,
                pinwatch_top_networks(g.id, (p_from AT TIME ZONE 'UTC')::date,
                                      (p_to AT TIME ZONE 'UTC')::date, 10))::jsonb
            || jsonb_build_object('chains', (
                SELECT coalesce(jsonb_agg(jsonb_build_object('sha256', encode(c.sha, 'hex'),
                           'reports', c.n, 'certificates', pinwatch_chain_certs_json(c.sha),
                           'findings', ch.analysis, 'pin_matched', c.pin) ORDER BY c.n DESC),
                           '[]'::jsonb)
                FROM (SELECT coalesce(r.validated_chain, r.served_chain) AS sha, count(*) AS n,
                             bool_or(pinwatch_flag(r.flags, 2)) AS pin
                      FROM reports r WHERE r.group_id = g.id
                        AND coalesce(r.validated_chain, r.served_chain) IS NOT NULL
                      GROUP BY 1) c
                LEFT JOIN chains ch ON ch.sha256 = c.sha),
               'heatmap', pinwatch_group_heatmap(g.id, p_from, p_to, 10)))::text
    FROM groups g
    LEFT JOIN (SELECT sum(w.reports) AS reports FROM pinwatch_window_reports(p_from, p_to) w
               WHERE w.group_id = p_group) r ON true
    LEFT JOIN (SELECT w.devices, w.networks FROM pinwatch_window_distincts(p_from, p_to) w
               WHERE w.group_id = p_group) d ON true
    CROSS JOIN LATERAL (SELECT r.reports, d.devices, d.networks) s
    CROSS JOIN LATERAL pinwatch_group_versions(g.id, p_from, p_to) AS v(versions)
    WHERE g.id = p_group
$fn$;

-- GET /v1/groups: a page of the groups with reports in the window (filters NULL: all), most
-- reports first, as {"groups": [...], "next_cursor": ..., "totals": {...}}: p_limit groups
-- after the one the cursor names (p_after_reports, p_after_id; NULL: from the start). The page
-- is read one group past p_limit: when that one exists, next_cursor names the last group shown
-- ('g<reports>.<id>'), else it is null. totals (the dashboard's figures) cover every group the
-- filters select, whatever the page. Distinct counts, versions and top networks are computed
-- for the page's groups only, in one aggregate each (per group, each paid an executor and
-- hash-table set-up).
CREATE OR REPLACE FUNCTION pinwatch_groups_json(p_from timestamptz, p_to timestamptz,
                                                p_hostname text, p_app text, p_verdict text,
                                                p_limit int, p_after_reports bigint,
                                                p_after_id text)
RETURNS SETOF text LANGUAGE sql STABLE AS $fn$
    WITH r AS (SELECT w.group_id, sum(w.reports) AS reports
               FROM pinwatch_window_reports(p_from, p_to) w
               GROUP BY w.group_id HAVING sum(w.reports) > 0),
    f AS (SELECT r.group_id, r.reports, g.first_seen
          FROM r JOIN groups g ON g.id = r.group_id
          WHERE (p_hostname IS NULL OR g.hostname = p_hostname)
            AND (p_app IS NULL OR g.app_bundle_id = p_app)
            AND (p_verdict IS NULL OR g.verdict = p_verdict)),
    p AS (SELECT f.group_id, f.reports,
                 row_number() OVER (ORDER BY f.reports DESC, f.group_id) AS rn
          FROM f
          WHERE p_after_reports IS NULL OR f.reports < p_after_reports
             OR (f.reports = p_after_reports AND f.group_id > p_after_id)
          ORDER BY f.reports DESC, f.group_id LIMIT p_limit + 1),
    s AS (SELECT p.group_id, p.reports, d.devices, d.networks FROM p
          LEFT JOIN pinwatch_window_distincts(p_from, p_to) d ON d.group_id = p.group_id
          WHERE p.rn <= p_limit),
    t AS (SELECT s.group_id, x.net, x.n, x.ord FROM s
          CROSS JOIN LATERAL pinwatch_top_network_list(s.group_id,
              (p_from AT TIME ZONE 'UTC')::date, (p_to AT TIME ZONE 'UTC')::date, 10) l
          CROSS JOIN LATERAL unnest(l.networks, l.counts) WITH ORDINALITY AS x(net, n, ord)),
    n AS (SELECT t.group_id, json_agg(json_build_object('network', nullif(t.net, ''),
                     'asn', nullif(t.asn, 0), 'reports', t.n, 'devices', t.d)
                     ORDER BY t.ord) AS top
          FROM (SELECT t.group_id, t.net, t.n, t.ord, max(d.asn) AS asn,
                       round(hll_cardinality(hll_union_agg(d.devices)))::bigint AS d
                FROM t JOIN rollup_network_daily d ON d.group_id = t.group_id
                  AND d.network = t.net AND d.day >= (p_from AT TIME ZONE 'UTC')::date
                  AND d.day <= (p_to AT TIME ZONE 'UTC')::date
                GROUP BY 1, 2, 3, 4) t
          GROUP BY t.group_id)
    SELECT json_build_object(
               'groups', coalesce((SELECT json_agg(
                   pinwatch_group_object(g, s.reports, s.devices, s.networks, v.versions,
                                         coalesce(n.top, '[]'))
                   ORDER BY s.reports DESC, g.id)
                 FROM s JOIN groups g ON g.id = s.group_id
                 LEFT JOIN n ON n.group_id = s.group_id
                 CROSS JOIN LATERAL pinwatch_group_versions(g.id, p_from, p_to) AS v(versions)),
                 '[]'::json),
               'next_cursor', (SELECT 'g' || l.reports || '.' || l.group_id FROM p l
                               WHERE l.rn = p_limit
                                 AND EXISTS (SELECT 1 FROM p WHERE p.rn = p_limit + 1)),
               'totals', (SELECT jsonb_build_object('reports', coalesce(sum(f.reports), 0),
                                     'groups', count(f.group_id),
                                     'new_groups', count(f.group_id)
                                                   FILTER (WHERE f.first_seen >= p_from))
                                 || pinwatch_window_totals(p_from, p_to, array_agg(f.group_id))
                          FROM f))::text
$fn$;

-- GET /v1/trends: report and device counts per bucket ('hour' or 'day') of the window, one
-- series per value of p_by ('app_version', 'network', 'hostname', 'verdict', 'platform'),
-- the p_limit largest series first. Read from the rollup that has the dimension and every
-- filter (filters NULL: all); app_version and network cannot be combined. The query is built
-- from fixed pieces and run with EXECUTE ... USING, so it is planned with the values given.
CREATE OR REPLACE FUNCTION pinwatch_trends(p_bucket text, p_by text, p_from timestamptz,
                                           p_to timestamptz, p_hostname text DEFAULT NULL,
                                           p_app text DEFAULT NULL, p_verdict text DEFAULT NULL,
                                           p_platform text DEFAULT NULL,
                                           p_group text DEFAULT NULL,
                                           p_app_version text DEFAULT NULL,
                                           p_network cidr DEFAULT NULL,
                                           p_limit int DEFAULT 100)
RETURNS text LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    by_version boolean := p_by = 'app_version' OR p_app_version IS NOT NULL;
    by_network boolean := p_by = 'network' OR p_network IS NOT NULL;
    daily boolean := by_version AND p_bucket = 'day';
    group_filters boolean := coalesce(p_hostname, p_app, p_verdict, p_platform, p_group)
                             IS NOT NULL;
    key text := CASE p_by WHEN 'app_version' THEN 'nullif(r.app_version, '''')'
                          WHEN 'network' THEN 'nullif(r.network, '''')'
                          WHEN 'hostname' THEN 'g.hostname'
                          WHEN 'verdict' THEN 'g.verdict'
                          WHEN 'platform' THEN 'nullif(r.platform, '''')' END;
    source text;
    result text;
BEGIN
    IF p_bucket IS NULL OR p_bucket NOT IN ('hour', 'day') THEN
        RAISE EXCEPTION 'bucket: must be hour or day' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF key IS NULL THEN
        RAISE EXCEPTION 'by: must be app_version, network, hostname, verdict or platform'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF by_version AND by_network THEN
        RAISE EXCEPTION 'app_version and network cannot be combined in one trend'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The all-groups table has no group: its filters on g, platform and group are all NULL
    -- there, so they pass.
    source := CASE
        WHEN daily THEN 'rollup_version_daily r JOIN groups g ON g.id = r.group_id'
        WHEN by_version THEN 'rollup_version_hourly r JOIN groups g ON g.id = r.group_id'
        WHEN by_network AND group_filters
            THEN 'rollup_network_hourly r JOIN groups g ON g.id = r.group_id'
        WHEN by_network
            THEN '(SELECT network, hour, reports, devices, NULL::text AS platform,'
                 ' NULL::text AS group_id FROM rollup_network_all_hourly) r'
                 ' LEFT JOIN groups g ON false'
        ELSE 'rollup_group_hourly r JOIN groups g ON g.id = r.group_id' END;
    EXECUTE format($q$
        SELECT json_build_object('bucket', $3, 'by', $4, 'series',
                   coalesce(json_agg(json_build_object('key', k.key, 'points', k.points)
                                     ORDER BY k.total DESC, k.key), '[]'::json))::text
        FROM (SELECT p.key, sum(p.reports) AS total,
                     json_agg(json_build_object('t', pinwatch_ts(p.t), 'reports', p.reports,
                                                'devices', p.devices) ORDER BY p.t) AS points
              FROM (SELECT %s AS key, date_trunc($3, %s, 'UTC') AS t,
                           sum(r.reports) AS reports,
                           round(hll_cardinality(hll_union_agg(r.devices)))::bigint AS devices
                    FROM %s
                    WHERE %s
                      AND ($5::text IS NULL OR g.hostname = $5)
                      AND ($6::text IS NULL OR g.app_bundle_id = $6)
                      AND ($7::text IS NULL OR g.verdict = $7)
                      AND ($8::text IS NULL OR r.platform = $8)
                      AND ($9::text IS NULL OR r.group_id = $9)
                      %s %s
                    GROUP BY 1, 2) p
              GROUP BY p.key ORDER BY 2 DESC, 1 LIMIT $12) k
        $q$,
        key,
        CASE WHEN daily THEN '(r.day::timestamp AT TIME ZONE ''UTC'')' ELSE 'r.hour' END,
        source,
        CASE WHEN daily
             THEN 'r.day >= ($1 AT TIME ZONE ''UTC'')::date'
                  ' AND r.day <= ($2 AT TIME ZONE ''UTC'')::date'
             ELSE 'r.hour >= date_trunc(''hour'', $1, ''UTC'') AND r.hour <= $2' END,
        CASE WHEN by_version THEN 'AND ($10::text IS NULL OR r.app_version = $10)'
             WHEN by_network
             THEN 'AND ($11::cidr IS NULL OR CASE WHEN r.network = '''' THEN false'
                  ' ELSE r.network::cidr <<= $11 END)'
             ELSE '' END,
        -- By network: only the networks of the series, found once (a sub-SELECT) by a bounded
        -- walk (pinwatch_trend_networks), are read; the key leads the table's index.
        CASE WHEN p_by = 'network'
             THEN 'AND r.network = ANY((SELECT pinwatch_trend_networks($1, $2, $12, $5, $6,'
                  ' $7, $8, $9, $11))::text[])'
             ELSE '' END)
    INTO result
    USING p_from, p_to, p_bucket, p_by, p_hostname, p_app, p_verdict, p_platform, p_group,
          p_app_version, p_network, p_limit;
    RETURN result;
END;
$fn$;
