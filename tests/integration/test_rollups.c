/*
 * Rollups against a real PostgreSQL: the summaries /v1/groups reads (day-grain group rollup,
 * all-time network ranking, the top-networks walk) must say exactly what the stored reports say,
 * for any window, including windows where history outside them dominates.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testenv.h"

/* 12 000 reports over 40 days in three groups: "skewed" spreads over 600 networks with a heavy
 * head and a long tail of ties, "few" over 3 networks, "one" over a single network. Seeded, so
 * a failure reproduces. */
static const char GENERATE_SQL[] =
    "DO $$ DECLARE t0 timestamptz := now() - interval '40 days'; b int; BEGIN"
    " PERFORM setseed(0.42);"
    " FOR m IN 0..2 LOOP PERFORM pinwatch_ensure_partition(t0 + m * interval '1 month'); END LOOP;"
    " FOR b IN 0..11 LOOP"
    "  PERFORM pinwatch_store_batch('[]', '[]', '[]', '[]', (SELECT json_agg(json_build_object("
    "   'id', gen_random_uuid(), 'received_at', t0 + random() * interval '40 days',"
    "   'format', 'trustkit_ios', 'hostname', 'api.example.com',"
    "   'hostname_raw', 'api.example.com', 'app_bundle_id', 'com.example.app',"
    "   'app_version', (i % 4) || '.0', 'platform', 'ios', 'vendor_id', 'dev-' || (i % 900),"
    "   'network', CASE grp WHEN 'skewed' THEN '10.' || (n / 250) || '.' || (n % 250) || '.0/24'"
    "                       WHEN 'few' THEN '192.0.2.' || (i % 3) || '/32'"
    "                       ELSE '198.51.100.0/24' END,"
    "   'asn', 64500 + (i % 2), 'validation_result', 1 + (i % 3 = 0)::int, 'known_pins', "
    "'[]'::json,"
    "   'group_id', grp, 'raw_sha256', '\\x' || encode(sha256(i::text::bytea), 'hex'),"
    "   'flags', pinwatch_findings_flags(jsonb_build_object('linked', i % 5 <> 0,"
    "     'covers_hostname', true,"
    "     'valid_at_report_time', i % 7 <> 0, 'pin_in_chain', i % 2 = 0,"
    "     'leaf_expected', false))))"
    "   FROM (SELECT b * 1000 + s AS i,"
    "           (ARRAY['skewed', 'skewed', 'skewed', 'few', 'one'])[1 + s % 5] AS grp,"
    "           floor(power(random(), 3) * 600)::int AS n"
    "         FROM generate_series(1, 1000) s) x),"
    "   (SELECT json_agg(json_build_object('id', g, 'app_bundle_id', 'com.example.app',"
    "     'hostname', 'api.example.com', 'expected_key_seen', false, 'known_hostile', false,"
    "     'first_seen', t0, 'last_seen', now()))"
    "    FROM unnest(ARRAY['skewed', 'few', 'one']) g));"
    " END LOOP; END $$";

/* The same answer computed the slow way from the stored reports. */
static const char REFERENCE_SQL[] =
    "SELECT coalesce(json_agg(json_build_object('network', t.network, 'asn', t.asn,"
    "  'reports', t.n) ORDER BY t.n DESC, t.network), '[]'::json)::jsonb::text"
    " FROM (SELECT network::text AS network, max(asn) AS asn, count(*) AS n FROM reports"
    "  WHERE group_id = '%s' AND (received_at AT TIME ZONE 'UTC')::date BETWEEN '%s' AND '%s'"
    "  GROUP BY 1 ORDER BY 3 DESC, 1 LIMIT 10) t";

static const char FUNCTION_SQL[] =
    "SELECT coalesce(json_agg(json_build_object('network', e->>'network',"
    "  'asn', (e->>'asn')::bigint, 'reports', (e->>'reports')::bigint) ORDER BY o), '[]'::json)"
    "  ::jsonb::text"
    " FROM json_array_elements(pinwatch_top_networks('%s', '%s', '%s', 10)) WITH ORDINALITY"
    "  AS x(e, o)";

