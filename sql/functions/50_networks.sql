-- sql/functions/50_networks.sql: network rankings: a group's top networks, trends by network.
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

-- A top-k kept in two parallel arrays, best first: by count descending, then name.
-- Whether a candidate whose count can be at most p_bound (and whose name is p_name) could
-- still enter it; candidates come in (bound descending, name) order, so false ends a walk.
CREATE OR REPLACE FUNCTION pinwatch_topk_open(p_names text[], p_counts bigint[], p_k int, p_name text,
                                   p_bound bigint) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT cardinality(p_counts) < p_k OR p_bound > p_counts[p_k]
           OR (p_bound = p_counts[p_k] AND p_name < p_names[p_k])
$fn$;

-- Insert (p_name, p_n) in its place and keep the best p_k.
CREATE OR REPLACE FUNCTION pinwatch_topk_add(INOUT p_names text[], INOUT p_counts bigint[], p_k int,
                                  p_name text, p_n bigint)
LANGUAGE plpgsql IMMUTABLE AS $fn$
DECLARE
    i int := 1;
BEGIN
    WHILE i <= cardinality(p_counts)
          AND (p_counts[i] > p_n OR (p_counts[i] = p_n AND p_names[i] < p_name)) LOOP
        i := i + 1;
    END LOOP;
    p_names := (p_names[1:i - 1] || p_name || p_names[i:])[1:p_k];
    p_counts := (p_counts[1:i - 1] || p_n || p_counts[i:])[1:p_k];
END;
$fn$;

-- The walk of pinwatch_top_networks on its own: the p_k networks of a group with most
-- reports over the days [p_from, p_to], best first, so that a list of groups can count their
-- devices in one aggregate.
CREATE OR REPLACE FUNCTION pinwatch_top_network_list(p_group text, p_from date, p_to date, p_k int,
                                          OUT networks text[], OUT counts bigint[])
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    cand record;
    walked int := 0;
    s bigint;
BEGIN
    networks := '{}';
    counts := '{}';
    FOR cand IN SELECT network, reports FROM group_networks WHERE group_id = p_group
                ORDER BY reports DESC, network LOOP
        EXIT WHEN NOT pinwatch_topk_open(networks, counts, p_k, cand.network, cand.reports);
        walked := walked + 1;
        IF walked > 200 THEN
            SELECT coalesce(array_agg(q.network ORDER BY q.n DESC, q.network), '{}'),
                   coalesce(array_agg(q.n ORDER BY q.n DESC, q.network), '{}')
              INTO networks, counts
              FROM (SELECT network, sum(reports) AS n FROM rollup_network_daily
                    WHERE group_id = p_group AND day >= p_from AND day <= p_to
                    GROUP BY network ORDER BY 2 DESC, 1 LIMIT p_k) q;
            RETURN;
        END IF;
        SELECT sum(reports) INTO s FROM rollup_network_daily
         WHERE group_id = p_group AND network = cand.network AND day >= p_from AND day <= p_to;
        CONTINUE WHEN s IS NULL;
        SELECT * INTO networks, counts
        FROM pinwatch_topk_add(networks, counts, p_k, cand.network, s);
    END LOOP;
END;
$fn$;

CREATE OR REPLACE FUNCTION pinwatch_top_networks(p_group text, p_from date, p_to date, p_k int)
RETURNS json LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(json_agg(json_build_object('network', nullif(t.net, ''),
                                               'asn', nullif(x.asn, 0),
                                               'reports', t.n, 'devices', x.devices)
                             ORDER BY t.ord), '[]'::json)
    FROM pinwatch_top_network_list(p_group, p_from, p_to, p_k) l
    CROSS JOIN LATERAL unnest(l.networks, l.counts) WITH ORDINALITY AS t(net, n, ord)
    CROSS JOIN LATERAL (
        SELECT max(d.asn) AS asn,
               round(hll_cardinality(hll_union_agg(d.devices)))::bigint AS devices
        FROM rollup_network_daily d
        WHERE d.group_id = p_group AND d.network = t.net
          AND d.day >= p_from AND d.day <= p_to) x
