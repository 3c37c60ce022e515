#include "analysis/pinsets.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/expected_keys.h"
#include "analysis/trust_store.h"
#include "base/timeparse.h"
#include "db/db.h"
#include "report/cert.h"
#include "report/pem_list.h"
#include "report/pin.h"

#define DAY_USEC         (86400LL * 1000000)
#define EXPIRY_WARN_DAYS 30

/* The columns of pinwatch_pinsets (sql/functions/70_reports.sql), by name. */
enum ps_col {
    PS_APP,
    PS_VERSION,
    PS_HOSTNAME,
    PS_PINS,
    PS_REPORTS,
    PS_DEVICES,
    PS_FIRST_SEEN,
    PS_LAST_SEEN,
    PS_PINS_EXPIRE,
    PS_PINS_EXPIRE_USEC,
    PS_UNSEEN_PINS,
    PS_N
};
static const char *const ps_names[PS_N] = {
    [PS_APP] = "app",
    [PS_VERSION] = "version",
    [PS_HOSTNAME] = "hostname",
    [PS_PINS] = "pins",
    [PS_REPORTS] = "reports",
    [PS_DEVICES] = "devices",
    [PS_FIRST_SEEN] = "first_seen",
    [PS_LAST_SEEN] = "last_seen",
    [PS_PINS_EXPIRE] = "pins_expire",
    [PS_PINS_EXPIRE_USEC] = "pins_expire_usec",
    [PS_UNSEEN_PINS] = "unseen_pins",
};

/* The pin sets of a window, and where their columns are. */
struct pinset_rows {
    PGresult *res;
    int c[PS_N];
};

static const char *ps_value(const struct pinset_rows *r, int row, enum ps_col col)
{
    return PQgetvalue(r->res, row, r->c[col]);
}

static json_t *split_list(const char *text)
{
    json_t *arr = json_array();
    for (const char *p = text; p != NULL && *p;) {
        size_t n = strcspn(p, ",");
        json_array_append_new(arr, json_stringn(p, n));
        p += n;
        if (*p == ',')
            p++;
    }
    return arr;
}

static void finding(json_t *list, const char *code, const char *fmt, ...) ERR_PRINTF(3, 4);

static void finding(json_t *list, const char *code, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    json_array_append_new(list, json_pack("{s:s, s:s}", "code", code, "detail", detail));
}

static bool any_pin_expected(const struct expected_keys *ek, const char *host, json_t *pins)
{
    size_t i;
    json_t *p;
    json_array_foreach(pins, i, p)
    {
        uint8_t spki[32];
        const char *b64 = json_string_value(p);
        if (pin_from_base64(b64, strlen(b64), spki, NULL) == ERR_OK &&
            expected_keys_match(ek, host, spki) != NULL)
            return true;
    }
    return false;
}

/* Health findings of one pin set (row i). */
static json_t *health(const struct pinset_rows *r, int i, json_t *pins,
                      const struct expected_keys *ek, int64_t now)
{
    json_t *list = json_array();
    const char *host = ps_value(r, i, PS_HOSTNAME);
    size_t n = json_array_size(pins);
    if (n == 1)
        finding(list, "single_pin",
                "only one pin: no backup key is pinned, so replacing that key breaks this app "
                "version");
    if (!PQgetisnull(r->res, i, r->c[PS_PINS_EXPIRE_USEC])) {
        int64_t expire = strtoll(ps_value(r, i, PS_PINS_EXPIRE_USEC), NULL, 10);
        if (expire < now)
            finding(list, "pins_expired",
                    "the pin policy expired on %s: TrustKit no longer enforces it",
                    ps_value(r, i, PS_PINS_EXPIRE));
        else if (expire < now + EXPIRY_WARN_DAYS * DAY_USEC)
            finding(list, "pins_expire_soon", "the pin policy expires on %s, within %d days",
                    ps_value(r, i, PS_PINS_EXPIRE), EXPIRY_WARN_DAYS);
    }
    if (expected_keys_has_host(ek, host) && !any_pin_expected(ek, host, pins))
        finding(list, "no_expected_key",
                "none of the %zu pins is a key declared for %s: every connection fails once "
                "pinning is enforced",
                n, host);
    json_t *unseen = split_list(ps_value(r, i, PS_UNSEEN_PINS));
    if (json_array_size(unseen) == n)
        finding(list, "pins_never_served", "none of the %zu pins was ever seen in a reported chain",
                n);
    else if (json_array_size(unseen) > 0)
        finding(list, "pin_not_served",
                "%zu of %zu pins were never seen in a reported chain (a backup key not yet "
                "deployed, or a mistake)",
                json_array_size(unseen), n);
    json_decref(unseen);
    return list;
}

