#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "base/timeparse.h"
#include "report/rawbody.h"
#include "store/pgcopy.h"
#include "store/store_unit.h"

/* ---- a bounded set of 32-byte keys known to be stored ---- */

#define KNOWN_CAP (1u << 16) /* entries per set; cleared when it fills up */

static size_t slot_of(const uint8_t key[32])
{
    size_t h;
    memcpy(&h, key, sizeof(h));
    return h & (KNOWN_CAP - 1);
}

static bool known_has(const struct store_known *s, const uint8_t key[32])
{
    if (s->keys == NULL)
        return false;
    for (size_t i = slot_of(key), probes = 0; probes < KNOWN_CAP;
         i = (i + 1) & (KNOWN_CAP - 1), probes++) {
        if (!s->used[i])
            return false;
        if (memcmp(s->keys[i], key, 32) == 0)
            return true;
    }
    return false;
}

void store_known_add(struct store_known *s, const uint8_t key[32])
{
    if (s->keys == NULL) {
        s->keys = calloc(KNOWN_CAP, 32);
        s->used = calloc(KNOWN_CAP, sizeof(bool));
        if (s->keys == NULL || s->used == NULL) {
            free(s->keys);
            free(s->used);
            s->keys = NULL;
            s->used = NULL;
            return;
        }
    }
    if (s->n >= KNOWN_CAP * 3 / 4) {
        memset(s->used, 0, KNOWN_CAP * sizeof(bool));
        s->n = 0;
    }
    size_t i = slot_of(key);
    while (s->used[i]) {
        if (memcmp(s->keys[i], key, 32) == 0)
            return;
        i = (i + 1) & (KNOWN_CAP - 1);
    }
    memcpy(s->keys[i], key, 32);
    s->used[i] = true;
    s->n++;
}

static void known_cleanup(struct store_known *s)
{
    free(s->keys);
    free(s->used);
    memset(s, 0, sizeof(*s));
}

struct store *store_new(void)
{
    struct store *st = calloc(1, sizeof(*st));
    if (st != NULL)
        pthread_mutex_init(&st->lock, NULL);
    return st;
}

void store_forget(struct store *st)
{
    pthread_mutex_lock(&st->lock);
    for (size_t t = 0; t < STORE_N_KEYED; t++)
        known_cleanup(&st->known[t]);
    st->n_months = 0;
    pthread_mutex_unlock(&st->lock);
}

