/*
 * config — the one table of settings: environment variable, --flag, default, bounds, help.
 * Parsing, validation, `pinwatch help` and the README table all come from the same rows.
 * After config_load the struct is read-only and passed by const pointer.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "base/err.h"

/* PINWATCH_TRUST_STORE when unset: the Debian system bundle of public roots. */
#define CONFIG_DEFAULT_TRUST_STORE "/etc/ssl/certs/ca-certificates.crt"

struct config_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix;
};

struct config {
    /* network */
    char *listen; /* text as given */
    struct sockaddr_storage listen_addr;
    socklen_t listen_addr_len;
    unsigned max_connections;
    unsigned max_connections_per_ip;
    unsigned connection_timeout; /* seconds of inactivity */
    unsigned header_timeout;     /* seconds to send a request's whole header */
    char *metrics_listen;        /* "" = no separate metrics listener */
    struct sockaddr_storage metrics_listen_addr;
    socklen_t metrics_listen_addr_len;
    /* database */
    char *database_url;
    char *migrations_dir;
    char *functions_dir; /* sql/functions: the repeatable files */
    /* admin */
    char *admin_token; /* from PINWATCH_ADMIN_TOKEN or the token file; may be NULL */
    char *admin_token_file;
    /* ingest limits */
    size_t max_body;
    unsigned max_json_depth;
    unsigned max_reports_per_body;
    unsigned max_chain;
    unsigned max_pins;
    size_t max_string;
    /* clients */
    char *trusted_proxies_text;
    struct config_cidr *trusted_proxies;
    size_t n_trusted_proxies;
    char *rate_limit_text;
    unsigned rate_limit_count;  /* 0 = off */
    unsigned rate_limit_period; /* seconds */
    char *allowed_apps;         /* comma list, NULL/empty = all */
    char *allowed_hosts;
    bool store_client_ip;
    /* analysis */
    char *trust_store;
    char *legacy_roots; /* formerly public roots (SPEC 6.1); NULL/empty = none */
    char *expected_keys;
    char *asn_db;
    char *catalog;
    char *public_url; /* PINWATCH_PUBLIC_URL; NULL when unset */
    /* durability */
    char *spool_dir;
    size_t spool_max;  /* bytes; beyond it the spool refuses (503) */
    char *signing_key; /* Ed25519 private key (PEM) signing exports; NULL: generated next to
                          the spool */
    unsigned batch_max;
    unsigned batch_wait_ms;
    unsigned writers;
    /* alerts and retention (SPEC 10) */
    char *alert_webhook_url; /* NULL/empty: alerts are recorded, not sent */
    char *alert_webhook_secret;
    unsigned alert_interval;     /* seconds between rule evaluations */
    unsigned alert_timeout;      /* seconds a webhook try may take */
    unsigned retention_days;     /* 0 = keep everything */
    unsigned retention_interval; /* seconds between retention runs */
    /* misc */
    char *log_level;
};

/* Where `make run` records its database, relative to the clone (the current folder). */
#define CONFIG_RUN_DATABASE_URL_FILE "var/database-url"

/* Each setting takes its flag (--name value or --name=value), else its environment variable,
 * else its default; only that value is checked. Without DATABASE_URL, the one `make run`
 * recorded in CONFIG_RUN_DATABASE_URL_FILE is used, if any. Every bad setting is reported on
 * `errors` (one line each, "pinwatch: PINWATCH_X (--x): ..."); returns ERR_INVALID if any. */
enum err_code config_load(struct config *cfg, int argc, char **argv, FILE *errors) ERR_MUSTCHECK;
void config_cleanup(struct config *cfg);

/* The database URL `make run` recorded (new string), or NULL when there is none. */
char *config_run_database_url(void);
/* The one line a command that needs a database prints without one. */
void config_print_no_database(FILE *out, const char *cmd);
/* "PINWATCH_X (--x)": how every message names the setting whose variable is env. */
void config_setting_name(const char *env, char *out, size_t outlen);

/* Print the settings table (flag, variable, default, meaning) for `pinwatch help`. */
void config_print_help(FILE *out);
/* Log the effective configuration at INFO, secrets redacted. */
void config_log(const struct config *cfg);

/* Parse "host:port" / "[v6]:port" into a socket address. */
enum err_code config_parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *len,
                                  struct err *err);
/* Parse "a.b.c.d/n, v6/n, ..." (a bare address means a host prefix). New array in *out. */
enum err_code config_parse_cidrs(const char *text, struct config_cidr **out, size_t *n,
                                 struct err *err);
bool config_cidr_contains(const struct config_cidr *c, const struct sockaddr *sa);
/* Parse "600/min", "10/s", "1000/hour", "0" or "off". */
enum err_code config_parse_rate(const char *text, unsigned *count, unsigned *period,
                                struct err *err);
/* Parse a size: "65536", "64k", "1m", "2g" (binary units). */
enum err_code config_parse_size(const char *text, size_t *out, struct err *err);

#endif
