/*
 * trust_store — the public roots that decide whether a chain anchors publicly (SPEC §6.1):
 * a PEM bundle (config PINWATCH_TRUST_STORE, default the Debian system bundle) loaded at
 * start into an OpenSSL X509_STORE plus decoded roots and a sorted set of their SPKI hashes.
 * Read-only after loading, so one store may be shared by every thread.
 */
#ifndef TRUST_STORE_H
#define TRUST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "base/config.h"
#include "base/err.h"

struct cert;

#define TRUST_STORE_DEFAULT_PATH CONFIG_DEFAULT_TRUST_STORE /* the setting's default */

struct trust_store; /* opaque */

/*
 * Load every certificate of a PEM bundle (path NULL: TRUST_STORE_DEFAULT_PATH; "BEGIN
 * CERTIFICATE" and "BEGIN TRUSTED CERTIFICATE" blocks; text between blocks ignored). On
 * success *out is a new store (caller frees with trust_store_free). ERR_INVALID with key
 * "invalid_trust_store" when the file cannot be read, a block does not decode, or it holds
 * no certificate.
 */
enum err_code trust_store_load(const char *path, struct trust_store **out,
                               struct err *err) ERR_MUSTCHECK;

/* Accepts NULL. */
void trust_store_free(struct trust_store *ts);

/* Number of certificates loaded. */
size_t trust_store_count(const struct trust_store *ts);

/* True when some store certificate has this SPKI SHA-256 (NULL store: false). */
bool trust_store_contains_spki(const struct trust_store *ts, const uint8_t spki[32]);

/*
 * A store certificate that issued `last`: its subject equals last's issuer name AND last's
 * signature verifies with its public key. Among several (re-keyed roots sharing a name) the
 * first in bundle order that verifies. Returns the root decoded as a struct cert (subject,
 * subject_cn/o, spki_sha256, ...), borrowed from ts; NULL when none (or ts is NULL).
 */
const struct cert *trust_store_find_issuer(const struct trust_store *ts, const struct cert *last);

/* The same roots as an X509_STORE, for callers that verify whole chains. Borrowed. */
X509_STORE *trust_store_x509(const struct trust_store *ts);

#endif
