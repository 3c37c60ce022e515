#include "analysis/trust_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "base/timeparse.h"
#include "report/cert.h"
#include "report/pem_list.h"

#define LEGACY_MAX_BYTES (8u << 20) /* a bundle of every root ever removed is far smaller */

struct ts_root {
    X509 *x509;
    struct cert *cert;
};

struct trust_store {
    X509_STORE *store;
    struct ts_root *roots; /* bundle order */
    size_t n, cap;
    uint8_t (*spkis)[32];       /* sorted, for bsearch */
    int64_t *removed;           /* legacy set only: per root (bundle order), Unix seconds */
    struct trust_store *legacy; /* formerly public roots, or NULL */
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
    free(ts->removed);
    trust_store_free(ts->legacy);
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

/* ---- formerly public roots ----------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(LEGACY_MAX_BYTES + 1);
    size_t n = buf != NULL ? fread(buf, 1, LEGACY_MAX_BYTES + 1, f) : 0;
    bool ok = buf != NULL && !ferror(f) && n <= LEGACY_MAX_BYTES;
    fclose(f);
    if (!ok) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* "YYYY-MM-DD" to Unix seconds at 00:00 UTC; false when malformed. */
static bool parse_day(const char *s, int64_t *out)
{
    int y, m, d, used = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &used) != 3 || used != 10 || m < 1 || m > 12 ||
        d < 1 || d > 31)
        return false;
    *out = timeparse_days_from_civil(y, (unsigned)m, (unsigned)d) * 86400;
    return true;
}

struct legacy_meta {
    int64_t removed;
    bool has_removed, has_source;
};

/* One "# key: value" comment line. */
static void legacy_comment(const char *line, size_t len, struct legacy_meta *m, bool *bad_date)
{
    char buf[160];
    if (len >= sizeof(buf))
        len = sizeof(buf) - 1;
    memcpy(buf, line, len);
    buf[len] = '\0';
    if (strncmp(buf, "# removed:", 10) == 0) {
        const char *v = buf + 10;
        while (*v == ' ')
            v++;
        m->has_removed = parse_day(v, &m->removed);
        *bad_date = !m->has_removed;
    } else if (strncmp(buf, "# source:", 9) == 0 && len > 10) {
        m->has_source = true;
    }
}

/* Decode the PEM block text[0..len) into ts with its removal day. */
static enum err_code legacy_block(struct trust_store *ts, const char *text, size_t len,
                                  int64_t removed, struct err *err)
{
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    X509 *x509 = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (x509 == NULL)
        return err_set(err, ERR_INVALID, "invalid_legacy_roots", "certificate %zu does not decode",
                       ts->n + 1);
    int64_t *grown = realloc(ts->removed, (ts->n + 1) * sizeof(*grown));
    if (grown == NULL) {
        X509_free(x509);
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    }
    ts->removed = grown;
    ts->removed[ts->n] = removed;
    return add_root(ts, x509, err);
}

static enum err_code legacy_parse(struct trust_store *lg, const char *text, const char *path,
                                  struct err *err)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----", end[] = "-----END CERTIFICATE-----";
    struct legacy_meta m = {0};
    const char *p = text;
    while (*p != '\0') {
        size_t len = strcspn(p, "\n");
        if (len >= sizeof(begin) - 1 && strncmp(p, begin, sizeof(begin) - 1) == 0) {
            const char *e = strstr(p, end);
            if (e == NULL)
                return err_set(err, ERR_INVALID, "invalid_legacy_roots",
                               "%s: certificate %zu has no end line", path, lg->n + 1);
            if (!m.has_removed || !m.has_source)
                return err_set(err, ERR_INVALID, "invalid_legacy_roots",
                               "%s: certificate %zu lacks its \"# removed:\" date or "
                               "\"# source:\"",
                               path, lg->n + 1);
            e += sizeof(end) - 1;
            enum err_code rc = legacy_block(lg, p, (size_t)(e - p), m.removed, err);
            if (rc != ERR_OK)
                return rc;
            m = (struct legacy_meta){0};
            p = e;
            continue;
        }
        bool bad_date = false;
        if (len > 0 && p[0] == '#')
            legacy_comment(p, len, &m, &bad_date);
        if (bad_date)
            return err_set(err, ERR_INVALID, "invalid_legacy_roots",
                           "%s: certificate %zu: the removed date is not YYYY-MM-DD", path,
                           lg->n + 1);
        p += len;
        if (*p == '\n')
            p++;
    }
    return ERR_OK;
}

enum err_code trust_store_load_legacy(struct trust_store *ts, const char *path, struct err *err)
{
    if (ts == NULL || path == NULL || path[0] == '\0')
        return ERR_OK;
    size_t len = 0;
    char *text = slurp(path, &len);
    if (text == NULL)
        return err_set(err, ERR_INVALID, "invalid_legacy_roots", "%s: cannot be read", path);
    enum err_code rc = ERR_OK;
    struct trust_store *lg = calloc(1, sizeof(*lg));
    if (lg == NULL || (lg->store = X509_STORE_new()) == NULL) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    if ((rc = legacy_parse(lg, text, path, err)) != ERR_OK)
        goto out;
    if (lg->n == 0) {
        rc = err_set(err, ERR_INVALID, "invalid_legacy_roots", "%s: no certificate", path);
        goto out;
    }
    if ((rc = build_spki_set(lg, err)) != ERR_OK)
        goto out;
    trust_store_free(ts->legacy);
    ts->legacy = lg;
    lg = NULL;
out:
    ERR_clear_error();
    free(text);
    trust_store_free(lg);
    return rc;
}

size_t trust_store_legacy_count(const struct trust_store *ts)
{
    return ts != NULL ? trust_store_count(ts->legacy) : 0;
}

static int64_t removed_of(const struct trust_store *lg, const struct cert *root)
{
    for (size_t i = 0; i < lg->n; i++) {
        if (lg->roots[i].cert == root)
            return lg->removed[i];
    }
    return 0;
}

const struct cert *trust_store_legacy_spki(const struct trust_store *ts, const uint8_t spki[32],
                                           int64_t *removed_at)
{
    const struct trust_store *lg = ts != NULL ? ts->legacy : NULL;
    if (lg == NULL || !trust_store_contains_spki(lg, spki))
        return NULL;
    for (size_t i = 0; i < lg->n; i++) {
        if (memcmp(lg->roots[i].cert->spki_sha256, spki, 32) == 0) {
            if (removed_at != NULL)
                *removed_at = lg->removed[i];
            return lg->roots[i].cert;
        }
    }
    return NULL;
}

const struct cert *trust_store_legacy_issuer(const struct trust_store *ts, const struct cert *last,
                                             int64_t *removed_at)
{
    const struct trust_store *lg = ts != NULL ? ts->legacy : NULL;
    const struct cert *root = trust_store_find_issuer(lg, last);
    if (root != NULL && removed_at != NULL)
        *removed_at = removed_of(lg, root);
    return root;
}
