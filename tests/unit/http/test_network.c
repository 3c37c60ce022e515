/* network: who sent a request. Prefixes (IPv4 /24, IPv6 /48, IPv4-mapped IPv6), the
 * X-Forwarded-For walk from the right through trusted proxies, and every way a header can be
 * ignored (untrusted peer, no trusted proxies, garbage). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/utf8.h"
#include "http/network.h"

static struct sockaddr_storage peer(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(51000);
    } else {
        cr_assert_eq(inet_pton(AF_INET6, text, &v6->sin6_addr), 1, "bad test peer %s", text);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(51000);
    }
    return ss;
}

/* Identify a request from peer_text with header xff behind the proxies in trusted_text. */
static struct network_info identify(const char *peer_text, const char *xff,
                                    const char *trusted_text)
{
    struct config_cidr *trusted = NULL;
    size_t n = 0;
    cr_assert_eq(config_parse_cidrs(trusted_text, &trusted, &n, NULL), ERR_OK);
    struct sockaddr_storage ss = peer(peer_text);
    struct network_info info;
    memset(&info, 0x5a, sizeof(info)); /* every field must be written */
    network_identify((const struct sockaddr *)&ss, xff, trusted, n, NULL, &info);
    free(trusted);
    return info;
}

#define EXPECT_CLIENT(info, want_ip, want_net)                                                     \
    do {                                                                                           \
        cr_assert_str_eq((info).ip, want_ip);                                                      \
        cr_assert_str_eq((info).network, want_net);                                                \
    } while (0)

/* Parameters hold their text: Criterion runs each one in a process of its own. */
struct prefix_case {
    char in[48], want[32];
};

