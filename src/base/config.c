#include "base/config.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/addr.h"
#include "base/log.h"

enum config_type { CT_STRING, CT_UINT, CT_SIZE, CT_BOOL };

struct config_row {
    const char *flag; /* --flag */
    const char *env;  /* environment variable */
    enum config_type type;
    size_t offset;
    const char *def; /* NULL = unset */
    unsigned long long min, max;
    bool secret;
    const char *help;
};

#define OFF(f) offsetof(struct config, f)

static const struct config_row rows[] = {
    {"listen", "PINWATCH_LISTEN", CT_STRING, OFF(listen), "127.0.0.1:8080", 0, 0, false,
     "address:port to serve on ([::1]:8080 for IPv6)"},
    {"database-url", "DATABASE_URL", CT_STRING, OFF(database_url), NULL, 0, 0, true,
     "libpq connection string or URI (required for serve)"},
    {"migrations-dir", "PINWATCH_MIGRATIONS_DIR", CT_STRING, OFF(migrations_dir),
     PINWATCH_SOURCE_DIR "/migrations", 0, 0, false, "folder of NNNN_name.sql migrations"},
    {"functions-dir", "PINWATCH_FUNCTIONS_DIR", CT_STRING, OFF(functions_dir),
     PINWATCH_SOURCE_DIR "/sql/functions", 0, 0, false,
     "folder of NN_area.sql function files, re-applied when changed"},
    {"admin-token", "PINWATCH_ADMIN_TOKEN", CT_STRING, OFF(admin_token), NULL, 0, 0, true,
     "bearer token for the admin API (/v1/ except ingest)"},
    {"admin-token-file", "PINWATCH_ADMIN_TOKEN_FILE", CT_STRING, OFF(admin_token_file), NULL, 0, 0,
     false, "file holding the admin token (first line)"},
    {"max-body", "PINWATCH_MAX_BODY", CT_SIZE, OFF(max_body), "65536", 256, 64u << 20, false,
     "largest request body in bytes (also for chunked bodies)"},
    {"max-json-depth", "PINWATCH_MAX_JSON_DEPTH", CT_UINT, OFF(max_json_depth), "32", 4, 1000,
     false, "deepest JSON nesting accepted"},
    {"max-reports-per-body", "PINWATCH_MAX_REPORTS_PER_BODY", CT_UINT, OFF(max_reports_per_body),
     "100", 1, 10000, false, "reports (or Reporting API items) per request"},
    {"max-chain", "PINWATCH_MAX_CHAIN", CT_UINT, OFF(max_chain), "16", 1, 256, false,
     "certificates per chain"},
    {"max-pins", "PINWATCH_MAX_PINS", CT_UINT, OFF(max_pins), "32", 1, 1024, false,
     "known-pins entries per report"},
    {"max-string", "PINWATCH_MAX_STRING", CT_SIZE, OFF(max_string), "16384", 64, 1u << 20, false,
     "longest string value in a report, in bytes"},
    {"max-connections", "PINWATCH_MAX_CONNECTIONS", CT_UINT, OFF(max_connections), "512", 4, 10000,
     false, "open HTTP connections in total"},
    {"max-connections-per-ip", "PINWATCH_MAX_CONNECTIONS_PER_IP", CT_UINT,
     OFF(max_connections_per_ip), "256", 1, 10000, false,
     "open HTTP connections per TCP peer address"},
    {"connection-timeout", "PINWATCH_CONNECTION_TIMEOUT", CT_UINT, OFF(connection_timeout), "15", 1,
     3600, false, "seconds a connection may stay idle"},
    {"metrics-listen", "PINWATCH_METRICS_LISTEN", CT_STRING, OFF(metrics_listen), "", 0, 0, false,
     "address:port of a second listener serving only /metrics, with every counter (empty = "
     "none)"},
    {"header-timeout", "PINWATCH_HEADER_TIMEOUT", CT_UINT, OFF(header_timeout), "10", 1, 3600,
     false, "seconds to send a whole request header (from the connection, or the previous answer)"},
    {"trusted-proxies", "PINWATCH_TRUSTED_PROXIES", CT_STRING, OFF(trusted_proxies_text), "", 0, 0,
     false, "CIDR list whose X-Forwarded-For is believed"},
    {"rate-limit", "PINWATCH_RATE_LIMIT", CT_STRING, OFF(rate_limit_text), "600/min", 0, 0, false,
     "accepted reports per client network per period (0 = off)"},
    {"allowed-apps", "PINWATCH_ALLOWED_APPS", CT_STRING, OFF(allowed_apps), "", 0, 0, false,
     "comma list of app bundle ids (empty = all)"},
    {"allowed-hosts", "PINWATCH_ALLOWED_HOSTS", CT_STRING, OFF(allowed_hosts), "", 0, 0, false,
     "comma list of hostnames, entries may start with *. (empty = all)"},
    {"store-client-ip", "PINWATCH_STORE_CLIENT_IP", CT_BOOL, OFF(store_client_ip), "0", 0, 1, false,
     "1 keeps full client addresses; default stores only the network prefix"},
    {"trust-store", "PINWATCH_TRUST_STORE", CT_STRING, OFF(trust_store), CONFIG_DEFAULT_TRUST_STORE,
     0, 0, false, "PEM bundle of public roots"},
    {"legacy-roots", "PINWATCH_LEGACY_ROOTS", CT_STRING, OFF(legacy_roots),
     PINWATCH_SOURCE_DIR "/data/legacy_roots.pem", 0, 0, false,
     "PEM bundle of formerly public roots with removal dates (empty = none)"},
    {"expected-keys", "PINWATCH_EXPECTED_KEYS", CT_STRING, OFF(expected_keys), NULL, 0, 0, false,
     "JSON file of expected server keys per host pattern"},
    {"public-url", "PINWATCH_PUBLIC_URL", CT_STRING, OFF(public_url), NULL, 0, 0, false,
     "this server's external URL: links in alerts; pin-policy checks flag report URIs elsewhere"},
    {"asn-db", "PINWATCH_ASN_DB", CT_STRING, OFF(asn_db), NULL, 0, 0, false,
     "MaxMind-format .mmdb for ASN / organisation / country"},
    {"catalog", "PINWATCH_CATALOG", CT_STRING, OFF(catalog),
     PINWATCH_SOURCE_DIR "/data/catalog.json", 0, 0, false, "interception catalog (JSON)"},
    {"spool-dir", "PINWATCH_SPOOL_DIR", CT_STRING, OFF(spool_dir), "var/spool", 0, 0, false,
     "durable spool used while PostgreSQL is unreachable"},
    {"signing-key", "PINWATCH_SIGNING_KEY", CT_STRING, OFF(signing_key), NULL, 0, 0, false,
     "Ed25519 private key (PEM) that signs evidence bundles (default: generated once, next to "
     "the spool)"},
    {"spool-max", "PINWATCH_SPOOL_MAX", CT_SIZE, OFF(spool_max), "1g", 4096, 1ull << 40, false,
     "largest spool size in bytes; beyond it ingest answers 503"},
    {"batch-max", "PINWATCH_BATCH_MAX", CT_UINT, OFF(batch_max), "500", 1, 10000, false,
     "reports per group commit"},
    {"batch-wait-ms", "PINWATCH_BATCH_WAIT_MS", CT_UINT, OFF(batch_wait_ms), "2", 0, 1000, false,
     "how long a writer waits to fill a batch"},
    {"writers", "PINWATCH_WRITERS", CT_UINT, OFF(writers), "1", 1, 16, false,
     "writer connections committing batches side by side"},
    /* the URL is redacted in logs too: a Slack-style webhook URL is a credential itself */
    {"alert-webhook-url", "PINWATCH_ALERT_WEBHOOK_URL", CT_STRING, OFF(alert_webhook_url), NULL, 0,
     0, true, "http(s) URL alerts are POSTed to (unset: alerts are recorded, not sent)"},
    {"alert-webhook-secret", "PINWATCH_ALERT_WEBHOOK_SECRET", CT_STRING, OFF(alert_webhook_secret),
     NULL, 0, 0, true, "HMAC-SHA256 key of the X-Pinwatch-Signature header"},
    {"alert-interval", "PINWATCH_ALERT_INTERVAL", CT_UINT, OFF(alert_interval), "30", 1, 86400,
     false, "seconds between evaluations of the alert rules"},
    {"alert-timeout", "PINWATCH_ALERT_TIMEOUT", CT_UINT, OFF(alert_timeout), "10", 1, 120, false,
     "seconds one webhook try may take (connect and answer)"},
    {"retention-days", "PINWATCH_RETENTION_DAYS", CT_UINT, OFF(retention_days), "0", 0, 36500,
     false, "drop report partitions older than this many days (0 = keep)"},
    {"retention-interval", "PINWATCH_RETENTION_INTERVAL", CT_UINT, OFF(retention_interval), "3600",
     1, 604800, false, "seconds between retention runs"},
    {"log-level", "PINWATCH_LOG_LEVEL", CT_STRING, OFF(log_level), "info", 0, 0, false,
     "error, warn, info or debug"},
};

