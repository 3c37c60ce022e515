/* pem_list: certificate lists in PEM files and operator input, through OpenSSL's reader. */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "report/cert.h"
#include "report/pem_list.h"
#include "testcert.h"

static struct testcert *root, *leaf;

static void setup(void)
{
    root = testcert_new_root(&(struct testcert_opts){.cn = "PEM Root"});
    leaf = testcert_new_leaf(&(struct testcert_opts){.cn = "pem.example"}, root);
    cr_assert(root && leaf);
}

static void teardown(void)
{
    testcert_free(leaf);
    testcert_free(root);
}

TestSuite(pem_list, .init = setup, .fini = teardown);

/* printf into a new string */
static char *text_of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *text_of(const char *fmt, ...)
{
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    return s;
}

static void expect_list(const char *text, unsigned flags, size_t n, size_t n_bad)
{
    struct pem_list list;
    struct err err = {0};
    cr_assert_eq(pem_list_read(text, strlen(text), flags, &list, &err), ERR_OK, "%s", err.detail);
    cr_assert_eq(list.n, n);
    cr_assert_eq(list.n_bad, n_bad);
    if (n >= 2) {
        cr_assert_eq(memcmp(list.certs[0]->sha256, leaf->cert->sha256, 32), 0, "file order");
        cr_assert_eq(memcmp(list.certs[1]->sha256, root->cert->sha256, 32), 0);
    }
    pem_list_cleanup(&list);
}

Test(pem_list, certificates_in_order_whatever_is_between_them)
{
    char *text = text_of("subject=CN = pem.example\n%s\nsome notes\n-----BEGIN PRIVATE KEY-----\n"
                         "MC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n%s",
                         leaf->pem, root->pem);
    expect_list(text, 0, 2, 0);
    free(text);
    expect_list("", 0, 0, 0);
    expect_list("no armor at all", 0, 0, 0);
}

Test(pem_list, crlf_lines_read_the_same)
{
    char *both = text_of("%s%s", leaf->pem, root->pem);
    char *crlf = malloc(2 * strlen(both) + 1), *w = crlf;
    for (const char *p = both; *p; p++) {
        if (*p == '\n')
            *w++ = '\r';
        *w++ = *p;
    }
    *w = '\0';
    expect_list(crlf, 0, 2, 0);
    free(crlf);
    free(both);
}

Test(pem_list, a_broken_block_fails_or_is_skipped_and_counted)
{
    static const char bad_b64[] = "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n"
                                  "-----END CERTIFICATE-----\n";
    static const char bad_der[] = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
                                  "-----END CERTIFICATE-----\n";
    const char *broken[] = {bad_b64, bad_der};
    for (size_t i = 0; i < 2; i++) {
        char *text = text_of("%s%s%s", leaf->pem, broken[i], root->pem);
        struct pem_list list;
        struct err err = {0};
        cr_assert_eq(pem_list_read(text, strlen(text), 0, &list, &err), ERR_INVALID, "%zu", i);
        cr_assert_str_eq(err.key, "invalid_pem");
        cr_assert(strstr(err.detail, "certificate 2") != NULL, "%s", err.detail);
        pem_list_cleanup(&list);
        expect_list(text, PEM_LIST_SKIP_BAD, 2, 1);
        free(text);
    }
    /* an END line that never comes: the block is broken, nothing after it is lost silently */
    char *cut = text_of("%s-----BEGIN CERTIFICATE-----\nMIIB\n", leaf->pem);
    struct pem_list list;
    cr_assert_eq(pem_list_read(cut, strlen(cut), 0, &list, NULL), ERR_INVALID);
    pem_list_cleanup(&list);
    cr_assert_eq(pem_list_read(cut, strlen(cut), PEM_LIST_SKIP_BAD, &list, NULL), ERR_OK);
    cr_assert_eq(list.n, 1);
    cr_assert_eq(list.n_bad, 1);
    pem_list_cleanup(&list);
    free(cut);
}

static char *trusted_pem(X509 *x)
{
    BIO *bio = BIO_new(BIO_s_mem());
    cr_assert_eq(PEM_write_bio_X509_AUX(bio, x), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *s = strndup(data, (size_t)n);
    BIO_free(bio);
    return s;
}

Test(pem_list, trusted_certificate_blocks_only_when_asked)
{
    char *aux = trusted_pem(root->x509);
    cr_assert(strstr(aux, "BEGIN TRUSTED CERTIFICATE") != NULL);
    char *text = text_of("%s%s", leaf->pem, aux);
    expect_list(text, 0, 1, 0);
    expect_list(text, PEM_LIST_TRUSTED, 2, 0);
    free(text);
    free(aux);
}

struct stop_ctx {
    size_t seen;
};

static enum err_code stop_at_second(void *ctx, X509 *x509, size_t index, struct err *err)
{
    struct stop_ctx *c = ctx;
    cr_assert_not_null(x509);
    cr_assert_eq(index, c->seen);
    c->seen++;
    return index == 1 ? err_set(err, ERR_TOO_LARGE, "enough", "stop") : ERR_OK;
}

Test(pem_list, the_callback_can_stop_the_walk)
{
    char *text = text_of("%s%s%s", leaf->pem, root->pem, leaf->pem);
    BIO *bio = BIO_new_mem_buf(text, (int)strlen(text));
    struct stop_ctx c = {0};
    struct err err = {0};
    cr_assert_eq(pem_list_each(bio, 0, stop_at_second, &c, NULL, &err), ERR_TOO_LARGE);
    cr_assert_str_eq(err.key, "enough");
    cr_assert_eq(c.seen, 2);
    BIO_free(bio);
    free(text);

    struct pem_list list;
    cr_assert_eq(pem_list_read(NULL, 0, 0, &list, NULL), ERR_OK);
    cr_assert_eq(list.n, 0);
    pem_list_cleanup(&list);
    pem_list_cleanup(NULL);
}
