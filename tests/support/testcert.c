#include "testcert.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "report/pem_list.h"
#include "testenv.h"

void testcert_free(struct testcert *tc)
{
    if (tc == NULL)
        return;
    X509_free(tc->x509);
    EVP_PKEY_free(tc->key);
    cert_free(tc->cert);
    free(tc->pem);
    free(tc);
}

/* An RSA key pair like a generated one but with a random odd public exponent of e_bits bits
 * (d, the CRT exponents and coefficient derived from it), or NULL. */
static EVP_PKEY *rsa_big_exponent(int bits, int e_bits)
{
    EVP_PKEY *base = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits), *out = NULL;
    BIGNUM *n = NULL, *p = NULL, *q = NULL, *e = BN_new(), *d = BN_new(), *phi = BN_new(),
           *p1 = BN_new(), *q1 = BN_new(), *g = BN_new(), *dp = BN_new(), *dq = BN_new(),
           *qinv = BN_new();
    BN_CTX *ctx = BN_CTX_new();
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    bool ok = base != NULL && e && d && phi && p1 && q1 && g && dp && dq && qinv && ctx && bld &&
              EVP_PKEY_get_bn_param(base, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
              EVP_PKEY_get_bn_param(base, OSSL_PKEY_PARAM_RSA_FACTOR1, &p) == 1 &&
              EVP_PKEY_get_bn_param(base, OSSL_PKEY_PARAM_RSA_FACTOR2, &q) == 1 &&
              BN_sub(p1, p, BN_value_one()) && BN_sub(q1, q, BN_value_one()) &&
              BN_mul(phi, p1, q1, ctx);
    for (int tries = 0; ok && tries < 1000; tries++) {
        ok = BN_rand(e, e_bits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD) && BN_gcd(g, e, phi, ctx);
        if (ok && BN_is_one(g))
            break;
    }
    ok = ok && BN_mod_inverse(d, e, phi, ctx) != NULL && BN_mod(dp, d, p1, ctx) &&
         BN_mod(dq, d, q1, ctx) && BN_mod_inverse(qinv, q, p, ctx) != NULL &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) &&
         OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qinv) &&
         (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
         (pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) != NULL &&
         EVP_PKEY_fromdata_init(pctx) == 1 &&
         EVP_PKEY_fromdata(pctx, &out, EVP_PKEY_KEYPAIR, params) == 1;
    if (!ok) {
        EVP_PKEY_free(out);
        out = NULL;
    }
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_CTX_free(ctx);
    BN_free(n);
    BN_free(p);
    BN_free(q);
    BN_free(e);
    BN_clear_free(d);
    BN_free(phi);
    BN_free(p1);
    BN_free(q1);
    BN_free(g);
    BN_clear_free(dp);
    BN_clear_free(dq);
    BN_free(qinv);
    EVP_PKEY_free(base);
    return out;
}

static EVP_PKEY *make_key(const struct testcert_opts *o)
{
    if (o->key_from != NULL) {
        EVP_PKEY *k = o->key_from->key;
        return EVP_PKEY_up_ref(k) == 1 ? k : NULL;
    }
    if (o->rsa_bits > 0 && o->rsa_exponent_bits > 0)
        return rsa_big_exponent(o->rsa_bits, o->rsa_exponent_bits);
    if (o->rsa_bits > 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)o->rsa_bits);
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static bool add_name(X509_NAME *name, const struct testcert_opts *o)
{
    if (o->o != NULL && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                                   (const unsigned char *)o->o, -1, -1, 0) != 1)
        return false;
    if (o->cn != NULL && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                                    (const unsigned char *)o->cn, -1, -1, 0) != 1)
        return false;
    return true;
}

static bool add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    if (ext == NULL)
        return false;
    bool ok = X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* "DNS:a,IP:192.0.2.1,..." for the SAN extension; NULL on overflow. */
static char *san_value(const char *const *sans)
{
    size_t cap = 1;
    for (size_t i = 0; sans[i] != NULL; i++)
        cap += strlen(sans[i]) + 5;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    out[0] = '\0';
    for (size_t i = 0; sans[i] != NULL; i++) {
        unsigned char buf[16];
        bool ip = inet_pton(AF_INET, sans[i], buf) == 1 || inet_pton(AF_INET6, sans[i], buf) == 1;
        if (i > 0)
            strcat(out, ",");
        strcat(out, ip ? "IP:" : "DNS:");
        strcat(out, sans[i]);
    }
    return out;
}

static bool add_extensions(X509 *x, X509 *issuer_x, bool is_ca, const struct testcert_opts *o)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer_x, x, NULL, NULL, 0);
    bool ok = add_ext(x, &ctx, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "CA:FALSE") &&
              add_ext(x, &ctx, NID_key_usage,
                      is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") &&
              add_ext(x, &ctx, NID_subject_key_identifier, "hash");
    if (ok && issuer_x != x)
        ok = add_ext(x, &ctx, NID_authority_key_identifier, "keyid");
    if (ok && o->sans != NULL && o->sans[0] != NULL) {
        char *v = san_value(o->sans);
        ok = v != NULL && add_ext(x, &ctx, NID_subject_alt_name, v);
        free(v);
    }
    return ok;
}

