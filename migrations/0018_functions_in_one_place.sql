-- Functions now live in sql/functions/ (one current definition each, applied after the
-- migrations). Three merges were split across renamed functions by 0009 and 0011; each is one
-- function again there, so the renamed parts are dropped here. pinwatch_apply_rollups,
-- pinwatch_rebuild_rollups and pinwatch_store_batch, which called them, are replaced by
-- sql/functions/ right after this migration, under the same lock.
DROP FUNCTION IF EXISTS pinwatch_apply_rollup_tables(pinwatch_rollup_row[]);
DROP FUNCTION IF EXISTS pinwatch_apply_group_rollups(pinwatch_rollup_row[]);
DROP FUNCTION IF EXISTS pinwatch_rebuild_group_rollups(text[]);
DROP FUNCTION IF EXISTS pinwatch_store_batch_rows(json, json, json, json, json, json);
