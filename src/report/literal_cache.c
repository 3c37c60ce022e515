#include "report/literal_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    uint8_t sha256[32];
    char *text; /* decoded, NUL-free (no \u0000 was accepted); NULL when the slot is empty */
    size_t len;
};

struct literal_cache {
    pthread_mutex_t lock;
    struct slot *slots;
    size_t mask;
    size_t bytes, max_bytes; /* decoded text held, and the budget */
    unsigned long long hits, misses;
};

struct literal_cache *literal_cache_new(size_t slots, size_t max_bytes)
{
    size_t n = 1;
    while (n < slots)
        n <<= 1;
    struct literal_cache *lc = calloc(1, sizeof(*lc));
    if (lc == NULL)
        return NULL;
    if ((lc->slots = calloc(n, sizeof(*lc->slots))) == NULL) {
        free(lc);
        return NULL;
    }
    lc->mask = n - 1;
    lc->max_bytes = max_bytes;
    pthread_mutex_init(&lc->lock, NULL);
    return lc;
}

void literal_cache_free(struct literal_cache *lc)
{
    if (lc == NULL)
        return;
    for (size_t i = 0; i <= lc->mask; i++)
        free(lc->slots[i].text);
    pthread_mutex_destroy(&lc->lock);
    free(lc->slots);
    free(lc);
}

/* The literal through jansson itself, so that it decodes exactly as inside a whole body. */
static enum err_code decode(const char *lit, size_t len, json_t **out)
{
    json_error_t jerr;
    json_t *v = json_loadb(lit, len, JSON_DECODE_ANY, &jerr);
    if (v == NULL || !json_is_string(v)) {
        json_decref(v);
        return ERR_INVALID;
    }
    *out = v;
    return ERR_OK;
}

static size_t slot_index(const struct literal_cache *lc, const uint8_t sha256[32])
{
    size_t h;
    memcpy(&h, sha256, sizeof(h)); /* already uniform */
    return h & lc->mask;
}

enum err_code literal_cache_decode(struct literal_cache *lc, const uint8_t sha256[32],
                                   const char *lit, size_t len, json_t **out)
{
    *out = NULL;
    if (lc == NULL)
        return decode(lit, len, out);
    struct slot *s = &lc->slots[slot_index(lc, sha256)];
    pthread_mutex_lock(&lc->lock);
    if (s->text != NULL && memcmp(s->sha256, sha256, 32) == 0) {
        lc->hits++;
        *out = json_stringn_nocheck(s->text, s->len);
        pthread_mutex_unlock(&lc->lock);
        return *out != NULL ? ERR_OK : ERR_NOMEM;
    }
    lc->misses++;
    pthread_mutex_unlock(&lc->lock);

    enum err_code rc = decode(lit, len, out);
    if (rc != ERR_OK)
        return rc;
    size_t n = json_string_length(*out);
    char *copy = n <= LITERAL_CACHE_MAX_ENTRY ? malloc(n + 1) : NULL;
    if (copy == NULL)
        return ERR_OK; /* decoded all the same; only the cache misses it */
    memcpy(copy, json_string_value(*out), n + 1);
    char *old = NULL;
    pthread_mutex_lock(&lc->lock);
    size_t freed = s->text != NULL ? s->len : 0;
    if (lc->bytes - freed + n <= lc->max_bytes) {
        old = s->text;
        lc->bytes = lc->bytes - freed + n;
        memcpy(s->sha256, sha256, 32);
        s->text = copy;
        s->len = n;
        copy = NULL;
    }
    pthread_mutex_unlock(&lc->lock);
    free(old);
    free(copy); /* over the budget: not kept */
    return ERR_OK;
}

size_t literal_cache_bytes(struct literal_cache *lc)
{
    pthread_mutex_lock(&lc->lock);
    size_t n = lc->bytes;
    pthread_mutex_unlock(&lc->lock);
    return n;
}

void literal_cache_stats(struct literal_cache *lc, unsigned long long *hits,
                         unsigned long long *misses)
{
    pthread_mutex_lock(&lc->lock);
    *hits = lc->hits;
    *misses = lc->misses;
    pthread_mutex_unlock(&lc->lock);
}
