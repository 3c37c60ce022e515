#include "base/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the well-formed sequence at s (avail bytes readable), or 0. */
static size_t seq_len(const unsigned char *s, size_t avail)
{
    unsigned char b = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;

    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        n = 2;
    else if (b >= 0xE0 && b <= 0xEF)
        n = 3;
    else if (b >= 0xF0 && b <= 0xF4)
        n = 4;
    else
        return 0;
    if (n > avail)
        return 0;
    if (b == 0xE0)
        lo = 0xA0; /* overlong below U+0800 */
    else if (b == 0xED)
        hi = 0x9F; /* surrogates U+D800..U+DFFF */
    else if (b == 0xF0)
        lo = 0x90; /* overlong below U+10000 */
    else if (b == 0xF4)
        hi = 0x8F; /* above U+10FFFF */
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    }
    return n;
}

size_t utf8_valid_prefix(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = seq_len(p + i, len - i);
        if (n == 0)
            break;
        i += n;
    }
    return i;
}

bool utf8_valid(const char *s, size_t len)
{
    return len == 0 || (s != NULL && utf8_valid_prefix(s, len) == len);
}

void utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t left = strlen(s);
    while (left > 0) {
        size_t n = seq_len(p, left);
        if (n == 0) {
            *p++ = '?';
            left--;
            continue;
        }
        p += n;
        left -= n;
    }
}

char *utf8_escape(const char *s, size_t len, bool *escaped)
{
    const unsigned char *p = (const unsigned char *)s;
    char *out = malloc(len * 3 + 1); /* an escaped byte takes three */
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = seq_len(p + i, len - i);
        if (n > 0) {
            memcpy(out + o, p + i, n);
            o += n;
            i += n;
            continue;
        }
        snprintf(out + o, 4, "\\%02X", p[i]);
        o += 3;
        i++;
        if (escaped != NULL)
            *escaped = true;
    }
    out[o] = '\0';
    return out;
}
