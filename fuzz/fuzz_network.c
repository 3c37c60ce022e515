/*
 * fuzz_network — who sent a request: network_identify with a fuzzed X-Forwarded-For behind a
 * trusted or an untrusted peer, network_prefix_of on fuzzed text, and config_parse_cidrs (the
 * trusted-proxy list itself). Invariants: an untrusted peer's header is ignored; the answer is
 * always a real address with its /24 or /48, and the prefix of the answer's address is the
 * answer's prefix.
 *
 * Input: first byte picks the peer, the rest is the header text.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "base/config.h"
#include "fuzz_check.h"
#include "http/network.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

#define NW_TRUSTED "127.0.0.0/8, 10.0.0.0/8, ::1/128, 2001:db8:ffff::/48"

static const char *const nw_peers[] = {
    "127.0.0.1",         /* trusted v4 */
    "10.1.2.3",          /* trusted v4 */
    "::1",               /* trusted v6 */
    "2001:db8:ffff::9",  /* trusted v6 */
    "::ffff:10.9.8.7",   /* trusted v4, seen as IPv4-mapped v6 */
    "198.51.100.7",      /* untrusted v4 */
    "2001:db8:1::1",     /* untrusted v6 */
    "::ffff:203.0.113.9" /* untrusted, mapped */
};
#define NW_N_PEERS         (sizeof(nw_peers) / sizeof(nw_peers[0]))
#define NW_FIRST_UNTRUSTED 5

static void nw_peer(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(40000);
    } else {
        FUZZ_CHECK(inet_pton(AF_INET6, text, &v6->sin6_addr) == 1);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(40000);
    }
}

static void nw_check_info(const struct network_info *info)
{
    FUZZ_CHECK(memchr(info->ip, '\0', sizeof(info->ip)) != NULL);
    FUZZ_CHECK(memchr(info->network, '\0', sizeof(info->network)) != NULL);
    FUZZ_CHECK(info->ip[0] != '\0' && info->network[0] != '\0');
    size_t nl = strlen(info->network);
    FUZZ_CHECK(nl > 3);
    const char *suffix = info->network + nl - 3;
    FUZZ_CHECK(strcmp(suffix, "/24") == 0 || strcmp(suffix, "/48") == 0);
    /* IPv4 answers are plain IPv4 (mapped addresses unmapped), with an IPv4 prefix. */
    unsigned char a[16];
    if (inet_pton(AF_INET, info->ip, a) == 1)
        FUZZ_CHECK(strcmp(suffix, "/24") == 0);
    else
        FUZZ_CHECK(inet_pton(AF_INET6, info->ip, a) == 1 && strcmp(suffix, "/48") == 0);
    char prefix[64];
    FUZZ_CHECK(network_prefix_of(info->ip, prefix, sizeof(prefix)));
    FUZZ_CHECK(strcmp(prefix, info->network) == 0);
    FUZZ_CHECK(info->asn == 0 && info->as_org[0] == '\0' && info->country[0] == '\0');
}

int FUZZ_ENTRY(const uint8_t *data, size_t size);
int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct config_cidr *trusted = NULL;
    size_t n_trusted = 0;
    FUZZ_CHECK(config_parse_cidrs(NW_TRUSTED, &trusted, &n_trusted, NULL) == ERR_OK);
    FUZZ_CHECK(n_trusted == 4);

    size_t which = data[0] % NW_N_PEERS;
    struct sockaddr_storage peer;
    nw_peer(nw_peers[which], &peer);
    char *xff = malloc(size);
    FUZZ_CHECK(xff != NULL);
    memcpy(xff, data + 1, size - 1);
    xff[size - 1] = '\0';

    struct network_info with, without;
    network_identify((const struct sockaddr *)&peer, xff, trusted, n_trusted, NULL, &with);
    network_identify((const struct sockaddr *)&peer, NULL, trusted, n_trusted, NULL, &without);
    nw_check_info(&with);
    nw_check_info(&without);
    if (which >= NW_FIRST_UNTRUSTED) {
        /* An untrusted peer's X-Forwarded-For counts for nothing. */
        FUZZ_CHECK(strcmp(with.ip, without.ip) == 0);
        FUZZ_CHECK(strcmp(with.network, without.network) == 0);
    }
    /* No trusted proxies at all: the header counts for nothing either. */
    struct network_info none;
    network_identify((const struct sockaddr *)&peer, xff, NULL, 0, NULL, &none);
    FUZZ_CHECK(strcmp(none.ip, without.ip) == 0);

    /* The header text as one address. */
    char prefix[64];
    if (network_prefix_of(xff, prefix, sizeof(prefix))) {
        size_t pl = strlen(prefix);
        FUZZ_CHECK(pl > 3 &&
                   (strcmp(prefix + pl - 3, "/24") == 0 || strcmp(prefix + pl - 3, "/48") == 0));
    }
    /* And as a trusted-proxy list. */
    struct config_cidr *list = NULL;
    size_t n = 0;
    if (config_parse_cidrs(xff, &list, &n, NULL) == ERR_OK) {
        for (size_t i = 0; i < n; i++) {
            FUZZ_CHECK(list[i].family == AF_INET || list[i].family == AF_INET6);
            FUZZ_CHECK(list[i].prefix >= 0 &&
                       list[i].prefix <= (list[i].family == AF_INET ? 32 : 128));
            (void)config_cidr_contains(&list[i], (const struct sockaddr *)&peer);
        }
    } else {
        FUZZ_CHECK(list == NULL && n == 0);
    }
    free(list);
    free(xff);
    free(trusted);
    return 0;
}
