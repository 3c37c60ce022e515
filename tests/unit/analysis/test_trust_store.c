#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "analysis/catalog.h"
#include "analysis/trust_store.h"
#include "report/cert.h"
#include "testcert.h"
#include "testenv.h"

static struct trust_store *load_bundle(const struct testcert *const *roots, size_t n)
{
    char *path = testcert_bundle_tmpfile(roots, n);
    cr_assert_not_null(path);
    struct trust_store *ts = NULL;
    struct err err;
    cr_assert_eq(trust_store_load(path, &ts, &err), ERR_OK, "%s", err.detail);
    unlink(path);
    free(path);
    return ts;
}

static struct testcert *root_named(const char *cn)
{
    struct testcert *r = testcert_new_root(&(struct testcert_opts){.cn = cn, .o = "Test CA Inc"});
    cr_assert_not_null(r);
    return r;
}

Test(trust_store, load_and_spki_set)
{
    struct testcert *a = root_named("Public Root A"), *b = root_named("Public Root B");
    struct testcert *outsider = root_named("Private Root");
    const struct testcert *roots[] = {a, b};
    struct trust_store *ts = load_bundle(roots, 2);

    cr_assert_eq(trust_store_count(ts), 2);
    cr_assert(trust_store_contains_spki(ts, a->cert->spki_sha256));
    cr_assert(trust_store_contains_spki(ts, b->cert->spki_sha256));
    cr_assert_not(trust_store_contains_spki(ts, outsider->cert->spki_sha256));
    cr_assert_not(trust_store_contains_spki(NULL, a->cert->spki_sha256));
    cr_assert_not_null(trust_store_x509(ts));

    trust_store_free(ts);
    trust_store_free(NULL);
    testcert_free(a);
    testcert_free(b);
    testcert_free(outsider);
}

Test(trust_store, find_issuer_checks_name_and_signature)
{
    struct testcert *root = root_named("Public Root A");
    /* same name, different key, not in the store */
    struct testcert *impostor = root_named("Public Root A");
    struct testcert *ica = testcert_new_ca(&(struct testcert_opts){.cn = "Issuing CA 1"}, root);
    struct testcert *fake_ica =
        testcert_new_ca(&(struct testcert_opts){.cn = "Issuing CA 1"}, impostor);
    struct testcert *leaf =
        testcert_new_leaf(&(struct testcert_opts){.cn = "www.example.com"}, ica);
    const struct testcert *roots[] = {root};
    struct trust_store *ts = load_bundle(roots, 1);

    const struct cert *found = trust_store_find_issuer(ts, ica->cert);
    cr_assert_not_null(found);
    cr_assert_arr_eq(found->spki_sha256, root->cert->spki_sha256, 32);
    cr_assert_str_eq(found->subject, root->cert->subject);
    cr_assert_str_eq(found->subject_cn, "Public Root A");

    cr_assert_null(trust_store_find_issuer(ts, fake_ica->cert), "name alone must not do");
    cr_assert_null(trust_store_find_issuer(ts, leaf->cert), "the issuer is not in the store");
    cr_assert_null(trust_store_find_issuer(NULL, ica->cert));
    cr_assert_null(trust_store_find_issuer(ts, NULL));

    trust_store_free(ts);
    testcert_free(leaf);
    testcert_free(fake_ica);
    testcert_free(ica);
    testcert_free(impostor);
    testcert_free(root);
}

Test(trust_store, rekeyed_roots_sharing_a_name)
{
    struct testcert *old_root = root_named("Shared Name Root");
    struct testcert *new_root = root_named("Shared Name Root");
    struct testcert *ica = testcert_new_ca(&(struct testcert_opts){.cn = "Sub CA"}, new_root);
    const struct testcert *roots[] = {old_root, new_root};
    struct trust_store *ts = load_bundle(roots, 2);

    const struct cert *found = trust_store_find_issuer(ts, ica->cert);
    cr_assert_not_null(found);
    cr_assert_arr_eq(found->spki_sha256, new_root->cert->spki_sha256, 32,
                     "picked the root whose key does not verify");

    trust_store_free(ts);
    testcert_free(ica);
    testcert_free(new_root);
    testcert_free(old_root);
}

