/*
 * body_json — a request body's JSON tree, parsed through its certificate template. The body's
 * split (rawbody) already marks every string literal that carries a PEM certificate; jansson
 * parses the template with each such literal replaced by a short placeholder, and the
 * literals come from a literal_cache (decoded once by content). A body is mostly certificate
 * text, so a chain seen before costs its hashes instead of being lexed again.
 *
 * The tree is exactly json_loadb(body, len, JSON_DECODE_ANY): whenever the short way cannot
 * promise that (a literal that is not a valid string, a certificate literal used as an object
 * key, a \u0000 escape anywhere, a template jansson refuses), the body is parsed whole, so
 * errors and their positions are jansson's own. Pure apart from the cache.
 */
#ifndef BODY_JSON_H
#define BODY_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "report/rawbody.h"

struct literal_cache;

/*
 * Parse body. split is rawbody_split(body) (borrowed; NULL parses the body whole), literals a
 * cache (borrowed, may be NULL). Returns a new tree, or NULL with jerr filled by jansson.
 */
json_t *body_json_load(const char *body, size_t len, const struct rawbody_split *split,
                       struct literal_cache *literals, json_error_t *jerr);

#endif
