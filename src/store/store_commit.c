/* store_commit — the commit and spool halves of the store module (store.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_text.h"
#include "base/timeparse.h"
#include "db/db.h"
#include "store/pgcopy.h"
#include "store/store.h"
#include "store/store_unit.h"

/* The staging table (pinwatch_stage_open, migration 0010) and the columns each kind of row
 * fills, in the order store.c writes them; the first field is the kind. */
#define COPY_INTO "COPY pg_temp.pinwatch_stage (kind, "
static const char *const copy_sql[STORE_N_TABLES] = {
    [STORE_CERTIFICATES] = COPY_INTO "sha256, spki_sha256, der, subject, issuer, serial, "
                                     "not_before, not_after, sans, key_type, key_bits, is_ca, "
                                     "sig_alg) FROM STDIN",
    [STORE_CHAINS] = COPY_INTO "sha256, certs, analysis) FROM STDIN",
    [STORE_FRAGMENTS] = COPY_INTO "sha256, bytes) FROM STDIN",
    /* A body's media type travels in the staging table's format column, which body rows do
     * not otherwise use: the table keeps the layout of 0010. */
    [STORE_BODIES] = COPY_INTO "sha256, received_at, length, template, format) FROM STDIN",
    [STORE_REPORTS] = COPY_INTO
    "id, received_at, format, hostname, hostname_raw, noted_hostname, noted_hostname_raw, port, "
    "include_subdomains, enforce_pinning, validation_result, client_time, client_time_raw, "
    "pins_expire, pins_expire_raw, known_pins, known_pins_raw, served_chain, validated_chain, "
    "app_bundle_id, app_version, platform, platform_version, vendor_id, sdk, sdk_version, "
    "network, client_ip, asn, as_org, country, user_agent, group_id, problems, extra, "
    "raw_sha256, flags) FROM STDIN",
    [STORE_GROUPS] = COPY_INTO "g_id, g_app_bundle_id, g_hostname, anchor_spki, anchor_subject, "
                               "anchor_public, expected_key_seen, first_seen, last_seen, "
                               "catalog_product, catalog_category, known_hostile, hostile_name, "
                               "hostile_category, weak) FROM STDIN",
};

/* The member names of a legacy (JSON) unit, in store_table order. */
static const char *const legacy_names[STORE_N_TABLES] = {"certificates", "chains",  "fragments",
                                                         "bodies",       "reports", "groups"};

/* ---- spool form ---- */

char *store_unit_serialize(const struct store_unit *u)
{
    json_t *rows = json_array(), *months = json_array();
    bool whole = rows != NULL && months != NULL;
    for (size_t t = 0; whole && t < STORE_N_TABLES; t++) {
        /* NULL for bytes that are not UTF-8: the unit is refused whole, never written without
         * one of its tables. */
        json_t *s = json_stringn(u->rows[t].data ? u->rows[t].data : "", u->rows[t].len);
        whole = s != NULL && json_array_append_new(rows, s) == 0;
    }
    if (!whole) {
        json_decref(rows);
        json_decref(months);
        return NULL;
    }
    for (size_t i = 0; i < u->n_months; i++)
        json_array_append_new(months, json_integer(u->months[i]));
    /* v 3: COPY rows (v 2 had no media type in body rows); a legacy unit read back from an old
     * spool keeps its JSON rows. */
    json_t *doc = json_pack("{s:i, s:I, s:o, s:o}", "v", u->legacy ? 1 : 3, "reports",
                            (json_int_t)u->reports, "months", months, "rows", rows);
    char *line = doc != NULL ? json_text_dump(doc) : NULL;
    json_decref(doc);
    return line;
}

json_t *store_unit_report_ids(const struct store_unit *u)
{
    json_t *ids = json_array();
    const struct buf *rows = &u->rows[STORE_REPORTS];
    if (ids == NULL || u->legacy)
        return ids;
    /* COPY rows "r\t<id>\t...": the id is the second field */
    for (size_t at = 0; at < rows->len;) {
        const char *line = rows->data + at;
        const char *nl = memchr(line, '\n', rows->len - at);
        size_t len = nl != NULL ? (size_t)(nl - line) + 1 : rows->len - at;
        if (len > 2 + 36 && line[1] == '\t')
            json_array_append_new(ids, json_stringn(line + 2, 36));
        at += len;
    }
    return ids;
}