#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

static bool parse_uint(const char *text, unsigned long long *out)
{
    if (text == NULL || !isdigit((unsigned char)text[0]))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

enum err_code config_parse_size(const char *text, size_t *out, struct err *err)
{
    if (text == NULL || !isdigit((unsigned char)text[0]))
        return err_set(err, ERR_INVALID, "invalid_size", "not a size");
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    unsigned shift = 0;
    if (*end != '\0') {
        switch (tolower((unsigned char)*end)) {
        case 'k':
            shift = 10;
            break;
        case 'm':
            shift = 20;
            break;
        case 'g':
            shift = 30;
            break;
        default:
            return err_set(err, ERR_INVALID, "invalid_size", "unknown unit");
        }
        end++;
        if (*end == 'b' || *end == 'B')
            end++;
        if (*end != '\0')
            return err_set(err, ERR_INVALID, "invalid_size", "trailing characters");
    }
    if (errno != 0 || v > (SIZE_MAX >> shift))
        return err_set(err, ERR_INVALID, "invalid_size", "too large");
    *out = (size_t)(v << shift);
    return ERR_OK;
}

static bool parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off", ""};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return true;
        }
    }
    for (size_t i = 0; i < 5; i++) {
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

enum err_code config_parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *len,
                                  struct err *err)
{
    char host[128];
    const char *colon;
    const char *port_text;
    memset(ss, 0, sizeof(*ss));
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
            return err_set(err, ERR_INVALID, "invalid_listen", "expected [ipv6]:port");
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port_text = close + 2;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL || (size_t)(colon - text) >= sizeof(host))
            return err_set(err, ERR_INVALID, "invalid_listen", "expected address:port");
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port_text = colon + 1;
    }
    unsigned long long port;
    if (!parse_uint(port_text, &port) || port > 65535)
        return err_set(err, ERR_INVALID, "invalid_listen", "port must be 0-65535");
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    struct addr a;
    if (!addr_parse_str(host, &a))
        return err_set(err, ERR_INVALID, "invalid_listen", "'%s' is not an IP address", host);
    addr_to_sockaddr(&a, (uint16_t)port, ss, len);
    return ERR_OK;
}

