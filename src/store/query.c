#include "store/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "base/config.h"
#include "base/timeparse.h"
#include "base/uuid.h"
#include "db/db.h"
#include "report/hostname.h"
#include "report/rawbody.h"

#define WEEK_USEC (7LL * 24 * 3600 * 1000000)

static enum err_code bad(struct err *err, const char *name, const char *why)
{
    return err_set(err, ERR_INVALID, "invalid_parameter", "%s: %s", name, why);
}

static enum err_code dup_param(query_param_fn *get, void *ctx, const char *name, char **out,
                               struct err *err)
{
    const char *v = get(ctx, name);
    if (v == NULL || v[0] == '\0')
        return ERR_OK;
    if (strlen(v) > 512)
        return bad(err, name, "too long");
    *out = strdup(v);
    return *out != NULL ? ERR_OK : err_set(err, ERR_NOMEM, NULL, "out of memory");
}

static bool one_of(const char *v, const char *const *list)
{
    for (; *list != NULL; list++) {
        if (strcmp(v, *list) == 0)
            return true;
    }
    return false;
}

enum err_code query_filters_parse(query_param_fn *get, void *ctx, int64_t now_usec,
                                  struct query_filters *f, struct err *err)
{
    static const char *const verdicts[] = {"misconfiguration", "interception", "undetermined",
                                           NULL};
    static const char *const platforms[] = {"ios",     "macos", "tvos", "watchos",
                                            "android", "web",   NULL};
    memset(f, 0, sizeof(*f));
    f->limit = 100;
    f->to = now_usec;
    enum err_code rc = ERR_OK;
    const char *v;
    if ((v = get(ctx, "to")) != NULL && timeparse_parse(v, &f->to, NULL) != ERR_OK)
        return bad(err, "to", "not an RFC 3339 time");
    f->from = f->to - WEEK_USEC;
    if ((v = get(ctx, "from")) != NULL && timeparse_parse(v, &f->from, NULL) != ERR_OK)
        return bad(err, "from", "not an RFC 3339 time");
    if (f->from > f->to)
        return bad(err, "from", "is after to");
    if ((v = get(ctx, "limit")) != NULL) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end != '\0' || n < 1 || n > 1000)
            return bad(err, "limit", "must be 1-1000");
        f->limit = (unsigned)n;
    }
    if ((v = get(ctx, "cursor")) != NULL && v[0] != '\0') {
        char *end;
        long long ts = strtoll(v, &end, 10);
        if (*end != '.' || !uuid_valid(end + 1))
            return bad(err, "cursor", "not a cursor from this API");
        f->has_cursor = true;
        f->cursor_ts = ts;
        snprintf(f->cursor_id, sizeof(f->cursor_id), "%s", end + 1);
    }
    if ((v = get(ctx, "hostname")) != NULL && v[0] != '\0' &&
        hostname_normalize(v, &f->hostname, NULL) != ERR_OK) {
        rc = bad(err, "hostname", "not a hostname");
        goto fail;
    }
    if ((rc = dup_param(get, ctx, "app", &f->app, err)) != ERR_OK ||
        (rc = dup_param(get, ctx, "app_version", &f->app_version, err)) != ERR_OK ||
        (rc = dup_param(get, ctx, "platform", &f->platform, err)) != ERR_OK ||
        (rc = dup_param(get, ctx, "verdict", &f->verdict, err)) != ERR_OK ||
        (rc = dup_param(get, ctx, "group", &f->group, err)) != ERR_OK)
        goto fail;
    if (f->platform != NULL && !one_of(f->platform, platforms)) {
        rc = bad(err, "platform", "must be ios, macos, tvos, watchos, android or web");
        goto fail;
    }
    if (f->verdict != NULL && !one_of(f->verdict, verdicts)) {
        rc = bad(err, "verdict", "must be misconfiguration, interception or undetermined");
        goto fail;
    }
    if ((v = get(ctx, "network")) != NULL && v[0] != '\0') {
        struct config_cidr *c = NULL;
        size_t n = 0;
        if (config_parse_cidrs(v, &c, &n, NULL) != ERR_OK || n != 1) {
            free(c);
            rc = bad(err, "network", "not a CIDR prefix");
            goto fail;
        }
        free(c);
        f->network = strdup(v);
    }
    return ERR_OK;
fail:
    query_filters_cleanup(f);
    return rc;
}

void query_filters_cleanup(struct query_filters *f)
{
    if (f == NULL)
        return;
    free(f->hostname);
    free(f->app);
    free(f->app_version);
    free(f->platform);
    free(f->network);
    free(f->verdict);
    free(f->group);
    memset(f, 0, sizeof(*f));
}

void query_match_params(const struct query_filters *f, bool with_cursor, struct query_match *m)
{
    memset(m, 0, sizeof(*m));
    m->params[0] = timeparse_format(f->from, m->from);
    m->params[1] = timeparse_format(f->to, m->to);
    m->params[2] = f->hostname;
    m->params[3] = f->app;
    m->params[4] = f->app_version;
    m->params[5] = f->platform;
    m->params[6] = f->network;
    m->params[7] = f->group;
    m->params[8] = f->verdict;
    if (with_cursor && f->has_cursor) {
        /* Keyset paging: strictly after the last row of the previous page. */
        m->params[9] = timeparse_format(f->cursor_ts, m->before);
        m->params[10] = f->cursor_id;
    }
}

