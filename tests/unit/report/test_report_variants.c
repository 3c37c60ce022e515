/*
 * Variants built from the fixtures' real certificates and reports: every SPEC §5 rule, the
 * problems that never reject, the few things that do, limits, and the dispatcher's shapes.
 */
#include "report_test_util.h"

#include <criterion/parameterized.h>

#include "report/cert.h"

static json_t *ios_without(const char *key)
{
    json_t *r = t_ios_report();
    json_object_del(r, key);
    return r;
}

/* Parse obj (stolen) as a lone object that must be accepted. */
static struct report *take(json_t *obj, struct report_batch *b)
{
    struct err err;
    enum err_code rc = t_parse_json(obj, b, &err);
    json_decref(obj);
    cr_assert_eq(rc, ERR_OK, "%s: %s", err.key, err.detail);
    cr_assert_eq(b->n, 1);
    return b->reports[0];
}

/* Parse obj (stolen) as a lone object that must be refused with key. */
static void refuse(json_t *obj, const char *key)
{
    struct report_batch b;
    struct err err;
    enum err_code rc = t_parse_json(obj, &b, &err);
    json_decref(obj);
    cr_assert_eq(rc, ERR_INVALID, "accepted; wanted %s", key);
    cr_assert_str_eq(err.key, key, "%s", err.detail);
    cr_assert_eq(b.n, 0);
    report_batch_cleanup(&b);
}

static void set_str(json_t *o, const char *key, const char *value)
{
    json_object_set_new(o, key, json_string(value));
}

Test(variants, idn_and_ip_hostnames)
{
    struct report_batch b;
    json_t *o = t_ios_report();
    set_str(o, "hostname", " WWW.Bücher.Example. ");
    set_str(o, "noted-hostname", "bücher.example");
    struct report *r = take(o, &b);
    cr_assert_str_eq(r->hostname, "www.xn--bcher-kva.example");
    cr_assert_str_eq(r->hostname_raw, " WWW.Bücher.Example. ");
    cr_assert_str_eq(r->noted_hostname, "xn--bcher-kva.example");
    cr_assert_str_eq(r->noted_hostname_raw, "bücher.example");
    cr_assert_not(report_has_problem(r, "hostname_not_covered"));
    report_batch_cleanup(&b);

    o = t_ios_report();
    set_str(o, "hostname", "[2001:DB8:0:0:0:0:0:1]");
    set_str(o, "noted-hostname", "2001:db8::1");
    json_object_set_new(o, "include-subdomains", json_false());
    r = take(o, &b);
    cr_assert_str_eq(r->hostname, "2001:db8::1");
    cr_assert_str_eq(r->noted_hostname, "2001:db8::1");
    cr_assert_eq(r->n_problems, 0);
    report_batch_cleanup(&b);
}

Test(variants, hostname_not_covered)
{
    struct report_batch b;
    json_t *o = t_ios_report();
    set_str(o, "hostname", "evil-datatheorem.com");
    struct report *r = take(o, &b);
    cr_assert(report_has_problem(r, "hostname_not_covered"));
    report_batch_cleanup(&b);

    /* A subdomain without include-subdomains is not covered either. */
    o = t_ios_report();
    json_object_set_new(o, "include-subdomains", json_false());
    r = take(o, &b);
    cr_assert(report_has_problem(r, "hostname_not_covered"));
    cr_assert_eq(r->n_problems, 1);
    report_batch_cleanup(&b);

    /* An unusable noted-hostname is a problem, and coverage cannot be judged. */
    o = t_ios_report();
    set_str(o, "noted-hostname", "not a host");
    r = take(o, &b);
    cr_assert(report_has_problem(r, "invalid_field"));
    cr_assert_not(report_has_problem(r, "hostname_not_covered"));
    cr_assert_str_eq(r->noted_hostname_raw, "not a host");
    cr_assert_null(r->noted_hostname);
    report_batch_cleanup(&b);
}

