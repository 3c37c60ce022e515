#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "pin.h"
#include "rawbody.h"
#include "timeparse.h"

/* ---- a bounded set of 32-byte keys known to be stored ---- */

#define KNOWN_CAP (1u << 16) /* entries per set; cleared when it fills up */

struct known_set {
    uint8_t (*keys)[32];
    bool *used;
    size_t n;
};

struct store {
    pthread_mutex_t lock;
    struct known_set certs, chains, frags, bodies;
    int64_t months[64]; /* first-of-month usec values whose partition exists */
    size_t n_months;
};

static size_t slot_of(const uint8_t key[32])
{
    size_t h;
    memcpy(&h, key, sizeof(h));
    return h & (KNOWN_CAP - 1);
}

static bool known_has(const struct known_set *s, const uint8_t key[32])
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

static void known_add(struct known_set *s, const uint8_t key[32])
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

static void known_cleanup(struct known_set *s)
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
    known_cleanup(&st->certs);
    known_cleanup(&st->chains);
    known_cleanup(&st->frags);
    known_cleanup(&st->bodies);
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

static bool store_knows(struct store *st, struct known_set *s, const uint8_t key[32])
{
    pthread_mutex_lock(&st->lock);
    bool has = known_has(s, key);
    pthread_mutex_unlock(&st->lock);
    return has;
}

/* ---- JSON row helpers ---- */

json_t *store_json_bytea(const uint8_t *data, size_t len)
{
    char *text = malloc(2 * len + 3);
    if (text == NULL)
        return NULL;
    text[0] = '\\';
    text[1] = 'x';
    pin_hex_encode(data, len, text + 2);
    text[2 * len + 2] = '\0';
    json_t *s = json_string(text);
    free(text);
    return s;
}

#define j_bytea store_json_bytea

