/*
 * retention — PINWATCH_RETENTION_DAYS (SPEC 10): report partitions (a month of receipt each)
 * whose whole range lies before now minus the limit are dropped, with the raw bodies, chains,
 * certificates and fragments no remaining report uses. Rollups, groups, pin expirations and
 * fired alerts stay. One node at a time (an advisory lock); each partition in a transaction of
 * its own that first takes the lock every commit takes before writing (so no commit is in
 * flight while unreferenced content is deleted), waiting at most a few seconds for it.
 */
#ifndef RETENTION_H
#define RETENTION_H

#include <libpq-fe.h>
#include <stdint.h>

#include "base/err.h"

struct retention_stats {
    unsigned long long runs;
    unsigned long long partitions;
    unsigned long long reports;
    unsigned long long raw_bodies;
    unsigned long long chains;
    unsigned long long certificates;
    unsigned long long fragments;
    int64_t last_run; /* unix seconds of the last finished run, 0 = none */
};

/* One run: drop every partition due; the counts are added to st. */
enum err_code retention_run(PGconn *conn, unsigned days, struct retention_stats *st,
                            struct err *err) ERR_MUSTCHECK;

#endif