/* Base64 of the leaf's DER in the spellings real clients use. */
static json_t *pem_spellings(void)
{
    json_t *o = t_ios_report();
    const char *ios =
        json_string_value(json_array_get(json_object_get(o, "validated-certificate-chain"), 0));
    struct cert *c = NULL;
    cr_assert_eq(cert_from_client_pem(ios, strlen(ios), &c, NULL), ERR_OK);
    size_t n = 4 * ((c->der_len + 2) / 3);
    char *b64 = malloc(n + 1);
    EVP_EncodeBlock((unsigned char *)b64, c->der, (int)c->der_len);
    cert_free(c);

    json_t *chain = json_array();
    json_array_append_new(chain, json_string(ios)); /* iOS: CRLF inside, 64 columns */
    const struct {
        size_t cols;
        const char *eol, *indent;
    } forms[] = {{76, "\n", ""}, {0, "", ""}, {64, "\n", "  "}, {64, "\r\n", ""}};
    for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
        char *s = calloc(1, n * 2 + 200);
        strcat(s, "-----BEGIN CERTIFICATE-----\n");
        size_t step = forms[f].cols ? forms[f].cols : n;
        for (size_t off = 0; off < n; off += step) {
            strcat(s, forms[f].indent);
            strncat(s, b64 + off, step);
            strcat(s, forms[f].cols ? forms[f].eol : "\n");
        }
        strcat(s, "-----END CERTIFICATE-----\n"); /* Android and Chromium: trailing newline */
        json_array_append_new(chain, json_string(s));
        free(s);
    }
    free(b64);
    json_object_set_new(o, "served-certificate-chain", chain);
    return o;
}

Test(variants, pem_spellings_in_a_report)
{
    struct report_batch b;
    struct report *r = take(pem_spellings(), &b);
    cr_assert_eq(r->served.n, 5);
    for (size_t i = 0; i < r->served.n; i++) {
        cr_assert_not_null(r->served.entries[i].cert, "spelling %zu", i);
        t_b64_eq(r->served.entries[i].cert->spki_sha256, T_LEAF_SPKI);
        cr_assert_eq(
            memcmp(r->served.entries[i].cert->sha256, r->validated.entries[0].cert->sha256, 32), 0);
    }
    cr_assert_eq(r->n_problems, 0);
    report_batch_cleanup(&b);
}

Test(variants, undecodable_certificates_never_reject)
{
    struct report_batch b;
    json_t *o = t_ios_report();
    json_t *chain = json_object_get(o, "validated-certificate-chain");
    json_array_insert_new(chain, 1,
                          json_string("-----BEGIN CERTIFICATE-----\nnot base64!\n"
                                      "-----END CERTIFICATE-----"));
    json_array_append_new(chain, json_integer(7));
    struct report *r = take(o, &b);
    cr_assert_eq(r->validated.n, 5);
    cr_assert_not_null(r->validated.entries[0].cert);
    cr_assert_null(r->validated.entries[1].cert);
    cr_assert_str_eq(r->validated.entries[1].opaque,
                     "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----");
    cr_assert_str_eq(r->validated.entries[4].opaque, "7");
    cr_assert_eq(t_count_problem(r, "undecodable_certificate"), 2);
    /* The chain id covers the decoded certificates only. */
    cr_assert(r->validated.has_sha256);
    report_batch_cleanup(&b);

    /* A chain that is not an array is a problem, not a rejection. */
    o = t_ios_report();
    set_str(o, "validated-certificate-chain", "pem");
    r = take(o, &b);
    cr_assert_not(r->validated.present);
    cr_assert(report_has_problem(r, "invalid_field"));
    report_batch_cleanup(&b);
}

