#include "http/ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define RATELIMIT_SLOTS 8192 /* distinct networks tracked at once */
#define RATELIMIT_PROBE 8

struct bucket {
    char key[64];
    double tokens;
    int64_t updated; /* usec */
};

struct ratelimit {
    unsigned count;
    double per_usec; /* tokens refilled per microsecond */
    pthread_mutex_t lock;
    struct bucket *slots;
};

struct ratelimit *ratelimit_new(unsigned count, unsigned period_s)
{
    struct ratelimit *rl = calloc(1, sizeof(*rl));
    if (rl == NULL)
        return NULL;
    rl->count = count;
    rl->per_usec = period_s > 0 ? (double)count / ((double)period_s * 1e6) : 0;
    rl->slots = calloc(RATELIMIT_SLOTS, sizeof(*rl->slots));
    if (rl->slots == NULL) {
        free(rl);
        return NULL;
    }
    pthread_mutex_init(&rl->lock, NULL);
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (rl == NULL)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl->slots);
    free(rl);
}

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

bool ratelimit_take(struct ratelimit *rl, const char *key, unsigned n, int64_t now_usec,
                    unsigned *retry_after_s)
{
    if (rl == NULL || rl->count == 0)
        return true;
    /* Buckets hold keys of up to 63 bytes; a longer key is known by its first 63 bytes, so
     * the lookup and the stored key always agree. */
    char k[sizeof(rl->slots[0].key)];
    snprintf(k, sizeof(k), "%s", key);
    key = k;
    pthread_mutex_lock(&rl->lock);
    size_t h = hash(key);
    struct bucket *b = NULL, *oldest = NULL;
    for (size_t i = 0; i < RATELIMIT_PROBE; i++) {
        struct bucket *s = &rl->slots[(h + i) % RATELIMIT_SLOTS];
        if (s->key[0] != '\0' && strcmp(s->key, key) == 0) {
            b = s;
            break;
        }
        if (oldest == NULL || s->updated < oldest->updated)
            oldest = s;
    }
    if (b == NULL) {
        b = oldest;
        strncpy(b->key, key, sizeof(b->key) - 1);
        b->key[sizeof(b->key) - 1] = '\0';
        b->tokens = rl->count;
        b->updated = now_usec;
    }
    if (now_usec > b->updated) {
        b->tokens += (double)(now_usec - b->updated) * rl->per_usec;
        if (b->tokens > rl->count)
            b->tokens = rl->count;
        b->updated = now_usec;
    }
    bool ok = b->tokens >= (double)n;
    if (ok) {
        b->tokens -= n;
    } else if (retry_after_s != NULL) {
        double missing = (double)n - b->tokens;
        double secs = rl->per_usec > 0 ? missing / rl->per_usec / 1e6 : 60;
        *retry_after_s = secs < 1 ? 1 : (unsigned)(secs + 0.999);
    }
    pthread_mutex_unlock(&rl->lock);
    return ok;
}
