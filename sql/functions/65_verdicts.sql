-- sql/functions/65_verdicts.sql: what the verdict engine reads and moves: the evidence of the
-- groups to evaluate, and the reports a change of expected keys may move between groups.
-- Try them in psql, e.g.
--   SELECT * FROM pinwatch_groups_evidence(true, 10);
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
--
-- The set-returning functions are single SELECTs, neither STRICT nor VOLATILE: PostgreSQL
-- inlines them into the query that calls them. Callers read their columns by name.

-- One row per group to evaluate (all of them, or those changed since their last evaluation),
-- in id order, at most p_limit: the group's chain-level evidence and its population evidence
-- over all its rollups, plus how widely its app+hostname fails overall (spread vs
-- concentration).
CREATE OR REPLACE FUNCTION pinwatch_groups_evidence(p_all boolean, p_limit int)
RETURNS TABLE (id text, app text, hostname text, has_chain boolean, anchor_public boolean,
               anchor_subject text, known_hostile boolean, hostile_name text,
               hostile_category text, catalog_product text, catalog_category text,
               weak text, expected_key_seen boolean, version bigint, reports numeric,
               devices bigint, networks bigint, versions bigint, top_network_reports bigint,
               pin_in_chain numeric, leaf_expected numeric, not_covering numeric,
               invalid_at_time numeric, unlinked numeric, result_untrusted numeric,
               pins_expired numeric, clock_skew numeric, app_versions bigint,
               app_networks bigint, top_version text)
LANGUAGE sql STABLE AS $fn$
    SELECT g.id, g.app_bundle_id, g.hostname, g.anchor_spki IS NOT NULL,
           coalesce(g.anchor_public, false), g.anchor_subject, g.known_hostile, g.hostile_name,
           g.hostile_category, g.catalog_product, g.catalog_category,
           array_to_string(g.weak, ','), g.expected_key_seen, g.version,
           s.reports, s.devices, s.networks,
           (SELECT count(DISTINCT app_version) FROM rollup_version_daily v
            WHERE v.group_id = g.id),
           coalesce((SELECT max(n.reports) FROM group_networks n WHERE n.group_id = g.id), 0),
           s.pin_in_chain, s.leaf_expected, s.not_covering, s.invalid_at_time, s.unlinked,
           s.result_untrusted, s.pins_expired, s.clock_skew,
           (SELECT count(DISTINCT v.app_version) FROM groups g2
            JOIN rollup_version_daily v ON v.group_id = g2.id
            WHERE g2.app_bundle_id = g.app_bundle_id AND g2.hostname = g.hostname),
           (SELECT coalesce(round(hll_cardinality(hll_union_agg(h.networks))), 0)::bigint
            FROM groups g2 JOIN rollup_group_daily h ON h.group_id = g2.id
            WHERE g2.app_bundle_id = g.app_bundle_id AND g2.hostname = g.hostname),
           (SELECT nullif(v.app_version, '') FROM rollup_version_daily v
            WHERE v.group_id = g.id
            GROUP BY v.app_version ORDER BY sum(v.reports) DESC, v.app_version LIMIT 1)
    FROM groups g
    CROSS JOIN LATERAL (
        SELECT coalesce(sum(reports), 0) AS reports,
               coalesce(round(hll_cardinality(hll_union_agg(devices))), 0)::bigint AS devices,
               coalesce(round(hll_cardinality(hll_union_agg(networks))), 0)::bigint AS networks,
               coalesce(sum(pin_in_chain), 0) AS pin_in_chain,
               coalesce(sum(leaf_expected), 0) AS leaf_expected,
               coalesce(sum(not_covering), 0) AS not_covering,
               coalesce(sum(invalid_at_time), 0) AS invalid_at_time,
               coalesce(sum(unlinked), 0) AS unlinked,
               coalesce(sum(result_untrusted), 0) AS result_untrusted,
               coalesce(sum(pins_expired), 0) AS pins_expired,
               coalesce(sum(clock_skew), 0) AS clock_skew
        FROM rollup_group_daily r WHERE r.group_id = g.id) s
    WHERE p_all OR g.version > g.evaluated_version
    ORDER BY g.id LIMIT p_limit