static enum err_code set_rows(struct store_unit *u, size_t t, const char *text, size_t len)
{
    u->rows[t].len = 0;
    return buf_append(&u->rows[t], text, len);
}

/* A unit written before 0010: {"months": ["YYYY-MM"], "<table>": [rows], ...}. */
static enum err_code parse_legacy(const json_t *doc, struct store_unit *u)
{
    u->legacy = true;
    for (size_t t = 0; t < STORE_N_TABLES; t++) {
        json_t *arr = json_object_get(doc, legacy_names[t]);
        char *text = json_is_array(arr) ? json_text_dump(arr) : NULL;
        enum err_code rc = !json_is_array(arr) ? set_rows(u, t, "[]", 2)
                           : text != NULL      ? set_rows(u, t, text, strlen(text))
                                               : ERR_NOMEM;
        free(text);
        if (rc != ERR_OK)
            return rc;
    }
    u->reports = json_array_size(json_object_get(doc, "reports"));
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(doc, "months"), i, m)
    {
        char ts[32];
        int64_t usec = 0;
        snprintf(ts, sizeof(ts), "%.7s-01T00:00:00Z",
                 json_string_value(m) ? json_string_value(m) : "");
        if (timeparse_parse(ts, &usec, NULL) == ERR_OK && u->n_months < STORE_UNIT_MONTHS)
            u->months[u->n_months++] = usec;
    }
    return ERR_OK;
}

/* A v 2 unit's body rows end before the media type: add it, unknown (\N), so that every unit
 * in memory has one row layout and units of both versions can share a COPY. */
static enum err_code add_media_type(struct buf *rows)
{
    struct buf old = *rows;
    buf_init(rows, 0);
    enum err_code rc = ERR_OK;
    for (size_t at = 0; rc == ERR_OK && at < old.len;) {
        const char *nl = memchr(old.data + at, '\n', old.len - at);
        size_t end = nl != NULL ? (size_t)(nl - old.data) : old.len;
        rc = buf_append(rows, old.data + at, end - at);
        if (rc == ERR_OK)
            rc = buf_append(rows, "\t\\N\n", 4);
        at = end + 1;
    }
    buf_cleanup(&old);
    return rc;
}

static enum err_code parse_v2(const json_t *doc, struct store_unit *u)
{
    json_t *rows = json_object_get(doc, "rows");
    if (json_array_size(rows) != STORE_N_TABLES ||
        json_array_size(json_object_get(doc, "months")) > STORE_UNIT_MONTHS)
        return ERR_INVALID;
    u->legacy = json_integer_value(json_object_get(doc, "v")) == 1;
    for (size_t t = 0; t < STORE_N_TABLES; t++) {
        json_t *s = json_array_get(rows, t);
        if (!json_is_string(s))
            return ERR_INVALID;
        enum err_code rc = set_rows(u, t, json_string_value(s), json_string_length(s));
        if (rc != ERR_OK)
            return rc;
    }
    if (!u->legacy && json_integer_value(json_object_get(doc, "v")) == 2) {
        enum err_code rc = add_media_type(&u->rows[STORE_BODIES]);
        if (rc != ERR_OK)
            return rc;
    }
    u->reports = (size_t)json_integer_value(json_object_get(doc, "reports"));
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(doc, "months"), i, m)
    {
        u->months[u->n_months++] = json_integer_value(m);
    }
    return ERR_OK;
}

enum err_code store_unit_parse(const char *line, size_t len, struct store_unit **out,
                               struct err *err)
{
    *out = NULL;
    json_t *doc = json_loadb(line, len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return err_set(err, ERR_INVALID, NULL, "not a spooled unit");
    }
    struct store_unit *u = store_unit_new();
    enum err_code rc = u == NULL                           ? ERR_NOMEM
                       : json_object_get(doc, "v") != NULL ? parse_v2(doc, u)
                                                           : parse_legacy(doc, u);
    json_decref(doc);
    if (rc != ERR_OK) {
        store_unit_free(u);
        return err_set(err, rc, NULL, "unreadable spooled unit");
    }
    *out = u;
    return ERR_OK;
}

/* ---- commit ---- */

enum err_code store_connection_setup(PGconn *conn, struct err *err)
{
    return db_exec(conn, "SELECT pinwatch_stage_open()", err);
}

