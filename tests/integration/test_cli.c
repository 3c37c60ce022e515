/* The command line as a new user meets it: --help on every subcommand, one clear line and
 * exit 2 without a database (before any configuration is logged), the database `make run`
 * recorded found from the clone, flags winning over the environment, and a bad file named by
 * the setting that points at it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testenv.h"

static struct testenv_server srv;
static char workdir[] = "/tmp/pinwatch-cli-XXXXXX";

static void setup(void)
{
    testenv_reset_db();
    memset(&srv, 0, sizeof(srv));
    testenv_server_start(&srv, NULL); /* applies the migrations */
    cr_assert_not_null(mkdtemp(workdir));
}

static void teardown(void)
{
    if (srv.pid > 0)
        testenv_server_kill(&srv);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", workdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 120);

/* Run `sh -c cmd` in workdir with DATABASE_URL unset; stdout+stderr in out. Exit status. */
static int run_in(const char *dir, const char *cmd, char *out, size_t outlen)
{
    char full[2048];
    snprintf(full, sizeof(full), "cd %s && env -u DATABASE_URL %s 2>&1", dir, cmd);
    FILE *p = popen(full, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

Test(cli, help_on_every_subcommand)
{
    static const char *const cmds[] = {"serve",          "migrate", "export", "verify",
                                       "rotation-check", "spki",    "version"};
    char out[16384], cmd[512];
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        snprintf(cmd, sizeof(cmd), "%s %s --help", PINWATCH_BIN, cmds[i]);
        cr_assert_eq(run_in(workdir, cmd, out, sizeof(out)), 0, "%s: %s", cmd, out);
        char want[64];
        snprintf(want, sizeof(want), "usage: pinwatch %s", cmds[i]);
        cr_assert_eq(strncmp(out, want, strlen(want)), 0, "%s:\n%s", cmd, out);
        cr_assert_null(strstr(out, "INFO"), "%s:\n%s", cmd, out);
    }
    snprintf(cmd, sizeof(cmd), "%s export --help", PINWATCH_BIN);
    run_in(workdir, cmd, out, sizeof(out));
    cr_assert(strstr(out, "--app-version") != NULL, "%s", out);
    cr_assert_null(strstr(out, "app_version"), "flags are spelled with dashes:\n%s", out);
}

Test(cli, missing_database_is_one_line_and_exit_2)
{
    char pem[512];
    snprintf(pem, sizeof(pem), "%s/chain.pem", workdir);
    FILE *f = fopen(pem, "w");
    cr_assert_not_null(f);
    fputs("not a certificate\n", f);
    fclose(f);
    static const char *const args[] = {"serve", "migrate", "export --out b.tar.gz",
                                       "rotation-check --host api.example.com chain.pem"};
    char out[16384], cmd[512];
    for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
        snprintf(cmd, sizeof(cmd), "%s %s", PINWATCH_BIN, args[i]);
        cr_assert_eq(run_in(workdir, cmd, out, sizeof(out)), 2, "%s: %s", cmd, out);
        cr_assert_eq(count_lines(out), 1, "%s: one line expected:\n%s", cmd, out);
        cr_assert(strstr(out, "no database") != NULL, "%s: %s", cmd, out);
        cr_assert(strstr(out, "DATABASE_URL") != NULL, "%s: %s", cmd, out);
    }
}

/* `make run` records its database in var/database-url; the CLI run from the clone uses it. */
Test(cli, export_and_rotation_check_find_the_make_run_database)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/var", workdir);
    cr_assert_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/var/database-url", workdir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "%s\n", testenv_conninfo());
    fclose(f);

    char out[16384], cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s export --out b.tar.gz --app-version 1.0", PINWATCH_BIN);
    cr_assert_eq(run_in(workdir, cmd, out, sizeof(out)), 0, "%s", out);
    cr_assert(strstr(out, "wrote b.tar.gz") != NULL, "%s", out);
    snprintf(path, sizeof(path), "%s/b.tar.gz", workdir);
    cr_assert_eq(access(path, R_OK), 0);

    /* A real chain (the tests' public fixture); no pin set seen: nothing breaks, exit 0. */
    snprintf(
        cmd, sizeof(cmd), "%s rotation-check --host=api.example.com %s/%s", PINWATCH_BIN,
        FIXTURES_DIR,
        "chromium-blocklist/00309c736dd661da6f1eb24173aa849944c168a43a15bffd192eecfdb6f8dbd2.pem");
    cr_assert_eq(run_in(workdir, cmd, out, sizeof(out)), 0, "%s", out);
    cr_assert(strstr(out, "0 pin set(s) would break") != NULL, "%s", out);

    /* An explicit DATABASE_URL still wins over the recorded one. */
    snprintf(cmd, sizeof(cmd),
             "env DATABASE_URL='host=/nonexistent dbname=x' %s export --out c.tar.gz",
             PINWATCH_BIN);
    cr_assert_eq(run_in(workdir, cmd, out, sizeof(out)), 2, "%s", out);
    cr_assert(strstr(out, "/nonexistent") != NULL, "%s", out);
}

