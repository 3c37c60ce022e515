/*
 * batcher — group commit between the request threads and PostgreSQL. A request hands its
 * store unit over and waits; a free writer (PINWATCH_WRITERS threads, one connection each)
 * takes everything queued (up to batch_max reports), commits it in one transaction, and wakes
 * every waiter of the batch. Writers commit side by side, so one batch's database work
 * overlaps the next one's. When PostgreSQL is unreachable the batch goes to the spool
 * (fsynced) instead; writer 0 replays the spool in order once the database is back, one chunk
 * at a time, and while the spool holds reports new batches join it behind them. A waiter is
 * only woken when its unit is durable (committed or spooled) or when neither could take it.
 */
#ifndef BATCHER_H
#define BATCHER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/config.h"
#include "base/err.h"

struct batcher;
struct spool;
struct store;
struct store_unit;

/* Borrowed: cfg, st, sp (may be NULL: no spool). Starts the writer threads. */
enum err_code batcher_start(const struct config *cfg, struct store *st, struct spool *sp,
                            struct batcher **out, struct err *err) ERR_MUSTCHECK;
/* Finish everything queued, stop the writers, free. Accepts NULL. */
void batcher_stop(struct batcher *b);

/* Hand a unit over and wait until it is durable. Takes unit. ERR_OK when committed or
 * spooled; ERR_UNAVAILABLE when neither PostgreSQL nor the spool could take it. */
enum err_code batcher_submit(struct batcher *b, struct store_unit *unit,
                             struct err *err) ERR_MUSTCHECK;

/* true while the writers cannot reach PostgreSQL. */
bool batcher_db_down(const struct batcher *b);

/* Prometheus text for the write path (batch sizes, commit latency, errors, spool). */
void batcher_metrics(const struct batcher *b, FILE *out);

#endif