static enum err_code ensure_months(struct store *st, PGconn *conn, struct store_unit *const *units,
                                   size_t n, struct err *err)
{
    for (size_t u = 0; u < n; u++) {
        for (size_t i = 0; i < units[u]->n_months; i++) {
            int64_t usec = units[u]->months[i];
            bool known = false;
            pthread_mutex_lock(&st->lock);
            for (size_t k = 0; k < st->n_months; k++)
                known = known || st->months[k] == usec;
            pthread_mutex_unlock(&st->lock);
            if (known)
                continue;
            char ts[TIMEPARSE_FMT_LEN];
            const char *params[] = {timeparse_format(usec, ts)};
            PGresult *res = PQexecParams(conn, "SELECT pinwatch_ensure_partition($1)", 1, NULL,
                                         params, NULL, NULL, 0);
            enum err_code rc = ERR_OK;
            if (PQresultStatus(res) != PGRES_TUPLES_OK)
                rc = db_result_error(conn, res, "creating a partition", err);
            PQclear(res);
            if (rc != ERR_OK)
                return rc;
            pthread_mutex_lock(&st->lock);
            if (st->n_months < sizeof(st->months) / sizeof(st->months[0]))
                st->months[st->n_months++] = usec;
            pthread_mutex_unlock(&st->lock);
        }
    }
    return ERR_OK;
}

/* Calls fn for every row of a COPY text buffer that starts with a key. */
static void each_keyed_row(const struct buf *rows,
                           void (*fn)(void *ctx, const char *line, size_t len,
                                      const uint8_t key[32]),
                           void *ctx)
{
    for (size_t at = 0; at < rows->len;) {
        const char *line = rows->data + at;
        const char *nl = memchr(line, '\n', rows->len - at);
        size_t len = nl != NULL ? (size_t)(nl - line) + 1 : rows->len - at;
        uint8_t key[32];
        /* the kind and its tab, then the key */
        if (len > 2 && pgcopy_leading_hash(line + 2, len - 2, key))
            fn(ctx, line, len, key);
        at += len;
    }
}

struct filter_ctx {
    struct store *st;
    enum store_table t;
    struct buf *out;
    enum err_code rc;
};

/* Keep a row whose key is not known to be stored (replayed units carry every row). */
static void keep_unknown(void *ctx, const char *line, size_t len, const uint8_t key[32])
{
    struct filter_ctx *f = ctx;
    if (f->rc == ERR_OK && !store_knows(f->st, f->t, key))
        f->rc = buf_append(f->out, line, len);
}

/* COPY one table's rows into the staging table. The first COPY of a transaction carries its
 * BEGIN (*began false -> true): one round trip fewer per commit. */
static enum err_code copy_table(struct store *st, PGconn *conn, struct store_unit *const *units,
                                size_t n, enum store_table t, bool *began, struct err *err)
{
    struct buf kept;
    buf_init(&kept, 0);
    size_t total = 0;
    enum err_code rc = ERR_OK;
    for (size_t u = 0; u < n; u++) {
        if (t < STORE_N_KEYED) {
            struct filter_ctx f = {st, t, &kept, ERR_OK};
            each_keyed_row(&units[u]->rows[t], keep_unknown, &f);
            if ((rc = f.rc) != ERR_OK)
                goto out;
        }
        total += units[u]->rows[t].len;
    }
    if (total == 0 || (t < STORE_N_KEYED && kept.len == 0))
        goto out;
    char sql[2048];
    snprintf(sql, sizeof(sql), "%s%s", *began ? "" : "BEGIN; ", copy_sql[t]);
    PGresult *res = PQexec(conn, sql); /* a multi-statement query stops at the COPY */
    *began = *began || PQtransactionStatus(conn) != PQTRANS_IDLE;
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        rc = db_result_error(conn, res, "starting a copy", err);
        PQclear(res);
        goto out;
    }
    PQclear(res);
    int ok = 1;
    if (t < STORE_N_KEYED) {
        ok = PQputCopyData(conn, kept.data, (int)kept.len);
    } else {
        for (size_t u = 0; ok == 1 && u < n; u++) {
            if (units[u]->rows[t].len > 0)
                ok = PQputCopyData(conn, units[u]->rows[t].data, (int)units[u]->rows[t].len);
        }
    }
    if (PQputCopyEnd(conn, ok == 1 ? NULL : "send failed") != 1)
        ok = 0;
    while ((res = PQgetResult(conn)) != NULL) {
        if (rc == ERR_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = db_result_error(conn, res, "copying rows", err);
        PQclear(res);
    }
    if (rc == ERR_OK && ok != 1)
        rc = db_result_error(conn, NULL, "copying rows", err);
out:
    buf_cleanup(&kept);
    return rc;
}