static enum err_code query(PGconn *conn, const struct pinsets_filter *f, struct pinset_rows *out,
                           struct err *err)
{
    char from[TIMEPARSE_FMT_LEN], to[TIMEPARSE_FMT_LEN];
    timeparse_format(f->from, from);
    timeparse_format(f->to, to);
    const char *params[] = {from, to, f->app, f->hostname};
    PGresult *res = PQexecParams(
        conn, "SELECT * FROM pinwatch_pinsets($1::timestamptz, $2::timestamptz, $3, $4)", 4, NULL,
        params, NULL, NULL, 0);
    enum err_code rc = PQresultStatus(res) == PGRES_TUPLES_OK
                           ? db_columns(res, ps_names, PS_N, out->c, err)
                           : db_result_error(conn, res, "listing pin sets", err);
    if (rc != ERR_OK) {
        PQclear(res);
        return rc;
    }
    out->res = res;
    return ERR_OK;
}

static json_t *row_json(const struct pinset_rows *r, int i)
{
    json_t *pins = split_list(ps_value(r, i, PS_PINS));
    return json_pack("{s:s, s:s?, s:s, s:o, s:I, s:I, s:s, s:s, s:o}", "app",
                     ps_value(r, i, PS_APP), "version",
                     PQgetisnull(r->res, i, r->c[PS_VERSION]) ? NULL : ps_value(r, i, PS_VERSION),
                     "hostname", ps_value(r, i, PS_HOSTNAME), "pins", pins, "reports",
                     (json_int_t)strtoll(ps_value(r, i, PS_REPORTS), NULL, 10), "devices",
                     (json_int_t)strtoll(ps_value(r, i, PS_DEVICES), NULL, 10), "first_seen",
                     ps_value(r, i, PS_FIRST_SEEN), "last_seen", ps_value(r, i, PS_LAST_SEEN),
                     "pins_expire", split_list(ps_value(r, i, PS_PINS_EXPIRE)));
}

enum err_code pinsets_list(PGconn *conn, const struct pinsets_filter *f,
                           const struct expected_keys *ek, int64_t now_usec, json_t **out,
                           struct err *err)
{
    struct pinset_rows rows;
    enum err_code rc = query(conn, f, &rows, err);
    if (rc != ERR_OK)
        return rc;
    json_t *list = json_array();
    for (int i = 0; i < PQntuples(rows.res); i++) {
        json_t *row = row_json(&rows, i);
        json_object_set_new(row, "findings",
                            health(&rows, i, json_object_get(row, "pins"), ek, now_usec));
        json_array_append_new(list, row);
    }
    PQclear(rows.res);
    *out = json_pack("{s:o}", "pinsets", list);
    return ERR_OK;
}

static void add_candidate(json_t *certs, uint8_t (*spkis)[32], size_t *n, const struct cert *c,
                          bool from_store)
{
    memcpy(spkis[(*n)++], c->spki_sha256, 32);
    char b64[PIN_B64_LEN + 1];
    pin_to_base64(c->spki_sha256, b64);
    json_t *o = json_pack("{s:s, s:s}", "subject", c->subject ? c->subject : "", "pin", b64);
    if (from_store)
        json_object_set_new(o, "trust_store_root", json_true());
    json_array_append_new(certs, o);
}

/* SPKI pins of every certificate in the PEM text, plus the trust-store root that issued the
 * last one (TrustKit checks pins against the validated chain, which ends at that root). A
 * block that does not decode is left out, as text between blocks is. */
