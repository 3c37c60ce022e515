-- sql/functions/40_rollups.sql: the rollup merge, its queue, and the rebuild after re-grouping.
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

-- One newly stored report as the rollups see it (pinwatch_rollup_row, migration 0007).
CREATE OR REPLACE FUNCTION pinwatch_rollup_row_of(x reports) RETURNS pinwatch_rollup_row
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT ROW(x.group_id, x.received_at, coalesce(x.app_version, ''),
               coalesce(x.network::text, ''), coalesce(x.platform, ''), coalesce(x.asn, 0),
               hll_hash_text(coalesce(x.vendor_id, coalesce(x.network::text, '') || '|' ||
                                                   coalesce(x.user_agent, ''))),
               hll_hash_text(coalesce(x.network::text, '')), x.validation_result,
               x.client_time, x.pins_expire, x.flags)::pinwatch_rollup_row
$fn$;

-- Merges the rollup rows of newly stored reports into every rollup table, the network
-- rankings and the groups' times. Everything that merges rollups (the flusher, reads,
-- re-grouping, old spooled units) calls this.
CREATE OR REPLACE FUNCTION pinwatch_apply_rollups(p_rows pinwatch_rollup_row[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    WITH
    r AS (SELECT * FROM unnest(p_rows)),
    -- one row per report with the per-group evidence counters as 0/1
    e AS (
        SELECT r.*, date_trunc('hour', received_at, 'UTC') AS hour,
               (received_at AT TIME ZONE 'UTC')::date AS day,
               pinwatch_flag(flags, 2)::int AS pin_in_chain,
               pinwatch_flag(flags, 4)::int AS leaf_expected,
               (NOT pinwatch_flag(flags, 0))::int AS not_covering,
               (NOT pinwatch_flag(flags, 1))::int AS invalid_at_time,
               (NOT pinwatch_flag(flags, 5))::int AS unlinked,
               (validation_result = 2)::int AS result_untrusted,
               (pins_expire < coalesce(client_time, received_at))::int AS pins_expired,
               (abs(extract(epoch FROM client_time - received_at)) > 86400
                AND NOT pinwatch_flag(flags, 1))::int AS clock_skew
        FROM r),
    gh AS (
        INSERT INTO rollup_group_hourly AS t (group_id, hour, platform, reports, devices)
        SELECT group_id, hour, platform, count(*), hll_add_agg(device)
        FROM e GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (group_id, hour, platform) DO UPDATE SET
            reports = t.reports + excluded.reports,
            devices = hll_union(t.devices, excluded.devices)),
    gd AS (
        INSERT INTO rollup_group_daily AS t (group_id, day, reports, devices, networks,
                                             pin_in_chain, leaf_expected, not_covering,
                                             invalid_at_time, unlinked, result_untrusted,
                                             pins_expired, clock_skew)
        SELECT group_id, day, count(*), hll_add_agg(device), hll_add_agg(net),
               coalesce(sum(pin_in_chain), 0), coalesce(sum(leaf_expected), 0),
               coalesce(sum(not_covering), 0), coalesce(sum(invalid_at_time), 0),
               coalesce(sum(unlinked), 0), coalesce(sum(result_untrusted), 0),
               coalesce(sum(pins_expired), 0), coalesce(sum(clock_skew), 0)
        FROM e GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (group_id, day) DO UPDATE SET
            reports = t.reports + excluded.reports,
            devices = hll_union(t.devices, excluded.devices),
            networks = hll_union(t.networks, excluded.networks),
            pin_in_chain = t.pin_in_chain + excluded.pin_in_chain,
            leaf_expected = t.leaf_expected + excluded.leaf_expected,
            not_covering = t.not_covering + excluded.not_covering,
            invalid_at_time = t.invalid_at_time + excluded.invalid_at_time,
            unlinked = t.unlinked + excluded.unlinked,
            result_untrusted = t.result_untrusted + excluded.result_untrusted,
            pins_expired = t.pins_expired + excluded.pins_expired,
            clock_skew = t.clock_skew + excluded.clock_skew),
    vh AS (
        INSERT INTO rollup_version_hourly AS t (group_id, hour, app_version, platform, reports,
                                                devices)
        SELECT group_id, hour, app_version, platform, count(*), hll_add_agg(device)
        FROM e GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (group_id, hour, app_version, platform) DO UPDATE SET
            reports = t.reports + excluded.reports,
            devices = hll_union(t.devices, excluded.devices)),
    vd AS (
        INSERT INTO rollup_version_daily AS t (group_id, day, app_version, platform, reports,
                                               devices)
        SELECT group_id, day, app_version, platform, count(*), hll_add_agg(device)
        FROM e GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (group_id, day, app_version, platform) DO UPDATE SET
            reports = t.reports + excluded.reports,
            devices = hll_union(t.devices, excluded.devices)),
    nh AS (
        INSERT INTO rollup_network_hourly AS t (group_id, hour, network, asn, platform, reports,
                                                devices)
        SELECT group_id, hour, network, asn, platform, count(*), hll_add_agg(device)
        FROM e GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (group_id, hour, network, asn, platform) DO UPDATE SET
            reports = t.reports + excluded.reports,
            devices = hll_union(t.devices, excluded.devices)),
    nd AS (
        INSERT INTO rollup_network_daily AS t (group_id, day, network, asn, reports, devices)
        SELECT group_id, day, network, asn, count(*), hll_add_agg(device)
        FROM e GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (group_id, day, network, asn) DO UPDATE SET
            reports = t.reports + excluded.reports,
            devices = hll_union(t.devices, excluded.devices)),
    gn AS (
        INSERT INTO group_networks AS t (group_id, network, asn, reports)
        SELECT group_id, network, max(asn), count(*) FROM e GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (group_id, network) DO UPDATE SET
            reports = t.reports + excluded.reports,
            asn = greatest(t.asn, excluded.asn))
    INSERT INTO network_totals AS t (network, reports)
    SELECT network, count(*) FROM e GROUP BY 1 ORDER BY 1
    ON CONFLICT (network) DO UPDATE SET reports = t.reports + excluded.reports;
    -- trends by network without group filters read one row per network-hour
    INSERT INTO rollup_network_all_hourly AS t (network, hour, reports, devices)
    SELECT network, date_trunc('hour', received_at, 'UTC'), count(*), hll_add_agg(device)
    FROM unnest(p_rows) GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (network, hour) DO UPDATE SET
        reports = t.reports + excluded.reports,
        devices = hll_union(t.devices, excluded.devices);
    -- A group's times and version move here, once per merge, not at each commit. Rows are
    -- locked in id order, as every other writer of groups does, so two merges (two nodes)
    -- cannot deadlock on them.
    PERFORM 1 FROM groups WHERE id IN (SELECT group_id FROM unnest(p_rows))
    ORDER BY id FOR NO KEY UPDATE;
    UPDATE groups AS t SET
        first_seen = least(t.first_seen, x.first_seen),
        last_seen = greatest(t.last_seen, x.last_seen),
        version = t.version + 1
    FROM (SELECT group_id, min(received_at) AS first_seen, max(received_at) AS last_seen
          FROM unnest(p_rows) GROUP BY group_id) AS x
    WHERE t.id = x.group_id;
END;
$fn$;

-- Merge everything queued (visible when it starts) into the rollups; returns the number of
-- reports merged. Concurrent calls wait for each other's rows rather than merge them twice.
CREATE OR REPLACE FUNCTION pinwatch_rollups_flush() RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    n bigint;
    rows pinwatch_rollup_row[];
BEGIN
    WITH q AS (DELETE FROM rollup_queue RETURNING batch)
    SELECT count(*), array_agg(r) INTO n, rows FROM q, unnest(q.batch) AS r;
    IF n = 0 THEN
        RETURN 0; -- nothing queued
    END IF;
    PERFORM pinwatch_apply_rollups(rows);
    RETURN n;
END;
$fn$;

-- Re-grouping reads reports and rebuilds rollups from them: it holds new commits back (they
-- wait before taking any row lock, see pinwatch_store_staged) and merges what is queued first.
CREATE OR REPLACE FUNCTION pinwatch_rollups_hold() RETURNS bigint
LANGUAGE plpgsql AS $fn$
BEGIN
    LOCK TABLE rollup_queue IN SHARE ROW EXCLUSIVE MODE;
    RETURN pinwatch_rollups_flush();
END;
$fn$;

-- Re-grouping moves reports between the groups it rebuilds: their counts in network_totals
-- and rollup_network_all_hourly are taken out before the rollups are rebuilt (which adds them
-- back), so the totals stay exact (the device sketches need nothing: a union with the same
-- devices is the same sketch).
CREATE OR REPLACE FUNCTION pinwatch_rebuild_rollups(p_groups text[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE rollup_network_all_hourly t SET reports = t.reports - x.n
    FROM (SELECT coalesce(network::text, '') AS network,
                 date_trunc('hour', received_at, 'UTC') AS hour, count(*) AS n
          FROM reports WHERE group_id = ANY (p_groups) GROUP BY 1, 2) x
    WHERE t.network = x.network AND t.hour = x.hour;
    UPDATE network_totals t SET reports = t.reports - x.n
    FROM (SELECT coalesce(network::text, '') AS network, count(*) AS n FROM reports
          WHERE group_id = ANY (p_groups) GROUP BY 1) x
    WHERE t.network = x.network;
    DELETE FROM rollup_group_hourly WHERE group_id = ANY (p_groups);
    DELETE FROM rollup_group_daily WHERE group_id = ANY (p_groups);
    DELETE FROM rollup_version_hourly WHERE group_id = ANY (p_groups);
    DELETE FROM rollup_version_daily WHERE group_id = ANY (p_groups);
    DELETE FROM rollup_network_hourly WHERE group_id = ANY (p_groups);
    DELETE FROM rollup_network_daily WHERE group_id = ANY (p_groups);
    DELETE FROM group_networks WHERE group_id = ANY (p_groups);
    PERFORM pinwatch_apply_rollups(array_agg(pinwatch_rollup_row_of(r)))
    FROM reports r WHERE r.group_id = ANY (p_groups);
    UPDATE groups g SET version = g.version + 1,
                        first_seen = coalesce(x.f, g.first_seen),
                        last_seen = coalesce(x.l, g.last_seen)
    FROM (SELECT u.id, (SELECT min(received_at) FROM reports r WHERE r.group_id = u.id) AS f,
                 (SELECT max(received_at) FROM reports r WHERE r.group_id = u.id) AS l
          FROM unnest(p_groups) AS u(id)) x
    WHERE g.id = x.id;
END;
$fn$;
