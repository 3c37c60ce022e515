/*
 * report_parse — request body bytes to normalized reports (SPEC §4, §5). Pure: no I/O, no
 * globals; safe to call from any number of threads at once.
 *
 * The shape is detected from the JSON itself, never from the Content-Type:
 *   object with "known-pins"        TrustKit iOS / TrustKit-Android / HPKP (report_pins); an
 *                                   object with "app-bundle-id", "noted-hostname" or
 *                                   "include-subdomains" is taken as one too, so that a missing
 *                                   known-pins is refused as missing_field
 *   object with "expect-ct-report"  Expect-CT (report_expect_ct)
 *   array                           Reporting API batch and/or report objects: each element is
 *                                   a Reporting API item ({type, body, ...}: network-error with
 *                                   body.type "tls.*" becomes a NEL report, any other item is
 *                                   counted in `ignored`) or one of the objects above
 *   object with "type" and "body"   a lone Reporting API item (a client bug), taken as a
 *                                   one-item batch
 * Anything else is "unknown_format" (Expect-Staple and CSP included: not in SPEC).
 */
#ifndef REPORT_PARSE_H
#define REPORT_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "report/report.h"

struct cert_cache;
struct literal_cache;
struct rawbody_split;

#define REPORT_PARSE_MAX_DEPTH  32    /* JSON nesting of the whole body */
#define REPORT_PARSE_MAX_ITEMS  100   /* elements of a top-level array */
#define REPORT_PARSE_MAX_CHAIN  16    /* certificates per chain */
#define REPORT_PARSE_MAX_PINS   32    /* known-pins entries */
#define REPORT_PARSE_MAX_STRING 16384 /* bytes of any string or key inside a report */

struct report_parse_opts {
    int64_t received_at;    /* Unix microseconds; copied into every report */
    const char *user_agent; /* User-Agent header (borrowed), may be NULL */
    /* Limits; 0 means the REPORT_PARSE_* default. */
    size_t max_depth;
    size_t max_items;
    size_t max_chain;
    size_t max_pins;
    size_t max_string;
    /* Decoded certificates shared by content across requests (borrowed); NULL decodes each
     * time. */
    struct cert_cache *certs;
    /* The body's rawbody_split (borrowed) and a cache of decoded certificate literals
     * (borrowed): with both, the JSON is parsed through its template (body_json). NULL
     * parses the body whole; the result is the same. */
    const struct rawbody_split *split;
    struct literal_cache *literals;
};

/* One element of an array body that could not be taken. */
struct report_reject {
    size_t index;   /* position in the input array; 0 for a lone object */
    struct err err; /* why: missing_field, invalid_field, unknown_format, string_too_long,
                       too_many_certificates, too_many_pins, ... */
};

struct report_batch {
    struct report **reports; /* owned, in input order; a caller may take one and set NULL */
    size_t n;
    struct report_reject *rejected; /* owned, in input order */
    size_t n_rejected;
    size_t ignored; /* Reporting API items that are not tls.* network errors */
};

/* Defaults for every field (received_at 0, user_agent NULL). */
void report_parse_opts_init(struct report_parse_opts *opts);

/*
 * Parse a request body. *out is (re)initialised and filled; release it with
 * report_batch_cleanup whatever the result. Every report gets received_at, index (its position
 * in the body's array, 0 for a lone object), the header User-Agent (unless a Reporting API
 * item carried its own) and raw_sha256 = SHA-256(body); ids are not assigned here.
 *
 * ERR_OK when the body is a known shape, even if every element was rejected or ignored (the
 * caller answers 400 when n == 0 && ignored == 0). ERR_INVALID for whole-body failures, with
 * err->key one of: json_too_deep (checked on the bytes before parsing), invalid_json
 * (jansson's message and position in the detail; invalid UTF-8, \u0000, 1e999 included),
 * unknown_format, too_many_items; and for a lone object (or lone Reporting API item) that is
 * itself rejected, that element's error. ERR_NOMEM on allocation failure (*out then empty).
 */
enum err_code report_parse_body(const char *body, size_t len, const struct report_parse_opts *opts,
                                struct report_batch *out, struct err *err) ERR_MUSTCHECK;

/* Free everything the batch owns (NULL report slots allowed) and zero it. Accepts NULL. */
void report_batch_cleanup(struct report_batch *batch);

#endif
