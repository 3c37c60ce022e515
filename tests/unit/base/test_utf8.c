/* utf8: RFC 3629 well-formedness, longest valid prefix, in-place sanitizing. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

struct utf8_case {
    char bytes[16];
    size_t len;
    size_t valid_prefix; /* == len when well-formed */
    char why[40];
};

#define CASE(lit, prefix, why)                                                                     \
    {                                                                                              \
        lit, sizeof(lit) - 1, prefix, why                                                          \
    }

ParameterizedTestParameters(utf8, well_formedness)
{
    static struct utf8_case cases[] = {
        CASE("", 0, "empty"),
        CASE("plain ASCII", 11, "ASCII"),
        CASE("Z\xc3\xbcrich", 7, "2 bytes"),
        CASE("\xe2\x82\xac", 3, "3 bytes (euro)"),
        CASE("\xf0\x9f\x94\x92", 4, "4 bytes (lock)"),
        CASE("\xf4\x8f\xbf\xbf", 4, "U+10FFFF"),
        CASE("\xed\x9f\xbf", 3, "U+D7FF, below the surrogates"),
        CASE("\xee\x80\x80", 3, "U+E000, above them"),
        CASE("a\0b", 3, "NUL is U+0000"),
        CASE("ab\xc0\xaf", 2, "overlong '/'"),
        CASE("\xc1\xbf", 0, "overlong 2-byte"),
        CASE("\xe0\x80\xaf", 0, "overlong 3-byte"),
        CASE("\xf0\x8f\xbf\xbf", 0, "overlong 4-byte"),
        CASE("ok\xed\xa0\x80", 2, "surrogate U+D800"),
        CASE("\xed\xbf\xbf", 0, "surrogate U+DFFF"),
        CASE("\xf4\x90\x80\x80", 0, "above U+10FFFF"),
        CASE("\xf5\x80\x80\x80", 0, "F5 never starts"),
        CASE("\xff\xfe", 0, "FF / FE"),
        CASE("abc\x80", 3, "lone continuation"),
        CASE("Z\xc3", 1, "cut after the lead byte"),
        CASE("x\xe2\x82", 1, "3-byte sequence cut"),
        CASE("\xf0\x9f\x94", 0, "4-byte sequence cut"),
        CASE("\xc3\x28", 0, "lead byte then ASCII"),
    };
    return cr_make_param_array(struct utf8_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct utf8_case *c, utf8, well_formedness)
{
    cr_assert_eq(utf8_valid_prefix(c->bytes, c->len), c->valid_prefix, "%s", c->why);
    cr_assert_eq(utf8_valid(c->bytes, c->len), c->valid_prefix == c->len, "%s", c->why);
}

Test(utf8, sanitize_replaces_only_what_is_broken)
{
    char s[] = "Z\xc3\xbcrich \xff proxy \xc3\x28 \xe2\x82 \xf0\x9f\x94\x92.";
    utf8_sanitize(s);
    cr_assert_str_eq(s, "Z\xc3\xbcrich ? proxy ?( ?? \xf0\x9f\x94\x92.");
    cr_assert(utf8_valid(s, strlen(s)));
    char cut[] = "abc\xe2\x82"; /* a truncated name: the cut sequence at the very end */
    utf8_sanitize(cut);
    cr_assert_str_eq(cut, "abc??");
    char empty[] = "";
    utf8_sanitize(empty);
    cr_assert_str_eq(empty, "");
    cr_assert(utf8_valid(NULL, 0));
    cr_assert_not(utf8_valid(NULL, 1));
}

static char *esc(const char *s, bool *escaped)
{
    *escaped = false;
    char *out = utf8_escape(s, strlen(s), escaped);
    cr_assert_not_null(out);
    return out;
}

Test(utf8, escape_keeps_valid_text)
{
    static const char *const ok[] = {
        "", "plain", "caf\xc3\xa9", "\xd0\x9a\xd0\xb0", "\xe2\x82\xac", "\xf0\x9f\x94\x92", NULL};
    for (size_t i = 0; ok[i] != NULL; i++) {
        bool escaped;
        char *out = esc(ok[i], &escaped);
        cr_assert_str_eq(out, ok[i]);
        cr_assert_not(escaped, "%s", ok[i]);
        free(out);
    }
}

Test(utf8, escape_writes_other_bytes_as_hex)
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
        cr_assert(utf8_valid(got, strlen(got)));
        free(got);
    }
}
