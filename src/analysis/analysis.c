#include "analysis/analysis.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/chain.h"
#include "analysis/sigcache.h"
#include "base/codec.h"

#define CACHE_SLOTS    4096  /* distinct chains kept analysed; direct-mapped */
#define SIGCACHE_SLOTS 16384 /* signature check results (links), about 1 MiB */

struct cache_entry {
    uint8_t key[32];
    struct chain_analysis *a;
    json_t *json;
    int refs;     /* holders outside the cache, guarded by the cache lock */
    bool evicted; /* no longer in its slot: freed when refs reaches 0 */
};

struct analysis {
    const struct trust_store *ts;
    const struct catalog *cat;
    const struct expected_keys *ek;
    pthread_mutex_t lock;
    struct cache_entry *slots[CACHE_SLOTS];
    struct sigcache *sigs;
};

struct analysis *analysis_new(const struct trust_store *ts, const struct catalog *cat,
                              const struct expected_keys *ek)
{
    struct analysis *an = calloc(1, sizeof(*an));
    if (an == NULL)
        return NULL;
    an->ts = ts;
    an->cat = cat;
    an->ek = ek;
    if ((an->sigs = sigcache_new(SIGCACHE_SLOTS)) == NULL) {
        free(an);
        return NULL;
    }
    pthread_mutex_init(&an->lock, NULL);
    return an;
}

static void entry_free(struct cache_entry *e)
{
    chain_analysis_free(e->a);
    json_decref(e->json);
    free(e);
}

void analysis_free(struct analysis *an)
{
    if (an == NULL)
        return;
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        if (an->slots[i] != NULL)
            entry_free(an->slots[i]);
    }
    pthread_mutex_destroy(&an->lock);
    sigcache_free(an->sigs);
    free(an);
}

static size_t slot_of(const uint8_t key[32])
{
    size_t h;
    memcpy(&h, key, sizeof(h));
    return h % CACHE_SLOTS;
}

static void release(struct analysis *an, struct cache_entry *e)
{
    if (e == NULL)
        return;
    pthread_mutex_lock(&an->lock);
    bool gone = --e->refs == 0 && e->evicted;
    pthread_mutex_unlock(&an->lock);
    if (gone)
        entry_free(e);
}

/* The analysed chain (cached), with one reference for the caller. */
static struct cache_entry *lookup(struct analysis *an, const struct report_chain *ch,
                                  struct err *err)
{
    size_t slot = slot_of(ch->sha256);
    pthread_mutex_lock(&an->lock);
    struct cache_entry *e = an->slots[slot];
    if (e != NULL && memcmp(e->key, ch->sha256, 32) == 0) {
        e->refs++;
        pthread_mutex_unlock(&an->lock);
        return e;
    }
    pthread_mutex_unlock(&an->lock);

    struct cert *certs[CHAIN_MAX_CERTS];
    size_t n = 0;
    for (size_t i = 0; i < ch->n && n < CHAIN_MAX_CERTS; i++) {
        if (ch->entries[i].cert != NULL)
            certs[n++] = ch->entries[i].cert;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    memcpy(e->key, ch->sha256, 32);
    if (chain_analyze_cached(certs, n, an->ts, an->cat, an->sigs, &e->a, err) != ERR_OK) {
        free(e);
        return NULL;
    }
    e->json = chain_analysis_to_json(e->a);
    e->refs = 1;
    pthread_mutex_lock(&an->lock);
    struct cache_entry *old = an->slots[slot];
    an->slots[slot] = e;
    e->refs++; /* the cache's own reference is modelled as "not evicted" + this count */
    bool free_old = false;
    if (old != NULL) {
        old->evicted = true;
        free_old = --old->refs == 0;
    }
    pthread_mutex_unlock(&an->lock);
    if (free_old)
        entry_free(old);
    return e;
}

void analysis_group_id(const char *bundle_id, const char *hostname, const uint8_t *anchor_spki,
                       bool expected, char out[33])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char spki_hex[65] = "-";
    if (anchor_spki != NULL) {
        codec_hex_encode(anchor_spki, 32, spki_hex);
        spki_hex[64] = '\0';
    }
    /* NUL-separated fields: no value can shift into its neighbour. */
    size_t lb = strlen(bundle_id), lh = strlen(hostname), ls = strlen(spki_hex);
    size_t len = lb + lh + ls + 24;
    char *key = malloc(len);
    if (key == NULL) {
        memset(out, '0', 32);
        out[32] = '\0';
        return;
    }
    int n = snprintf(key, len, "pinwatch-group-v1%c", 0);
    memcpy(key + n, bundle_id, lb + 1);
    memcpy(key + n + lb + 1, hostname, lh + 1);
    memcpy(key + n + lb + lh + 2, spki_hex, ls + 1);
    key[n + lb + lh + ls + 3] = expected ? '1' : '0';
    SHA256((const unsigned char *)key, (size_t)n + lb + lh + ls + 4, md);
    free(key);
    codec_hex_encode(md, 16, out);
    out[32] = '\0';
}