Test(variants, pins_spelled_differently)
{
    struct report_batch b;
    json_t *o = t_ios_report();
    json_t *pins = json_pack(
        "[sssssssi]", "pin-sha256=\"" T_PIN_A "\"", "pin-sha256=" T_PIN_B, /* no quotes */
        "PIN-SHA256=\"TQEtdMbmwFgYUifM4LDF-xgEtd0z69mPGmkp014d6ZY\"",      /* URL-safe, no pad */
        " pin-sha256 = \"rFjc3wG7lTZe43zeYTvPq8k4xdDEutCmIhI5dn4oCeE\" ",  /* no padding */
        "pin-sha1=\"d6qzRu9zOECb90Uez27xWltNsj0=\"", "garbage", "pin-sha256=\"" T_ROOT_SPKI "\"",
        42);
    json_object_set_new(o, "known-pins", pins);
    struct report *r = take(o, &b);
    cr_assert_eq(r->n_known_pins, 3, "duplicates collapse");
    t_b64_eq(r->known_pins[0], T_ROOT_SPKI); /* 0x1d.. */
    t_b64_eq(r->known_pins[1], T_PIN_B);     /* 0x4d.. */
    t_b64_eq(r->known_pins[2], T_PIN_A);     /* 0xac.. */
    cr_assert_eq(r->n_known_pins_raw, 3);
    cr_assert_str_eq(r->known_pins_raw[0], "pin-sha1=\"d6qzRu9zOECb90Uez27xWltNsj0=\"");
    cr_assert_str_eq(r->known_pins_raw[1], "garbage");
    cr_assert_str_eq(r->known_pins_raw[2], "42");
    cr_assert_eq(t_count_problem(r, "unrecognized_pin"), 3);
    report_batch_cleanup(&b);

    /* An empty known-pins array is still a known-pins array. */
    o = t_ios_report();
    json_object_set_new(o, "known-pins", json_array());
    r = take(o, &b);
    cr_assert_eq(r->n_known_pins, 0);
    cr_assert_null(r->known_pins);
    report_batch_cleanup(&b);
}

Test(variants, validation_result_values)
{
    struct report_batch b;
    json_t *o = t_ios_report();
    json_object_set_new(o, "validation-result", json_integer(42));
    struct report *r = take(o, &b);
    cr_assert(r->has_validation_result);
    cr_assert_eq(r->validation_result, 42, "unknown values are kept");
    cr_assert(report_has_problem(r, "unknown_validation_result"));
    report_batch_cleanup(&b);

    o = t_ios_report();
    json_object_set_new(o, "validation-result", json_integer(5));
    r = take(o, &b);
    cr_assert_eq(r->validation_result, 5);
    cr_assert_eq(r->n_problems, 0);
    report_batch_cleanup(&b);

    o = t_ios_report();
    set_str(o, "validation-result", "1");
    r = take(o, &b);
    cr_assert_not(r->has_validation_result);
    cr_assert(report_has_problem(r, "invalid_field"));
    report_batch_cleanup(&b);
}

Test(variants, odd_dates)
{
    struct report_batch b;
    json_t *o = t_ios_report();
    set_str(o, "date-time", "2016-11-06T2\u5348\u524d2:52:28Z"); /* TrustKit#75 */
    json_object_set_new(o, "known-pins-expiration-date", json_null());
    struct report *r = take(o, &b);
    cr_assert_not(r->client_time.valid);
    cr_assert_str_eq(r->client_time.raw, "2016-11-06T2\u5348\u524d2:52:28Z");
    cr_assert_null(r->pins_expire.raw, "null is absent");
    cr_assert_eq(t_count_problem(r, "unparseable_date"), 1);
    report_batch_cleanup(&b);

    o = t_ios_report();
    set_str(o, "date-time", "2015-06-08T03:58:05.250+02:00");
    set_str(o, "known-pins-expiration-date", "2017-12-31");
    r = take(o, &b);
    t_time_eq(&r->client_time, "2015-06-08T01:58:05.250000Z");
    t_time_eq(&r->pins_expire, "2017-12-31T00:00:00Z");
    cr_assert_eq(r->n_problems, 0);
    report_batch_cleanup(&b);

    o = t_ios_report();
    json_object_set_new(o, "date-time", json_integer(1433728685));
    r = take(o, &b);
    cr_assert_str_eq(r->client_time.raw, "1433728685");
    cr_assert_not(r->client_time.valid);
    cr_assert(report_has_problem(r, "unparseable_date"));
    report_batch_cleanup(&b);
}

