/*
 * api_context — what every handler receives: the configuration and the long-lived parts the
 * server is wired from (app.c builds it, serves, and tears it down in reverse order). The
 * handlers borrow every member; none of them owns one.
 */
#ifndef API_CONTEXT_H
#define API_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "api/api_allowlist.h"
#include "base/config.h"
#include "base/err.h"

struct alerter;
struct analysis;
struct batcher;
struct catalog;
struct cert_cache;
struct db_pool;
struct expected_keys;
struct groups_evaluator;
struct http_server;
struct literal_cache;
struct network_db;
struct ratelimit;
struct spool;
struct store;
struct trust_store;
struct evp_pkey_st; /* OpenSSL's EVP_PKEY */

struct api_context {
    const struct config *cfg;           /* borrowed */
    struct db_pool *pool;               /* reads and admin writes */
    struct store *store;                /* write-side caches */
    struct spool *spool;                /* durable fallback while PostgreSQL is away */
    struct batcher *batcher;            /* group commit writer */
    struct groups_evaluator *evaluator; /* keeps group verdicts current */
    struct alerter *alerter;            /* alert rules, webhook deliveries, retention */
    struct trust_store *trust;
    struct catalog *catalog;
    struct expected_keys *expected;
    struct analysis *analysis;
    struct cert_cache *certs;       /* decoded certificates shared by content */
    struct literal_cache *literals; /* decoded certificate literals shared by content */
    struct network_db *asn_db;      /* NULL without PINWATCH_ASN_DB */
    struct ratelimit *ratelimit;
    struct http_server *http;
    struct evp_pkey_st *signing_key;    /* Ed25519 private key signing evidence bundles */
    bool curl_ready;                    /* webhook_global_init ran */
    struct api_allowlist allowed_apps;  /* PINWATCH_ALLOWED_APPS, parsed at start */
    struct api_allowlist allowed_hosts; /* PINWATCH_ALLOWED_HOSTS */
    struct http_server *metrics_http;   /* PINWATCH_METRICS_LISTEN, or NULL */
    /* ingest counters (atomic), for /metrics */
    unsigned long long reports_accepted;
    unsigned long long reports_ignored;
    unsigned long long reports_rejected[32];
};

/* Index into reports_rejected for an error key ("other" beyond the known ones). */
size_t api_context_reject_slot(const char *key);
const char *api_context_reject_name(size_t slot);

#endif