static enum err_code commit_staged(struct store *st, PGconn *conn, struct store_unit *const *units,
                                   size_t n, struct err *err)
{
    bool began = false;
    enum err_code rc = ERR_OK;
    for (size_t t = 0; rc == ERR_OK && t < STORE_N_TABLES; t++)
        rc = copy_table(st, conn, units, n, (enum store_table)t, &began, err);
    if (rc == ERR_OK && !began)
        rc = db_exec(conn, "BEGIN", err);
    /* One round trip: a failing merge skips the COMMIT and leaves the transaction aborted. */
    if (rc == ERR_OK)
        rc = db_exec(conn, "SELECT pinwatch_store_staged(); COMMIT", err);
    if (rc == ERR_OK)
        return ERR_OK;
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
        (void)db_exec(conn, "ROLLBACK", NULL);
    return rc;
}

/* Units spooled before 0010 go through the JSON batch function they were written for. */
static enum err_code commit_legacy(PGconn *conn, struct store_unit *const *units, size_t n,
                                   struct err *err)
{
    struct buf params[STORE_N_TABLES];
    const char *values[STORE_N_TABLES];
    enum err_code rc = ERR_OK;
    for (size_t t = 0; t < STORE_N_TABLES; t++)
        buf_init(&params[t], 0);
    for (size_t t = 0; rc == ERR_OK && t < STORE_N_TABLES; t++) {
        rc = buf_append(&params[t], "[", 1);
        bool first = true;
        for (size_t u = 0; rc == ERR_OK && u < n; u++) {
            const struct buf *b = &units[u]->rows[t];
            if (b->len <= 2) /* "[]" adds nothing */
                continue;
            if (!first)
                rc = buf_append(&params[t], ",", 1);
            if (rc == ERR_OK)
                rc = buf_append(&params[t], b->data + 1, b->len - 2);
            first = false;
        }
        if (rc == ERR_OK)
            rc = buf_append(&params[t], "]", 1);
        values[t] = params[t].data;
    }
    if (rc != ERR_OK) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    PGresult *res = PQexecParams(conn, "SELECT pinwatch_store_batch($1, $2, $3, $4, $5, $6)",
                                 STORE_N_TABLES, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = db_result_error(conn, res, "storing reports", err);
    PQclear(res);
out:
    for (size_t t = 0; t < STORE_N_TABLES; t++)
        buf_cleanup(&params[t]);
    return rc;
}

static void learn_row(void *ctx, const char *line, size_t len, const uint8_t key[32])
{
    (void)line;
    (void)len;
    store_known_add(ctx, key);
}

static void learn(struct store *st, struct store_unit *const *units, size_t n)
{
    pthread_mutex_lock(&st->lock);
    for (size_t u = 0; u < n; u++) {
        for (size_t t = 0; !units[u]->legacy && t < STORE_N_KEYED; t++)
            each_keyed_row(&units[u]->rows[t], learn_row, &st->known[t]);
    }
    pthread_mutex_unlock(&st->lock);
}

enum err_code store_commit(struct store *st, PGconn *conn, struct store_unit *const *units,
                           size_t n, struct err *err)
{
    enum err_code rc = ensure_months(st, conn, units, n, err);
    /* One transaction per run of units of one kind (runs only form while replaying an old
     * spool; replay is idempotent, so a failure after an earlier run only repeats it). */
    for (size_t from = 0; rc == ERR_OK && from < n;) {
        size_t to = from + 1;
        while (to < n && units[to]->legacy == units[from]->legacy)
            to++;
        rc = units[from]->legacy ? commit_legacy(conn, units + from, to - from, err)
                                 : commit_staged(st, conn, units + from, to - from, err);
        if (rc == ERR_OK)
            learn(st, units + from, to - from);
        from = to;
    }
    return rc;
}
