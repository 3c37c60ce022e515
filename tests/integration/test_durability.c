/* Durability of the write path (SPEC 9) against the real server and a private PostgreSQL
 * cluster of each test's own, which the test stops and starts: a 200 means the report is
 * stored exactly once, whatever happens to PostgreSQL or to the server afterwards. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testcert.h"
#include "testenv.h"

/* Real reports of three formats, so units carry certificates, chains and opaque entries. */
static const char *const fixture_files[] = {
    "trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json",
    "trustkit-android/docs_sample_report_2016-11-25_updated.json",
    "sentry-relay/integration_hpkp.input.json",
};
#define N_FIXTURES   (sizeof(fixture_files) / sizeof(fixture_files[0]))
#define HPKP_FIXTURE 2

static char *bodies[N_FIXTURES];
static size_t body_lens[N_FIXTURES];
static struct testenv_pg pg;
static struct testenv_server srv, srv2;

static void setup(void)
{
    for (size_t i = 0; i < N_FIXTURES; i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, fixture_files[i]);
        bodies[i] = testenv_read_file(path, &body_lens[i]);
    }
    char name[64];
    snprintf(name, sizeof(name), "durability-%d", (int)getpid());
    testenv_pg_create(&pg, name);
    memset(&srv, 0, sizeof(srv));
    memset(&srv2, 0, sizeof(srv2));
    srv.conninfo = pg.conninfo;
    srv2.conninfo = pg.conninfo;
    /* Own spool folders, empty: a spool left by an earlier run must not replay into this
     * test's database. */
    snprintf(srv.spool_dir, sizeof(srv.spool_dir), "%s/spool-durability-%d-a", TEST_STATE_DIR,
             (int)getpid());
    snprintf(srv2.spool_dir, sizeof(srv2.spool_dir), "%s/spool-durability-%d-b", TEST_STATE_DIR,
             (int)getpid());
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", srv.spool_dir, srv2.spool_dir);
    cr_assert_eq(system(cmd), 0);
}

static void teardown(void)
{
    testenv_server_kill(&srv);
    testenv_server_kill(&srv2);
    testenv_pg_destroy(&pg);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' '%s'", srv.spool_dir, srv2.spool_dir, pg.dir);
    int rc = system(cmd);
    (void)rc; /* best effort: the state folder is scratch space */
    for (size_t i = 0; i < N_FIXTURES; i++) {
        free(bodies[i]);
        bodies[i] = NULL;
    }
}

TestSuite(durability, .init = setup, .fini = teardown, .timeout = 120);

/* ---- the private cluster ---- */

static long pg_long(const char *sql, const char *param)
{
    PGconn *c = PQconnectdb(pg.conninfo);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "connect: %s", PQerrorMessage(c));
    const char *params[] = {param};
    PGresult *r = PQexecParams(c, sql, param != NULL ? 1 : 0, NULL, params, NULL, NULL, 0);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    long v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

