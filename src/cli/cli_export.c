#include "cli/cli_export.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/codec.h"
#include "base/config.h"
#include "db/db.h"
#include "report/pin.h"
#include "store/export.h"
#include "store/query.h"
#include "store/signing.h"

/* ---- pinwatch export ---- */

/* Flags pinwatch export understands; the filters are named like the query parameters. */
static const char *const export_flags[] = {"out",     "database_url", "hostname",    "app",
                                           "from",    "to",           "app_version", "platform",
                                           "network", "verdict",      "group"};
#define N_EXPORT_FLAGS (sizeof(export_flags) / sizeof(export_flags[0]))

struct flag_values {
    const char *v[N_EXPORT_FLAGS];
};

/* query_param_fn over the parsed flags. */
static const char *flag_param(void *ctx, const char *name)
{
    const struct flag_values *fv = ctx;
    for (size_t i = 0; i < N_EXPORT_FLAGS; i++) {
        if (strcmp(export_flags[i], name) == 0)
            return fv->v[i];
    }
    return NULL;
}

/* "--app-version=1.2", "--app_version 1.2": fill fv; false (with a message) on bad usage. */
static bool parse_flags(int argc, char **argv, struct flag_values *fv)
{
    memset(fv, 0, sizeof(*fv));
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0) {
            fprintf(stderr, "pinwatch export: unexpected argument '%s'\n", argv[i]);
            return false;
        }
        char name[32];
        const char *eq = strchr(argv[i], '=');
        size_t len = eq != NULL ? (size_t)(eq - argv[i] - 2) : strlen(argv[i] + 2);
        if (len >= sizeof(name))
            len = sizeof(name) - 1;
        memcpy(name, argv[i] + 2, len);
        name[len] = '\0';
        for (char *p = name; *p != '\0'; p++)
            *p = *p == '-' ? '_' : *p;
        size_t k = 0;
        while (k < N_EXPORT_FLAGS && strcmp(export_flags[k], name) != 0)
            k++;
        if (k == N_EXPORT_FLAGS) {
            fprintf(stderr, "pinwatch export: unknown flag --%s\n", name);
            return false;
        }
        if (eq != NULL) {
            fv->v[k] = eq + 1;
        } else if (i + 1 < argc) {
            fv->v[k] = argv[++i];
        } else {
            fprintf(stderr, "pinwatch export: --%s needs a value\n", name);
            return false;
        }
    }
    return true;
}

static enum err_code file_sink(void *ctx, const void *data, size_t len)
{
    return fwrite(data, 1, len, ctx) == len ? ERR_OK : ERR_INTERNAL;
}