static void setup(void)
{
    testenv_reset_db();
    struct testenv_server srv = {0};
    testenv_server_start(&srv, NULL); /* applies the migrations */
    testenv_server_stop(&srv);
    testenv_db_exec(GENERATE_SQL);
}

TestSuite(rollups, .init = setup, .timeout = 120);

static char *day_at(int days_ago)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT ((now() - interval '%d days') AT TIME ZONE 'UTC')::date",
             days_ago);
    return testenv_db_value(sql);
}

static void assert_top_networks(const char *group, int from_ago, int to_ago)
{
    char *from = day_at(from_ago), *to = day_at(to_ago);
    char sql[2048];
    snprintf(sql, sizeof(sql), REFERENCE_SQL, group, from, to);
    char *want = testenv_db_value(sql);
    snprintf(sql, sizeof(sql), FUNCTION_SQL, group, from, to);
    char *got = testenv_db_value(sql);
    cr_assert_str_eq(got, want, "top networks of %s over %s..%s", group, from, to);
    free(want);
    free(got);
    free(from);
    free(to);
}

Test(rollups, generated_population_is_what_the_tests_assume)
{
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 12000);
    /* More ranked networks than the walk's probe budget, so both strategies are exercised. */
    cr_assert_gt(testenv_db_long("SELECT count(*) FROM group_networks WHERE group_id = 'skewed'"),
                 200);
}

Test(rollups, top_networks_equal_the_reports_for_every_window)
{
    const char *groups[] = {"skewed", "few", "one", "missing"};
    /* whole history (the walk stops after about ten probes); one recent day and one old day
     * (history outside dominates: falls back to summing the window's rows); a middle week; a
     * window with no reports at all. */
    const int windows[][2] = {{41, -1}, {0, 0}, {30, 30}, {20, 13}, {90, 60}};
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
        for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]); w++)
            assert_top_networks(groups[g], windows[w][0], windows[w][1]);
}

/* The networks of a trend by network, the slow way: reports in the hours of the window. */
static const char TREND_REFERENCE_SQL[] =
    "SELECT coalesce(array_agg(network ORDER BY n DESC, network), '{}')::text FROM ("
    " SELECT network::text AS network, count(*) AS n FROM reports"
    " WHERE date_trunc('hour', received_at, 'UTC') >= date_trunc('hour', now() - interval '%d"
    " hours', 'UTC') AND date_trunc('hour', received_at, 'UTC') <= now() - interval '%d hours'"
    " AND ('%s' = '' OR group_id = '%s')"
    " AND (nullif('%s', '') IS NULL OR network <<= nullif('%s', '')::cidr)"
    " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %d) x";
static const char TREND_FUNCTION_SQL[] =
    "SELECT pinwatch_trend_networks(now() - interval '%d hours', now() - interval '%d hours',"
    " %d, NULL, NULL, NULL, NULL, nullif('%s', ''), nullif('%s', '')::cidr)::text";

static void assert_trend_networks(int from_h, int to_h, const char *group, const char *cidr, int k)
{
    char sql[2048];
    snprintf(sql, sizeof(sql), TREND_REFERENCE_SQL, from_h, to_h, group, group, cidr, cidr, k);
    char *want = testenv_db_value(sql);
    snprintf(sql, sizeof(sql), TREND_FUNCTION_SQL, from_h, to_h, k, group, cidr);
    char *got = testenv_db_value(sql);
    cr_assert_str_eq(got, want, "trend networks %d..%d h ago, group '%s', cidr '%s', k %d", from_h,
                     to_h, group, cidr, k);
    free(want);
    free(got);
}

