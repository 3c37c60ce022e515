#include "base/timeparse.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define USEC_PER_SEC 1000000LL
#define SEC_PER_DAY  86400LL

/* Howard Hinnant's days_from_civil / civil_from_days: exact for the whole int64 range we use,
 * and independent of TZ and of time_t. */
int64_t timeparse_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Exactly n ASCII digits at *p; advances. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* [Z|z|+hh:mm|-hh:mm|+hhmm|-hhmm] at *p, as seconds east of UTC; absent means UTC. */
static bool zone(const char **p, int64_t *offset)
{
    *offset = 0;
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        return true;
    }
    if (**p != '+' && **p != '-')
        return true;
    int sign = **p == '-' ? -1 : 1, hh, mm;
    (*p)++;
    if (!digits(p, 2, &hh))
        return false;
    if (**p == ':')
        (*p)++;
    if (!digits(p, 2, &mm) || hh > 23 || mm > 59)
        return false;
    *offset = sign * (hh * 3600LL + mm * 60LL);
    return true;
}

enum err_code timeparse_parse(const char *s, int64_t *usec, struct err *err)
{
    int year, mon, day, hh = 0, mi = 0, ss = 0;
    int64_t frac = 0, offset = 0;

    if (s == NULL)
        return err_set(err, ERR_INVALID, "unparseable_date", "no date");
    const char *p = s;
    while (is_ws(*p))
        p++;
    if (!digits(&p, 4, &year) || !expect(&p, '-') || !digits(&p, 2, &mon) || !expect(&p, '-') ||
        !digits(&p, 2, &day))
        goto bad;
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon))
        goto bad;
    if (*p == 'T' || *p == 't' || (*p == ' ' && is_digit(p[1]))) {
        p++;
        if (!digits(&p, 2, &hh) || !expect(&p, ':') || !digits(&p, 2, &mi) || !expect(&p, ':') ||
            !digits(&p, 2, &ss))
            goto bad;
        if (hh > 23 || mi > 59 || ss > 60)
            goto bad;
        if (*p == '.' || *p == ',') {
            p++;
            if (!is_digit(*p))
                goto bad;
            /* Keep the first six digits (microseconds), truncate the rest. */
            int n = 0;
            for (; is_digit(*p); p++, n++) {
                if (n < 6)
                    frac = frac * 10 + (*p - '0');
            }
            for (; n < 6; n++)
                frac *= 10;
        }
        if (!zone(&p, &offset))
            goto bad;
    }
    while (is_ws(*p))
        p++;
    if (*p != '\0')
        goto bad;

    int64_t days = timeparse_days_from_civil(year, (unsigned)mon, (unsigned)day);
    int64_t secs = days * SEC_PER_DAY + hh * 3600LL + mi * 60LL + ss - offset;
    *usec = secs * USEC_PER_SEC + frac;
    return ERR_OK;
bad:
    return err_set(err, ERR_INVALID, "unparseable_date", "not an RFC 3339 date or date-time");
}

char *timeparse_format(int64_t usec, char out[TIMEPARSE_FMT_LEN])
{
    /* Floor division so that times before 1970 keep positive sub-second parts. */
    int64_t secs = usec / USEC_PER_SEC, micros = usec % USEC_PER_SEC;
    if (micros < 0) {
        micros += USEC_PER_SEC;
        secs--;
    }
    int64_t days = secs / SEC_PER_DAY, rem = secs % SEC_PER_DAY;
    if (rem < 0) {
        rem += SEC_PER_DAY;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int n = snprintf(out, TIMEPARSE_FMT_LEN, "%04lld-%02u-%02uT%02d:%02d:%02d", (long long)y, m, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
    if (micros != 0 && n > 0 && n < TIMEPARSE_FMT_LEN)
        n += snprintf(out + n, TIMEPARSE_FMT_LEN - (size_t)n, ".%06lld", (long long)micros);
    if (n > 0 && n < TIMEPARSE_FMT_LEN - 1) {
        out[n] = 'Z';
        out[n + 1] = '\0';
    }
    return out;
}
