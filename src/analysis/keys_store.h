/*
 * keys_store — the expected keys in PostgreSQL (table expected_keys), the source of truth
 * that every node's in-memory struct expected_keys follows: written by the admin API, seeded
 * from the PINWATCH_EXPECTED_KEYS file at start, re-read periodically so that a change made
 * through one node reaches the ingest of the others.
 */
#ifndef KEYS_STORE_H
#define KEYS_STORE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "base/err.h"

struct expected_key;
struct expected_keys;

/* Replace one pattern's keys (inside the caller's transaction, if any). */
enum err_code keys_store_replace(PGconn *conn, const char *pattern, const struct expected_key *keys,
                                 size_t n, struct err *err) ERR_MUSTCHECK;

/* Make ek equal to the database: every stored pattern's keys, and patterns no longer stored
 * removed. fingerprint (33 bytes, optional) gets a digest of the stored set; when it equals
 * the digest passed in, nothing is reloaded. */
enum err_code keys_store_load(PGconn *conn, struct expected_keys *ek, char fingerprint[33],
                              struct err *err) ERR_MUSTCHECK;

/* Write the hosts of file_ek (may be NULL) into the database, then load everything into ek. */
enum err_code keys_store_sync(PGconn *conn, const struct expected_keys *file_ek,
                              struct expected_keys *ek, struct err *err) ERR_MUSTCHECK;

#endif
