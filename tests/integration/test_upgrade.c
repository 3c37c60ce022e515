/*
 * Upgrades against a real PostgreSQL. A database built by migrations 0001..0011 (when every
 * function lived in the migrations), holding reports stored through those old functions and
 * through a server of that schema, is upgraded by today's `pinwatch migrate`: every row reads
 * back the same, and the functions in it are exactly those of sql/functions/. A repeatable file
 * runs again when it changed and only then; a changed migration stops start-up.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testcert.h"
#include "testenv.h"
#include "testreport.h"

#define SOURCE_MIGRATIONS PINWATCH_SOURCE_DIR "/migrations"
#define SOURCE_FUNCTIONS  PINWATCH_SOURCE_DIR "/sql/functions"

static char work[64];            /* this test's temporary folder */
static char old_migrations[128]; /* copies of 0001..0011 */
static char no_functions[128];   /* an empty functions folder: the schema of 0011 as it was */

static void setup(void)
{
    testenv_reset_db();
    snprintf(work, sizeof(work), "/tmp/pinwatch-upgrade-XXXXXX");
    cr_assert_not_null(mkdtemp(work));
    snprintf(old_migrations, sizeof(old_migrations), "%s/migrations-0011", work);
    snprintf(no_functions, sizeof(no_functions), "%s/no-functions", work);
    cr_assert_eq(
        testenv_run(NULL,
                    "mkdir -p '%s' '%s' && for f in '%s'/*.sql; do"
                    " n=$(basename \"$f\" | cut -c1-4); [ \"$n\" -le 11 ] && cp \"$f\" '%s/';"
                    " done; true",
                    old_migrations, no_functions, SOURCE_MIGRATIONS, old_migrations),
        0);
    cr_assert_eq(testenv_run(NULL, "ls '%s' | wc -l | grep -qx 11", old_migrations), 0,
                 "expected 11 historical migrations");
}

static void teardown(void)
{
    (void)testenv_run(NULL, "rm -rf '%s'", work);
}

TestSuite(upgrade, .init = setup, .fini = teardown, .timeout = 300);

/* `pinwatch migrate` with the given folders; its output into *out (may be NULL). */
static int migrate(const char *migrations, const char *functions, char **out)
{
    return testenv_run(out,
                       "DATABASE_URL='%s' PINWATCH_MIGRATIONS_DIR='%s' PINWATCH_FUNCTIONS_DIR='%s'"
                       " '%s' migrate",
                       testenv_conninfo(), migrations, functions, PINWATCH_BIN);
}

static size_t count_sql_files(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        n += len > 4 && strcmp(de->d_name + len - 4, ".sql") == 0;
    }
    closedir(d);
    return n;
}

/* Every .sql file of dir, concatenated. */
static char *read_sql_files(const char *dir)
{
    char *all = NULL;
    cr_assert_eq(testenv_run(&all, "cat '%s'/*.sql", dir), 0);
    return all;
}

/* ---------------------------------------------------------------------------------------- */
/* What the functions in the database are                                                    */

/* Where the database's pinwatch_* functions differ from the files of dir: a name that no file
 * defines, a name defined by no function, a name defined twice (in the files or as overloads),
 * or a body (prosrc) that no file holds. Returns the count; the first few go into why. */
