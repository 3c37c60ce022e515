-- Two changes that both redefine the rollup merge, so they share one migration.
--
-- 1. Smaller report rows (the write-path storage target): per-report findings become a
-- smallint of flags instead of a jsonb object (134 -> 2 bytes), and the raw spellings of the
-- hostname, noted hostname and dates are stored only when they differ from the normalized
-- value (readers coalesce). Existing rows are converted. Hourly group rollups lose the
-- columns nothing reads any more.
--
-- Flag bits: value bit b, and bit b + 6 set when the finding is known at all (a report
-- without a chain has none): 0 covers_hostname, 1 valid_at_report_time, 2 pin_in_chain,
-- 3 expected_key, 4 leaf_expected, 5 linked. store.c writes the same bits.
--
-- 2. Trends by network without scanning every network-hour of the window (a spread
-- population has about one per report): network_totals ranks every network by its all-time
-- count, and pinwatch_trend_networks walks that ranking like pinwatch_top_networks (0007)
-- does for one group; rollup_network_hourly's key starts with the network so that the
-- points of the chosen networks are index ranges.

CREATE FUNCTION pinwatch_flag(p_flags smallint, p_bit int) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_flags & (64 << p_bit) = 0 THEN NULL
                ELSE p_flags & (1 << p_bit) <> 0 END
$$;

-- The flags with finding p_bit known and set to p_value (NULL flags: nothing else known).
CREATE FUNCTION pinwatch_flag_set(p_flags smallint, p_bit int, p_value boolean)
RETURNS smallint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((coalesce(p_flags, 0) & ~(65 << p_bit)) | (64 << p_bit)
            | CASE WHEN p_value THEN 1 << p_bit ELSE 0 END)::smallint
$$;

CREATE FUNCTION pinwatch_flags_json(p_flags smallint) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_flags IS NULL THEN NULL ELSE jsonb_strip_nulls(jsonb_build_object(
        'covers_hostname', pinwatch_flag(p_flags, 0),
        'valid_at_report_time', pinwatch_flag(p_flags, 1),
        'pin_in_chain', pinwatch_flag(p_flags, 2),
        'expected_key', pinwatch_flag(p_flags, 3),
        'leaf_expected', pinwatch_flag(p_flags, 4),
        'linked', pinwatch_flag(p_flags, 5))) END
$$;

CREATE FUNCTION pinwatch_findings_flags(f jsonb) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN f IS NULL THEN NULL ELSE (
        SELECT coalesce(sum(CASE WHEN jsonb_typeof(f -> k.name) = 'boolean'
                                 THEN (64 << k.bit) + CASE WHEN (f ->> k.name)::boolean
                                                           THEN 1 << k.bit ELSE 0 END
                                 ELSE 0 END), 0)::smallint
        FROM (VALUES ('covers_hostname', 0), ('valid_at_report_time', 1), ('pin_in_chain', 2),
                     ('expected_key', 3), ('leaf_expected', 4), ('linked', 5)) AS k(name, bit))
    END
$$;

ALTER TABLE reports ADD COLUMN flags smallint;
ALTER TABLE reports ALTER COLUMN hostname_raw DROP NOT NULL;
UPDATE reports SET
    flags = pinwatch_findings_flags(findings),
    hostname_raw = nullif(hostname_raw, hostname),
    noted_hostname_raw = CASE WHEN noted_hostname_raw = noted_hostname THEN NULL
                              ELSE noted_hostname_raw END,
    client_time_raw = CASE WHEN client_time_raw = pinwatch_ts(client_time) THEN NULL
                           ELSE client_time_raw END,
    pins_expire_raw = CASE WHEN pins_expire_raw = pinwatch_ts(pins_expire) THEN NULL
                           ELSE pins_expire_raw END;
-- 0003's pinwatch_report_findings reads the column: replaced below before it is dropped.
CREATE OR REPLACE FUNCTION pinwatch_report_findings(r reports) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN r.flags IS NULL THEN NULL
                ELSE coalesce((SELECT ch.analysis FROM chains ch
                               WHERE ch.sha256 = coalesce(r.validated_chain, r.served_chain)),
                              '{}'::jsonb) || pinwatch_flags_json(r.flags) END
