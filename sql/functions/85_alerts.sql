-- sql/functions/85_alerts.sql: alerts and retention (SPEC 10): the pin expiry rollup merge,
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

-- The alert rules' reads (src/analysis/alert_eval.c calls them). Those reading the tables of
-- migration 0013 are plpgsql, whose bodies PostgreSQL checks when they run, not when they are
-- created (a database at an older schema may be handed today's functions). A group as the
-- webhook shows it comes first in each: id, app, hostname, verdict, kind, product, counts from
-- the daily group rollup, first and last seen, the first three reasons.

CREATE OR REPLACE FUNCTION pinwatch_alert_group_counts(p_group text, OUT reports bigint,
                                                       OUT devices bigint, OUT networks bigint)
LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(sum(d.reports), 0)::bigint,
           coalesce(round(hll_cardinality(hll_union_agg(d.devices))), 0)::bigint,
           coalesce(round(hll_cardinality(hll_union_agg(d.networks))), 0)::bigint
    FROM rollup_group_daily d WHERE d.group_id = p_group
$fn$;

CREATE OR REPLACE FUNCTION pinwatch_alert_reasons(p_reasons jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT coalesce(jsonb_agg(x ORDER BY n), '[]')
    FROM jsonb_array_elements(p_reasons) WITH ORDINALITY AS e(x, n) WHERE n <= 3
$fn$;

-- new_interception_group / new_misconfiguration_group: groups of p_verdict seen in the last 7
-- days with p_devices devices or more, whose subject has not fired for this verdict.
CREATE OR REPLACE FUNCTION pinwatch_alert_groups(p_verdict text, p_devices bigint)
RETURNS TABLE (id text, app text, hostname text, verdict text, kind text, product text,
               reports bigint, devices bigint, networks bigint, first_seen text,
               last_seen text, reasons jsonb)
LANGUAGE plpgsql STABLE AS $fn$
#variable_conflict use_column
BEGIN
    RETURN QUERY
        SELECT g.id, g.app_bundle_id, g.hostname, g.verdict, g.kind, g.product, c.reports,
               c.devices, c.networks, pinwatch_ts(g.first_seen), pinwatch_ts(g.last_seen),
               pinwatch_alert_reasons(g.reasons)
        FROM groups g
        LEFT JOIN alert_subjects s ON s.subject = 'group:' || g.id
        CROSS JOIN LATERAL pinwatch_alert_group_counts(g.id) c
        WHERE g.verdict = p_verdict AND g.last_seen >= now() - interval '7 days'
          AND s.state IS DISTINCT FROM g.verdict AND c.devices >= p_devices
        ORDER BY g.first_seen, g.id LIMIT 200;
END;
$fn$;

-- version_failing: per group and app version, from the daily version rollup; a version fires
-- when it is the oldest (numeric order) that ever had a report in its group, and not yet.
CREATE OR REPLACE FUNCTION pinwatch_alert_versions(p_devices bigint)
RETURNS TABLE (id text, app text, hostname text, verdict text, kind text, product text,
               reports bigint, devices bigint, networks bigint, first_seen text,
               last_seen text, reasons jsonb, version text, version_reports bigint,
               version_devices bigint, version_first_day text)
LANGUAGE plpgsql STABLE AS $fn$
#variable_conflict use_column
BEGIN
    RETURN QUERY
        WITH v AS (
            SELECT d.group_id, d.app_version, min(d.day) AS first_day, sum(d.reports)::bigint AS n,
                   coalesce(round(hll_cardinality(hll_union_agg(d.devices))), 0)::bigint AS devs
            FROM rollup_version_daily d JOIN groups g ON g.id = d.group_id
            WHERE g.verdict <> 'interception' AND g.last_seen >= now() - interval '7 days'
              AND d.app_version <> ''
            GROUP BY 1, 2),
        w AS (
            SELECT v.*, min(v.k) OVER (PARTITION BY v.group_id) AS oldest
            FROM (SELECT v.*, pinwatch_version_key(v.app_version) AS k FROM v) v)
        SELECT g.id, g.app_bundle_id, g.hostname, g.verdict, g.kind, g.product, c.reports,
               c.devices, c.networks, pinwatch_ts(g.first_seen), pinwatch_ts(g.last_seen),
               pinwatch_alert_reasons(g.reasons), w.app_version, w.n, w.devs, w.first_day::text
        FROM w JOIN groups g ON g.id = w.group_id
        CROSS JOIN LATERAL pinwatch_alert_group_counts(g.id) c
        WHERE w.devs >= p_devices AND w.k = w.oldest
          AND NOT EXISTS (SELECT 1 FROM alert_subjects s
                          WHERE s.subject = 'version:' || w.group_id || '|' || w.app_version)
        ORDER BY w.first_day, g.id LIMIT 200;
END;
$fn$;

-- spike: the busier of this clock hour and the one before, against the median hour of the 7
-- days before them (hours without reports count as 0), for groups older than those two hours
-- with p_min_reports or more; every spiking group, with the state its subject last fired for.
CREATE OR REPLACE FUNCTION pinwatch_alert_spikes(p_factor float8, p_min_reports bigint)
RETURNS TABLE (id text, app text, hostname text, verdict text, kind text, product text,
               reports bigint, devices bigint, networks bigint, first_seen text,
               last_seen text, reasons jsonb, last_hour bigint, median_hour float8,
               fired_state text)
LANGUAGE plpgsql STABLE AS $fn$
#variable_conflict use_column
BEGIN
    RETURN QUERY
        WITH cur AS (
            SELECT r.group_id, r.hour, sum(r.reports)::bigint AS n FROM rollup_group_hourly r
            WHERE r.hour >= date_trunc('hour', now()) - interval '1 hour' GROUP BY 1, 2),
        hot AS (SELECT cur.group_id, max(cur.n) AS n FROM cur GROUP BY 1 HAVING max(cur.n) >= p_min_reports),
        b AS (
            SELECT h.group_id, h.n,
                   (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY coalesce(x.n, 0))
                    FROM generate_series(date_trunc('hour', now()) - interval '169 hours',
                                         date_trunc('hour', now()) - interval '2 hours',
                                         interval '1 hour') AS s(hour)
                    LEFT JOIN (SELECT r.hour, sum(r.reports) AS n FROM rollup_group_hourly r
                               WHERE r.group_id = h.group_id
                                 AND r.hour >= date_trunc('hour', now()) - interval '169 hours'
                                 AND r.hour < date_trunc('hour', now()) - interval '1 hour'
                               GROUP BY 1) x ON x.hour = s.hour) AS median
            FROM hot h)
        SELECT g.id, g.app_bundle_id, g.hostname, g.verdict, g.kind, g.product, c.reports,
               c.devices, c.networks, pinwatch_ts(g.first_seen), pinwatch_ts(g.last_seen),
               pinwatch_alert_reasons(g.reasons), b.n, b.median, s.state
        FROM b JOIN groups g ON g.id = b.group_id
        CROSS JOIN LATERAL pinwatch_alert_group_counts(g.id) c
        LEFT JOIN alert_subjects s ON s.subject = 'spike:' || g.id
        -- a group that started within the window is new, not spiking: new_*_group covers it
        WHERE b.n > p_factor * b.median
          AND g.first_seen < date_trunc('hour', now()) - interval '1 hour'
        ORDER BY g.id LIMIT 500;
END;
$fn$;

-- pins_expiring: pin sets reported in the last p_seen_days whose pins expire within
-- p_within_days (or have expired), with the state their subject last fired for.
CREATE OR REPLACE FUNCTION pinwatch_alert_pinsets(p_seen_days int, p_within_days int)
RETURNS TABLE (app text, version text, hostname text, pins_expire text, last_seen text,
               reports bigint, state text, days_left bigint, fired_state text)
LANGUAGE plpgsql STABLE AS $fn$
#variable_conflict use_column
BEGIN
    RETURN QUERY
        SELECT p.app_bundle_id, p.app_version, p.hostname, pinwatch_ts(p.pins_expire),
               pinwatch_ts(p.last_seen), p.reports,
               CASE WHEN p.pins_expire <= now() THEN 'expired' ELSE 'expiring' END,
               greatest(0, ceil(extract(epoch FROM p.pins_expire - now()) / 86400))::bigint,
               s.state
        FROM pin_expiry p
        LEFT JOIN alert_subjects s
            ON s.subject = 'pinset:' || p.app_bundle_id || '|' || p.app_version || '|' || p.hostname
        WHERE p.last_seen >= now() - make_interval(days => p_seen_days)
          AND p.pins_expire < now() + make_interval(days => p_within_days)
        ORDER BY p.pins_expire LIMIT 500;
END;
$fn$;

-- The per-verdict gauges of /metrics: groups, devices and reports of this clock hour and the
-- one before, one row per verdict (zeros included).
CREATE OR REPLACE FUNCTION pinwatch_alert_gauges()
RETURNS TABLE (verdict text, groups bigint, devices bigint, reports bigint)
LANGUAGE sql STABLE AS $fn$
    SELECT v.verdict, coalesce(x.groups, 0), coalesce(x.devices, 0), coalesce(x.reports, 0)
    FROM unnest(ARRAY['interception', 'misconfiguration', 'undetermined'])
         WITH ORDINALITY AS v(verdict, n)
    LEFT JOIN (SELECT g.verdict, count(DISTINCT h.group_id) AS groups,
                      round(hll_cardinality(hll_union_agg(h.devices)))::bigint AS devices,
                      sum(h.reports)::bigint AS reports
               FROM rollup_group_hourly h JOIN groups g ON g.id = h.group_id
               WHERE h.hour >= date_trunc('hour', now()) - interval '1 hour'
               GROUP BY 1) x ON x.verdict = v.verdict
    ORDER BY v.n
$fn$;
