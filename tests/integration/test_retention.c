/* Retention through the real server (SPEC 10): reports are aged by moving their rows (and
 * their rollups) 400 days back, then a server with PINWATCH_RETENTION_DAYS=30 drops the old
 * partition with what only its reports used, and keeps groups, rollups and trends. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testcert.h"
#include "testenv.h"
#include "testreport.h"

static struct testenv_server srv;
static struct testcert *pub_root, *pub_ca, *leaf, *old_root, *old_leaf;
static char *store_path;
static char env_store[512];

static void setup(void)
{
    testenv_reset_db();
    pub_root = testcert_new_root(&(struct testcert_opts){.cn = "Pinwatch Test Public Root"});
    pub_ca = testcert_new_ca(&(struct testcert_opts){.cn = "Pinwatch Test Public CA"}, pub_root);
    const char *sans[] = {"api.example.com", NULL};
    leaf =
        testcert_new_leaf(&(struct testcert_opts){.cn = "api.example.com", .sans = sans}, pub_ca);
    old_root = testcert_new_root(&(struct testcert_opts){.cn = "Old Only Proxy Root"});
    old_leaf =
        testcert_new_leaf(&(struct testcert_opts){.cn = "api.example.com", .sans = sans}, old_root);
    const struct testcert *roots[] = {pub_root};
    store_path = testcert_bundle_tmpfile(roots, 1);
    snprintf(env_store, sizeof(env_store), "PINWATCH_TRUST_STORE=%s", store_path);
    memset(&srv, 0, sizeof(srv));
}

static void teardown(void)
{
    testenv_server_kill(&srv);
    unlink(store_path);
    free(store_path);
    testcert_free(pub_root);
    testcert_free(pub_ca);
    testcert_free(leaf);
    testcert_free(old_root);
    testcert_free(old_leaf);
}

TestSuite(retention, .init = setup, .fini = teardown, .timeout = 180);

static char *post(const struct testcert *c0, const struct testcert *c1, const char *device,
                  const char *date_time)
{
    const struct testcert *chain[] = {c0, c1};
    const struct testcert *pins[] = {pub_root};
    struct testreport tr = {.app = "com.example.shop",
                            .version = "5.0",
                            .vendor_id = device,
                            .hostname = "api.example.com",
                            .chain = chain,
                            .chain_len = 2,
                            .pins = pins,
                            .n_pins = 1,
                            .date_time = date_time};
    return testreport_post(&srv, &tr, "198.51.100.7");
}

static char *get_field(const char *id, const char *field)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/reports/%s", id);
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, path, &r), 200, "%s", r.body);
    const char *s = json_string_value(json_object_get(r.json, field));
    cr_assert_not_null(s, "%s: %s", field, r.body);
    char *v = strdup(s);
    testenv_response_free(&r);
    return v;
}

static int status_of(const char *prefix, const char *arg, const char *suffix)
{
    char path[256];
    snprintf(path, sizeof(path), "%s%s%s", prefix, arg, suffix);
    struct testenv_response r;
    int st = testenv_get(&srv, path, &r);
    testenv_response_free(&r);
    return st;
}

static long metric(const char *line_start)
{
    struct testenv_response r;
    cr_assert_eq(testenv_http(srv.port, "GET", "/metrics", NULL, NULL, 0, false, &r), 200);
    const char *p = strstr(r.body, line_start);
    long v = p != NULL ? atol(p + strlen(line_start)) : -1;
    testenv_response_free(&r);
    return v;
}

/* Move the reports of old_ids (a SQL list) and their group's rollups 400 days back. */
static void age(const char *old_ids, const char *group)
{
    char sql[2048];
    free(testenv_db_value("SELECT pinwatch_ensure_partition(now() - interval '400 days')"));
    snprintf(sql, sizeof(sql),
             "UPDATE reports SET received_at = received_at - interval '400 days'"
             " WHERE id IN (%s)",
             old_ids);
    testenv_db_exec(sql);
    static const char *const tables[][2] = {
        {"rollup_group_hourly", "hour"},   {"rollup_version_hourly", "hour"},
        {"rollup_network_hourly", "hour"}, {"rollup_group_daily", "day"},
        {"rollup_version_daily", "day"},   {"rollup_network_daily", "day"},
    };
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        snprintf(sql, sizeof(sql),
                 "UPDATE %s SET %s = %s - interval '400 days' WHERE group_id = '%s'", tables[i][0],
                 tables[i][1], tables[i][1], group);
        testenv_db_exec(sql);
    }
    snprintf(sql, sizeof(sql),
             "UPDATE groups SET first_seen = first_seen - interval '400 days',"
             " last_seen = last_seen - interval '400 days' WHERE id = '%s'",
             group);
    testenv_db_exec(sql);
}