static int64_t now_usec(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* The server's signing key, found as `pinwatch serve` finds it (PINWATCH_SIGNING_KEY, else
 * next to PINWATCH_SPOOL_DIR, whose default is the settings table's), made on first use. */
static EVP_PKEY *signing_key(void)
{
    const char *spool = getenv("PINWATCH_SPOOL_DIR");
    char path[1024];
    signing_default_path(spool != NULL && spool[0] != '\0' ? spool : "var/spool", path,
                         sizeof(path));
    EVP_PKEY *key = NULL;
    bool created = false;
    struct err e = {0};
    char fpr[SIGNING_FPR_HEX];
    if (signing_key_load(getenv("PINWATCH_SIGNING_KEY"), path, &key, &created, &e) != ERR_OK) {
        fprintf(stderr,
                "pinwatch export: %s\n(the bundle is signed with the server's key: set "
                "PINWATCH_SIGNING_KEY, or PINWATCH_SPOOL_DIR, as for pinwatch serve)\n",
                e.detail);
        return NULL;
    }
    if (created && signing_fingerprint(key, fpr) == ERR_OK)
        fprintf(stderr, "pinwatch export: generated the signing key %s (SHA-256 %s)\n", path, fpr);
    return key;
}

/* Write the bundle to out (a temporary name, renamed when complete; "-" is stdout). */
static int export_to(PGconn *conn, const struct query_filters *f, const char *out)
{
    EVP_PKEY *key = signing_key();
    if (key == NULL)
        return 1;
    bool to_stdout = strcmp(out, "-") == 0;
    char *tmp = NULL;
    FILE *fp = stdout;
    if (!to_stdout) {
        size_t n = strlen(out) + 16;
        tmp = malloc(n);
        int fd = -1;
        if (tmp != NULL) {
            snprintf(tmp, n, "%s.tmp-XXXXXX", out);
            fd = mkstemp(tmp);
        }
        fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
        if (fp == NULL) {
            fprintf(stderr, "pinwatch export: cannot write next to %s: %s\n", out, strerror(errno));
            if (fd >= 0)
                close(fd);
            free(tmp);
            EVP_PKEY_free(key);
            return 1;
        }
    }
    struct export_stats st;
    struct err e = {0};
    enum err_code rc = export_bundle_write(conn, f, now_usec(), key, file_sink, fp, &st, &e);
    EVP_PKEY_free(key);
    bool ok = rc == ERR_OK && fflush(fp) == 0;
    if (!to_stdout) {
        ok = ok && fsync(fileno(fp)) == 0;
        ok = fclose(fp) == 0 && ok;
        ok = ok && rename(tmp, out) == 0;
        if (!ok)
            unlink(tmp);
        free(tmp);
    }
    if (!ok) {
        fprintf(stderr, "pinwatch export: failed: %s\n", rc != ERR_OK ? e.detail : strerror(errno));
        return 1;
    }
    fprintf(to_stdout ? stderr : stdout,
            "pinwatch export: wrote %s: %llu reports, %llu raw bodies, %llu chains, %llu bytes\n",
            to_stdout ? "stdout" : out, (unsigned long long)st.reports,
            (unsigned long long)st.raw_files, (unsigned long long)st.chains,
            (unsigned long long)st.bytes);
    if (st.raw_missing > 0 || st.raw_mismatch > 0)
        fprintf(stderr,
                "pinwatch export: warning: %llu reports without a usable raw body, %llu raw"
                " bodies not matching their raw_sha256\n",
                (unsigned long long)st.raw_missing, (unsigned long long)st.raw_mismatch);
    return 0;
}

int cli_export(int argc, char **argv)
{
    struct flag_values fv;
    if (!parse_flags(argc, argv, &fv))
        return 2;
    const char *out = flag_param(&fv, "out");
    if (out == NULL || out[0] == '\0') {
        fprintf(stderr, "usage: pinwatch export --out FILE [--hostname H] [--app A] [--from T]"
                        " [--to T] [--app-version V] [--platform P] [--network N] [--verdict V]"
                        " [--group G] [--database-url URL]   (pinwatch export --help)\n");
        return 2;
    }
    struct query_filters f;
    struct err e = {0};
    if (query_filters_parse(flag_param, &fv, now_usec(), &f, &e) != ERR_OK) {
        fprintf(stderr, "pinwatch export: %s\n", e.detail);
        return 2;
    }
    /* The flag, else the environment, else the database `make run` recorded. */
    const char *url = flag_param(&fv, "database_url");
    if (url == NULL)
        url = getenv("DATABASE_URL");
    char *recorded = url == NULL || url[0] == '\0' ? config_run_database_url() : NULL;
    if (recorded != NULL)
        url = recorded;
    if (url == NULL || url[0] == '\0') {
        config_print_no_database(stderr, "export");
        query_filters_cleanup(&f);
        return 2;
    }
    PGconn *conn = NULL;
    int status = 2;
    if (db_connect(url, &conn, &e) != ERR_OK)
        fprintf(stderr, "pinwatch export: %s\n", e.detail);
    else
        status = export_to(conn, &f, out);
    PQfinish(conn);
    free(recorded);
    query_filters_cleanup(&f);
    return status;
}