void store_free(struct store *st)
{
    if (st == NULL)
        return;
    store_forget(st);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

bool store_knows(struct store *st, enum store_table t, const uint8_t key[32])
{
    pthread_mutex_lock(&st->lock);
    bool has = known_has(&st->known[t], key);
    pthread_mutex_unlock(&st->lock);
    return has;
}

/* ---- units ---- */

/* A row of table t, starting with its kind (the staging table holds every kind). */
static void begin_row(struct pgcopy_row *row, struct store_unit *u, enum store_table t)
{
    static const char kinds[STORE_N_TABLES] = {
        [STORE_CERTIFICATES] = 'c', [STORE_CHAINS] = 'h',  [STORE_FRAGMENTS] = 'f',
        [STORE_BODIES] = 'b',       [STORE_REPORTS] = 'r', [STORE_GROUPS] = 'g'};
    pgcopy_begin(row, &u->rows[t]);
    pgcopy_textn(row, &kinds[t], 1);
}

struct store_unit *store_unit_new(void)
{
    struct store_unit *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    for (size_t t = 0; t < STORE_N_TABLES; t++)
        buf_init(&u->rows[t], 0);
    return u;
}

void store_unit_free(struct store_unit *u)
{
    if (u == NULL)
        return;
    for (size_t t = 0; t < STORE_N_TABLES; t++)
        buf_cleanup(&u->rows[t]);
    free(u);
}

size_t store_unit_reports(const struct store_unit *u)
{
    return u->reports;
}

/* The partition the report goes to must exist before the commit: note its month. */
static enum err_code add_month(struct store_unit *u, int64_t usec)
{
    char text[TIMEPARSE_FMT_LEN];
    timeparse_format(usec, text);
    memcpy(text + 7, "-01T00:00:00Z", sizeof("-01T00:00:00Z")); /* YYYY-MM + first instant */
    int64_t month = 0;
    if (timeparse_parse(text, &month, NULL) != ERR_OK)
        return ERR_INVALID;
    for (size_t i = 0; i < u->n_months; i++) {
        if (u->months[i] == month)
            return ERR_OK;
    }
    if (u->n_months == STORE_UNIT_MONTHS)
        return ERR_TOO_LARGE;
    u->months[u->n_months++] = month;
    return ERR_OK;
}

enum err_code store_unit_add_body(struct store *st, struct store_unit *u, const uint8_t sha256[32],
                                  int64_t received_at, size_t len, const char *media_type,
                                  struct rawbody_split *split, struct err *err)
{
    if (store_knows(st, STORE_BODIES, sha256))
        return ERR_OK;
    enum err_code rc = rawbody_compress(split, err);
    if (rc != ERR_OK)
        return rc;
    struct pgcopy_row row;
    for (size_t i = 0; rc == ERR_OK && i < split->n_frags; i++) {
        const struct rawbody_fragment *f = &split->frags[i];
        if (store_knows(st, STORE_FRAGMENTS, f->sha256))
            continue;
        begin_row(&row, u, STORE_FRAGMENTS);
        pgcopy_bytea(&row, f->sha256, 32);
        pgcopy_bytea(&row, (const uint8_t *)f->data, f->len);
        rc = pgcopy_end(&row);
    }
    if (rc == ERR_OK) {
        begin_row(&row, u, STORE_BODIES);
        pgcopy_bytea(&row, sha256, 32);
        pgcopy_time(&row, received_at);
        pgcopy_int(&row, (int64_t)len);
        pgcopy_bytea(&row, split->tpl, split->tpl_len);
        pgcopy_text(&row, media_type);
        rc = pgcopy_end(&row);
    }
    return rc == ERR_OK ? ERR_OK : err_set(err, rc, NULL, "out of memory");
}

static enum err_code add_certificate(struct store_unit *u, const struct cert *c)
{
    struct pgcopy_row row;
    begin_row(&row, u, STORE_CERTIFICATES);
    pgcopy_bytea(&row, c->sha256, 32);
    pgcopy_bytea(&row, c->spki_sha256, 32);
    pgcopy_bytea(&row, c->der, c->der_len);
    pgcopy_text(&row, c->subject ? c->subject : "");
    pgcopy_text(&row, c->issuer ? c->issuer : "");
    pgcopy_text(&row, c->serial);
    pgcopy_time(&row, c->not_before * 1000000);
    pgcopy_time(&row, c->not_after * 1000000);
    pgcopy_text_array(&row, (const char *const *)c->sans, c->n_sans);
    pgcopy_text(&row, c->key_type);
    pgcopy_int(&row, c->key_bits);
    pgcopy_bool(&row, c->is_ca);
    pgcopy_text(&row, c->sig_alg);
    return pgcopy_end(&row);
}

static const uint8_t *chain_cert_hash(size_t i, const void *ctx)
{
    const struct report_chain *ch = ctx;
    for (size_t k = 0; k < ch->n; k++) {
        if (ch->entries[k].cert != NULL && i-- == 0)
            return ch->entries[k].cert->sha256;
    }
    return NULL; /* not reached: i < the number of decoded entries */
}

static enum err_code add_chain(struct store *st, struct store_unit *u,
                               const struct report_chain *ch, const json_t *analysis)
{
    if (!ch->has_sha256 || store_knows(st, STORE_CHAINS, ch->sha256))
        return ERR_OK;
    size_t decoded = 0;
    for (size_t i = 0; i < ch->n; i++) {
        const struct cert *c = ch->entries[i].cert;
        if (c == NULL)
            continue;
        decoded++;
        if (!store_knows(st, STORE_CERTIFICATES, c->sha256) && add_certificate(u, c) != ERR_OK)
            return ERR_NOMEM;
    }
    struct pgcopy_row row;
    begin_row(&row, u, STORE_CHAINS);
    pgcopy_bytea(&row, ch->sha256, 32);
    pgcopy_hash_array(&row, decoded, chain_cert_hash, ch);
    pgcopy_json(&row, analysis);
    return pgcopy_end(&row);
}

static json_t *undecodable(const struct report_chain *ch)
{
    json_t *arr = NULL;
    for (size_t i = 0; i < ch->n; i++) {
        if (ch->entries[i].cert != NULL)
            continue;
        if (arr == NULL)
            arr = json_array();
        json_array_append_new(
            arr, json_pack("{s:I, s:s?}", "index", (json_int_t)i, "entry", ch->entries[i].opaque));
    }
    return arr;
}

/* Only what is particular to the report (the chain-level part is stored once per chain), as
 * the flags of migration 0008: bit b is the value of finding b, bit b + 6 says it is known. */
static void put_flags(struct pgcopy_row *row, const json_t *findings)
{
    static const char *const keys[] = {"covers_hostname", "valid_at_report_time", "pin_in_chain",
                                       "expected_key",    "leaf_expected",        "linked"};
    if (!json_is_object(findings)) {
        pgcopy_null(row);
        return;
    }
    int64_t flags = 0;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(findings, keys[i]);
        if (json_is_boolean(v))
            flags |= (int64_t)(64 << i) | (json_is_true(v) ? (int64_t)(1 << i) : 0);
    }
    pgcopy_int(row, flags);
}

