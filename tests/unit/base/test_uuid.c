/* uuid: UUIDv7 text (RFC 9562) from the hex codec. */
#include <criterion/criterion.h>

#include <string.h>

#include "base/uuid.h"

Test(uuid, v7_layout_time_prefix_version_and_variant)
{
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    /* 1796342400123 ms = 0x01a23e59c47b, the first 48 bits */
    cr_assert(uuid_v7(1796342400123456LL, a));
    cr_assert(uuid_v7(1796342400123456LL, b));
    cr_assert_eq(strlen(a), 36);
    cr_assert(uuid_valid(a), "%s", a);
    cr_assert_eq(strncmp(a, "01a23e59-c47b-7", 15), 0, "time, then version 7: %s", a);
    cr_assert_eq(a[18], '-');
    cr_assert_eq(a[23], '-');
    cr_assert(strchr("89ab", a[19]) != NULL, "RFC 9562 variant: %s", a);
    cr_assert_eq(strncmp(a, b, 13), 0, "same millisecond, same prefix");
    cr_assert_neq(strcmp(a, b), 0, "random bits differ");
    for (const char *p = a; *p; p++)
        cr_assert(*p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'), "%s", a);
    cr_assert_not(uuid_valid("not-a-uuid"));
}
