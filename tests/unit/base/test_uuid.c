/* uuid: UUIDv7 layout (RFC 9562: 48-bit Unix milliseconds, version 7, variant 10, random
 * rest), order by time, uniqueness, and the validator on good and bad text. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/uuid.h"

/* The 48-bit millisecond field of a hyphenated UUID. */
static uint64_t millis_of(const char *u)
{
    char hex[13];
    memcpy(hex, u, 8);
    memcpy(hex + 8, u + 9, 4);
    hex[12] = '\0';
    return strtoull(hex, NULL, 16);
}

Test(uuid, v7_layout)
{
    /* 2026-12-04T19:00:00.123456Z */
    const int64_t usec = 1796410800123456LL;
    char u[UUID_STR_LEN];
    cr_assert(uuid_v7(usec, u));
    cr_assert_eq(strlen(u), 36);
    cr_assert(uuid_valid(u), "%s", u);
    cr_assert_eq(millis_of(u), (uint64_t)(usec / 1000), "%s", u);
    cr_assert_eq(u[14], '7', "version nibble: %s", u);
    cr_assert(strchr("89ab", u[19]) != NULL, "variant bits 10: %s", u);
    for (const char *p = u; *p; p++)
        cr_assert(*p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'),
                  "lower-case hex: %s", u);
}

Test(uuid, v7_time_field_edges)
{
    char u[UUID_STR_LEN];
    cr_assert(uuid_v7(0, u));
    cr_assert_eq(strncmp(u, "00000000-0000-7", 15), 0, "%s", u);
    /* The largest 48-bit millisecond value. */
    cr_assert(uuid_v7((int64_t)0xffffffffffffULL * 1000, u));
    cr_assert_eq(strncmp(u, "ffffffff-ffff-7", 15), 0, "%s", u);
}

Test(uuid, v7_sorts_by_time_and_never_repeats)
{
    enum { N = 2000 };
    static char ids[N][UUID_STR_LEN];
    const int64_t start = 1796410800000000LL;
    for (int i = 0; i < N; i++)
        cr_assert(uuid_v7(start + (int64_t)i * 1000, ids[i]));
    for (int i = 1; i < N; i++) {
        cr_assert_lt(strcmp(ids[i - 1], ids[i]), 0, "a later millisecond sorts later: %s %s",
                     ids[i - 1], ids[i]);
    }
    /* The same millisecond: the 74 random bits differ. */
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    cr_assert(uuid_v7(start, a));
    cr_assert(uuid_v7(start, b));
    cr_assert_str_neq(a, b);
    cr_assert_eq(strncmp(a, b, 13), 0, "same time prefix: %s %s", a, b);
}

Test(uuid, valid_accepts_canonical_forms)
{
    cr_assert(uuid_valid("01a21da3-f9ff-7aab-b67d-92740e2bf0a5"));
    cr_assert(uuid_valid("599F9C00-92DC-4B5C-9464-7971F01F8370"), "upper case, version 4");
    cr_assert(uuid_valid("00000000-0000-0000-0000-000000000000"));
}

Test(uuid, valid_refuses_everything_else)
{
    static const char *const bad[] = {
        "",
        "01a21da3f9ff7aabb67d92740e2bf0a5",       /* no hyphens */
        "01a21da3-f9ff-7aab-b67d-92740e2bf0a",    /* short */
        "01a21da3-f9ff-7aab-b67d-92740e2bf0a5a",  /* long */
        "01a21da3-f9ff-7aab-b67d_92740e2bf0a5",   /* wrong separator */
        "01a21da3-f9ff-7aab-b67d-92740e2bf0g5",   /* not hex */
        "{01a21da3-f9ff-7aab-b67d-92740e2bf0a5}", /* braces */
        "01a21da3-f9ff-7aab-b67d-92740e2b f0a",   /* space */
        "01a21da3-f9ff-7aab-b67d-92740e2bf0a\n",  /* a line end in place of a digit */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(uuid_valid(bad[i]), "'%s' accepted", bad[i]);
    cr_assert_not(uuid_valid(NULL));
}
