#include "report/cert.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/codec.h"
#include "base/utf8.h"

#define PEM_BEGIN "-----BEGIN "
#define PEM_DASH  "-----"
#define PEM_END   "-----END "

static void sha256(const void *data, size_t len, uint8_t out[32])
{
    /* EVP_Digest cannot fail for SHA-256 short of a broken library; zero the output so a
     * failure would at least be deterministic. */
    if (EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL) != 1)
        memset(out, 0, 32);
}

static char *dup_bytes(const void *data, size_t len)
{
    char *s = malloc(len + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, data, len);
    s[len] = '\0';
    return s;
}

/* RFC 2253 text, but UTF-8 rather than \XX escapes for non-ASCII so operators can read and
 * match names such as Cyrillic or Kazakh CA names. A UTF8String's bytes are printed as they
 * are, so bytes that are not UTF-8 get the \XX escape after all (*escaped set): stored text
 * must be UTF-8. */
static char *name_text(const X509_NAME *name, bool *escaped)
{
    char *out = NULL, *data = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL)
        return NULL;
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        long n = BIO_get_mem_data(bio, &data);
        out = utf8_escape(n > 0 ? data : "", n > 0 ? (size_t)n : 0, escaped);
    }
    BIO_free(bio);
    return out;
}

/* First attribute of that type as UTF-8; NULL when absent or not convertible. */
static char *name_first(const X509_NAME *name, int nid)
{
    int idx = X509_NAME_get_index_by_NID(name, nid, -1);
    if (idx < 0)
        return NULL;
    const ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, data);
    if (n < 0)
        return NULL;
    /* An embedded NUL would let "evil.com\0.bank.com" pass for something else. */
    const unsigned char *nul = memchr(utf8, '\0', (size_t)n);
    char *out = dup_bytes(utf8, nul != NULL ? (size_t)(nul - utf8) : (size_t)n);
    OPENSSL_free(utf8);
    return out;
}

static char *serial_hex(const X509 *x)
{
    char *out = NULL;
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    if (hex != NULL) {
        out = dup_bytes(hex, strlen(hex));
        for (char *p = out; p != NULL && *p != '\0'; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    OPENSSL_free(hex);
    BN_free(bn);
    return out;
}

static bool time_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return false;
    *out = (int64_t)timegm(&tm);
    return true;
}

static enum err_code push_san(struct cert *c, char *s)
{
    if (s == NULL)
        return ERR_NOMEM;
    char **grown = realloc(c->sans, (c->n_sans + 1) * sizeof(*grown));
    if (grown == NULL) {
        free(s);
        return ERR_NOMEM;
    }
    c->sans = grown;
    c->sans[c->n_sans++] = s;
    return ERR_OK;
}

static enum err_code fill_sans(struct cert *c, const X509 *x)
{
    enum err_code rc = ERR_OK;
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) && rc == ERR_OK; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS) {
            const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
            int n = ASN1_STRING_length(g->d.dNSName);
            if (n <= 0 || memchr(d, '\0', (size_t)n) != NULL)
                continue;
            char *lower = dup_bytes(d, (size_t)n);
            for (char *p = lower; p != NULL && *p != '\0'; p++)
                *p = (char)tolower((unsigned char)*p);
            /* IA5String in theory, any bytes in practice: escape what is not UTF-8. */
            char *s = lower != NULL ? utf8_escape(lower, (size_t)n, &c->text_escaped) : NULL;
            free(lower);
            rc = push_san(c, s);
        } else if (g->type == GEN_IPADD) {
            char buf[INET6_ADDRSTRLEN];
            int n = ASN1_STRING_length(g->d.iPAddress);
            int af = n == 4 ? AF_INET : n == 16 ? AF_INET6 : -1;
            if (af < 0 ||
                inet_ntop(af, ASN1_STRING_get0_data(g->d.iPAddress), buf, sizeof(buf)) == NULL)
                continue;
            rc = push_san(c, dup_bytes(buf, strlen(buf)));
        }
    }
    GENERAL_NAMES_free(gens);
    return rc;
}

