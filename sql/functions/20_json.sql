-- sql/functions/20_json.sql: the JSON shapes the API answers with (certificates, reports), built
-- in SQL so that the report list, the report detail and the export agree.
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

CREATE OR REPLACE FUNCTION pinwatch_cert_json(c certificates) RETURNS json
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

CREATE OR REPLACE FUNCTION pinwatch_chain_certs_json(chain bytea) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(json_agg(pinwatch_cert_json(c) ORDER BY m.pos), '[]'::json)
    FROM chains ch
    CROSS JOIN LATERAL unnest(ch.certs) WITH ORDINALITY AS m(sha, pos)
    JOIN certificates c ON c.sha256 = m.sha
    WHERE ch.sha256 = chain
$$;

CREATE OR REPLACE FUNCTION pinwatch_report_findings(r reports) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN r.flags IS NULL THEN NULL
                ELSE coalesce((SELECT ch.analysis FROM chains ch
                               WHERE ch.sha256 = coalesce(r.validated_chain, r.served_chain)),
                              '{}'::jsonb) || pinwatch_flags_json(r.flags) END
$$;

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
