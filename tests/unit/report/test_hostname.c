/* hostname: SPEC §5 normal form, coverage by noted-hostname, allow-list patterns. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdlib.h>
#include <string.h>

#include "report/hostname.h"

static void norm_eq(const char *raw, const char *want)
{
    char *got = NULL;
    struct err err = {0};
    cr_assert_eq(hostname_normalize(raw, &got, &err), ERR_OK, "'%s': %s", raw, err.detail);
    cr_assert_str_eq(got, want, "'%s'", raw);
    free(got);
}

static void norm_bad(const char *raw)
{
    char *got = NULL;
    struct err err = {0};
    cr_assert_eq(hostname_normalize(raw, &got, &err), ERR_INVALID, "'%s' accepted as '%s'", raw,
                 got ? got : "");
    cr_assert_str_eq(err.key, "invalid_hostname");
    cr_assert_null(got);
}

/* Parameters hold their text: Criterion runs each one in a process of its own. */
struct normal_form {
    char raw[48];
    char want[48];
};

ParameterizedTestParameters(hostname, normal_forms)
{
    static struct normal_form forms[] = {
        /* ASCII */
        {"www.datatheorem.com", "www.datatheorem.com"},
        {"WWW.DataTheorem.COM", "www.datatheorem.com"},
        {"  www.example.com.\r\n", "www.example.com"},
        {"expect-ct-report.test", "expect-ct-report.test"},
        {"_acme-challenge.example.com", "_acme-challenge.example.com"},
        {"localhost", "localhost"},
        /* IDN to A-labels */
        {"bücher.example", "xn--bcher-kva.example"},
        {"BÜCHER.example.", "xn--bcher-kva.example"},
        {"xn--bcher-kva.example", "xn--bcher-kva.example"},
        {"例え.テスト", "xn--r8jz45g.xn--zckzah"},
        /* Non-transitional (IDNA2008): ß is kept, not mapped to ss. */
        {"faß.de", "xn--fa-hia.de"},
        /* IP literals */
        {"192.0.2.1", "192.0.2.1"},
        {"2001:DB8:0:0:0:0:0:42", "2001:db8::42"},
        {"[::1]", "::1"},
        {"[2001:db8::0:1]", "2001:db8::1"},
        {" ::FFFF:192.0.2.1 ", "::ffff:192.0.2.1"},
    };
    return cr_make_param_array(struct normal_form, forms, sizeof(forms) / sizeof(forms[0]));
}

ParameterizedTest(struct normal_form *f, hostname, normal_forms)
{
    norm_eq(f->raw, f->want);
}

Test(hostname, ip_literals)
{
    cr_assert(hostname_is_ip("10.0.0.1"));
    cr_assert(hostname_is_ip("::1"));
    cr_assert_not(hostname_is_ip("example.com"));
}

struct not_a_name {
    char raw[32];
};

ParameterizedTestParameters(hostname, rejected)
{
    static struct not_a_name bad[] = {
        {""},
        {"   "},
        {"."},
        {"a..b"},
        {".example.com"},
        {"exa mple.com"},
        {"https://example.com/"},
        {"example.com:443"},
        {"*.example.com"},
        {"[example.com]"},
        {"[192.0.2.1]"},
        {"\xff\xfe.example"}, /* not UTF-8 */
    };
    return cr_make_param_array(struct not_a_name, bad, sizeof(bad) / sizeof(bad[0]));
}

ParameterizedTest(struct not_a_name *n, hostname, rejected)
{
    norm_bad(n->raw);
}

Test(hostname, rejected_labels_and_null)
{
    char label[70];
    memset(label, 'a', 64);
    strcpy(label + 64, ".com");
    norm_bad(label); /* 64-byte label */
    char *raw = NULL;
    struct err err = {0};
    cr_assert_eq(hostname_normalize(NULL, &raw, &err), ERR_INVALID);
}

Test(hostname, length_limit)
{
    /* 4 labels of 63 + 3 dots = 255 bytes: too long. 253 exactly is fine. */
    char name[300];
    memset(name, 'a', 255);
    name[63] = name[127] = name[191] = '.';
    name[255] = '\0';
    norm_bad(name);
    name[253] = '\0';
    cr_assert_neq(name[252], '.');
    norm_eq(name, name);
}

Test(hostname, covered)
{
    cr_assert(hostname_covered("www.datatheorem.com", "www.datatheorem.com", false));
    cr_assert(hostname_covered("www.datatheorem.com", "datatheorem.com", true));
    cr_assert(hostname_covered("a.b.datatheorem.com", "datatheorem.com", true));
    cr_assert_not(hostname_covered("www.datatheorem.com", "datatheorem.com", false));
    cr_assert_not(hostname_covered("evildatatheorem.com", "datatheorem.com", true));
    cr_assert_not(hostname_covered("datatheorem.com", "www.datatheorem.com", true));
    cr_assert_not(hostname_covered("1.2.3.4", "2.3.4", true));
    cr_assert(hostname_covered("::1", "::1", true));
    cr_assert_not(hostname_covered(NULL, "a", true));
}

Test(hostname, patterns)
{
    cr_assert(hostname_matches_pattern("api.example.com", "*.example.com"));
    cr_assert(hostname_matches_pattern("a.b.example.com", "*.example.com"));
    cr_assert_not(hostname_matches_pattern("example.com", "*.example.com"));
    cr_assert_not(hostname_matches_pattern("badexample.com", "*.example.com"));
    cr_assert(hostname_matches_pattern("example.com", "example.com"));
    cr_assert_not(hostname_matches_pattern("www.example.com", "example.com"));
    cr_assert_not(hostname_matches_pattern("x.example.com", "*example.com"));
}
