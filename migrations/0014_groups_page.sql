-- GET /v1/groups pages (limit and cursor): pinwatch_groups_json gains three arguments
-- (sql/functions/60_groups.sql). A changed signature would only add an overload: drop the old one.
DROP FUNCTION IF EXISTS pinwatch_groups_json(timestamptz, timestamptz, text, text, text);
