-- sql/functions/70_reports.sql: the report reads of the API and the export: the reports a
-- listing's filters keep, a page of them, a raw body's parts, the export's chains and groups.
-- Try them in psql, e.g.
--   SELECT * FROM pinwatch_reports_page(now() - interval '7 days', now(), NULL, NULL, NULL,
--                                       NULL, NULL, NULL, NULL, NULL, NULL, 10);
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
-- The set-returning functions are single SELECTs, neither STRICT nor VOLATILE: PostgreSQL
-- inlines them into the query that calls them (SELECT ... FROM f(...)), so they are planned
-- with the caller's values, each NULL filter folds away and the others reach the indexes of
-- reports. Keep them so (EXPLAIN shows no Function Scan on them).

-- The reports received in [p_from, p_to] that the filters keep (NULL: no filter), and when
-- p_before_at is given only those strictly before (p_before_at, p_before_id) in
-- (received_at, id) order: keyset paging.
CREATE OR REPLACE FUNCTION pinwatch_reports_matching(p_from timestamptz, p_to timestamptz,
                                                     p_hostname text, p_app text,
                                                     p_app_version text, p_platform text,
                                                     p_network cidr, p_group text,
                                                     p_verdict text, p_before_at timestamptz,
                                                     p_before_id uuid)
RETURNS SETOF reports LANGUAGE sql STABLE AS $fn$
    SELECT * FROM reports r
    WHERE r.received_at >= p_from AND r.received_at <= p_to
      AND (p_hostname IS NULL OR r.hostname = p_hostname)
      AND (p_app IS NULL OR r.app_bundle_id = p_app)
      AND (p_app_version IS NULL OR r.app_version = p_app_version)
      AND (p_platform IS NULL OR r.platform = p_platform)
      AND (p_network IS NULL OR r.network <<= p_network)
      AND (p_group IS NULL OR r.group_id = p_group)
      AND (p_verdict IS NULL
           OR coalesce((SELECT g.verdict FROM groups g WHERE g.id = r.group_id),
                       'undetermined') = p_verdict)
      AND (p_before_at IS NULL OR (r.received_at, r.id) < (p_before_at, p_before_id))
$fn$;

-- GET /v1/reports: up to p_limit matching reports, newest first, each with its paging key
-- (received_at in Unix microseconds, id). Ask for one more than a page to learn whether
-- another follows.
CREATE OR REPLACE FUNCTION pinwatch_reports_page(p_from timestamptz, p_to timestamptz,
                                                 p_hostname text, p_app text,
                                                 p_app_version text, p_platform text,
                                                 p_network cidr, p_group text, p_verdict text,
                                                 p_before_at timestamptz, p_before_id uuid,
                                                 p_limit int)
RETURNS TABLE (report text, received_usec bigint, id uuid) LANGUAGE sql STABLE AS $fn$
    SELECT pinwatch_report_json(r)::text,
           (extract(epoch FROM r.received_at) * 1000000)::bigint, r.id
    FROM pinwatch_reports_matching(p_from, p_to, p_hostname, p_app, p_app_version, p_platform,
                                   p_network, p_group, p_verdict, p_before_at, p_before_id) r
    ORDER BY r.received_at DESC, r.id DESC
    LIMIT p_limit
$fn$;

-- A stored body's parts: its template, and each fragment it may reference (the 32 bytes
-- after each NUL of the template) that is stored. No row: no such body.
CREATE OR REPLACE FUNCTION pinwatch_raw_body_parts(p_sha256 bytea)
RETURNS TABLE (template bytea, fragment_sha256 bytea, fragment bytea)
LANGUAGE sql STABLE AS $fn$
    SELECT b.template, f.sha256, f.bytes FROM raw_bodies b
    LEFT JOIN raw_fragments f ON f.sha256 IN
        (SELECT DISTINCT substring(b.template FROM p + 2 FOR 32)
         FROM generate_series(0, length(b.template) - 33) p
         WHERE get_byte(b.template, p) = 0)
    WHERE b.sha256 = p_sha256
$fn$;

-- The export's chains: one row per certificate of every chain that a matching report served
-- or validated, chains in order, with the stored fields laid out as the chain's .txt shows them.
CREATE OR REPLACE FUNCTION pinwatch_export_chains(p_from timestamptz, p_to timestamptz,
                                                  p_hostname text, p_app text,
                                                  p_app_version text, p_platform text,
                                                  p_network cidr, p_group text,
                                                  p_verdict text, p_before_at timestamptz,
                                                  p_before_id uuid)