static enum err_code parse_one_cidr(const char *item, struct config_cidr *c, struct err *err)
{
    const char *slash = strchr(item, '/');
    size_t alen = slash != NULL ? (size_t)(slash - item) : strlen(item);
    struct addr a;
    if (!addr_parse(item, alen, &a))
        return err_set(err, ERR_INVALID, "invalid_cidr", "'%s' is not a CIDR prefix", item);
    memset(c, 0, sizeof(*c));
    c->family = a.family;
    memcpy(c->addr, a.bytes, sizeof(c->addr));
    c->prefix = (int)addr_bits(&a);
    if (slash != NULL) {
        unsigned long long p;
        if (!parse_uint(slash + 1, &p) || p > addr_bits(&a))
            return err_set(err, ERR_INVALID, "invalid_cidr", "bad prefix length in '%s'", item);
        c->prefix = (int)p;
    }
    return ERR_OK;
}

enum err_code config_parse_cidrs(const char *text, struct config_cidr **out, size_t *n,
                                 struct err *err)
{
    *out = NULL;
    *n = 0;
    if (text == NULL || text[0] == '\0')
        return ERR_OK;
    char *copy = strdup(text);
    /* Every separator strtok_r splits on may start another entry. */
    size_t cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == ',' || *p == ' ' || *p == '\t';
    struct config_cidr *list = calloc(cap, sizeof(*list));
    enum err_code rc = ERR_OK;
    if (copy == NULL || list == NULL) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    size_t count = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", \t", &save); tok != NULL;
         tok = strtok_r(NULL, ", \t", &save)) {
        rc = parse_one_cidr(tok, &list[count], err);
        if (rc != ERR_OK)
            goto out;
        count++;
    }
    *out = list;
    *n = count;
    list = NULL;