static void pg_exec(const char *sql)
{
    PGconn *c = PQconnectdb(pg.conninfo);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* ---- what clients were told ---- */

struct ids {
    char (*v)[37];
    size_t n, cap;
};

static void ids_add(struct ids *ids, const char *id)
{
    if (ids->n == ids->cap) {
        ids->cap = ids->cap > 0 ? ids->cap * 2 : 256;
        ids->v = realloc(ids->v, ids->cap * sizeof(*ids->v));
    }
    snprintf(ids->v[ids->n++], sizeof(ids->v[0]), "%s", id);
}

/* Each acknowledged id is stored exactly once, and nothing else is stored. */
static void assert_exactly_stored(const struct ids *ids)
{
    size_t cap = ids->n * 37 + 3;
    char *arr = malloc(cap);
    size_t o = 0;
    arr[o++] = '{';
    for (size_t i = 0; i < ids->n; i++)
        o += (size_t)snprintf(arr + o, cap - o, "%s%s", i > 0 ? "," : "", ids->v[i]);
    arr[o++] = '}';
    arr[o] = '\0';
    long acknowledged = pg_long("SELECT count(*) FROM reports WHERE id = ANY($1::uuid[])", arr);
    long distinct = pg_long("SELECT count(DISTINCT id) FROM reports", NULL);
    long rows = pg_long("SELECT count(*) FROM reports", NULL);
    free(arr);
    cr_assert_eq(acknowledged, (long)ids->n, "%zu reports answered 200, %ld of them stored", ids->n,
                 acknowledged);
    cr_assert_eq(rows, distinct, "%ld rows for %ld distinct ids: a report is stored twice", rows,
                 distinct);
    cr_assert_eq(rows, (long)ids->n, "%zu reports answered 200 but %ld rows are stored", ids->n,
                 rows);
}

/* POST one fixture; on 200 the accepted id goes to *id_out (37 bytes). Returns the status. */
static int post_fixture(unsigned port, size_t which, char *id_out, struct testenv_response *keep)
{
    struct testenv_response r;
    int st = testenv_http(port, "POST", "/v1/reports", "Content-Type: application/json\r\n",
                          bodies[which], body_lens[which], false, &r);
    if (st == 200) {
        const char *id = json_string_value(json_array_get(json_object_get(r.json, "accepted"), 0));
        snprintf(id_out, 37, "%s", id != NULL ? id : "");
        if (id == NULL || json_array_size(json_object_get(r.json, "accepted")) != 1)
            st = -2; /* a 200 that does not name exactly one report is a failure too */
    }
    if (keep != NULL)
        *keep = r;
    else
        testenv_response_free(&r);
    return st;
}

/* ---- concurrent clients ---- */

struct client {
    pthread_t thread;
    unsigned port;
    size_t first;    /* fixture to start the rotation with */
    int max_posts;   /* 0: until stop */
    const int *stop; /* atomic flag */
    struct ids ok;
    int other;      /* answers that are not 200, including failed connections */
    int last_other; /* status of the last such answer */
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    /* Signals (SIGCHLD of the pg_ctl the main thread runs) go to the main thread: here they
     * would interrupt a blocking recv and turn a good answer into a failed request. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (int i = 0; c->max_posts == 0 || i < c->max_posts; i++) {
        if (c->stop != NULL && __atomic_load_n(c->stop, __ATOMIC_RELAXED))
            break;
        char id[37];
        int st = post_fixture(c->port, (c->first + (size_t)i) % N_FIXTURES, id, NULL);
        if (st == 200) {
            ids_add(&c->ok, id);
        } else {
            c->other++;
            c->last_other = st;
            if (st == -1)
                testenv_sleep_ms(5); /* refused: the server is going away; do not spin */
        }
    }
    return NULL;
}

static void clients_start(struct client *cs, size_t n, const unsigned *ports, size_t n_ports,
                          int max_posts, const int *stop)
{
    for (size_t i = 0; i < n; i++) {
        memset(&cs[i], 0, sizeof(cs[i]));
        cs[i].port = ports[i % n_ports];
        cs[i].first = i;
        cs[i].max_posts = max_posts;
        cs[i].stop = stop;
        cr_assert_eq(pthread_create(&cs[i].thread, NULL, client_main, &cs[i]), 0);
    }
}

/* Join the clients; merge their acknowledged ids into *all; returns the non-200 count. */
static int clients_join(struct client *cs, size_t n, struct ids *all, int *last_other)
{
    int other = 0;
    for (size_t i = 0; i < n; i++) {
        pthread_join(cs[i].thread, NULL);
        for (size_t k = 0; k < cs[i].ok.n; k++)
            ids_add(all, cs[i].ok.v[k]);
        free(cs[i].ok.v);
        other += cs[i].other;
        if (cs[i].other > 0 && last_other != NULL)
            *last_other = cs[i].last_other;
    }
    return other;
}

/* ---- readiness ---- */

static int readyz(const struct testenv_server *s, char *reason, size_t reason_len)
{
    struct testenv_response r;
    int st = testenv_http(s->port, "GET", "/readyz", NULL, NULL, 0, false, &r);
    if (reason != NULL) {
        const char *why = json_string_value(json_object_get(r.json, "reason"));
        snprintf(reason, reason_len, "%s", why != NULL ? why : "");
    }
    testenv_response_free(&r);
    return st;
}

/* Poll /readyz until 200 (database reachable and spool drained), at most timeout_s. */
static void wait_ready(const struct testenv_server *s, double timeout_s)
{
    double until = testenv_now_s() + timeout_s;
    int st = 0;
    char reason[64] = "";
    while (testenv_now_s() < until) {
        st = readyz(s, reason, sizeof(reason));
        if (st == 200)
            return;
        testenv_sleep_ms(100);
    }
    cr_assert_fail("/readyz still %d (%s) after %.0f s, see %s", st, reason, timeout_s,
                   s->log_path);
}

/* ---- the tests ---- */

