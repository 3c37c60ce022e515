#include "report/cert_cache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    char *pem; /* the text the certificate was decoded from, compared in full */
    size_t len;
    uint64_t hash;
    struct cert *cert; /* the cache's reference */
};

struct cert_cache {
    pthread_mutex_t lock;
    struct slot *slots;
    size_t mask;
    size_t bytes, max_bytes; /* PEM + DER held, and the budget */
    unsigned long long hits, misses;
};

struct cert_cache *cert_cache_new(size_t slots, size_t max_bytes)
{
    size_t n = 1;
    while (n < slots)
        n <<= 1;
    struct cert_cache *cc = calloc(1, sizeof(*cc));
    if (cc == NULL)
        return NULL;
    cc->slots = calloc(n, sizeof(*cc->slots));
    if (cc->slots == NULL) {
        free(cc);
        return NULL;
    }
    cc->mask = n - 1;
    cc->max_bytes = max_bytes;
    pthread_mutex_init(&cc->lock, NULL);
    return cc;
}

void cert_cache_free(struct cert_cache *cc)
{
    if (cc == NULL)
        return;
    for (size_t i = 0; i <= cc->mask; i++) {
        free(cc->slots[i].pem);
        cert_free(cc->slots[i].cert);
    }
    pthread_mutex_destroy(&cc->lock);
    free(cc->slots);
    free(cc);
}

/* FNV-1a: a slot index, not a security boundary (the text itself is compared). */
static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

enum err_code cert_cache_from_pem(struct cert_cache *cc, const char *pem, size_t len,
                                  struct cert **out, struct err *err)
{
    if (cc == NULL)
        return cert_from_client_pem(pem, len, out, err);
    uint64_t h = fnv1a(pem, len);
    struct slot *s = &cc->slots[h & cc->mask];
    pthread_mutex_lock(&cc->lock);
    if (s->cert != NULL && s->hash == h && s->len == len && memcmp(s->pem, pem, len) == 0) {
        *out = cert_ref(s->cert);
        cc->hits++;
        pthread_mutex_unlock(&cc->lock);
        return ERR_OK;
    }
    cc->misses++;
    pthread_mutex_unlock(&cc->lock);

    struct cert *c = NULL;
    enum err_code rc = cert_from_client_pem(pem, len, &c, err);
    if (rc != ERR_OK)
        return rc;
    char *copy = malloc(len);
    if (copy != NULL) {
        memcpy(copy, pem, len);
        size_t size = len + c->der_len;
        char *old_pem = NULL;
        struct cert *old = NULL;
        pthread_mutex_lock(&cc->lock);
        size_t freed = s->cert != NULL ? s->len + s->cert->der_len : 0;
        if (cc->bytes - freed + size <= cc->max_bytes) {
            old_pem = s->pem;
            old = s->cert;
            cc->bytes = cc->bytes - freed + size;
            s->pem = copy;
            s->len = len;
            s->hash = h;
            s->cert = cert_ref(c);
            copy = NULL;
        }
        pthread_mutex_unlock(&cc->lock);
        free(copy); /* over the budget: not kept */
        free(old_pem);
        cert_free(old);
    }
    *out = c;
    return ERR_OK;
}

void cert_cache_stats(const struct cert_cache *cc, unsigned long long *hits,
                      unsigned long long *misses)
{
    pthread_mutex_lock((pthread_mutex_t *)&cc->lock);
    *hits = cc->hits;
    *misses = cc->misses;
    pthread_mutex_unlock((pthread_mutex_t *)&cc->lock);
}
