#include "analysis/sigcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    uint8_t cert[32], key[32];
    bool used, ok;
};

struct sigcache {
    pthread_mutex_t lock;
    size_t mask;
    struct slot *slots;
    unsigned long long hits, misses; /* atomic */
};

struct sigcache *sigcache_new(size_t slots)
{
    size_t n = 64;
    while (n * 2 <= slots)
        n *= 2;
    struct sigcache *sc = calloc(1, sizeof(*sc));
    if (sc == NULL || (sc->slots = calloc(n, sizeof(*sc->slots))) == NULL) {
        free(sc);
        return NULL;
    }
    sc->mask = n - 1;
    pthread_mutex_init(&sc->lock, NULL);
    return sc;
}

void sigcache_free(struct sigcache *sc)
{
    if (sc == NULL)
        return;
    pthread_mutex_destroy(&sc->lock);
    free(sc->slots);
    free(sc);
}

/* Both inputs are SHA-256 values already: their bytes mixed are a fine slot index. */
static size_t slot_of(const struct sigcache *sc, const uint8_t cert[32], const uint8_t key[32])
{
    size_t h = 0;
    for (size_t i = 0; i < sizeof(size_t); i++)
        h = (h << 8) | (size_t)(cert[i] ^ key[31 - i]);
    return h & sc->mask;
}

bool sigcache_get(struct sigcache *sc, const uint8_t cert_sha256[32],
                  const uint8_t key_spki_sha256[32], bool *ok)
{
    if (sc == NULL)
        return false;
    const struct slot *s = &sc->slots[slot_of(sc, cert_sha256, key_spki_sha256)];
    pthread_mutex_lock(&sc->lock);
    bool found = s->used && memcmp(s->cert, cert_sha256, 32) == 0 &&
                 memcmp(s->key, key_spki_sha256, 32) == 0;
    if (found)
        *ok = s->ok;
    pthread_mutex_unlock(&sc->lock);
    __atomic_add_fetch(found ? &sc->hits : &sc->misses, 1, __ATOMIC_RELAXED);
    return found;
}

void sigcache_put(struct sigcache *sc, const uint8_t cert_sha256[32],
                  const uint8_t key_spki_sha256[32], bool ok)
{
    if (sc == NULL)
        return;
    struct slot *s = &sc->slots[slot_of(sc, cert_sha256, key_spki_sha256)];
    pthread_mutex_lock(&sc->lock);
    memcpy(s->cert, cert_sha256, 32);
    memcpy(s->key, key_spki_sha256, 32);
    s->ok = ok;
    s->used = true;
    pthread_mutex_unlock(&sc->lock);
}

void sigcache_stats(const struct sigcache *sc, unsigned long long *hits, unsigned long long *misses)
{
    *hits = sc != NULL ? __atomic_load_n(&sc->hits, __ATOMIC_RELAXED) : 0;
    *misses = sc != NULL ? __atomic_load_n(&sc->misses, __ATOMIC_RELAXED) : 0;
}