/* A raw spelling is stored only when it differs from the normalized value (readers coalesce). */
static void put_raw(struct pgcopy_row *row, const char *raw, const char *normalized)
{
    pgcopy_text(row,
                raw != NULL && (normalized == NULL || strcmp(raw, normalized) != 0) ? raw : NULL);
}

static void put_time(struct pgcopy_row *row, const struct report_time *t)
{
    char canonical[TIMEPARSE_FMT_LEN];
    if (t->valid)
        pgcopy_time(row, t->usec);
    else
        pgcopy_null(row);
    put_raw(row, t->raw, t->valid ? timeparse_format(t->usec, canonical) : NULL);
}

static const uint8_t *pin_at(size_t i, const void *ctx)
{
    const struct report *r = ctx;
    return r->known_pins[i];
}

static void put_problems_extra(struct pgcopy_row *row, const struct report *r)
{
    json_t *problems = json_array();
    for (size_t i = 0; i < r->n_problems; i++)
        json_array_append_new(problems, json_pack("{s:s, s:s?}", "code", r->problems[i].code,
                                                  "detail", r->problems[i].detail));
    pgcopy_json(row, problems);
    json_decref(problems);
    json_t *us = undecodable(&r->served), *uv = undecodable(&r->validated);
    if (us == NULL && uv == NULL && r->extra != NULL) {
        pgcopy_json(row, r->extra);
        return;
    }
    json_t *extra = r->extra != NULL ? json_copy(r->extra) : json_object();
    if (us != NULL)
        json_object_set_new(extra, "served_undecodable", us);
    if (uv != NULL)
        json_object_set_new(extra, "validated_undecodable", uv);
    pgcopy_json(row, extra);
    json_decref(extra);
}

