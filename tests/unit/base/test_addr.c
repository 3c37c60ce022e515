/* addr: the one IPv4 / IPv6 parser, canonical text, prefixes and sockaddr conversion. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "base/addr.h"

struct text_case {
    char in[64];
    int family;         /* 0: not an address */
    char canonical[48]; /* addr_format of what it parsed */
};

ParameterizedTestParameters(addr, parse_and_format)
{
    static struct text_case cases[] = {
        {"192.0.2.1", AF_INET, "192.0.2.1"},
        {"0.0.0.0", AF_INET, "0.0.0.0"},
        {"255.255.255.255", AF_INET, "255.255.255.255"},
        {"2001:DB8:0:0::1", AF_INET6, "2001:db8::1"},
        {"::", AF_INET6, "::"},
        {"::1", AF_INET6, "::1"},
        {"::ffff:192.0.2.1", AF_INET6, "::ffff:192.0.2.1"},
        {"2001:db8:1:2:3:4:5:6", AF_INET6, "2001:db8:1:2:3:4:5:6"},
        /* not addresses */
        {"", 0, ""},
        {"256.0.0.1", 0, ""},
        {"192.0.2", 0, ""},
        {"192.0.2.1.5", 0, ""},
        {"01.02.03.04", 0, ""}, /* inet_pton refuses octal-looking quads */
        {" 192.0.2.1", 0, ""},
        {"192.0.2.1 ", 0, ""},
        {"192.0.2.1:80", 0, ""},
        {"[2001:db8::1]", 0, ""},
        {"2001:db8::1%eth0", 0, ""},
        {"2001:db8:::1", 0, ""},
        {"1:2:3:4:5:6:7:8:9", 0, ""},
        {"example.com", 0, ""},
        {"0x7f.0.0.1", 0, ""},
        {"1111111111111111111111111111111111111111111111111111111111111111", 0, ""},
    };
    return cr_make_param_array(struct text_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct text_case *c, addr, parse_and_format)
{
    struct addr a = {.family = 99};
    bool ok = addr_parse(c->in, strlen(c->in), &a);
    cr_assert_eq(ok, c->family != 0, "'%s'", c->in);
    cr_assert_eq(addr_parse_str(c->in, &a), ok, "'%s'", c->in);
    if (!ok) {
        cr_assert_eq(a.family, 99, "'%s': out untouched", c->in);
        return;
    }
    cr_assert_eq(a.family, c->family, "'%s'", c->in);
    cr_assert_eq(addr_len(&a), c->family == AF_INET ? 4u : 16u);
    cr_assert_eq(addr_bits(&a), c->family == AF_INET ? 32u : 128u);
    char text[ADDR_TEXT_LEN];
    addr_format(&a, text);
    cr_assert_str_eq(text, c->canonical);
}

Test(addr, length_is_exact_and_nul_is_refused)
{
    struct addr a;
    cr_assert(addr_parse("192.0.2.1xyz", 9, &a), "only len bytes are read");
    cr_assert_eq(a.bytes[3], 1);
    cr_assert_not(addr_parse("192.0.2.1\0", 10, &a), "a NUL inside is not an address");
    cr_assert_not(addr_parse("192.0.2.1", 0, &a));
    cr_assert_not(addr_parse(NULL, 4, &a));
    cr_assert_not(addr_parse_str(NULL, &a));
}

Test(addr, brackets_hold_ipv6_only)
{
    struct addr a;
    cr_assert(addr_parse_bracketed("[2001:db8::1]", 13, &a));
    cr_assert_eq(a.family, AF_INET6);
    cr_assert(addr_parse_bracketed("192.0.2.1", 9, &a), "a bare literal parses as such");
    cr_assert(addr_parse_bracketed("::1", 3, &a));
    cr_assert_not(addr_parse_bracketed("[192.0.2.1]", 11, &a));
    cr_assert_not(addr_parse_bracketed("[]", 2, &a));
    cr_assert_not(addr_parse_bracketed("[::1", 4, &a));
    cr_assert_not(addr_parse_bracketed("::1]", 4, &a));
    cr_assert_not(addr_parse_bracketed("[[::1]]", 7, &a));
    cr_assert_not(addr_parse_bracketed("[::1]:443", 9, &a), "a port is the caller's syntax");
}

static struct addr parsed(const char *text)
{
    struct addr a;
    cr_assert(addr_parse_str(text, &a), "%s", text);
    return a;
}

Test(addr, prefixes_and_masks)
{
    struct addr net = parsed("10.0.0.0");
    struct addr a = parsed("10.255.1.2");
    cr_assert(addr_in_prefix(&a, &net, 8));
    cr_assert_not(addr_in_prefix(&a, &net, 9));
    a = parsed("11.0.0.1");
    cr_assert_not(addr_in_prefix(&a, &net, 8));
    cr_assert(addr_in_prefix(&a, &net, 0), "/0 holds every IPv4 address");

    struct addr odd = parsed("198.51.100.6");
    a = parsed("198.51.100.7");
    cr_assert(addr_in_prefix(&a, &odd, 31));
    cr_assert_not(addr_in_prefix(&a, &odd, 32));

    struct addr v6 = parsed("2001:db8:8000::");
    a = parsed("2001:db8:ffff::1");
    cr_assert(addr_in_prefix(&a, &v6, 33));
    a = parsed("2001:db8:7fff::1");
    cr_assert_not(addr_in_prefix(&a, &v6, 33));
    a = parsed("10.0.0.1");
    cr_assert_not(addr_in_prefix(&a, &v6, 0), "an IPv6 prefix holds no IPv4 address");
    cr_assert_not(addr_in_prefix(&v6, &net, 0), "nor the other way round");

    /* IPv4-mapped IPv6 against IPv4 prefixes (dual-stack listeners), and only those */
    a = parsed("::ffff:10.1.2.3");
    cr_assert(addr_in_prefix(&a, &net, 8));
    a = parsed("::10.1.2.3");
    cr_assert_not(addr_in_prefix(&a, &net, 8));

    struct addr m = parsed("203.0.113.77");
    addr_mask(&m, 24);
    char text[ADDR_TEXT_LEN];
    addr_format(&m, text);
    cr_assert_str_eq(text, "203.0.113.0");
    m = parsed("2001:db8:1234:5678::1");
    addr_mask(&m, 48);
    addr_format(&m, text);
    cr_assert_str_eq(text, "2001:db8:1234::");
    m = parsed("192.0.2.255");
    addr_mask(&m, 200);
    addr_format(&m, text);
    cr_assert_str_eq(text, "192.0.2.255", "a prefix beyond the length keeps every bit");
}

Test(addr, unmap_and_sockaddr_round_trip)
{
    struct addr a = parsed("::ffff:192.0.2.9");
    cr_assert(addr_unmap_v4(&a));
    cr_assert_eq(a.family, AF_INET);
    char text[ADDR_TEXT_LEN];
    addr_format(&a, text);
    cr_assert_str_eq(text, "192.0.2.9");
    cr_assert_not(addr_unmap_v4(&a), "already IPv4");
    struct addr b = parsed("2001:db8::9");
    cr_assert_not(addr_unmap_v4(&b));
    cr_assert_eq(b.family, AF_INET6);

    struct sockaddr_storage ss;
    socklen_t len = 0;
    addr_to_sockaddr(&b, 8443, &ss, &len);
    cr_assert_eq(len, sizeof(struct sockaddr_in6));
    cr_assert_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 8443);
    struct addr back;
    cr_assert(addr_from_sockaddr((struct sockaddr *)&ss, &back));
    cr_assert_eq(memcmp(&back, &b, sizeof(b)), 0);

    addr_to_sockaddr(&a, 80, &ss, &len);
    cr_assert_eq(len, sizeof(struct sockaddr_in));
    cr_assert_eq(ss.ss_family, AF_INET);
    cr_assert(addr_from_sockaddr((struct sockaddr *)&ss, &back));
    cr_assert_eq(memcmp(back.bytes, a.bytes, 4), 0);

    ss.ss_family = AF_UNIX;
    cr_assert_not(addr_from_sockaddr((struct sockaddr *)&ss, &back));
    cr_assert_not(addr_from_sockaddr(NULL, &back));
}
