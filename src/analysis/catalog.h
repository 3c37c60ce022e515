/*
 * catalog — the interception catalog (SPEC §6.1; landscape §3.5, §3.6), a data file in the
 * repository (data/catalog.json) loaded once at start and read-only afterwards, so one
 * catalog may be shared by every thread.
 *
 * Two kinds of entries:
 *  - products: name patterns of interception products (POSIX extended regular expressions,
 *    case-insensitive, matched against the WHOLE parsed CN / O value, Chromium's semantics:
 *    when an entry has both a CN and an O pattern, both must match);
 *  - hostile_spki: SHA-256 of the SubjectPublicKeyInfo of known-hostile roots (Chromium's
 *    blocklist and known-interception list).
 * Categories: enterprise_proxy, antivirus, debugging_proxy, malware_adware, state (products
 * and hostile keys), and for hostile keys only: compromised_ca, leaked_key, revoked.
 *
 * A name match is evidence, not proof: anyone can put any name in a certificate.
 */
#ifndef CATALOG_H
#define CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct cert;

/* Default location (config PINWATCH_CATALOG overrides it). */
#define CATALOG_DEFAULT_PATH PINWATCH_SOURCE_DIR "/data/catalog.json"

#define CATALOG_MAX_ENTRIES 10000

struct catalog_product {
    char *product;  /* e.g. "Fortinet FortiGate" */
    char *category; /* one of the categories above */
    char *source;   /* where the pattern comes from */
};

struct catalog_hostile {
    uint8_t spki_sha256[32];
    char *name;
    char *category;
    char *source;
};

struct catalog; /* opaque */

/*
 * Load and compile a catalog file (path NULL: CATALOG_DEFAULT_PATH). On success *out is a
 * new catalog (caller frees with catalog_free). ERR_INVALID (key "invalid_catalog") with the
 * file, entry index and reason for a bad file: not JSON, version != 1, unknown category, a
 * product without a CN or O pattern or without a source, a pattern that does not compile,
 * an SPKI that is not 64 hex digits.
 */
enum err_code catalog_load(const char *path, struct catalog **out, struct err *err) ERR_MUSTCHECK;

/* Same from a parsed document (borrowed). */
enum err_code catalog_from_json(const json_t *doc, struct catalog **out,
                                struct err *err) ERR_MUSTCHECK;

/* Accepts NULL. */
void catalog_free(struct catalog *cat);

size_t catalog_product_count(const struct catalog *cat);
size_t catalog_hostile_count(const struct catalog *cat);

/* True for the eight categories above. */
bool catalog_category_valid(const char *category);

/*
 * First product (file order) whose patterns match (cn, o): both patterns when the entry has
 * both, else the one it has. NULL fields never match a pattern. Borrowed from cat, or NULL.
 */
const struct catalog_product *catalog_match_names(const struct catalog *cat, const char *cn,
                                                  const char *o);

/*
 * Match one certificate on its parsed fields: its issuer (issuer_cn, issuer_o), then, for a
 * CA or self-issued certificate, its subject (a product's root shows up as the anchor's
 * subject). Leaf subjects are not matched: they name the site, not the issuer. Borrowed
 * from cat, or NULL.
 */
const struct catalog_product *catalog_match_cert(const struct catalog *cat, const struct cert *c);

/* The hostile entry for an SPKI SHA-256, borrowed from cat, or NULL. */
const struct catalog_hostile *catalog_hostile_spki(const struct catalog *cat,
                                                   const uint8_t spki[32]);

#endif
