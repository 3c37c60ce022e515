-- Groups (SPEC 6.3; verdict columns are filled by the analysis) and the JSON shapes the API
-- answers with, built in SQL so that the report list, the report detail and the export agree.

CREATE TABLE groups (
    id                text PRIMARY KEY,       -- hash of the group key
    app_bundle_id     text NOT NULL,
    hostname          text NOT NULL,
    anchor_spki       bytea,                  -- NULL when the report carried no chain
    anchor_subject    text,
    anchor_public     boolean,
    expected_key_seen boolean NOT NULL DEFAULT false,
    verdict           text NOT NULL DEFAULT 'undetermined',
    kind              text,
    product           text,
    reasons           jsonb NOT NULL DEFAULT '[]',
    first_seen        timestamptz NOT NULL,
    last_seen         timestamptz NOT NULL,
    evaluated_at      timestamptz
);
CREATE INDEX groups_last_seen_idx ON groups (last_seen);

CREATE FUNCTION pinwatch_ts(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN t IS NULL THEN NULL
                WHEN extract(microseconds FROM t)::bigint % 1000000 = 0
                THEN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                ELSE to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END
$$;

CREATE FUNCTION pinwatch_cert_json(c certificates) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT json_build_object(
        'sha256', encode(c.sha256, 'hex'),
        'spki_sha256', encode(c.spki_sha256, 'hex'),
        'pin_sha256', encode(c.spki_sha256, 'base64'),
        'subject', c.subject,
        'issuer', c.issuer,
        'serial', c.serial,
        'not_before', pinwatch_ts(c.not_before),
        'not_after', pinwatch_ts(c.not_after),
        'sans', to_json(c.sans),
        'key_type', c.key_type,
        'key_bits', c.key_bits,
        'is_ca', c.is_ca,
        'signature_algorithm', c.sig_alg)
$$;

CREATE FUNCTION pinwatch_chain_certs_json(chain bytea) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(json_agg(pinwatch_cert_json(c) ORDER BY m.pos), '[]'::json)
    FROM chains ch
    CROSS JOIN LATERAL unnest(ch.certs) WITH ORDINALITY AS m(sha, pos)
    JOIN certificates c ON c.sha256 = m.sha
    WHERE ch.sha256 = chain
$$;

CREATE FUNCTION pinwatch_report_json(r reports) RETURNS json
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
        'findings', r.findings,
        'group', r.group_id,
        'verdict', (SELECT g.verdict FROM groups g WHERE g.id = r.group_id),
        'kind', (SELECT g.kind FROM groups g WHERE g.id = r.group_id),
        'problems', coalesce(r.problems, '[]'::jsonb),
        'extra', coalesce(r.extra, '{}'::jsonb),
        'raw_sha256', encode(r.raw_sha256, 'hex'))
$$;
