/*
 * store — the write side of PostgreSQL. A request turns its reports into a unit: rows in
 * COPY text format for every table it touches (certificates and chains only when not yet
 * stored, raw body template and fragments, reports, groups). The writer streams the rows of
 * many units into per-session staging tables and moves them into the real tables with one
 * function call, in one transaction (group commit, migrations/0010_staged_commit.sql). The
 * spool keeps the same units on disk while PostgreSQL is away, so replay goes through the
 * same code. Every insert is ON CONFLICT DO NOTHING: replaying a unit that was already
 * committed changes nothing.
 *
 * Units spooled by a version before the staged commit (JSON rows) are still read and
 * committed through the JSON batch function they were written for.
 */
#ifndef STORE_H
#define STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "analysis/analysis.h"
#include "base/err.h"
#include "report/report.h"

struct store;
struct store_unit;
struct rawbody_split;

/* New store with its caches of what is known to be stored. */
struct store *store_new(void);
void store_free(struct store *st);
/* Forget the caches (e.g. after the database was replaced). */
void store_forget(struct store *st);

/* A new empty unit; free with store_unit_free (accepts NULL). */
struct store_unit *store_unit_new(void);
void store_unit_free(struct store_unit *u);

/* Add one request body (byte-exact): len bytes, split by rawbody_split (borrowed; its template
 * is compressed in place), with the media type it came with (borrowed; NULL: none). */
enum err_code store_unit_add_body(struct store *st, struct store_unit *u, const uint8_t sha256[32],
                                  int64_t received_at, size_t len, const char *media_type,
                                  struct rawbody_split *split, struct err *err) ERR_MUSTCHECK;

/* Add one report with its chains and its group's row. Borrowed: r, res. */
enum err_code store_unit_add_report(struct store *st, struct store_unit *u, const struct report *r,
                                    const struct analysis_result *res,
                                    struct err *err) ERR_MUSTCHECK;

/* Number of reports in a unit. */
size_t store_unit_reports(const struct store_unit *u);

/* The unit as one line of JSON for the spool (new string, no newline), or NULL (no memory, or
 * rows that are not valid UTF-8: such a unit cannot be spooled). */
char *store_unit_serialize(const struct store_unit *u);
/* A unit from a spool line, of this version or one before the staged commit. New unit in
 * *out; ERR_INVALID when the line is not a unit. */
enum err_code store_unit_parse(const char *line, size_t len, struct store_unit **out,
                               struct err *err) ERR_MUSTCHECK;

/* The ids of the unit's reports as a new JSON array of strings (empty for a legacy unit). */
json_t *store_unit_report_ids(const struct store_unit *u);

/* Set up a new connection for store_commit (its staging tables). */
enum err_code store_connection_setup(PGconn *conn, struct err *err) ERR_MUSTCHECK;

/* Commit units (atomic per run of units of one kind). On success the caches learn what was
 * stored. ERR_CONFLICT when PostgreSQL chose this transaction as a deadlock victim. */
enum err_code store_commit(struct store *st, PGconn *conn, struct store_unit *const *units,
                           size_t n, struct err *err) ERR_MUSTCHECK;

#endif