$$;
ALTER TABLE reports DROP COLUMN findings;

ALTER TYPE pinwatch_rollup_row DROP ATTRIBUTE findings, ADD ATTRIBUTE flags smallint;

-- Since 0007 the verdict evidence and window distincts read rollup_group_daily; hourly group
-- rows serve trends only (reports and devices).
ALTER TABLE rollup_group_hourly DROP COLUMN networks, DROP COLUMN pin_in_chain,
    DROP COLUMN leaf_expected, DROP COLUMN not_covering, DROP COLUMN invalid_at_time,
    DROP COLUMN unlinked, DROP COLUMN result_untrusted, DROP COLUMN pins_expired,
    DROP COLUMN clock_skew;

CREATE OR REPLACE FUNCTION pinwatch_rollup_row_of(x reports) RETURNS pinwatch_rollup_row
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT ROW(x.group_id, x.received_at, coalesce(x.app_version, ''),
               coalesce(x.network::text, ''), coalesce(x.platform, ''), coalesce(x.asn, 0),
               hll_hash_text(coalesce(x.vendor_id, coalesce(x.network::text, '') || '|' ||
                                                   coalesce(x.user_agent, ''))),
               hll_hash_text(coalesce(x.network::text, '')), x.validation_result,
               x.client_time, x.pins_expire, x.flags)::pinwatch_rollup_row
$fn$;

-- Report counts only grow (re-grouping moves them between groups, never out of a network),
-- so an all-time count bounds the count of any window and any filter.
CREATE TABLE network_totals (
    network  text PRIMARY KEY,
    reports  bigint NOT NULL
);
CREATE INDEX network_totals_rank_idx ON network_totals (reports DESC, network);
INSERT INTO network_totals SELECT network, sum(reports) FROM group_networks GROUP BY 1;

