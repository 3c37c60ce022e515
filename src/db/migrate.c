#include "db/migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "base/log.h"
#include "db/db.h"

#define MIGRATE_LOCK_KEY "7291048812"

/* One SQL file of a folder: a versioned migration (version from NNNN_) or a repeatable file. */
struct sql_file {
    int version; /* migrations only */
    char name[256];
};

static int cmp_version(const void *a, const void *b)
{
    return ((const struct sql_file *)a)->version - ((const struct sql_file *)b)->version;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct sql_file *)a)->name, ((const struct sql_file *)b)->name);
}

/* NNNN_name.sql for a migration; for a repeatable file any number of digits before the '_'. */
static bool sql_file_name(const char *name, size_t len, bool versioned)
{
    if (len < 6 || strcmp(name + len - 4, ".sql") != 0 || !isdigit((unsigned char)name[0]))
        return false;
    if (versioned)
        return len >= 9 && name[4] == '_';
    size_t i = 0;
    while (isdigit((unsigned char)name[i]))
        i++;
    return name[i] == '_';
}

/* The .sql files of dir: migrations by version (two of one version refused), repeatable files
 * by name. */
static enum err_code list_dir(const char *dir, bool versioned, struct sql_file **out, size_t *n,
                              struct err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return err_set(err, ERR_INVALID, versioned ? "migrations_missing" : "functions_missing",
                       "cannot open '%s': %s", dir, strerror(errno));
    size_t cap = 16, count = 0;
    struct sql_file *list = malloc(cap * sizeof(*list));
    struct dirent *de;
    enum err_code rc = ERR_OK;
    while (list != NULL && (de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 4, ".sql") != 0)
            continue;
        if (len >= sizeof(list[0].name) || !sql_file_name(de->d_name, len, versioned)) {
            log_warn("%s/%s left out: not named %s", dir, de->d_name,
                     versioned ? "NNNN_name.sql" : "NN_area.sql");
            continue;
        }
        if (count == cap) {
            struct sql_file *grown = realloc(list, 2 * cap * sizeof(*list));
            if (grown == NULL)
                break;
            list = grown;
            cap *= 2;
        }
        list[count].version = atoi(de->d_name);
        snprintf(list[count].name, sizeof(list[count].name), "%s", de->d_name);
        count++;
    }
    closedir(d);
    if (list == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    qsort(list, count, sizeof(*list), versioned ? cmp_version : cmp_name);
    for (size_t i = 1; versioned && i < count; i++) {
        if (list[i].version == list[i - 1].version) {
            rc = err_set(err, ERR_INVALID, "migrations_duplicate", "two migrations numbered %d",
                         list[i].version);
            free(list);
            return rc;
        }
    }
    *out = list;
    *n = count;
    return ERR_OK;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size >= 0 && fseek(f, 0, SEEK_SET) == 0) {
            buf = malloc((size_t)size + 1);
            if (buf != NULL && fread(buf, 1, (size_t)size, f) != (size_t)size) {
                free(buf);
                buf = NULL;
            } else if (buf != NULL) {
                buf[size] = '\0';
                *len = (size_t)size;
            }
        }
    }
    fclose(f);
    return buf;
}

static void sha256_hex(const char *data, size_t len, char hex[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)data, len, md);
    codec_hex_encode(md, sizeof(md), hex);
}

/* The checksum recorded for key by query ($1 = key): 1 found (hex filled), 0 none, <0 error. */
static int recorded_checksum(PGconn *conn, const char *query, const char *key, char hex[65],
                             struct err *err)
{
    const char *params[] = {key};
    PGresult *res = PQexecParams(conn, query, 1, NULL, params, NULL, NULL, 0);
    int found = -1;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        db_result_error(conn, res, "reading the applied checksums", err);
    } else if (PQntuples(res) == 0) {
        found = 0;
    } else {
        snprintf(hex, 65, "%s", PQgetvalue(res, 0, 0));
        found = 1;
    }
    PQclear(res);
    return found;
}

/* Runs sql, then record (with params), in one transaction without a statement timeout. */
static enum err_code apply_recorded(PGconn *conn, const char *name, const char *sql,
                                    const char *record, const char *const *params, int nparams,
                                    struct err *err)
{
    enum err_code rc = db_exec(conn, "BEGIN", err);
    if (rc != ERR_OK)
        return rc;
    /* A migration may rewrite millions of rows: the pool's statement timeout is for requests. */
    if ((rc = db_exec(conn, "SET LOCAL statement_timeout = 0", err)) != ERR_OK)
        goto rollback;
    if ((rc = db_exec(conn, sql, err)) != ERR_OK) {
        log_error("%s failed: %s", name, err != NULL ? err->detail : "");
        goto rollback;
    }
    PGresult *res = PQexecParams(conn, record, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = db_result_error(conn, res, "recording an applied file", err);
        PQclear(res);
        goto rollback;
    }
    PQclear(res);
    return db_exec(conn, "COMMIT", err);
rollback:
    (void)db_exec(conn, "ROLLBACK", NULL);
    return rc;
}