RETURNS TABLE (chain text, pos bigint, der text, analysis text, fields text)
LANGUAGE sql STABLE AS $fn$
    SELECT encode(ch.sha256, 'hex'), m.pos, encode(c.der, 'hex'), ch.analysis::text,
           format(E'sha256               %s\nspki_sha256          %s\npin_sha256           %s\n'
                  'subject              %s\nissuer               %s\nserial               %s\n'
                  'not_before           %s\nnot_after            %s\nsans                 %s\n'
                  'key                  %s %s\nis_ca                %s\n'
                  'signature_algorithm  %s\n',
                  encode(m.sha, 'hex'), encode(c.spki_sha256, 'hex'),
                  encode(c.spki_sha256, 'base64'), c.subject, c.issuer, c.serial,
                  pinwatch_ts(c.not_before), pinwatch_ts(c.not_after),
                  array_to_string(c.sans, ', '), c.key_type, c.key_bits, c.is_ca::text,
                  c.sig_alg)
    FROM chains ch CROSS JOIN LATERAL unnest(ch.certs) WITH ORDINALITY AS m(sha, pos)
    LEFT JOIN certificates c ON c.sha256 = m.sha
    WHERE ch.sha256 IN (SELECT r.served_chain
                        FROM pinwatch_reports_matching(p_from, p_to, p_hostname, p_app,
                                 p_app_version, p_platform, p_network, p_group, p_verdict,
                                 p_before_at, p_before_id) r
                        UNION
                        SELECT r.validated_chain
                        FROM pinwatch_reports_matching(p_from, p_to, p_hostname, p_app,
                                 p_app_version, p_platform, p_network, p_group, p_verdict,
                                 p_before_at, p_before_id) r)
    ORDER BY ch.sha256, m.pos
$fn$;

-- The export's groups: each group of the matching reports, with how many of them it holds,
-- most first.
CREATE OR REPLACE FUNCTION pinwatch_export_groups(p_from timestamptz, p_to timestamptz,
                                                  p_hostname text, p_app text,
                                                  p_app_version text, p_platform text,
                                                  p_network cidr, p_group text,
                                                  p_verdict text, p_before_at timestamptz,
                                                  p_before_id uuid)
RETURNS SETOF text LANGUAGE sql STABLE AS $fn$
    SELECT json_build_object('id', g.id, 'app', g.app_bundle_id, 'hostname', g.hostname,
               'anchor', json_build_object('subject', g.anchor_subject,
                   'spki_sha256', encode(g.anchor_spki, 'hex'), 'public', g.anchor_public),
               'expected_key_seen', g.expected_key_seen, 'verdict', g.verdict, 'kind', g.kind,
               'product', g.product, 'reasons', g.reasons,
               'first_seen', pinwatch_ts(g.first_seen), 'last_seen', pinwatch_ts(g.last_seen),
               'reports_in_export', x.n)::text
    FROM (SELECT r.group_id, count(*) AS n
          FROM pinwatch_reports_matching(p_from, p_to, p_hostname, p_app, p_app_version,
                                         p_platform, p_network, p_group, p_verdict,
                                         p_before_at, p_before_id) r
          GROUP BY r.group_id) x
    JOIN groups g ON g.id = x.group_id
    ORDER BY x.n DESC, g.id
$fn$;

-- The pin sets reported in [p_from, p_to] (filters NULL: all): one row per app, version,
-- hostname and set of pins, with its reports, devices, times and pin-policy expiry dates, and
-- the pins never seen in any stored chain (a backup key not yet deployed, or a typo); pins as
-- comma-separated base64. Most devices first.
CREATE OR REPLACE FUNCTION pinwatch_pinsets(p_from timestamptz, p_to timestamptz, p_app text,
                                            p_hostname text)
RETURNS TABLE (app text, version text, hostname text, pins text, reports bigint,
               devices bigint, first_seen text, last_seen text, pins_expire text,
               pins_expire_usec bigint, unseen_pins text)
LANGUAGE sql STABLE AS $fn$
    SELECT app_bundle_id, app_version, hostname,
           array_to_string(ARRAY(SELECT encode(p, 'base64') FROM unnest(known_pins) p), ','),
           count(*),
           count(DISTINCT coalesce(vendor_id, network::text || '|' || coalesce(user_agent, ''))),
           pinwatch_ts(min(received_at)), pinwatch_ts(max(received_at)),
           array_to_string(array_agg(DISTINCT to_char(pins_expire AT TIME ZONE 'UTC',
                                                      'YYYY-MM-DD'))
                               FILTER (WHERE pins_expire IS NOT NULL), ','),
           (extract(epoch FROM min(pins_expire)) * 1000000)::bigint,
           array_to_string(ARRAY(SELECT encode(p, 'base64') FROM unnest(known_pins) p
                                 WHERE NOT EXISTS (SELECT 1 FROM certificates c
                                                   WHERE c.spki_sha256 = p)), ',')
    FROM reports
    WHERE received_at >= p_from AND received_at <= p_to
      AND (p_app IS NULL OR app_bundle_id = p_app)
      AND (p_hostname IS NULL OR hostname = p_hostname)
      AND cardinality(known_pins) > 0
    GROUP BY app_bundle_id, app_version, hostname, known_pins
    ORDER BY count(DISTINCT coalesce(vendor_id, network::text || '|' ||
                                     coalesce(user_agent, ''))) DESC, count(*) DESC, 1, 2
