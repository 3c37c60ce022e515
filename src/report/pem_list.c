#include "report/pem_list.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "report/cert.h"

/* The reader stops with "no start line" at the end of the input; anything else queued is a
 * block that did not decode. */
static bool at_end(void)
{
    unsigned long e = ERR_peek_last_error();
    return e == 0 || (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE);
}

enum err_code pem_list_each(BIO *bio, unsigned flags, pem_list_fn fn, void *ctx, size_t *n_bad,
                            struct err *err)
{
    enum err_code rc = ERR_OK;
    size_t n = 0, bad = 0;
    for (;;) {
        ERR_clear_error();
        long before = BIO_tell(bio);
        X509 *x = (flags & PEM_LIST_TRUSTED) ? PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL)
                                             : PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (x == NULL) {
            if (at_end())
                break;
            if (!(flags & PEM_LIST_SKIP_BAD)) {
                rc = err_set(err, ERR_INVALID, "invalid_pem", "certificate %zu does not decode",
                             n + 1);
                break;
            }
            bad++;
            if (BIO_tell(bio) == before) /* a reader that did not move would never end */
                break;
            continue;
        }
        rc = fn(ctx, x, n++, err);
        X509_free(x);
        if (rc != ERR_OK)
            break;
    }
    ERR_clear_error();
    if (n_bad != NULL)
        *n_bad = bad;
    return rc;
}

static enum err_code add_cert(void *ctx, X509 *x509, size_t index, struct err *err)
{
    (void)index;
    struct pem_list *list = ctx;
    unsigned char *der = NULL;
    int len = i2d_X509(x509, &der);
    if (len <= 0)
        return err_set(err, ERR_INVALID, "invalid_pem", "certificate %zu does not encode",
                       list->n + 1);
    struct cert *c = NULL;
    enum err_code rc = cert_from_der(der, (size_t)len, &c, err);
    OPENSSL_free(der);
    if (rc != ERR_OK)
        return rc;
    struct cert **grown = realloc(list->certs, (list->n + 1) * sizeof(*grown));
    if (grown == NULL) {
        cert_free(c);
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    }
    list->certs = grown;
    list->certs[list->n++] = c;
    return ERR_OK;
}

enum err_code pem_list_read(const char *text, size_t len, unsigned flags, struct pem_list *out,
                            struct err *err)
{
    memset(out, 0, sizeof(*out));
    if (len > INT_MAX)
        return err_set(err, ERR_INVALID, "invalid_pem", "PEM text too long");
    BIO *bio = BIO_new_mem_buf(text != NULL ? text : "", (int)len);
    if (bio == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    enum err_code rc = pem_list_each(bio, flags, add_cert, out, &out->n_bad, err);
    BIO_free(bio);
    return rc;
}

void pem_list_cleanup(struct pem_list *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->n; i++)
        cert_free(list->certs[i]);
    free(list->certs);
    memset(list, 0, sizeof(*list));
}
