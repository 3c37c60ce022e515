#include "analysis/chain.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "analysis/catalog.h"
#include "analysis/expected_keys.h"
#include "analysis/sigcache.h"
#include "analysis/trust_store.h"
#include "base/addr.h"
#include "base/codec.h"
#include "report/cert.h"
#include "report/pin.h"

static const struct {
    unsigned bit;
    const char *name;
} weak_names[] = {
    {CHAIN_WEAK_SHA1_SIGNATURE, "sha1_signature"},
    {CHAIN_WEAK_MD5_SIGNATURE, "md5_signature"},
    {CHAIN_WEAK_RSA_1024, "rsa_1024"},
    {CHAIN_WEAK_UNUSUAL_KEY, "unusual_key"},
    {CHAIN_WEAK_UNVERIFIED_LINKS, "unverified_links"},
};
#define N_WEAK (sizeof(weak_names) / sizeof(weak_names[0]))

const char *chain_weak_name(unsigned bit)
{
    for (size_t i = 0; i < N_WEAK; i++) {
        if (weak_names[i].bit == bit)
            return weak_names[i].name;
    }
    return NULL;
}

void chain_analysis_free(struct chain_analysis *a)
{
    if (a == NULL)
        return;
    free(a->anchor_subject);
    free(a->hostile_name);
    free(a->hostile_category);
    free(a->catalog_product);
    free(a->catalog_category);
    X509_free(a->leaf_names);
    free(a);
}

/* strdup that keeps NULL; sets *oom when a non-NULL copy fails. */
static char *dup_or_null(const char *s, bool *oom)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *oom = true;
    return d;
}

static bool chain_id(struct cert *const *certs, size_t n, uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_DigestUpdate(ctx, certs[i]->der, certs[i]->der_len) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, out, NULL) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* Whether a signature check with key costs what real certificates cost: an RSA public
 * exponent of 32 bits at most (a ~3070-bit one makes each check a full exponentiation) and a
 * modulus of 8192 bits at most, a named NIST curve, Ed25519 or Ed448. */
static bool key_usual(EVP_PKEY *key)
{
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS: {
        BIGNUM *e = NULL;
        bool ok = EVP_PKEY_get_bits(key) <= 8192 &&
                  EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) == 1 &&
                  BN_num_bits(e) <= 32;
        BN_free(e);
        return ok;
    }
    case EVP_PKEY_EC: {
        char curve[64];
        size_t len = 0;
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof(curve),
                                           &len) != 1)
            return false; /* explicit parameters */
        return strcmp(curve, "prime256v1") == 0 || strcmp(curve, "secp384r1") == 0 ||
               strcmp(curve, "secp521r1") == 0;
    }
    case EVP_PKEY_ED25519:
    case EVP_PKEY_ED448:
        return true;
    default:
        return false;
    }
}

/* One link to check: the certificates decoded (x) and as the cache knows them (c). */
struct link {
    X509 *child_x, *parent_x;
    const struct cert *child, *parent;
};

/* child names parent as issuer and parent's key verifies child's signature. A check costs one
 * unit of *budget, cached or not (so findings never depend on the cache); with none left, or
 * with an unusual key, the link is not checked (and not linked) and *weak says why. */
static bool issued_by(const struct link *l, struct sigcache *sc, unsigned *budget, unsigned *weak)
{
    if (X509_NAME_cmp(X509_get_issuer_name(l->child_x), X509_get_subject_name(l->parent_x)) != 0)
        return false;
    EVP_PKEY *key = X509_get0_pubkey(l->parent_x);
    if (key == NULL)
        return false;
    if (!key_usual(key)) {
        *weak |= CHAIN_WEAK_UNUSUAL_KEY;
        return false;
    }
    if (*budget == 0) {
        *weak |= CHAIN_WEAK_UNVERIFIED_LINKS;
        return false;
    }
    (*budget)--;
    bool ok;
    if (sigcache_get(sc, l->child->sha256, l->parent->spki_sha256, &ok))
        return ok;
    ok = X509_verify(l->child_x, key) == 1;
    sigcache_put(sc, l->child->sha256, l->parent->spki_sha256, ok);
    return ok;
}