static void fill_key(struct cert *c, const X509 *x)
{
    const char *type = "unknown";
    EVP_PKEY *pk = X509_get0_pubkey(x);
    if (pk != NULL) {
        switch (EVP_PKEY_get_base_id(pk)) {
        case EVP_PKEY_RSA:
        case EVP_PKEY_RSA_PSS:
            type = "rsa";
            break;
        case EVP_PKEY_EC:
            type = "ec";
            break;
        case EVP_PKEY_ED25519:
            type = "ed25519";
            break;
        case EVP_PKEY_ED448:
            type = "ed448";
            break;
        case EVP_PKEY_DSA:
            type = "dsa";
            break;
        default:
            break;
        }
        c->key_bits = EVP_PKEY_get_bits(pk);
    }
    snprintf(c->key_type, sizeof(c->key_type), "%s", type);
}

static void fill_sig_alg(struct cert *c, const X509 *x)
{
    int nid = X509_get_signature_nid(x);
    const char *ln = nid != NID_undef ? OBJ_nid2ln(nid) : NULL;
    if (ln != NULL) {
        snprintf(c->sig_alg, sizeof(c->sig_alg), "%s", ln);
        return;
    }
    const X509_ALGOR *alg = NULL;
    const ASN1_OBJECT *obj = NULL;
    X509_get0_signature(NULL, &alg, x);
    if (alg != NULL)
        X509_ALGOR_get0(&obj, NULL, NULL, alg);
    if (obj == NULL || OBJ_obj2txt(c->sig_alg, sizeof(c->sig_alg), obj, 1) <= 0)
        snprintf(c->sig_alg, sizeof(c->sig_alg), "unknown");
}

/* Everything except der/sha256, which the caller sets. */
static enum err_code fill_fields(struct cert *c, X509 *x, struct err *err)
{
    const X509_NAME *subject = X509_get_subject_name(x);
    const X509_NAME *issuer = X509_get_issuer_name(x);

    unsigned char *spki = NULL;
    int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
    if (spki_len <= 0)
        return err_set(err, ERR_INVALID, "undecodable_certificate", "no public key");
    sha256(spki, (size_t)spki_len, c->spki_sha256);
    OPENSSL_free(spki);

    if (!time_unix(X509_get0_notBefore(x), &c->not_before) ||
        !time_unix(X509_get0_notAfter(x), &c->not_after))
        return err_set(err, ERR_INVALID, "undecodable_certificate", "bad validity times");

    c->subject = name_text(subject, &c->text_escaped);
    c->issuer = name_text(issuer, &c->text_escaped);
    c->serial = serial_hex(x);
    if (c->subject == NULL || c->issuer == NULL || c->serial == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    c->subject_cn = name_first(subject, NID_commonName);
    c->subject_o = name_first(subject, NID_organizationName);
    c->issuer_cn = name_first(issuer, NID_commonName);
    c->issuer_o = name_first(issuer, NID_organizationName);
    if (fill_sans(c, x) != ERR_OK)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");

    fill_key(c, x);
    fill_sig_alg(c, x);
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
    c->is_ca = bc != NULL && bc->ca;
    BASIC_CONSTRAINTS_free(bc);
    c->self_issued = X509_NAME_cmp(subject, issuer) == 0;
    return ERR_OK;
}

enum err_code cert_from_der(const unsigned char *der, size_t len, struct cert **out,
                            struct err *err)
{
    enum err_code rc = ERR_OK;
    struct cert *c = NULL;
    X509 *x = NULL;

    if (der == NULL || len == 0 || len > (size_t)LONG_MAX) {
        rc = err_set(err, ERR_INVALID, "undecodable_certificate", "empty certificate");
        goto out;
    }
    const unsigned char *p = der;
    x = d2i_X509(NULL, &p, (long)len);
    /* Trailing bytes would make the DER hash disagree with what was sent. */
    if (x == NULL || p != der + len) {
        rc = err_set(err, ERR_INVALID, "undecodable_certificate",
                     x == NULL ? "not a DER X.509 certificate" : "data after the certificate");
        goto out;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL || (c->der = malloc(len)) == NULL) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    c->refs = 1;
    memcpy(c->der, der, len);
    c->der_len = len;
    sha256(der, len, c->sha256);
    rc = fill_fields(c, x, err);
    if (rc != ERR_OK)
        goto out;
    *out = c;
    c = NULL;
out:
    if (rc != ERR_OK)
        ERR_clear_error(); /* do not leave OpenSSL's queue to the next caller on this thread */
    X509_free(x);
    cert_free(c);
    return rc;
}

/* memmem is a GNU extension; this is the portable few lines. */
static const char *find(const char *hay, size_t hay_len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= hay_len && i <= hay_len - n; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
            return hay + i;
    }
    return NULL;
}