out:
    free(copy);
    free(list);
    return rc;
}

bool config_cidr_contains(const struct config_cidr *c, const struct sockaddr *sa)
{
    struct addr a, net = {.family = c->family};
    memcpy(net.bytes, c->addr, sizeof(net.bytes));
    return addr_from_sockaddr(sa, &a) && addr_in_prefix(&a, &net, (unsigned)c->prefix);
}

enum err_code config_parse_rate(const char *text, unsigned *count, unsigned *period,
                                struct err *err)
{
    if (strcmp(text, "0") == 0 || strcasecmp(text, "off") == 0) {
        *count = 0;
        *period = 1;
        return ERR_OK;
    }
    const char *slash = strchr(text, '/');
    char num[32];
    if (slash == NULL || (size_t)(slash - text) >= sizeof(num))
        return err_set(err, ERR_INVALID, "invalid_rate", "expected N/s, N/min or N/hour");
    memcpy(num, text, (size_t)(slash - text));
    num[slash - text] = '\0';
    unsigned long long v;
    if (!parse_uint(num, &v) || v == 0 || v > 100000000ull)
        return err_set(err, ERR_INVALID, "invalid_rate", "count must be 1-100000000");
    const char *unit = slash + 1;
    if (strcmp(unit, "s") == 0 || strcmp(unit, "sec") == 0 || strcmp(unit, "second") == 0)
        *period = 1;
    else if (strcmp(unit, "min") == 0 || strcmp(unit, "m") == 0 || strcmp(unit, "minute") == 0)
        *period = 60;
    else if (strcmp(unit, "h") == 0 || strcmp(unit, "hour") == 0)
        *period = 3600;
    else
        return err_set(err, ERR_INVALID, "invalid_rate", "unit must be s, min or hour");
    *count = (unsigned)v;
    return ERR_OK;
}

/* Every message about a setting starts the same way: "pinwatch: PINWATCH_X (--x): ". */
static void ERR_PRINTF(3, 4)
    bad_setting(FILE *errors, const struct config_row *row, const char *fmt, ...)
{
    fprintf(errors, "pinwatch: %s (--%s): ", row->env, row->flag);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(errors, fmt, ap);
    va_end(ap);
    fputc('\n', errors);
}

static const struct config_row *find_env(const char *env)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        if (strcmp(rows[i].env, env) == 0)
            return &rows[i];
    }
    return NULL;
}