static unsigned weak_signature(const X509 *x)
{
    int md = NID_undef, pk = NID_undef;
    if (OBJ_find_sigid_algs(X509_get_signature_nid(x), &md, &pk) != 1)
        return 0;
    if (md == NID_sha1)
        return CHAIN_WEAK_SHA1_SIGNATURE;
    if (md == NID_md5 || md == NID_md4 || md == NID_md2 || md == NID_md5_sha1)
        return CHAIN_WEAK_MD5_SIGNATURE;
    return 0;
}

static unsigned weak_key(X509 *x)
{
    EVP_PKEY *key = X509_get0_pubkey(x);
    if (key == NULL)
        return 0;
    int id = EVP_PKEY_get_base_id(key);
    if ((id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) && EVP_PKEY_get_bits(key) < 2048)
        return CHAIN_WEAK_RSA_1024;
    return 0;
}

/* The names X509_check_host and X509_check_ip read (the subject, the subjectAltName
 * extension) on an otherwise empty certificate: decoding a whole leaf again per report costs
 * its public key, some 200 µs and 4 KiB for RSA-2048. NULL on OOM. */
static X509 *names_of(X509 *leaf)
{
    X509 *names = X509_new();
    bool ok = names != NULL && X509_set_subject_name(names, X509_get_subject_name(leaf)) == 1;
    int at = X509_get_ext_by_NID(leaf, NID_subject_alt_name, -1);
    if (ok && at >= 0)
        ok = X509_add_ext(names, X509_get_ext(leaf, at), -1) == 1;
    if (!ok) {
        X509_free(names);
        return NULL;
    }
    return names;
}

static void match_hostile(struct chain_analysis *a, const struct catalog *cat,
                          struct cert *const *certs, size_t n, bool *oom)
{
    const struct catalog_hostile *h = NULL;
    for (size_t i = 0; h == NULL && i < n; i++)
        h = catalog_hostile_spki(cat, certs[i]->spki_sha256);
    if (h == NULL)
        h = catalog_hostile_spki(cat, a->anchor_spki);
    if (h == NULL)
        return;
    a->known_hostile = true;
    a->hostile_name = dup_or_null(h->name, oom);
    a->hostile_category = dup_or_null(h->category, oom);
}

static void match_catalog(struct chain_analysis *a, const struct catalog *cat,
                          struct cert *const *certs, size_t n, const struct cert *store_anchor,
                          bool *oom)
{
    const struct catalog_product *p = NULL;
    for (size_t i = 0; p == NULL && i < n; i++)
        p = catalog_match_cert(cat, certs[i]);
    if (p == NULL && store_anchor != NULL)
        p = catalog_match_cert(cat, store_anchor);
    if (p == NULL)
        return;
    a->catalog_product = dup_or_null(p->product, oom);
    a->catalog_category = dup_or_null(p->category, oom);
}

enum err_code chain_analyze(struct cert *const *certs, size_t n, const struct trust_store *ts,
                            const struct catalog *cat, struct chain_analysis **out, struct err *err)
{
    return chain_analyze_cached(certs, n, ts, cat, NULL, out, err);
}

enum err_code chain_analyze_cached(struct cert *const *certs, size_t n,
                                   const struct trust_store *ts, const struct catalog *cat,
                                   struct sigcache *sc, struct chain_analysis **out,
                                   struct err *err)
{
    enum err_code rc = ERR_OK;
    struct chain_analysis *a = NULL;
    X509 **x = NULL;
    bool oom = false;

