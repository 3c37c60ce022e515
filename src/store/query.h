/*
 * query — the read side: filters shared by the report list and the export, and the SQL that
 * answers them. Every value reaches PostgreSQL as a parameter.
 */
#ifndef QUERY_H
#define QUERY_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/timeparse.h"

/* Room for a stored media type ("application/expect-ct-report+json"). */
#define QUERY_MEDIA_TYPE_MAX 64

struct query_filters {
    int64_t from, to; /* received_at range, Unix microseconds (inclusive) */
    char *hostname;   /* normalized */
    char *app;
    char *app_version;
    char *platform;
    char *network; /* CIDR text */
    char *verdict;
    char *group;
    unsigned limit; /* 1..1000, default 100 */
    bool has_cursor;
    int64_t cursor_ts;
    char cursor_id[40];
};

/* Reads one named parameter (query string, CLI flag, ...); NULL when absent. */
typedef const char *query_param_fn(void *ctx, const char *name);

/* Parse and validate the filters; ERR_INVALID with key "invalid_parameter" on a bad value.
 * now_usec is the default "to"; "from" defaults to 7 days before "to". */
enum err_code query_filters_parse(query_param_fn *get, void *ctx, int64_t now_usec,
                                  struct query_filters *f, struct err *err) ERR_MUSTCHECK;
void query_filters_cleanup(struct query_filters *f);

/* The arguments of pinwatch_reports_matching (sql/functions/70_reports.sql), the reports that
 * the filters keep: QUERY_MATCH_ARGS spells them $1..$11 in a call, params gives their values
 * (NULL: no filter). with_cursor: only the reports after the filters' cursor. Borrows f. */
#define QUERY_MATCH_NPARAMS 11
#define QUERY_MATCH_ARGS                                                                           \
    "$1::timestamptz, $2::timestamptz, $3, $4, $5, $6, $7::cidr, $8, $9, $10::timestamptz, "       \
    "$11::uuid"
struct query_match {
    const char *params[QUERY_MATCH_NPARAMS];
    char from[TIMEPARSE_FMT_LEN], to[TIMEPARSE_FMT_LEN], before[TIMEPARSE_FMT_LEN];
};
void query_match_params(const struct query_filters *f, bool with_cursor, struct query_match *m);

/* {"reports": [...], "next_cursor": ...} into out. */
enum err_code query_reports_page(PGconn *conn, const struct query_filters *f, struct buf *out,
                                 struct err *err) ERR_MUSTCHECK;
/* One report's JSON into out; ERR_NOT_FOUND when there is none. */
enum err_code query_report_get(PGconn *conn, const char *id, struct buf *out,
                               struct err *err) ERR_MUSTCHECK;
/* The exact body a report came in (rebuilt from template + fragments) into out, its recorded
 * SHA-256 (hex) into sha_hex when not NULL, and the media type it came with into media_type
 * when not NULL ("application/json" when none was recorded). */
enum err_code query_report_raw(PGconn *conn, const char *id, struct buf *out, char sha_hex[65],
                               char media_type[QUERY_MEDIA_TYPE_MAX],
                               struct err *err) ERR_MUSTCHECK;
/* The body with this SHA-256 (binary) into out. */
enum err_code query_raw_body(PGconn *conn, const uint8_t sha256[32], struct buf *out,
                             struct err *err) ERR_MUSTCHECK;

#endif
