/*
 * testreport — build realistic TrustKit report bodies around minted certificates and post
 * them as a given network would (X-Forwarded-For from the trusted loopback proxy).
 */
#ifndef TESTREPORT_H
#define TESTREPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "testcert.h"
#include "testenv.h"

struct testreport {
    const char *platform;  /* "IOS" (default) or "ANDROID" */
    const char *app;       /* bundle id */
    const char *version;   /* app version */
    const char *vendor_id; /* device */
    const char *hostname;
    const char *noted_hostname;          /* default: hostname */
    const struct testcert *const *chain; /* leaf first */
    size_t chain_len;
    const struct testcert *const *pins; /* certificates whose keys are pinned */
    size_t n_pins;
    int validation_result;   /* default 1 */
    const char *date_time;   /* default: now */
    const char *pins_expire; /* known-pins-expiration-date; NULL: absent */
    bool report_only;        /* enforce-pinning false (TrustKit report-only) */
};

/* The JSON body (new reference). */
json_t *testreport_json(const struct testreport *tr);

/* Post one report from client address ip; asserts 200 and returns the new report id. */
char *testreport_post(const struct testenv_server *srv, const struct testreport *tr,
                      const char *ip);

#endif