    if (n == 0 || certs == NULL)
        return err_set(err, ERR_INVALID, "empty_chain", "the chain has no certificate");
    if (n > CHAIN_MAX_CERTS)
        return err_set(err, ERR_INVALID, "chain_too_long", "more than %d certificates",
                       CHAIN_MAX_CERTS);
    a = calloc(1, sizeof(*a));
    x = calloc(n, sizeof(*x));
    if (a == NULL || x == NULL) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = certs[i] ? certs[i]->der : NULL;
        if (p != NULL)
            x[i] = d2i_X509(NULL, &p, (long)certs[i]->der_len);
        if (x[i] == NULL) {
            rc = err_set(err, ERR_INVALID, "undecodable_certificate",
                         "chain certificate %zu does not decode", i);
            goto out;
        }
    }
    a->n_certs = n;
    if (!chain_id(certs, n, a->sha256)) {
        rc = err_set(err, ERR_INTERNAL, NULL, "SHA-256 failed");
        goto out;
    }

    if ((a->leaf_names = names_of(x[0])) == NULL)
        oom = true;
    a->linked = true;
    unsigned budget = CHAIN_MAX_VERIFY;
    for (size_t i = 0; i + 1 < n && a->linked; i++) {
        struct link l = {x[i], x[i + 1], certs[i], certs[i + 1]};
        a->linked = issued_by(&l, sc, &budget, &a->weak);
    }

    const struct cert *last = certs[n - 1];
    const struct cert *store_anchor = last->self_issued ? NULL : trust_store_find_issuer(ts, last);
    const struct cert *anchor = store_anchor != NULL ? store_anchor : last;
    a->anchor_subject = dup_or_null(anchor->subject ? anchor->subject : "", &oom);
    memcpy(a->anchor_spki, anchor->spki_sha256, 32);
    a->anchor_from_store = store_anchor != NULL;
    a->anchor_public = store_anchor != NULL || trust_store_contains_spki(ts, a->anchor_spki);

    match_hostile(a, cat, certs, n, &oom);
    match_catalog(a, cat, certs, n, store_anchor, &oom);

    for (size_t i = 0; i < n; i++) {
        if (!(i == n - 1 && last->self_issued))
            a->weak |= weak_signature(x[i]);
        a->weak |= weak_key(x[i]);
    }
    if (oom) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    *out = a;
    a = NULL;
out:
    ERR_clear_error();
    for (size_t i = 0; x != NULL && i < n; i++)
        X509_free(x[i]);
    free(x);
    chain_analysis_free(a);
    return rc;
}

/* ---- JSON ---------------------------------------------------------------------------- */

static json_t *hex_json(const uint8_t b[32])
{
    char hex[PIN_HEX_LEN + 1];
    codec_hex_encode(b, 32, hex);
    return json_string(hex);
}

static json_t *pair_or_null(const char *k1, const char *v1, const char *k2, const char *v2)
{
    if (v1 == NULL)
        return json_null();
    return json_pack("{s:s, s:s?}", k1, v1, k2, v2);
}

/* Set key on obj to v (consumed); false (and obj untouched) when v is NULL or set fails. */
static bool set(json_t *obj, const char *key, json_t *v)
{
    return v != NULL && json_object_set_new(obj, key, v) == 0;
}

json_t *chain_analysis_to_json(const struct chain_analysis *a)
{
    if (a == NULL)
        return NULL;
    json_t *o = json_object();
    json_t *weak = json_array();
    json_t *anchor = json_object();
    bool ok = o != NULL && weak != NULL && anchor != NULL;

    for (size_t i = 0; ok && i < N_WEAK; i++) {
        if (a->weak & weak_names[i].bit)
            ok = json_array_append_new(weak, json_string(weak_names[i].name)) == 0;
    }
    ok = ok && set(anchor, "subject", json_string(a->anchor_subject ? a->anchor_subject : ""));
    ok = ok && set(anchor, "spki_sha256", hex_json(a->anchor_spki));
    ok = ok && set(anchor, "public", json_boolean(a->anchor_public));
    ok = ok && set(anchor, "from_trust_store", json_boolean(a->anchor_from_store));

    ok = ok && set(o, "chain_sha256", hex_json(a->sha256));
    ok = ok && set(o, "n_certs", json_integer((json_int_t)a->n_certs));
    if (ok) {
        ok = set(o, "anchor", anchor);
        anchor = NULL; /* consumed */
    }
    ok = ok && set(o, "linked", json_boolean(a->linked));
    ok = ok && set(o, "known_hostile", json_boolean(a->known_hostile));
    ok = ok && set(o, "hostile",
                   pair_or_null("name", a->known_hostile ? a->hostile_name : NULL, "category",
                                a->hostile_category));
    ok = ok && set(o, "catalog",
                   pair_or_null("product", a->catalog_product, "category", a->catalog_category));
    if (ok) {
        ok = set(o, "weak", weak);
        weak = NULL;
    }
    json_decref(weak);
    json_decref(anchor);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static bool get_hex32(const json_t *obj, const char *key, uint8_t out[32])
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) && codec_hex_decode(json_string_value(v), out, 32, NULL) == ERR_OK;
}

