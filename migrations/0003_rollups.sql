-- Aggregation (SPEC 6.3, 7): hourly rollups per group x app version x network x platform,
-- maintained in the same statement as the reports they count, so /v1/groups and /v1/trends
-- never scan raw reports. Distinct devices are HyperLogLog sketches (postgresql-hll), exact in
-- their explicit mode for small sets and mergeable across hours.

CREATE EXTENSION IF NOT EXISTS hll;

CREATE TABLE rollup_hourly (
    group_id          text NOT NULL,
    hour              timestamptz NOT NULL,
    app_version       text NOT NULL DEFAULT '',
    network           text NOT NULL DEFAULT '',
    platform          text NOT NULL DEFAULT '',
    asn               bigint NOT NULL DEFAULT 0,
    reports           bigint NOT NULL,
    devices           hll NOT NULL,
    pin_in_chain      bigint NOT NULL DEFAULT 0,
    leaf_expected     bigint NOT NULL DEFAULT 0,
    not_covering      bigint NOT NULL DEFAULT 0,
    invalid_at_time   bigint NOT NULL DEFAULT 0,
    unlinked          bigint NOT NULL DEFAULT 0,
    result_untrusted  bigint NOT NULL DEFAULT 0,
    pins_expired      bigint NOT NULL DEFAULT 0,
    clock_skew        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, hour, app_version, network, platform, asn)
);
CREATE INDEX rollup_hourly_hour_idx ON rollup_hourly (hour);

-- Chain-level evidence for the verdict, carried by the group (its key fixes the anchor).
ALTER TABLE groups
    ADD COLUMN catalog_product  text,
    ADD COLUMN catalog_category text,
    ADD COLUMN known_hostile    boolean NOT NULL DEFAULT false,
    ADD COLUMN hostile_name     text,
    ADD COLUMN hostile_category text,
    ADD COLUMN weak             text[] NOT NULL DEFAULT '{}',
    -- bumped by every batch that adds reports; the verdict is current when the evaluator has
    -- seen this version (a counter, not a flag, so a batch landing mid-evaluation is not lost)
    ADD COLUMN version          bigint NOT NULL DEFAULT 1,
    ADD COLUMN evaluated_version bigint NOT NULL DEFAULT 0;
CREATE INDEX groups_stale_idx ON groups (id) WHERE version > evaluated_version;
CREATE INDEX groups_app_host_idx ON groups (app_bundle_id, hostname);

-- Per-report findings keep only what is particular to the report; the chain-level part lives
-- once in chains.analysis and is merged back when a report is shown.
CREATE OR REPLACE FUNCTION pinwatch_report_findings(r reports) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN r.findings IS NULL THEN NULL
                ELSE coalesce((SELECT ch.analysis FROM chains ch
                               WHERE ch.sha256 = coalesce(r.validated_chain, r.served_chain)),
                              '{}'::jsonb) || r.findings END
$$;

CREATE OR REPLACE FUNCTION pinwatch_report_json(r reports) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT json_build_object(
        'id', r.id,
        'received_at', pinwatch_ts(r.received_at),
        'format', r.format,
        'hostname', r.hostname,
        'hostname_raw', r.hostname_raw,
        'noted_hostname', r.noted_hostname,
        'noted_hostname_raw', r.noted_hostname_raw,
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
        'client_time_raw', r.client_time_raw,
        'pins_expire', pinwatch_ts(r.pins_expire),
        'pins_expire_raw', r.pins_expire_raw,
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

-- One group commit: every row of a batch of request units in one statement (data-modifying
-- CTEs run in one implicit transaction). Every insert is ON CONFLICT DO NOTHING or a merge,
-- and rollups count only the reports really inserted, so replaying a unit changes nothing.
-- Rows go in key order so that concurrent writers (several nodes) take locks in the same
-- order. Returns the number of reports inserted.
CREATE FUNCTION pinwatch_store_batch(p_certs json, p_chains json, p_fragments json,
                                     p_bodies json, p_reports json, p_groups json)
RETURNS bigint LANGUAGE sql AS $fn$
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
-- One row per group even when the batch names it many times (DO UPDATE may not touch a row
-- twice in one statement).
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
    SELECT id, received_at, format, hostname, hostname_raw, noted_hostname, noted_hostname_raw,
           port, include_subdomains, enforce_pinning, validation_result, client_time,
           client_time_raw, pins_expire, pins_expire_raw, coalesce(known_pins, '{}'),
           known_pins_raw, served_chain, validated_chain, app_bundle_id, app_version, platform,
           platform_version, vendor_id, sdk, sdk_version, network, client_ip, asn, as_org,
           country, user_agent, group_id, findings, problems, extra, raw_sha256
    FROM json_populate_recordset(NULL::reports, p_reports)
    ORDER BY id
    ON CONFLICT DO NOTHING
    -- Only rows really inserted reach the rollups.
    RETURNING group_id, received_at, app_version, network, platform, asn, vendor_id,
              user_agent, findings, validation_result, client_time, pins_expire),