$fn$;

-- The reports of the hostnames that p_pattern covers (a hostname, or *.domain for its
-- subdomains), with their group's anchor, every key of their chains (hex, comma-separated),
-- the chains' anchors, the leaf's key, and the two findings that depend on expected keys.
CREATE OR REPLACE FUNCTION pinwatch_rekey_candidates(p_pattern text)
RETURNS TABLE (id uuid, app text, hostname text, anchor_spki text, group_id text,
               chain_spkis text, chain_anchor_spkis text, leaf_spki text,
               expected_key boolean, leaf_expected boolean)
LANGUAGE sql STABLE AS $fn$
    SELECT r.id, r.app_bundle_id, r.hostname, encode(g.anchor_spki, 'hex'), r.group_id,
           (SELECT string_agg(encode(c.spki_sha256, 'hex'), ',') FROM chains ch
            CROSS JOIN LATERAL unnest(ch.certs) AS m(sha)
            JOIN certificates c ON c.sha256 = m.sha
            WHERE ch.sha256 IN (r.served_chain, r.validated_chain)),
           (SELECT string_agg(ch.analysis->'anchor'->>'spki_sha256', ',') FROM chains ch
            WHERE ch.sha256 IN (r.served_chain, r.validated_chain)),
           (SELECT encode(c.spki_sha256, 'hex') FROM chains ch
            JOIN certificates c ON c.sha256 = ch.certs[1]
            WHERE ch.sha256 = coalesce(r.validated_chain, r.served_chain)),
           coalesce(pinwatch_flag(r.flags, 3), false), coalesce(pinwatch_flag(r.flags, 4), false)
    FROM reports r LEFT JOIN groups g ON g.id = r.group_id
    WHERE r.hostname = p_pattern
       OR (left(p_pattern, 2) = '*.' AND length(r.hostname) > length(p_pattern) - 1
           AND right(r.hostname, length(p_pattern) - 1) = substr(p_pattern, 2))
$fn$;

-- Moves reports p_ids[i] to groups p_gids[i] (created from the report's old group p_old[i]
-- when new) with findings expected_key = p_expected[i] and leaf_expected = p_leaf[i] (flag
-- bits 3 and 4). The caller rebuilds the rollups of the groups it touched.
CREATE OR REPLACE FUNCTION pinwatch_move_reports(p_ids uuid[], p_gids text[],
                                                 p_expected boolean[], p_leaf boolean[],
                                                 p_old text[])
RETURNS void LANGUAGE sql AS $fn$
    WITH u AS (SELECT * FROM unnest(p_ids, p_gids, p_expected, p_leaf) AS u(id, gid, e, l)),
    ng AS (
        INSERT INTO groups AS t (id, app_bundle_id, hostname, anchor_spki, anchor_subject,
                                 anchor_public, expected_key_seen, first_seen, last_seen,
                                 catalog_product, catalog_category, known_hostile, hostile_name,
                                 hostile_category, weak)
        SELECT DISTINCT ON (m.gid) m.gid, g.app_bundle_id, g.hostname, g.anchor_spki,
               g.anchor_subject, g.anchor_public, m.e, g.first_seen, g.last_seen,
               g.catalog_product, g.catalog_category, g.known_hostile, g.hostile_name,
               g.hostile_category, g.weak
        FROM unnest(p_gids, p_old, p_expected) AS m(gid, old, e)
        JOIN groups g ON g.id = m.old ORDER BY m.gid
        ON CONFLICT (id) DO UPDATE SET expected_key_seen = excluded.expected_key_seen)
    UPDATE reports r SET group_id = u.gid,
        flags = pinwatch_flag_set(pinwatch_flag_set(r.flags, 3, u.e), 4, u.l)
    FROM u WHERE r.id = u.id
$fn$;
