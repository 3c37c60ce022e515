-- sql/functions/80_alerts.sql: alerts and retention (SPEC 10): the pin expiry rollup merge,
-- version order, fragment references of raw body templates, partition retention.
--
-- A repeatable file (see 10_values.sql): function definitions only.

-- Queued rollup rows leave the queue through a DELETE (pinwatch_rollups_flush): the pin
-- expirations they carry are merged then, once per flush.
CREATE OR REPLACE FUNCTION pinwatch_pin_expiry_merge() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO pin_expiry AS t (app_bundle_id, hostname, app_version, first_seen, last_seen,
                                 pins_expire, reports)
    SELECT g.app_bundle_id, g.hostname, coalesce(r.app_version, ''), min(r.received_at),
           max(r.received_at), max(r.pins_expire), count(*)
    FROM gone q CROSS JOIN LATERAL unnest(q.batch) AS r JOIN groups g ON g.id = r.group_id
    WHERE r.pins_expire IS NOT NULL
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (app_bundle_id, hostname, app_version) DO UPDATE SET
        first_seen = least(t.first_seen, excluded.first_seen),
        last_seen = greatest(t.last_seen, excluded.last_seen),
        pins_expire = greatest(t.pins_expire, excluded.pins_expire),
        reports = t.reports + excluded.reports;
    RETURN NULL;
END;
$fn$;

-- App versions in numeric order: "10.0" after "9.1", "2.0-beta" with "2.0".
CREATE OR REPLACE FUNCTION pinwatch_version_key(v text) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT coalesce(array_agg(m[1]::bigint ORDER BY n), '{}')
    FROM regexp_matches(coalesce(v, ''), '(\d{1,18})', 'g') WITH ORDINALITY AS x(m, n)
$fn$;

-- Fragment references of a raw body template (see src/report/rawbody.h): the 'Z' form lists
-- them after its header, the 'T' form marks each with a NUL byte. The deflated part of a 'Z'
-- template is not read: it repeats the header's references.
CREATE OR REPLACE FUNCTION pinwatch_template_refs(t bytea) RETURNS SETOF bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    i integer;
    p integer;
BEGIN
    IF length(t) < 2 THEN
        RETURN;
    END IF;
    IF get_byte(t, 0) = 90 THEN -- 'Z'
        FOR i IN 0 .. get_byte(t, 1) - 1 LOOP
            RETURN NEXT substr(t, 4 + 33 * i, 32);
        END LOOP;
    ELSIF get_byte(t, 0) = 84 THEN -- 'T'
        p := 2;
        LOOP
            i := position('\x00'::bytea IN substr(t, p));
            EXIT WHEN i = 0;
            p := p + i - 1;
            RETURN NEXT substr(t, p + 1, 32);
            p := p + 33;
        END LOOP;
    END IF;
END;
$fn$;

-- Drop one report partition whose every report was received before p_cutoff, with what only
-- its reports used. Holds new commits back first (the lock every commit takes before anything
-- else, see pinwatch_store_staged), so no commit in flight can be about to reference a body,
-- chain or fragment this deletes. Returns the counts, or NULL when the partition holds a
-- report at or after the cutoff (it is then left alone).
CREATE OR REPLACE FUNCTION pinwatch_retention_drop(p_partition text, p_cutoff timestamptz) RETURNS json
LANGUAGE plpgsql AS $fn$
DECLARE
    n_reports bigint;
    n_bodies bigint;
    n_chains bigint;
    n_certs bigint;
    n_frags bigint;
    newer boolean;
BEGIN
    LOCK TABLE rollup_queue IN SHARE ROW EXCLUSIVE MODE;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE received_at >= $1)', p_partition)
        INTO newer USING p_cutoff;
    IF newer THEN
        RETURN NULL;
    END IF;
    SET LOCAL client_min_messages = warning;
    DROP TABLE IF EXISTS pg_temp.ret_bodies, pg_temp.ret_chains, pg_temp.ret_gone_bodies,
        pg_temp.ret_gone_chains;
    EXECUTE format('CREATE TEMP TABLE ret_bodies ON COMMIT DROP AS'
                   ' SELECT DISTINCT raw_sha256 AS sha256 FROM %I', p_partition);
    EXECUTE format('CREATE TEMP TABLE ret_chains ON COMMIT DROP AS'
                   ' SELECT DISTINCT c AS sha256 FROM %I,'
                   ' LATERAL (VALUES (served_chain), (validated_chain)) v(c)'
                   ' WHERE c IS NOT NULL', p_partition);
    EXECUTE format('SELECT count(*) FROM %I', p_partition) INTO n_reports;
    EXECUTE format('DROP TABLE %I', p_partition);

    CREATE TEMP TABLE ret_gone_bodies ON COMMIT DROP AS
    WITH d AS (
        DELETE FROM raw_bodies b USING ret_bodies t
        WHERE b.sha256 = t.sha256
          AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.raw_sha256 = b.sha256)
        RETURNING b.template)
    SELECT template FROM d;
    SELECT count(*) INTO n_bodies FROM ret_gone_bodies;

    -- fragments of the deleted bodies that no remaining body references
    WITH cand AS (SELECT DISTINCT ref FROM ret_gone_bodies, pinwatch_template_refs(template) ref),
    kept AS (SELECT DISTINCT ref FROM raw_bodies b, pinwatch_template_refs(b.template) ref
             WHERE ref IN (SELECT ref FROM cand)),
    d AS (DELETE FROM raw_fragments f WHERE f.sha256 IN (SELECT ref FROM cand)
            AND f.sha256 NOT IN (SELECT ref FROM kept) RETURNING 1)
    SELECT count(*) INTO n_frags FROM d;

    CREATE TEMP TABLE ret_gone_chains ON COMMIT DROP AS
    WITH d AS (
        DELETE FROM chains c USING ret_chains t
        WHERE c.sha256 = t.sha256
          AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.served_chain = c.sha256)
          AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.validated_chain = c.sha256)
        RETURNING c.certs)
    SELECT certs FROM d;
    SELECT count(*) INTO n_chains FROM ret_gone_chains;

    WITH cand AS (SELECT DISTINCT x AS sha256 FROM ret_gone_chains, unnest(certs) x),
    kept AS (SELECT DISTINCT x AS sha256 FROM chains ch, unnest(ch.certs) x
             WHERE x IN (SELECT sha256 FROM cand)),
    d AS (DELETE FROM certificates c WHERE c.sha256 IN (SELECT sha256 FROM cand)
            AND c.sha256 NOT IN (SELECT sha256 FROM kept) RETURNING 1)
    SELECT count(*) INTO n_certs FROM d;

    INSERT INTO retention_log (partition, cutoff, reports, raw_bodies, chains, certificates,
                               fragments)
    VALUES (p_partition, p_cutoff, n_reports, n_bodies, n_chains, n_certs, n_frags);
    RETURN json_build_object('partition', p_partition, 'reports', n_reports,
                             'raw_bodies', n_bodies, 'chains', n_chains,
                             'certificates', n_certs, 'fragments', n_frags);
END;
$fn$;

-- Report partitions whose whole range ends at or before p_cutoff, oldest first.
CREATE OR REPLACE FUNCTION pinwatch_retention_due(p_cutoff timestamptz) RETURNS SETOF text
LANGUAGE sql STABLE AS $fn$
    SELECT c.relname::text
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                    'TO \(''([^'']+)''\)') AS m
    WHERE i.inhparent = 'reports'::regclass AND m[1]::timestamptz <= p_cutoff
    ORDER BY m[1]::timestamptz
$fn$;
