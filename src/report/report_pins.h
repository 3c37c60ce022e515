/*
 * report_pins — the reports that carry known-pins and share RFC 7469's shape: TrustKit iOS
 * (also macOS/tvOS/watchOS, every version since 1.0), TrustKit-Android, and browser HPKP
 * (RFC 7469 §3, Chromium). Pure.
 *
 * Format: "app-bundle-id" present makes it TrustKit, Android when "app-platform" is ANDROID
 * (any case), iOS otherwise; no bundle id makes it HPKP (app "web").
 */
#ifndef REPORT_PINS_H
#define REPORT_PINS_H

#include <jansson.h>

#include "base/err.h"
#include "report/report.h"
#include "report/report_parse.h"

/*
 * Normalize one report object (borrowed) into a new report in *out (caller frees).
 * Rejects (ERR_INVALID) only for: missing_field (hostname, known-pins), invalid_field
 * (hostname not a usable string, known-pins not an array), too_many_pins,
 * too_many_certificates. Every other oddity is a problem on the report (SPEC §4); problem
 * codes besides report_fields': unrecognized_pin, unknown_validation_result.
 * Does not check string lengths (report_parse does, before calling).
 */
enum err_code report_pins_parse(const json_t *obj, const struct report_parse_opts *opts,
                                struct report **out, struct err *err) ERR_MUSTCHECK;

#endif
