#include "analysis/policy.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/expected_keys.h"
#include "report/pin.h"

#define DAY_USEC (86400LL * 1000000)

void policy_free(struct policy *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++) {
        struct policy_domain *d = &p->domains[i];
        free(d->domain);
        for (size_t k = 0; k < d->n_pins; k++)
            free(d->pins[k].text);
        free(d->pins);
        free(d->expiration);
        for (size_t k = 0; k < d->n_report_uris; k++)
            free(d->report_uris[k]);
        free(d->report_uris);
    }
    free(p->domains);
    free(p);
}

/* ---- findings ------------------------------------------------------------------------- */

static void finding(json_t *list, const char *code, const char *severity, const char *fmt, ...)
    ERR_PRINTF(4, 5);

static void finding(json_t *list, const char *code, const char *severity, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    json_array_append_new(
        list, json_pack("{s:s, s:s, s:s}", "code", code, "severity", severity, "detail", detail));
}

static bool in_keys(const uint8_t spki[32], const struct policy_chain *ch)
{
    return pin_in_set(spki, (const uint8_t(*)[32])ch->keys, ch->n_keys);
}

/* Pins against the served keys: from the chain when there is one, else the declared keys. */
static void check_keys(const struct policy_domain *d, const struct policy_check_opts *o,
                       json_t *list)
{
    struct policy_chain ch = {0};
    bool have_chain = o->chain != NULL && o->chain(o->chain_ctx, d->domain, &ch);
    bool declared = o->ek != NULL && expected_keys_has_host(o->ek, d->domain);
    size_t served = 0, leaf = 0, valid = 0;
    for (size_t i = 0; i < d->n_pins; i++) {
        const struct policy_pin *p = &d->pins[i];
        if (!p->valid)
            continue;
        valid++;
        const char *label = o->ek != NULL ? expected_keys_match(o->ek, d->domain, p->spki) : NULL;
        if (label != NULL && strcmp(label, "cdn") == 0)
            finding(list, "cdn_pinned", "warning",
                    "pin %s is a key labelled cdn, which the CDN may change without notice",
                    p->text);
        bool is_served =
            have_chain ? in_keys(p->spki, &ch) : label != NULL && strcmp(label, "backup") != 0;
        bool is_leaf = have_chain ? ch.has_leaf && memcmp(p->spki, ch.leaf, 32) == 0
                                  : label != NULL && strcmp(label, "current") == 0;
        served += is_served;
        leaf += is_served && is_leaf;
    }
    free(ch.keys);
    if (!have_chain && !declared)
        return; /* nothing known of what the server serves */
    if (served == 0 && valid > 0)
        finding(list, "misses_current_key", "error",
                "none of the %zu pins is a key of the %s, so this build fails on every "
                "connection",
                valid, have_chain ? "current chain" : "keys declared as served");
    else if (served > 0 && leaf == served)
        finding(list, "leaf_only", "warning",
                "the only pins that match are leaf keys: every key change needs a release");
}

static void check_expiration(const struct policy_domain *d, int64_t now, json_t *list)
{
    if (d->expiration == NULL) {
        finding(list, "no_expiration", "warning",
                "no expiration date: a stale build keeps enforcing these pins forever");
    } else if (!d->expiration_ok) {
        finding(list, "no_expiration", "warning", "expiration '%s' is not a YYYY-MM-DD date",
                d->expiration);
    } else if (d->expires_at <= now) {
        finding(list, "expired", "error", "the pins expired on %s and are no longer checked",
                d->expiration);
    } else if (d->expires_at - now <= POLICY_EXPIRES_SOON_DAYS * DAY_USEC) {
        finding(list, "expires_soon", "warning", "the pins expire on %s, within %d days",
                d->expiration, POLICY_EXPIRES_SOON_DAYS);
    }
}