static json_t *j_str(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *store_json_time(int64_t usec)
{
    char buf[TIMEPARSE_FMT_LEN];
    return json_string(timeparse_format(usec, buf));
}

#define j_time store_json_time

static json_t *j_tristate(int v)
{
    return v < 0 ? json_null() : json_boolean(v);
}

json_t *store_unit_new(void)
{
    return json_pack("{s:[], s:[], s:[], s:[], s:[], s:[], s:[]}", "months", "certificates",
                     "chains", "fragments", "bodies", "reports", "groups");
}

enum err_code store_unit_append(json_t *unit, const char *table, json_t *row_take)
{
    json_t *arr = json_object_get(unit, table);
    if (arr == NULL) {
        arr = json_array();
        if (json_object_set_new(unit, table, arr) != 0)
            arr = NULL;
    }
    if (row_take == NULL || arr == NULL || json_array_append_new(arr, row_take) != 0)
        return ERR_NOMEM;
    return ERR_OK;
}

size_t store_unit_reports(const json_t *unit)
{
    return json_array_size(json_object_get(unit, "reports"));
}

static void add_month(json_t *unit, int64_t usec)
{
    char buf[TIMEPARSE_FMT_LEN];
    timeparse_format(usec, buf);
    buf[7] = '\0'; /* YYYY-MM */
    json_t *months = json_object_get(unit, "months");
    size_t i;
    json_t *m;
    json_array_foreach(months, i, m)
    {
        if (strcmp(json_string_value(m), buf) == 0)
            return;
    }
    json_array_append_new(months, json_string(buf));
}

enum err_code store_unit_add_body(struct store *st, json_t *unit, const uint8_t sha256[32],
                                  int64_t received_at, const char *body, size_t len,
                                  struct err *err)
{
    if (store_knows(st, &st->bodies, sha256))
        return ERR_OK;
    struct rawbody_split split;
    enum err_code rc = rawbody_split(body, len, &split, err);
    if (rc != ERR_OK)
        return rc;
    if ((rc = rawbody_compress(&split, err)) != ERR_OK) {
        rawbody_split_cleanup(&split);
        return rc;
    }
    for (size_t i = 0; i < split.n_frags; i++) {
        const struct rawbody_fragment *f = &split.frags[i];
        if (store_knows(st, &st->frags, f->sha256))
            continue;
        json_t *row = json_object();
        json_object_set_new(row, "sha256", j_bytea(f->sha256, 32));
        json_object_set_new(row, "bytes", j_bytea((const uint8_t *)f->data, f->len));
        if (store_unit_append(unit, "fragments", row) != ERR_OK)
            rc = ERR_NOMEM;
    }
    json_t *row = json_object();
    json_object_set_new(row, "sha256", j_bytea(sha256, 32));
    json_object_set_new(row, "received_at", j_time(received_at));
    json_object_set_new(row, "length", json_integer((json_int_t)len));
    json_object_set_new(row, "template", j_bytea(split.tpl, split.tpl_len));
    if (store_unit_append(unit, "bodies", row) != ERR_OK)
        rc = ERR_NOMEM;
    rawbody_split_cleanup(&split);
    return rc == ERR_OK ? ERR_OK : err_set(err, rc, NULL, "out of memory");
}

static json_t *cert_row(const struct cert *c)
{
    json_t *sans = json_array();
    for (size_t i = 0; i < c->n_sans; i++)
        json_array_append_new(sans, json_string(c->sans[i]));
    json_t *row = json_object();
    json_object_set_new(row, "sha256", j_bytea(c->sha256, 32));
    json_object_set_new(row, "spki_sha256", j_bytea(c->spki_sha256, 32));
    json_object_set_new(row, "der", j_bytea(c->der, c->der_len));
    json_object_set_new(row, "subject", j_str(c->subject ? c->subject : ""));
    json_object_set_new(row, "issuer", j_str(c->issuer ? c->issuer : ""));
    json_object_set_new(row, "serial", j_str(c->serial));
    json_object_set_new(row, "not_before", j_time(c->not_before * 1000000));
    json_object_set_new(row, "not_after", j_time(c->not_after * 1000000));
    json_object_set_new(row, "sans", sans);
    json_object_set_new(row, "key_type", j_str(c->key_type));
    json_object_set_new(row, "key_bits", json_integer(c->key_bits));
    json_object_set_new(row, "is_ca", json_boolean(c->is_ca));
    json_object_set_new(row, "sig_alg", j_str(c->sig_alg));
    return row;
}

static enum err_code add_chain(struct store *st, json_t *unit, const struct report_chain *ch,
                               json_t *analysis)
{
    if (!ch->has_sha256 || store_knows(st, &st->chains, ch->sha256))
        return ERR_OK;
    json_t *certs = json_array();
    for (size_t i = 0; i < ch->n; i++) {
        const struct cert *c = ch->entries[i].cert;
        if (c == NULL)
            continue;
        json_array_append_new(certs, j_bytea(c->sha256, 32));
        if (!store_knows(st, &st->certs, c->sha256) &&
            store_unit_append(unit, "certificates", cert_row(c)) != ERR_OK)
            return ERR_NOMEM;
    }
    json_t *row = json_object();
    json_object_set_new(row, "sha256", j_bytea(ch->sha256, 32));
    json_object_set_new(row, "certs", certs);
    json_object_set(row, "analysis", analysis != NULL ? analysis : json_null());
    return store_unit_append(unit, "chains", row);
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
static json_t *report_flags(json_t *findings)
{
    static const char *const keys[] = {"covers_hostname", "valid_at_report_time", "pin_in_chain",
                                       "expected_key",    "leaf_expected",        "linked"};
    if (!json_is_object(findings))
        return json_null();
    json_int_t flags = 0;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(findings, keys[i]);
        if (json_is_boolean(v))
            flags |= (json_int_t)(64 << i) | (json_is_true(v) ? (json_int_t)(1 << i) : 0);
    }
    return json_integer(flags);
}

/* A raw spelling is stored only when it differs from the normalized value (readers coalesce). */
static json_t *raw_unless(const char *raw, const char *normalized)
{
    return raw != NULL && (normalized == NULL || strcmp(raw, normalized) != 0) ? json_string(raw)
                                                                               : json_null();
}

static json_t *raw_time(const struct report_time *t)
{
    char canonical[TIMEPARSE_FMT_LEN];
    return raw_unless(t->raw, t->valid ? timeparse_format(t->usec, canonical) : NULL);
}

static json_t *report_row(const struct report *r, const char *group_id, json_t *findings)
{
    json_t *row = json_object();
    json_object_set_new(row, "id", json_string(r->id));
    json_object_set_new(row, "received_at", j_time(r->received_at));
    json_object_set_new(row, "format", json_string(report_format_name(r->format)));
    json_object_set_new(row, "hostname", j_str(r->hostname));
    json_object_set_new(row, "hostname_raw", raw_unless(r->hostname_raw, r->hostname));
    json_object_set_new(row, "noted_hostname", j_str(r->noted_hostname));
    json_object_set_new(row, "noted_hostname_raw",
                        raw_unless(r->noted_hostname_raw, r->noted_hostname));
    json_object_set_new(row, "port", r->port > 0 ? json_integer(r->port) : json_null());
    json_object_set_new(row, "include_subdomains", j_tristate(r->include_subdomains));
    json_object_set_new(row, "enforce_pinning", j_tristate(r->enforce_pinning));
    json_object_set_new(row, "validation_result",
                        r->has_validation_result ? json_integer(r->validation_result)
                                                 : json_null());
    if (r->client_time.valid)
        json_object_set_new(row, "client_time", j_time(r->client_time.usec));
    json_object_set_new(row, "client_time_raw", raw_time(&r->client_time));
    if (r->pins_expire.valid)
        json_object_set_new(row, "pins_expire", j_time(r->pins_expire.usec));
    json_object_set_new(row, "pins_expire_raw", raw_time(&r->pins_expire));
    json_t *pins = json_array();
    for (size_t i = 0; i < r->n_known_pins; i++)
        json_array_append_new(pins, j_bytea(r->known_pins[i], 32));
    json_object_set_new(row, "known_pins", pins);
    if (r->n_known_pins_raw > 0) {
        json_t *raw = json_array();
        for (size_t i = 0; i < r->n_known_pins_raw; i++)
            json_array_append_new(raw, json_string(r->known_pins_raw[i]));
        json_object_set_new(row, "known_pins_raw", raw);
    }
    if (r->served.has_sha256)
        json_object_set_new(row, "served_chain", j_bytea(r->served.sha256, 32));
    if (r->validated.has_sha256)
        json_object_set_new(row, "validated_chain", j_bytea(r->validated.sha256, 32));
    json_object_set_new(row, "app_bundle_id", j_str(r->app.bundle_id ? r->app.bundle_id : "web"));
    json_object_set_new(row, "app_version", j_str(r->app.version));
    json_object_set_new(row, "platform", j_str(r->app.platform));
    json_object_set_new(row, "platform_version", j_str(r->app.platform_version));
    json_object_set_new(row, "vendor_id", j_str(r->app.vendor_id));
    json_object_set_new(row, "sdk", j_str(r->app.sdk));
    json_object_set_new(row, "sdk_version", j_str(r->app.sdk_version));
    if (r->client.network[0])
        json_object_set_new(row, "network", json_string(r->client.network));
    if (r->client.ip[0])
        json_object_set_new(row, "client_ip", json_string(r->client.ip));
    if (r->client.asn > 0)
        json_object_set_new(row, "asn", json_integer(r->client.asn));
    json_object_set_new(row, "as_org", j_str(r->client.as_org));
    if (r->client.country[0])
        json_object_set_new(row, "country", json_string(r->client.country));
    json_object_set_new(row, "user_agent", j_str(r->client.user_agent));
    json_object_set_new(row, "group_id", j_str(group_id));
    json_object_set_new(row, "flags", report_flags(findings));
    json_t *problems = json_array();
    for (size_t i = 0; i < r->n_problems; i++)
        json_array_append_new(problems, json_pack("{s:s, s:s?}", "code", r->problems[i].code,
                                                  "detail", r->problems[i].detail));
    json_object_set_new(row, "problems", problems);
    json_t *extra = r->extra != NULL ? json_deep_copy(r->extra) : json_object();
    json_t *us = undecodable(&r->served), *uv = undecodable(&r->validated);
    if (us != NULL)
        json_object_set_new(extra, "served_undecodable", us);
    if (uv != NULL)
        json_object_set_new(extra, "validated_undecodable", uv);
    json_object_set_new(row, "extra", extra);
    json_object_set_new(row, "raw_sha256", j_bytea(r->raw_sha256, 32));
    return row;
}

enum err_code store_unit_add_report(struct store *st, json_t *unit, const struct report *r,
                                    const char *group_id, json_t *findings, json_t *served_analysis,
                                    json_t *validated_analysis, struct err *err)
{
    add_month(unit, r->received_at);
    if (add_chain(st, unit, &r->served, served_analysis) != ERR_OK ||
        add_chain(st, unit, &r->validated, validated_analysis) != ERR_OK ||
        store_unit_append(unit, "reports", report_row(r, group_id, findings)) != ERR_OK)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    return ERR_OK;
}

/* ---- commit ---- */

static const char *const tables[] = {"certificates", "chains",  "fragments",
                                     "bodies",       "reports", "groups"};
#define N_TABLES 6

/* One call, one transaction: migrations/0005_store_batch_plpgsql.sql (pinwatch_store_batch). */
static const char COMMIT_SQL[] = "SELECT pinwatch_store_batch($1, $2, $3, $4, $5, $6)";

static enum err_code ensure_months(struct store *st, PGconn *conn, json_t *const *units, size_t n,
                                   struct err *err)
{
    for (size_t u = 0; u < n; u++) {
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(units[u], "months"), i, m)
        {
            char ts[32];
            snprintf(ts, sizeof(ts), "%s-01T00:00:00Z", json_string_value(m));
            int64_t usec = 0;
            if (timeparse_parse(ts, &usec, NULL) != ERR_OK)
                continue;
            bool known = false;
            pthread_mutex_lock(&st->lock);
            for (size_t k = 0; k < st->n_months; k++)
                known = known || st->months[k] == usec;
            pthread_mutex_unlock(&st->lock);
            if (known)
                continue;
            const char *params[] = {ts};
            PGresult *res = PQexecParams(conn, "SELECT pinwatch_ensure_partition($1)", 1, NULL,
                                         params, NULL, NULL, 0);
            enum err_code rc = ERR_OK;
            if (PQresultStatus(res) != PGRES_TUPLES_OK)
                rc = db_result_error(conn, res, "creating a partition", err);
            PQclear(res);
            if (rc != ERR_OK)
                return rc;
            pthread_mutex_lock(&st->lock);
            if (st->n_months < sizeof(st->months) / sizeof(st->months[0]))
                st->months[st->n_months++] = usec;
            pthread_mutex_unlock(&st->lock);
        }
    }
    return ERR_OK;
}