enum err_code query_reports_page(PGconn *conn, const struct query_filters *f, struct buf *out,
                                 struct err *err)
{
    struct query_match m;
    query_match_params(f, true, &m);
    char limit[16];
    snprintf(limit, sizeof(limit), "%u", f->limit + 1);
    const char *params[QUERY_MATCH_NPARAMS + 1];
    memcpy(params, m.params, sizeof(m.params));
    params[QUERY_MATCH_NPARAMS] = limit;
    PGresult *res =
        PQexecParams(conn,
                     "SELECT report, received_usec, id FROM pinwatch_reports_page(" QUERY_MATCH_ARGS
                     ", $12::int)",
                     QUERY_MATCH_NPARAMS + 1, NULL, params, NULL, NULL, 0);
    enum err_code rc = ERR_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = db_result_error(conn, res, "listing reports", err);
        goto out;
    }
    int rows = PQntuples(res);
    int shown = rows > (int)f->limit ? (int)f->limit : rows;
    rc = buf_append_str(out, "{\"reports\":[");
    for (int i = 0; rc == ERR_OK && i < shown; i++) {
        if (i > 0)
            rc = buf_append(out, ",", 1);
        if (rc == ERR_OK)
            rc = buf_append_str(out, PQgetvalue(res, i, 0));
    }
    if (rc == ERR_OK && rows > (int)f->limit)
        rc = buf_printf(out, "],\"next_cursor\":\"%s.%s\"}", PQgetvalue(res, shown - 1, 1),
                        PQgetvalue(res, shown - 1, 2));
    else if (rc == ERR_OK)
        rc = buf_append_str(out, "],\"next_cursor\":null}");
    if (rc != ERR_OK)
        rc = err_set(err, rc, NULL, "out of memory");
out:
    PQclear(res);
    return rc;
}

enum err_code query_report_get(PGconn *conn, const char *id, struct buf *out, struct err *err)
{
    if (!uuid_valid(id))
        return err_set(err, ERR_NOT_FOUND, "not_found", "no report with that id");
    const char *params[] = {id};
    PGresult *res = PQexecParams(conn,
                                 "SELECT pinwatch_report_json(r)::text FROM reports r"
                                 " WHERE r.id = $1::uuid LIMIT 1",
                                 1, NULL, params, NULL, NULL, 0);
    enum err_code rc = ERR_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = db_result_error(conn, res, "reading a report", err);
    else if (PQntuples(res) == 0)
        rc = err_set(err, ERR_NOT_FOUND, "not_found", "no report with that id");
    else if (buf_append_str(out, PQgetvalue(res, 0, 0)) != ERR_OK)
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
    PQclear(res);
    return rc;
}

/* Rows of (template, fragment sha256, fragment bytes): find a fragment by hash. */
static const char *fragment_lookup(void *ctx, const uint8_t sha256[32], size_t *len)
{
    const PGresult *res = ctx;
    for (int i = 0; i < PQntuples(res); i++) {
        if (!PQgetisnull(res, i, 1) && PQgetlength(res, i, 1) == 32 &&
            memcmp(PQgetvalue(res, i, 1), sha256, 32) == 0) {
            *len = (size_t)PQgetlength(res, i, 2);
            return PQgetvalue(res, i, 2);
        }
    }
    return NULL;
}

enum err_code query_raw_body(PGconn *conn, const uint8_t sha256[32], struct buf *out,
                             struct err *err)
{
    const char *params[] = {(const char *)sha256};
    int lengths[] = {32};
    int formats[] = {1};
    /* Binary results: the template and fragments are bytea. */
    PGresult *res = PQexecParams(conn, "SELECT * FROM pinwatch_raw_body_parts($1)", 1, NULL, params,
                                 lengths, formats, 1);
    enum err_code rc = ERR_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = db_result_error(conn, res, "reading a raw body", err);
        goto out;
    }
    if (PQntuples(res) == 0) {
        rc = err_set(err, ERR_NOT_FOUND, "not_found", "no raw body stored");
        goto out;
    }
    rc = rawbody_join((const unsigned char *)PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0),
                      fragment_lookup, res, out, err);
out:
    PQclear(res);
    return rc;
}

enum err_code query_report_raw(PGconn *conn, const char *id, struct buf *out, char sha_hex[65],
                               char media_type[QUERY_MEDIA_TYPE_MAX], struct err *err)
{
    if (!uuid_valid(id))
        return err_set(err, ERR_NOT_FOUND, "not_found", "no report with that id");
    const char *params[] = {id};
    PGresult *res = PQexecParams(conn,
                                 "SELECT encode(r.raw_sha256, 'hex'), b.media_type FROM reports r"
                                 " LEFT JOIN raw_bodies b ON b.sha256 = r.raw_sha256"
                                 " WHERE r.id = $1::uuid LIMIT 1",
                                 1, NULL, params, NULL, NULL, 0);
    enum err_code rc = ERR_OK;
    uint8_t sha[32];
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = db_result_error(conn, res, "reading a report", err);
    else if (PQntuples(res) == 0)
        rc = err_set(err, ERR_NOT_FOUND, "not_found", "no report with that id");
    else if (codec_hex_decode(PQgetvalue(res, 0, 0), sha, 32, NULL) != ERR_OK)
        rc = err_set(err, ERR_INTERNAL, NULL, "bad raw_sha256 stored");
    if (rc == ERR_OK && sha_hex != NULL)
        snprintf(sha_hex, 65, "%s", PQgetvalue(res, 0, 0));
    if (rc == ERR_OK && media_type != NULL)
        snprintf(media_type, QUERY_MEDIA_TYPE_MAX, "%s",
                 PQgetisnull(res, 0, 1) ? "application/json" : PQgetvalue(res, 0, 1));
    PQclear(res);
    if (rc == ERR_OK)
        rc = query_raw_body(conn, sha, out, err);
    return rc;
}
