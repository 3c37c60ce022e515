/*
 * cert — one X.509 certificate decoded with OpenSSL into plain fields. Pure (no I/O).
 *
 * A struct cert is immutable after decoding and reference counted, so a content cache can
 * share one decoded certificate between reports and threads.
 */
#ifndef CERT_H
#define CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct cert {
    int refs; /* managed by cert_ref / cert_free only */
    unsigned char *der;
    size_t der_len;
    uint8_t sha256[32];           /* SHA-256 of the DER */
    uint8_t spki_sha256[32];      /* SHA-256 of the SubjectPublicKeyInfo: the pin */
    char *subject;                /* RFC 2253 text, e.g. "CN=www.example.com,O=Example" */
    char *issuer;                 /* RFC 2253 text */
    char *subject_cn, *subject_o; /* first CN / O, NULL when absent (UTF-8) */
    char *issuer_cn, *issuer_o;
    char *serial;       /* lower-case hex, no separators */
    int64_t not_before; /* Unix seconds */
    int64_t not_after;
    char **sans; /* DNS names (lower-case) and IP addresses (canonical text) */
    size_t n_sans;
    char key_type[16]; /* "rsa", "ec", "ed25519", "ed448", "dsa", "unknown" */
    int key_bits;
    bool is_ca;        /* basicConstraints CA:TRUE */
    bool self_issued;  /* subject == issuer */
    bool text_escaped; /* a name or DNS SAN held bytes that are not UTF-8: written \XX */
    char sig_alg[64];  /* OpenSSL long name, e.g. "sha256WithRSAEncryption" */
};

/*
 * The lenient path, for certificates as clients put them in reports: one PEM certificate
 * whatever its line breaks (\r\n, \n, none; 64 or 76 columns; leading spaces; trailing
 * newline or not), or its bare base64 without armor. Returns a new cert in *out (caller frees
 * with cert_free). ERR_INVALID with key "undecodable_certificate" when it is not a
 * certificate. Files and operator input go through pem_list (OpenSSL's reader) instead.
 */
enum err_code cert_from_client_pem(const char *pem, size_t len, struct cert **out,
                                   struct err *err) ERR_MUSTCHECK;

/* Decode DER bytes (copied). Returns a new cert in *out. */
enum err_code cert_from_der(const unsigned char *der, size_t len, struct cert **out,
                            struct err *err) ERR_MUSTCHECK;

/* Take one more reference; returns c. */
struct cert *cert_ref(struct cert *c);

/* Drop a reference; frees at zero. Accepts NULL. */
void cert_free(struct cert *c);

/* PEM text (64 columns, \n, trailing newline) of the DER; new string, caller frees. */
char *cert_to_pem(const struct cert *c);

/*
 * A new OpenSSL X509 decoded from c->der, for signature checks and path building (caller
 * frees with X509_free). NULL on OOM. Declared with the struct tag so that this header does
 * not pull OpenSSL into every module.
 */
struct x509_st *cert_to_x509(const struct cert *c);

#endif