static bool get_bool(const json_t *obj, const char *key, bool *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_boolean(v))
        return false;
    *out = json_is_true(v);
    return true;
}

/* Copy obj[key][sub] when obj[key] is an object; NULL member or null object gives NULL. */
static bool get_pair(const json_t *obj, const char *key, const char *sub, char **out, bool *oom)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_object(v))
        return false;
    const json_t *s = json_object_get(v, sub);
    if (s != NULL && !json_is_null(s) && !json_is_string(s))
        return false;
    *out = dup_or_null(json_string_value(s), oom);
    return true;
}

enum err_code chain_analysis_from_json(const json_t *j, struct chain_analysis **out,
                                       struct err *err)
{
    struct chain_analysis *a = calloc(1, sizeof(*a));
    bool oom = false;
    if (a == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");

    const json_t *anchor = json_object_get(j, "anchor");
    const json_t *subject = json_object_get(anchor, "subject");
    const json_t *n_certs = json_object_get(j, "n_certs");
    const json_t *weak = json_object_get(j, "weak");
    bool ok = json_is_object(j) && json_is_object(anchor) && json_is_string(subject) &&
              get_hex32(j, "chain_sha256", a->sha256) &&
              get_hex32(anchor, "spki_sha256", a->anchor_spki) &&
              get_bool(anchor, "public", &a->anchor_public) && get_bool(j, "linked", &a->linked) &&
              get_bool(j, "known_hostile", &a->known_hostile) &&
              (weak == NULL || json_is_array(weak)) &&
              (n_certs == NULL || (json_is_integer(n_certs) && json_integer_value(n_certs) >= 0));
    if (ok) {
        const json_t *fs = json_object_get(anchor, "from_trust_store");
        a->anchor_from_store = json_is_true(fs);
        a->n_certs = n_certs ? (size_t)json_integer_value(n_certs) : 0;
        a->anchor_subject = dup_or_null(json_string_value(subject), &oom);
        ok = get_pair(j, "hostile", "name", &a->hostile_name, &oom) &&
             get_pair(j, "hostile", "category", &a->hostile_category, &oom) &&
             get_pair(j, "catalog", "product", &a->catalog_product, &oom) &&
             get_pair(j, "catalog", "category", &a->catalog_category, &oom);
    }
    size_t i;
    const json_t *w;
    json_array_foreach(weak, i, w)
    {
        for (size_t k = 0; ok && k < N_WEAK; k++) {
            if (json_is_string(w) && strcmp(json_string_value(w), weak_names[k].name) == 0)
                a->weak |= weak_names[k].bit;
        }
    }
    if (!ok || oom) {
        chain_analysis_free(a);
        if (oom)
            return err_set(err, ERR_NOMEM, NULL, "out of memory");
        return err_set(err, ERR_INVALID, "invalid_chain_analysis",
                       "chain findings JSON is missing or mistyping a member");
    }
    *out = a;
    return ERR_OK;
}

/* ---- per report ---------------------------------------------------------------------- */

/*
 * Coverage of hostname by the names of a leaf (has_sans: it carries a DNS or IP SAN), as
 * OpenSSL decides it (RFC 6125): X509_check_ip for an IP literal, X509_check_host for a name,
 * full-label wildcards only ("*.example.com" stands for one label; "w*.example.com", "*.com"
 * and wildcards in A-labels never match). The subject CN is read only when the leaf has no DNS
 * or IP SAN at all, as before: OpenSSL alone would also read it beside IP SANs, which is looser
 * still than the reporting clients (iOS 13+ and Chrome take no name from the CN), so
 * NEVER_CHECK_SUBJECT is set whenever there is a SAN. A CN is never an IP identity
 * (X509_check_ip reads SANs only).
 */
static bool names_cover(X509 *names, bool has_sans, const char *hostname)
{
    /* A leading dot would ask OpenSSL for "any subdomain of": no host is named that way. */
    if (names == NULL || hostname == NULL || hostname[0] == '\0' || hostname[0] == '.')
        return false;
    size_t len = strlen(hostname);
    struct addr ip;
    bool is_ip = addr_parse_bracketed(hostname, len, &ip);
    if (!is_ip && hostname[len - 1] == '.')
        len--; /* the absolute form names the same host */
    if (len == 0)
        return false;
    unsigned flags = X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;
    if (has_sans)
        flags |= X509_CHECK_FLAG_NEVER_CHECK_SUBJECT;
    int rc = is_ip ? X509_check_ip(names, ip.bytes, addr_len(&ip), flags)
                   : X509_check_host(names, hostname, len, flags, NULL);
    ERR_clear_error();
    return rc == 1;
}

bool chain_cert_covers_hostname(const struct cert *leaf, const char *hostname)
{
    if (leaf == NULL || hostname == NULL || hostname[0] == '\0')
        return false;
    X509 *x = cert_to_x509(leaf);
    bool covers = names_cover(x, leaf->n_sans > 0, hostname);
    X509_free(x);
    return covers;
}

static bool expected(const struct expected_keys *ek, const char *hostname, const uint8_t spki[32])
{
    return expected_keys_match(ek, hostname, spki) != NULL;
}

void chain_report_findings(const struct chain_analysis *a, struct cert *const *certs, size_t n,
                           const char *hostname, int64_t at_usec, const uint8_t (*pins)[32],
                           size_t n_pins, const struct expected_keys *ek,
                           struct chain_report_findings *out)
{
    memset(out, 0, sizeof(*out));
    if (certs == NULL || n == 0)
        return;
    if (a != NULL && a->leaf_names != NULL && certs[0] != NULL)
        out->covers_hostname = names_cover(a->leaf_names, certs[0]->n_sans > 0, hostname);
    else
        out->covers_hostname = chain_cert_covers_hostname(certs[0], hostname);

