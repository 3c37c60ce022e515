#include "cli/cli_rotation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/pinsets.h"
#include "analysis/trust_store.h"
#include "base/buf.h"
#include "base/config.h"
#include "db/db.h"
#include "report/hostname.h"

static int64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int cli_rotation_check(int argc, char **argv)
{
    const char *host_arg = NULL, *file = NULL;
    char *cfg_argv[2];
    int cfg_argc = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
            host_arg = argv[++i];
        else if (strncmp(argv[i], "--host=", 7) == 0)
            host_arg = argv[i] + 7;
        else if (strcmp(argv[i], "--database-url") == 0 && i + 1 < argc && cfg_argc == 0) {
            cfg_argv[cfg_argc++] = argv[i];
            cfg_argv[cfg_argc++] = argv[++i];
        } else if (strncmp(argv[i], "--database-url=", 15) == 0 && cfg_argc == 0)
            cfg_argv[cfg_argc++] = argv[i];
        else if (argv[i][0] != '-' && file == NULL)
            file = argv[i];
        else {
            fprintf(stderr, "pinwatch rotation-check: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (host_arg == NULL || file == NULL) {
        fprintf(stderr, "usage: pinwatch rotation-check --host HOSTNAME [--database-url URL] "
                        "CHAIN.pem   (pinwatch rotation-check --help)\n");
        return 2;
    }
    struct config cfg;
    if (config_load(&cfg, cfg_argc, cfg_argv, stderr) != ERR_OK) {
        config_cleanup(&cfg);
        return 2;
    }
    int status = 2;
    char *host = NULL, *pem = NULL;
    size_t len = 0;
    PGconn *conn = NULL;
    struct trust_store *ts = NULL;
    json_t *out = NULL;
    struct err e = {0};
    if (cfg.database_url == NULL || cfg.database_url[0] == '\0') {
        config_print_no_database(stderr, "rotation-check");
        goto out;
    }
    if (hostname_normalize(host_arg, &host, &e) != ERR_OK) {
        fprintf(stderr, "pinwatch rotation-check: %s\n", e.detail);
        goto out;
    }
    if ((pem = buf_read_file(file, 16u << 20, &len)) == NULL) {
        fprintf(stderr, "pinwatch rotation-check: cannot read %s\n", file);
        goto out;
    }
    if (trust_store_load(cfg.trust_store, &ts, &e) != ERR_OK ||
        db_connect(cfg.database_url, &conn, &e) != ERR_OK ||
        pinsets_rotation_check(conn, host, pem, len, ts, now_usec(), &out, &e) != ERR_OK) {
        fprintf(stderr, "pinwatch rotation-check: %s\n", e.detail);
        goto out;
    }
    json_int_t breaking = json_integer_value(json_object_get(out, "breaking"));
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(out, "pinsets"), i, s)
    {
        printf("%-6s %s %s  %lld devices, %lld reports\n",
               json_is_true(json_object_get(s, "breaks")) ? "BREAKS" : "ok",
               json_string_value(json_object_get(s, "app")),
               json_string_value(json_object_get(s, "version")) != NULL
                   ? json_string_value(json_object_get(s, "version"))
                   : "-",
               (long long)json_integer_value(json_object_get(s, "devices")),
               (long long)json_integer_value(json_object_get(s, "reports")));
    }
    printf("%lld pin set(s) would break; %lld devices and %lld reports at risk\n",
           (long long)breaking,
           (long long)json_integer_value(json_object_get(out, "devices_at_risk")),
           (long long)json_integer_value(json_object_get(out, "reports_at_risk")));
    status = breaking > 0 ? 1 : 0;
out:
    json_decref(out);
    PQfinish(conn);
    trust_store_free(ts);
    free(pem);
    free(host);
    config_cleanup(&cfg);
    return status;
}