/* Sum of "reports" over the group list (which merges queued rollup rows first). */
static long group_list_reports(void)
{
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, "/v1/groups", &r), 200, "%s", r.body);
    long counted = 0;
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(r.json, "groups"), i, g)
    {
        counted += (long)json_integer_value(json_object_get(g, "reports"));
    }
    testenv_response_free(&r);
    return counted;
}

Test(durability, concurrent_clients_every_200_is_one_stored_row)
{
    testenv_server_start(&srv, NULL);
    struct client cs[8];
    unsigned ports[] = {srv.port};
    clients_start(cs, 8, ports, 1, 25, NULL);
    struct ids all = {0};
    int last = 0;
    int other = clients_join(cs, 8, &all, &last);
    cr_assert_eq(other, 0, "%d posts were not answered 200 (last: %d)", other, last);
    cr_assert_eq(all.n, 8 * 25);
    assert_exactly_stored(&all);
    /* Rollups are merged after the answers; a read right after the last 200 still counts every
     * report (reads merge what is queued first). */
    long counted = group_list_reports();
    cr_assert_eq(counted, (long)all.n, "the group list counts %ld of %zu reports", counted, all.n);
    cr_assert_eq(testenv_server_stop(&srv), 0);
    /* A clean stop leaves nothing queued, and the rollups hold every report. */
    cr_assert_eq(pg_long("SELECT count(*) FROM rollup_queue", NULL), 0);
    cr_assert_eq(pg_long("SELECT sum(reports) FROM rollup_group_hourly", NULL), (long)all.n);
    cr_assert_eq(pg_long("SELECT sum(reports) FROM network_totals", NULL), (long)all.n);
    free(all.v);
}

Test(durability, postgres_stopped_mid_load_spools_and_replays)
{
    testenv_server_start(&srv, NULL);
    int stop = 0;
    struct client cs[4];
    unsigned ports[] = {srv.port};
    clients_start(cs, 4, ports, 1, 0, &stop);
    testenv_sleep_ms(400);
    testenv_pg_stop(&pg);
    testenv_sleep_ms(800); /* load keeps coming while PostgreSQL is away */
    char reason[64];
    int ready = readyz(&srv, reason, sizeof(reason));
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    struct ids all = {0};
    int last = 0;
    int other = clients_join(cs, 4, &all, &last);
    cr_assert_eq(ready, 503, "/readyz answered %d with PostgreSQL stopped", ready);
    cr_assert_str_eq(reason, "database_unreachable");
    cr_assert_eq(other, 0, "%d posts were not answered 200 (last: %d)", other, last);
    cr_assert_gt(all.n, 0);

    struct testenv_response m;
    cr_assert_eq(testenv_http(srv.port, "GET", "/metrics", NULL, NULL, 0, false, &m), 200);
    cr_assert_not_null(strstr(m.body, "pinwatch_database_up 0"), "%s", m.body);
    cr_assert_null(strstr(m.body, "pinwatch_spooled_units_total 0\n"),
                   "nothing was spooled while PostgreSQL was stopped");
    testenv_response_free(&m);

    testenv_pg_start(&pg);
    wait_ready(&srv, 30);
    assert_exactly_stored(&all);
    cr_assert_eq(testenv_server_stop(&srv), 0);
    free(all.v);
}

/* A commit carries its BEGIN in its first COPY and its COMMIT behind the merge. A merge that
 * PostgreSQL refuses (not a lost connection) must roll the whole transaction back: the request
 * is not acknowledged (500, nothing half-stored), and the writer's connection goes on to
 * commit the next reports normally, each exactly once. */
Test(durability, a_refused_merge_rolls_back_and_the_connection_commits_on)
{
    testenv_server_start(&srv, NULL);
    char id[37];
    struct ids all = {0};
    cr_assert_eq(post_fixture(srv.port, 0, id, NULL), 200);
    ids_add(&all, id);
    pg_exec("ALTER FUNCTION pinwatch_store_staged() RENAME TO pinwatch_store_staged_real");
    pg_exec("CREATE FUNCTION pinwatch_store_staged() RETURNS bigint LANGUAGE plpgsql AS "
            "$$BEGIN RAISE EXCEPTION 'merge refused on purpose'; END$$");
    for (size_t i = 1; i < N_FIXTURES; i++) {
        struct testenv_response r;
        int st = post_fixture(srv.port, i, id, &r);
        cr_assert_eq(st, 500, "fixture %zu answered %d while the merge fails", i, st);
        cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "database_error");
        testenv_response_free(&r);
    }
    assert_exactly_stored(&all); /* nothing of the refused commits is visible */
    pg_exec("DROP FUNCTION pinwatch_store_staged()");
    pg_exec("ALTER FUNCTION pinwatch_store_staged_real() RENAME TO pinwatch_store_staged");
    for (size_t i = 0; i < N_FIXTURES; i++) {
        cr_assert_eq(post_fixture(srv.port, i, id, NULL), 200, "fixture %zu after the repair", i);
        ids_add(&all, id);
    }
    assert_exactly_stored(&all);
    cr_assert_eq(group_list_reports(), (long)all.n, "the rollups count every report once");
    cr_assert_eq(testenv_server_stop(&srv), 0);
    free(all.v);
}