static int functions_differ_from(const char *dir, char *why, size_t why_len)
{
    char *files = read_sql_files(dir);
    char names[128][64];
    size_t n_names = 0;
    int diffs = 0;
    why[0] = '\0';
    static const char tag[] = "CREATE OR REPLACE FUNCTION ";
    for (const char *p = strstr(files, tag); p != NULL; p = strstr(p + 1, tag)) {
        const char *bol = p;
        while (bol > files && bol[-1] != '\n')
            bol--;
        if (strstr(bol, "--") != NULL && strstr(bol, "--") < p)
            continue; /* a comment that names the statement */
        const char *s = p + strlen(tag);
        size_t len = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
        cr_assert(len > 0 && len < 64 && n_names < 128);
        memcpy(names[n_names], s, len);
        names[n_names][len] = '\0';
        for (size_t i = 0; i < n_names; i++)
            if (strcmp(names[i], names[n_names]) == 0) {
                diffs++;
                snprintf(why + strlen(why), why_len - strlen(why), " %s defined twice;", s);
            }
        n_names++;
    }
    PGconn *c = testenv_db();
    PGresult *r = PQexec(c, "SELECT proname, prosrc FROM pg_proc"
                            " WHERE pronamespace = 'public'::regnamespace"
                            " AND proname LIKE 'pinwatch\\_%' ORDER BY proname");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    bool seen[128] = {false};
    for (int i = 0; i < PQntuples(r); i++) {
        const char *name = PQgetvalue(r, i, 0), *src = PQgetvalue(r, i, 1);
        size_t k = 0;
        while (k < n_names && strcmp(names[k], name) != 0)
            k++;
        const char *problem = NULL;
        if (k == n_names)
            problem = "not in the files";
        else if (seen[k])
            problem = "overloaded";
        else if (strstr(files, src) == NULL)
            problem = "body not the file's";
        if (k < n_names)
            seen[k] = true;
        if (problem != NULL) {
            diffs++;
            snprintf(why + strlen(why), why_len - strlen(why), " %s: %s;", name, problem);
        }
    }
    for (size_t k = 0; k < n_names; k++)
        if (!seen[k]) {
            diffs++;
            snprintf(why + strlen(why), why_len - strlen(why), " %s: missing;", names[k]);
        }
    PQclear(r);
    PQfinish(c);
    free(files);
    return diffs;
}

/* ---------------------------------------------------------------------------------------- */
/* Data at 0011                                                                              */

/* 600 reports over 40 days in three groups through the old pinwatch_store_batch, the last 200
 * as a unit spooled before 0008 (findings as JSON instead of flags). */
static const char OLD_BATCHES_SQL[] =
    "DO $$ DECLARE t0 timestamptz := now() - interval '40 days'; b int; BEGIN"
    " PERFORM setseed(0.17);"
    " FOR m IN 0..2 LOOP PERFORM pinwatch_ensure_partition(t0 + m * interval '1 month'); END LOOP;"
    " FOR b IN 0..2 LOOP"
    "  PERFORM pinwatch_store_batch('[]', '[]', '[]', '[]', (SELECT json_agg("
    "   json_build_object('id', gen_random_uuid(), 'received_at', t0 + random() * interval"
    "   '40 days', 'format', 'trustkit_ios', 'hostname', 'old.example.com', 'app_bundle_id',"
    "   'com.example.old', 'app_version', (i % 3) || '.0', 'platform', 'ios',"
    "   'vendor_id', 'dev-' || (i % 90), 'network', '10.' || (i % 7) || '.' || (i % 5) || '.0/24',"
    "   'asn', 64500 + (i % 2), 'validation_result', 1 + (i % 3 = 0)::int,"
    "   'known_pins', '[]'::json, 'group_id', grp,"
    "   'raw_sha256', '\\x' || encode(sha256(i::text::bytea), 'hex'))::jsonb"
    "   || CASE WHEN b < 2 THEN jsonb_build_object('flags', pinwatch_findings_flags(f))"
    "           ELSE jsonb_build_object('findings', f) END)"
    "   FROM (SELECT b * 200 + s AS i, (ARRAY['old-a', 'old-b', 'old-c'])[1 + s % 3] AS grp,"
    "           jsonb_build_object('linked', s % 5 <> 0, 'covers_hostname', true,"
    "             'valid_at_report_time', s % 7 <> 0, 'pin_in_chain', s % 2 = 0,"
    "             'leaf_expected', false) AS f"
    "         FROM generate_series(1, 200) s) x),"
    "   (SELECT json_agg(json_build_object('id', g, 'app_bundle_id', 'com.example.old',"
    "     'hostname', 'old.example.com', 'expected_key_seen', false, 'known_hostile', false,"
    "     'first_seen', t0, 'last_seen', now()))"
    "    FROM unnest(ARRAY['old-a', 'old-b', 'old-c']) g));"
    " END LOOP; END $$";

/* Into folder dst, as one file, the statements of sql/functions/ that create a function the
 * database does not have yet: the reads this server needs (they came with sql/functions/),
 * without touching any function of the 0011 schema. */