void config_setting_name(const char *env, char *out, size_t outlen)
{
    const struct config_row *row = find_env(env);
    if (row != NULL)
        snprintf(out, outlen, "%s (--%s)", row->env, row->flag);
    else
        snprintf(out, outlen, "%s", env);
}

static bool set_row(struct config *cfg, const struct config_row *row, const char *value,
                    const char *source, FILE *errors)
{
    char *base = (char *)cfg;
    switch (row->type) {
    case CT_STRING: {
        char **slot = (char **)(base + row->offset);
        free(*slot);
        *slot = value != NULL ? strdup(value) : NULL;
        return true;
    }
    case CT_UINT: {
        unsigned long long v;
        if (!parse_uint(value, &v) || v < row->min || v > row->max) {
            bad_setting(errors, row, "'%s' (%s) must be an integer from %llu to %llu", value,
                        source, row->min, row->max);
            return false;
        }
        *(unsigned *)(base + row->offset) = (unsigned)v;
        return true;
    }
    case CT_SIZE: {
        size_t v;
        if (config_parse_size(value, &v, NULL) != ERR_OK || v < row->min || v > row->max) {
            bad_setting(errors, row,
                        "'%s' (%s) must be a size from %llu to %llu bytes (k, m, g suffixes "
                        "allowed)",
                        value, source, row->min, row->max);
            return false;
        }
        *(size_t *)(base + row->offset) = v;
        return true;
    }
    case CT_BOOL: {
        bool v;
        if (!parse_bool(value, &v)) {
            bad_setting(errors, row, "'%s' (%s) must be 0 or 1", value, source);
            return false;
        }
        *(bool *)(base + row->offset) = v;
        return true;
    }
    }
    return false;
}

static const struct config_row *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        if (strlen(rows[i].flag) == len && strncmp(rows[i].flag, name, len) == 0)
            return &rows[i];
    }
    return NULL;
}

static char *read_token_file(const char *path, FILE *errors)
{
    const struct config_row *row = find_env("PINWATCH_ADMIN_TOKEN_FILE");
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        bad_setting(errors, row, "cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    char line[1024];
    char *tok = NULL;
    if (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        tok = strdup(line);
    }
    fclose(f);
    if (tok == NULL || tok[0] == '\0') {
        bad_setting(errors, row, "'%s' is empty", path);
        free(tok);
        return NULL;
    }
    return tok;
}

static bool http_url(const char *u)
{
    return (strncasecmp(u, "http://", 7) == 0 && u[7] != '\0' && u[7] != '/') ||
           (strncasecmp(u, "https://", 8) == 0 && u[8] != '\0' && u[8] != '/');
}

static int validate_alerts(struct config *cfg, FILE *errors)
{
    int bad = 0;
    const char *url = cfg->alert_webhook_url;
    if (url != NULL && url[0] != '\0' && (!http_url(url) || strpbrk(url, " \t\r\n") != NULL)) {
        bad_setting(errors, find_env("PINWATCH_ALERT_WEBHOOK_URL"), "not an http(s) URL");
        bad++;
    }
    if (url != NULL && url[0] != '\0' &&
        (cfg->alert_webhook_secret == NULL || cfg->alert_webhook_secret[0] == '\0')) {
        bad_setting(errors, find_env("PINWATCH_ALERT_WEBHOOK_SECRET"),
                    "required with PINWATCH_ALERT_WEBHOOK_URL (alerts are always signed)");
        bad++;
    }
    const char *pub = cfg->public_url;
    if (pub != NULL && pub[0] != '\0' && (!http_url(pub) || strpbrk(pub, " \t\r\n") != NULL)) {
        bad_setting(errors, find_env("PINWATCH_PUBLIC_URL"), "'%s' is not an http(s) URL", pub);
        bad++;
    }
    return bad;
}

/* The files a setting names must be readable now, not at the first report. */
static int check_files(const struct config *cfg, FILE *errors)
{
    static const char *const envs[] = {"PINWATCH_TRUST_STORE", "PINWATCH_EXPECTED_KEYS",
                                       "PINWATCH_ASN_DB", "PINWATCH_CATALOG",
                                       "PINWATCH_LEGACY_ROOTS"};
    int bad = 0;
    for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
        const struct config_row *row = find_env(envs[i]);
        const char *path = *(char *const *)((const char *)cfg + row->offset);
        if (path != NULL && path[0] != '\0' && access(path, R_OK) != 0) {
            bad_setting(errors, row, "cannot read '%s': %s", path, strerror(errno));
            bad++;
        }
    }
    return bad;
}

