/*
 * fuzz_timeparse — timeparse_parse (date-time, expiration dates of reports) and
 * timeparse_format. Invariants: a parsed time lies in what four-digit years and a zone offset
 * below 24 h allow; formatting it and parsing the text gives the same microseconds back; the
 * formatter writes a terminated RFC 3339 string for any int64.
 */
#include <string.h>

#include "base/timeparse.h"
#include "fuzz_check.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

#define TP_USEC_PER_DAY (86400LL * 1000000LL)

int FUZZ_ENTRY(const uint8_t *data, size_t size);
int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';

    int64_t usec = 42;
    struct err err;
    memset(&err, 0, sizeof(err));
    enum err_code rc = timeparse_parse(text, &usec, &err);
    if (rc != ERR_OK) {
        FUZZ_CHECK(rc == ERR_INVALID && strcmp(err.key, "unparseable_date") == 0);
        FUZZ_CHECK(usec == 42); /* untouched */
    } else {
        const int64_t lo = timeparse_days_from_civil(0, 1, 1) * TP_USEC_PER_DAY - TP_USEC_PER_DAY;
        const int64_t hi =
            timeparse_days_from_civil(10000, 1, 1) * TP_USEC_PER_DAY + TP_USEC_PER_DAY;
        FUZZ_CHECK(usec >= lo && usec < hi);
        char out[TIMEPARSE_FMT_LEN];
        timeparse_format(usec, out);
        /* Years 0000..9999 after the offset is applied print as four digits and parse back. */
        if (usec >= timeparse_days_from_civil(0, 1, 1) * TP_USEC_PER_DAY &&
            usec < timeparse_days_from_civil(10000, 1, 1) * TP_USEC_PER_DAY) {
            int64_t again = 0;
            FUZZ_CHECK(timeparse_parse(out, &again, NULL) == ERR_OK);
            FUZZ_CHECK(again == usec);
        }
    }

    /* Any int64 formats into the buffer, terminated, ending in 'Z'. */
    if (size >= 8) {
        int64_t v;
        memcpy(&v, data, sizeof(v));
        char out[TIMEPARSE_FMT_LEN];
        memset(out, 'x', sizeof(out));
        timeparse_format(v, out);
        size_t len = strnlen(out, sizeof(out));
        FUZZ_CHECK(len < sizeof(out));
        FUZZ_CHECK(len > 0 && out[len - 1] == 'Z');
    }
    free(text);
    return 0;
}