    int64_t t = at_usec / 1000000;
    if (at_usec < 0 && at_usec % 1000000 != 0)
        t--; /* floor */
    out->valid_at_report_time = true;
    for (size_t i = 0; i < n; i++) {
        if (certs[i] == NULL || t < certs[i]->not_before || t > certs[i]->not_after)
            out->valid_at_report_time = false;
    }

    bool anchor_outside = a != NULL && a->anchor_from_store;
    if (pins != NULL && n_pins > 0) {
        for (size_t i = 0; i < n && !out->pin_in_chain; i++)
            out->pin_in_chain = certs[i] != NULL && pin_in_set(certs[i]->spki_sha256, pins, n_pins);
        if (!out->pin_in_chain && anchor_outside)
            out->pin_in_chain = pin_in_set(a->anchor_spki, pins, n_pins);
    }
    if (ek != NULL && hostname != NULL) {
        out->leaf_expected = certs[0] != NULL && expected(ek, hostname, certs[0]->spki_sha256);
        out->expected_key = out->leaf_expected;
        for (size_t i = 1; i < n && !out->expected_key; i++)
            out->expected_key = certs[i] != NULL && expected(ek, hostname, certs[i]->spki_sha256);
        if (!out->expected_key && anchor_outside)
            out->expected_key = expected(ek, hostname, a->anchor_spki);
    }
}

json_t *chain_report_findings_to_json(const struct chain_analysis *a,
                                      const struct chain_report_findings *f)
{
    json_t *o = chain_analysis_to_json(a);
    if (o == NULL || f == NULL)
        return o;
    bool ok = set(o, "covers_hostname", json_boolean(f->covers_hostname)) &&
              set(o, "valid_at_report_time", json_boolean(f->valid_at_report_time)) &&
              set(o, "pin_in_chain", json_boolean(f->pin_in_chain)) &&
              set(o, "expected_key", json_boolean(f->expected_key)) &&
              set(o, "leaf_expected", json_boolean(f->leaf_expected));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}