static void learn(struct store *st, json_t *const *units, size_t n)
{
    struct known_set *sets[] = {&st->certs, &st->chains, &st->frags, &st->bodies};
    pthread_mutex_lock(&st->lock);
    for (size_t t = 0; t < 4; t++) {
        for (size_t u = 0; u < n; u++) {
            size_t i;
            json_t *row;
            json_array_foreach(json_object_get(units[u], tables[t]), i, row)
            {
                const char *hex = json_string_value(json_object_get(row, "sha256"));
                uint8_t key[32];
                if (hex != NULL && strlen(hex) == 66 &&
                    pin_hex_decode(hex + 2, key, 32, NULL) == ERR_OK)
                    known_add(sets[t], key);
            }
        }
    }
    pthread_mutex_unlock(&st->lock);
}

enum err_code store_unit_seal(json_t *unit)
{
    json_t *sealed = json_object();
    if (sealed == NULL)
        return ERR_NOMEM;
    for (size_t t = 0; t < N_TABLES; t++) {
        char *text = json_dumps(json_object_get(unit, tables[t]), JSON_COMPACT);
        if (text == NULL || json_object_set_new(sealed, tables[t], json_string(text)) != 0) {
            free(text);
            json_decref(sealed);
            return ERR_NOMEM;
        }
        free(text);
    }
    return json_object_set_new(unit, STORE_SEALED_KEY, sealed) == 0 ? ERR_OK : ERR_NOMEM;
}