roll AS (
    INSERT INTO rollup_hourly AS t (group_id, hour, app_version, network, platform, asn,
                                    reports, devices, pin_in_chain, leaf_expected,
                                    not_covering, invalid_at_time, unlinked,
                                    result_untrusted, pins_expired, clock_skew)
    SELECT group_id, date_trunc('hour', received_at, 'UTC'), coalesce(app_version, ''),
           coalesce(network::text, ''), coalesce(platform, ''), coalesce(asn, 0), count(*),
           -- a device: its vendor id, else its network and user agent
           hll_add_agg(hll_hash_text(coalesce(vendor_id, coalesce(network::text, '') || '|' ||
                                                         coalesce(user_agent, '')))),
           count(*) FILTER (WHERE (findings->>'pin_in_chain')::boolean),
           count(*) FILTER (WHERE (findings->>'leaf_expected')::boolean),
           count(*) FILTER (WHERE NOT (findings->>'covers_hostname')::boolean),
           count(*) FILTER (WHERE NOT (findings->>'valid_at_report_time')::boolean),
           count(*) FILTER (WHERE NOT (findings->>'linked')::boolean),
           count(*) FILTER (WHERE validation_result = 2),
           count(*) FILTER (WHERE pins_expire < coalesce(client_time, received_at)),
           count(*) FILTER (WHERE abs(extract(epoch FROM client_time - received_at)) > 86400
                              AND NOT (findings->>'valid_at_report_time')::boolean)
    FROM ins
    GROUP BY 1, 2, 3, 4, 5, 6
    ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (group_id, hour, app_version, network, platform, asn) DO UPDATE SET
        reports = t.reports + excluded.reports,
        devices = hll_union(t.devices, excluded.devices),
        pin_in_chain = t.pin_in_chain + excluded.pin_in_chain,
        leaf_expected = t.leaf_expected + excluded.leaf_expected,
        not_covering = t.not_covering + excluded.not_covering,
        invalid_at_time = t.invalid_at_time + excluded.invalid_at_time,
        unlinked = t.unlinked + excluded.unlinked,
        result_untrusted = t.result_untrusted + excluded.result_untrusted,
        pins_expired = t.pins_expired + excluded.pins_expired,
        clock_skew = t.clock_skew + excluded.clock_skew)
SELECT count(*) FROM ins
$fn$;

-- Rebuild the rollups of some groups from their reports (after expected keys changed and
-- reports moved between groups). Mirrors the "roll" step of pinwatch_store_batch.
CREATE FUNCTION pinwatch_rebuild_rollups(p_groups text[]) RETURNS void
LANGUAGE sql AS $fn$
DELETE FROM rollup_hourly WHERE group_id = ANY (p_groups);
INSERT INTO rollup_hourly (group_id, hour, app_version, network, platform, asn, reports, devices,
                           pin_in_chain, leaf_expected, not_covering, invalid_at_time, unlinked,
                           result_untrusted, pins_expired, clock_skew)
SELECT group_id, date_trunc('hour', received_at, 'UTC'), coalesce(app_version, ''),
       coalesce(network::text, ''), coalesce(platform, ''), coalesce(asn, 0), count(*),
       hll_add_agg(hll_hash_text(coalesce(vendor_id, coalesce(network::text, '') || '|' ||
                                                     coalesce(user_agent, '')))),
       count(*) FILTER (WHERE (findings->>'pin_in_chain')::boolean),
       count(*) FILTER (WHERE (findings->>'leaf_expected')::boolean),
       count(*) FILTER (WHERE NOT (findings->>'covers_hostname')::boolean),
       count(*) FILTER (WHERE NOT (findings->>'valid_at_report_time')::boolean),
       count(*) FILTER (WHERE NOT (findings->>'linked')::boolean),
       count(*) FILTER (WHERE validation_result = 2),
       count(*) FILTER (WHERE pins_expire < coalesce(client_time, received_at)),
       count(*) FILTER (WHERE abs(extract(epoch FROM client_time - received_at)) > 86400
                          AND NOT (findings->>'valid_at_report_time')::boolean)
FROM reports
WHERE group_id = ANY (p_groups)
GROUP BY 1, 2, 3, 4, 5, 6;
UPDATE groups g SET version = g.version + 1,
                    first_seen = coalesce(x.f, g.first_seen), last_seen = coalesce(x.l, g.last_seen)
FROM (SELECT u.id, (SELECT min(received_at) FROM reports r WHERE r.group_id = u.id) AS f,
             (SELECT max(received_at) FROM reports r WHERE r.group_id = u.id) AS l
      FROM unnest(p_groups) AS u(id)) x
WHERE g.id = x.id;
$fn$;