Test(rollups, trend_networks_equal_the_reports_for_every_window_and_filter)
{
    /* All history (a short walk), a recent day and an old day (history outside dominates:
     * the fallback), one group, a prefix, and top-1 with ties among the tail. */
    assert_trend_networks(41 * 24, 0, "", "", 10);
    assert_trend_networks(24, 0, "", "", 10);
    assert_trend_networks(30 * 24, 29 * 24, "", "", 10);
    assert_trend_networks(41 * 24, 0, "few", "", 10);
    assert_trend_networks(41 * 24, 0, "", "10.1.0.0/16", 5);
    assert_trend_networks(20 * 24, 0, "skewed", "", 1);
    assert_trend_networks(41 * 24, 0, "", "", 300);
}

Test(rollups, top_network_devices_are_counted_in_the_window)
{
    /* One network seen by 180 devices over 40 days: one day sees only some of them. */
    long all = testenv_db_long(
        "SELECT (pinwatch_top_networks('one', current_date - 41, current_date + 1, 10)"
        "  ->0->>'devices')::bigint");
    long day = testenv_db_long(
        "SELECT (pinwatch_top_networks('one', current_date - 20, current_date - 20, 10)"
        "  ->0->>'devices')::bigint");
    long all_exact = testenv_db_long("SELECT count(DISTINCT vendor_id) FROM reports"
                                     " WHERE group_id = 'one'");
    long day_exact =
        testenv_db_long("SELECT count(DISTINCT vendor_id) FROM reports WHERE group_id = 'one'"
                        " AND (received_at AT TIME ZONE 'UTC')::date = current_date - 20");
    cr_assert(all >= all_exact * 0.95 && all <= all_exact * 1.05, "%ld vs %ld", all, all_exact);
    cr_assert(day >= day_exact * 0.95 && day <= day_exact * 1.05, "%ld vs %ld", day, day_exact);
    cr_assert_lt(day_exact, all_exact / 2);
}

/* Group-day figures from the daily rollup and from the reports, one text per group. */
static const char DAILY_CHECK_SQL[] =
    "SELECT string_agg(concat_ws(' ', group_id, day, reports, pin_in_chain, unlinked,"
    "  result_untrusted), ';' ORDER BY group_id, day) FROM %s";
static const char DAILY_FROM_ROLLUP[] =
    "(SELECT group_id, day, reports, pin_in_chain, unlinked, result_untrusted"
    " FROM rollup_group_daily) x";
static const char DAILY_FROM_REPORTS[] =
    "(SELECT group_id, (received_at AT TIME ZONE 'UTC')::date AS day, count(*) AS reports,"
    "  count(*) FILTER (WHERE pinwatch_flag(flags, 2)) AS pin_in_chain,"
    "  count(*) FILTER (WHERE NOT pinwatch_flag(flags, 5)) AS unlinked,"
    "  count(*) FILTER (WHERE validation_result = 2) AS result_untrusted"
    " FROM reports GROUP BY 1, 2) x";
static const char TOTALS_FROM_RANKING[] =
    "SELECT string_agg(concat_ws(' ', network, reports), ';' ORDER BY network)"
    " FROM network_totals WHERE reports > 0";
static const char TOTALS_FROM_REPORTS[] =
    "SELECT string_agg(concat_ws(' ', network, n), ';' ORDER BY network)"
    " FROM (SELECT network::text AS network, count(*) AS n FROM reports GROUP BY 1) x";
static const char HOURS_FROM_ROLLUP[] =
    "SELECT string_agg(concat_ws(' ', network, hour, reports), ';' ORDER BY network, hour)"
    " FROM rollup_network_all_hourly WHERE reports > 0";
static const char HOURS_FROM_REPORTS[] =
    "SELECT string_agg(concat_ws(' ', network, hour, n), ';' ORDER BY network, hour)"
    " FROM (SELECT network::text AS network, date_trunc('hour', received_at, 'UTC') AS hour,"
    " count(*) AS n FROM reports GROUP BY 1, 2) x";
static const char NETWORKS_FROM_RANKING[] =
    "SELECT string_agg(concat_ws(' ', group_id, network, reports), ';'"
    " ORDER BY group_id, network) FROM group_networks";
