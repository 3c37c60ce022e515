-- Report-only failures (TrustKit enforce-pinning false: the connection was not blocked) are
-- counted apart (SPEC 6.3, issue 17): every group says how many of its reports and devices
-- would have broken had pinning been enforced. The rollup row carries the flag; the group
-- rollups count the reports (hourly and daily, like reports) and sketch the devices (daily,
-- like devices). The merge that fills them lives in sql/functions/40_rollups.sql.
ALTER TYPE pinwatch_rollup_row ADD ATTRIBUTE report_only boolean;

ALTER TABLE rollup_group_hourly ADD COLUMN report_only bigint NOT NULL DEFAULT 0;
ALTER TABLE rollup_group_daily
    ADD COLUMN report_only bigint NOT NULL DEFAULT 0,
    ADD COLUMN report_only_devices hll NOT NULL DEFAULT hll_empty();

-- Reports already stored: the same counts from the reports themselves.
UPDATE rollup_group_hourly t SET report_only = x.n
FROM (SELECT group_id, date_trunc('hour', received_at, 'UTC') AS hour,
             coalesce(platform, '') AS platform, count(*) AS n
      FROM reports WHERE enforce_pinning = false GROUP BY 1, 2, 3) x
WHERE t.group_id = x.group_id AND t.hour = x.hour AND t.platform = x.platform;

UPDATE rollup_group_daily t SET report_only = x.n, report_only_devices = x.d
FROM (SELECT group_id, (received_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n,
             hll_add_agg(hll_hash_text(coalesce(vendor_id, coalesce(network::text, '') || '|'
                                                           || coalesce(user_agent, '')))) AS d
      FROM reports WHERE enforce_pinning = false GROUP BY 1, 2) x
WHERE t.group_id = x.group_id AND t.day = x.day;

-- sql/functions/ redefines these with new columns or parameters (report_only, the legacy
-- and NEL evidence, leaf pins): a changed return type or signature needs the old one gone.
DROP FUNCTION IF EXISTS pinwatch_groups_evidence(boolean, int);
DROP FUNCTION IF EXISTS pinwatch_pinsets(timestamptz, timestamptz, text, text);
DROP FUNCTION IF EXISTS pinwatch_window_reports(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS pinwatch_window_distincts(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS pinwatch_group_object(groups, numeric, bigint, bigint, json, json);
