-- Synthetic population for the aggregation benchmark, written through the same statement
-- the server commits with (pinwatch_store_batch), so the rollups are the real ones.
--   psql -v reports=5000000 -v batch=5000 -f generate.sql
-- 60 groups over one app family and 4 hostnames: spread misconfigurations (thousands of
-- networks, one app version), concentrated interceptions (1-3 networks, every version), and
-- device-local proxies; 7 days of receive times, 12 app versions, 200 000 devices.
\set ON_ERROR_STOP on
SELECT set_config('bench.reports', :'reports', false), set_config('bench.batch', :'batch', false)
\gset
DO $$
DECLARE
    total bigint := current_setting('bench.reports')::bigint;
    batch int := current_setting('bench.batch')::int;
    done bigint := 0;
    t0 timestamptz := now() - interval '7 days';
    rows json;
    grps json;
BEGIN
    SELECT json_agg(json_build_object(
               'id', 'bench-group-' || g, 'app_bundle_id', 'com.example.app' || (g % 3),
               'hostname', 'api' || (g % 4) || '.example.com',
               'anchor_spki', '\x' || encode(sha256(('anchor' || g)::bytea), 'hex'),
               'anchor_subject', 'CN=Bench Anchor ' || g, 'anchor_public', g % 5 = 0,
               'expected_key_seen', g % 7 = 0, 'first_seen', t0, 'last_seen', now(),
               'catalog_product', CASE WHEN g % 6 = 1 THEN 'Fortinet' END,
               'catalog_category', CASE WHEN g % 6 = 1 THEN 'enterprise_proxy' END,
               'known_hostile', g = 59))
      INTO grps FROM generate_series(0, 59) g;
    WHILE done < total LOOP
        SELECT json_agg(json_build_object(
                   'id', gen_random_uuid(),
                   'received_at', t0 + (random() * interval '7 days'),
                   'format', 'trustkit_ios', 'hostname', 'api' || (grp % 4) || '.example.com',
                   'hostname_raw', 'api' || (grp % 4) || '.example.com',
                   'app_bundle_id', 'com.example.app' || (grp % 3),
                   'app_version', CASE WHEN grp % 5 = 0 THEN '7.1' ELSE (i / 60 % 12) || '.0' END,
                   'platform', CASE WHEN grp % 2 = 0 THEN 'ios' ELSE 'android' END,
                   'vendor_id', 'device-' || CASE WHEN grp % 10 = 9 THEN grp ELSE (i / 60 * 7919) % 200000 END,
                   -- spread groups: 20 000 networks; the others: 1 to 3 networks
                   'network', CASE WHEN grp % 5 = 0
                                   THEN ((i / 60 * 104729) % 20000 / 200 + 1) || '.' || ((i / 60 * 104729) % 200) || '.' || (grp % 250) || '.0/24'
                                   ELSE '198.51.' || (grp % 3 + i / 60 % (1 + grp % 3)) || '.0/24' END,
                   'asn', 64500 + (grp % 40),
                   'validation_result', 1,
                   'client_time', now() - (random() * interval '7 days'),
                   'known_pins', json_build_array('\x' || encode(sha256('pin'::bytea), 'hex')),
                   'group_id', 'bench-group-' || grp,
                   'flags', pinwatch_findings_flags(jsonb_build_object('linked', true, 'covers_hostname', true,
                                                 'valid_at_report_time', true,
                                                 'pin_in_chain', false,
                                                 'expected_key', grp % 7 = 0,
                                                 'leaf_expected', grp % 7 = 0)),
                   'problems', '[]'::json, 'extra', '{}'::json,
                   'raw_sha256', '\x' || encode(sha256(i::text::bytea), 'hex')))
          INTO rows
          FROM (SELECT done + s AS i, (done + s) % 60 AS grp
                FROM generate_series(1, least(batch, total - done)) s) x;
        PERFORM pinwatch_ensure_partition(t0);
        PERFORM pinwatch_ensure_partition(t0 + interval '1 month');
        PERFORM pinwatch_store_batch('[]', '[]', '[]', '[]', rows, grps);
        done := done + batch;
        IF done % 500000 = 0 THEN
            RAISE NOTICE 'generated % reports', done;
        END IF;
        COMMIT;
    END LOOP;
END $$;
ANALYZE;