/* /readyz is unauthenticated: the reason code, never libpq's text (socket path, user,
 * database name, pg_hba rule); the log has that. */
Test(durability, readyz_gives_the_reason_not_the_database_error)
{
    testenv_server_start(&srv, NULL);
    testenv_pg_stop(&pg);
    struct testenv_response r;
    cr_assert_eq(testenv_http(srv.port, "GET", "/readyz", NULL, NULL, 0, false, &r), 503);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "reason")), "database_unreachable");
    static const char *const leaks[] = {
        "socket", "PGSQL", "connection to server", "FATAL", "postgres", pg.dir, NULL};
    for (size_t i = 0; leaks[i] != NULL; i++)
        cr_assert_null(strstr(r.body, leaks[i]), "/readyz tells '%s': %s", leaks[i], r.body);
    testenv_response_free(&r);
    size_t len = 0;
    char *log = testenv_read_file(srv.log_path, &len);
    cr_assert_not_null(strstr(log, "readyz: database unreachable"), "the log has the cause");
    free(log);
    testenv_pg_start(&pg);
    wait_ready(&srv, 30);
    cr_assert_eq(testenv_server_stop(&srv), 0);
}

Test(durability, load_while_the_spool_drains_queues_behind_it_and_is_stored_once)
{
    /* Two writers: both spool while PostgreSQL is away, writer 0 replays when it is back, and
     * batches that arrive during the replay join the spool behind the older reports. */
    static const char *const env[] = {"PINWATCH_WRITERS=2", NULL};
    testenv_server_start(&srv, env);
    testenv_pg_stop(&pg);
    int stop = 0;
    struct client cs[4];
    unsigned ports[] = {srv.port};
    clients_start(cs, 4, ports, 1, 0, &stop);
    testenv_sleep_ms(700);
    testenv_pg_start(&pg); /* the clients keep posting through the replay */
    testenv_sleep_ms(700);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    struct ids all = {0};
    int last = 0;
    int other = clients_join(cs, 4, &all, &last);
    cr_assert_eq(other, 0, "%d posts were not answered 200 (last: %d), see %s", other, last,
                 srv.log_path);
    wait_ready(&srv, 30);
    assert_exactly_stored(&all);
    struct testenv_response m;
    cr_assert_eq(testenv_http(srv.port, "GET", "/metrics", NULL, NULL, 0, false, &m), 200);
    cr_assert_null(strstr(m.body, "pinwatch_replayed_units_total 0\n"), "nothing was replayed");
    cr_assert_not_null(strstr(m.body, "pinwatch_spool_depth 0\n"), "%s", m.body);
    testenv_response_free(&m);
    cr_assert_eq(testenv_server_stop(&srv), 0);
    free(all.v);
}

Test(durability, sigkill_with_spooled_reports_then_restart_replays_once)
{
    testenv_server_start(&srv, NULL);
    testenv_pg_stop(&pg);
    struct ids all = {0};
    for (int i = 0; i < 12; i++) {
        char id[37];
        int st = post_fixture(srv.port, (size_t)i % N_FIXTURES, id, NULL);
        cr_assert_eq(st, 200, "post %d with PostgreSQL stopped: %d", i, st);
        ids_add(&all, id);
    }
    char path[400];
    snprintf(path, sizeof(path), "%s/spool.log", srv.spool_dir);
    size_t spooled_len = 0;
    free(testenv_read_file(path, &spooled_len));
    cr_assert_gt(spooled_len, 0, "acknowledged reports are not in the spool");

    testenv_server_kill(&srv); /* no chance to drain anything */
    testenv_pg_start(&pg);
    cr_assert_eq(pg_long("SELECT count(*) FROM reports", NULL), 0);
    srv.port = 0; /* a fresh port; the spool folder stays */
    testenv_server_start(&srv, NULL);
    wait_ready(&srv, 30);
    assert_exactly_stored(&all);

    /* A second restart must not replay the spool again. */
    cr_assert_eq(testenv_server_stop(&srv), 0);
    srv.port = 0;
    testenv_server_start(&srv, NULL);
    wait_ready(&srv, 30);
    assert_exactly_stored(&all);
    free(all.v);
}