/* Locate the base64 body: between the BEGIN line and the END marker, or the whole text when
 * there is no armor at all (some clients send bare base64). */
static enum err_code pem_body(const char *pem, size_t len, const char **body, size_t *body_len,
                              struct err *err)
{
    const char *begin = find(pem, len, PEM_BEGIN);
    if (begin == NULL) {
        if (find(pem, len, PEM_DASH) != NULL)
            return err_set(err, ERR_INVALID, "undecodable_certificate", "no BEGIN line");
        *body = pem;
        *body_len = len;
        return ERR_OK;
    }
    const char *label = begin + strlen(PEM_BEGIN);
    const char *label_end = find(label, len - (size_t)(label - pem), PEM_DASH);
    if (label_end == NULL)
        return err_set(err, ERR_INVALID, "undecodable_certificate", "unterminated BEGIN line");
    size_t label_len = (size_t)(label_end - label);
    if (!(label_len == 11 && memcmp(label, "CERTIFICATE", 11) == 0) &&
        !(label_len == 16 && memcmp(label, "X509 CERTIFICATE", 16) == 0))
        return err_set(err, ERR_INVALID, "undecodable_certificate", "not a CERTIFICATE block");
    const char *start = label_end + strlen(PEM_DASH);
    const char *end = find(start, len - (size_t)(start - pem), PEM_END);
    if (end == NULL)
        return err_set(err, ERR_INVALID, "undecodable_certificate", "no END line");
    *body = start;
    *body_len = (size_t)(end - start);
    return ERR_OK;
}

enum err_code cert_from_client_pem(const char *pem, size_t len, struct cert **out, struct err *err)
{
    const char *body = NULL;
    size_t body_len = 0, der_len = 0;
    unsigned char *der = NULL;

    if (pem == NULL)
        return err_set(err, ERR_INVALID, "undecodable_certificate", "no PEM text");
    enum err_code rc = pem_body(pem, len, &body, &body_len, err);
    if (rc != ERR_OK)
        return rc;
    /* The decoder ignores every kind of whitespace, so CRLF, LF, 64/76 columns, no breaks
     * and leading spaces all decode the same way. */
    rc = codec_base64_decode(body, body_len, &der, &der_len, err);
    if (rc == ERR_OK)
        rc = cert_from_der(der, der_len, out, err);
    else if (rc == ERR_INVALID)
        err_set(err, ERR_INVALID, "undecodable_certificate", "PEM body is not base64");
    free(der);
    return rc;
}

struct cert *cert_ref(struct cert *c)
{
    if (c != NULL)
        __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
    return c;
}

void cert_free(struct cert *c)
{
    if (c == NULL)
        return;
    if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    free(c->der);
    free(c->subject);
    free(c->issuer);
    free(c->subject_cn);
    free(c->subject_o);
    free(c->issuer_cn);
    free(c->issuer_o);
    free(c->serial);
    for (size_t i = 0; i < c->n_sans; i++)
        free(c->sans[i]);
    free(c->sans);
    free(c);
}

char *cert_to_pem(const struct cert *c)
{
    if (c == NULL || c->der == NULL || c->der_len > INT_MAX)
        return NULL;
    char *out = NULL, *data = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio != NULL && PEM_write_bio(bio, PEM_STRING_X509, "", c->der, (long)c->der_len) > 0) {
        long n = BIO_get_mem_data(bio, &data);
        out = n > 0 ? dup_bytes(data, (size_t)n) : NULL;
    }
    BIO_free(bio);
    ERR_clear_error();
    return out;
}

struct x509_st *cert_to_x509(const struct cert *c)
{
    if (c == NULL || c->der == NULL)
        return NULL;
    const unsigned char *p = c->der;
    X509 *x = d2i_X509(NULL, &p, (long)c->der_len);
    if (x == NULL)
        ERR_clear_error();
    return x;
}