/* A flag wins over the environment: the environment's bad value is not even checked. */
Test(cli, serve_flag_wins_over_the_environment)
{
    char out[65536], cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "PINWATCH_MAX_BODY=10 DATABASE_URL='%s' PINWATCH_SPOOL_DIR=%s/spool timeout -s TERM 8 "
             "%s serve --max-body 2000 --listen 127.0.0.1:0",
             testenv_conninfo(), workdir, PINWATCH_BIN);
    int rc = run_in(workdir, cmd, out, sizeof(out));
    cr_assert(strstr(out, "config PINWATCH_MAX_BODY=2000") != NULL, "%s", out);
    cr_assert(strstr(out, "serving on") != NULL, "%s", out);
    cr_assert_eq(rc, 124, "stopped by timeout, not by a bad setting: %d\n%s", rc, out);
}

/* A catalog or trust store that exists but cannot be used is named by its setting. */
Test(cli, bad_catalog_and_trust_store_name_their_setting)
{
    char bad[512];
    snprintf(bad, sizeof(bad), "%s/garbage.txt", workdir);
    FILE *f = fopen(bad, "w");
    cr_assert_not_null(f);
    fputs("this is neither JSON nor PEM\n", f);
    fclose(f);
    static const char *const settings[][2] = {{"PINWATCH_CATALOG", "--catalog"},
                                              {"PINWATCH_TRUST_STORE", "--trust-store"}};
    char out[65536], cmd[1024], want[128];
    for (size_t i = 0; i < 2; i++) {
        snprintf(cmd, sizeof(cmd),
                 "%s=%s DATABASE_URL='%s' PINWATCH_SPOOL_DIR=%s/spool %s serve --listen "
                 "127.0.0.1:0",
                 settings[i][0], bad, testenv_conninfo(), workdir, PINWATCH_BIN);
        int rc = run_in(workdir, cmd, out, sizeof(out));
        cr_assert_neq(rc, 0, "%s", out);
        snprintf(want, sizeof(want), "%s (%s): ", settings[i][0], settings[i][1]);
        cr_assert(strstr(out, want) != NULL, "'%s' expected:\n%s", want, out);
    }
}

/* Migrations are forward-only: a file changed after it was applied stops `migrate` (and so the
 * server's start), naming the file, and changes nothing. */
Test(cli, a_changed_migration_is_refused)
{
    char admin[1024], cmd[4096], out[16384], dir[512], file[600];
    snprintf(admin, sizeof(admin), "%s dbname=postgres", testenv_conninfo());
    PGconn *c = PQconnectdb(admin);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    PQclear(PQexec(c, "DROP DATABASE IF EXISTS t_cli_migrate WITH (FORCE)"));
    PGresult *r = PQexec(c, "CREATE DATABASE t_cli_migrate");
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    char url[1024];
    snprintf(url, sizeof(url), "%s dbname=t_cli_migrate", testenv_conninfo());

    snprintf(dir, sizeof(dir), "%s/migrations", workdir);
    cr_assert_eq(mkdir(dir, 0700), 0);
    char functions[600];
    snprintf(functions, sizeof(functions), "%s/functions", workdir);
    cr_assert_eq(mkdir(functions, 0700), 0);
    snprintf(file, sizeof(file), "%s/0001_first.sql", dir);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("CREATE TABLE first_table (x integer);\n", f);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "%s migrate --migrations-dir %s --functions-dir %s --database-url \"%s\"",
             PINWATCH_BIN, dir, functions, url);
    cr_assert_eq(run_in(workdir, cmd, out, sizeof(out)), 0, "%s", out);
    cr_assert(strstr(out, "migrations applied: 1") != NULL, "%s", out);
    cr_assert_eq(run_in(workdir, cmd, out, sizeof(out)), 0, "%s", out);
    cr_assert(strstr(out, "migrations applied: 0") != NULL, "a second run applies nothing: %s",
              out);

    f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("CREATE TABLE first_table (x integer, y integer);\n", f);
    fclose(f);
    snprintf(file, sizeof(file), "%s/0002_second.sql", dir);
    f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("CREATE TABLE second_table (x integer);\n", f);
    fclose(f);
    cr_assert_neq(run_in(workdir, cmd, out, sizeof(out)), 0, "%s", out);
    cr_assert(strstr(out, "0001_first.sql was changed after it was applied") != NULL, "%s", out);

    c = PQconnectdb(url);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    r = PQexec(c, "SELECT count(*) FROM schema_migrations");
    cr_assert_str_eq(PQgetvalue(r, 0, 0), "1", "nothing applied after the refusal");
    PQclear(r);
    r = PQexec(c, "SELECT to_regclass('second_table') IS NULL");
    cr_assert_str_eq(PQgetvalue(r, 0, 0), "t", "the later migration did not run");
    PQclear(r);
    PQfinish(c);
}
