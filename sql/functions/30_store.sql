-- sql/functions/30_store.sql: the write path: partitions, the staging table, the commit.
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

-- Monthly partitions are created on demand by the writer (and at start-up), so retention is
-- a partition drop.
CREATE OR REPLACE FUNCTION pinwatch_ensure_partition(ts timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    lo date := date_trunc('month', ts AT TIME ZONE 'UTC')::date;
    hi date := (date_trunc('month', ts AT TIME ZONE 'UTC') + interval '1 month')::date;
    name text := format('reports_%s', to_char(lo, 'YYYY_MM'));
BEGIN
    IF to_regclass(name) IS NULL THEN
        BEGIN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF reports FOR VALUES FROM (%L) TO (%L)',
                name, lo::timestamp AT TIME ZONE 'UTC', hi::timestamp AT TIME ZONE 'UTC');
        EXCEPTION WHEN duplicate_table OR unique_violation THEN
            NULL;  -- another node created it first
        END;
    END IF;
    RETURN name;
END;
$$;

-- Called once per writer connection. The table is temporary: private to the session, never
-- WAL-logged, emptied at every commit.
CREATE OR REPLACE FUNCTION pinwatch_stage_open() RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    SET LOCAL client_min_messages = warning; -- "already exists" on a reused session
    CREATE TEMP TABLE IF NOT EXISTS pinwatch_stage (
        kind               "char" NOT NULL,
        sha256             bytea,       -- c h f b
        spki_sha256        bytea,       -- c
        der                bytea,
        subject            text,
        issuer             text,
        serial             text,
        not_before         timestamptz,
        not_after          timestamptz,
        sans               text[],
        key_type           text,
        key_bits           integer,
        is_ca              boolean,
        sig_alg            text,
        certs              bytea[],     -- h
        analysis           jsonb,
        bytes              bytea,       -- f
        length             integer,     -- b (and received_at)
        template           bytea,
        id                 uuid,        -- r
        received_at        timestamptz,
        format             text,        -- (and b: the media type the body came with, 0015)
        hostname           text,
        hostname_raw       text,
        noted_hostname     text,
        noted_hostname_raw text,
        port               integer,
        include_subdomains boolean,
        enforce_pinning    boolean,
        validation_result  bigint,
        client_time        timestamptz,
        client_time_raw    text,
        pins_expire        timestamptz,
        pins_expire_raw    text,
        known_pins         bytea[],
        known_pins_raw     text[],
        served_chain       bytea,
        validated_chain    bytea,
        app_bundle_id      text,
        app_version        text,
        platform           text,
        platform_version   text,
        vendor_id          text,
        sdk                text,
        sdk_version        text,
        network            cidr,
        client_ip          inet,
        asn                bigint,
        as_org             text,
        country            text,
        user_agent         text,
        group_id           text,
        problems           jsonb,
        extra              jsonb,
        raw_sha256         bytea,
        flags              smallint,
        g_id               text,        -- g
        g_app_bundle_id    text,
        g_hostname         text,
        anchor_spki        bytea,
        anchor_subject     text,
        anchor_public      boolean,
        expected_key_seen  boolean,
        first_seen         timestamptz,
        last_seen          timestamptz,
        catalog_product    text,
        catalog_category   text,
        known_hostile      boolean,
        hostile_name       text,
        hostile_category   text,
        weak               text[]
    ) ON COMMIT DELETE ROWS;
END;
$fn$;

-- One commit of the write path: moves the rows staged with COPY (pinwatch_stage) into the real
-- tables and queues the rollup rows of the reports it inserted (pinwatch_rollups_flush merges
-- them). New groups are inserted; an existing one is updated only when the batch brings
-- catalog or hostile-key facts it did not have (its times and version move at the merge).
CREATE OR REPLACE FUNCTION pinwatch_store_staged() RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    n bigint;
    rows pinwatch_rollup_row[];
