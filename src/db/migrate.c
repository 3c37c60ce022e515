#include "db/migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "base/log.h"
#include "db/db.h"

#define MIGRATE_LOCK_KEY "7291048812"

struct migration {
    int version;
    char name[256];
};

static int cmp_migration(const void *a, const void *b)
{
    return ((const struct migration *)a)->version - ((const struct migration *)b)->version;
}

static enum err_code list_dir(const char *dir, struct migration **out, size_t *n, struct err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return err_set(err, ERR_INVALID, "migrations_missing", "cannot open '%s': %s", dir,
                       strerror(errno));
    size_t cap = 16, count = 0;
    struct migration *list = malloc(cap * sizeof(*list));
    struct dirent *de;
    enum err_code rc = ERR_OK;
    while (list != NULL && (de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 9 || len >= sizeof(list[0].name) || strcmp(de->d_name + len - 4, ".sql") != 0)
            continue;
        if (!isdigit((unsigned char)de->d_name[0]) || de->d_name[4] != '_')
            continue;
        if (count == cap) {
            struct migration *grown = realloc(list, 2 * cap * sizeof(*list));
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
    qsort(list, count, sizeof(*list), cmp_migration);
    for (size_t i = 1; i < count; i++) {
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

/* Applied checksum for a version: 1 found (hex filled), 0 not applied, <0 error. */
static int applied_checksum(PGconn *conn, int version, char hex[65], struct err *err)
{
    char vbuf[16];
    snprintf(vbuf, sizeof(vbuf), "%d", version);
    const char *params[] = {vbuf};
    PGresult *res = PQexecParams(conn, "SELECT checksum FROM schema_migrations WHERE version = $1",
                                 1, NULL, params, NULL, NULL, 0);
    int found = -1;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        db_result_error(conn, res, "reading schema_migrations", err);
    } else if (PQntuples(res) == 0) {
        found = 0;
    } else {
        snprintf(hex, 65, "%s", PQgetvalue(res, 0, 0));
        found = 1;
    }
    PQclear(res);
    return found;
}

static enum err_code apply_one(PGconn *conn, const char *dir, const struct migration *m,
                               int *applied, struct err *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, m->name);
    size_t len = 0;
    char *sql = read_file(path, &len);
    if (sql == NULL)
        return err_set(err, ERR_INVALID, "migration_unreadable", "cannot read %s", path);
    char hex[65], have[65];
    sha256_hex(sql, len, hex);
    enum err_code rc = ERR_OK;
    int found = applied_checksum(conn, m->version, have, err);
    if (found < 0) {
        rc = err != NULL ? err->code : ERR_INTERNAL;
        goto out;
    }
    if (found == 1) {
        if (strcmp(have, hex) != 0)
            rc = err_set(err, ERR_INVALID, "migration_changed",
                         "%s was changed after it was applied (migrations are forward only)",
                         m->name);
        goto out;
    }
    if ((rc = db_exec(conn, "BEGIN", err)) != ERR_OK)
        goto out;
    /* A migration may rewrite millions of rows: the pool's statement timeout is for requests. */
    if ((rc = db_exec(conn, "SET LOCAL statement_timeout = 0", err)) != ERR_OK)
        goto rollback;
    if ((rc = db_exec(conn, sql, err)) != ERR_OK) {
        log_error("migration %s failed: %s", m->name, err != NULL ? err->detail : "");
        goto rollback;
    }
    char vbuf[16];
    snprintf(vbuf, sizeof(vbuf), "%d", m->version);
    const char *params[] = {vbuf, m->name, hex};
    PGresult *res = PQexecParams(
        conn, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", 3,
        NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = db_result_error(conn, res, "recording migration", err);
        PQclear(res);
        goto rollback;
    }
    PQclear(res);
    rc = db_exec(conn, "COMMIT", err);
    if (rc == ERR_OK) {
        log_info("migration applied: %s", m->name);
        (*applied)++;
    }
    goto out;
rollback:
    (void)db_exec(conn, "ROLLBACK", NULL);
out:
    free(sql);
    return rc;
}

enum err_code migrate_run(PGconn *conn, const char *dir, int *applied, struct err *err)
{
    struct migration *list = NULL;
    size_t n = 0;
    int count = 0;
    enum err_code rc = list_dir(dir, &list, &n, err);
    if (rc != ERR_OK)
        return rc;
    if ((rc = db_exec(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err)) != ERR_OK)
        goto out;
    rc = db_exec(conn,
                 "SET client_min_messages = warning;"
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())",
                 err);
    for (size_t i = 0; rc == ERR_OK && i < n; i++)
        rc = apply_one(conn, dir, &list[i], &count, err);
    (void)db_exec(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", NULL);
out:
    free(list);
    if (applied != NULL)
        *applied = count;
    return rc;
}
