/*
 * store — the write side of PostgreSQL. A request turns its reports into a "unit": plain JSON
 * rows for every table it touches (certificates and chains only when not yet stored, raw body
 * template and fragments, reports). The writer commits many units in one statement (group
 * commit); the spool keeps the same units on disk while PostgreSQL is away, so replay goes
 * through exactly the same code. Every insert is ON CONFLICT DO NOTHING: replaying a unit
 * that was already committed changes nothing.
 */
#ifndef STORE_H
#define STORE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "report.h"

struct store;

/* New store with its caches of what is known to be stored. */
struct store *store_new(void);
void store_free(struct store *st);
/* Forget the caches (e.g. after the database was replaced). */
void store_forget(struct store *st);

/* A new empty unit. */
json_t *store_unit_new(void);

/* Add one request body (byte-exact, split into template + fragments). */
enum err_code store_unit_add_body(struct store *st, json_t *unit, const uint8_t sha256[32],
                                  int64_t received_at, const char *body, size_t len,
                                  struct err *err) ERR_MUSTCHECK;

/* Add one report with its chains. Borrowed: r, findings, analyses (copied into the unit). */
enum err_code store_unit_add_report(struct store *st, json_t *unit, const struct report *r,
                                    const char *group_id, json_t *findings, json_t *served_analysis,
                                    json_t *validated_analysis, struct err *err) ERR_MUSTCHECK;

/* Extra rows for other tables, added by later stages (e.g. "groups", "rollups"). */
enum err_code store_unit_append(json_t *unit, const char *table, json_t *row_take);

/* JSON values as json_populate_recordset reads them: bytea (\x + hex) and timestamptz. */
json_t *store_json_bytea(const uint8_t *data, size_t len);
json_t *store_json_time(int64_t usec);

/* Number of reports in a unit. */
size_t store_unit_reports(const json_t *unit);

/* The member a sealed unit keeps its tables' JSON text under (spool writes leave it out). */
#define STORE_SEALED_KEY "_sealed"

/* Serialise the unit's tables once, on the request thread, so the single writer only joins
 * texts. Call after the last add; the unit must not change afterwards. */
enum err_code store_unit_seal(json_t *unit) ERR_MUSTCHECK;

/* Commit units in one statement (atomic). On success the caches learn what was stored. */
enum err_code store_commit(struct store *st, PGconn *conn, json_t *const *units, size_t n,
                           struct err *err) ERR_MUSTCHECK;

#endif