static enum err_code candidate(const char *pem, size_t len, const struct trust_store *ts,
                               json_t **certs, uint8_t (**spkis)[32], size_t *n, struct err *err)
{
    struct pem_list list;
    enum err_code rc = pem_list_read(pem, len, PEM_LIST_SKIP_BAD, &list, err);
    if (rc == ERR_OK && list.n == 0)
        rc = err_set(err, ERR_INVALID, "invalid_chain", "no PEM certificate in the body");
    *certs = NULL;
    *spkis = NULL;
    *n = 0;
    if (rc == ERR_OK) {
        *certs = json_array();
        *spkis = malloc((list.n + 1) * sizeof(**spkis));
        if (*certs == NULL || *spkis == NULL)
            rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; rc == ERR_OK && i < list.n; i++)
        add_candidate(*certs, *spkis, n, list.certs[i], false);
    const struct cert *root =
        rc == ERR_OK && ts != NULL ? trust_store_find_issuer(ts, list.certs[list.n - 1]) : NULL;
    if (root != NULL)
        add_candidate(*certs, *spkis, n, root, true);
    pem_list_cleanup(&list);
    if (rc != ERR_OK) {
        json_decref(*certs);
        free(*spkis);
        *certs = NULL;
        *spkis = NULL;
        *n = 0;
    }
    return rc;
}

static int cmp_risk(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int bx = json_is_true(json_object_get(x, "breaks")),
        by = json_is_true(json_object_get(y, "breaks"));
    if (bx != by)
        return by - bx;
    json_int_t dx = json_integer_value(json_object_get(x, "devices"));
    json_int_t dy = json_integer_value(json_object_get(y, "devices"));
    return dx < dy ? 1 : (dx > dy ? -1 : 0);
}

enum err_code pinsets_rotation_check(PGconn *conn, const char *hostname, const char *pem,
                                     size_t len, const struct trust_store *ts, int64_t now_usec,
                                     json_t **out, struct err *err)
{
    json_t *certs = NULL;
    uint8_t(*spkis)[32] = NULL;
    size_t n = 0;
    enum err_code rc = candidate(pem, len, ts, &certs, &spkis, &n, err);
    if (rc != ERR_OK)
        return rc;
    struct pinsets_filter f = {
        .hostname = hostname, .from = now_usec - 30 * DAY_USEC, .to = now_usec};
    struct pinset_rows found;
    if ((rc = query(conn, &f, &found, err)) != ERR_OK) {
        json_decref(certs);
        free(spkis);
        return rc;
    }
    int rows = PQntuples(found.res);
    json_t **sets = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*sets));
    json_int_t breaking = 0, devices = 0, reports = 0;
    for (int i = 0; sets != NULL && i < rows; i++) {
        json_t *row = row_json(&found, i);
        json_t *matching = json_array();
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(row, "pins"), k, p)
        {
            uint8_t spki[32];
            const char *b64 = json_string_value(p);
            if (pin_from_base64(b64, strlen(b64), spki, NULL) == ERR_OK &&
                pin_in_set(spki, (const uint8_t(*)[PIN_LEN])spkis, n))
                json_array_append(matching, p);
        }
        bool breaks = json_array_size(matching) == 0;
        json_object_set_new(row, "breaks", json_boolean(breaks));
        json_object_set_new(row, "matching_pins", matching);
        if (breaks) {
            breaking++;
            devices += json_integer_value(json_object_get(row, "devices"));
            reports += json_integer_value(json_object_get(row, "reports"));
        }
        sets[i] = row;
    }
    PQclear(found.res);
    free(spkis);
    if (sets == NULL) {
        json_decref(certs);
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    }
    qsort(sets, (size_t)rows, sizeof(*sets), cmp_risk);
    json_t *list = json_array();
    for (int i = 0; i < rows; i++)
        json_array_append_new(list, sets[i]);
    free(sets);
    *out = json_pack("{s:s, s:o, s:o, s:I, s:I, s:I}", "hostname", hostname, "candidate", certs,
                     "pinsets", list, "breaking", breaking, "devices_at_risk", devices,
                     "reports_at_risk", reports);
    return ERR_OK;
}