/* Second pass: settings whose values need more than a type check, and cross-field rules. */
static int validate(struct config *cfg, FILE *errors)
{
    int bad = 0;
    struct err e = {0};
    if (config_parse_listen(cfg->listen, &cfg->listen_addr, &cfg->listen_addr_len, &e) != ERR_OK) {
        bad_setting(errors, find_env("PINWATCH_LISTEN"), "'%s' is not address:port (%s)",
                    cfg->listen, e.detail);
        bad++;
    }
    if (cfg->metrics_listen != NULL && cfg->metrics_listen[0] != '\0' &&
        config_parse_listen(cfg->metrics_listen, &cfg->metrics_listen_addr,
                            &cfg->metrics_listen_addr_len, &e) != ERR_OK) {
        fprintf(errors, "pinwatch: PINWATCH_METRICS_LISTEN: '%s' is not address:port (%s)\n",
                cfg->metrics_listen, e.detail);
        bad++;
    }
    if (config_parse_cidrs(cfg->trusted_proxies_text, &cfg->trusted_proxies,
                           &cfg->n_trusted_proxies, &e) != ERR_OK) {
        bad_setting(errors, find_env("PINWATCH_TRUSTED_PROXIES"), "%s", e.detail);
        bad++;
    }
    if (config_parse_rate(cfg->rate_limit_text, &cfg->rate_limit_count, &cfg->rate_limit_period,
                          &e) != ERR_OK) {
        bad_setting(errors, find_env("PINWATCH_RATE_LIMIT"), "'%s': %s", cfg->rate_limit_text,
                    e.detail);
        bad++;
    }
    if (log_level_from_name(cfg->log_level) < 0) {
        bad_setting(errors, find_env("PINWATCH_LOG_LEVEL"),
                    "'%s' must be error, warn, info or debug", cfg->log_level);
        bad++;
    }
    if (cfg->admin_token_file != NULL && cfg->admin_token_file[0] != '\0') {
        char *tok = read_token_file(cfg->admin_token_file, errors);
        if (tok == NULL) {
            bad++;
        } else {
            free(cfg->admin_token);
            cfg->admin_token = tok;
        }
    }
    if (cfg->admin_token != NULL && cfg->admin_token[0] == '\0') {
        free(cfg->admin_token);
        cfg->admin_token = NULL;
    }
    bad += check_files(cfg, errors);
    if (cfg->max_connections_per_ip > cfg->max_connections) {
        bad_setting(errors, find_env("PINWATCH_MAX_CONNECTIONS_PER_IP"),
                    "%u exceeds PINWATCH_MAX_CONNECTIONS (--max-connections) %u",
                    cfg->max_connections_per_ip, cfg->max_connections);
        bad++;
    }
    if (cfg->max_string > cfg->max_body)
        cfg->max_string = cfg->max_body;
    bad += validate_alerts(cfg, errors);
    return bad;
}

/* Which text each row takes: the flag, else the environment, else the default. Only the
 * winner is parsed, so a bad environment value that a flag overrides is no error. Returns the
 * number of bad arguments (reported on errors). */
