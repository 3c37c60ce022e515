/*
 * spool — the durable fallback while PostgreSQL is unreachable: an append-only file of store
 * units (one JSON line each, store_unit_serialize), fsynced before the requests are answered,
 * and replayed in order once the database is back. Replay is idempotent (report ids are assigned
 * before anything is written and every insert is ON CONFLICT DO NOTHING), so a crash between a
 * replayed commit and the recorded offset only replays a unit twice, never loses or doubles a
 * report.
 *
 * Files in the spool folder: spool.log (the units) and spool.offset (bytes of spool.log
 * already committed, written with fsync), and quarantine.log: units that could not be stored
 * after every retry (or that do not parse), moved there and fsynced before the offset passes
 * them, one JSON object a line, never deleted by the server. Used by the writer thread only;
 * the depth readers (metrics, readiness) use atomics; spool_quarantine_list reads its own
 * descriptor and may run on any thread.
 */
#ifndef SPOOL_H
#define SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"

struct spool;
struct store_unit;

/* Open (creating the folder and files); max_bytes bounds spool.log. New spool in *out. */
enum err_code spool_open(const char *dir, size_t max_bytes, struct spool **out,
                         struct err *err) ERR_MUSTCHECK;
void spool_close(struct spool *sp);

/* Append units and fsync. ERR_UNAVAILABLE when the disk is full or the cap is reached;
 * nothing is acknowledged then (a partial line is cut back off). */
enum err_code spool_append(struct spool *sp, struct store_unit *const *units, size_t n,
                           struct err *err) ERR_MUSTCHECK;

/* One spooled line: its unit (NULL when the line does not parse) and its bytes in spool.log. */
struct spool_entry {
    struct store_unit *unit;
    uint64_t start, end; /* end: just after its newline */
};

/* Read up to max entries from the replay position into out[] (caller frees the units);
 * *n_out entries. */
enum err_code spool_peek(struct spool *sp, size_t max, struct spool_entry *out, size_t *n_out,
                         struct err *err) ERR_MUSTCHECK;
/* Record that everything before offset is stored (or quarantined); truncates the file once
 * all is. */
enum err_code spool_advance(struct spool *sp, uint64_t offset, struct err *err) ERR_MUSTCHECK;

/* Copy entry e (its exact bytes, base64) with why it could not be stored (short text, no
 * report contents) to quarantine.log and fsync. The caller advances past it afterwards. */
enum err_code spool_quarantine(struct spool *sp, const struct spool_entry *e, const char *reason,
                               struct err *err) ERR_MUSTCHECK;
/* Entries of quarantine.log from index `from`, at most limit: a new array of objects
 * {"index", "quarantined_at", "reason", "bytes", "sha256", "reports", "report_ids"} in *out,
 * *next the index after the last one, or 0 when there are no more. */
enum err_code spool_quarantine_list(const struct spool *sp, size_t from, size_t limit, json_t **out,
                                    size_t *next, struct err *err) ERR_MUSTCHECK;
/* Entries in quarantine.log (thread-safe). */
uint64_t spool_quarantined_units(const struct spool *sp);

/* Units waiting for replay (approximate, thread-safe) and their bytes. */
uint64_t spool_pending_units(const struct spool *sp);
uint64_t spool_pending_bytes(const struct spool *sp);

#endif