Test(variants, ports_and_booleans)
{
    struct report_batch b;
    const struct {
        json_t *port;
        int want;
        bool problem;
    } cases[] = {
        {json_integer(0), 0, false},    {json_integer(8443), 8443, false},
        {json_null(), 0, false},        {json_string("443"), 0, true},
        {json_integer(70000), 0, true}, {json_integer(-1), 0, true},
        {json_real(443.0), 0, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = t_ios_report();
        json_object_set_new(o, "port", cases[i].port);
        struct report *r = take(o, &b);
        cr_assert_eq(r->port, cases[i].want, "case %zu", i);
        cr_assert_eq(report_has_problem(r, "invalid_port"), cases[i].problem, "case %zu", i);
        report_batch_cleanup(&b);
    }
    struct report *r = take(ios_without("port"), &b);
    cr_assert_eq(r->port, 0);
    report_batch_cleanup(&b);

    json_t *o = t_ios_report();
    set_str(o, "include-subdomains", "yes");
    set_str(o, "enforce-pinning", "true");
    r = take(o, &b);
    cr_assert_eq(r->include_subdomains, -1);
    cr_assert_eq(r->enforce_pinning, -1);
    cr_assert_eq(t_count_problem(r, "invalid_field"), 2);
    report_batch_cleanup(&b);
}

Test(variants, app_fields)
{
    static const char *const map[][2] = {
        {"IOS", "ios"},         {"OSX", "macos"},       {"MACOS", "macos"},      {"TVOS", "tvos"},
        {"WATCHOS", "watchos"}, {"android", "android"}, {"VisionOS", "visionos"}};
    struct report_batch b;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        json_t *o = t_ios_report();
        set_str(o, "app-platform", map[i][0]);
        struct report *r = take(o, &b);
        cr_assert_str_eq(r->app.platform, map[i][1]);
        cr_assert_eq(r->format, strcmp(map[i][1], "android") == 0 ? REPORT_FMT_TRUSTKIT_ANDROID
                                                                  : REPORT_FMT_TRUSTKIT_IOS);
        report_batch_cleanup(&b);
    }
    /* app-vendor-id wins over the 2015 app-identifier spelling. */
    json_t *o = t_ios_report();
    set_str(o, "app-identifier", "OLD");
    struct report *r = take(o, &b);
    cr_assert_str_eq(r->app.vendor_id, "599F9C00-92DC-4B5C-9464-7971F01F8370");
    report_batch_cleanup(&b);

    /* Without app-bundle-id it is a browser (HPKP) report: TrustKit keys are unknown there. */
    o = ios_without("app-bundle-id");
    r = take(o, &b);
    cr_assert_eq(r->format, REPORT_FMT_HPKP);
    cr_assert_str_eq(r->app.bundle_id, "web");
    cr_assert_null(r->app.version);
    cr_assert_eq(r->enforce_pinning, -1);
    cr_assert_not(r->has_validation_result);
    json_t *unknown = json_object_get(r->extra, "unknown_keys");
    cr_assert_geq(json_array_size(unknown), 6);
    cr_assert_eq(t_count_problem(r, "unknown_keys"), 1);
    report_batch_cleanup(&b);
}

Test(variants, unknown_keys_are_listed)
{
    struct report_batch b;
    json_t *o = t_ios_report();
    json_object_set_new(o, "x-debug", json_true());
    json_object_set_new(o, "date_time", json_string("2015"));
    struct report *r = take(o, &b);
    json_t *unknown = json_object_get(r->extra, "unknown_keys");
    cr_assert_eq(json_array_size(unknown), 2);
    cr_assert_str_eq(json_string_value(json_array_get(unknown, 0)), "x-debug");
    cr_assert_str_eq(json_string_value(json_array_get(unknown, 1)), "date_time");
    cr_assert(report_has_problem(r, "unknown_keys"));
    report_batch_cleanup(&b);
}