/* The rows of one table across units as one JSON array: the units' sealed texts joined (no
 * re-serialisation on the writer thread), or a fresh dump for units that were not sealed. */
static enum err_code merge_table(json_t *const *units, size_t n, size_t t, struct buf *out)
{
    enum err_code rc = buf_append(out, "[", 1);
    bool first = true;
    for (size_t u = 0; rc == ERR_OK && u < n; u++) {
        const char *text = json_string_value(
            json_object_get(json_object_get(units[u], STORE_SEALED_KEY), tables[t]));
        char *own = NULL;
        if (text == NULL)
            text = own = json_dumps(json_object_get(units[u], tables[t]), JSON_COMPACT);
        if (text == NULL)
            return ERR_NOMEM;
        size_t len = strlen(text);
        /* "[...]" minus its brackets; "[]" adds nothing */
        if (len > 2) {
            if (!first)
                rc = buf_append(out, ",", 1);
            if (rc == ERR_OK)
                rc = buf_append(out, text + 1, len - 2);
            first = false;
        }
        free(own);
    }
    return rc == ERR_OK ? buf_append(out, "]", 1) : rc;
}

enum err_code store_commit(struct store *st, PGconn *conn, json_t *const *units, size_t n,
                           struct err *err)
{
    enum err_code rc = ensure_months(st, conn, units, n, err);
    if (rc != ERR_OK)
        return rc;
    struct buf params[N_TABLES];
    const char *values[N_TABLES];
    for (size_t t = 0; t < N_TABLES; t++)
        buf_init(&params[t], 0);
    for (size_t t = 0; t < N_TABLES; t++) {
        if (merge_table(units, n, t, &params[t]) != ERR_OK) {
            rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
            goto out;
        }
        values[t] = params[t].data;
    }
    PGresult *res = PQexecParams(conn, COMMIT_SQL, N_TABLES, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = db_result_error(conn, res, "storing reports", err);
    PQclear(res);
    if (rc == ERR_OK)
        learn(st, units, n);
out:
    for (size_t t = 0; t < N_TABLES; t++)
        buf_cleanup(&params[t]);
    return rc;
}
