/*
 * api_allowlist — PINWATCH_ALLOWED_APPS and PINWATCH_ALLOWED_HOSTS, parsed once at start:
 * comma-separated entries, blanks around them ignored. App entries match bundle ids exactly;
 * host entries match normalized host names, "*.example.com" any name below example.com
 * (hostname_matches_pattern). Read-only after parsing, so every request thread shares it.
 */
#ifndef API_ALLOWLIST_H
#define API_ALLOWLIST_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct api_allowlist {
    bool all;     /* no list set: everything is allowed */
    bool hosts;   /* entries are host patterns (lower-cased) rather than exact app ids */
    char **items; /* owned */
    size_t n;
};

/* Parse text (NULL or "": allow everything) into out (release with api_allowlist_cleanup,
 * also after a failure). A list of only separators allows nothing; an entry of 256 bytes
 * or more never matches (as no bundle id or host name is that long). ERR_NOMEM only. */
enum err_code api_allowlist_parse(const char *text, bool hosts, struct api_allowlist *out,
                                  struct err *err) ERR_MUSTCHECK;

/* Whether value (NULL: nothing to match, so only an unset list allows it) is allowed. */
bool api_allowlist_allows(const struct api_allowlist *list, const char *value);

/* Accepts NULL and a zeroed list. */
void api_allowlist_cleanup(struct api_allowlist *list);

#endif
