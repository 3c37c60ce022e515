/* cert_cache: the same PEM text decodes once; references stay valid after eviction. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "report/cert_cache.h"
#include "testcert.h"

Test(cert_cache, same_text_decodes_once_and_shares_the_certificate)
{
    struct testcert *root = testcert_new_root(NULL);
    struct cert_cache *cc = cert_cache_new(16, 1 << 20);
    const char *pem = testcert_pem(root);
    struct cert *a = NULL, *b = NULL;
    cr_assert_eq(cert_cache_from_pem(cc, pem, strlen(pem), &a, NULL), ERR_OK);
    cr_assert_eq(cert_cache_from_pem(cc, pem, strlen(pem), &b, NULL), ERR_OK);
    cr_assert_eq(a, b, "the second lookup returns the cached certificate");
    unsigned long long hits, misses;
    cert_cache_stats(cc, &hits, &misses);
    cr_assert_eq(hits, 1);
    cr_assert_eq(misses, 1);
    cr_assert(memcmp(a->sha256, testcert_cert(root)->sha256, 32) == 0);
    cert_free(a);
    cert_free(b);
    /* Undecodable text is an error every time, never cached as a certificate. */
    struct cert *bad = NULL;
    cr_assert_neq(
        cert_cache_from_pem(cc, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", 58,
                            &bad, NULL),
        ERR_OK);
    cr_assert_null(bad);
    cert_cache_free(cc);
    testcert_free(root);
}

Test(cert_cache, other_spelling_same_der_and_eviction_keeps_references_valid)
{
    struct testcert *root = testcert_new_root(NULL);
    struct cert_cache *cc = cert_cache_new(1, 1 << 20); /* one slot: every new text evicts */
    const char *pem = testcert_pem(root);
    char *crlf = malloc(strlen(pem) * 2 + 1);
    size_t o = 0;
    for (const char *p = pem; *p; p++) {
        if (*p == '\n')
            crlf[o++] = '\r';
        crlf[o++] = *p;
    }
    crlf[o] = '\0';
    struct cert *a = NULL, *b = NULL;
    cr_assert_eq(cert_cache_from_pem(cc, pem, strlen(pem), &a, NULL), ERR_OK);
    cr_assert_eq(cert_cache_from_pem(cc, crlf, o, &b, NULL), ERR_OK);
    cr_assert_neq(a, b, "a different text is a different entry");
    cr_assert(memcmp(a->sha256, b->sha256, 32) == 0, "but the same certificate");
    /* a was evicted from the cache, and is still ours to use */
    cr_assert_not_null(a->subject);
    cert_free(a);
    cert_free(b);
    cert_cache_free(cc);
    free(crlf);
    testcert_free(root);
}

static const char *shared_pem;
static struct cert_cache *shared_cc;

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++) {
        struct cert *c = NULL;
        if (cert_cache_from_pem(shared_cc, shared_pem, strlen(shared_pem), &c, NULL) != ERR_OK)
            return (void *)1;
        cert_free(c);
    }
    return NULL;
}

Test(cert_cache, threads_share_it_safely)
{
    struct testcert *root = testcert_new_root(NULL);
    shared_pem = testcert_pem(root);
    shared_cc = cert_cache_new(8, 1 << 20);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < 4; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        cr_assert_null(ret);
    }
    unsigned long long hits, misses;
    cert_cache_stats(shared_cc, &hits, &misses);
    cr_assert_eq(hits + misses, 800);
    cr_assert_lt(misses, 10, "almost every lookup is a hit");
    cert_cache_free(shared_cc);
    testcert_free(root);
}

Test(cert_cache, a_certificate_over_the_byte_budget_is_decoded_not_kept)
{
    struct testcert *root = testcert_new_root(NULL);
    const char *pem = testcert_pem(root);
    /* A budget smaller than one certificate's PEM + DER. */
    struct cert_cache *cc = cert_cache_new(16, strlen(pem));
    struct cert *a = NULL, *b = NULL;
    cr_assert_eq(cert_cache_from_pem(cc, pem, strlen(pem), &a, NULL), ERR_OK);
    cr_assert_eq(cert_cache_from_pem(cc, pem, strlen(pem), &b, NULL), ERR_OK);
    cr_assert_neq(a, b, "decoded twice: it was never kept");
    cr_assert(memcmp(a->sha256, b->sha256, 32) == 0);
    unsigned long long hits, misses;
    cert_cache_stats(cc, &hits, &misses);
    cr_assert_eq(hits, 0);
    cr_assert_eq(misses, 2);
    cert_free(a);
    cert_free(b);
    cert_cache_free(cc);
    /* With room for it, the second lookup is a hit. */
    cc = cert_cache_new(16, strlen(pem) + testcert_cert(root)->der_len);
    cr_assert_eq(cert_cache_from_pem(cc, pem, strlen(pem), &a, NULL), ERR_OK);
    cr_assert_eq(cert_cache_from_pem(cc, pem, strlen(pem), &b, NULL), ERR_OK);
    cr_assert_eq(a, b);
    cert_free(a);
    cert_free(b);
    cert_cache_free(cc);
    testcert_free(root);
}