static char *read_sql(const char *dir, const char *name, char hex[65], struct err *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    size_t len = 0;
    char *sql = read_file(path, &len);
    if (sql == NULL) {
        err_set(err, ERR_INVALID, "migration_unreadable", "cannot read %s", path);
        return NULL;
    }
    sha256_hex(sql, len, hex);
    return sql;
}

static enum err_code apply_migration(PGconn *conn, const char *dir, const struct sql_file *m,
                                     int *applied, struct err *err)
{
    char hex[65], have[65], vbuf[16];
    char *sql = read_sql(dir, m->name, hex, err);
    if (sql == NULL)
        return err != NULL ? err->code : ERR_INVALID;
    snprintf(vbuf, sizeof(vbuf), "%d", m->version);
    enum err_code rc = ERR_OK;
    int found = recorded_checksum(conn, "SELECT checksum FROM schema_migrations WHERE version = $1",
                                  vbuf, have, err);
    if (found < 0) {
        rc = err != NULL ? err->code : ERR_INTERNAL;
    } else if (found == 1) {
        if (strcmp(have, hex) != 0)
            rc = err_set(err, ERR_INVALID, "migration_changed",
                         "%s was changed after it was applied (migrations are forward only: "
                         "restore it and put the change in a new migration, or a function "
                         "change in sql/functions/)",
                         m->name);
    } else {
        const char *params[] = {vbuf, m->name, hex};
        rc = apply_recorded(
            conn, m->name, sql,
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", params,
            3, err);
        if (rc == ERR_OK) {
            log_info("migration applied: %s", m->name);
            (*applied)++;
        }
    }
    free(sql);
    return rc;
}

/* A repeatable file runs when its checksum differs from the recorded one, or always (force). */
static enum err_code apply_repeatable(PGconn *conn, const char *dir, const struct sql_file *f,
                                      bool force, int *applied, struct err *err)
{
    char hex[65], have[65];
    char *sql = read_sql(dir, f->name, hex, err);
    if (sql == NULL)
        return err != NULL ? err->code : ERR_INVALID;
    enum err_code rc = ERR_OK;
    int found = recorded_checksum(conn, "SELECT checksum FROM schema_repeatables WHERE name = $1",
                                  f->name, have, err);
    if (found < 0) {
        rc = err != NULL ? err->code : ERR_INTERNAL;
    } else if (force || found == 0 || strcmp(have, hex) != 0) {
        const char *params[] = {f->name, hex};
        rc = apply_recorded(conn, f->name, sql,
                            "INSERT INTO schema_repeatables (name, checksum) VALUES ($1, $2)"
                            " ON CONFLICT (name) DO UPDATE"
                            " SET checksum = excluded.checksum, applied_at = now()",
                            params, 2, err);
        if (rc == ERR_OK) {
            log_info("functions applied: %s", f->name);
            (*applied)++;
        }
    }
    free(sql);
    return rc;
}

enum err_code migrate_run(PGconn *conn, const char *migrations_dir, const char *functions_dir,
                          struct migrate_counts *counts, struct err *err)
{
    struct sql_file *migrations = NULL, *functions = NULL;
    size_t n_migrations = 0, n_functions = 0;
    struct migrate_counts done = {0, 0};
    enum err_code rc = list_dir(migrations_dir, true, &migrations, &n_migrations, err);
    if (rc == ERR_OK)
        rc = list_dir(functions_dir, false, &functions, &n_functions, err);
    if (rc != ERR_OK)
        goto out;
    if ((rc = db_exec(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err)) != ERR_OK)
        goto out;
    rc = db_exec(conn,
                 "SET client_min_messages = warning;"
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now());"
                 "CREATE TABLE IF NOT EXISTS schema_repeatables ("
                 " name text PRIMARY KEY, checksum text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())",
                 err);
    for (size_t i = 0; rc == ERR_OK && i < n_migrations; i++)
        rc = apply_migration(conn, migrations_dir, &migrations[i], &done.migrations, err);
    for (size_t i = 0; rc == ERR_OK && i < n_functions; i++)
        rc = apply_repeatable(conn, functions_dir, &functions[i], done.migrations > 0,
                              &done.repeatables, err);
    (void)db_exec(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", NULL);
out:
    free(migrations);
    free(functions);
    if (counts != NULL)
        *counts = done;
    return rc;
}
