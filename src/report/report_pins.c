#include "report/report_pins.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "report/pin.h"
#include "report/report_fields.h"

/* TrustKit's validation-result codes 0..5 (TSKTrustEvaluationResult; Android uses the same
 * numbers). 4 and 5 changed meaning across TrustKit versions, but they are known codes. */
#define PINS_VALIDATION_RESULT_MAX 5

/* RFC 7469 §3 keys, and what Chromium adds (nothing). */
#define HPKP_KEYS                                                                                  \
    "hostname", "port", "noted-hostname", "include-subdomains", "date-time",                       \
        "effective-expiration-date", "known-pins", "served-certificate-chain",                     \
        "validated-certificate-chain"

static const char *const hpkp_keys[] = {HPKP_KEYS, NULL};

/* TrustKit 1.0 .. 3.0.x, both platforms; app-identifier is the transient 2015 spelling of
 * app-vendor-id. */
static const char *const trustkit_keys[] = {HPKP_KEYS,
                                            "app-bundle-id",
                                            "app-version",
                                            "app-platform",
                                            "app-vendor-id",
                                            "app-platform-version",
                                            "app-identifier",
                                            "trustkit-version",
                                            "enforce-pinning",
                                            "validation-result",
                                            "known-pins-expiration-date",
                                            NULL};

static const struct {
    const char *wire, *name;
} platforms[] = {
    {"IOS", "ios"},   {"OSX", "macos"},       {"MACOS", "macos"},
    {"TVOS", "tvos"}, {"WATCHOS", "watchos"}, {"ANDROID", "android"},
};

static char *platform_name(const char *wire)
{
    for (size_t i = 0; i < sizeof(platforms) / sizeof(platforms[0]); i++) {
        if (strcasecmp(wire, platforms[i].wire) == 0)
            return strdup(platforms[i].name);
    }
    /* A future platform: keep it, lower-cased, rather than guess. */
    char *s = strdup(wire);
    for (char *p = s; p != NULL && *p != '\0'; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    }
    return s;
}

static enum report_format detect(const json_t *obj)
{
    const json_t *bundle = json_object_get(obj, "app-bundle-id");
    if (bundle == NULL || json_is_null(bundle))
        return REPORT_FMT_HPKP;
    const json_t *platform = json_object_get(obj, "app-platform");
    if (json_is_string(platform) && strcasecmp(json_string_value(platform), "ANDROID") == 0)
        return REPORT_FMT_TRUSTKIT_ANDROID;
    return REPORT_FMT_TRUSTKIT_IOS;
}

/* Everything that can reject, checked before any decoding work. */
static enum err_code check_rejects(const json_t *obj, const struct report_parse_opts *opts,
                                   struct err *err)
{
    const json_t *pins = json_object_get(obj, "known-pins");
    if (pins == NULL || json_is_null(pins))
        return err_set(err, ERR_INVALID, "missing_field", "no known-pins");
    if (!json_is_array(pins))
        return err_set(err, ERR_INVALID, "invalid_field", "known-pins is not an array");
    if (json_array_size(pins) > opts->max_pins)
        return err_set(err, ERR_INVALID, "too_many_pins", "%zu known-pins, more than %zu",
                       json_array_size(pins), opts->max_pins);
    if (report_fields_chain_check(obj, "served-certificate-chain", opts, err) != ERR_OK ||
        report_fields_chain_check(obj, "validated-certificate-chain", opts, err) != ERR_OK)
        return ERR_INVALID;
    return ERR_OK;
}

static enum err_code add_raw_pin(struct report *r, size_t index, char *text_take)
{
    if (text_take == NULL)
        return ERR_NOMEM;
    char **grown = realloc(r->known_pins_raw, (r->n_known_pins_raw + 1) * sizeof(*grown));
    if (grown == NULL) {
        free(text_take);
        return ERR_NOMEM;
    }
    r->known_pins_raw = grown;
    r->known_pins_raw[r->n_known_pins_raw++] = text_take;
    return report_add_problem(r, "unrecognized_pin", "known-pins[%zu] is not a pin-sha256 pin",
                              index);
}

static enum err_code known_pins(struct report *r, const json_t *pins)
{
    size_t n = json_array_size(pins), i;
    const json_t *e;
    if (n == 0)
        return ERR_OK;
    r->known_pins = malloc(n * sizeof(*r->known_pins));
    if (r->known_pins == NULL)
        return ERR_NOMEM;
    json_array_foreach(pins, i, e)
    {
        enum err_code rc = ERR_INVALID;
        if (json_is_string(e))
            rc = pin_parse_entry(json_string_value(e), json_string_length(e),
                                 r->known_pins[r->n_known_pins], NULL);
        if (rc == ERR_OK) {
            r->n_known_pins++;
            continue;
        }
        if (rc == ERR_NOMEM)
            return rc;
        rc = add_raw_pin(
            r, i, json_is_string(e) ? strdup(json_string_value(e)) : report_fields_json_text(e));
        if (rc != ERR_OK)
            return rc;
    }
    r->n_known_pins = pin_sort_unique(r->known_pins, r->n_known_pins);
    return ERR_OK;
}

