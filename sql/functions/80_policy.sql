-- sql/functions/80_policy.sql: what pin-policy checks read (SPEC §11).
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

-- The keys a hostname's server has been seen serving since p_since: every certificate of the
-- chains reported for it that anchor at a public root (an intercepted chain is not the
-- server's), with whether it is the leaf, and those chains' anchors (a root the chain
-- omitted). One row per key.
CREATE OR REPLACE FUNCTION pinwatch_policy_served_keys(p_hostname text, p_since timestamptz)
    RETURNS TABLE (spki_hex text, leaf boolean)
LANGUAGE sql STABLE AS $fn$
    WITH seen AS (
        SELECT DISTINCT coalesce(r.validated_chain, r.served_chain) AS sha
        FROM reports r
        WHERE r.hostname = p_hostname AND r.received_at >= p_since
          AND coalesce(r.validated_chain, r.served_chain) IS NOT NULL),
    public_chains AS (
        SELECT ch.* FROM seen JOIN chains ch ON ch.sha256 = seen.sha
        WHERE coalesce((ch.analysis->'anchor'->>'public')::boolean, false))
    SELECT encode(c.spki_sha256, 'hex'), bool_or(m.pos = 1)
    FROM public_chains ch
    CROSS JOIN LATERAL unnest(ch.certs) WITH ORDINALITY AS m(sha, pos)
    JOIN certificates c ON c.sha256 = m.sha
    GROUP BY 1
    UNION
    SELECT ch.analysis->'anchor'->>'spki_sha256', false FROM public_chains ch
    WHERE ch.analysis->'anchor'->>'spki_sha256' IS NOT NULL
$fn$;
