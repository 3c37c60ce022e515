/* timeparse: every date shape seen in reports, and the RFC 3339 form the API writes. */
#include <criterion/criterion.h>

#include <string.h>

#include "base/timeparse.h"

#define SEC 1000000LL

static int64_t parse_ok(const char *s)
{
    int64_t v = -1;
    struct err err = {0};
    cr_assert_eq(timeparse_parse(s, &v, &err), ERR_OK, "'%s': %s", s, err.detail);
    return v;
}

static void parse_bad(const char *s)
{
    int64_t v = 42;
    struct err err = {0};
    cr_assert_eq(timeparse_parse(s, &v, &err), ERR_INVALID, "'%s' accepted", s);
    cr_assert_str_eq(err.key, "unparseable_date");
    cr_assert_eq(v, 42, "untouched on failure");
}

/* 2015-06-08T01:58:05Z, the TrustKit doc samples' date-time. */
#define TK (1433728685LL * SEC)

Test(timeparse, shapes_from_real_reports)
{
    cr_assert_eq(parse_ok("2015-06-08T01:58:05Z"), TK);                     /* TrustKit */
    cr_assert_eq(parse_ok("2019-10-04T01:05:38.621Z"), 1570151138621000LL); /* Chromium ms */
    cr_assert_eq(parse_ok("2015-06-08T03:58:05+02:00"), TK);                /* Go RFC3339 local */
    cr_assert_eq(parse_ok("2015-06-08T01:58:05+00:00"), TK);                /* Relay output */
    cr_assert_eq(parse_ok("2015-06-07T20:58:05-0500"), TK);                 /* +hhmm */
    cr_assert_eq(parse_ok("2015-06-08t01:58:05z"), TK);                     /* lower-case */
    cr_assert_eq(parse_ok("2015-06-08 01:58:05Z"), TK);                     /* space for T */
    cr_assert_eq(parse_ok("2015-06-08T01:58:05"), TK, "no offset means UTC");
    cr_assert_eq(parse_ok("2017-12-31"), 1514678400LL * SEC); /* TrustKit expiration */
    cr_assert_eq(parse_ok(" 2015-06-08T01:58:05Z\n"), TK);
}

Test(timeparse, fractions)
{
    cr_assert_eq(parse_ok("2015-06-08T01:58:05.5Z"), TK + 500000);
    cr_assert_eq(parse_ok("2015-06-08T01:58:05.123456Z"), TK + 123456);
    cr_assert_eq(parse_ok("2015-06-08T01:58:05.1234567891Z"), TK + 123456, "truncated");
    cr_assert_eq(parse_ok("2015-06-08T01:58:05.000001+01:00"), TK - 3600 * SEC + 1);
}

Test(timeparse, calendar_edges)
{
    cr_assert_eq(parse_ok("1970-01-01T00:00:00Z"), 0);
    cr_assert_eq(parse_ok("1969-12-31T23:59:59Z"), -SEC);
    cr_assert_eq(parse_ok("2000-02-29"), 951782400LL * SEC);
    cr_assert_eq(parse_ok("2016-12-31T23:59:60Z"), 1483228800LL * SEC, "leap second");
    cr_assert_eq(parse_ok("9999-12-31T23:59:59Z"), 253402300799LL * SEC);
    parse_bad("2015-02-29");
    parse_bad("1900-02-29");
    parse_bad("2015-13-01");
    parse_bad("2015-00-10");
    parse_bad("2015-04-31");
    parse_bad("2015-06-08T24:00:00Z");
    parse_bad("2015-06-08T01:60:00Z");
    parse_bad("2015-06-08T01:58:61Z");
    parse_bad("2015-06-08T01:58:05+24:00");
}

Test(timeparse, junk_is_rejected)
{
    /* TrustKit < 1.4.1 on a Japanese 12-hour device (datatheorem/TrustKit#75). */
    parse_bad("2016-11-06T2\u5348\u524d2:52:28Z");
    parse_bad("2016-11-06T2:52:28 PM");
    parse_bad("Not an RFC3339 datetime");
    parse_bad("");
    parse_bad("2015-06-08T");
    parse_bad("2015-06-08T01:58Z");
    parse_bad("2015-06-08T01:58:05.Z");
    parse_bad("2015-06-08T01:58:05Zjunk");
    parse_bad("2015-06-08T01:58:05+2");
    parse_bad("15-06-08");
    parse_bad("2015/06/08");
    parse_bad("1433728685");
    parse_bad("\xef\xbc\x92\xef\xbc\x90\xef\xbc\x91\xef\xbc\x95-06-08"); /* full-width digits */
    int64_t v;
    cr_assert_eq(timeparse_parse(NULL, &v, NULL), ERR_INVALID);
}

Test(timeparse, format)
{
    char buf[TIMEPARSE_FMT_LEN];
    cr_assert_str_eq(timeparse_format(TK, buf), "2015-06-08T01:58:05Z");
    cr_assert_str_eq(timeparse_format(1570151138621000LL, buf), "2019-10-04T01:05:38.621000Z");
    cr_assert_str_eq(timeparse_format(0, buf), "1970-01-01T00:00:00Z");
    cr_assert_str_eq(timeparse_format(-1, buf), "1969-12-31T23:59:59.999999Z");
    cr_assert_str_eq(timeparse_format(951782400LL * SEC, buf), "2000-02-29T00:00:00Z");
    /* Round trip over a spread of times, including before 1970. */
    for (int64_t t = -5000000000LL * SEC; t < 5000000000LL * SEC; t += 123456789012345LL) {
        int64_t back = 0;
        cr_assert_eq(timeparse_parse(timeparse_format(t, buf), &back, NULL), ERR_OK, "%s", buf);
        cr_assert_eq(back, t, "%s", buf);
    }
    cr_assert_eq(timeparse_days_from_civil(2026, 1, 2), 20455);
}