static void write_new_functions(const char *dst)
{
    char *files = read_sql_files(SOURCE_FUNCTIONS);
    char path[256];
    snprintf(path, sizeof(path), "%s/99_new.sql", dst);
    FILE *out = fopen(path, "w");
    cr_assert_not_null(out);
    static const char tag[] = "CREATE OR REPLACE FUNCTION ";
    size_t written = 0;
    for (char *p = strstr(files, tag); p != NULL;) {
        char *next = strstr(p + 1, tag);
        const char *name = p + strlen(tag);
        size_t len = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_");
        char sql[256];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_proc WHERE proname = '%.*s'", (int)len,
                 name);
        if (testenv_db_long(sql) == 0) {
            size_t n = next != NULL ? (size_t)(next - p) : strlen(p);
            cr_assert_eq(fwrite(p, 1, n, out), n);
            written++;
        }
        p = next;
    }
    cr_assert_eq(fclose(out), 0);
    cr_assert_gt(written, 0);
    free(files);
}

/* Reports with real certificate chains through a server of the 0011 schema (the write path of
 * migration 0010: staging table, pinwatch_store_staged, the rollup queue). The server is
 * today's, so the read functions it needs are added (write_new_functions); every function of
 * the 0011 schema stays as it was. */
static void post_through_old_server(void)
{
    struct testcert *root = testcert_new_root(&(struct testcert_opts){.cn = "Upgrade Test Root"});
    struct testcert *leaf = testcert_new_leaf(
        &(struct testcert_opts){.cn = "api.example.com",
                                .sans = (const char *[]){"api.example.com", NULL}},
        root);
    struct testcert *mitm_root =
        testcert_new_root(&(struct testcert_opts){.cn = "mitmproxy", .o = "mitmproxy"});
    struct testcert *mitm_leaf = testcert_new_leaf(
        &(struct testcert_opts){.cn = "api.example.com",
                                .sans = (const char *[]){"api.example.com", NULL}},
        mitm_root);
    const struct testcert *roots[] = {root};
    char *store = testcert_bundle_tmpfile(roots, 1);
    char env_store[512], env_m[256], env_f[256];
    snprintf(env_store, sizeof(env_store), "PINWATCH_TRUST_STORE=%s", store);
    snprintf(env_m, sizeof(env_m), "PINWATCH_MIGRATIONS_DIR=%s", old_migrations);
    char reads[160];
    snprintf(reads, sizeof(reads), "%s/new-functions", work);
    cr_assert_eq(testenv_run(NULL, "mkdir -p '%s'", reads), 0);
    write_new_functions(reads);
    snprintf(env_f, sizeof(env_f), "PINWATCH_FUNCTIONS_DIR=%s", reads);
    const char *env[] = {env_store, env_m, env_f, "PINWATCH_TRUSTED_PROXIES=127.0.0.0/8", NULL};
    struct testenv_server srv = {0};
    testenv_server_start(&srv, env);
    const char *versions[] = {"1.0", "2.0", "3.0"};
    for (int i = 0; i < 24; i++) {
        const struct testcert *chain[] = {i % 3 == 0 ? mitm_leaf : leaf,
                                          i % 3 == 0 ? mitm_root : root};
        const struct testcert *pins[] = {leaf};
        char device[32], ip[32];
        snprintf(device, sizeof(device), "device-%d", i % 9);
        snprintf(ip, sizeof(ip), "198.51.%d.%d", 100 + i % 2, 1 + i);
        struct testreport tr = {.app = "com.example.shop",
                                .version = versions[i % 3],
                                .vendor_id = device,
                                .hostname = "api.example.com",
                                .chain = chain,
                                .chain_len = 2,
                                .pins = pins,
                                .n_pins = 1,
                                .validation_result = i % 3 == 0 ? 2 : 1};
        free(testreport_post(&srv, &tr, ip));
    }
    cr_assert_eq(testenv_server_stop(&srv), 0);
    unlink(store);
    free(store);
    struct testcert *all[] = {root, leaf, mitm_root, mitm_leaf};
    for (size_t i = 0; i < 4; i++)
        testcert_free(all[i]);
}

/* ---------------------------------------------------------------------------------------- */
/* Snapshots                                                                                 */