static void chain_certs(const struct report_chain *ch, struct cert **certs, size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < ch->n && *n < CHAIN_MAX_CERTS; i++) {
        if (ch->entries[i].cert != NULL)
            certs[(*n)++] = ch->entries[i].cert;
    }
}

enum err_code analysis_report(struct analysis *an, const struct report *r,
                              struct analysis_result *res, struct err *err)
{
    memset(res, 0, sizeof(*res));
    struct cache_entry *served = NULL, *validated = NULL;
    enum err_code rc = ERR_OK;
    if (r->served.has_sha256 && (served = lookup(an, &r->served, err)) == NULL) {
        rc = err != NULL && err->code != ERR_OK ? err->code : ERR_NOMEM;
        goto out;
    }
    if (r->validated.has_sha256 && (validated = lookup(an, &r->validated, err)) == NULL) {
        rc = err != NULL && err->code != ERR_OK ? err->code : ERR_NOMEM;
        goto out;
    }
    int64_t at = r->client_time.valid ? r->client_time.usec : r->received_at;
    struct cert *certs[CHAIN_MAX_CERTS];
    size_t n;
    bool expected = false;
    struct chain_report_findings f;
    if (served != NULL) {
        res->served = json_incref(served->json);
        chain_certs(&r->served, certs, &n);
        chain_report_findings(served->a, certs, n, r->hostname, at,
                              (const uint8_t(*)[32])r->known_pins, r->n_known_pins, an->ek, &f);
        expected = expected || f.expected_key;
    }
    if (validated != NULL) {
        res->validated = json_incref(validated->json);
        chain_certs(&r->validated, certs, &n);
        chain_report_findings(validated->a, certs, n, r->hostname, at,
                              (const uint8_t(*)[32])r->known_pins, r->n_known_pins, an->ek, &f);
        expected = expected || f.expected_key;
    }
    /* Findings: the validated chain when there is one, else the served chain; f holds that
     * chain's findings already (the validated chain is judged last). */
    struct cache_entry *fe = validated != NULL ? validated : served;
    if (fe != NULL) {
        f.expected_key = expected;
        res->findings = chain_report_findings_to_json(fe->a, &f);
    }
    /* Group anchor: the served chain, else the validated chain (TrustKit iOS). */
    struct cache_entry *ge = served != NULL ? served : validated;
    if (ge != NULL) {
        res->has_anchor = true;
        memcpy(res->anchor_spki, ge->a->anchor_spki, 32);
        res->anchor_subject = ge->a->anchor_subject ? strdup(ge->a->anchor_subject) : NULL;
        res->anchor_public = ge->a->anchor_public;
    }
    res->expected_key = expected;
    analysis_group_id(r->app.bundle_id ? r->app.bundle_id : "web", r->hostname,
                      res->has_anchor ? res->anchor_spki : NULL, expected, res->group_id);
out:
    release(an, served);
    release(an, validated);
    if (rc != ERR_OK)
        analysis_result_cleanup(res);
    return rc;
}

void analysis_result_cleanup(struct analysis_result *res)
{
    if (res == NULL)
        return;
    json_decref(res->served);
    json_decref(res->validated);
    json_decref(res->findings);
    free(res->anchor_subject);
    memset(res, 0, sizeof(*res));
}
