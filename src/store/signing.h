/*
 * signing — the Ed25519 key that signs evidence bundles (SPEC §8), through OpenSSL's EVP
 * interface (EVP_DigestSign / EVP_DigestVerify, pure Ed25519 over the exact bytes, which is
 * what `openssl pkeyutl -sign/-verify -rawin` computes).
 *
 * The private key comes from a PEM file (PINWATCH_SIGNING_KEY), or from the default file next
 * to the spool, generated there on first use with mode 0600. The public key travels in every
 * bundle as signing-key.pem (SubjectPublicKeyInfo PEM); its fingerprint is the SHA-256 of the
 * SubjectPublicKeyInfo DER, lower-case hex, for comparing with one published out of band.
 *
 * Keys are OpenSSL EVP_PKEY objects owned by the caller (EVP_PKEY_free).
 */
#ifndef SIGNING_H
#define SIGNING_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

/* Name of the generated private key file, in the spool's parent folder. */
#define SIGNING_KEY_FILE "evidence-signing-key.pem"
#define SIGNING_FPR_HEX  65 /* 64 hex digits and a NUL */

/* The default private key path for a spool folder: "<parent of spool_dir>/" SIGNING_KEY_FILE
 * ("var/spool" -> "var/evidence-signing-key.pem"). */
void signing_default_path(const char *spool_dir, char *out, size_t size);

/*
 * The private key: read from path when it is set (it must exist and hold an Ed25519 private
 * key), else from default_path, which is created with a new key (mode 0600, never replacing a
 * file another process wrote first) when it does not exist. *created tells whether this call
 * generated it (may be NULL). New key in *out.
 */
enum err_code signing_key_load(const char *path, const char *default_path, EVP_PKEY **out,
                               bool *created, struct err *err) ERR_MUSTCHECK;

/* The public key of key (a private or public key) as SubjectPublicKeyInfo PEM, appended. */
enum err_code signing_public_pem(EVP_PKEY *key, struct buf *out) ERR_MUSTCHECK;

/* SHA-256 of the key's SubjectPublicKeyInfo DER, lower-case hex. */
enum err_code signing_fingerprint(EVP_PKEY *key, char hex[SIGNING_FPR_HEX]) ERR_MUSTCHECK;

/* A public key from SubjectPublicKeyInfo PEM text; ERR_INVALID unless it is Ed25519. */
enum err_code signing_public_from_pem(const char *pem, size_t len, EVP_PKEY **out,
                                      struct err *err) ERR_MUSTCHECK;

/* The base64 Ed25519 signature of data, and a newline, appended to out. */
enum err_code signing_sign_base64(EVP_PKEY *key, const void *data, size_t len, struct buf *out,
                                  struct err *err) ERR_MUSTCHECK;

/* Whether sig (base64 text, surrounding whitespace ignored) is key's Ed25519 signature of
 * data. */
bool signing_verify_base64(EVP_PKEY *key, const void *data, size_t len, const char *sig,
                           size_t sig_len);

#endif
