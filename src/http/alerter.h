/*
 * alerter — the thread behind SPEC 10, started and stopped by app.c like the batcher and the
 * group evaluator. With a database connection of its own it, every second, posts the due
 * webhook deliveries of the outbox (webhook.c); every PINWATCH_ALERT_INTERVAL seconds it
 * evaluates the alert rules from the rollups (alert_rules.c), fires what changed (outbox.c)
 * and refreshes the per-verdict gauges of /metrics; every PINWATCH_RETENTION_INTERVAL seconds
 * it runs retention when PINWATCH_RETENTION_DAYS is set. ingest_degraded is judged here, from
 * process state, and is sent directly when the database itself is away.
 *
 * The alerter borrows cfg, the spool and the expected keys; they must outlive it.
 */
#ifndef ALERTER_H
#define ALERTER_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>

#include "base/config.h"
#include "base/err.h"

struct alerter;
struct expected_keys;
struct spool;

enum err_code alerter_start(const struct config *cfg, struct spool *spool, struct expected_keys *ek,
                            struct alerter **out, struct err *err) ERR_MUSTCHECK;
/* Finishes the try in progress (bounded by PINWATCH_ALERT_TIMEOUT), then stops. NULL ok. */
void alerter_stop(struct alerter *al);

/* Rules changed (PUT /v1/alerts/rules): evaluate with them at the next second. */
void alerter_rules_changed(struct alerter *al);

/* POST /v1/alerts/test: fire a test alert and try its delivery now, on conn.
 * {"id", "delivery": {...}} in *out. ERR_CONFLICT when no webhook is configured. */
enum err_code alerter_send_test(struct alerter *al, PGconn *conn, json_t **out,
                                struct err *err) ERR_MUSTCHECK;

/* The alert, retention and per-verdict gauges, in Prometheus text format. */
void alerter_metrics(struct alerter *al, FILE *out);

#endif
