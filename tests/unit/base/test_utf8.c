/* utf8: well-formed UTF-8 is kept byte for byte, everything else becomes \XX. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

static char *esc(const char *s, bool *escaped)
{
    *escaped = false;
    char *out = utf8_escape((const unsigned char *)s, strlen(s), escaped);
    cr_assert_not_null(out);
    return out;
}

Test(utf8, valid_text_is_kept)
{
    static const char *const ok[] = {
        "", "plain", "caf\xc3\xa9", "\xd0\x9a\xd0\xb0", "\xe2\x82\xac", "\xf0\x9f\x94\x92", NULL};
    for (size_t i = 0; ok[i] != NULL; i++) {
        bool escaped;
        char *out = esc(ok[i], &escaped);
        cr_assert_str_eq(out, ok[i]);
        cr_assert_not(escaped, "%s", ok[i]);
        cr_assert(utf8_valid((const unsigned char *)ok[i], strlen(ok[i])));
        free(out);
    }
}

Test(utf8, invalid_bytes_are_escaped)
{
    static const char *const in[] = {"caf\xe9.example.com", /* Latin-1 */
                                     "\xc0\xaf",            /* overlong "/" */
                                     "\xed\xa0\x80",        /* a surrogate */
                                     "\xf4\x90\x80\x80",    /* above U+10FFFF */
                                     "\xe2\x82",            /* cut short */
                                     NULL};
    static const char *const out[] = {"caf\\E9.example.com", "\\C0\\AF", "\\ED\\A0\\80",
                                      "\\F4\\90\\80\\80", "\\E2\\82"};
    for (size_t i = 0; in[i] != NULL; i++) {
        bool escaped;
        char *got = esc(in[i], &escaped);
        cr_assert_str_eq(got, out[i]);
        cr_assert(escaped);
        cr_assert_not(utf8_valid((const unsigned char *)in[i], strlen(in[i])));
        cr_assert(utf8_valid((const unsigned char *)got, strlen(got)));
        free(got);
    }
}
