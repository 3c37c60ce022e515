-- The write path streams rows with COPY into a staging table of its own session and moves them
-- into the real tables with one call, in the same transaction. This replaces JSON rows that
-- PostgreSQL parsed again on every commit. pinwatch_store_batch stays for units spooled by an
-- older version.
--
-- Rollups leave the commit a request waits for: the commit queues the rollup rows of the
-- reports it inserted (rollup_queue, in the same transaction, so nothing is lost), and
-- pinwatch_rollups_flush merges whatever is queued into the rollup tables. Each node's flusher
-- runs it after commits, and every read of the rollups (group evaluation, which the read API
-- runs first) runs it before reading, so a read never misses a report that was acknowledged.
-- Merging many commits' rows at once also updates each group's rows once instead of once per
-- commit.
--
-- One staging table holds every kind of row (kind: c certificate, h chain, f fragment, b raw
-- body, r report, g group), because PostgreSQL empties each ON COMMIT DELETE ROWS table (and
-- rebuilds its TOAST index) at every commit: with one table per kind that cost a fifth of its
-- CPU per report.

-- Called once per writer connection. The table is temporary: private to the session, never
-- WAL-logged, emptied at every commit.
CREATE FUNCTION pinwatch_stage_open() RETURNS void
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
        format             text,
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

CREATE TABLE rollup_queue (
    id     bigserial PRIMARY KEY,
    batch  pinwatch_rollup_row[] NOT NULL  -- the rollup rows of one commit's reports
);

-- Merge everything queued (visible when it starts) into the rollups; returns the number of
-- reports merged. Concurrent calls wait for each other's rows rather than merge them twice.
CREATE FUNCTION pinwatch_rollups_flush() RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    n bigint;
    rows pinwatch_rollup_row[];
BEGIN
    WITH q AS (DELETE FROM rollup_queue RETURNING batch)
    SELECT count(*), array_agg(r) INTO n, rows FROM q, unnest(q.batch) AS r;
    IF n > 0 THEN
        PERFORM pinwatch_apply_rollups(rows);
    END IF;
    RETURN n;
END;
$fn$;

-- Re-grouping reads reports and rebuilds rollups from them: it holds new commits back (they
-- wait before taking any row lock, see pinwatch_store_staged) and merges what is queued first.
CREATE FUNCTION pinwatch_rollups_hold() RETURNS bigint
LANGUAGE plpgsql AS $fn$
BEGIN
    LOCK TABLE rollup_queue IN SHARE ROW EXCLUSIVE MODE;
    RETURN pinwatch_rollups_flush();
END;
$fn$;

-- The same merge as pinwatch_store_batch_rows (0008), from the staging table, with the rollup
-- rows queued instead of merged.
CREATE FUNCTION pinwatch_store_staged() RETURNS bigint
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
    INSERT INTO raw_bodies (sha256, received_at, length, template)
    SELECT sha256, received_at, length, template FROM pg_temp.pinwatch_stage
    WHERE kind = 'b' ORDER BY sha256
    ON CONFLICT DO NOTHING;
    INSERT INTO groups AS t (id, app_bundle_id, hostname, anchor_spki, anchor_subject,
                             anchor_public, expected_key_seen, first_seen, last_seen,
                             catalog_product, catalog_category, known_hostile, hostile_name,
                             hostile_category, weak)
    SELECT g_id, min(g_app_bundle_id), min(g_hostname), (array_agg(anchor_spki))[1],
           min(anchor_subject), bool_or(anchor_public), bool_or(expected_key_seen),
           min(first_seen), max(last_seen), min(catalog_product), min(catalog_category),
           bool_or(known_hostile), min(hostile_name), min(hostile_category),
           coalesce(min(weak), '{}')
    FROM pg_temp.pinwatch_stage WHERE kind = 'g'
    GROUP BY g_id
    ORDER BY g_id
    ON CONFLICT (id) DO UPDATE SET
        first_seen = least(t.first_seen, excluded.first_seen),
        last_seen = greatest(t.last_seen, excluded.last_seen),
        version = t.version + 1,
        catalog_product = coalesce(t.catalog_product, excluded.catalog_product),
        catalog_category = coalesce(t.catalog_category, excluded.catalog_category),
        known_hostile = t.known_hostile OR excluded.known_hostile,
        hostile_name = coalesce(t.hostile_name, excluded.hostile_name),
        hostile_category = coalesce(t.hostile_category, excluded.hostile_category);
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
