/*
 * app — the context every handler receives: configuration and the long-lived parts the
 * server is wired from. main builds one, serves, and tears it down in reverse order.
 */
#ifndef APP_H
#define APP_H

#include <stdbool.h>

#include "config.h"
#include "err.h"

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

struct app {
    const struct config *cfg;           /* borrowed */
    struct db_pool *pool;               /* reads and admin writes */
    struct store *store;                /* write-side caches */
    struct spool *spool;                /* durable fallback while PostgreSQL is away */
    struct batcher *batcher;            /* group commit writer */
    struct groups_evaluator *evaluator; /* keeps group verdicts current */
    struct trust_store *trust;
    struct catalog *catalog;
    struct expected_keys *expected;
    struct analysis *analysis;
    struct cert_cache *certs;       /* decoded certificates shared by content */
    struct literal_cache *literals; /* decoded certificate literals shared by content */
    struct network_db *asn_db;      /* NULL without PINWATCH_ASN_DB */
    struct ratelimit *ratelimit;
    struct http_server *http;
    /* ingest counters (atomic), for /metrics */
    unsigned long long reports_accepted;
    unsigned long long reports_ignored;
    unsigned long long reports_rejected[32];
};

/* Index into reports_rejected for an error key ("other" beyond the known ones). */
size_t app_reject_slot(const char *key);
const char *app_reject_name(size_t slot);

/* Open the database pool, apply migrations, start HTTP. */
enum err_code app_start(struct app *app, const struct config *cfg, struct err *err) ERR_MUSTCHECK;
/* Graceful stop: stop accepting, finish in-flight requests, close everything. */
void app_stop(struct app *app);

#endif