static enum err_code load_text(const char *text, size_t *count, struct err *err)
{
    char *path = testenv_write_temp(text);
    struct trust_store *ts = NULL;
    enum err_code rc = trust_store_load(path, &ts, err);
    if (count != NULL)
        *count = trust_store_count(ts);
    trust_store_free(ts);
    unlink(path);
    free(path);
    return rc;
}

Test(trust_store, bundle_formats_and_errors)
{
    struct testcert *a = root_named("Root One");
    size_t count = 0;
    struct err err;

    /* comments and blank lines between blocks, like the Debian bundle */
    char text[8192];
    snprintf(text, sizeof(text), "# comment\n\n%s\nsome trailing words\n", a->pem);
    cr_assert_eq(load_text(text, &count, &err), ERR_OK, "%s", err.detail);
    cr_assert_eq(count, 1);

    /* TRUSTED CERTIFICATE blocks (OpenSSL's aux format) */
    BIO *bio = BIO_new(BIO_s_mem());
    cr_assert_eq(PEM_write_bio_X509_AUX(bio, a->x509), 1);
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    snprintf(text, sizeof(text), "%.*s", (int)len, data);
    BIO_free(bio);
    cr_assert(strstr(text, "TRUSTED CERTIFICATE") != NULL);
    cr_assert_eq(load_text(text, &count, &err), ERR_OK, "%s", err.detail);
    cr_assert_eq(count, 1);

    /* a broken block */
    snprintf(text, sizeof(text), "%s", a->pem);
    char *mid = strstr(text, "\n") + 10;
    memcpy(mid, "!!!!", 4);
    cr_assert_eq(load_text(text, NULL, &err), ERR_INVALID);
    cr_assert_str_eq(err.key, "invalid_trust_store");

    cr_assert_eq(load_text("no certificates here\n", NULL, &err), ERR_INVALID);
    cr_assert_str_eq(err.key, "invalid_trust_store");
    cr_assert_eq(load_text("", NULL, &err), ERR_INVALID);

    struct trust_store *ts = NULL;
    cr_assert_eq(trust_store_load("/nonexistent/bundle.pem", &ts, &err), ERR_INVALID);
    cr_assert_null(ts);
    testcert_free(a);
}

/* The system bundle loads, and no public root looks like an interception product or a
 * hostile key: a catalog false-positive guard. */
Test(trust_store, system_bundle_against_catalog)
{
    if (access(TRUST_STORE_DEFAULT_PATH, R_OK) != 0)
        cr_skip_test("no system CA bundle at %s", TRUST_STORE_DEFAULT_PATH);
    struct trust_store *ts = NULL;
    struct err err;
    cr_assert_eq(trust_store_load(NULL, &ts, &err), ERR_OK, "%s", err.detail);
    cr_assert_gt(trust_store_count(ts), 50);

    struct catalog *cat = NULL;
    cr_assert_eq(catalog_load(NULL, &cat, &err), ERR_OK, "%s", err.detail);

    FILE *f = fopen(TRUST_STORE_DEFAULT_PATH, "r");
    cr_assert_not_null(f);
    X509 *x;
    size_t n = 0;
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        unsigned char *der = NULL;
        int dlen = i2d_X509(x, &der);
        struct cert *c = NULL;
        cr_assert_eq(cert_from_der(der, (size_t)dlen, &c, NULL), ERR_OK);
        const struct catalog_product *p = catalog_match_cert(cat, c);
        cr_assert_null(p, "public root %s matches catalog product %s", c->subject,
                       p ? p->product : "");
        cr_assert_null(catalog_hostile_spki(cat, c->spki_sha256), "%s", c->subject);
        cr_assert(trust_store_contains_spki(ts, c->spki_sha256));
        cert_free(c);
        OPENSSL_free(der);
        X509_free(x);
        n++;
    }
    fclose(f);
    cr_assert_eq(n, trust_store_count(ts));
    catalog_free(cat);
    trust_store_free(ts);
}
