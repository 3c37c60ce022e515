/* Foundation: the real server against the real database — health, readiness, auth gate,
 * configuration errors, migrations recorded, graceful stop. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testenv.h"

static struct testenv_server srv;

static void setup(void)
{
    testenv_reset_db();
    memset(&srv, 0, sizeof(srv));
    testenv_server_start(&srv, NULL);
}

static void teardown(void)
{
    if (srv.pid > 0)
        testenv_server_kill(&srv);
}

TestSuite(foundation, .init = setup, .fini = teardown, .timeout = 120);

Test(foundation, healthz_and_readyz_answer_200)
{
    struct testenv_response r;
    cr_assert_eq(testenv_http(srv.port, "GET", "/healthz", NULL, NULL, 0, false, &r), 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "ok");
    char *ct = testenv_response_header(&r, "Content-Type");
    cr_assert_str_eq(ct, "application/json");
    free(ct);
    testenv_response_free(&r);
    cr_assert_eq(testenv_http(srv.port, "GET", "/readyz", NULL, NULL, 0, false, &r), 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "ready");
    testenv_response_free(&r);
}

Test(foundation, migrations_are_recorded_once)
{
    long n = testenv_db_long("SELECT count(*) FROM schema_migrations");
    cr_assert_geq(n, 1);
    /* A second start applies nothing new and keeps the same rows. */
    testenv_server_stop(&srv);
    testenv_server_start(&srv, NULL);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM schema_migrations"), n);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM pg_class WHERE relname = 'reports'"), 1);
}

Test(foundation, admin_paths_need_the_token)
{
    struct testenv_response r;
    cr_assert_eq(testenv_http(srv.port, "GET", "/v1/reports", NULL, NULL, 0, false, &r), 401);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "unauthorized");
    testenv_response_free(&r);
    /* Unknown /v1/ path without a token: 401 too (checked before routing). */
    cr_assert_eq(testenv_http(srv.port, "GET", "/v1/nope", NULL, NULL, 0, false, &r), 401);
    testenv_response_free(&r);
    cr_assert_eq(testenv_http(srv.port, "GET", "/v1/nope", "Authorization: Bearer wrong\r\n", NULL,
                              0, false, &r),
                 401);
    testenv_response_free(&r);
    /* With the token, the unknown path is a plain 404. */
    cr_assert_eq(testenv_get(&srv, "/v1/nope", &r), 404);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "not_found");
    testenv_response_free(&r);
}

Test(foundation, readyz_is_503_with_a_reason_when_postgresql_stops)
{
    /* A cluster of this test's own, so stopping it disturbs no other test. */
    struct testenv_pg pg;
    testenv_pg_create(&pg, "readyz");
    struct testenv_server other;
    memset(&other, 0, sizeof(other));
    other.conninfo = pg.conninfo;
    testenv_server_start(&other, NULL);
    struct testenv_response r;
    cr_assert_eq(testenv_http(other.port, "GET", "/readyz", NULL, NULL, 0, false, &r), 200);
    testenv_response_free(&r);

    testenv_pg_stop(&pg);
    int status = testenv_http(other.port, "GET", "/readyz", NULL, NULL, 0, false, &r);
    cr_assert_eq(status, 503, "readyz answered %d: %s", status, r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "unavailable");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "reason")), "database_unreachable");
    char *ra = testenv_response_header(&r, "Retry-After");
    cr_assert_not_null(ra);
    free(ra);
    testenv_response_free(&r);
    /* The process stays up, and readiness returns with the database. */
    cr_assert_eq(testenv_http(other.port, "GET", "/healthz", NULL, NULL, 0, false, &r), 200);
    testenv_response_free(&r);
    testenv_pg_start(&pg);
    cr_assert_eq(testenv_http(other.port, "GET", "/readyz", NULL, NULL, 0, false, &r), 200);
    testenv_response_free(&r);
    cr_assert_eq(testenv_server_stop(&other), 0);
    testenv_pg_destroy(&pg);
}

Test(foundation, sigterm_exits_zero)
{
    cr_assert_eq(testenv_server_stop(&srv), 0);
}

static int run_pinwatch(const char *env, const char *arg, char *out, size_t outlen)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "env %s DATABASE_URL='%s' %s serve %s 2>&1", env, testenv_conninfo(),
             PINWATCH_BIN, arg);
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(foundation, bad_configuration_stops_start_up_with_one_message_each)
{
    char out[4096];
    int rc = run_pinwatch("PINWATCH_LISTEN=nonsense PINWATCH_MAX_BODY=-3", "", out, sizeof(out));
    cr_assert_neq(rc, 0);
    cr_assert(strstr(out, "PINWATCH_LISTEN") != NULL, "%s", out);
    cr_assert(strstr(out, "PINWATCH_MAX_BODY") != NULL, "%s", out);
    rc = run_pinwatch("PINWATCH_RATE_LIMIT=fast", "", out, sizeof(out));
    cr_assert_neq(rc, 0);
    cr_assert(strstr(out, "PINWATCH_RATE_LIMIT") != NULL, "%s", out);
    rc = run_pinwatch("", "--trusted-proxies 10.0.0.0/99", out, sizeof(out));
    cr_assert_neq(rc, 0);
    cr_assert(strstr(out, "PINWATCH_TRUSTED_PROXIES") != NULL, "%s", out);
    rc = run_pinwatch("", "--no-such-flag 1", out, sizeof(out));
    cr_assert_neq(rc, 0);
    cr_assert(strstr(out, "unknown option") != NULL, "%s", out);
}
