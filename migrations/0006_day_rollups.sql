-- Breakdowns over a 7-day window read day-grain rollups: the version breakdown of a group
-- and daily trends by version come from rollup_version_daily (hourly rows cost one HLL union
-- each), and a group's top networks are found by report sums first, with devices counted for
-- those ten only (index on group, network, day).

CREATE TABLE rollup_version_daily (
    group_id     text NOT NULL,
    day          date NOT NULL,
    app_version  text NOT NULL DEFAULT '',
    platform     text NOT NULL DEFAULT '',
    reports      bigint NOT NULL,
    devices      hll NOT NULL,
    PRIMARY KEY (group_id, day, app_version, platform)
);

INSERT INTO rollup_version_daily (group_id, day, app_version, platform, reports, devices)
SELECT group_id, (hour AT TIME ZONE 'UTC')::date, app_version, platform, sum(reports),
       hll_union_agg(devices)
FROM rollup_version_hourly
GROUP BY 1, 2, 3, 4;

CREATE INDEX rollup_network_daily_net_idx ON rollup_network_daily (group_id, network, day);

CREATE OR REPLACE FUNCTION pinwatch_store_batch(p_certs json, p_chains json, p_fragments json,
                                                p_bodies json, p_reports json, p_groups json)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
    n bigint;
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
        RETURNING group_id, received_at, app_version, network, platform, asn, vendor_id,
                  user_agent, findings, validation_result, client_time, pins_expire),
    r AS (
        SELECT x.group_id, x.received_at, coalesce(x.app_version, '') AS app_version,
               coalesce(x.network::text, '') AS network, coalesce(x.platform, '') AS platform,
               coalesce(x.asn, 0) AS asn,
               hll_hash_text(coalesce(x.vendor_id, coalesce(x.network::text, '') || '|' ||
                                                   coalesce(x.user_agent, ''))) AS device,
               hll_hash_text(coalesce(x.network::text, '')) AS net,
               x.findings, x.validation_result, x.client_time, x.pins_expire
        FROM ins x
    ),
    gh AS (
    INSERT INTO rollup_group_hourly AS t (group_id, hour, platform, reports, devices, networks,
                                          pin_in_chain, leaf_expected, not_covering,
                                          invalid_at_time, unlinked, result_untrusted,
                                          pins_expired, clock_skew)
    SELECT group_id, date_trunc('hour', received_at, 'UTC'), platform, count(*),
           hll_add_agg(device), hll_add_agg(net),
           count(*) FILTER (WHERE (findings->>'pin_in_chain')::boolean),
           count(*) FILTER (WHERE (findings->>'leaf_expected')::boolean),
           count(*) FILTER (WHERE NOT (findings->>'covers_hostname')::boolean),
           count(*) FILTER (WHERE NOT (findings->>'valid_at_report_time')::boolean),
           count(*) FILTER (WHERE NOT (findings->>'linked')::boolean),
           count(*) FILTER (WHERE validation_result = 2),
           count(*) FILTER (WHERE pins_expire < coalesce(client_time, received_at)),
           count(*) FILTER (WHERE abs(extract(epoch FROM client_time - received_at)) > 86400
                              AND NOT (findings->>'valid_at_report_time')::boolean)
    FROM r GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
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
vh AS (
    INSERT INTO rollup_version_hourly AS t (group_id, hour, app_version, platform, reports,
                                            devices)
    SELECT group_id, date_trunc('hour', received_at, 'UTC'), app_version, platform, count(*),
           hll_add_agg(device)
    FROM r GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (group_id, hour, app_version, platform) DO UPDATE SET
        reports = t.reports + excluded.reports,
        devices = hll_union(t.devices, excluded.devices)),
vd AS (
    INSERT INTO rollup_version_daily AS t (group_id, day, app_version, platform, reports,
                                           devices)
    SELECT group_id, (received_at AT TIME ZONE 'UTC')::date, app_version, platform, count(*),
           hll_add_agg(device)
    FROM r GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (group_id, day, app_version, platform) DO UPDATE SET
        reports = t.reports + excluded.reports,
        devices = hll_union(t.devices, excluded.devices)),
nh AS (
    INSERT INTO rollup_network_hourly AS t (group_id, hour, network, asn, platform, reports,
                                            devices)
    SELECT group_id, date_trunc('hour', received_at, 'UTC'), network, asn, platform, count(*),
           hll_add_agg(device)
    FROM r GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (group_id, hour, network, asn, platform) DO UPDATE SET
        reports = t.reports + excluded.reports,
        devices = hll_union(t.devices, excluded.devices)),
nd AS (
    INSERT INTO rollup_network_daily AS t (group_id, day, network, asn, reports, devices)
SELECT group_id, (received_at AT TIME ZONE 'UTC')::date, network, asn, count(*),
       hll_add_agg(device)
FROM r GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
ON CONFLICT (group_id, day, network, asn) DO UPDATE SET
    reports = t.reports + excluded.reports,
    devices = hll_union(t.devices, excluded.devices))
    SELECT count(*) INTO n FROM ins;
    RETURN n;
END;
$fn$;

-- The rebuild path (re-grouping) keeps using pinwatch_add_rollups; in plpgsql its statement
-- plan is cached too.
CREATE OR REPLACE FUNCTION pinwatch_add_rollups(p_rows json) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    WITH r AS (
        SELECT x.group_id, x.received_at, coalesce(x.app_version, '') AS app_version,
               coalesce(x.network::text, '') AS network, coalesce(x.platform, '') AS platform,
               coalesce(x.asn, 0) AS asn,
               hll_hash_text(coalesce(x.vendor_id, coalesce(x.network::text, '') || '|' ||
                                                   coalesce(x.user_agent, ''))) AS device,
               hll_hash_text(coalesce(x.network::text, '')) AS net,
               x.findings, x.validation_result, x.client_time, x.pins_expire
        FROM json_populate_recordset(NULL::reports, p_rows) x
    ),
    gh AS (
    INSERT INTO rollup_group_hourly AS t (group_id, hour, platform, reports, devices, networks,
                                          pin_in_chain, leaf_expected, not_covering,
                                          invalid_at_time, unlinked, result_untrusted,
                                          pins_expired, clock_skew)
    SELECT group_id, date_trunc('hour', received_at, 'UTC'), platform, count(*),
           hll_add_agg(device), hll_add_agg(net),
           count(*) FILTER (WHERE (findings->>'pin_in_chain')::boolean),
           count(*) FILTER (WHERE (findings->>'leaf_expected')::boolean),
           count(*) FILTER (WHERE NOT (findings->>'covers_hostname')::boolean),
           count(*) FILTER (WHERE NOT (findings->>'valid_at_report_time')::boolean),
           count(*) FILTER (WHERE NOT (findings->>'linked')::boolean),
           count(*) FILTER (WHERE validation_result = 2),
           count(*) FILTER (WHERE pins_expire < coalesce(client_time, received_at)),
           count(*) FILTER (WHERE abs(extract(epoch FROM client_time - received_at)) > 86400
                              AND NOT (findings->>'valid_at_report_time')::boolean)
    FROM r GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
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
vh AS (
    INSERT INTO rollup_version_hourly AS t (group_id, hour, app_version, platform, reports,
                                            devices)
    SELECT group_id, date_trunc('hour', received_at, 'UTC'), app_version, platform, count(*),
           hll_add_agg(device)
    FROM r GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (group_id, hour, app_version, platform) DO UPDATE SET
        reports = t.reports + excluded.reports,
        devices = hll_union(t.devices, excluded.devices)),
vd AS (
    INSERT INTO rollup_version_daily AS t (group_id, day, app_version, platform, reports,
                                           devices)
    SELECT group_id, (received_at AT TIME ZONE 'UTC')::date, app_version, platform, count(*),
           hll_add_agg(device)
    FROM r GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    ON CONFLICT (group_id, day, app_version, platform) DO UPDATE SET
        reports = t.reports + excluded.reports,
        devices = hll_union(t.devices, excluded.devices)),
nh AS (
    INSERT INTO rollup_network_hourly AS t (group_id, hour, network, asn, platform, reports,
                                            devices)
    SELECT group_id, date_trunc('hour', received_at, 'UTC'), network, asn, platform, count(*),
           hll_add_agg(device)
    FROM r GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (group_id, hour, network, asn, platform) DO UPDATE SET
        reports = t.reports + excluded.reports,
        devices = hll_union(t.devices, excluded.devices))
INSERT INTO rollup_network_daily AS t (group_id, day, network, asn, reports, devices)
SELECT group_id, (received_at AT TIME ZONE 'UTC')::date, network, asn, count(*),
       hll_add_agg(device)
FROM r GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
ON CONFLICT (group_id, day, network, asn) DO UPDATE SET
    reports = t.reports + excluded.reports,
    devices = hll_union(t.devices, excluded.devices);
END;
$fn$;

CREATE OR REPLACE FUNCTION pinwatch_rebuild_rollups(p_groups text[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    DELETE FROM rollup_group_hourly WHERE group_id = ANY (p_groups);
    DELETE FROM rollup_version_hourly WHERE group_id = ANY (p_groups);
    DELETE FROM rollup_version_daily WHERE group_id = ANY (p_groups);
    DELETE FROM rollup_network_hourly WHERE group_id = ANY (p_groups);
    DELETE FROM rollup_network_daily WHERE group_id = ANY (p_groups);
    PERFORM pinwatch_add_rollups(coalesce(
        (SELECT json_agg(json_build_object(
             'group_id', group_id, 'received_at', received_at, 'app_version', app_version,
             'network', network, 'platform', platform, 'asn', asn, 'vendor_id', vendor_id,
             'user_agent', user_agent, 'findings', findings,
             'validation_result', validation_result, 'client_time', client_time,
             'pins_expire', pins_expire))
         FROM reports WHERE group_id = ANY (p_groups)), '[]'::json));
    UPDATE groups g SET version = g.version + 1,
                        first_seen = coalesce(x.f, g.first_seen),
                        last_seen = coalesce(x.l, g.last_seen)
    FROM (SELECT u.id, (SELECT min(received_at) FROM reports r WHERE r.group_id = u.id) AS f,
                 (SELECT max(received_at) FROM reports r WHERE r.group_id = u.id) AS l
          FROM unnest(p_groups) AS u(id)) x
    WHERE g.id = x.id;
END;
$fn$;