Test(durability, sigkill_with_rollups_queued_then_restart_counts_every_report)
{
    /* Rollup rows are queued by the commit and merged later: a kill right after the answers
     * leaves them in the database, and the next read after a restart merges them. */
    testenv_server_start(&srv, NULL);
    struct ids all = {0};
    for (int i = 0; i < 6; i++) {
        char id[37];
        cr_assert_eq(post_fixture(srv.port, (size_t)i % N_FIXTURES, id, NULL), 200);
        ids_add(&all, id);
    }
    testenv_server_kill(&srv);
    long queued = pg_long("SELECT count(*) FROM rollup_queue", NULL);
    assert_exactly_stored(&all);
    srv.port = 0;
    testenv_server_start(&srv, NULL);
    cr_assert_eq(group_list_reports(), (long)all.n, "%ld commits were queued at the kill", queued);
    cr_assert_eq(pg_long("SELECT count(*) FROM rollup_queue", NULL), 0);
    cr_assert_eq(pg_long("SELECT sum(reports) FROM rollup_group_hourly", NULL), (long)all.n);
    cr_assert_eq(testenv_server_stop(&srv), 0);
    free(all.v);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

Test(durability, a_spool_written_before_copy_rows_replays_after_the_upgrade)
{
    /* A unit as a version before 0010 spooled it: JSON rows per table (here without a groups
     * member at all), per-report findings as JSON (before 0008). */
    static const char line[] =
        "{\"months\":[\"2026-11\"],\"certificates\":[],\"chains\":[],\"fragments\":[],"
        "\"bodies\":[],\"reports\":[{\"id\":\"0195a9b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b\","
        "\"received_at\":\"2026-11-20T10:00:00Z\",\"format\":\"trustkit-ios\","
        "\"hostname\":\"old.example.com\",\"app_bundle_id\":\"com.example.old\","
        "\"app_version\":\"1.0\",\"known_pins\":[],\"group_id\":\"0123456789abcdef\","
        "\"raw_sha256\":\"\\\\x00\",\"findings\":{\"linked\":true}}]}\n";
    testenv_server_start(&srv, NULL);
    cr_assert_eq(testenv_server_stop(&srv), 0);
    write_file(srv.spool_dir, "spool.log", line);
    write_file(srv.spool_dir, "spool.offset", "0");
    srv.port = 0;
    testenv_server_start(&srv, NULL);
    wait_ready(&srv, 30);
    cr_assert_eq(pg_long("SELECT count(*) FROM reports WHERE hostname = 'old.example.com'"
                         " AND id = '0195a9b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b'",
                         NULL),
                 1, "the old unit was not replayed, see %s", srv.log_path);
    /* findings converted to flags: bit 5 (linked) true and known */
    cr_assert_eq(pg_long("SELECT flags FROM reports WHERE hostname = 'old.example.com'", NULL),
                 32 | 2048);
    cr_assert_eq(pg_long("SELECT sum(reports) FROM rollup_group_hourly"
                         " WHERE group_id = '0123456789abcdef'",
                         NULL),
                 1);
    cr_assert_eq(testenv_server_stop(&srv), 0);
}

Test(durability, sigterm_under_load_exits_0_and_loses_nothing)
{
    testenv_server_start(&srv, NULL);
    int stop = 0;
    struct client cs[6];
    unsigned ports[] = {srv.port};
    clients_start(cs, 6, ports, 1, 0, &stop);
    testenv_sleep_ms(700);
    int rc = testenv_server_stop(&srv); /* SIGTERM while requests are in flight */
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    struct ids all = {0};
    clients_join(cs, 6, &all, NULL);
    cr_assert_eq(rc, 0, "exit status %d after SIGTERM, see %s", rc, srv.log_path);
    cr_assert_gt(all.n, 0);
    assert_exactly_stored(&all);
    free(all.v);
}

Test(durability, full_spool_answers_503_with_retry_after_and_keeps_every_200)
{
    static const char *const env[] = {"PINWATCH_SPOOL_MAX=4096", NULL};
    testenv_server_start(&srv, env);
    /* One report while PostgreSQL is up, so the spooled units need no certificate rows. */
    struct ids all = {0};
    char id[37];
    cr_assert_eq(post_fixture(srv.port, HPKP_FIXTURE, id, NULL), 200);
    ids_add(&all, id);
    testenv_pg_stop(&pg);

    struct testenv_response r = {0};
    int st = 0, spooled = 0;
    for (int i = 0; i < 50; i++) {
        testenv_response_free(&r);
        st = post_fixture(srv.port, HPKP_FIXTURE, id, &r);
        if (st != 200)
            break;
        ids_add(&all, id);
        spooled++;
    }
    cr_assert_gt(spooled, 0, "the spool took no report at all (status %d: %s)", st, r.body);
    cr_assert_eq(st, 503, "status %d after %d spooled reports: %s", st, spooled, r.body);
    char *retry = testenv_response_header(&r, "Retry-After");
    cr_assert_not_null(retry, "503 without Retry-After");
    cr_assert_gt(atoi(retry), 0, "Retry-After: %s", retry);
    free(retry);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "spool_full", "%s",
                     r.body);
    testenv_response_free(&r);

    testenv_pg_start(&pg);
    wait_ready(&srv, 30);
    assert_exactly_stored(&all);
    /* Drained, the spool takes reports again and PostgreSQL does. */
    cr_assert_eq(post_fixture(srv.port, HPKP_FIXTURE, id, NULL), 200);
    ids_add(&all, id);
    assert_exactly_stored(&all);
    free(all.v);
}

