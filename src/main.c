/* pinwatch — argv to subcommand, and wiring; nothing else. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "base/config.h"
#include "base/log.h"
#include "cli/cli_export.h"
#include "cli/cli_rotation.h"
#include "cli/cli_spki.h"
#include "db/db.h"
#include "db/migrate.h"
#include "http/http_server.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: pinwatch <command> [--flag value ...]\n\n"
                 "commands:\n"
                 "  serve     apply pending migrations and serve HTTP\n"
                 "  migrate   apply pending migrations and changed sql/functions files, and exit\n"
                 "  export    write an evidence bundle: export --out FILE [--hostname H] ...\n"
                 "  verify    re-check an evidence bundle: verify FILE\n"
                 "  rotation-check --host H CHAIN.pem\n"
                 "            exit 1 when the chain would break a pin set seen in 30 days\n"
                 "  spki      print the pin-sha256 of every certificate in PEM files\n"
                 "  version   print the version\n"
                 "  help      this text and the settings table\n\n");
    config_print_help(out);
}

static int load_config(struct config *cfg, int argc, char **argv)
{
    if (config_load(cfg, argc, argv, stderr) != ERR_OK) {
        fprintf(stderr, "pinwatch: invalid configuration, not starting\n");
        config_cleanup(cfg);
        return -1;
    }
    log_set_level((enum log_level)log_level_from_name(cfg->log_level));
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    struct config cfg;
    if (load_config(&cfg, argc, argv) != 0)
        return 2;
    /* SIGTERM/SIGINT are blocked before any thread starts (threads inherit the mask), and the
     * main thread waits for them with sigwait: a signal cannot land on a worker thread or
     * slip in between a flag check and a pause. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    config_log(&cfg);
    struct api_context app;
    struct err e = {0};
    if (app_start(&app, &cfg, &e) != ERR_OK) {
        fprintf(stderr, "pinwatch: cannot start: %s\n", e.detail);
        config_cleanup(&cfg);
        return 1;
    }
    log_info("serving on %s (port %u)", cfg.listen, (unsigned)http_server_port(app.http));
    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0)
        ;
    log_info("shutting down on %s: finishing in-flight requests",
             sig == SIGINT ? "SIGINT" : "SIGTERM");
    app_stop(&app);
    config_cleanup(&cfg);
    log_info("stopped");
    return 0;
}

static int cmd_migrate(int argc, char **argv)
{
    struct config cfg;
    if (load_config(&cfg, argc, argv) != 0)
        return 2;
    int rc = 1;
    struct err e = {0};
    PGconn *conn = NULL;
    struct migrate_counts applied = {0, 0};
    if (cfg.database_url == NULL) {
        fprintf(stderr, "pinwatch: DATABASE_URL is required\n");
    } else if (db_connect(cfg.database_url, &conn, &e) != ERR_OK ||
               migrate_run(conn, cfg.migrations_dir, cfg.functions_dir, &applied, &e) != ERR_OK) {
        fprintf(stderr, "pinwatch: migrate failed: %s\n", e.detail);
    } else {
        printf("migrations applied: %d\nfunction files applied: %d\n", applied.migrations,
               applied.repeatables);
        rc = 0;
    }
    PQfinish(conn);
    config_cleanup(&cfg);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    if (strcmp(cmd, "migrate") == 0)
        return cmd_migrate(argc - 2, argv + 2);
    if (strcmp(cmd, "export") == 0)
        return cli_export(argc - 2, argv + 2);
    if (strcmp(cmd, "verify") == 0)
        return cli_verify(argc - 2, argv + 2);
    if (strcmp(cmd, "rotation-check") == 0)
        return cli_rotation_check(argc - 2, argv + 2);
    if (strcmp(cmd, "spki") == 0)
        return cli_spki(argc - 2, argv + 2, stdout, stderr);
    if (strcmp(cmd, "version") == 0) {
        printf("pinwatch %s\n", PINWATCH_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "pinwatch: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
