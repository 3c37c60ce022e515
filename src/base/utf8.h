/*
 * utf8 — the one check of UTF-8 well-formedness (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF), the rule jansson and PostgreSQL apply to the text they take. Pure.
 */
#ifndef UTF8_H
#define UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when the len bytes at s are well-formed UTF-8 (a NUL byte is U+0000, and valid). */
bool utf8_valid(const char *s, size_t len);

/* Length of the longest well-formed prefix of the len bytes at s: where to cut a string so
 * that no sequence is split (len itself when all of it is well-formed). */
size_t utf8_valid_prefix(const char *s, size_t len);

/* A new NUL-terminated copy of the len bytes at s in which well-formed sequences stay and
 * every other byte is written "\XX" (upper-case hex, the escape of RFC 4514 and OpenSSL), for
 * text that must be stored whole and legibly (certificate names and SANs); *escaped (may be
 * NULL) is set true when a byte was. NULL when out of memory. */
char *utf8_escape(const char *s, size_t len, bool *escaped);

/* Replace, in place, every byte of the NUL-terminated s that does not start a well-formed
 * sequence with '?'; well-formed text is left as it is. */
void utf8_sanitize(char *s);

#endif