Test(durability, two_servers_one_database_under_concurrent_load)
{
    /* One node commits with three writers side by side, the other with one. */
    static const char *const env[] = {"PINWATCH_WRITERS=3", NULL};
    testenv_server_start(&srv, env);
    testenv_server_start(&srv2, NULL);
    struct client cs[8];
    unsigned ports[] = {srv.port, srv2.port};
    clients_start(cs, 8, ports, 2, 20, NULL);
    struct ids all = {0};
    int last = 0;
    int other = clients_join(cs, 8, &all, &last);
    cr_assert_eq(other, 0, "%d posts were not answered 200 (last: %d), see %s and %s", other, last,
                 srv.log_path, srv2.log_path);
    cr_assert_eq(all.n, 8 * 20);
    assert_exactly_stored(&all);
    /* Either node's read merges both nodes' queued rollup rows. */
    cr_assert_eq(group_list_reports(), (long)all.n);
    cr_assert_eq(testenv_server_stop(&srv), 0);
    cr_assert_eq(testenv_server_stop(&srv2), 0);
    free(all.v);
}

/* ---- transient errors and refused units during replay (SPEC 9) ---- */

/* Replace the merge with one that fails with the SQLSTATE in test_fault while it is set (a
 * full disk, a statement timeout, ...), and passes otherwise. */
static void install_fault(const char *sqlstate)
{
    char sql[256];
    pg_exec("CREATE TABLE test_fault (state text)");
    snprintf(sql, sizeof(sql), "INSERT INTO test_fault VALUES ('%s')", sqlstate);
    pg_exec(sql);
    pg_exec("ALTER FUNCTION pinwatch_store_staged() RENAME TO pinwatch_store_staged_real");
    pg_exec("CREATE FUNCTION pinwatch_store_staged() RETURNS bigint LANGUAGE plpgsql AS $$"
            "DECLARE s text := (SELECT state FROM test_fault); BEGIN "
            "IF s IS NOT NULL THEN RAISE EXCEPTION 'fault on purpose' USING ERRCODE = s; END IF; "
            "RETURN pinwatch_store_staged_real(); END$$");
}

static long metric(const char *name)
{
    struct testenv_response m;
    cr_assert_eq(testenv_http(srv.port, "GET", "/metrics", NULL, NULL, 0, false, &m), 200);
    char key[128];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *at = strstr(m.body, key);
    cr_assert_not_null(at, "no %s in /metrics", name);
    long v = strtol(at + strlen(key), NULL, 10);
    testenv_response_free(&m);
    return v;
}

