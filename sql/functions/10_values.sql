-- sql/functions/10_values.sql: value helpers: timestamps as API text, the findings flags.
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

CREATE OR REPLACE FUNCTION pinwatch_ts(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN t IS NULL THEN NULL
                WHEN extract(microseconds FROM t)::bigint % 1000000 = 0
                THEN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                ELSE to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END
$$;

-- Flag bits: value bit b, and bit b + 6 set when the finding is known at all (a report
-- without a chain has none): 0 covers_hostname, 1 valid_at_report_time, 2 pin_in_chain,
-- 3 expected_key, 4 leaf_expected, 5 linked. store.c writes the same bits.
CREATE OR REPLACE FUNCTION pinwatch_flag(p_flags smallint, p_bit int) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_flags & (64 << p_bit) = 0 THEN NULL
                ELSE p_flags & (1 << p_bit) <> 0 END
$$;

-- The flags with finding p_bit known and set to p_value (NULL flags: nothing else known).
CREATE OR REPLACE FUNCTION pinwatch_flag_set(p_flags smallint, p_bit int, p_value boolean)
RETURNS smallint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ((coalesce(p_flags, 0) & ~(65 << p_bit)) | (64 << p_bit)
            | CASE WHEN p_value THEN 1 << p_bit ELSE 0 END)::smallint
$$;

CREATE OR REPLACE FUNCTION pinwatch_flags_json(p_flags smallint) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_flags IS NULL THEN NULL ELSE jsonb_strip_nulls(jsonb_build_object(
        'covers_hostname', pinwatch_flag(p_flags, 0),
        'valid_at_report_time', pinwatch_flag(p_flags, 1),
        'pin_in_chain', pinwatch_flag(p_flags, 2),
        'expected_key', pinwatch_flag(p_flags, 3),
        'leaf_expected', pinwatch_flag(p_flags, 4),
        'linked', pinwatch_flag(p_flags, 5))) END
$$;

CREATE OR REPLACE FUNCTION pinwatch_findings_flags(f jsonb) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN f IS NULL THEN NULL ELSE (
        SELECT coalesce(sum(CASE WHEN jsonb_typeof(f -> k.name) = 'boolean'
                                 THEN (64 << k.bit) + CASE WHEN (f ->> k.name)::boolean
                                                           THEN 1 << k.bit ELSE 0 END
                                 ELSE 0 END), 0)::smallint
        FROM (VALUES ('covers_hostname', 0), ('valid_at_report_time', 1), ('pin_in_chain', 2),
                     ('expected_key', 3), ('leaf_expected', 4), ('linked', 5)) AS k(name, bit))
    END
$$;