/* Columns in the order of STORE_REPORT_COLUMNS (store_unit.h). */
static enum err_code add_report_row(struct store_unit *u, const struct report *r,
                                    const char *group_id, const json_t *findings)
{
    struct pgcopy_row row;
    begin_row(&row, u, STORE_REPORTS);
    pgcopy_text(&row, r->id);
    pgcopy_time(&row, r->received_at);
    pgcopy_text(&row, report_format_name(r->format));
    pgcopy_text(&row, r->hostname);
    put_raw(&row, r->hostname_raw, r->hostname);
    pgcopy_text(&row, r->noted_hostname);
    put_raw(&row, r->noted_hostname_raw, r->noted_hostname);
    if (r->port > 0)
        pgcopy_int(&row, r->port);
    else
        pgcopy_null(&row);
    pgcopy_tristate(&row, r->include_subdomains);
    pgcopy_tristate(&row, r->enforce_pinning);
    if (r->has_validation_result)
        pgcopy_int(&row, r->validation_result);
    else
        pgcopy_null(&row);
    put_time(&row, &r->client_time);
    put_time(&row, &r->pins_expire);
    pgcopy_hash_array(&row, r->n_known_pins, pin_at, r);
    if (r->n_known_pins_raw > 0)
        pgcopy_text_array(&row, (const char *const *)r->known_pins_raw, r->n_known_pins_raw);
    else
        pgcopy_null(&row);
    if (r->served.has_sha256)
        pgcopy_bytea(&row, r->served.sha256, 32);
    else
        pgcopy_null(&row);
    if (r->validated.has_sha256)
        pgcopy_bytea(&row, r->validated.sha256, 32);
    else
        pgcopy_null(&row);
    pgcopy_text(&row, r->app.bundle_id ? r->app.bundle_id : "web");
    pgcopy_text(&row, r->app.version);
    pgcopy_text(&row, r->app.platform);
    pgcopy_text(&row, r->app.platform_version);
    pgcopy_text(&row, r->app.vendor_id);
    pgcopy_text(&row, r->app.sdk);
    pgcopy_text(&row, r->app.sdk_version);
    pgcopy_text(&row, r->client.network[0] ? r->client.network : NULL);
    pgcopy_text(&row, r->client.ip[0] ? r->client.ip : NULL);
    if (r->client.asn > 0)
        pgcopy_int(&row, r->client.asn);
    else
        pgcopy_null(&row);
    pgcopy_text(&row, r->client.as_org);
    pgcopy_text(&row, r->client.country[0] ? r->client.country : NULL);
    pgcopy_text(&row, r->client.user_agent);
    pgcopy_text(&row, group_id);
    put_problems_extra(&row, r);
    pgcopy_bytea(&row, r->raw_sha256, 32);
    put_flags(&row, findings);
    return pgcopy_end(&row);
}

static const char *string_member(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* The group's row: what the verdict needs of the chain, merged into groups at commit. Columns
 * in the order of STORE_GROUP_COLUMNS (store_unit.h). */
static enum err_code add_group_row(struct store_unit *u, const struct report *r,
                                   const struct analysis_result *res)
{
    const json_t *f = res->findings;
    const json_t *cat = json_object_get(f, "catalog"), *host = json_object_get(f, "hostile");
    const json_t *weak = json_object_get(f, "weak");
    const char **weak_items = calloc(json_array_size(weak) + 1, sizeof(*weak_items));
    size_t n_weak = 0;
    if (weak_items == NULL)
        return ERR_NOMEM;
    for (size_t i = 0; i < json_array_size(weak); i++) {
        const char *s = json_string_value(json_array_get(weak, i));
        if (s != NULL)
            weak_items[n_weak++] = s;
    }
    struct pgcopy_row row;
    begin_row(&row, u, STORE_GROUPS);
    pgcopy_text(&row, res->group_id);
    pgcopy_text(&row, r->app.bundle_id ? r->app.bundle_id : "web");
    pgcopy_text(&row, r->hostname);
    if (res->has_anchor) {
        pgcopy_bytea(&row, res->anchor_spki, 32);
        pgcopy_text(&row, res->anchor_subject);
        pgcopy_bool(&row, res->anchor_public);
    } else {
        pgcopy_null(&row);
        pgcopy_null(&row);
        pgcopy_null(&row);
    }
    pgcopy_bool(&row, res->expected_key);
    pgcopy_time(&row, r->received_at);
    pgcopy_time(&row, r->received_at);
    pgcopy_text(&row, string_member(cat, "product"));
    pgcopy_text(&row, string_member(cat, "category"));
    pgcopy_bool(&row, json_is_true(json_object_get(f, "known_hostile")));
    pgcopy_text(&row, string_member(host, "name"));
    pgcopy_text(&row, string_member(host, "category"));
    if (json_is_array(weak))
        pgcopy_text_array(&row, weak_items, n_weak);
    else
        pgcopy_null(&row);
    free(weak_items);
    return pgcopy_end(&row);
}

enum err_code store_unit_add_report(struct store *st, struct store_unit *u, const struct report *r,
                                    const struct analysis_result *res, struct err *err)
{
    enum err_code rc = add_month(u, r->received_at);
    if (rc != ERR_OK)
        return err_set(err, rc, NULL, "cannot place the report's time in a month partition");
    if (add_chain(st, u, &r->served, res->served) != ERR_OK ||
        add_chain(st, u, &r->validated, res->validated) != ERR_OK ||
        add_report_row(u, r, res->group_id, res->findings) != ERR_OK ||
        add_group_row(u, r, res) != ERR_OK)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    u->reports++;
    return ERR_OK;
}
