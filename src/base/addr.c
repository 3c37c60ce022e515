#include "base/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* Longer than any literal inet_pton accepts (an IPv6 address with an embedded IPv4 tail is
 * 45 characters). */
#define ADDR_MAX_TEXT 64

static const unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

size_t addr_len(const struct addr *a)
{
    return a->family == AF_INET ? 4 : 16;
}

unsigned addr_bits(const struct addr *a)
{
    return (unsigned)(8 * addr_len(a));
}

bool addr_parse(const char *text, size_t len, struct addr *out)
{
    char buf[ADDR_MAX_TEXT];
    if (text == NULL || len == 0 || len >= sizeof(buf) || memchr(text, '\0', len) != NULL)
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    struct addr a;
    memset(&a, 0, sizeof(a));
    if (inet_pton(AF_INET, buf, a.bytes) == 1)
        a.family = AF_INET;
    else if (inet_pton(AF_INET6, buf, a.bytes) == 1)
        a.family = AF_INET6;
    else
        return false;
    *out = a;
    return true;
}

bool addr_parse_str(const char *text, struct addr *out)
{
    return text != NULL && addr_parse(text, strlen(text), out);
}

bool addr_parse_bracketed(const char *text, size_t len, struct addr *out)
{
    if (text == NULL || len < 2 || text[0] != '[' || text[len - 1] != ']')
        return addr_parse(text, len, out);
    struct addr a;
    if (!addr_parse(text + 1, len - 2, &a) || a.family != AF_INET6)
        return false;
    *out = a;
    return true;
}

void addr_format(const struct addr *a, char out[ADDR_TEXT_LEN])
{
    if (inet_ntop(a->family, a->bytes, out, ADDR_TEXT_LEN) == NULL)
        out[0] = '\0'; /* only for a family this module never makes */
}

void addr_mask(struct addr *a, unsigned prefix)
{
    size_t n = addr_len(a);
    for (size_t i = 0; i < n; i++) {
        unsigned keep = prefix > 8 * i ? prefix - 8 * (unsigned)i : 0;
        if (keep < 8)
            a->bytes[i] &= (unsigned char)(0xff << (8 - keep));
    }
}

bool addr_unmap_v4(struct addr *a)
{
    if (a->family != AF_INET6 || memcmp(a->bytes, v4_mapped_prefix, 12) != 0)
        return false;
    unsigned char v4[4];
    memcpy(v4, a->bytes + 12, 4);
    memset(a->bytes, 0, sizeof(a->bytes));
    memcpy(a->bytes, v4, 4);
    a->family = AF_INET;
    return true;
}

bool addr_in_prefix(const struct addr *a, const struct addr *net, unsigned prefix)
{
    struct addr x = *a, n = *net;
    if (n.family == AF_INET)
        addr_unmap_v4(&x);
    if (x.family != n.family)
        return false;
    addr_mask(&x, prefix);
    addr_mask(&n, prefix);
    return memcmp(x.bytes, n.bytes, addr_len(&x)) == 0;
}

bool addr_from_sockaddr(const struct sockaddr *sa, struct addr *out)
{
    if (sa == NULL)
        return false;
    struct addr a;
    memset(&a, 0, sizeof(a));
    if (sa->sa_family == AF_INET)
        memcpy(a.bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    else if (sa->sa_family == AF_INET6)
        memcpy(a.bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    else
        return false;
    a.family = sa->sa_family;
    *out = a;
    return true;
}

void addr_to_sockaddr(const struct addr *a, uint16_t port, struct sockaddr_storage *ss,
                      socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        memcpy(&v4->sin_addr, a->bytes, 4);
        *len = sizeof(*v4);
    } else {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        memcpy(&v6->sin6_addr, a->bytes, 16);
        *len = sizeof(*v6);
    }
}
