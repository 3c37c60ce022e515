-- /v1/groups stays fast as data grows (issue 6):
-- * rollup_group_daily: a group's window totals and verdict evidence read one row per day
--   instead of one per hour (an HLL union each);
-- * group_networks: every network's all-time report count per group, ranked by an index. A
--   window's top networks walk it in descending order and stop as soon as no remaining network
--   can beat the tenth (a network's window count never exceeds its all-time count), instead of
--   summing every network-day row of the group;
-- * the rollup merge lives in one function (pinwatch_apply_rollups) fed a typed array, shared
--   by the commit path and by re-grouping, instead of two copies of the same statement.

CREATE TABLE rollup_group_daily (
    group_id          text NOT NULL,
    day               date NOT NULL,
    reports           bigint NOT NULL,
    devices           hll NOT NULL,
    networks          hll NOT NULL,
    pin_in_chain      bigint NOT NULL DEFAULT 0,
    leaf_expected     bigint NOT NULL DEFAULT 0,
    not_covering      bigint NOT NULL DEFAULT 0,
    invalid_at_time   bigint NOT NULL DEFAULT 0,
    unlinked          bigint NOT NULL DEFAULT 0,
    result_untrusted  bigint NOT NULL DEFAULT 0,
    pins_expired      bigint NOT NULL DEFAULT 0,
    clock_skew        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, day)
);

INSERT INTO rollup_group_daily
SELECT group_id, (hour AT TIME ZONE 'UTC')::date, sum(reports), hll_union_agg(devices),
       hll_union_agg(networks), sum(pin_in_chain), sum(leaf_expected), sum(not_covering),
       sum(invalid_at_time), sum(unlinked), sum(result_untrusted), sum(pins_expired),
       sum(clock_skew)
FROM rollup_group_hourly GROUP BY 1, 2;

-- Report counts only grow (re-grouping rebuilds them), so an all-time count bounds the count
-- of any window.
CREATE TABLE group_networks (
    group_id  text NOT NULL,
    network   text NOT NULL,
    asn       bigint NOT NULL DEFAULT 0,
    reports   bigint NOT NULL,
    PRIMARY KEY (group_id, network)
);
CREATE INDEX group_networks_rank_idx ON group_networks (group_id, reports DESC, network);

INSERT INTO group_networks
SELECT group_id, network, max(asn), sum(reports) FROM rollup_network_daily GROUP BY 1, 2;

-- One newly stored report as the rollups see it.
CREATE TYPE pinwatch_rollup_row AS (
    group_id           text,
    received_at        timestamptz,
    app_version        text,
    network            text,
    platform           text,
    asn                bigint,
    device             hll_hashval,
    net                hll_hashval,
    findings           jsonb,
    validation_result  bigint,
    client_time        timestamptz,
    pins_expire        timestamptz
);

