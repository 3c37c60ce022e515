/*
 * webhook — one signed POST of an alert body (SPEC 10) with libcurl: the header
 * X-Pinwatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">, a connect and a
 * total timeout on every call, no redirects followed, the answer body read and discarded (at
 * most a few KiB are kept for the error text). Thread-safe once webhook_global_init ran.
 */
#ifndef WEBHOOK_H
#define WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Once per process, before any thread posts (libcurl's global set-up is not thread-safe). */
enum err_code webhook_global_init(struct err *err) ERR_MUSTCHECK;
void webhook_global_cleanup(void);

/* The header value for body signed at unix time t: "t=<t>,v1=<64 hex>" into out. */
enum err_code webhook_sign(const char *secret, int64_t t, const char *body, size_t len,
                           char out[96], struct err *err) ERR_MUSTCHECK;

struct webhook_result {
    long status;     /* HTTP status, 0 when no answer came */
    char error[200]; /* why the try failed ("" when it got a 2xx) */
};

/* POST body to url (application/json), signed with secret at the current time; gives up after
 * timeout_s. ERR_OK only for a 2xx answer; otherwise ERR_UNAVAILABLE and res->error says why. */
enum err_code webhook_post(const char *url, const char *secret, const char *body, size_t len,
                           unsigned timeout_s, struct webhook_result *res,
                           struct err *err) ERR_MUSTCHECK;

#endif