static void check_reporting(const struct policy_domain *d, const char *public_url, json_t *list)
{
    if (!d->enforce)
        finding(list, "not_enforced", "info",
                "report-only: a mismatch is reported, the connection still succeeds");
    if (d->n_report_uris == 0) {
        finding(list, "no_report_uri", "warning", "no report URI: failures would go unreported");
        return;
    }
    size_t plen = public_url != NULL ? strlen(public_url) : 0;
    while (plen > 0 && public_url[plen - 1] == '/')
        plen--;
    for (size_t i = 0; plen > 0 && i < d->n_report_uris; i++) {
        const char *u = d->report_uris[i];
        if (strncmp(u, public_url, plen) != 0 || (u[plen] != '\0' && u[plen] != '/'))
            finding(list, "report_uri_elsewhere", "info", "reports also go to %s, not to %.*s", u,
                    (int)plen, public_url);
    }
}

static json_t *domain_json(const struct policy_domain *d, const struct policy_check_opts *o)
{
    json_t *pins = json_array(), *uris = json_array(), *list = json_array();
    for (size_t i = 0; i < d->n_pins; i++) {
        json_array_append_new(pins, json_string(d->pins[i].text));
        if (!d->pins[i].valid)
            finding(list, "bad_pin", "error", "'%s' is not the base64 of a SHA-256 digest",
                    d->pins[i].text);
    }
    for (size_t i = 0; i < d->n_report_uris; i++)
        json_array_append_new(uris, json_string(d->report_uris[i]));
    check_keys(d, o, list);
    size_t valid = 0;
    for (size_t i = 0; i < d->n_pins; i++)
        valid += d->pins[i].valid;
    if (valid < 2)
        finding(list, "no_backup_pin", "warning",
                "%zu valid pin%s: without a backup pin, losing that key breaks this build", valid,
                valid == 1 ? "" : "s");
    check_expiration(d, o->now_usec, list);
    check_reporting(d, o->public_url, list);
    return json_pack("{s:s, s:b, s:o, s:s?, s:b, s:o, s:o}", "domain", d->domain,
                     "include_subdomains", d->include_subdomains, "pins", pins, "expiration",
                     d->expiration, "enforce", d->enforce, "report_uris", uris, "findings", list);
}

json_t *policy_check(const struct policy *p, const struct policy_check_opts *opts)
{
    json_t *domains = json_array();
    for (size_t i = 0; domains != NULL && i < p->n; i++)
        json_array_append_new(domains, domain_json(&p->domains[i], opts));
    return json_pack("{s:o}", "domains", domains);
}

bool policy_has_error(const json_t *result)
{
    size_t i, k;
    const json_t *d, *f;
    json_array_foreach(json_object_get(result, "domains"), i, d)
    {
        json_array_foreach(json_object_get(d, "findings"), k, f)
        {
            if (strcmp(json_string_value(json_object_get(f, "severity")), "error") == 0)
                return true;
        }
    }
    return false;
}

void policy_print(const json_t *result, FILE *out)
{
    size_t i, k;
    const json_t *d, *f;
    json_array_foreach(json_object_get(result, "domains"), i, d)
    {
        const json_t *exp = json_object_get(d, "expiration");
        fprintf(out, "%s%s: %zu pins, %s, expires %s\n",
                json_string_value(json_object_get(d, "domain")),
                json_is_true(json_object_get(d, "include_subdomains")) ? " (and subdomains)" : "",
                json_array_size(json_object_get(d, "pins")),
                json_is_true(json_object_get(d, "enforce")) ? "enforced" : "report-only",
                json_is_string(exp) ? json_string_value(exp) : "never");
        const json_t *list = json_object_get(d, "findings");
        if (json_array_size(list) == 0)
            fprintf(out, "  ok\n");
        json_array_foreach(list, k, f)
        {
            fprintf(out, "  %-7s %-20s %s\n", json_string_value(json_object_get(f, "severity")),
                    json_string_value(json_object_get(f, "code")),
                    json_string_value(json_object_get(f, "detail")));
        }
    }
}
