-- sql/functions/75_evidence.sql: what report.html, the evidence bundle's incident page, shows
-- besides the groups (src/store/export_doc.c): reports per hour, app versions by networks, the
-- chains with their certificates. Each reads the reports the export's filters keep
-- (pinwatch_reports_matching, 70_reports.sql) and returns a bounded result.
--
-- A repeatable file: the one current definition of each function in it, nothing but
-- CREATE OR REPLACE FUNCTION; 70_reports.sql says the rules.

-- Reports per UTC hour (hours since 1970-01-01T00:00:00Z), only hours with reports.
CREATE OR REPLACE FUNCTION pinwatch_evidence_hours(p_from timestamptz, p_to timestamptz,
                                                   p_hostname text, p_app text,
                                                   p_app_version text, p_platform text,
                                                   p_network cidr, p_group text,
                                                   p_verdict text, p_before_at timestamptz,
                                                   p_before_id uuid)
RETURNS TABLE (hour bigint, reports bigint) LANGUAGE sql STABLE AS $fn$
    SELECT (extract(epoch FROM date_trunc('hour', r.received_at, 'UTC')) / 3600)::bigint,
           count(*)
    FROM pinwatch_reports_matching(p_from, p_to, p_hostname, p_app, p_app_version, p_platform,
                                   p_network, p_group, p_verdict, p_before_at, p_before_id) r
    GROUP BY 1 ORDER BY 1
$fn$;

-- App versions by networks: the p_versions most frequent versions and the p_networks busiest
-- networks, as {"versions": [[v, n]], "networks": [[net, n]], "cells": {"v<TAB>net": n},
-- "all_versions", "all_networks"}.
CREATE OR REPLACE FUNCTION pinwatch_evidence_matrix(p_from timestamptz, p_to timestamptz,
                                                    p_hostname text, p_app text,
                                                    p_app_version text, p_platform text,
                                                    p_network cidr, p_group text,
                                                    p_verdict text, p_before_at timestamptz,
                                                    p_before_id uuid, p_versions int,
                                                    p_networks int)
RETURNS text LANGUAGE sql STABLE AS $fn$
    WITH x AS (SELECT coalesce(nullif(r.app_version, ''), '(none)') AS v,
                      coalesce(r.network::text, '(unknown)') AS n
               FROM pinwatch_reports_matching(p_from, p_to, p_hostname, p_app, p_app_version,
                                              p_platform, p_network, p_group, p_verdict,
                                              p_before_at, p_before_id) r),
         tv AS (SELECT v, count(*) AS c FROM x GROUP BY v ORDER BY c DESC, v LIMIT p_versions),
         tn AS (SELECT n, count(*) AS c FROM x GROUP BY n ORDER BY c DESC, n LIMIT p_networks)
    SELECT json_build_object(
        'versions', (SELECT json_agg(json_build_array(v, c) ORDER BY c DESC, v) FROM tv),
        'networks', (SELECT json_agg(json_build_array(n, c) ORDER BY c DESC, n) FROM tn),
        'cells', (SELECT json_object_agg(y.v || E'\t' || y.n, y.c)
                  FROM (SELECT x.v, x.n, count(*) AS c FROM x JOIN tv USING (v) JOIN tn USING (n)
                        GROUP BY 1, 2) y),
        'all_versions', (SELECT count(DISTINCT v) FROM x),
        'all_networks', (SELECT count(DISTINCT n) FROM x))::text
$fn$;

-- The p_limit chains that matching reports served or validated most often, with how often,
-- how many distinct chains there are in all, and their certificates in order (JSON).
CREATE OR REPLACE FUNCTION pinwatch_evidence_chains(p_from timestamptz, p_to timestamptz,
                                                    p_hostname text, p_app text,
                                                    p_app_version text, p_platform text,
                                                    p_network cidr, p_group text,
                                                    p_verdict text, p_before_at timestamptz,
                                                    p_before_id uuid, p_limit int)
RETURNS TABLE (sha256 text, reports bigint, total bigint, certificates text)
LANGUAGE sql STABLE AS $fn$
    WITH m AS (SELECT r.served_chain, r.validated_chain
               FROM pinwatch_reports_matching(p_from, p_to, p_hostname, p_app, p_app_version,
                                              p_platform, p_network, p_group, p_verdict,
                                              p_before_at, p_before_id) r),
         u AS (SELECT served_chain AS sha FROM m UNION ALL SELECT validated_chain FROM m),
         x AS (SELECT sha, count(*) AS n, count(*) OVER () AS total FROM u
               WHERE sha IS NOT NULL GROUP BY sha ORDER BY n DESC, sha LIMIT p_limit)
    SELECT encode(x.sha, 'hex'), x.n, x.total,
           (SELECT json_agg(json_build_object(
                       'sha256', encode(c2.sha, 'hex'), 'subject', c.subject,
                       'issuer', c.issuer, 'not_before', pinwatch_ts(c.not_before),
                       'not_after', pinwatch_ts(c.not_after),
                       'spki_sha256', encode(c.spki_sha256, 'hex'),
                       'key', c.key_type || ' ' || c.key_bits, 'ca', c.is_ca)
                   ORDER BY c2.pos)
            FROM chains ch CROSS JOIN LATERAL unnest(ch.certs) WITH ORDINALITY AS c2(sha, pos)
            LEFT JOIN certificates c ON c.sha256 = c2.sha
            WHERE ch.sha256 = x.sha)::text
    FROM x ORDER BY x.n DESC, x.sha
$fn$;
