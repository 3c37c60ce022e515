/*
 * outbox — fired alerts and their webhook deliveries in PostgreSQL (SPEC 10). Firing is one
 * transaction: the subject's new state, the alert and its outbox row, so an alert is recorded
 * and queued together or not at all, and two nodes evaluating at once fire it once. Delivery
 * claims due rows with FOR UPDATE SKIP LOCKED and a lease, so each alert is posted by one node
 * at a time; a failed try is retried with exponential backoff (5 s, 10 s, 20 s ... at most an
 * hour apart) until 24 hours after it was queued; the body (and its "id") is the same on every
 * try. Nothing lives only in memory, so a restart loses nothing queued.
 */
#ifndef OUTBOX_H
#define OUTBOX_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

struct outbox_alert {
    const char *rule; /* "new_interception_group", ..., "test" */
    const char *subject;
    const char *state;
    const char *summary;
    const char *route; /* dashboard route: joined to base_url for the body's "url" */
    const char *key;   /* member of the body holding object */
    json_t *object;    /* borrowed */
};

/* The webhook body: {id, rule, fired_at, summary, text, url, <key>: object} as new text. */
char *outbox_body(const struct outbox_alert *a, const char *id, int64_t fired_at_usec,
                  const char *base_url);

/* Fire a when its subject's recorded state differs from a->state. queue: a webhook is
 * configured (otherwise the alert is recorded as not sent). *fired tells whether it fired;
 * id_out (optional, UUID_STR_LEN bytes) gets its id. */
enum err_code outbox_fire(PGconn *conn, const struct outbox_alert *a, const char *base_url,
                          bool queue, bool *fired, char *id_out, struct err *err) ERR_MUSTCHECK;

/* Record an alert made while the database was away (ingest_degraded), with its body: as
 * delivered when it was sent directly meanwhile, else queued. Nothing when id is stored. */
enum err_code outbox_record(PGconn *conn, const struct outbox_alert *a, const char *id,
                            int64_t fired_at_usec, const char *body, bool delivered,
                            struct err *err) ERR_MUSTCHECK;

struct outbox_item {
    char id[40];
    char *payload;
    int attempts;
};

/* Claim up to max due deliveries for node (lease_s seconds), or only the one with id when id
 * is not NULL. New array in *items (free with outbox_items_free). */
enum err_code outbox_claim(PGconn *conn, const char *node, unsigned lease_s, unsigned max,
                           const char *id, struct outbox_item **items, size_t *n,
                           struct err *err) ERR_MUSTCHECK;
void outbox_items_free(struct outbox_item *items, size_t n);

/* Outcome of a claimed try: delivered, or failed (status 0 = no answer) with why. */
enum err_code outbox_finish(PGconn *conn, const char *node, const char *id, bool delivered,
                            long status, const char *error, struct err *err) ERR_MUSTCHECK;

/* GET /v1/alerts: newest first, each body with its "delivery" state; cursor "<usec>.<uuid>"
 * (NULL for the first page), rule filter optional. {"alerts": [...], "next_cursor"}. */
enum err_code outbox_list(PGconn *conn, const char *rule, unsigned limit, const char *cursor,
                          json_t **out, struct err *err) ERR_MUSTCHECK;
/* The "delivery" object of one alert (after a test delivery), new reference in *out. */
enum err_code outbox_delivery(PGconn *conn, const char *id, json_t **out,
                              struct err *err) ERR_MUSTCHECK;

/* Deliveries still to make (not delivered, not given up), for /metrics. */
enum err_code outbox_pending(PGconn *conn, long long *n, struct err *err) ERR_MUSTCHECK;

#endif
