/*
 * expected_keys — the keys an operator declares their servers really use (SPEC §6.2), per
 * hostname pattern: an exact name ("www.example.com") or a wildcard ("*.example.com", any
 * name ending in ".example.com", at any depth, but not "example.com" itself).
 *
 * Each key is a pin (SHA-256 of a SubjectPublicKeyInfo) with a label: current, backup, ca or
 * cdn. The set is shared by every request thread and an admin PUT replaces one host's set
 * at run time, so every function here is thread-safe (one pthread rwlock per object).
 * Pins are read and written as standard base64 through the pin module (OpenSSL EVP).
 */
#ifndef EXPECTED_KEYS_H
#define EXPECTED_KEYS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define EXPECTED_KEYS_MAX_PER_HOST 64    /* keys in one host's set */
#define EXPECTED_KEYS_MAX_HOSTS    10000 /* patterns in one object */
#define EXPECTED_KEYS_MAX_PATTERN  255   /* characters in a pattern */

enum expected_keys_label {
    EXPECTED_KEYS_CURRENT = 0,
    EXPECTED_KEYS_BACKUP,
    EXPECTED_KEYS_CA,
    EXPECTED_KEYS_CDN,
};

struct expected_key {
    uint8_t pin[32];
    enum expected_keys_label label;
};

struct expected_keys; /* opaque */

/* "current", "backup", "ca", "cdn"; static strings. NULL for an out-of-range value. */
const char *expected_keys_label_name(enum expected_keys_label label);

/* Inverse of expected_keys_label_name (exact, lower-case); -1 when unknown. */
int expected_keys_label_from_name(const char *name);

/* A new, empty set (caller frees with expected_keys_free); NULL when out of memory. */
struct expected_keys *expected_keys_new(void);

/* Accepts NULL. */
void expected_keys_free(struct expected_keys *ek);

/*
 * Canonical form of a host pattern: trimmed, lower-cased, trailing dot removed. Valid
 * patterns are non-empty names of letters, digits, '-', '_', '.', ':' (IPv6 literals),
 * optionally starting with "*." followed by at least one label; no empty labels, no other
 * '*'. Writes the canonical form into out (EXPECTED_KEYS_MAX_PATTERN + 1 bytes).
 * ERR_INVALID with key "invalid_hostname" otherwise.
 */
enum err_code expected_keys_normalize_pattern(const char *pattern,
                                              char out[EXPECTED_KEYS_MAX_PATTERN + 1],
                                              struct err *err) ERR_MUSTCHECK;

/*
 * Replace the set of one pattern with a copy of keys[0..n) (n == 0 removes the pattern).
 * Invalid pattern or n over EXPECTED_KEYS_MAX_PER_HOST: ERR_INVALID, nothing changed.
 */
enum err_code expected_keys_set_host(struct expected_keys *ek, const char *pattern,
                                     const struct expected_key *keys, size_t n,
                                     struct err *err) ERR_MUSTCHECK;

/*
 * One pattern's set as the API shows it: {"keys": [{"pin": "<base64>", "label": "..."}]}
 * (an empty list when the pattern has none). New reference; NULL when the pattern is invalid
 * or memory runs out.
 */
json_t *expected_keys_host_json(const struct expected_keys *ek, const char *pattern);

/* Every pattern, in the file format: {"hosts": {"<pattern>": {"keys": [...]}}}. New ref. */
json_t *expected_keys_to_json(const struct expected_keys *ek);

/*
 * Validate a PUT body {"keys": [{"pin": "<base64 of 32 bytes>", "label": "current|backup|
 * ca|cdn"}, ...]} (other members ignored). On success *out is a new array the caller frees
 * with free() (NULL when *n_out is 0). ERR_INVALID with key "invalid_body", "invalid_pin",
 * "invalid_label" or "too_many_keys" otherwise; *out untouched.
 */
enum err_code expected_keys_parse_keys(const json_t *body, struct expected_key **out, size_t *n_out,
                                       struct err *err) ERR_MUSTCHECK;

/*
 * Apply a document {"hosts": {"<pattern>": {"keys": [...]}}}: every host is validated first,
 * then each listed pattern's set is replaced. On any error nothing changes.
 */
enum err_code expected_keys_load_json(struct expected_keys *ek, const json_t *doc,
                                      struct err *err) ERR_MUSTCHECK;

/* expected_keys_load_json on a file (PINWATCH_EXPECTED_KEYS). */
enum err_code expected_keys_load_file(struct expected_keys *ek, const char *path,
                                      struct err *err) ERR_MUSTCHECK;

/*
 * The label of spki among the keys declared for hostname (normalized: lower-case, no
 * trailing dot), or NULL. The keys of a host are the union of every pattern covering it;
 * when several patterns list spki, the label comes from the most specific one (the exact
 * name, else the longest wildcard). The returned string is static.
 */
const char *expected_keys_match(const struct expected_keys *ek, const char *hostname,
                                const uint8_t spki[32]);

/* True when hostname has at least one declared key (through any pattern). */
bool expected_keys_has_host(const struct expected_keys *ek, const char *hostname);

#endif
