/*
 * rawbody — keep request bodies byte-exact without storing the same certificate text a
 * million times. A body is split into a template, where each JSON string literal that carries
 * a PEM certificate is replaced by a reference (its SHA-256), and fragments (the literals'
 * exact bytes, quotes and escapes included). Joining them gives back the original bytes.
 * Pure: no I/O.
 *
 * Template format: first byte 'T' (templated: 0x00 + 32-byte SHA-256 marks a fragment; a
 * valid JSON text never contains a raw NUL), 'P' (plain copy, for bodies that do contain
 * NUL bytes) or 'Z' (a 'T' template deflated, see rawbody_compress).
 */
#ifndef RAWBODY_H
#define RAWBODY_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

struct rawbody_fragment {
    uint8_t sha256[32];
    const char *data; /* borrowed from the body */
    size_t len;
};

struct rawbody_split {
    unsigned char *tpl; /* new */
    size_t tpl_len;
    struct rawbody_fragment *frags; /* new array; data pointers borrow the body */
    size_t n_frags;
};

/* Split body. Fills out (release with rawbody_split_cleanup). */
enum err_code rawbody_split(const char *body, size_t len, struct rawbody_split *out,
                            struct err *err) ERR_MUSTCHECK;
void rawbody_split_cleanup(struct rawbody_split *s);

/* Replace s->tpl by its 'Z' form when that is smaller: 'Z', the number n of distinct fragment
 * references, n times (0x00 + SHA-256) in the clear (so a reader finds the fragments to fetch
 * without inflating), then the rest of the 'T' template as a raw deflate stream whose preset
 * dictionary is a fixed text of report field names followed by those references. Report
 * templates are mostly field names and repeated references: this about halves them. */
enum err_code rawbody_compress(struct rawbody_split *s, struct err *err) ERR_MUSTCHECK;

/* Returns the fragment bytes for a hash (borrowed), or NULL when unknown. */
typedef const char *rawbody_lookup_fn(void *ctx, const uint8_t sha256[32], size_t *len);

/* Rebuild the body into out. ERR_NOT_FOUND when a fragment is missing, ERR_INVALID when the
 * template is malformed. */
enum err_code rawbody_join(const unsigned char *tpl, size_t tpl_len, rawbody_lookup_fn *lookup,
                           void *ctx, struct buf *out, struct err *err) ERR_MUSTCHECK;

#endif
