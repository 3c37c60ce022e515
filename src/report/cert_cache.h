/*
 * cert_cache — decoded certificates shared by content: the same PEM text decodes once and
 * later reports get another reference to the same struct cert. Thread-safe, bounded in entries
 * (direct-mapped slots: a newer certificate replaces an older one in its slot) and in bytes of
 * PEM and DER held (clients can mint large certificates): one that would take the cache over
 * its budget is decoded and not kept.
 */
#ifndef CERT_CACHE_H
#define CERT_CACHE_H

#include <stddef.h>

#include "base/err.h"
#include "report/cert.h"

struct cert_cache;

/* A cache of up to slots entries (rounded up to a power of two) holding at most max_bytes of
 * PEM text and DER. NULL on OOM. */
struct cert_cache *cert_cache_new(size_t slots, size_t max_bytes);
/* Drops the cache's references. Accepts NULL. */
void cert_cache_free(struct cert_cache *cc);

/* Like cert_from_client_pem (a new reference in *out), through the cache; cc may be NULL. */
enum err_code cert_cache_from_pem(struct cert_cache *cc, const char *pem, size_t len,
                                  struct cert **out, struct err *err) ERR_MUSTCHECK;

/* Lookups answered from the cache and decodes performed, for tests and metrics. */
void cert_cache_stats(const struct cert_cache *cc, unsigned long long *hits,
                      unsigned long long *misses);

#endif