Test(retention, old_partitions_go_with_what_only_they_used_and_trends_stay)
{
    const char *env0[] = {env_store, "PINWATCH_TRUSTED_PROXIES=127.0.0.0/8", NULL};
    testenv_server_start(&srv, env0);
    /* Old: three reports through a proxy root seen nowhere else. */
    char *old_ids[3];
    old_ids[0] = post(old_leaf, old_root, "OLD-1", "2025-10-01T10:00:00Z");
    old_ids[1] = post(old_leaf, old_root, "OLD-2", "2025-10-01T10:00:01Z");
    /* The same body twice: one copy is aged, one stays, so the body must stay. */
    old_ids[2] = post(leaf, pub_ca, "TWIN", "2025-10-01T10:00:02Z");
    char *twin = post(leaf, pub_ca, "TWIN", "2025-10-01T10:00:02Z");
    char *recent = post(leaf, pub_ca, "NEW-1", "2025-10-01T10:00:03Z");
    char *old_group = get_field(old_ids[0], "group");
    char *old_chain = get_field(old_ids[0], "validated_chain_sha256");
    char *kept_chain = get_field(recent, "validated_chain_sha256");
    cr_assert_str_eq(get_field(old_ids[2], "raw_sha256"), get_field(twin, "raw_sha256"));
    cr_assert_eq(testenv_server_stop(&srv), 0);

    char list[512], sql[1024];
    snprintf(list, sizeof(list), "'%s', '%s', '%s'", old_ids[0], old_ids[1], old_ids[2]);
    age(list, old_group);
    /* the twin's copy is in the old group's partition now, its group rollups stay current */
    char *old_part =
        testenv_db_value("SELECT 'reports_' || to_char(now() - interval '400 days', 'YYYY_MM')");
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", old_part);
    cr_assert_eq(testenv_db_long(sql), 3);
    long certs_before = testenv_db_long("SELECT count(*) FROM certificates");
    long frags_before = testenv_db_long("SELECT count(*) FROM raw_fragments");
    long bodies_before = testenv_db_long("SELECT count(*) FROM raw_bodies");

    /* A partition holding a report newer than the cutoff is never dropped. */
    cr_assert_null(testenv_db_value("SELECT pinwatch_retention_drop("
                                    "'reports_' || to_char(now(), 'YYYY_MM'),"
                                    " now() - interval '30 days')::text"));

    const char *env[] = {env_store, "PINWATCH_TRUSTED_PROXIES=127.0.0.0/8",
                         "PINWATCH_RETENTION_DAYS=30", "PINWATCH_RETENTION_INTERVAL=2", NULL};
    testenv_server_start(&srv, env);
    for (int i = 0; i < 100 && metric("pinwatch_retention_dropped_total{kind=\"partitions\"} ") < 1;
         i++)
        usleep(100000);
    cr_assert_eq(metric("pinwatch_retention_dropped_total{kind=\"partitions\"} "), 1);
    cr_assert_eq(metric("pinwatch_retention_dropped_total{kind=\"reports\"} "), 3);

    /* What went: the partition, its reports, the body only they used, the proxy's chain and
     * certificates, and the fragments only their bodies referenced. */
    snprintf(sql, sizeof(sql), "SELECT to_regclass('%s') IS NULL", old_part);
    cr_assert_str_eq(testenv_db_value(sql), "t");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(status_of("/v1/reports/", old_ids[i], ""), 404);
    cr_assert_eq(status_of("/v1/chains/", old_chain, ""), 404);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM certificates"
                                 " WHERE subject LIKE '%Old Only Proxy Root%'"
                                 "    OR issuer LIKE '%Old Only Proxy Root%'"),
                 0);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM certificates"), certs_before - 2);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM raw_bodies"), bodies_before - 2);
    cr_assert_lt(testenv_db_long("SELECT count(*) FROM raw_fragments"), frags_before);
    cr_assert_eq(testenv_db_long("SELECT reports FROM retention_log"), 3);

    /* What stayed: the recent reports with their exact bodies (one shared with a dropped
     * report), their chain, and the dropped reports' group, rollups and trend. */
    cr_assert_eq(status_of("/v1/reports/", twin, "/raw"), 200);
    cr_assert_eq(status_of("/v1/reports/", recent, "/raw"), 200);
    cr_assert_eq(status_of("/v1/chains/", kept_chain, ""), 200);
    char *from = testenv_db_value(
        "SELECT to_char(now() - interval '402 days', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
    char path[512];
    snprintf(path, sizeof(path), "/v1/groups/%s?from=%s", old_group, from);
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, path, &r), 200, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "reports")), 2, "%s", r.body);
    testenv_response_free(&r);
    snprintf(path, sizeof(path), "/v1/trends?bucket=day&by=verdict&from=%s", from);
    cr_assert_eq(testenv_get(&srv, path, &r), 200, "%s", r.body);
    long old_points = 0;
    char *cut = testenv_db_value(
        "SELECT to_char(now() - interval '300 days', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
    size_t i, k;
    json_t *s, *p;
    json_array_foreach(json_object_get(r.json, "series"), i, s)
    {
        json_array_foreach(json_object_get(s, "points"), k, p)
        {
            if (strcmp(json_string_value(json_object_get(p, "t")), cut) < 0)
                old_points += json_integer_value(json_object_get(p, "reports"));
        }
    }
    free(cut);
    cr_assert_geq(old_points, 2, "the trend still reaches back: %s", r.body);
    testenv_response_free(&r);
    free(from);
    free(old_part);
    for (int j = 0; j < 3; j++)
        free(old_ids[j]);
    free(twin);
    free(recent);
    free(old_group);
    free(old_chain);
    free(kept_chain);
}
