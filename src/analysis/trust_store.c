#include "analysis/trust_store.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "report/cert.h"
#include "report/pem_list.h"

struct ts_root {
    X509 *x509;
    struct cert *cert;
};

struct trust_store {
    X509_STORE *store;
    struct ts_root *roots; /* bundle order */
    size_t n, cap;
    uint8_t (*spkis)[32]; /* sorted, for bsearch */
};

void trust_store_free(struct trust_store *ts)
{
    if (ts == NULL)
        return;
    for (size_t i = 0; i < ts->n; i++) {
        X509_free(ts->roots[i].x509);
        cert_free(ts->roots[i].cert);
    }
    free(ts->roots);
    free(ts->spkis);
    X509_STORE_free(ts->store);
    free(ts);
}

size_t trust_store_count(const struct trust_store *ts)
{
    return ts != NULL ? ts->n : 0;
}

/* Takes x509 (freed on failure too). */
static enum err_code add_root(struct trust_store *ts, X509 *x509, struct err *err)
{
    unsigned char *der = NULL;
    struct cert *c = NULL;
    enum err_code rc = ERR_OK;

    int len = i2d_X509(x509, &der);
    if (len <= 0) {
        rc = err_set(err, ERR_INVALID, "invalid_trust_store", "certificate %zu does not encode",
                     ts->n + 1);
        goto out;
    }
    struct err inner;
    err_clear(&inner);
    if (cert_from_der(der, (size_t)len, &c, &inner) != ERR_OK) {
        rc = err_set(err, inner.code == ERR_NOMEM ? ERR_NOMEM : ERR_INVALID, "invalid_trust_store",
                     "certificate %zu: %s", ts->n + 1, inner.detail);
        goto out;
    }
    if (ts->n == ts->cap) {
        size_t cap = ts->cap ? ts->cap * 2 : 64;
        struct ts_root *grown = realloc(ts->roots, cap * sizeof(*grown));
        if (grown == NULL) {
            rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
            goto out;
        }
        ts->roots = grown;
        ts->cap = cap;
    }
    if (X509_STORE_add_cert(ts->store, x509) != 1) {
        /* Only a duplicate fails here in OpenSSL 3; keep the first copy. */
        ERR_clear_error();
    }
    ts->roots[ts->n++] = (struct ts_root){.x509 = x509, .cert = c};
    x509 = NULL;
    c = NULL;
out:
    OPENSSL_free(der);
    cert_free(c);
    X509_free(x509);
    return rc;
}

static enum err_code add_each(void *ctx, X509 *x509, size_t index, struct err *err)
{
    (void)index;
    X509_up_ref(x509);
    return add_root(ctx, x509, err);
}

static int spki_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static enum err_code build_spki_set(struct trust_store *ts, struct err *err)
{
    ts->spkis = malloc(ts->n * sizeof(*ts->spkis));
    if (ts->spkis == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < ts->n; i++)
        memcpy(ts->spkis[i], ts->roots[i].cert->spki_sha256, 32);
    qsort(ts->spkis, ts->n, sizeof(*ts->spkis), spki_cmp);
    return ERR_OK;
}

enum err_code trust_store_load(const char *path, struct trust_store **out, struct err *err)
{
    enum err_code rc = ERR_OK;
    BIO *bio = NULL;
    struct trust_store *ts = NULL;

    if (path == NULL)
        path = TRUST_STORE_DEFAULT_PATH;
    ERR_clear_error();
    bio = BIO_new_file(path, "r");
    if (bio == NULL) {
        rc = err_set(err, ERR_INVALID, "invalid_trust_store", "%s: cannot be read", path);
        goto out;
    }
    ts = calloc(1, sizeof(*ts));
    if (ts == NULL || (ts->store = X509_STORE_new()) == NULL) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    struct err inner;
    err_clear(&inner);
    rc = pem_list_each(bio, PEM_LIST_TRUSTED, add_each, ts, NULL, &inner);
    if (rc != ERR_OK) {
        rc = err_set(err, rc == ERR_NOMEM ? ERR_NOMEM : ERR_INVALID, "invalid_trust_store",
                     "%s: %s", path, inner.detail);
        goto out;
    }
    if (ts->n == 0) {
        rc = err_set(err, ERR_INVALID, "invalid_trust_store", "%s: no certificate", path);
        goto out;
    }
    if ((rc = build_spki_set(ts, err)) != ERR_OK)
        goto out;
    *out = ts;
    ts = NULL;
out:
    ERR_clear_error();
    BIO_free(bio);
    trust_store_free(ts);
    return rc;
}

bool trust_store_contains_spki(const struct trust_store *ts, const uint8_t spki[32])
{
    if (ts == NULL || spki == NULL || ts->n == 0)
        return false;
    return bsearch(spki, ts->spkis, ts->n, sizeof(*ts->spkis), spki_cmp) != NULL;
}

const struct cert *trust_store_find_issuer(const struct trust_store *ts, const struct cert *last)
{
    if (ts == NULL || last == NULL || last->der == NULL)
        return NULL;
    const unsigned char *p = last->der;
    X509 *x = d2i_X509(NULL, &p, (long)last->der_len);
    if (x == NULL) {
        ERR_clear_error();
        return NULL;
    }
    const X509_NAME *issuer = X509_get_issuer_name(x);
    const struct cert *found = NULL;
    for (size_t i = 0; found == NULL && i < ts->n; i++) {
        X509 *root = ts->roots[i].x509;
        if (X509_NAME_cmp(X509_get_subject_name(root), issuer) != 0)
            continue;
        EVP_PKEY *key = X509_get0_pubkey(root);
        if (key != NULL && X509_verify(x, key) == 1)
            found = ts->roots[i].cert;
    }
    ERR_clear_error();
    X509_free(x);
    return found;
}

X509_STORE *trust_store_x509(const struct trust_store *ts)
{
    return ts != NULL ? ts->store : NULL;
}
