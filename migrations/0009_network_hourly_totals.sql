-- Trends by network without group filters read one row per network-hour instead of one per
-- network-hour-group: a network shared by many groups (an interception box in front of every
-- app) had 48 rows a point to merge in the benchmark. The group-level rollup stays for trends
-- filtered by hostname, app, verdict, platform or group.

CREATE TABLE rollup_network_all_hourly (
    network  text NOT NULL,
    hour     timestamptz NOT NULL,
    reports  bigint NOT NULL,
    devices  hll NOT NULL,
    PRIMARY KEY (network, hour)
);
CREATE INDEX rollup_network_all_hourly_hour_idx ON rollup_network_all_hourly (hour);

INSERT INTO rollup_network_all_hourly
SELECT network, hour, sum(reports), hll_union_agg(devices)
FROM rollup_network_hourly GROUP BY 1, 2;

-- The merge of 0008 keeps its body under a new name; the commit path and re-grouping call
-- pinwatch_apply_rollups, which now also merges this table.
ALTER FUNCTION pinwatch_apply_rollups(pinwatch_rollup_row[]) RENAME TO pinwatch_apply_group_rollups;

CREATE FUNCTION pinwatch_apply_rollups(p_rows pinwatch_rollup_row[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pinwatch_apply_group_rollups(p_rows);
    INSERT INTO rollup_network_all_hourly AS t (network, hour, reports, devices)
    SELECT network, date_trunc('hour', received_at, 'UTC'), count(*), hll_add_agg(device)
    FROM unnest(p_rows) GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (network, hour) DO UPDATE SET
        reports = t.reports + excluded.reports,
        devices = hll_union(t.devices, excluded.devices);
END;
$fn$;

-- Re-grouping re-adds the rebuilt groups' reports: their counts are taken out first (the
-- device sketches need nothing: a union with the same devices is the same sketch).
ALTER FUNCTION pinwatch_rebuild_rollups(text[]) RENAME TO pinwatch_rebuild_group_rollups;

CREATE FUNCTION pinwatch_rebuild_rollups(p_groups text[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE rollup_network_all_hourly t SET reports = t.reports - x.n
    FROM (SELECT coalesce(network::text, '') AS network,
                 date_trunc('hour', received_at, 'UTC') AS hour, count(*) AS n
          FROM reports WHERE group_id = ANY (p_groups) GROUP BY 1, 2) x
    WHERE t.network = x.network AND t.hour = x.hour;
    PERFORM pinwatch_rebuild_group_rollups(p_groups);
END;
$fn$;

-- A trend walk's window count: from the all-groups table when no filter needs the groups.
CREATE OR REPLACE FUNCTION pinwatch_network_window(p_network text, p_from timestamptz,
                                                   p_to timestamptz, p_hostname text,
                                                   p_app text, p_verdict text,
                                                   p_platform text, p_group text)
RETURNS bigint LANGUAGE sql STABLE AS $fn$
    SELECT CASE WHEN coalesce(p_hostname, p_app, p_verdict, p_platform, p_group) IS NULL
    THEN (SELECT sum(a.reports) FROM rollup_network_all_hourly a
          WHERE a.network = p_network
            AND a.hour >= date_trunc('hour', p_from, 'UTC') AND a.hour <= p_to)
    ELSE (SELECT sum(r.reports) FROM rollup_network_hourly r JOIN groups g ON g.id = r.group_id
          WHERE r.network = p_network
            AND r.hour >= date_trunc('hour', p_from, 'UTC') AND r.hour <= p_to
            AND (p_hostname IS NULL OR g.hostname = p_hostname)
            AND (p_app IS NULL OR g.app_bundle_id = p_app)
            AND (p_verdict IS NULL OR g.verdict = p_verdict)
            AND (p_platform IS NULL OR r.platform = p_platform)
            AND (p_group IS NULL OR r.group_id = p_group)) END
$fn$;

-- Units spooled by a version before 0008 carry per-report findings as a JSON object instead of
-- flags; a replay after the upgrade converts them rather than dropping them.
ALTER FUNCTION pinwatch_store_batch(json, json, json, json, json, json)
    RENAME TO pinwatch_store_batch_rows;

CREATE FUNCTION pinwatch_store_batch(p_certs json, p_chains json, p_fragments json,
                                     p_bodies json, p_reports json, p_groups json)
RETURNS bigint LANGUAGE plpgsql AS $fn$
BEGIN
    IF strpos(p_reports::text, '"findings"') > 0 THEN
        p_reports := (SELECT json_agg(CASE WHEN e ? 'findings' AND NOT e ? 'flags'
                                           THEN (e - 'findings') || jsonb_build_object(
                                                'flags', pinwatch_findings_flags(e -> 'findings'))
                                           ELSE e END ORDER BY i)
                      FROM jsonb_array_elements(p_reports::jsonb) WITH ORDINALITY AS x(e, i));
    END IF;
    RETURN pinwatch_store_batch_rows(p_certs, p_chains, p_fragments, p_bodies, p_reports,
                                     p_groups);
END;
$fn$;
