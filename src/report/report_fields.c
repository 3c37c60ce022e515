#include "report/report_fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_text.h"
#include "base/timeparse.h"
#include "report/cert.h"
#include "report/cert_cache.h"
#include "report/hostname.h"

#define NOMEM_IF(expr)                                                                             \
    do {                                                                                           \
        if ((expr) != ERR_OK)                                                                      \
            return ERR_NOMEM;                                                                      \
    } while (0)

/* Present and not JSON null. */
static const json_t *field(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

enum err_code report_fields_check_strings(const json_t *v, size_t max, struct err *err)
{
    if (json_is_string(v) && json_string_length(v) > max)
        return err_set(err, ERR_INVALID, "string_too_long", "a string is over %zu bytes", max);
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
        {
            if (report_fields_check_strings(e, max, err) != ERR_OK)
                return ERR_INVALID;
        }
    } else if (json_is_object(v)) {
        const char *k;
        const json_t *e;
        json_object_foreach((json_t *)v, k, e)
        {
            if (strlen(k) > max)
                return err_set(err, ERR_INVALID, "string_too_long", "a key is over %zu bytes", max);
            if (report_fields_check_strings(e, max, err) != ERR_OK)
                return ERR_INVALID;
        }
    }
    return ERR_OK;
}

enum err_code report_fields_hostname(struct report *r, const json_t *obj, const char *key,
                                     struct err *err)
{
    const json_t *v = field(obj, key);
    struct err why = {0};
    if (v == NULL)
        return err_set(err, ERR_INVALID, "missing_field", "no %s", key);
    if (!json_is_string(v))
        return err_set(err, ERR_INVALID, "invalid_field", "%s is not a string", key);
    enum err_code rc = hostname_normalize(json_string_value(v), &r->hostname, &why);
    if (rc == ERR_INVALID)
        return err_set(err, ERR_INVALID, "invalid_field", "%s: %s", key, why.detail);
    if (rc != ERR_OK)
        return err_set(err, rc, NULL, "out of memory");
    r->hostname_raw = strdup(json_string_value(v));
    if (r->hostname_raw == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    return ERR_OK;
}

enum err_code report_fields_noted(struct report *r, const json_t *obj)
{
    NOMEM_IF(report_fields_string(r, obj, "noted-hostname", &r->noted_hostname_raw));
    if (r->noted_hostname_raw == NULL)
        return ERR_OK;
    struct err why = {0};
    enum err_code rc = hostname_normalize(r->noted_hostname_raw, &r->noted_hostname, &why);
    if (rc == ERR_INVALID)
        return report_add_problem(r, "invalid_field", "noted-hostname: %s", why.detail);
    return rc;
}

enum err_code report_fields_coverage(struct report *r)
{
    if (r->hostname == NULL || r->noted_hostname == NULL)
        return ERR_OK;
    if (hostname_covered(r->hostname, r->noted_hostname, r->include_subdomains == 1))
        return ERR_OK;
    return report_add_problem(r, "hostname_not_covered", "%s is not %s%s", r->hostname,
                              r->include_subdomains == 1 ? "a subdomain of or equal to "
                                                         : "equal to ",
                              r->noted_hostname);
}

enum err_code report_fields_port(struct report *r, const json_t *obj)
{
    const json_t *v = field(obj, "port");
    r->port = 0;
    if (v == NULL)
        return ERR_OK;
    if (!json_is_integer(v))
        return report_add_problem(r, "invalid_port", "port is not an integer");
    json_int_t p = json_integer_value(v);
    if (p < 0 || p > 65535)
        return report_add_problem(r, "invalid_port", "port %lld is out of range", (long long)p);
    r->port = (int)p; /* 0 (TrustKit) stays 0 = null */
    return ERR_OK;
}

enum err_code report_fields_bool(struct report *r, const json_t *obj, const char *key, int *out)
{
    const json_t *v = field(obj, key);
    *out = -1;
    if (v == NULL)
        return ERR_OK;
    if (!json_is_boolean(v))
        return report_add_problem(r, "invalid_field", "%s is not a boolean", key);
    *out = json_is_true(v) ? 1 : 0;
    return ERR_OK;
}

enum err_code report_fields_string(struct report *r, const json_t *obj, const char *key, char **out)
{
    const json_t *v = field(obj, key);
    if (v == NULL)
        return ERR_OK;
    if (!json_is_string(v))
        return report_add_problem(r, "invalid_field", "%s is not a string", key);
    free(*out);
    *out = strdup(json_string_value(v));
    return *out != NULL ? ERR_OK : ERR_NOMEM;
}

char *report_fields_json_text(const json_t *v)
{
    return json_text_dump(v);
}

enum err_code report_fields_time(struct report *r, const json_t *obj, const char *key,
                                 struct report_time *t)
{
    const json_t *v = field(obj, key);
    if (v == NULL || t->raw != NULL)
        return ERR_OK;
    t->raw = json_is_string(v) ? strdup(json_string_value(v)) : report_fields_json_text(v);
    if (t->raw == NULL)
        return ERR_NOMEM;
    t->valid = json_is_string(v) && timeparse_parse(t->raw, &t->usec, NULL) == ERR_OK;
    if (!t->valid)
        return report_add_problem(r, "unparseable_date", "%s is not a date", key);
    return ERR_OK;
}

enum err_code report_fields_chain_check(const json_t *obj, const char *key,
                                        const struct report_parse_opts *opts, struct err *err)
{
    const json_t *v = field(obj, key);
    if (json_is_array(v) && json_array_size(v) > opts->max_chain)
        return err_set(err, ERR_INVALID, "too_many_certificates",
                       "%s has %zu certificates, more than %zu", key, json_array_size(v),
                       opts->max_chain);
    return ERR_OK;
}

enum err_code report_fields_chain(struct report *r, const json_t *obj, const char *key,
                                  struct cert_cache *certs, struct report_chain *ch)
{
    const json_t *v = field(obj, key);
    size_t i;
    const json_t *e;

