/* pinwatch — argv to subcommand, and wiring; nothing else. */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "base/config.h"
#include "base/log.h"
#include "cli/cli_export.h"
#include "cli/cli_policy.h"
#include "cli/cli_policy.h"
#include "cli/cli_rotation.h"
#include "cli/cli_spki.h"
#include "db/db.h"
#include "db/migrate.h"
#include "http/http_server.h"

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
    if (cfg.database_url == NULL || cfg.database_url[0] == '\0') {
        config_print_no_database(stderr, "serve");
        config_cleanup(&cfg);
        return 2;
    }
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
    if (cfg.database_url == NULL || cfg.database_url[0] == '\0') {
        config_print_no_database(stderr, "migrate");
        rc = 2;
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

static int cmd_version(int argc, char **argv)
{
    (void)argv;
    if (argc > 0) {
        fprintf(stderr, "usage: pinwatch version\n");
        return 2;
    }
    printf("pinwatch %s\n", PINWATCH_VERSION);
    return 0;
}

static int cmd_spki(int argc, char **argv)
{
    return cli_spki(argc, argv, stdout, stderr);
}

static int cmd_check_policy(int argc, char **argv)
{
    return cli_check_policy(argc, argv, stdout, stderr);
}

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;   /* arguments after the name */
    const char *summary; /* one line for `pinwatch help` */
    const char *detail;  /* printed by `pinwatch NAME --help`; may be NULL */
    bool settings;       /* --help also lists the settings table */
};

static const struct command commands[] = {
    {"serve", cmd_serve, "[--flag value ...]", "apply pending migrations and serve HTTP", NULL,
     true},
    {"migrate", cmd_migrate, "[--database-url URL]",
     "apply pending migrations and changed sql/functions files, and exit", NULL, true},
    {"export", cli_export,
     "--out FILE|- [--hostname H] [--app A] [--app-version V] [--platform P] [--network CIDR]\n"
     "          [--verdict V] [--group ID] [--from T] [--to T] [--database-url URL]",
     "write an evidence bundle (tar.gz) of the reports the filters select",
     "The filters are those of GET /v1/reports; --from/--to default to the last 7 days.\n"
     "Without --database-url or DATABASE_URL, the database `make run` recorded in\n"
     "var/database-url (current folder) is used.\n",
     false},
    {"verify", cli_verify, "FILE [--key PEM]",
     "re-check an evidence bundle against its manifest and its signature",
     "Checks the Ed25519 signature of MANIFEST.sha256 with --key (the public key you trust),\n"
     "else with the bundle's signing-key.pem, and prints the key's SHA-256 fingerprint.\n"
     "Exit 0 when the signature holds, every file matches the manifest and every raw body its\n"
     "raw_sha256, 1 when not.\n",
     false},
    {"rotation-check", cli_rotation_check, "--host HOSTNAME [--database-url URL] CHAIN.pem",
     "which pin sets seen in 30 days a new server chain would break",
     "CHAIN.pem: the candidate chain, leaf first. Exit 1 when any pin set would break, 0 when\n"
     "none, 2 on bad usage or no database (DATABASE_URL, --database-url, or the database\n"
     "`make run` recorded in var/database-url).\n",
     false},
    {"check-policy", cmd_check_policy, "[--chain FILE | --chain HOST=FILE ...] [--json] POLICY",
     "check an app's pin policy against the chains it will meet",
     "POLICY: an Android network_security_config.xml (with TrustKit-Android's trustkit-config)\n"
     "or a TrustKit Info.plist (XML or binary). --chain: PEM, leaf first; a bare FILE applies to\n"
     "every domain. Exit 1 when any finding is an error, 0 otherwise, 2 when the policy cannot\n"
     "be read.\n",
     false},
    {"spki", cmd_spki, "FILE.pem...", "print the pin-sha256 of every certificate in PEM files",
     NULL, false},
    {"version", cmd_version, "", "print the version", NULL, false},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage: pinwatch <command> [arguments]   (pinwatch <command> --help)\n\n"
                 "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-15s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-15s %s\n\n", "help", "this text and the settings table");
    config_print_help(out);
}

static void command_help(const struct command *c)
{
    printf("usage: pinwatch %s %s\n\n%s.\n", c->name, c->usage, c->summary);
    if (c->detail != NULL)
        printf("\n%s", c->detail);
    if (c->settings) {
        printf("\n");
        config_print_help(stdout);
    }
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    }
    return false;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(cmd, commands[i].name) != 0)
            continue;
        if (wants_help(argc - 2, argv + 2)) {
            command_help(&commands[i]);
            return 0;
        }
        return commands[i].run(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "pinwatch: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