struct table_sum {
    char name[64];
    char *columns; /* the columns it had when first summed */
    char *md5;
};

struct snapshot {
    struct table_sum tables[64];
    size_t n;
};

static char *table_md5(const char *table, const char *columns)
{
    char sql[4096];
    snprintf(sql, sizeof(sql),
             "SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), ''))"
             " FROM (SELECT %s FROM %s) x",
             columns, table);
    return testenv_db_value(sql);
}

/* Every table's rows (schema bookkeeping aside), summed over its columns now; with_hll false
 * leaves device sketches out. */
static void snapshot_take(struct snapshot *s, bool with_hll)
{
    memset(s, 0, sizeof(*s));
    char *list = testenv_db_value("SELECT string_agg(relname, ' ' ORDER BY relname) FROM pg_class"
                                  " WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
                                  " AND relname NOT LIKE 'schema\\_%'");
    cr_assert_not_null(list);
    for (char *save = NULL, *t = strtok_r(list, " ", &save); t != NULL;
         t = strtok_r(NULL, " ", &save)) {
        cr_assert_lt(s->n, 64);
        struct table_sum *ts = &s->tables[s->n++];
        snprintf(ts->name, sizeof(ts->name), "%s", t);
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "SELECT string_agg(quote_ident(attname), ',' ORDER BY attnum) FROM pg_attribute"
                 " WHERE attrelid = '%s'::regclass AND attnum > 0 AND NOT attisdropped%s",
                 t, with_hll ? "" : " AND atttypid <> 'hll'::regtype");
        ts->columns = testenv_db_value(sql);
        ts->md5 = table_md5(t, ts->columns);
    }
    free(list);
}

/* The same tables, the same columns, the same rows (tables added since may be new). */
static void snapshot_assert_same(const struct snapshot *before)
{
    for (size_t i = 0; i < before->n; i++) {
        const struct table_sum *ts = &before->tables[i];
        char *now = table_md5(ts->name, ts->columns);
        cr_expect_str_eq(now, ts->md5, "table %s changed", ts->name);
        free(now);
    }
}

static void snapshot_free(struct snapshot *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->tables[i].columns);
        free(s->tables[i].md5);
    }
}

/* What the read API is built from, over a fixed window: every report's JSON, each group's top
 * networks, the trend networks. */
static char *reads_md5(const char *from, const char *to)
{
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "SELECT md5(concat_ws(E'\\n',"
             " (SELECT string_agg(pinwatch_report_json(r)::text, E'\\n' ORDER BY r.id)"
             "  FROM reports r),"
             " (SELECT string_agg(g.id || pinwatch_top_networks(g.id, '%s'::date, '%s'::date,"
             "   10)::text, E'\\n' ORDER BY g.id) FROM groups g),"
             " pinwatch_trend_networks('%s', '%s', 10, NULL, NULL, NULL, NULL, NULL, NULL)::text,"
             " pinwatch_trend_networks('%s', '%s', 3, 'old.example.com', NULL, NULL, NULL, NULL,"
             "   NULL)::text))",
             from, to, from, to, from, to);
    return testenv_db_value(sql);
}

/* ---------------------------------------------------------------------------------------- */

