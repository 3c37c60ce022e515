/*
 * sigcache — results of signature checks, keyed by the signed certificate (SHA-256 of its
 * DER) and the key that checked it (SHA-256 of its SubjectPublicKeyInfo): the same link costs
 * one check, however many chains repeat it (a chain whose last certificate changes on every
 * request still repeats its other links). Direct-mapped, fixed size, thread-safe.
 */
#ifndef SIGCACHE_H
#define SIGCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sigcache;

/* A cache of `slots` results (rounded down to a power of two, at least 64). NULL on OOM. */
struct sigcache *sigcache_new(size_t slots);
void sigcache_free(struct sigcache *sc);

/* The result recorded for (cert, key): true when found, *ok the result. sc may be NULL. */
bool sigcache_get(struct sigcache *sc, const uint8_t cert_sha256[32],
                  const uint8_t key_spki_sha256[32], bool *ok);
void sigcache_put(struct sigcache *sc, const uint8_t cert_sha256[32],
                  const uint8_t key_spki_sha256[32], bool ok);

/* Lookups answered from the cache and not. */
void sigcache_stats(const struct sigcache *sc, unsigned long long *hits,
                    unsigned long long *misses);

#endif