Test(durability, a_full_disk_or_a_timeout_during_replay_waits_and_loses_nothing)
{
    testenv_server_start(&srv, NULL);
    struct ids all = {0};
    char id[37];
    cr_assert_eq(post_fixture(srv.port, 0, id, NULL), 200);
    ids_add(&all, id);
    install_fault("53100"); /* disk_full */
    testenv_pg_stop(&pg);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(post_fixture(srv.port, (size_t)i % N_FIXTURES, id, NULL), 200);
        ids_add(&all, id);
    }
    testenv_pg_start(&pg);
    testenv_sleep_ms(2500); /* replay runs into the full disk, round after round */
    cr_assert_eq(metric("pinwatch_spool_depth"), 6, "units left the spool unstored, see %s",
                 srv.log_path);
    pg_exec("UPDATE test_fault SET state = '57014'"); /* query_canceled: statement timeout */
    testenv_sleep_ms(2000);
    cr_assert_eq(metric("pinwatch_spool_depth"), 6, "units left the spool unstored, see %s",
                 srv.log_path);
    pg_exec("UPDATE test_fault SET state = '53200'"); /* out_of_memory */
    testenv_sleep_ms(1500);
    char reason[64];
    cr_assert_eq(readyz(&srv, reason, sizeof(reason)), 503);
    cr_assert_str_eq(reason, "spooling");
    pg_exec("UPDATE test_fault SET state = NULL");
    wait_ready(&srv, 60);
    assert_exactly_stored(&all);
    cr_assert_eq(metric("pinwatch_spool_quarantine_units"), 0);
    cr_assert_eq(testenv_server_stop(&srv), 0);
    free(all.v);
}

Test(durability, a_held_lock_spools_live_reports_and_replay_waits_for_it)
{
    /* Lock waits end after 300 ms (55P03) instead of hanging a commit. */
    pg_exec("ALTER ROLE CURRENT_USER SET lock_timeout = '300ms'");
    testenv_server_start(&srv, NULL);
    PGconn *locker = PQconnectdb(pg.conninfo);
    cr_assert_eq(PQstatus(locker), CONNECTION_OK);
    PGresult *r = PQexec(locker, "BEGIN; LOCK TABLE reports IN ACCESS EXCLUSIVE MODE");
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(locker));
    PQclear(r);
    struct ids all = {0};
    for (int i = 0; i < 4; i++) {
        char id[37];
        struct testenv_response resp;
        int st = post_fixture(srv.port, (size_t)i % N_FIXTURES, id, &resp);
        cr_assert_eq(st, 200, "post %d while the lock is held: %d %s", i, st, resp.body);
        testenv_response_free(&resp);
        ids_add(&all, id);
    }
    testenv_sleep_ms(2000); /* replay rounds time out on the lock */
    cr_assert_eq(metric("pinwatch_spool_depth"), 4, "see %s", srv.log_path);
    r = PQexec(locker, "COMMIT");
    PQclear(r);
    PQfinish(locker);
    wait_ready(&srv, 60);
    assert_exactly_stored(&all);
    cr_assert_eq(testenv_server_stop(&srv), 0);
    free(all.v);
}

static const char poison_body[] =
    "{\"app-bundle-id\":\"com.example.poison\",\"hostname\":\"poison.example.com\","
    "\"known-pins\":[\"pin-sha256=\\\"rFjc3wG7lTZe43zeYTvPq8k4xdDEutCmIhI5dn4oCeE=\\\"\"]}";