    if (v == NULL)
        return ERR_OK;
    if (!json_is_array(v))
        return report_add_problem(r, "invalid_field", "%s is not an array", key);
    ch->present = true;
    json_array_foreach(v, i, e)
    {
        struct cert *c = NULL;
        struct err why = {0};
        if (json_is_string(e)) {
            enum err_code rc =
                cert_cache_from_pem(certs, json_string_value(e), json_string_length(e), &c, &why);
            if (rc == ERR_NOMEM)
                return rc;
            if (rc == ERR_OK) {
                if (c->text_escaped)
                    NOMEM_IF(report_add_problem(r, "certificate_text_not_utf8",
                                                "%s[%zu]: a name or DNS SAN is not UTF-8; its "
                                                "other bytes are kept as \\XX escapes",
                                                key, i));
                NOMEM_IF(report_chain_append(ch, c, NULL));
                continue;
            }
            NOMEM_IF(report_chain_append(ch, NULL, json_string_value(e)));
            NOMEM_IF(report_add_problem(r, "undecodable_certificate", "%s[%zu]: %s", key, i,
                                        why.detail));
        } else {
            char *text = report_fields_json_text(e);
            enum err_code rc = text != NULL ? report_chain_append(ch, NULL, text) : ERR_NOMEM;
            free(text);
            NOMEM_IF(rc);
            NOMEM_IF(report_add_problem(r, "undecodable_certificate", "%s[%zu] is not a string",
                                        key, i));
        }
    }
    report_chain_finish(ch);
    return ERR_OK;
}

enum err_code report_fields_extra_take(struct report *r, const char *key, json_t *value)
{
    if (value == NULL)
        return ERR_NOMEM;
    if (r->extra == NULL && (r->extra = json_object()) == NULL) {
        json_decref(value);
        return ERR_NOMEM;
    }
    return json_object_set_new(r->extra, key, value) == 0 ? ERR_OK : ERR_NOMEM;
}

enum err_code report_fields_extra_copy(struct report *r, const json_t *obj, const char *src,
                                       const char *dst)
{
    const json_t *v = field(obj, src);
    if (v == NULL)
        return ERR_OK;
    return report_fields_extra_take(r, dst, json_deep_copy(v));
}

static bool is_known(const char *key, const char *const *known)
{
    for (size_t i = 0; known[i] != NULL; i++) {
        if (strcmp(key, known[i]) == 0)
            return true;
    }
    return false;
}

enum err_code report_fields_unknown_keys(struct report *r, const json_t *obj,
                                         const char *const *known)
{
    const char *k;
    const json_t *v;
    json_t *list = NULL;
    char summary[200] = "";

    json_object_foreach((json_t *)obj, k, v)
    {
        if (is_known(k, known))
            continue;
        if (list == NULL) {
            list = json_object_get(r->extra, "unknown_keys");
            if (list == NULL) {
                NOMEM_IF(report_fields_extra_take(r, "unknown_keys", json_array()));
                list = json_object_get(r->extra, "unknown_keys");
            }
        }
        if (json_array_append_new(list, json_string(k)) != 0)
            return ERR_NOMEM;
        /* The detail is a short human hint; the full list is in extra. */
        size_t used = strlen(summary);
        if (used + strlen(k) + 3 < sizeof(summary))
            snprintf(summary + used, sizeof(summary) - used, "%s%s", used ? ", " : "", k);
    }
    /* One problem per report, even when both an envelope and its body have extra keys. */
    if (list == NULL || report_has_problem(r, "unknown_keys"))
        return ERR_OK;
    return report_add_problem(r, "unknown_keys", "unknown keys: %s", summary);
}

enum err_code report_fields_browser_app(struct report *r)
{
    free(r->app.bundle_id);
    free(r->app.platform);
    r->app.bundle_id = strdup("web");
    r->app.platform = strdup("web");
    return r->app.bundle_id != NULL && r->app.platform != NULL ? ERR_OK : ERR_NOMEM;
}

enum err_code report_fields_done(struct report *r, enum err_code rc, struct report **out)
{
    if (rc != ERR_OK) {
        report_free(r);
        return rc;
    }
    *out = r;
    return ERR_OK;
}