static int pick_values(int argc, char **argv, const char *value[N_ROWS], const char *source[N_ROWS],
                       FILE *errors)
{
    int bad = 0;
    for (size_t i = 0; i < N_ROWS; i++) {
        value[i] = rows[i].def;
        source[i] = "default";
        const char *v = getenv(rows[i].env);
        if (v != NULL) {
            value[i] = v;
            source[i] = "environment";
        }
    }
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(errors, "pinwatch: unexpected argument '%s' (see --help)\n", arg);
            bad++;
            continue;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const struct config_row *row = find_flag(name, nlen);
        if (row == NULL) {
            fprintf(errors, "pinwatch: unknown option '%s' (see --help)\n", arg);
            bad++;
            continue;
        }
        const char *v = eq != NULL ? eq + 1 : NULL;
        if (v == NULL) {
            if (i + 1 >= argc) {
                bad_setting(errors, row, "the flag needs a value");
                bad++;
                continue;
            }
            v = argv[++i];
        }
        value[row - rows] = v;
        source[row - rows] = "flag";
    }
    return bad;
}

char *config_run_database_url(void)
{
    FILE *f = fopen(CONFIG_RUN_DATABASE_URL_FILE, "r");
    if (f == NULL)
        return NULL;
    char line[1024];
    char *url = NULL;
    if (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] != '\0')
            url = strdup(line);
    }
    fclose(f);
    return url;
}

void config_print_no_database(FILE *out, const char *cmd)
{
    fprintf(out,
            "pinwatch %s: no database: set DATABASE_URL (--database-url) to a libpq connection "
            "string, or run it from a clone where `make run` has recorded %s\n",
            cmd, CONFIG_RUN_DATABASE_URL_FILE);
}

enum err_code config_load(struct config *cfg, int argc, char **argv, FILE *errors)
{
    memset(cfg, 0, sizeof(*cfg));
    const char *value[N_ROWS];
    const char *source[N_ROWS];
    int bad = pick_values(argc, argv, value, source, errors);
    for (size_t i = 0; i < N_ROWS; i++) {
        if (value[i] != NULL && !set_row(cfg, &rows[i], value[i], source[i], errors))
            bad++;
    }
    if (cfg->database_url == NULL)
        cfg->database_url = config_run_database_url();
    bad += validate(cfg, errors);
    return bad > 0 ? ERR_INVALID : ERR_OK;
}

void config_cleanup(struct config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < N_ROWS; i++) {
        if (rows[i].type == CT_STRING) {
            char **slot = (char **)((char *)cfg + rows[i].offset);
            free(*slot);
            *slot = NULL;
        }
    }
    free(cfg->trusted_proxies);
    cfg->trusted_proxies = NULL;
}

void config_print_help(FILE *out)
{
    fprintf(out, "Settings (environment variable, or --flag of 'pinwatch serve'):\n\n");
    for (size_t i = 0; i < N_ROWS; i++) {
        fprintf(out, "  %-32s --%-26s %s (default: %s)\n", rows[i].env, rows[i].flag, rows[i].help,
                rows[i].def == NULL ? "unset" : (rows[i].def[0] ? rows[i].def : "empty"));
    }
}

void config_log(const struct config *cfg)
{
    const char *base = (const char *)cfg;
    for (size_t i = 0; i < N_ROWS; i++) {
        const struct config_row *row = &rows[i];
        switch (row->type) {
        case CT_STRING: {
            const char *v = *(char *const *)(base + row->offset);
            log_info("config %s=%s", row->env,
                     v == NULL ? "(unset)" : (row->secret ? "(set, redacted)" : v));
            break;
        }
        case CT_UINT:
            log_info("config %s=%u", row->env, *(const unsigned *)(base + row->offset));
            break;
        case CT_SIZE:
            log_info("config %s=%zu", row->env, *(const size_t *)(base + row->offset));
            break;
        case CT_BOOL:
            log_info("config %s=%d", row->env, *(const bool *)(base + row->offset) ? 1 : 0);
            break;
        }
    }
}