Test(upgrade, from_0011_keeps_every_row_and_takes_the_function_files)
{
    char *out = NULL;
    cr_assert_eq(migrate(old_migrations, no_functions, &out), 0, "%s", out);
    cr_assert(strstr(out, "migrations applied: 11") != NULL, "%s", out);
    free(out);
    char why[4096];
    cr_assert_gt(functions_differ_from(SOURCE_FUNCTIONS, why, sizeof(why)), 0,
                 "at 0011 the functions are the migrations' (renamed parts included)");
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM pg_proc"
                                 " WHERE proname = 'pinwatch_apply_rollup_tables'"),
                 1);

    testenv_db_exec(OLD_BATCHES_SQL);
    post_through_old_server();
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 600 + 24);
    cr_assert_gt(testenv_db_long("SELECT count(*) FROM groups"), 3);
    cr_assert_gt(testenv_db_long("SELECT count(*) FROM rollup_group_daily"), 0);
    cr_assert_gt(testenv_db_long("SELECT count(*) FROM certificates"), 0);
    /* the pre-0008 unit was converted to flags, not dropped */
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports WHERE flags IS NULL"), 0);

    char *from = testenv_db_value("SELECT (now() - interval '60 days')::text");
    char *to = testenv_db_value("SELECT (now() + interval '1 day')::text");
    char *reads_before = reads_md5(from, to);
    struct snapshot before;
    snapshot_take(&before, true);

    cr_assert_eq(migrate(SOURCE_MIGRATIONS, SOURCE_FUNCTIONS, &out), 0, "%s", out);
    char expect[128];
    snprintf(expect, sizeof(expect), "migrations applied: %zu",
             count_sql_files(SOURCE_MIGRATIONS) - 11);
    cr_assert(strstr(out, expect) != NULL, "%s (want %s)", out, expect);
    snprintf(expect, sizeof(expect), "function files applied: %zu",
             count_sql_files(SOURCE_FUNCTIONS));
    cr_assert(strstr(out, expect) != NULL, "%s (want %s)", out, expect);
    free(out);

    snapshot_assert_same(&before);
    char *reads_after = reads_md5(from, to);
    cr_expect_str_eq(reads_after, reads_before, "report JSON or network rankings changed");
    int diffs = functions_differ_from(SOURCE_FUNCTIONS, why, sizeof(why));
    cr_assert_eq(diffs, 0, "functions not those of sql/functions:%s", why);
    snapshot_free(&before);

    /* The upgraded database works: a new server merges what the old one queued and new reports,
     * and the rollups count every report. */
    struct testenv_server srv = {0};
    testenv_server_start(&srv, NULL);
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, "/v1/groups?limit=100", &r), 200);
    testenv_response_free(&r);
    cr_assert_eq(testenv_server_stop(&srv), 0);
    (void)testenv_db_long("SELECT pinwatch_rollups_flush()");
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM rollup_queue"), 0);
    cr_assert_eq(testenv_db_long("SELECT sum(reports) FROM rollup_group_daily"), 600 + 24);
    cr_assert_eq(testenv_db_long("SELECT sum(reports) FROM rollup_network_all_hourly"), 600 + 24);
    cr_assert_eq(testenv_db_long("SELECT sum(reports) FROM network_totals"), 600 + 24);

    /* Re-grouping every group rebuilds the same rollups with the one merged function. */
    struct snapshot merged;
    snapshot_take(&merged, false);
    testenv_db_exec("BEGIN; SELECT pinwatch_rollups_hold();"
                    " SELECT pinwatch_rebuild_rollups(ARRAY(SELECT id FROM groups)); COMMIT");
    for (size_t i = 0; i < merged.n; i++)
        if (strcmp(merged.tables[i].name, "groups") == 0)
            merged.tables[i].name[0] = '\0'; /* versions move */
    for (size_t i = 0; i < merged.n; i++) {
        if (merged.tables[i].name[0] == '\0')
            continue;
        char *now = table_md5(merged.tables[i].name, merged.tables[i].columns);
        cr_expect_str_eq(now, merged.tables[i].md5, "rebuild changed %s", merged.tables[i].name);
        free(now);
    }
    snapshot_free(&merged);
    free(reads_before);
    free(reads_after);
    free(from);
    free(to);
}

static char *applied_at(const char *file)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT applied_at::text FROM schema_repeatables WHERE name = '%s'",
             file);
    return testenv_db_value(sql);
}

