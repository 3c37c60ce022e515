/*
 * timeparse — lenient reading of the client times found in reports, and the one RFC 3339
 * form the API writes. Pure: no time zone database, no locale, no global state.
 */
#ifndef TIMEPARSE_H
#define TIMEPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Big enough for any int64 microsecond time timeparse_format writes, with the NUL. */
#define TIMEPARSE_FMT_LEN 40

/*
 * Parse s (NUL-terminated; surrounding whitespace ignored) into Unix microseconds, UTC:
 *   yyyy-MM-dd                              midnight UTC (TrustKit known-pins-expiration-date)
 *   yyyy-MM-dd(T|t| )HH:mm:ss[.f...][zone]  f: any number of digits, first 6 kept (truncated)
 *   zone: Z | z | +hh:mm | -hh:mm | +hhmm | -hhmm | absent (treated as UTC)
 * Fields are range-checked (month 1-12, day within the month incl. leap years, hour 0-23,
 * minute 0-59, second 0-60, offset below 24h). Anything else — e.g. TrustKit's pre-1.4.1
 * "2016-11-06T2午前2:52:28Z" — is ERR_INVALID with key "unparseable_date"; *usec untouched.
 */
enum err_code timeparse_parse(const char *s, int64_t *usec, struct err *err) ERR_MUSTCHECK;

/*
 * Write usec as RFC 3339 UTC: "2026-01-02T03:04:05Z" when the microseconds are zero,
 * "2026-01-02T03:04:05.123456Z" (always 6 digits) otherwise. Returns out.
 */
char *timeparse_format(int64_t usec, char out[TIMEPARSE_FMT_LEN]);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12); for callers with civil
 * fields (certificate validity, buckets) who want no time zone involved. */
int64_t timeparse_days_from_civil(int64_t year, unsigned month, unsigned day);

#endif