BEGIN
    -- First, before any row lock: a re-grouping in progress holds this back.
    LOCK TABLE rollup_queue IN ROW EXCLUSIVE MODE;
    INSERT INTO certificates (sha256, spki_sha256, der, subject, issuer, serial, not_before,
                              not_after, sans, key_type, key_bits, is_ca, sig_alg)
    SELECT sha256, spki_sha256, der, subject, issuer, serial, not_before, not_after,
           coalesce(sans, '{}'), key_type, key_bits, coalesce(is_ca, false), sig_alg
    FROM pg_temp.pinwatch_stage WHERE kind = 'c' ORDER BY sha256
    ON CONFLICT DO NOTHING;
    INSERT INTO chains (sha256, certs, analysis)
    SELECT sha256, certs, analysis FROM pg_temp.pinwatch_stage WHERE kind = 'h' ORDER BY sha256
    ON CONFLICT DO NOTHING;
    INSERT INTO raw_fragments (sha256, bytes)
    SELECT sha256, bytes FROM pg_temp.pinwatch_stage WHERE kind = 'f' ORDER BY sha256
    ON CONFLICT DO NOTHING;
    INSERT INTO raw_bodies (sha256, received_at, length, template, media_type)
    SELECT sha256, received_at, length, template, format FROM pg_temp.pinwatch_stage
    WHERE kind = 'b' ORDER BY sha256
    ON CONFLICT DO NOTHING;
    INSERT INTO groups (id, app_bundle_id, hostname, anchor_spki, anchor_subject, anchor_public,
                        expected_key_seen, first_seen, last_seen, catalog_product,
                        catalog_category, known_hostile, hostile_name, hostile_category, weak)
    SELECT g_id, min(g_app_bundle_id), min(g_hostname), (array_agg(anchor_spki))[1],
           min(anchor_subject), bool_or(anchor_public), bool_or(expected_key_seen),
           min(first_seen), max(last_seen), min(catalog_product), min(catalog_category),
           bool_or(known_hostile), min(hostile_name), min(hostile_category),
           coalesce(min(weak), '{}')
    FROM pg_temp.pinwatch_stage s
    -- groups already stored are left out before the insert: its uniqueness check would wait
    -- for a merge that is updating their times
    WHERE kind = 'g' AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.id = s.g_id)
    GROUP BY g_id
    ORDER BY g_id
    ON CONFLICT (id) DO NOTHING;
    UPDATE groups AS t SET
        version = t.version + 1,
        catalog_product = coalesce(t.catalog_product, x.catalog_product),
        catalog_category = coalesce(t.catalog_category, x.catalog_category),
        known_hostile = t.known_hostile OR coalesce(x.known_hostile, false),
        hostile_name = coalesce(t.hostile_name, x.hostile_name),
        hostile_category = coalesce(t.hostile_category, x.hostile_category)
    FROM (SELECT g_id, min(catalog_product) AS catalog_product,
                 min(catalog_category) AS catalog_category,
                 bool_or(known_hostile) AS known_hostile, min(hostile_name) AS hostile_name,
                 min(hostile_category) AS hostile_category
          FROM pg_temp.pinwatch_stage WHERE kind = 'g' GROUP BY g_id) AS x
    WHERE t.id = x.g_id
      AND ((t.catalog_product IS NULL AND x.catalog_product IS NOT NULL)
           OR (t.catalog_category IS NULL AND x.catalog_category IS NOT NULL)
           OR (NOT t.known_hostile AND x.known_hostile)
           OR (t.hostile_name IS NULL AND x.hostile_name IS NOT NULL)
           OR (t.hostile_category IS NULL AND x.hostile_category IS NOT NULL));
    WITH ins AS (
        INSERT INTO reports (id, received_at, format, hostname, hostname_raw, noted_hostname,
                             noted_hostname_raw, port, include_subdomains, enforce_pinning,
                             validation_result, client_time, client_time_raw, pins_expire,
                             pins_expire_raw, known_pins, known_pins_raw, served_chain,
                             validated_chain, app_bundle_id, app_version, platform,
                             platform_version, vendor_id, sdk, sdk_version, network, client_ip,
                             asn, as_org, country, user_agent, group_id, problems, extra,
                             raw_sha256, flags)
        SELECT id, received_at, format, hostname, hostname_raw, noted_hostname,
               noted_hostname_raw, port, include_subdomains, enforce_pinning,
               validation_result, client_time, client_time_raw, pins_expire, pins_expire_raw,
               coalesce(known_pins, '{}'), known_pins_raw, served_chain, validated_chain,
               app_bundle_id, app_version, platform, platform_version, vendor_id, sdk,
               sdk_version, network, client_ip, asn, as_org, country, user_agent, group_id,
               problems, extra, raw_sha256, flags
        FROM pg_temp.pinwatch_stage WHERE kind = 'r' ORDER BY id
        ON CONFLICT DO NOTHING
        -- only rows really inserted reach the rollups, so replaying a unit changes nothing
        RETURNING *)
    SELECT count(*), array_agg(pinwatch_rollup_row_of(ROW(ins.*)::reports)) INTO n, rows
    FROM ins;
    IF n > 0 THEN
        INSERT INTO rollup_queue (batch) VALUES (rows);
    END IF;
    RETURN n;
END;
$fn$;

-- The commit of units spooled before migration 0010 (JSON rows instead of the staging
-- table): the same merge, with the rollups merged at once. Units from before 0008 carry
-- per-report findings as a JSON object instead of flags; they are converted, not dropped.
CREATE OR REPLACE FUNCTION pinwatch_store_batch(p_certs json, p_chains json, p_fragments json,
                                                p_bodies json, p_reports json, p_groups json)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
    n bigint;
    rows pinwatch_rollup_row[];
BEGIN
    -- First, like pinwatch_store_staged: re-grouping and retention hold this back.
    LOCK TABLE rollup_queue IN ROW EXCLUSIVE MODE;
    IF strpos(p_reports::text, '"findings"') > 0 THEN
        p_reports := (SELECT json_agg(CASE WHEN e ? 'findings' AND NOT e ? 'flags'
                                           THEN (e - 'findings') || jsonb_build_object(
                                                'flags', pinwatch_findings_flags(e -> 'findings'))
                                           ELSE e END ORDER BY i)
                      FROM jsonb_array_elements(p_reports::jsonb) WITH ORDINALITY AS x(e, i));
    END IF;
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