ALTER TABLE rollup_network_hourly DROP CONSTRAINT rollup_network_hourly_pkey,
    ADD PRIMARY KEY (network, hour, group_id, asn, platform);

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
END;
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
    -- every column, so that a column added to reports needs no new copy of this function
    ins AS (
        INSERT INTO reports
        SELECT * FROM json_populate_recordset(NULL::reports, p_reports)
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

CREATE OR REPLACE FUNCTION pinwatch_report_json(r reports) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT json_build_object(
        'id', r.id,
        'received_at', pinwatch_ts(r.received_at),
        'format', r.format,
        'hostname', r.hostname,
        'hostname_raw', coalesce(r.hostname_raw, r.hostname),
        'noted_hostname', r.noted_hostname,
        'noted_hostname_raw', coalesce(r.noted_hostname_raw, r.noted_hostname),
        'port', r.port,
        'app', json_build_object(
            'bundle_id', r.app_bundle_id,
            'version', r.app_version,
            'platform', r.platform,
            'platform_version', r.platform_version,
            'vendor_id', r.vendor_id,
            'sdk', r.sdk,
            'sdk_version', r.sdk_version),
        'client', json_build_object(
            'network', r.network,
            'ip', r.client_ip,
            'asn', r.asn,
            'as_org', r.as_org,
            'country', r.country,
            'user_agent', r.user_agent),
        'validation_result', r.validation_result,
        'enforce_pinning', r.enforce_pinning,
        'include_subdomains', r.include_subdomains,
        'client_time', pinwatch_ts(r.client_time),
        'client_time_raw', coalesce(r.client_time_raw, pinwatch_ts(r.client_time)),
        'pins_expire', pinwatch_ts(r.pins_expire),
        'pins_expire_raw', coalesce(r.pins_expire_raw, pinwatch_ts(r.pins_expire)),
        'known_pins', (SELECT coalesce(json_agg(encode(p, 'base64') ORDER BY p), '[]'::json)
                       FROM unnest(r.known_pins) p),
        'known_pins_raw', coalesce(to_json(r.known_pins_raw), '[]'::json),
        'served_chain', CASE WHEN r.served_chain IS NULL THEN '[]'::json
                             ELSE pinwatch_chain_certs_json(r.served_chain) END,
        'validated_chain', CASE WHEN r.validated_chain IS NULL THEN '[]'::json
                                ELSE pinwatch_chain_certs_json(r.validated_chain) END,
        'served_chain_sha256', encode(r.served_chain, 'hex'),
        'validated_chain_sha256', encode(r.validated_chain, 'hex'),
        'findings', pinwatch_report_findings(r),
        'group', r.group_id,
        'verdict', coalesce((SELECT g.verdict FROM groups g WHERE g.id = r.group_id), 'undetermined'),
        'kind', (SELECT g.kind FROM groups g WHERE g.id = r.group_id),
        'product', (SELECT g.product FROM groups g WHERE g.id = r.group_id),
        'problems', coalesce(r.problems, '[]'::jsonb),
        'extra', coalesce(r.extra, '{}'::jsonb),
        'raw_sha256', encode(r.raw_sha256, 'hex'))
$$;

-- Re-grouping moves reports between the groups it rebuilds: their networks' totals are taken
-- out before the rollups are rebuilt (which adds them back), so the totals stay exact.
CREATE OR REPLACE FUNCTION pinwatch_rebuild_rollups(p_groups text[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
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

-- A top-k kept in two parallel arrays, best first: by count descending, then name.
-- Whether a candidate whose count can be at most p_bound (and whose name is p_name) could
-- still enter it; candidates come in (bound descending, name) order, so false ends a walk.
CREATE FUNCTION pinwatch_topk_open(p_names text[], p_counts bigint[], p_k int, p_name text,
                                   p_bound bigint) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT cardinality(p_counts) < p_k OR p_bound > p_counts[p_k]
           OR (p_bound = p_counts[p_k] AND p_name < p_names[p_k])
$fn$;

-- Insert (p_name, p_n) in its place and keep the best p_k.
CREATE FUNCTION pinwatch_topk_add(INOUT p_names text[], INOUT p_counts bigint[], p_k int,
                                  p_name text, p_n bigint)
LANGUAGE plpgsql IMMUTABLE AS $fn$
DECLARE
    i int := 1;
BEGIN
    WHILE i <= cardinality(p_counts)
          AND (p_counts[i] > p_n OR (p_counts[i] = p_n AND p_names[i] < p_name)) LOOP
        i := i + 1;
    END LOOP;
    p_names := (p_names[1:i - 1] || p_name || p_names[i:])[1:p_k];
    p_counts := (p_counts[1:i - 1] || p_n || p_counts[i:])[1:p_k];
END;
$fn$;

-- The walk of pinwatch_top_networks (0007) on its own: the p_k networks of a group with most
-- reports over the days [p_from, p_to], best first, so that a list of groups can count their
-- devices in one aggregate.
CREATE FUNCTION pinwatch_top_network_list(p_group text, p_from date, p_to date, p_k int,
                                          OUT networks text[], OUT counts bigint[])
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    cand record;
    walked int := 0;
    s bigint;
BEGIN
    networks := '{}';
    counts := '{}';
    FOR cand IN SELECT network, reports FROM group_networks WHERE group_id = p_group
                ORDER BY reports DESC, network LOOP
        EXIT WHEN NOT pinwatch_topk_open(networks, counts, p_k, cand.network, cand.reports);
        walked := walked + 1;
        IF walked > 200 THEN
            SELECT coalesce(array_agg(q.network ORDER BY q.n DESC, q.network), '{}'),
                   coalesce(array_agg(q.n ORDER BY q.n DESC, q.network), '{}')
              INTO networks, counts
              FROM (SELECT network, sum(reports) AS n FROM rollup_network_daily
                    WHERE group_id = p_group AND day >= p_from AND day <= p_to
                    GROUP BY network ORDER BY 2 DESC, 1 LIMIT p_k) q;
            RETURN;
        END IF;
        SELECT sum(reports) INTO s FROM rollup_network_daily
         WHERE group_id = p_group AND network = cand.network AND day >= p_from AND day <= p_to;
        CONTINUE WHEN s IS NULL;
        SELECT * INTO networks, counts
        FROM pinwatch_topk_add(networks, counts, p_k, cand.network, s);
    END LOOP;
END;
$fn$;

CREATE OR REPLACE FUNCTION pinwatch_top_networks(p_group text, p_from date, p_to date, p_k int)
RETURNS json LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(json_agg(json_build_object('network', nullif(t.net, ''),
                                               'asn', nullif(x.asn, 0),
                                               'reports', t.n, 'devices', x.devices)
                             ORDER BY t.ord), '[]'::json)
    FROM pinwatch_top_network_list(p_group, p_from, p_to, p_k) l
    CROSS JOIN LATERAL unnest(l.networks, l.counts) WITH ORDINALITY AS t(net, n, ord)
    CROSS JOIN LATERAL (
        SELECT max(d.asn) AS asn,
               round(hll_cardinality(hll_union_agg(d.devices)))::bigint AS devices
        FROM rollup_network_daily d
        WHERE d.group_id = p_group AND d.network = t.net
          AND d.day >= p_from AND d.day <= p_to) x
$fn$;

-- Report counts of one network over the hours [p_from, p_to] of the groups a trend's filters
-- keep (NULL: no filter).
CREATE FUNCTION pinwatch_network_window(p_network text, p_from timestamptz, p_to timestamptz,
                                        p_hostname text, p_app text, p_verdict text,
                                        p_platform text, p_group text) RETURNS bigint
LANGUAGE sql STABLE AS $fn$
    SELECT sum(r.reports) FROM rollup_network_hourly r JOIN groups g ON g.id = r.group_id
    WHERE r.network = p_network
      AND r.hour >= date_trunc('hour', p_from, 'UTC') AND r.hour <= p_to
      AND (p_hostname IS NULL OR g.hostname = p_hostname)
      AND (p_app IS NULL OR g.app_bundle_id = p_app)
      AND (p_verdict IS NULL OR g.verdict = p_verdict)
      AND (p_platform IS NULL OR r.platform = p_platform)
      AND (p_group IS NULL OR r.group_id = p_group)
$fn$;

-- The p_k networks with most reports in a trend's window and filters, most first (ties by
-- network): the series of /v1/trends?by=network. Walks network_totals like
-- pinwatch_top_networks walks group_networks; past 4k + 200 probes (history outside the window
-- or the filters dominate) it sums the window's rows instead.
CREATE FUNCTION pinwatch_trend_networks(p_from timestamptz, p_to timestamptz, p_k int,
                                        p_hostname text, p_app text, p_verdict text,
                                        p_platform text, p_group text, p_cidr cidr)
RETURNS text[] LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    cand record;
    top_net text[] := '{}';
    top_n bigint[] := '{}';
    walked int := 0;
    s bigint;
BEGIN
    FOR cand IN SELECT network, reports FROM network_totals WHERE reports > 0
                ORDER BY reports DESC, network LOOP
        EXIT WHEN NOT pinwatch_topk_open(top_net, top_n, p_k, cand.network, cand.reports);
        walked := walked + 1;
        IF walked > 4 * p_k + 200 THEN
            SELECT coalesce(array_agg(q.network ORDER BY q.n DESC, q.network), '{}')
              INTO top_net
              FROM (SELECT r.network, sum(r.reports) AS n
                    FROM rollup_network_hourly r JOIN groups g ON g.id = r.group_id
                    WHERE r.hour >= date_trunc('hour', p_from, 'UTC') AND r.hour <= p_to
                      AND (p_hostname IS NULL OR g.hostname = p_hostname)
                      AND (p_app IS NULL OR g.app_bundle_id = p_app)
                      AND (p_verdict IS NULL OR g.verdict = p_verdict)
                      AND (p_platform IS NULL OR r.platform = p_platform)
                      AND (p_group IS NULL OR r.group_id = p_group)
                      AND (p_cidr IS NULL OR CASE WHEN r.network = '' THEN false
                                                  ELSE r.network::cidr <<= p_cidr END)
                    GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT p_k) q;
            RETURN top_net;
        END IF;
        CONTINUE WHEN p_cidr IS NOT NULL AND CASE WHEN cand.network = '' THEN true
                                                  ELSE NOT cand.network::cidr <<= p_cidr END;
        s := pinwatch_network_window(cand.network, p_from, p_to, p_hostname, p_app, p_verdict,
                                     p_platform, p_group);
        CONTINUE WHEN s IS NULL;
        SELECT * INTO top_net, top_n FROM pinwatch_topk_add(top_net, top_n, p_k, cand.network, s);
    END LOOP;
    RETURN top_net;
END;
$fn$;