CREATE FUNCTION pinwatch_apply_rollups(p_rows pinwatch_rollup_row[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    WITH
    r AS (SELECT * FROM unnest(p_rows)),
    -- one row per report with the per-group evidence counters as 0/1
    e AS (
        SELECT r.*, date_trunc('hour', received_at, 'UTC') AS hour,
               (received_at AT TIME ZONE 'UTC')::date AS day,
               ((findings->>'pin_in_chain')::boolean)::int AS pin_in_chain,
               ((findings->>'leaf_expected')::boolean)::int AS leaf_expected,
               (NOT (findings->>'covers_hostname')::boolean)::int AS not_covering,
               (NOT (findings->>'valid_at_report_time')::boolean)::int AS invalid_at_time,
               (NOT (findings->>'linked')::boolean)::int AS unlinked,
               (validation_result = 2)::int AS result_untrusted,
               (pins_expire < coalesce(client_time, received_at))::int AS pins_expired,
               (abs(extract(epoch FROM client_time - received_at)) > 86400
                AND NOT (findings->>'valid_at_report_time')::boolean)::int AS clock_skew
        FROM r),
    gh AS (
        INSERT INTO rollup_group_hourly AS t (group_id, hour, platform, reports, devices,
                                              networks, pin_in_chain, leaf_expected,
                                              not_covering, invalid_at_time, unlinked,
                                              result_untrusted, pins_expired, clock_skew)
        SELECT group_id, hour, platform, count(*), hll_add_agg(device), hll_add_agg(net),
               coalesce(sum(pin_in_chain), 0), coalesce(sum(leaf_expected), 0),
               coalesce(sum(not_covering), 0), coalesce(sum(invalid_at_time), 0),
               coalesce(sum(unlinked), 0), coalesce(sum(result_untrusted), 0),
               coalesce(sum(pins_expired), 0), coalesce(sum(clock_skew), 0)
        FROM e GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (group_id, hour, platform) DO UPDATE SET
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
            devices = hll_union(t.devices, excluded.devices))
    INSERT INTO group_networks AS t (group_id, network, asn, reports)
    SELECT group_id, network, max(asn), count(*) FROM e GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (group_id, network) DO UPDATE SET
        reports = t.reports + excluded.reports,
        asn = greatest(t.asn, excluded.asn);
END;
$fn$;

-- A stored report as the rollups see it. A device: its vendor id, else its network and user
-- agent.
CREATE FUNCTION pinwatch_rollup_row_of(x reports) RETURNS pinwatch_rollup_row
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT ROW(x.group_id, x.received_at, coalesce(x.app_version, ''),
               coalesce(x.network::text, ''), coalesce(x.platform, ''), coalesce(x.asn, 0),
               hll_hash_text(coalesce(x.vendor_id, coalesce(x.network::text, '') || '|' ||
                                                   coalesce(x.user_agent, ''))),
               hll_hash_text(coalesce(x.network::text, '')), x.findings, x.validation_result,
               x.client_time, x.pins_expire)::pinwatch_rollup_row
$fn$;

CREATE OR REPLACE FUNCTION pinwatch_store_batch(p_certs json, p_chains json, p_fragments json,
                                                p_bodies json, p_reports json, p_groups json)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
    n bigint;
    rows pinwatch_rollup_row[];
BEGIN
    WITH
    c AS (
        INSERT INTO certificates (sha256, spki_sha256, der, subject, issuer, serial, not_before,
                                  not_after, sans, key_type, key_bits, is_ca, sig_alg)
        SELECT sha256, spki_sha256, der, subject, issuer, serial, not_before, not_after,
               coalesce(sans, '{}'), key_type, key_bits, coalesce(is_ca, false), sig_alg
        FROM json_populate_recordset(NULL::certificates, p_certs)
        ORDER BY sha256
        ON CONFLICT DO NOTHING),
    ch AS (
        INSERT INTO chains (sha256, certs, analysis)
        SELECT sha256, certs, analysis FROM json_populate_recordset(NULL::chains, p_chains)
        ORDER BY sha256
        ON CONFLICT DO NOTHING),
    f AS (
        INSERT INTO raw_fragments (sha256, bytes)
        SELECT sha256, bytes FROM json_populate_recordset(NULL::raw_fragments, p_fragments)
        ORDER BY sha256
        ON CONFLICT DO NOTHING),
    b AS (
        INSERT INTO raw_bodies (sha256, received_at, length, template)
        SELECT sha256, received_at, length, template
        FROM json_populate_recordset(NULL::raw_bodies, p_bodies)
        ORDER BY sha256
        ON CONFLICT DO NOTHING),
    g AS (
        INSERT INTO groups AS t (id, app_bundle_id, hostname, anchor_spki, anchor_subject,
                                 anchor_public, expected_key_seen, first_seen, last_seen,
                                 catalog_product, catalog_category, known_hostile, hostile_name,
                                 hostile_category, weak)
        SELECT id, min(app_bundle_id), min(hostname), (array_agg(anchor_spki))[1],
               min(anchor_subject), bool_or(anchor_public), bool_or(expected_key_seen),
               min(first_seen), max(last_seen), min(catalog_product), min(catalog_category),
               bool_or(known_hostile), min(hostile_name), min(hostile_category),
               coalesce(min(weak), '{}')
        FROM json_populate_recordset(NULL::groups, p_groups)
        GROUP BY id
        ORDER BY id
        ON CONFLICT (id) DO UPDATE SET
            first_seen = least(t.first_seen, excluded.first_seen),
            last_seen = greatest(t.last_seen, excluded.last_seen),
            version = t.version + 1,
            catalog_product = coalesce(t.catalog_product, excluded.catalog_product),
            catalog_category = coalesce(t.catalog_category, excluded.catalog_category),
            known_hostile = t.known_hostile OR excluded.known_hostile,
            hostile_name = coalesce(t.hostile_name, excluded.hostile_name),
            hostile_category = coalesce(t.hostile_category, excluded.hostile_category)),
    ins AS (
        INSERT INTO reports (id, received_at, format, hostname, hostname_raw, noted_hostname,
                             noted_hostname_raw, port, include_subdomains, enforce_pinning,
                             validation_result, client_time, client_time_raw, pins_expire,
                             pins_expire_raw, known_pins, known_pins_raw, served_chain,
                             validated_chain, app_bundle_id, app_version, platform,
                             platform_version, vendor_id, sdk, sdk_version, network, client_ip,
                             asn, as_org, country, user_agent, group_id, findings, problems,
                             extra, raw_sha256)
        SELECT id, received_at, format, hostname, hostname_raw, noted_hostname,
               noted_hostname_raw, port, include_subdomains, enforce_pinning, validation_result,
               client_time, client_time_raw, pins_expire, pins_expire_raw,
               coalesce(known_pins, '{}'), known_pins_raw, served_chain, validated_chain,
               app_bundle_id, app_version, platform, platform_version, vendor_id, sdk,
               sdk_version, network, client_ip, asn, as_org, country, user_agent, group_id,
               findings, problems, extra, raw_sha256
        FROM json_populate_recordset(NULL::reports, p_reports)
        ORDER BY id
        ON CONFLICT DO NOTHING
        -- only rows really inserted reach the rollups, so replaying a unit changes nothing
        RETURNING *)
    SELECT count(*), array_agg(pinwatch_rollup_row_of(ROW(ins.*)::reports)) INTO n, rows
    FROM ins;
    IF n > 0 THEN
        PERFORM pinwatch_apply_rollups(rows);
    END IF;
    RETURN n;
END;
$fn$;

CREATE OR REPLACE FUNCTION pinwatch_rebuild_rollups(p_groups text[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
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

-- Superseded by pinwatch_apply_rollups; it would miss the tables above.
DROP FUNCTION pinwatch_add_rollups(json);

-- The p_k networks of a group with most reports over the days [p_from, p_to], most first (ties
-- by network), as the top_networks array of SPEC 7. Walks group_networks by all-time count and
-- stops when the next network's all-time count cannot beat the k-th window count found so far:
-- about k index probes when the window holds most of the history. When history outside the
-- window dominates (many probes), the window's network-day rows are summed instead, which is
-- then the cheaper side.
CREATE FUNCTION pinwatch_top_networks(p_group text, p_from date, p_to date, p_k int)
RETURNS json LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    cand record;
    top_net text[] := '{}';
    top_n bigint[] := '{}';
    walked int := 0;
    s bigint;
    i int;
BEGIN
    FOR cand IN SELECT network, reports FROM group_networks WHERE group_id = p_group
                ORDER BY reports DESC, network LOOP
        EXIT WHEN cardinality(top_n) >= p_k
                  AND (cand.reports < top_n[p_k]
                       OR (cand.reports = top_n[p_k] AND cand.network > top_net[p_k]));
        walked := walked + 1;
        IF walked > 200 THEN
            SELECT coalesce(array_agg(q.network ORDER BY q.n DESC, q.network), '{}'),
                   coalesce(array_agg(q.n ORDER BY q.n DESC, q.network), '{}')
              INTO top_net, top_n
              FROM (SELECT network, sum(reports) AS n FROM rollup_network_daily
                    WHERE group_id = p_group AND day >= p_from AND day <= p_to
                    GROUP BY network ORDER BY 2 DESC, 1 LIMIT p_k) q;
            EXIT;
        END IF;
        SELECT sum(reports) INTO s FROM rollup_network_daily
         WHERE group_id = p_group AND network = cand.network AND day >= p_from AND day <= p_to;
        CONTINUE WHEN s IS NULL;
        i := 1;
        WHILE i <= cardinality(top_n)
              AND (top_n[i] > s OR (top_n[i] = s AND top_net[i] < cand.network)) LOOP
            i := i + 1;
        END LOOP;
        top_net := (top_net[1:i - 1] || cand.network || top_net[i:])[1:p_k];
        top_n := (top_n[1:i - 1] || s || top_n[i:])[1:p_k];
    END LOOP;
    RETURN (SELECT coalesce(json_agg(json_build_object('network', nullif(t.net, ''),
                                                       'asn', nullif(x.asn, 0),
                                                       'reports', t.n, 'devices', x.devices)
                                     ORDER BY t.ord), '[]'::json)
            FROM unnest(top_net, top_n) WITH ORDINALITY AS t(net, n, ord)
            CROSS JOIN LATERAL (
                SELECT max(d.asn) AS asn,
                       round(hll_cardinality(hll_union_agg(d.devices)))::bigint AS devices
                FROM rollup_network_daily d
                WHERE d.group_id = p_group AND d.network = t.net
                  AND d.day >= p_from AND d.day <= p_to) x);
END;
$fn$;