$fn$;

-- GET /v1/chains/{sha256}: a stored chain, its certificates and its findings. No row: none.
CREATE OR REPLACE FUNCTION pinwatch_chain_json(p_sha256 bytea)
RETURNS SETOF text LANGUAGE sql STABLE AS $fn$
    SELECT json_build_object('sha256', encode(sha256, 'hex'),
                             'certificates', pinwatch_chain_certs_json(sha256),
                             'findings', analysis)::text
    FROM chains WHERE sha256 = p_sha256
$fn$;

-- The expected keys of every host pattern as {"hosts": {pattern: {"keys": [...]}}}, and a
-- fingerprint of them that changes whenever they do.
CREATE OR REPLACE FUNCTION pinwatch_expected_keys_json()
RETURNS TABLE (keys text, fingerprint text) LANGUAGE sql STABLE AS $fn$
    SELECT json_build_object('hosts', coalesce(json_object_agg(pattern,
               json_build_object('keys', k)), '{}'::json))::text,
           md5(coalesce(string_agg(pattern || ':' || k::text, ';' ORDER BY pattern), ''))
    FROM (SELECT pattern, json_agg(json_build_object('pin', encode(pin, 'base64'),
                                                     'label', label) ORDER BY label, pin) AS k
          FROM expected_keys GROUP BY pattern) x
$fn$;

-- The export's reports.csv: one row of text cells per matching report, oldest first (the
-- order of pinwatch_reports_matching's export cursors). The column names are the CSV header.
CREATE OR REPLACE FUNCTION pinwatch_export_rows(p_from timestamptz, p_to timestamptz,
                                                p_hostname text, p_app text,
                                                p_app_version text, p_platform text,
                                                p_network cidr, p_group text,
                                                p_verdict text, p_before_at timestamptz,
                                                p_before_id uuid)
RETURNS TABLE (id text, received_at text, format text, hostname text, hostname_raw text,
               noted_hostname text, port text, app text, app_version text, platform text,
               platform_version text, vendor_id text, sdk text, sdk_version text, network text,
               asn text, as_org text, country text, user_agent text, validation_result text,
               enforce_pinning text, include_subdomains text, client_time text,
               client_time_raw text, pins_expire text, known_pins text, known_pins_raw text,
               served_chain_sha256 text, validated_chain_sha256 text, anchor_subject text,
               anchor_public text, catalog_product text, "group" text, verdict text,
               kind text, product text, problems text, raw_sha256 text)
LANGUAGE sql STABLE AS $fn$
    SELECT r.id::text, pinwatch_ts(r.received_at), r.format, r.hostname,
           coalesce(r.hostname_raw, r.hostname), r.noted_hostname, r.port::text,
           r.app_bundle_id, r.app_version, r.platform, r.platform_version, r.vendor_id, r.sdk,
           r.sdk_version, r.network::text, r.asn::text, r.as_org, r.country, r.user_agent,
           r.validation_result::text, r.enforce_pinning::text, r.include_subdomains::text,
           pinwatch_ts(r.client_time), coalesce(r.client_time_raw, pinwatch_ts(r.client_time)),
           pinwatch_ts(r.pins_expire),
           (SELECT string_agg(encode(p, 'base64'), ' ' ORDER BY p) FROM unnest(r.known_pins) p),
           to_json(r.known_pins_raw)::text, encode(r.served_chain, 'hex'),
           encode(r.validated_chain, 'hex'), ch.analysis->'anchor'->>'subject',
           ch.analysis->'anchor'->>'public', ch.analysis->'catalog'->>'product', r.group_id,
           coalesce(g.verdict, 'undetermined'), g.kind, g.product,
           (SELECT string_agg(p->>'code', ' ')
            FROM jsonb_array_elements(CASE WHEN jsonb_typeof(r.problems) = 'array'
                                           THEN r.problems ELSE '[]'::jsonb END) p),
           encode(r.raw_sha256, 'hex')
    FROM pinwatch_reports_matching(p_from, p_to, p_hostname, p_app, p_app_version, p_platform,
                                   p_network, p_group, p_verdict, p_before_at, p_before_id) r
    LEFT JOIN groups g ON g.id = r.group_id
    LEFT JOIN chains ch ON ch.sha256 = coalesce(r.validated_chain, r.served_chain)
    ORDER BY r.received_at, r.id
$fn$;
