/*
 * addr — IP addresses as bytes: the one parser of IPv4 / IPv6 text (inet_pton), and the few
 * operations the server needs on them (canonical text, prefixes, sockaddr conversion). Pure.
 *
 * Text forms belong to the callers: the URL-style "[v6]" is addr_parse_bracketed's; ports,
 * lists and whitespace are the caller's syntax, stripped before the address is parsed.
 */
#ifndef ADDR_H
#define ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDR_TEXT_LEN 46 /* INET6_ADDRSTRLEN: the longest canonical text and its NUL */

struct addr {
    int family;              /* AF_INET or AF_INET6 */
    unsigned char bytes[16]; /* network order; the first 4 for IPv4 */
};

/* Bytes of the address: 4 for IPv4, 16 for IPv6. */
size_t addr_len(const struct addr *a);

/* Bits of the address: 32 or 128 (the longest prefix). */
unsigned addr_bits(const struct addr *a);

/*
 * Parse exactly len bytes of text as an IPv4 (dotted quad) or IPv6 literal, as inet_pton does:
 * nothing around it (no brackets, port, zone or whitespace), no NUL inside. False, and out
 * untouched, when it is not one.
 */
bool addr_parse(const char *text, size_t len, struct addr *out);

/* addr_parse of a NUL-terminated string. */
bool addr_parse_str(const char *text, struct addr *out);

/* addr_parse, but "[...]" (URL syntax, RFC 3986) holds an IPv6 literal and nothing else. */
bool addr_parse_bracketed(const char *text, size_t len, struct addr *out);

/* Canonical text (inet_ntop: "2001:db8::1", "192.0.2.1") into out (ADDR_TEXT_LEN bytes). */
void addr_format(const struct addr *a, char out[ADDR_TEXT_LEN]);

/* Zero every bit after the first prefix bits (prefix beyond the length keeps them all). */
void addr_mask(struct addr *a, unsigned prefix);

/*
 * True when a lies inside net/prefix. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is inside
 * an IPv4 prefix as its IPv4 address; otherwise the families must agree.
 */
bool addr_in_prefix(const struct addr *a, const struct addr *net, unsigned prefix);

/* An IPv4-mapped IPv6 address becomes the IPv4 address; true when it was one. */
bool addr_unmap_v4(struct addr *a);

/* From a struct sockaddr_in / sockaddr_in6; false (out untouched) for any other family. */
bool addr_from_sockaddr(const struct sockaddr *sa, struct addr *out);

/* Into a zeroed sockaddr_storage with that port (host order); *len is the sockaddr's size. */
void addr_to_sockaddr(const struct addr *a, uint16_t port, struct sockaddr_storage *ss,
                      socklen_t *len);

#endif
