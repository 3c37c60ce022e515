#include "analysis/catalog.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "report/cert.h"

#define PATTERN_MAX 512

struct product_entry {
    struct catalog_product pub;
    bool has_cn, has_o;
    regex_t cn, o;
};

struct catalog {
    struct product_entry *products;
    size_t n_products;
    struct catalog_hostile *hostile; /* sorted by spki_sha256 */
    size_t n_hostile;
};

static const char *const categories[] = {"enterprise_proxy", "antivirus", "debugging_proxy",
                                         "malware_adware", "state"};

bool catalog_category_valid(const char *category)
{
    if (category == NULL)
        return false;
    for (size_t i = 0; i < sizeof(categories) / sizeof(categories[0]); i++) {
        if (strcmp(category, categories[i]) == 0)
            return true;
    }
    return false;
}

static void product_cleanup(struct product_entry *p)
{
    free(p->pub.product);
    free(p->pub.category);
    free(p->pub.source);
    if (p->has_cn)
        regfree(&p->cn);
    if (p->has_o)
        regfree(&p->o);
}

void catalog_free(struct catalog *cat)
{
    if (cat == NULL)
        return;
    for (size_t i = 0; i < cat->n_products; i++)
        product_cleanup(&cat->products[i]);
    free(cat->products);
    for (size_t i = 0; i < cat->n_hostile; i++) {
        free(cat->hostile[i].name);
        free(cat->hostile[i].category);
        free(cat->hostile[i].source);
    }
    free(cat->hostile);
    free(cat);
}

size_t catalog_product_count(const struct catalog *cat)
{
    return cat != NULL ? cat->n_products : 0;
}

size_t catalog_hostile_count(const struct catalog *cat)
{
    return cat != NULL ? cat->n_hostile : 0;
}

/* A non-empty string member, or NULL. */
static const char *member_string(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return NULL;
    return json_string_value(v);
}

/* Compile pattern anchored on both ends, so it must match the whole value. */
static enum err_code compile_full(const char *pattern, regex_t *re, const char *what, size_t idx,
                                  struct err *err)
{
    char anchored[PATTERN_MAX + 8];
    size_t len = strlen(pattern);
    if (len > PATTERN_MAX)
        return err_set(err, ERR_INVALID, "invalid_catalog", "products[%zu].%s: pattern too long",
                       idx, what);
    memcpy(anchored, "^(", 2);
    memcpy(anchored + 2, pattern, len);
    memcpy(anchored + 2 + len, ")$", 3);
    int rc = regcomp(re, anchored, REG_EXTENDED | REG_NOSUB | REG_ICASE);
    if (rc != 0) {
        char msg[128];
        regerror(rc, re, msg, sizeof(msg));
        return err_set(err, ERR_INVALID, "invalid_catalog", "products[%zu].%s: %s", idx, what, msg);
    }
    return ERR_OK;
}

static enum err_code load_product(const json_t *item, size_t idx, struct product_entry *p,
                                  struct err *err)
{
    const char *product = member_string(item, "product");
    const char *category = member_string(item, "category");
    const char *source = member_string(item, "source");
    const char *cn = member_string(item, "issuer_cn");
    const char *o = member_string(item, "issuer_o");
    enum err_code rc;

    if (!json_is_object(item) || product == NULL || source == NULL)
        return err_set(err, ERR_INVALID, "invalid_catalog",
                       "products[%zu]: needs \"product\" and \"source\"", idx);
    if (!catalog_category_valid(category))
        return err_set(err, ERR_INVALID, "invalid_catalog",
                       "products[%zu]: unknown category \"%.40s\"", idx, category ? category : "");
    if (cn == NULL && o == NULL)
        return err_set(err, ERR_INVALID, "invalid_catalog",
                       "products[%zu]: needs \"issuer_cn\" or \"issuer_o\"", idx);
    if (cn != NULL) {
        if ((rc = compile_full(cn, &p->cn, "issuer_cn", idx, err)) != ERR_OK)
            return rc;
        p->has_cn = true;
    }
    if (o != NULL) {
        if ((rc = compile_full(o, &p->o, "issuer_o", idx, err)) != ERR_OK)
            return rc;
        p->has_o = true;
    }
    p->pub.product = strdup(product);
    p->pub.category = strdup(category);
    p->pub.source = strdup(source);
    if (p->pub.product == NULL || p->pub.category == NULL || p->pub.source == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    return ERR_OK;
}

static enum err_code load_hostile(const json_t *item, size_t idx, struct catalog_hostile *h,
                                  struct err *err)
{
    const char *spki = member_string(item, "spki_sha256");
    const char *name = member_string(item, "name");
    const char *category = member_string(item, "category");
    const char *source = member_string(item, "source");