static const char NETWORKS_FROM_REPORTS[] =
    "SELECT string_agg(concat_ws(' ', group_id, network, n), ';' ORDER BY group_id, network)"
    " FROM (SELECT group_id, network::text AS network, count(*) AS n FROM reports"
    " GROUP BY 1, 2) x";

static char *figures(const char *from)
{
    char sql[1024];
    snprintf(sql, sizeof(sql), DAILY_CHECK_SQL, from);
    return testenv_db_value(sql);
}

/* Two queries give the same non-empty text. */
static void assert_same(char *a, char *b)
{
    cr_assert_not_null(a);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
}

static void assert_summaries_match_reports(void)
{
    assert_same(figures(DAILY_FROM_ROLLUP), figures(DAILY_FROM_REPORTS));
    assert_same(testenv_db_value(NETWORKS_FROM_RANKING), testenv_db_value(NETWORKS_FROM_REPORTS));
    assert_same(testenv_db_value(TOTALS_FROM_RANKING), testenv_db_value(TOTALS_FROM_REPORTS));
    assert_same(testenv_db_value(HOURS_FROM_ROLLUP), testenv_db_value(HOURS_FROM_REPORTS));
}

Test(rollups, daily_group_rollup_and_network_ranking_equal_the_reports)
{
    assert_summaries_match_reports();
}

Test(rollups, rebuilding_a_group_reproduces_its_summaries)
{
    /* Damage the summaries of one group, then rebuild it as re-grouping does. */
    testenv_db_exec("UPDATE group_networks SET reports = 1 WHERE group_id = 'skewed'");
    testenv_db_exec("DELETE FROM rollup_group_daily WHERE group_id = 'few'");
    free(testenv_db_value("SELECT pinwatch_rebuild_rollups(ARRAY['skewed', 'few'])"));
    assert_summaries_match_reports();
    assert_top_networks("skewed", 41, -1);
}

Test(rollups, units_spooled_before_0008_keep_their_findings)
{
    /* A report row as an older version spooled it: findings as a JSON object, no flags. */
    testenv_db_exec(
        "DO $$ BEGIN PERFORM pinwatch_store_batch('[]', '[]', '[]', '[]', json_build_array("
        " json_build_object('id', '018f0000-0000-7000-8000-000000000001', 'received_at', now(),"
        "  'format', 'trustkit_ios', 'hostname', 'old.example.com', 'app_bundle_id', 'com.old',"
        "  'group_id', 'one', 'known_pins', '[]'::json, 'raw_sha256', '\\x' || repeat('ab', 32),"
        "  'findings', json_build_object('linked', true, 'covers_hostname', false,"
        "   'valid_at_report_time', true, 'pin_in_chain', true, 'expected_key', false,"
        "   'leaf_expected', false))), '[]'); END $$");
    char *f = testenv_db_value("SELECT pinwatch_flags_json(flags)::text FROM reports"
                               " WHERE hostname = 'old.example.com'");
    cr_assert_str_eq(f, "{\"linked\": true, \"expected_key\": false, \"pin_in_chain\": true, "
                        "\"leaf_expected\": false, \"covers_hostname\": false, "
                        "\"valid_at_report_time\": true}");
    free(f);
}

Test(rollups, setting_one_finding_keeps_the_others)
{
    /* Re-grouping rewrites expected_key and leaf_expected only. */
    char *f = testenv_db_value(
        "SELECT pinwatch_flags_json(pinwatch_flag_set(pinwatch_findings_flags("
        "'{\"linked\": true, \"expected_key\": true, \"pin_in_chain\": false}'), 3, false))::text");
    cr_assert_str_eq(f, "{\"linked\": true, \"expected_key\": false, \"pin_in_chain\": false}");
    free(f);
    f = testenv_db_value("SELECT pinwatch_flags_json(pinwatch_flag_set(pinwatch_flag_set("
                         "NULL, 3, true), 4, false))::text");
    cr_assert_str_eq(f, "{\"expected_key\": true, \"leaf_expected\": false}");
    free(f);
}
