/*
 * report_expect_ct — Expect-CT violation reports, {"expect-ct-report": {...}} (RFC 9163 §3.1
 * and what Chromium actually sent). Pure.
 */
#ifndef REPORT_EXPECT_CT_H
#define REPORT_EXPECT_CT_H

#include <jansson.h>

#include "base/err.h"
#include "report/report.h"
#include "report/report_parse.h"

/*
 * Normalize one wrapper object (borrowed) into a new report in *out (caller frees).
 * App is "web". extra gets "scts" (as sent), "failure_mode", "test_report", "scheme" when
 * present. Rejects (ERR_INVALID) for: invalid_field (expect-ct-report not an object, hostname
 * not a usable string), missing_field (hostname), too_many_certificates. A test report
 * (test-report true, or Chrome's expect-ct-report.test) is accepted like any other.
 */
enum err_code report_expect_ct_parse(const json_t *wrapper, const struct report_parse_opts *opts,
                                     struct report **out, struct err *err) ERR_MUSTCHECK;

#endif
