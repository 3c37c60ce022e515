-- sql/functions/60_dashboard.sql: reads of the dashboard that the rollups cannot answer.
--
-- A repeatable file (see 50_networks.sql): nothing but CREATE OR REPLACE FUNCTION, applied
-- after the migrations and again whenever it changes.

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

-- Figures of the dashboard's overview for the groups that GET /v1/groups lists (p_groups, its
-- "groups" array, for the window [p_from, p_to]): reports, and distinct devices and
-- networks over the window's whole UTC days (HLL union of the daily group rollups, so a device
-- seen in two groups counts once), groups, and groups first seen inside the window.
CREATE OR REPLACE FUNCTION pinwatch_window_totals(p_from timestamptz, p_to timestamptz,
                                                  p_groups jsonb)
RETURNS jsonb LANGUAGE sql STABLE AS $fn$
    WITH ids AS (SELECT x ->> 'id' AS id, (x ->> 'reports')::bigint AS reports,
                        x ->> 'first_seen' AS first_seen
                   FROM jsonb_array_elements(coalesce(p_groups, '[]'::jsonb)) x)
    SELECT jsonb_build_object(
        'reports', coalesce((SELECT sum(reports) FROM ids), 0),
        'devices', coalesce((SELECT round(hll_cardinality(hll_union_agg(d.devices)))::bigint
                               FROM rollup_group_daily d
                              WHERE d.group_id IN (SELECT id FROM ids)
                                AND d.day >= (p_from AT TIME ZONE 'UTC')::date
                                AND d.day <= (p_to AT TIME ZONE 'UTC')::date), 0),
        'networks', coalesce((SELECT round(hll_cardinality(hll_union_agg(d.networks)))::bigint
                                FROM rollup_group_daily d
                               WHERE d.group_id IN (SELECT id FROM ids)
                                 AND d.day >= (p_from AT TIME ZONE 'UTC')::date
                                 AND d.day <= (p_to AT TIME ZONE 'UTC')::date), 0),
        'groups', (SELECT count(*) FROM ids),
        'new_groups', (SELECT count(*) FROM ids WHERE first_seen::timestamptz >= p_from))
$fn$;
