/*
 * spool — the durable fallback while PostgreSQL is unreachable: an append-only file of store
 * units (one JSON line each, store_unit_serialize), fsynced before the requests are answered,
 * and replayed in order once the database is back. Replay is idempotent (report ids are assigned
 * before anything is written and every insert is ON CONFLICT DO NOTHING), so a crash between a
 * replayed commit and the recorded offset only replays a unit twice, never loses or doubles a
 * report.
 *
 * Files in the spool folder: spool.log (the units) and spool.offset (bytes of spool.log
 * already committed, written with fsync). Used by the writer thread only; the depth readers
 * (metrics, readiness) use atomics.
 */
#ifndef SPOOL_H
#define SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* Read up to max units from the replay position. New units in out[] (caller frees);
 * *n_out units, *next_offset the position after them. */
enum err_code spool_peek(struct spool *sp, size_t max, struct store_unit **out, size_t *n_out,
                         uint64_t *next_offset, struct err *err) ERR_MUSTCHECK;
/* Record that everything before offset is committed; truncates the file once all is. */
enum err_code spool_advance(struct spool *sp, uint64_t offset, struct err *err) ERR_MUSTCHECK;

/* Units waiting for replay (approximate, thread-safe) and their bytes. */
uint64_t spool_pending_units(const struct spool *sp);
uint64_t spool_pending_bytes(const struct spool *sp);

#endif