    if (!json_is_object(item) || name == NULL || source == NULL)
        return err_set(err, ERR_INVALID, "invalid_catalog",
                       "hostile_spki[%zu]: needs \"name\" and \"source\"", idx);
    if (!catalog_category_valid(category))
        return err_set(err, ERR_INVALID, "invalid_catalog",
                       "hostile_spki[%zu]: unknown category \"%.40s\"", idx,
                       category ? category : "");
    if (spki == NULL || codec_hex_decode(spki, h->spki_sha256, 32, NULL) != ERR_OK)
        return err_set(err, ERR_INVALID, "invalid_catalog",
                       "hostile_spki[%zu]: spki_sha256 must be 64 hex digits", idx);
    h->name = strdup(name);
    h->category = strdup(category);
    h->source = strdup(source);
    if (h->name == NULL || h->category == NULL || h->source == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    return ERR_OK;
}

static int hostile_cmp(const void *a, const void *b)
{
    return memcmp(((const struct catalog_hostile *)a)->spki_sha256,
                  ((const struct catalog_hostile *)b)->spki_sha256, 32);
}

enum err_code catalog_from_json(const json_t *doc, struct catalog **out, struct err *err)
{
    const json_t *version = json_object_get(doc, "version");
    const json_t *products = json_object_get(doc, "products");
    const json_t *hostile = json_object_get(doc, "hostile_spki");
    enum err_code rc = ERR_OK;

    if (!json_is_object(doc) || !json_is_integer(version) || json_integer_value(version) != 1)
        return err_set(err, ERR_INVALID, "invalid_catalog", "catalog needs \"version\": 1");
    if ((products != NULL && !json_is_array(products)) ||
        (hostile != NULL && !json_is_array(hostile)))
        return err_set(err, ERR_INVALID, "invalid_catalog",
                       "\"products\" and \"hostile_spki\" must be arrays");
    size_t np = json_array_size(products), nh = json_array_size(hostile);
    if (np > CATALOG_MAX_ENTRIES || nh > CATALOG_MAX_ENTRIES)
        return err_set(err, ERR_INVALID, "invalid_catalog", "more than %d entries",
                       CATALOG_MAX_ENTRIES);

    struct catalog *cat = calloc(1, sizeof(*cat));
    if (cat == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    cat->products = calloc(np ? np : 1, sizeof(*cat->products));
    cat->hostile = calloc(nh ? nh : 1, sizeof(*cat->hostile));
    if (cat->products == NULL || cat->hostile == NULL) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < np; i++) {
        /* Count first, so catalog_free releases a half-built entry. */
        cat->n_products++;
        if ((rc = load_product(json_array_get(products, i), i, &cat->products[i], err)) != ERR_OK)
            goto out;
    }
    for (size_t i = 0; i < nh; i++) {
        cat->n_hostile++;
        if ((rc = load_hostile(json_array_get(hostile, i), i, &cat->hostile[i], err)) != ERR_OK)
            goto out;
    }
    qsort(cat->hostile, cat->n_hostile, sizeof(*cat->hostile), hostile_cmp);
    for (size_t i = 1; i < cat->n_hostile; i++) {
        if (hostile_cmp(&cat->hostile[i - 1], &cat->hostile[i]) == 0) {
            rc = err_set(err, ERR_INVALID, "invalid_catalog", "duplicate hostile SPKI (%.60s)",
                         cat->hostile[i].name);
            goto out;
        }
    }
    *out = cat;
    cat = NULL;
out:
    catalog_free(cat);
    return rc;
}

enum err_code catalog_load(const char *path, struct catalog **out, struct err *err)
{
    json_error_t jerr;
    if (path == NULL)
        path = CATALOG_DEFAULT_PATH;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        return err_set(err, ERR_INVALID, "invalid_catalog", "%s:%d: %s", path, jerr.line,
                       jerr.text);
    struct err inner;
    err_clear(&inner);
    enum err_code rc = catalog_from_json(doc, out, &inner);
    json_decref(doc);
    if (rc != ERR_OK)
        return err_set(err, rc, inner.key, "%s: %s", path, inner.detail);
    return ERR_OK;
}

static bool re_full(const regex_t *re, const char *value)
{
    return value != NULL && regexec(re, value, 0, NULL, 0) == 0;
}

const struct catalog_product *catalog_match_names(const struct catalog *cat, const char *cn,
                                                  const char *o)
{
    if (cat == NULL || (cn == NULL && o == NULL))
        return NULL;
    for (size_t i = 0; i < cat->n_products; i++) {
        const struct product_entry *p = &cat->products[i];
        if (p->has_cn && !re_full(&p->cn, cn))
            continue;
        if (p->has_o && !re_full(&p->o, o))
            continue;
        return &p->pub;
    }
    return NULL;
}

const struct catalog_product *catalog_match_cert(const struct catalog *cat, const struct cert *c)
{
    if (cat == NULL || c == NULL)
        return NULL;
    const struct catalog_product *p = catalog_match_names(cat, c->issuer_cn, c->issuer_o);
    if (p == NULL && (c->is_ca || c->self_issued))
        p = catalog_match_names(cat, c->subject_cn, c->subject_o);
    return p;
}

const struct catalog_hostile *catalog_hostile_spki(const struct catalog *cat,
                                                   const uint8_t spki[32])
{
    if (cat == NULL || spki == NULL || cat->n_hostile == 0)
        return NULL;
    struct catalog_hostile key;
    memcpy(key.spki_sha256, spki, 32);
    return bsearch(&key, cat->hostile, cat->n_hostile, sizeof(*cat->hostile), hostile_cmp);
}
