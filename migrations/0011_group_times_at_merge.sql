-- A group's first and last report times and its version (what tells the evaluator to look
-- again) move from the commit to the rollup merge. Every commit used to update the row of each
-- group it touched: about 15 rows per commit in the benchmark, each update a new row version
-- and new entries in all four of the table's indexes (last_seen and the stale-group predicate
-- change, so PostgreSQL cannot update in place), hence a table that was mostly dead versions
-- until autovacuum came. Now a commit inserts new groups and updates an existing one only when
-- it brings catalog or hostile-key facts the row lacks; the merge, which gathers about 100 ms
-- of commits, moves each group's times and version once. Every read of groups merges what is
-- queued first (group evaluation, the group list, re-grouping, the export), so none sees a
-- time older than an acknowledged report.

-- The merge of 0009 keeps its body under a new name; everything that merges rollups (the
-- flusher, reads, re-grouping, old spooled units) calls pinwatch_apply_rollups.
ALTER FUNCTION pinwatch_apply_rollups(pinwatch_rollup_row[]) RENAME TO pinwatch_apply_rollup_tables;

CREATE FUNCTION pinwatch_apply_rollups(p_rows pinwatch_rollup_row[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pinwatch_apply_rollup_tables(p_rows);
    -- rows locked in id order, as every other writer of groups does, so two merges (two
    -- nodes) cannot deadlock on them
    PERFORM 1 FROM groups WHERE id IN (SELECT group_id FROM unnest(p_rows))
    ORDER BY id FOR NO KEY UPDATE;
    UPDATE groups AS t SET
        first_seen = least(t.first_seen, x.first_seen),
        last_seen = greatest(t.last_seen, x.last_seen),
        version = t.version + 1
    FROM (SELECT group_id, min(received_at) AS first_seen, max(received_at) AS last_seen
          FROM unnest(p_rows) GROUP BY group_id) AS x
    WHERE t.id = x.group_id;
END;
$fn$;

-- 0010's merge, with the groups part changed: new groups are inserted, and an existing one is
-- updated only when the batch brings catalog or hostile-key facts it did not have.
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
    INSERT INTO raw_bodies (sha256, received_at, length, template)
    SELECT sha256, received_at, length, template FROM pg_temp.pinwatch_stage
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