static enum err_code validation_result(struct report *r, const json_t *obj)
{
    const json_t *v = json_object_get(obj, "validation-result");
    if (v == NULL || json_is_null(v))
        return ERR_OK;
    if (!json_is_integer(v))
        return report_add_problem(r, "invalid_field", "validation-result is not an integer");
    r->has_validation_result = true;
    r->validation_result = json_integer_value(v);
    if (r->validation_result < 0 || r->validation_result > PINS_VALIDATION_RESULT_MAX)
        return report_add_problem(r, "unknown_validation_result",
                                  "validation-result %lld is not a known TrustKit code",
                                  (long long)r->validation_result);
    return ERR_OK;
}

static enum err_code trustkit_app(struct report *r, const json_t *obj)
{
    struct report_app *a = &r->app;
    char *platform = NULL;
    enum err_code rc = report_fields_string(r, obj, "app-bundle-id", &a->bundle_id);
    if (rc == ERR_OK)
        rc = report_fields_string(r, obj, "app-version", &a->version);
    if (rc == ERR_OK)
        rc = report_fields_string(r, obj, "app-platform-version", &a->platform_version);
    if (rc == ERR_OK)
        rc = report_fields_string(r, obj, "app-vendor-id", &a->vendor_id);
    if (rc == ERR_OK && a->vendor_id == NULL)
        rc = report_fields_string(r, obj, "app-identifier", &a->vendor_id);
    if (rc == ERR_OK)
        rc = report_fields_string(r, obj, "trustkit-version", &a->sdk_version);
    if (rc == ERR_OK)
        rc = report_fields_string(r, obj, "app-platform", &platform);
    if (rc != ERR_OK)
        return rc;
    /* Without app-platform (TrustKit < 1.2.2) the Apple platform is unknown: leave NULL. */
    if (platform != NULL) {
        a->platform = platform_name(platform);
        free(platform);
        if (a->platform == NULL)
            return ERR_NOMEM;
    }
    a->sdk = strdup(r->format == REPORT_FMT_TRUSTKIT_ANDROID ? "trustkit-android" : "trustkit");
    return a->sdk != NULL ? ERR_OK : ERR_NOMEM;
}

static enum err_code fill(struct report *r, const json_t *obj, struct cert_cache *certs)
{
    bool trustkit = r->format != REPORT_FMT_HPKP;
    enum err_code rc = known_pins(r, json_object_get(obj, "known-pins"));
    if (rc == ERR_OK)
        rc = report_fields_noted(r, obj);
    if (rc == ERR_OK)
        rc = report_fields_port(r, obj);
    if (rc == ERR_OK)
        rc = report_fields_bool(r, obj, "include-subdomains", &r->include_subdomains);
    if (rc == ERR_OK)
        rc = report_fields_coverage(r);
    if (rc == ERR_OK)
        rc = report_fields_time(r, obj, "date-time", &r->client_time);
    /* RFC 7469's name first; TrustKit ≥ 1.4.1 sends its own (yyyy-MM-dd or null). */
    if (rc == ERR_OK)
        rc = report_fields_time(r, obj, "effective-expiration-date", &r->pins_expire);
    if (rc == ERR_OK && trustkit)
        rc = report_fields_time(r, obj, "known-pins-expiration-date", &r->pins_expire);
    if (rc == ERR_OK)
        rc = report_fields_chain(r, obj, "served-certificate-chain", certs, &r->served);
    if (rc == ERR_OK)
        rc = report_fields_chain(r, obj, "validated-certificate-chain", certs, &r->validated);
    if (rc == ERR_OK && trustkit)
        rc = report_fields_bool(r, obj, "enforce-pinning", &r->enforce_pinning);
    if (rc == ERR_OK && trustkit)
        rc = validation_result(r, obj);
    if (rc == ERR_OK)
        rc = trustkit ? trustkit_app(r, obj) : report_fields_browser_app(r);
    if (rc == ERR_OK)
        rc = report_fields_unknown_keys(r, obj, trustkit ? trustkit_keys : hpkp_keys);
    return rc;
}

enum err_code report_pins_parse(const json_t *obj, const struct report_parse_opts *opts,
                                struct report **out, struct err *err)
{
    enum err_code rc = check_rejects(obj, opts, err);
    if (rc != ERR_OK)
        return rc;
    struct report *r = report_new();
    if (r == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    r->format = detect(obj);
    rc = report_fields_hostname(r, obj, "hostname", err);
    if (rc == ERR_OK) {
        rc = fill(r, obj, opts->certs);
        if (rc != ERR_OK)
            err_set(err, rc, NULL, "out of memory");
    }
    return report_fields_done(r, rc, out);
}
