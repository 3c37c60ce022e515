/*
 * testreceiver — a webhook receiver for the alert tests: a small libmicrohttpd server on a
 * loopback port that records every POST (signature header, body, the status it answered) and
 * can be told to fail the next requests (a status, or a delay longer than the sender's
 * timeout). Signatures are checked with OpenSSL's HMAC() directly, not with pinwatch's code.
 */
#ifndef TESTRECEIVER_H
#define TESTRECEIVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct testreceiver;

struct testreceiver_hit {
    char *signature; /* X-Pinwatch-Signature, or NULL */
    char *body;
    int answered; /* status answered (0: the answer was delayed past the sender's patience) */
    double at;    /* seconds since the receiver started */
};

struct testreceiver *testreceiver_start(void);
void testreceiver_stop(struct testreceiver *r);
unsigned testreceiver_port(const struct testreceiver *r);
/* The next n requests answer status (e.g. 500), or, with delay_ms > 0, answer 200 only after
 * delay_ms (a sender with a shorter timeout sees a timeout). */
void testreceiver_fail_next(struct testreceiver *r, unsigned n, int status, unsigned delay_ms);
/* Every answer that is not a planned failure waits ms first (a slow but healthy receiver). */
void testreceiver_set_latency(struct testreceiver *r, unsigned ms);
/* Number of requests recorded so far. */
size_t testreceiver_count(struct testreceiver *r);
/* Copy of hit i (free with testreceiver_hit_free). */
struct testreceiver_hit testreceiver_hit(struct testreceiver *r, size_t i);
void testreceiver_hit_free(struct testreceiver_hit *h);
/* Wait until at least n requests came, at most timeout_ms. */
bool testreceiver_wait(struct testreceiver *r, size_t n, unsigned timeout_ms);
/* Hits answered 2xx whose body has "rule" == rule (NULL: any), and their bodies as a JSON
 * array (new reference) in *bodies when not NULL. */
size_t testreceiver_delivered(struct testreceiver *r, const char *rule, json_t **bodies);

/* Does "t=<t>,v1=<hex>" sign body with secret (HMAC-SHA256 of "<t>.<body>")? */
bool testreceiver_verify(const char *secret, const char *signature, const char *body);

#endif
