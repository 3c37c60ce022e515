/*
 * utf8 — well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF), for text that comes from outside (certificate names and SANs) and must be stored
 * as PostgreSQL text and JSON. Pure.
 */
#ifndef UTF8_H
#define UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the well-formed sequence at s (at most n bytes), 0 when it is not one. */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/* Whether all n bytes are well-formed UTF-8. */
bool utf8_valid(const unsigned char *s, size_t n);

/* A new NUL-terminated copy in which well-formed sequences stay and every other byte is
 * written "\XX" (upper-case hex, the escape of RFC 4514 and OpenSSL); *escaped (may be NULL)
 * is set true when a byte was. NULL when out of memory. */
char *utf8_escape(const unsigned char *s, size_t n, bool *escaped);

#endif