Test(durability, a_unit_postgres_refuses_goes_to_the_quarantine_listed_and_counted)
{
    testenv_server_start(&srv, NULL);
    /* The merge refuses (23514, check_violation) any batch holding the poison report. */
    pg_exec("ALTER FUNCTION pinwatch_store_staged() RENAME TO pinwatch_store_staged_real");
    pg_exec("CREATE FUNCTION pinwatch_store_staged() RETURNS bigint LANGUAGE plpgsql AS $$BEGIN "
            "IF EXISTS (SELECT 1 FROM pg_temp.pinwatch_stage WHERE hostname = "
            "'poison.example.com') THEN RAISE EXCEPTION 'refused on purpose' USING ERRCODE = "
            "'23514'; END IF; RETURN pinwatch_store_staged_real(); END$$");
    testenv_pg_stop(&pg);
    struct ids good = {0};
    char id[37], poison[37] = "";
    for (int i = 0; i < 6; i++) {
        if (i == 3) {
            struct testenv_response resp;
            cr_assert_eq(testenv_post_report(&srv, poison_body, strlen(poison_body), NULL, &resp),
                         200, "%s", resp.body);
            const char *pid =
                json_string_value(json_array_get(json_object_get(resp.json, "accepted"), 0));
            cr_assert_not_null(pid);
            snprintf(poison, sizeof(poison), "%s", pid);
            testenv_response_free(&resp);
        }
        cr_assert_eq(post_fixture(srv.port, (size_t)i % N_FIXTURES, id, NULL), 200);
        ids_add(&good, id);
    }
    testenv_pg_start(&pg);
    wait_ready(&srv, 60); /* drained: the good units stored, the poison one quarantined */
    assert_exactly_stored(&good);
    cr_assert_eq(metric("pinwatch_spool_quarantined_units_total"), 1);
    cr_assert_eq(metric("pinwatch_spool_quarantine_units"), 1);

    struct testenv_response q;
    cr_assert_eq(testenv_get(&srv, "/v1/spool/quarantine", &q), 200, "%s", q.body);
    json_t *units = json_object_get(q.json, "units");
    cr_assert_eq(json_array_size(units), 1, "%s", q.body);
    json_t *u = json_array_get(units, 0);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(u, "report_ids"), 0)), poison,
                     "%s", q.body);
    cr_assert_not_null(strstr(json_string_value(json_object_get(u, "reason")), "23514"), "%s",
                       q.body);
    cr_assert_eq(json_integer_value(json_object_get(u, "reports")), 1);
    testenv_response_free(&q);
    /* Admin only. */
    cr_assert_eq(testenv_http(srv.port, "GET", "/v1/spool/quarantine", NULL, NULL, 0, false, &q),
                 401);
    testenv_response_free(&q);

    /* Kept across a restart, bytes and all. */
    cr_assert_eq(testenv_server_stop(&srv), 0);
    char path[400];
    snprintf(path, sizeof(path), "%s/quarantine.log", srv.spool_dir);
    size_t len = 0;
    char *text = testenv_read_file(path, &len);
    cr_assert_not_null(strstr(text, "\"line_base64\":\""), "%s", text);
    free(text);
    srv.port = 0;
    testenv_server_start(&srv, NULL);
    cr_assert_eq(metric("pinwatch_spool_quarantine_units"), 1);
    cr_assert_eq(testenv_get(&srv, "/v1/spool/quarantine?limit=1", &q), 200, "%s", q.body);
    cr_assert_eq(json_array_size(json_object_get(q.json, "units")), 1, "%s", q.body);
    cr_assert(json_is_null(json_object_get(q.json, "next_cursor")), "%s", q.body);
    testenv_response_free(&q);
    cr_assert_eq(testenv_server_stop(&srv), 0);
    free(good.v);
}

/* ---- certificate text that is not UTF-8 (SPEC 4, 9) ---- */

/* A TrustKit report whose validated chain is one new self-signed certificate with a Latin-1
 * byte in a DNS SAN (new string). */
static char *latin1_report(void)
{
    struct testcert *tc = testcert_new_leaf(
        &(struct testcert_opts){.cn = "cafe.example.com",
                                .sans = (const char *[]){"caf\xe9.example.com", NULL}},
        NULL);
    cr_assert_not_null(tc);
    char pin[45], known[64];
    testcert_pin(tc, pin);
    snprintf(known, sizeof(known), "pin-sha256=\"%s\"", pin);
    json_t *doc = json_pack("{s:s, s:s, s:[s], s:[s]}", "app-bundle-id", "com.example.latin1",
                            "hostname", "cafe.example.com", "known-pins", known,
                            "validated-certificate-chain", testcert_pem(tc));
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    testcert_free(tc);
    return body;
}

static void post_latin1(struct ids *all)
{
    char *body = latin1_report();
    struct testenv_response r;
    int st = testenv_post_report(&srv, body, strlen(body), NULL, &r);
    cr_assert_eq(st, 200, "%d %s", st, r.body);
    ids_add(all, json_string_value(json_array_get(json_object_get(r.json, "accepted"), 0)));
    testenv_response_free(&r);
    free(body);
}

static void assert_latin1_read_back(const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/reports/%s", id);
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, path, &r), 200, "%s", r.body);
    json_t *cert = json_array_get(json_object_get(r.json, "validated_chain"), 0);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(cert, "sans"), 0)),
                     "caf\\E9.example.com", "%s", r.body);
    cr_assert_not_null(strstr(r.body, "certificate_text_not_utf8"), "%s", r.body);
    testenv_response_free(&r);
}

Test(durability, a_san_that_is_not_utf8_is_stored_live_and_through_the_spool)
{
    testenv_server_start(&srv, NULL);
    struct ids all = {0};
    post_latin1(&all); /* PostgreSQL up */
    testenv_pg_stop(&pg);
    post_latin1(&all); /* spooled */
    post_latin1(&all);
    testenv_pg_start(&pg);
    wait_ready(&srv, 60);
    assert_exactly_stored(&all);
    for (size_t i = 0; i < all.n; i++)
        assert_latin1_read_back(all.v[i]);
    cr_assert_eq(metric("pinwatch_spool_quarantine_units"), 0);
    cr_assert_eq(testenv_server_stop(&srv), 0);
    free(all.v);
}
