/*
 * pem_list — lists of certificates in PEM files and operator input, read by OpenSSL's own reader
 * (PEM_read_bio_X509): "CERTIFICATE" and "X509 CERTIFICATE" blocks in order (with
 * PEM_LIST_TRUSTED also "TRUSTED CERTIFICATE"), other blocks and any text between blocks ignored,
 * LF or CRLF lines.
 *
 * This is the strict path. Certificates inside report bodies arrive in every shape (no
 * armor, no line breaks, escaped newlines) and go through cert_from_client_pem instead.
 */
#ifndef PEM_LIST_H
#define PEM_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/bio.h>
#include <openssl/x509.h>

#include "base/err.h"

struct cert;

enum pem_list_flags {
    PEM_LIST_TRUSTED = 1u << 0, /* also "TRUSTED CERTIFICATE" blocks (OpenSSL trust bundles) */
    PEM_LIST_SKIP_BAD =
        1u << 1, /* count a block that does not decode and go on, instead of failing */
};

/*
 * Called once per certificate, in order, with the certificate decoded (borrowed for the call:
 * X509_up_ref it to keep it) and its position among the certificates (0-based). A return
 * other than ERR_OK stops the walk and is returned.
 */
typedef enum err_code (*pem_list_fn)(void *ctx, X509 *x509, size_t index, struct err *err);

/*
 * Walk the certificates of bio to its end. *n_bad (may be NULL) counts the blocks that did not
 * decode (PEM_LIST_SKIP_BAD). Without PEM_LIST_SKIP_BAD such a block is ERR_INVALID with key
 * "invalid_pem" naming its position. Finding no certificate is not an error here.
 */
enum err_code pem_list_each(BIO *bio, unsigned flags, pem_list_fn fn, void *ctx, size_t *n_bad,
                            struct err *err) ERR_MUSTCHECK;

/* A list of decoded certificates (owned: one reference each). */
struct pem_list {
    struct cert **certs;
    size_t n;
    size_t n_bad; /* blocks skipped under PEM_LIST_SKIP_BAD */
};

/*
 * The certificates of len bytes of PEM text as struct certs, in order, into out (release with
 * pem_list_cleanup, also after a failure). Errors as pem_list_each; ERR_NOMEM.
 */
enum err_code pem_list_read(const char *text, size_t len, unsigned flags, struct pem_list *out,
                            struct err *err) ERR_MUSTCHECK;

/* Accepts NULL and a zeroed or already cleaned list. */
void pem_list_cleanup(struct pem_list *list);

#endif
