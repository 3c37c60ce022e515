/*
 * store_unit — what store.c (building units) and store_commit.c (committing and spooling
 * them) share: the unit's layout, the caches of stored keys, the staging columns. Private to
 * the store; nothing else includes it.
 */
#ifndef STORE_UNIT_H
#define STORE_UNIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "store/store.h"

/* The keyed tables come first: their rows start with the SHA-256 that identifies them. */
enum store_table {
    STORE_CERTIFICATES = 0,
    STORE_CHAINS,
    STORE_FRAGMENTS,
    STORE_BODIES,
    STORE_REPORTS,
    STORE_GROUPS,
    STORE_N_TABLES
};
#define STORE_N_KEYED 4

#define STORE_UNIT_MONTHS 8

struct store_unit {
    bool legacy; /* spooled before 0010: rows[t] is a JSON array, not COPY text */
    struct buf rows[STORE_N_TABLES];
    size_t reports;
    int64_t months[STORE_UNIT_MONTHS]; /* first instant of each month its reports fall in */
    size_t n_months;
};

struct store_known {
    uint8_t (*keys)[32];
    bool *used;
    size_t n;
};

struct store {
    pthread_mutex_t lock;
    struct store_known known[STORE_N_KEYED]; /* keys known to be stored, per keyed table */
    int64_t months[64];                      /* first-of-month values whose partition exists */
    size_t n_months;
};

/* Whether key is known to be stored in table t (a keyed table). */
bool store_knows(struct store *st, enum store_table t, const uint8_t key[32]);
/* Remember a stored key; the caller holds st->lock. */
void store_known_add(struct store_known *s, const uint8_t key[32]);

#endif
