/*
 * pinsets — the pin sets apps actually ship, as seen in reports (SPEC 7: /v1/pinsets), their
 * health, and what a key rotation would break (/v1/hosts/{hostname}/rotation-check and
 * `pinwatch rotation-check`). A pin set is the canonical known-pins of one app version for one
 * hostname.
 */
#ifndef PINSETS_H
#define PINSETS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "base/err.h"

struct expected_keys;
struct trust_store;

struct pinsets_filter {
    const char *app;      /* may be NULL */
    const char *hostname; /* normalized, may be NULL */
    int64_t from, to;     /* received_at window, Unix microseconds */
};

/* {"pinsets": [{"app", "version", "hostname", "pins", "reports", "devices", "first_seen",
 * "last_seen", "pins_expire": [...], "report_only": {"reports", "devices"},
 * "findings": [{"code", "detail"}]}]} as a new reference. */
enum err_code pinsets_list(PGconn *conn, const struct pinsets_filter *f,
                           const struct expected_keys *ek, int64_t now_usec, json_t **out,
                           struct err *err) ERR_MUSTCHECK;

/* Check a candidate chain (PEM text, leaf first) against the pin sets seen for hostname in the
 * 30 days before now: every pin set with "breaks", devices and reports at risk, most at risk
 * first. ERR_INVALID (key "invalid_chain") when the text holds no certificate. */
enum err_code pinsets_rotation_check(PGconn *conn, const char *hostname, const char *pem,
                                     size_t len, const struct trust_store *ts, int64_t now_usec,
                                     json_t **out, struct err *err) ERR_MUSTCHECK;

#endif