Test(variants, lone_object_rejections)
{
    refuse(ios_without("hostname"), "missing_field");
    refuse(ios_without("known-pins"), "missing_field");
    json_t *o = t_ios_report();
    json_object_set_new(o, "hostname", json_integer(1));
    refuse(o, "invalid_field");
    o = t_ios_report();
    json_object_set_new(o, "hostname", json_null());
    refuse(o, "missing_field");
    o = t_ios_report();
    set_str(o, "hostname", "   ");
    refuse(o, "invalid_field");
    o = t_ios_report();
    set_str(o, "known-pins", "pin-sha256=\"" T_PIN_A "\"");
    refuse(o, "invalid_field");
    refuse(json_pack("{s:s}", "expect-ct-report", "x"), "invalid_field");
    refuse(json_pack("{s:{s:i}}", "expect-ct-report", "port", 443), "missing_field");
}

Test(variants, limits)
{
    struct report_parse_opts opts = t_opts();
    struct report_batch b;
    struct err err;

    /* Certificates per chain. */
    json_t *o = t_ios_report();
    json_t *chain = json_object_get(o, "validated-certificate-chain");
    while (json_array_size(chain) <= REPORT_PARSE_MAX_CHAIN)
        json_array_append(chain, json_array_get(chain, 0));
    refuse(o, "too_many_certificates");

    /* Pins. */
    o = t_ios_report();
    json_t *pins = json_object_get(o, "known-pins");
    while (json_array_size(pins) <= REPORT_PARSE_MAX_PINS)
        json_array_append_new(pins, json_string("pin-sha256=\"" T_PIN_A "\""));
    refuse(o, "too_many_pins");

    /* Strings: a 16 KiB + 1 string anywhere in a report. */
    char *big = malloc(REPORT_PARSE_MAX_STRING + 2);
    memset(big, 'a', REPORT_PARSE_MAX_STRING + 1);
    big[REPORT_PARSE_MAX_STRING + 1] = '\0';
    o = t_ios_report();
    set_str(o, "app-version", big);
    refuse(o, "string_too_long");
    big[REPORT_PARSE_MAX_STRING] = '\0';
    o = t_ios_report();
    set_str(o, "app-version", big);
    struct report *r = take(o, &b);
    cr_assert_eq(strlen(r->app.version), REPORT_PARSE_MAX_STRING, "exactly the limit is fine");
    report_batch_cleanup(&b);
    free(big);

    /* Items per body: a whole-body error. */
    json_t *arr = json_array();
    for (int i = 0; i <= REPORT_PARSE_MAX_ITEMS; i++)
        json_array_append_new(arr, json_object());
    cr_assert_eq(t_parse_json(arr, &b, &err), ERR_INVALID);
    cr_assert_str_eq(err.key, "too_many_items");
    json_decref(arr);

    /* Smaller limits through the options. */
    opts.max_chain = 2;
    char *s = json_dumps(o = t_ios_report(), JSON_COMPACT);
    json_decref(o);
    cr_assert_eq(report_parse_body(s, strlen(s), &opts, &b, &err), ERR_INVALID);
    cr_assert_str_eq(err.key, "too_many_certificates");
    free(s);
}

