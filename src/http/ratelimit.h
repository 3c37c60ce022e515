/*
 * ratelimit — a token bucket per client network (PINWATCH_RATE_LIMIT, e.g. 600/min): each
 * network may have `count` reports accepted per `period` seconds, refilled continuously.
 * Thread-safe; the table is bounded (the least recently used bucket is recycled when full).
 */
#ifndef RATELIMIT_H
#define RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit;

/* count == 0 disables limiting. New limiter (NULL on OOM). */
struct ratelimit *ratelimit_new(unsigned count, unsigned period_s);
void ratelimit_free(struct ratelimit *rl);

/* Take n tokens for key at time now_usec. true when allowed; otherwise *retry_after_s says
 * when enough tokens will be back. */
bool ratelimit_take(struct ratelimit *rl, const char *key, unsigned n, int64_t now_usec,
                    unsigned *retry_after_s);

#endif
