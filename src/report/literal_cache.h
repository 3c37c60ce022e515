/*
 * literal_cache — JSON string literals decoded once by content. Reports repeat the same
 * certificate text (a few chains serve millions of devices), and lexing those long literals is
 * most of the cost of parsing a body; with this cache a literal seen before costs the SHA-256
 * its caller already has. Thread-safe, bounded in entries (direct-mapped slots: a newer literal
 * replaces an older one in its slot) and in bytes: any string longer than a certificate could
 * be fills it, so a literal over LITERAL_CACHE_MAX_ENTRY bytes, or one that would take the
 * cache over its byte budget, is decoded and not kept.
 */
#ifndef LITERAL_CACHE_H
#define LITERAL_CACHE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct literal_cache;

#define LITERAL_CACHE_MAX_ENTRY 16384 /* decoded bytes; a PEM certificate is 1-3 kB */

/* A cache of up to slots entries (rounded up to a power of two) holding at most max_bytes of
 * decoded text. NULL on OOM. */
struct literal_cache *literal_cache_new(size_t slots, size_t max_bytes);
/* Accepts NULL. */
void literal_cache_free(struct literal_cache *lc);

/*
 * The string that the JSON string literal lit (len bytes, quotes included) decodes to, as a new
 * json_t in *out, decoded exactly as json_loadb would decode it inside a body (no \u0000).
 * sha256 is SHA-256(lit), the cache key. ERR_INVALID when lit is not one valid JSON string
 * literal (never cached), ERR_NOMEM on OOM. lc may be NULL: decode every time.
 */
enum err_code literal_cache_decode(struct literal_cache *lc, const uint8_t sha256[32],
                                   const char *lit, size_t len, json_t **out) ERR_MUSTCHECK;

/* Lookups answered from the cache and literals decoded, for tests and metrics. */
void literal_cache_stats(struct literal_cache *lc, unsigned long long *hits,
                         unsigned long long *misses);
/* Bytes of decoded text held now. */
size_t literal_cache_bytes(struct literal_cache *lc);

#endif