static bool set_basics(X509 *x, const struct testcert_opts *o, EVP_PKEY *key)
{
    uint64_t serial = 0;
    time_t now = time(NULL);
    int64_t nb = o->not_before ? o->not_before : (int64_t)now - 86400;
    int64_t na = o->not_after ? o->not_after : (int64_t)now + 90 * 86400;
    if (RAND_bytes((unsigned char *)&serial, sizeof(serial)) != 1)
        return false;
    serial = (serial >> 1) | 1; /* positive, non-zero */
    ASN1_INTEGER *sn = ASN1_INTEGER_new();
    bool ok =
        sn != NULL && ASN1_INTEGER_set_uint64(sn, serial) == 1 && X509_set_serialNumber(x, sn) == 1;
    ASN1_INTEGER_free(sn);
    return ok && X509_set_version(x, 2) == 1 &&
           ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) != NULL &&
           ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) != NULL && X509_set_pubkey(x, key) == 1;
}

static char *to_pem(X509 *x)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (bio != NULL && PEM_write_bio_X509(bio, x) == 1) {
        char *data;
        long len = BIO_get_mem_data(bio, &data);
        out = malloc((size_t)len + 1);
        if (out != NULL) {
            memcpy(out, data, (size_t)len);
            out[len] = '\0';
        }
    }
    BIO_free(bio);
    return out;
}

struct testcert *testcert_new(const struct testcert_opts *opts, bool is_ca,
                              const struct testcert *issuer)
{
    struct testcert_opts defaults = {.cn = is_ca ? "Test Root" : "localhost"};
    const struct testcert_opts *o = opts != NULL ? opts : &defaults;
    struct testcert *tc = calloc(1, sizeof(*tc));
    unsigned char *der = NULL;
    X509_NAME *name = X509_NAME_new();
    const EVP_MD *md = EVP_get_digestbyname(o->digest ? o->digest : "sha256");
    bool ok = tc != NULL && name != NULL && md != NULL;

    ok = ok && (tc->key = make_key(o)) != NULL && (tc->x509 = X509_new()) != NULL;
    ok = ok && set_basics(tc->x509, o, tc->key) && add_name(name, o) &&
         X509_set_subject_name(tc->x509, name) == 1;
    ok = ok &&
         X509_set_issuer_name(tc->x509, issuer ? X509_get_subject_name(issuer->x509) : name) == 1;
    ok = ok && add_extensions(tc->x509, issuer ? issuer->x509 : tc->x509, is_ca, o);
    ok = ok && X509_sign(tc->x509, issuer ? issuer->key : tc->key, md) > 0;
    int len = ok ? i2d_X509(tc->x509, &der) : -1;
    ok = ok && len > 0 && cert_from_der(der, (size_t)len, &tc->cert, NULL) == ERR_OK;
    ok = ok && (tc->pem = to_pem(tc->x509)) != NULL;

    OPENSSL_free(der);
    X509_NAME_free(name);
    if (!ok) {
        ERR_print_errors_fp(stderr);
        testcert_free(tc);
        return NULL;
    }
    return tc;
}

struct testcert *testcert_new_root(const struct testcert_opts *opts)
{
    return testcert_new(opts, true, NULL);
}

struct testcert *testcert_new_ca(const struct testcert_opts *opts, const struct testcert *issuer)
{
    return issuer != NULL ? testcert_new(opts, true, issuer) : NULL;
}

struct testcert *testcert_new_leaf(const struct testcert_opts *opts, const struct testcert *issuer)
{
    return testcert_new(opts, false, issuer);
}

const char *testcert_pem(const struct testcert *tc)
{
    return tc != NULL ? tc->pem : NULL;
}

struct cert *testcert_cert(const struct testcert *tc)
{
    return tc != NULL ? tc->cert : NULL;
}

void testcert_pin(const struct testcert *tc, char out[45])
{
    EVP_EncodeBlock((unsigned char *)out, tc->cert->spki_sha256, 32);
}

char *testcert_chain_pem(const struct testcert *const *certs, size_t n)
{
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(certs[i]->pem);
    char *out = malloc(total);
    if (out == NULL)
        return NULL;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        strcat(out, certs[i]->pem);
    return out;
}

json_t *testcert_chain_json(const struct testcert *const *certs, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        if (json_array_append_new(arr, json_string(certs[i]->pem)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

bool testcert_write_bundle(const char *path, const struct testcert *const *certs, size_t n)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return false;
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++)
        ok = fprintf(f, "# test certificate %zu\n%s", i, certs[i]->pem) > 0;
    return fclose(f) == 0 && ok;
}

char *testcert_bundle_tmpfile(const struct testcert *const *certs, size_t n)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/pinwatch-bundle-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    close(fd);
    if (!testcert_write_bundle(path, certs, n)) {
        unlink(path);
        return NULL;
    }
    return strdup(path);
}

struct cert *testcert_load_pem_file(const char *path)
{
    size_t len = 0;
    char *text = testenv_read_file(path, &len);
    struct pem_list list;
    struct err err = {0};
    cr_assert_eq(pem_list_read(text, len, 0, &list, &err), ERR_OK, "%s: %s", path, err.detail);
    cr_assert_geq(list.n, 1, "%s: no certificate", path);
    struct cert *c = cert_ref(list.certs[0]);
    pem_list_cleanup(&list);
    free(text);
    return c;
}