Test(variants, depth)
{
    struct report_batch b;
    struct err err;
    char deep[200] = "";
    for (int i = 0; i < 33; i++)
        strcat(deep, "[");
    for (int i = 0; i < 33; i++)
        strcat(deep, "]");
    cr_assert_eq(t_parse_str(deep, &b, &err), ERR_INVALID);
    cr_assert_str_eq(err.key, "json_too_deep");
    /* 32 levels is allowed; brackets inside strings do not count. */
    deep[32] = '\0';
    strcat(deep, "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
    cr_assert_eq(t_parse_str(deep, &b, &err), ERR_OK);
    cr_assert_eq(b.n_rejected, 1, "the inner arrays are not reports");
    report_batch_cleanup(&b);
    const char *quoted = "[{\"type\":\"x\",\"body\":{},\"url\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                         "[[[[[[[[{{{{\\\"[[[[\"}]";
    cr_assert_eq(t_parse_str(quoted, &b, &err), ERR_OK, "%s", err.detail);
    cr_assert_eq(b.ignored, 1);
    report_batch_cleanup(&b);
}

/* Parameters hold their bytes: Criterion runs each one in a process of its own. */
struct bad_body {
    char body[64];
    size_t len;
};

#define BODY(s)                                                                                    \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }

ParameterizedTestParameters(variants, invalid_json_bodies)
{
    static struct bad_body bad[] = {
        BODY(""),
        BODY("{"),
        BODY("{\"hostname\": \"a\xff\", \"known-pins\": []}"),     /* invalid UTF-8 */
        BODY("{\"hostname\": \"a\\u0000b\", \"known-pins\": []}"), /* NUL escape */
        BODY("{\"port\": 1e999, \"known-pins\": []}"),
        BODY("{\"known-pins\": []}\0"), /* raw NUL byte */
        BODY("{\"known-pins\": []} trailing"),
        BODY("{'known-pins': []}"),
    };
    return cr_make_param_array(struct bad_body, bad, sizeof(bad) / sizeof(bad[0]));
}
#undef BODY

ParameterizedTest(struct bad_body *bb, variants, invalid_json_bodies)
{
    struct report_batch b;
    struct err err;
    cr_assert_eq(t_parse(bb->body, bb->len, &b, &err), ERR_INVALID, "%.*s", (int)bb->len, bb->body);
    cr_assert_str_eq(err.key, "invalid_json", "%.*s", (int)bb->len, bb->body);
    cr_assert_neq(err.detail[0], '\0');
    report_batch_cleanup(&b);
}

Test(variants, other_shapes)
{
    struct report_batch b;
    struct err err;
    cr_assert_eq(t_parse_str("42", &b, &err), ERR_INVALID);
    cr_assert_str_eq(err.key, "unknown_format");
    cr_assert_eq(t_parse_str("{}", &b, &err), ERR_INVALID);
    cr_assert_str_eq(err.key, "unknown_format");
    cr_assert_eq(t_parse_str("{\"csp-report\": {}}", &b, &err), ERR_INVALID);
    cr_assert_str_eq(err.key, "unknown_format");
    cr_assert_eq(t_parse_str("[]", &b, &err), ERR_OK);
    cr_assert_eq(b.n + b.ignored + b.n_rejected, 0, "the caller answers 400");
    report_batch_cleanup(&b);
}

Test(variants, mixed_array)
{
    json_t *ios = t_ios_report();
    json_t *arr = json_pack("[O,o,i,{s:s,s:i,s:s,s:s,s:{s:s,s:s}},{s:s,s:{s:s}},O,{s:{s:s}}]", ios,
                            ios_without("hostname"), 5, "type", "network-error", "age", 0, "url",
                            "https://[::1]:4443/x", "user_agent", "UA-2", "body", "type",
                            "tls.cert.date_invalid", "server-ip", "::1", /* legacy spelling */
                            "type", "csp-violation", "body", "a", "b", ios, "expect-ct-report",
                            "hostname", "Example.COM");
    json_decref(ios);
    struct report_batch b;
    struct err err;
    cr_assert_eq(t_parse_json(arr, &b, &err), ERR_OK);
    json_decref(arr);
    cr_assert_eq(b.n, 4);
    cr_assert_eq(b.ignored, 1);
    cr_assert_eq(b.n_rejected, 2);
    cr_assert_eq(b.rejected[0].index, 1);
    cr_assert_str_eq(b.rejected[0].err.key, "missing_field");
    cr_assert_eq(b.rejected[1].index, 2);
    cr_assert_str_eq(b.rejected[1].err.key, "unknown_format");
    cr_assert_eq(b.reports[0]->format, REPORT_FMT_TRUSTKIT_IOS);
    cr_assert_eq(b.reports[1]->format, REPORT_FMT_NEL);
    cr_assert_str_eq(b.reports[1]->hostname, "::1");
    cr_assert_eq(b.reports[1]->port, 4443);
    cr_assert_str_eq(b.reports[1]->client.user_agent, "UA-2", "the item's own user agent");
    cr_assert_str_eq(json_string_value(json_object_get(b.reports[1]->extra, "server_ip")), "::1");
    cr_assert_eq(b.reports[2]->format, REPORT_FMT_TRUSTKIT_IOS);
    cr_assert_eq(b.reports[3]->format, REPORT_FMT_EXPECT_CT);
    /* Each report knows its place in the request's array. */
    cr_assert_eq(b.reports[0]->index, 0);
    cr_assert_eq(b.reports[1]->index, 3);
    cr_assert_eq(b.reports[2]->index, 5);
    cr_assert_eq(b.reports[3]->index, 6);
    cr_assert_str_eq(b.reports[3]->hostname, "example.com");
    cr_assert_str_eq(b.reports[3]->client.user_agent, T_UA);
    for (size_t i = 1; i < b.n; i++)
        cr_assert_eq(memcmp(b.reports[i]->raw_sha256, b.reports[0]->raw_sha256, 32), 0);
    report_batch_cleanup(&b);
}

Test(variants, nel_urls)
{
    static const struct {
        const char *url;
        const char *host, *clean;
        int port;
    } ok[] = {
        {"https://user:pw@WWW.Example.com:8443/p/a?q=1#f", "www.example.com",
         "https://WWW.Example.com:8443/p/a", 8443},
        {"HTTP://example.com", "example.com", "http://example.com", 80},
        {"https://example.com:/", "example.com", "https://example.com:/", 443},
        {"https://[2001:DB8::1]#x", "2001:db8::1", "https://[2001:DB8::1]", 443},
        {"https://bücher.example/", "xn--bcher-kva.example", "https://bücher.example/", 443},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        json_t *item = json_pack("{s:s,s:s,s:{s:s}}", "type", "network-error", "url", ok[i].url,
                                 "body", "type", "tls.failed");
        struct report_batch b;
        struct report *r = take(item, &b);
        cr_assert_str_eq(r->hostname, ok[i].host, "%s", ok[i].url);
        cr_assert_eq(r->port, ok[i].port, "%s", ok[i].url);
        cr_assert_str_eq(json_string_value(json_object_get(r->extra, "url")), ok[i].clean);
        cr_assert_not(r->client_time.valid, "no age");
        cr_assert_str_eq(r->client.user_agent, T_UA, "header when the item has none");
        report_batch_cleanup(&b);
    }
    const char *bad[] = {"ftp://example.com/",   "https://",        "https://:443/",
                         "https://a:99999/",     "https://a:0/",    "https://a:8o/",
                         "https://[::1/",        "https://[::1]x/", "example.com",
                         "https://exa mple.com/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        refuse(json_pack("{s:s,s:s,s:{s:s}}", "type", "network-error", "url", bad[i], "body",
                         "type", "tls.failed"),
               "invalid_field");
    refuse(json_pack("{s:s,s:{s:s}}", "type", "network-error", "body", "type", "tls.failed"),
           "missing_field");
    /* A bad age is a problem, not a rejection. */
    struct report_batch b;
    struct report *r =
        take(json_pack("{s:s,s:s,s:s,s:{s:s}}", "type", "network-error", "url",
                       "https://a.example/", "age", "12", "body", "type", "tls.failed"),
             &b);
    cr_assert(report_has_problem(r, "invalid_field"));
    cr_assert_not(r->client_time.valid);
    report_batch_cleanup(&b);
}

/* The problem of code `code` whose detail contains needle, or NULL. */
static const struct report_problem *problem_with(const struct report *r, const char *code,
                                                 const char *needle)
{
    for (size_t i = 0; i < r->n_problems; i++) {
        if (strcmp(r->problems[i].code, code) == 0 && r->problems[i].detail != NULL &&
            strstr(r->problems[i].detail, needle) != NULL)
            return &r->problems[i];
    }
    return NULL;
}

/* NEL fields are kept as sent, or dropped with a problem that says so. */
Test(variants, nel_fields_kept_or_dropped_on_record)
{
    struct report_batch b;
    struct report *r =
        take(json_pack("{s:s,s:s,s:i,s:{s:s,s:s,s:s,s:i}}", "type", "network-error", "url",
                       "https://user:pw@a.example/p?q=1", "age", 0, "body", "type", "tls.failed",
                       "referrer", "https://me:secret@www.example.com/cart?token=abc#pay", "uri",
                       "https://a.example/p", "age", 7),
             &b);
    cr_assert_str_eq(r->client_time.raw, "0", "age as sent");
    cr_assert(r->client_time.valid);
    cr_assert_eq(r->client_time.usec, T_RECEIVED_AT);
    cr_assert_str_eq(json_string_value(json_object_get(r->extra, "url")), "https://a.example/p");
    cr_assert_str_eq(json_string_value(json_object_get(r->extra, "referrer")),
                     "https://www.example.com/cart");
    cr_assert_not_null(problem_with(r, "field_dropped", "url: userinfo and query"));
    cr_assert_not_null(problem_with(r, "field_dropped", "referrer: userinfo, query and fragment"));
    cr_assert_not_null(problem_with(r, "field_dropped", "body.uri"));
    cr_assert_not_null(problem_with(r, "field_dropped", "body.age"));
    cr_assert_eq(r->n_problems, 4);
    report_batch_cleanup(&b);

    /* A referrer that is not an http(s) URL is dropped whole, on record; a bad one too. */
    r = take(json_pack("{s:s,s:s,s:s,s:{s:s,s:s}}", "type", "network-error", "url",
                       "https://a.example/", "age", "12", "body", "type", "tls.failed", "referrer",
                       "android-app://com.example/path?x=1"),
             &b);
    cr_assert_str_eq(r->client_time.raw, "12", "a bad age is kept as sent too");
    cr_assert_not(r->client_time.valid);
    cr_assert_null(json_object_get(r->extra, "referrer"));
    cr_assert_not_null(problem_with(r, "field_dropped", "referrer"));
    cr_assert_not_null(problem_with(r, "invalid_field", "age"));
    report_batch_cleanup(&b);
    r = take(json_pack("{s:s,s:s,s:{s:s,s:i}}", "type", "network-error", "url",
                       "https://a.example/", "body", "type", "tls.failed", "referrer", 5),
             &b);
    cr_assert_null(json_object_get(r->extra, "referrer"));
    cr_assert_not_null(problem_with(r, "invalid_field", "referrer"));
    cr_assert_null(r->client_time.raw, "no age");
    report_batch_cleanup(&b);
}

Test(variants, expect_ct_wrong_types)
{
    struct report_batch b;
    struct report *r = take(json_pack("{s:{s:s,s:i,s:s,s:i,s:[s]},s:i}", "expect-ct-report",
                                      "hostname", "www.example.com", "failure-mode", 1,
                                      "test-report", "yes", "port", 443, "scts", "x", "extra", 1),
                            &b);
    cr_assert_eq(t_count_problem(r, "invalid_field"), 2);
    cr_assert_null(json_object_get(r->extra, "failure_mode"));
    cr_assert_null(json_object_get(r->extra, "test_report"));
    cr_assert_eq(json_array_size(json_object_get(r->extra, "scts")), 1);
    cr_assert_str_eq(
        json_string_value(json_array_get(json_object_get(r->extra, "unknown_keys"), 0)), "extra");
    report_batch_cleanup(&b);
}