Test(upgrade, a_changed_function_file_is_applied_again_an_unchanged_one_is_not)
{
    char functions[128];
    snprintf(functions, sizeof(functions), "%s/functions", work);
    cr_assert_eq(testenv_run(NULL, "cp -r '%s' '%s'", SOURCE_FUNCTIONS, functions), 0);
    char *out = NULL;
    cr_assert_eq(migrate(SOURCE_MIGRATIONS, functions, &out), 0, "%s", out);
    free(out);
    char *values0 = applied_at("10_values.sql"), *json0 = applied_at("20_json.sql");
    cr_assert_not_null(values0);
    cr_assert_not_null(json0);

    /* nothing changed: nothing runs */
    cr_assert_eq(migrate(SOURCE_MIGRATIONS, functions, &out), 0, "%s", out);
    cr_assert(strstr(out, "migrations applied: 0") != NULL, "%s", out);
    cr_assert(strstr(out, "function files applied: 0") != NULL, "%s", out);
    free(out);
    char *values1 = applied_at("10_values.sql");
    cr_assert_str_eq(values1, values0);

    /* one file edited: that file, and only it, runs at the next migrate */
    cr_assert_eq(testenv_run(NULL,
                             "sed -i 's|SELECT CASE WHEN t IS NULL|SELECT /* edited */ CASE WHEN "
                             "t IS NULL|' '%s/10_values.sql'",
                             functions),
                 0);
    cr_assert_eq(migrate(SOURCE_MIGRATIONS, functions, &out), 0, "%s", out);
    cr_assert(strstr(out, "function files applied: 1") != NULL, "%s", out);
    free(out);
    char *values2 = applied_at("10_values.sql"), *json2 = applied_at("20_json.sql");
    cr_assert_str_neq(values2, values0);
    cr_assert_str_eq(json2, json0);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM pg_proc WHERE proname = 'pinwatch_ts'"
                                 " AND prosrc LIKE '%/* edited */%'"),
                 1);

    /* and at the next start of the server */
    cr_assert_eq(testenv_run(NULL,
                             "sed -i 's|/\\* edited \\*/|/* edited again */|' '%s/10_values.sql'",
                             functions),
                 0);
    char env_f[256];
    snprintf(env_f, sizeof(env_f), "PINWATCH_FUNCTIONS_DIR=%s", functions);
    const char *env[] = {env_f, NULL};
    struct testenv_server srv = {0};
    testenv_server_start(&srv, env);
    cr_assert_eq(testenv_server_stop(&srv), 0);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM pg_proc WHERE proname = 'pinwatch_ts'"
                                 " AND prosrc LIKE '%/* edited again */%'"),
                 1);
    char *json3 = applied_at("20_json.sql");
    cr_assert_str_eq(json3, json0);
    free(values0);
    free(values1);
    free(values2);
    free(json0);
    free(json2);
    free(json3);
}

Test(upgrade, a_changed_migration_stops_start_up)
{
    char migrations[128];
    snprintf(migrations, sizeof(migrations), "%s/migrations", work);
    cr_assert_eq(testenv_run(NULL, "cp -r '%s' '%s'", SOURCE_MIGRATIONS, migrations), 0);
    char *out = NULL;
    cr_assert_eq(migrate(migrations, SOURCE_FUNCTIONS, &out), 0, "%s", out);
    free(out);
    char *checksum = testenv_db_value("SELECT checksum FROM schema_migrations WHERE version = 11");

    /* an applied migration edited, and a new one after it */
    cr_assert_eq(testenv_run(NULL,
                             "echo '-- edited' >> '%s/0011_group_times_at_merge.sql' &&"
                             " echo 'CREATE TABLE upgrade_probe (x int);' > '%s/9999_probe.sql'",
                             migrations, migrations),
                 0);
    cr_assert_eq(migrate(migrations, SOURCE_FUNCTIONS, &out), 1, "%s", out);
    cr_assert(strstr(out, "0011_group_times_at_merge.sql was changed after it was applied") != NULL,
              "%s", out);
    free(out);

    /* serve refuses the same way, before it listens */
    cr_assert_eq(testenv_run(&out,
                             "DATABASE_URL='%s' PINWATCH_MIGRATIONS_DIR='%s'"
                             " PINWATCH_ADMIN_TOKEN=upgrade-test-token-0123456789abcdef"
                             " PINWATCH_LISTEN=127.0.0.1:1 PINWATCH_SPOOL_DIR='%s/spool'"
                             " timeout 60 '%s' serve",
                             testenv_conninfo(), migrations, work, PINWATCH_BIN),
                 1, "%s", out);
    cr_assert(strstr(out, "0011_group_times_at_merge.sql was changed after it was applied") != NULL,
              "%s", out);
    free(out);
    char *after = testenv_db_value("SELECT checksum FROM schema_migrations WHERE version = 11");
    cr_assert_str_eq(after, checksum);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM pg_class WHERE relname = 'upgrade_probe'"),
                 0);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM schema_migrations WHERE version = 9999"), 0);
    free(checksum);
    free(after);
}