$fn$;

-- A trend walk's window count: from the all-groups table when no filter needs the groups.
CREATE OR REPLACE FUNCTION pinwatch_network_window(p_network text, p_from timestamptz,
                                                   p_to timestamptz, p_hostname text,
                                                   p_app text, p_verdict text,
                                                   p_platform text, p_group text)
RETURNS bigint LANGUAGE sql STABLE AS $fn$
    SELECT CASE WHEN coalesce(p_hostname, p_app, p_verdict, p_platform, p_group) IS NULL
    THEN (SELECT sum(a.reports) FROM rollup_network_all_hourly a
          WHERE a.network = p_network
            AND a.hour >= date_trunc('hour', p_from, 'UTC') AND a.hour <= p_to)
    ELSE (SELECT sum(r.reports) FROM rollup_network_hourly r JOIN groups g ON g.id = r.group_id
          WHERE r.network = p_network
            AND r.hour >= date_trunc('hour', p_from, 'UTC') AND r.hour <= p_to
            AND (p_hostname IS NULL OR g.hostname = p_hostname)
            AND (p_app IS NULL OR g.app_bundle_id = p_app)
            AND (p_verdict IS NULL OR g.verdict = p_verdict)
            AND (p_platform IS NULL OR r.platform = p_platform)
            AND (p_group IS NULL OR r.group_id = p_group)) END
$fn$;

-- The p_k networks with most reports in a trend's window and filters, most first (ties by
-- network): the series of /v1/trends?by=network. Walks network_totals like
-- pinwatch_top_networks walks group_networks; past 4k + 200 probes (history outside the window
-- or the filters dominate) it sums the window's rows instead.
CREATE OR REPLACE FUNCTION pinwatch_trend_networks(p_from timestamptz, p_to timestamptz, p_k int,
                                        p_hostname text, p_app text, p_verdict text,
                                        p_platform text, p_group text, p_cidr cidr)
RETURNS text[] LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    cand record;
    top_net text[] := '{}';
    top_n bigint[] := '{}';
    walked int := 0;
    s bigint;
BEGIN
    FOR cand IN SELECT network, reports FROM network_totals WHERE reports > 0
                ORDER BY reports DESC, network LOOP
        EXIT WHEN NOT pinwatch_topk_open(top_net, top_n, p_k, cand.network, cand.reports);
        walked := walked + 1;
        IF walked > 4 * p_k + 200 THEN
            SELECT coalesce(array_agg(q.network ORDER BY q.n DESC, q.network), '{}')
              INTO top_net
              FROM (SELECT r.network, sum(r.reports) AS n
                    FROM rollup_network_hourly r JOIN groups g ON g.id = r.group_id
                    WHERE r.hour >= date_trunc('hour', p_from, 'UTC') AND r.hour <= p_to
                      AND (p_hostname IS NULL OR g.hostname = p_hostname)
                      AND (p_app IS NULL OR g.app_bundle_id = p_app)
                      AND (p_verdict IS NULL OR g.verdict = p_verdict)
                      AND (p_platform IS NULL OR r.platform = p_platform)
                      AND (p_group IS NULL OR r.group_id = p_group)
                      AND (p_cidr IS NULL OR CASE WHEN r.network = '' THEN false
                                                  ELSE r.network::cidr <<= p_cidr END)
                    GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT p_k) q;
            RETURN top_net;
        END IF;
        CONTINUE WHEN p_cidr IS NOT NULL AND CASE WHEN cand.network = '' THEN true
                                                  ELSE NOT cand.network::cidr <<= p_cidr END;
        s := pinwatch_network_window(cand.network, p_from, p_to, p_hostname, p_app, p_verdict,
                                     p_platform, p_group);
        CONTINUE WHEN s IS NULL;
        SELECT * INTO top_net, top_n FROM pinwatch_topk_add(top_net, top_n, p_k, cand.network, s);
    END LOOP;
    RETURN top_net;
END;
$fn$;
