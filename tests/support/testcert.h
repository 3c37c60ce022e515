/*
 * testcert — mint X.509 certificates in memory with OpenSSL, for tests.
 *
 *     struct testcert *root = testcert_new_root(&(struct testcert_opts){.cn = "Test Root"});
 *     struct testcert *leaf = testcert_new_leaf(
 *         &(struct testcert_opts){.cn = "www.example.com",
 *                                 .sans = (const char *[]){"www.example.com", NULL}},
 *         root);
 *     struct cert *chain[] = {leaf->cert, root->cert};
 *     ...
 *     testcert_free(leaf);
 *     testcert_free(root);
 *
 * Every constructor returns a new object (caller frees with testcert_free) or NULL on any
 * OpenSSL failure; its fields are read-only plain data owned by the object.
 */
#ifndef TESTCERT_H
#define TESTCERT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "report/cert.h"

struct testcert_opts {
    const char *cn;          /* subject CN; NULL: none */
    const char *o;           /* subject O; NULL: none */
    const char *const *sans; /* NULL-terminated; IPv4/IPv6 literals become IP SANs, the rest
                                DNS SANs; NULL: no SAN extension */
    int rsa_bits;            /* 0: EC P-256 key; otherwise an RSA key of that many bits */
    int rsa_exponent_bits;   /* with rsa_bits: a random public exponent of that many bits
                                (a hostile key); 0: 65537 */
    const char *digest;      /* signature digest: NULL = "sha256"; "sha1", "sha384", "md5" */
    int64_t not_before;      /* Unix seconds; 0: now - 1 day */
    int64_t not_after;       /* Unix seconds; 0: now + 90 days */
    const struct testcert *key_from; /* reuse this certificate's key pair (same SPKI) */
};

struct testcert {
    X509 *x509;
    EVP_PKEY *key;     /* the key pair (private part included) */
    struct cert *cert; /* decoded with cert_from_der; one reference owned by the testcert */
    char *pem;         /* "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n" */
};

/* Self-signed CA certificate (basicConstraints CA:TRUE). opts may be NULL (CN "Test Root"). */
struct testcert *testcert_new_root(const struct testcert_opts *opts);

/* Intermediate CA certificate signed by issuer's key, issuer name = issuer's subject. */
struct testcert *testcert_new_ca(const struct testcert_opts *opts, const struct testcert *issuer);

/* End-entity certificate (CA:FALSE) signed by issuer; issuer NULL: self-signed leaf. */
struct testcert *testcert_new_leaf(const struct testcert_opts *opts, const struct testcert *issuer);

/* The general form: is_ca chooses basicConstraints; issuer NULL means self-signed. */
struct testcert *testcert_new(const struct testcert_opts *opts, bool is_ca,
                              const struct testcert *issuer);

/* Accepts NULL. */
void testcert_free(struct testcert *tc);

/* Borrowed accessors (valid while tc lives). */
const char *testcert_pem(const struct testcert *tc);
struct cert *testcert_cert(const struct testcert *tc);

/* The SPKI pin as standard base64 (44 characters + NUL). */
void testcert_pin(const struct testcert *tc, char out[45]);

/* The certificates' PEM concatenated in order; new string, caller frees. */
char *testcert_chain_pem(const struct testcert *const *certs, size_t n);

/* A JSON array of the certificates' PEM strings (as TrustKit sends chains); new reference. */
json_t *testcert_chain_json(const struct testcert *const *certs, size_t n);

/*
 * The first certificate of a PEM file, text around it ignored (the fixtures carry an
 * `openssl x509 -text` dump first), read with pem_list; asserts on failure. A new reference
 * (cert_free).
 */
struct cert *testcert_load_pem_file(const char *path);

/* Write the certificates as one PEM bundle file (a test trust store). */
bool testcert_write_bundle(const char *path, const struct testcert *const *certs, size_t n);

/*
 * Write a bundle into a new temporary file (under $TMPDIR or /tmp); returns its path (caller
 * unlink()s and frees) or NULL.
 */
char *testcert_bundle_tmpfile(const struct testcert *const *certs, size_t n);

#endif