ParameterizedTestParameters(network, prefixes_v4_24_v6_48)
{
    static struct prefix_case cases[] = {
        {"203.0.113.7", "203.0.113.0/24"},
        {"198.51.100.255", "198.51.100.0/24"},
        {"0.0.0.0", "0.0.0.0/24"},
        {"2001:db8:abcd:1234::1", "2001:db8:abcd::/48"},
        {"2001:0DB8:0001:ffff:ffff:ffff:ffff:ffff", "2001:db8:1::/48"},
        {"::1", "::/48"},
        {"[2001:db8::1]", "2001:db8::/48"},
        {"203.0.113.7:5555", "203.0.113.0/24"},     /* address:port, as some proxies write it */
        {"[2001:db8:5::1]:443", "2001:db8:5::/48"}, /* [v6]:port */
        {"  203.0.113.7\t", "203.0.113.0/24"},      /* header whitespace */
    };
    return cr_make_param_array(struct prefix_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct prefix_case *c, network, prefixes_v4_24_v6_48)
{
    char out[64] = "";
    cr_assert(network_prefix_of(c->in, out, sizeof(out)), "%s", c->in);
    cr_assert_str_eq(out, c->want, "%s", c->in);
}

Test(network, ipv4_mapped_ipv6_is_plain_ipv4)
{
    char out[64];
    cr_assert(network_prefix_of("::ffff:198.51.100.9", out, sizeof(out)));
    cr_assert_str_eq(out, "198.51.100.0/24");
    /* A dual-stack listener sees IPv4 clients as mapped peers: stored as IPv4. */
    struct network_info info = identify("::ffff:198.51.100.9", NULL, "");
    EXPECT_CLIENT(info, "198.51.100.9", "198.51.100.0/24");
    /* ...and a mapped peer inside an IPv4 trusted prefix is a trusted proxy. */
    info = identify("::ffff:127.0.0.1", "203.0.113.50", "127.0.0.0/8");
    EXPECT_CLIENT(info, "203.0.113.50", "203.0.113.0/24");
    /* A mapped address in the header is unmapped too. */
    info = identify("127.0.0.1", "::ffff:203.0.113.51", "127.0.0.0/8");
    EXPECT_CLIENT(info, "203.0.113.51", "203.0.113.0/24");
}

struct not_an_address {
    char in[48];
};

ParameterizedTestParameters(network, not_addresses)
{
    static struct not_an_address bad[] = {
        {""},     {"   "},         {"not-an-ip"}, {"300.1.1.1"},    {"1.2.3"}, {"1.2.3.4.5"},
        {"[::1"}, {"2001:db8::g"}, {"unknown"},   {"1.2.3.4:80:1"}, {"[]"},    {"-"}};
    return cr_make_param_array(struct not_an_address, bad, sizeof(bad) / sizeof(bad[0]));
}

ParameterizedTest(struct not_an_address *c, network, not_addresses)
{
    char out[64] = "untouched";
    cr_assert_not(network_prefix_of(c->in, out, sizeof(out)), "'%s'", c->in);
}

Test(network, peer_without_proxies)
{
    struct network_info info = identify("198.51.100.7", NULL, "");
    EXPECT_CLIENT(info, "198.51.100.7", "198.51.100.0/24");
    cr_assert_eq(info.asn, 0);
    cr_assert_str_eq(info.as_org, "");
    cr_assert_str_eq(info.country, "");
    info = identify("2001:db8:77:1::9", NULL, "");
    EXPECT_CLIENT(info, "2001:db8:77:1::9", "2001:db8:77::/48");
}

Test(network, xff_ignored_without_trusted_proxies)
{
    /* The default: nobody's header is believed, so a client cannot pick its own network. */
    struct network_info info = identify("127.0.0.1", "198.51.100.7", "");
    EXPECT_CLIENT(info, "127.0.0.1", "127.0.0.0/24");
}

Test(network, xff_ignored_from_an_untrusted_peer)
{
    struct network_info info = identify("192.0.2.10", "198.51.100.7", "127.0.0.0/8, 10.0.0.0/8");
    EXPECT_CLIENT(info, "192.0.2.10", "192.0.2.0/24");
    info = identify("2001:db8:9::1", "198.51.100.7", "::1/128");
    EXPECT_CLIENT(info, "2001:db8:9::1", "2001:db8:9::/48");
}

Test(network, xff_from_a_trusted_peer)
{
    struct network_info info = identify("127.0.0.1", "198.51.100.7", "127.0.0.0/8");
    EXPECT_CLIENT(info, "198.51.100.7", "198.51.100.0/24");
    info = identify("::1", "[2001:db8:1:2::3]:443", "::1/128");
    EXPECT_CLIENT(info, "2001:db8:1:2::3", "2001:db8:1::/48");
    info = identify("127.0.0.1", "  198.51.100.8  ", "127.0.0.0/8");
    EXPECT_CLIENT(info, "198.51.100.8", "198.51.100.0/24");
}

Test(network, xff_walks_right_to_left_through_trusted_proxies)
{
    /* client (spoofs 203.0.113.9) -> 198.51.100.7 -> our proxy 10.0.0.5 -> our proxy 127.0.0.1:
     * the right-most entry that is not ours is the client; what it wrote itself is ignored. */
    struct network_info info =
        identify("127.0.0.1", "203.0.113.9, 198.51.100.7, 10.0.0.5", "127.0.0.0/8, 10.0.0.0/8");
    EXPECT_CLIENT(info, "198.51.100.7", "198.51.100.0/24");
    /* No spaces, as some proxies write it. */
    info = identify("127.0.0.1", "203.0.113.9,198.51.100.7,10.0.0.5", "127.0.0.0/8,10.0.0.0/8");
    EXPECT_CLIENT(info, "198.51.100.7", "198.51.100.0/24");
    /* Only our proxies in the header: the left-most (the first one) is what we know. */
    info = identify("127.0.0.1", "10.0.0.1, 10.0.0.2", "127.0.0.0/8, 10.0.0.0/8");
    EXPECT_CLIENT(info, "10.0.0.1", "10.0.0.0/24");
}

Test(network, garbage_xff_falls_back_to_the_peer)
{
    static const char *const junk[] = {"",
                                       "garbage",
                                       "unknown",
                                       "198.51.100.7, garbage",
                                       "198.51.100.7,",
                                       ",,,",
                                       "300.300.300.300",
                                       "198.51.100.7 203.0.113.9",
                                       "\x01\x02\xff"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        struct network_info info = identify("127.0.0.1", junk[i], "127.0.0.0/8");
        EXPECT_CLIENT(info, "127.0.0.1", "127.0.0.0/24");
    }
    /* A very long header is no problem either. */
    size_t n = 100000;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = i % 2 ? ',' : '9';
    big[n] = '\0';
    struct network_info info = identify("127.0.0.1", big, "127.0.0.0/8");
    EXPECT_CLIENT(info, "127.0.0.1", "127.0.0.0/24");
    free(big);
}

Test(network, garbage_left_of_the_client_does_not_matter)
{
    /* Only the hops right of the client are our proxies' words; left of it anything goes. */
    struct network_info info = identify("127.0.0.1", "garbage, 198.51.100.7", "127.0.0.0/8");
    EXPECT_CLIENT(info, "198.51.100.7", "198.51.100.0/24");
}

Test(network, asn_db_open_failure_is_reported)
{
    struct network_db *db = NULL;
    struct err err = {0};
    cr_assert_eq(network_db_open("/nonexistent/pinwatch.mmdb", &db, &err), ERR_INVALID);
    cr_assert_null(db);
    cr_assert_str_eq(err.key, "asn_db");
    network_db_free(NULL); /* accepts NULL */
}

/* An organisation name longer than the field is cut between characters: the name is stored
 * as PostgreSQL text, which refuses a split UTF-8 sequence (and the whole batch with it). */
Test(network, a_long_organisation_name_is_cut_between_characters)
{
    char path[] = "/tmp/pinwatch-asn-XXXXXX";
    close(mkstemp(path));
    char org[160];
    memset(org, 'A', 126);
    strcpy(org + 126, "\xc3\xa9-Telecom"); /* "é" straddles byte 127 */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "perl %s/make_mmdb.pl %s '198.51.100.0/24=64500:%s:KZ'",
             TEST_SCRIPTS_DIR, path, org);
    cr_assert_eq(system(cmd), 0, "cannot build the test .mmdb");
    struct network_db *db = NULL;
    struct err err = {0};
    cr_assert_eq(network_db_open(path, &db, &err), ERR_OK, "%s", err.detail);
    struct sockaddr_storage ss = peer("198.51.100.7");
    struct network_info info;
    network_identify((const struct sockaddr *)&ss, NULL, NULL, 0, db, &info);
    cr_assert_eq(info.asn, 64500);
    cr_assert_str_eq(info.country, "KZ");
    size_t len = strlen(info.as_org);
    cr_assert_geq(len, 126, "%s", info.as_org);
    cr_assert_lt(len, sizeof(info.as_org));
    cr_assert(utf8_valid(info.as_org, len), "cut inside a sequence: ...%s", info.as_org + 120);
    network_db_free(db);
    unlink(path);
}
