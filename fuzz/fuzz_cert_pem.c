/*
 * fuzz_cert_pem — cert_from_client_pem (chain entries are attacker-controlled strings), and the
 * same bytes through cert_from_der. Invariants: a decoded certificate has the fields the analysis
 * relies on, its SHA-256 is that of its DER, and writing it back as PEM decodes to the same
 * certificate; a refusal is always undecodable_certificate with nothing returned.
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>

#include "fuzz_check.h"
#include "report/cert.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

static void cp_check_cert(const struct cert *c)
{
    uint8_t sha[32];
    FUZZ_CHECK(c->refs == 1);
    FUZZ_CHECK(c->der != NULL && c->der_len > 0);
    FUZZ_CHECK(EVP_Digest(c->der, c->der_len, sha, NULL, EVP_sha256(), NULL) == 1);
    FUZZ_CHECK(memcmp(sha, c->sha256, 32) == 0);
    FUZZ_CHECK(c->subject != NULL && c->issuer != NULL && c->serial != NULL);
    for (const char *p = c->serial; *p; p++)
        FUZZ_CHECK((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == '-');
    for (size_t i = 0; i < c->n_sans; i++)
        FUZZ_CHECK(c->sans[i] != NULL);
    FUZZ_CHECK(memchr(c->key_type, '\0', sizeof(c->key_type)) != NULL);
    FUZZ_CHECK(memchr(c->sig_alg, '\0', sizeof(c->sig_alg)) != NULL);

    char *pem = cert_to_pem(c);
    FUZZ_CHECK(pem != NULL);
    struct cert *again = NULL;
    FUZZ_CHECK(cert_from_client_pem(pem, strlen(pem), &again, NULL) == ERR_OK);
    FUZZ_CHECK(again->der_len == c->der_len && memcmp(again->der, c->der, c->der_len) == 0);
    FUZZ_CHECK(memcmp(again->spki_sha256, c->spki_sha256, 32) == 0);
    FUZZ_CHECK(strcmp(again->subject, c->subject) == 0);
    cert_free(again);
    free(pem);

    struct x509_st *x = cert_to_x509(c);
    FUZZ_CHECK(x != NULL);
    X509_free(x);
}

static void cp_check_refusal(enum err_code rc, const struct err *err, const struct cert *c)
{
    FUZZ_CHECK(rc == ERR_INVALID);
    FUZZ_CHECK(c == NULL);
    FUZZ_CHECK(strcmp(err->key, "undecodable_certificate") == 0);
}

int FUZZ_ENTRY(const uint8_t *data, size_t size);
int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    struct cert *c = NULL;
    struct err err;
    memset(&err, 0, sizeof(err));
    enum err_code rc = cert_from_client_pem((const char *)data, size, &c, &err);
    if (rc == ERR_OK) {
        cp_check_cert(c);
        /* References: one more, two frees. */
        FUZZ_CHECK(cert_ref(c) == c);
        cert_free(c);
        cert_free(c);
    } else {
        cp_check_refusal(rc, &err, c);
    }

    c = NULL;
    memset(&err, 0, sizeof(err));
    rc = cert_from_der(data, size, &c, &err);
    if (rc == ERR_OK) {
        FUZZ_CHECK(c->der_len == size && memcmp(c->der, data, size) == 0);
        cp_check_cert(c);
        cert_free(c);
    } else {
        cp_check_refusal(rc, &err, c);
    }
    return 0;
}
