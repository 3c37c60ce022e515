/*
 * hostname — one normal form for host names so that grouping, coverage checks and allow-lists
 * compare like with like (SPEC §5): trimmed, one trailing dot removed, lower-case, IDNA
 * A-labels (libidn2), IP literals in canonical text. Pure.
 */
#ifndef HOSTNAME_H
#define HOSTNAME_H

#include <stdbool.h>

#include "base/err.h"

#define HOSTNAME_MAX 253

/*
 * Normalize raw (NUL-terminated UTF-8) into a new string in *out (caller frees):
 *   " WWW.Example.COM. " -> "www.example.com"; "bücher.example" -> "xn--bcher-kva.example";
 *   "[::1]", "0:0::1" -> "::1"; "192.0.2.1" stays.
 * ERR_INVALID with key "invalid_hostname" when empty, not a host name (characters other than
 * letters, digits, '-', '_' between dots, empty or over-63 labels), invalid for IDNA, or longer
 * than 253 bytes once normalized; *out is untouched then.
 */
enum err_code hostname_normalize(const char *raw, char **out, struct err *err) ERR_MUSTCHECK;

/* True when raw is an IPv4 or IPv6 literal in any spelling inet_pton accepts. */
bool hostname_is_ip(const char *name);

/*
 * Whether a pin policy noted for `noted` applies to `host` (both normalized): equal, or a
 * subdomain of noted when include_subdomains. IP literals only match exactly.
 */
bool hostname_covered(const char *host, const char *noted, bool include_subdomains);

/*
 * Allow-list / expected-key pattern match on normalized names: "*.example.com" matches any
 * name ending in ".example.com" (not "example.com" itself); any other pattern matches exactly.
 */
bool hostname_matches_pattern(const char *host, const char *pattern);

#endif
