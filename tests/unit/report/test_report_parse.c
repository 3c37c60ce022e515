/*
 * report_parse on every report-shaped file in tests/fixtures (see its PROVENANCE.md) and on
 * tests/data/parse: the dispatcher's outcome and the normalized fields.
 */
#include "report_test_util.h"

#include <criterion/parameterized.h>

#define FX(p) FIXTURES_DIR "/" p

/* Parameters hold their text: Criterion runs each one in a process of its own. */
struct outcome {
    char path[512];
    enum err_code rc;
    char key[32]; /* whole-body error key, "" on ERR_OK */
    size_t n, ignored;
    int format; /* of the first report, -1 when none */
};

/* Every file of the fixtures folder and what the dispatcher must make of it. */
static struct outcome outcomes[] = {
    {FX("trustkit-ios/docs_sample_report_2015-06-18_initial.json"), ERR_OK, "", 1, 0,
     REPORT_FMT_TRUSTKIT_IOS},
    {FX("trustkit-ios/docs_sample_report_2015-10-13_app-identifier.json"), ERR_OK, "", 1, 0,
     REPORT_FMT_TRUSTKIT_IOS},
    {FX("trustkit-ios/docs_sample_report_2015-10-15_INVALID_smart-quote.json"), ERR_INVALID,
     "invalid_json", 0, 0, -1},
    {FX("trustkit-ios/docs_sample_report_2015-10-30_app-vendor-id.json"), ERR_OK, "", 1, 0,
     REPORT_FMT_TRUSTKIT_IOS},
    {FX("trustkit-ios/docs_sample_report_2015-11-05_validation-result.json"), ERR_OK, "", 1, 0,
     REPORT_FMT_TRUSTKIT_IOS},
    {FX("trustkit-ios/docs_sample_report_2015-12-19_app-platform.json"), ERR_OK, "", 1, 0,
     REPORT_FMT_TRUSTKIT_IOS},
    {FX("trustkit-ios/docs_sample_report_2016-06-07_trustkit-version_enforce-pinning.json"), ERR_OK,
     "", 1, 0, REPORT_FMT_TRUSTKIT_IOS},
    {FX("trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json"), ERR_OK, "",
     1, 0, REPORT_FMT_TRUSTKIT_IOS},
    {FX("trustkit-ios/TSKTrustKitConfig_h_kTSKReportUris_doc_sample.pseudo-json.txt"), ERR_INVALID,
     "invalid_json", 0, 0, -1},
    /* The first Android sample still says "app-platform": "IOS". */
    {FX("trustkit-android/docs_sample_report_2016-11-25_initial.json"), ERR_OK, "", 1, 0,
     REPORT_FMT_TRUSTKIT_IOS},
    {FX("trustkit-android/docs_sample_report_2016-11-25_updated.json"), ERR_OK, "", 1, 0,
     REPORT_FMT_TRUSTKIT_ANDROID},
    {FX("sentry-relay/integration_hpkp.input.json"), ERR_OK, "", 1, 0, REPORT_FMT_HPKP},
    {FX("sentry-relay/integration_expect_ct.input.json"), ERR_OK, "", 1, 0, REPORT_FMT_EXPECT_CT},
    {FX("sentry-relay/integration_expect_staple.input.json"), ERR_INVALID, "unknown_format", 0, 0,
     -1},
    {FX("sentry-relay/unit_test_hpkp_basic.input.json"), ERR_OK, "", 1, 0, REPORT_FMT_HPKP},
    {FX("sentry-relay/unit_test_expectct_basic.input.json"), ERR_OK, "", 1, 0,
     REPORT_FMT_EXPECT_CT},
    /* No wrapper (and date_time with an underscore): not a shape we know. */
    {FX("sentry-relay/unit_test_expectct_invalid.input.json"), ERR_INVALID, "unknown_format", 0, 0,
     -1},
    {FX("sentry-relay/unit_test_expectstaple_basic.input.json"), ERR_INVALID, "unknown_format", 0,
     0, -1},
    {FX("sentry-relay/unit_test_type_detect_hpkp.input.json"), ERR_OK, "", 1, 0, REPORT_FMT_HPKP},
    {FX("sentry-relay/unit_test_type_detect_expect_ct.input.json"), ERR_OK, "", 1, 0,
     REPORT_FMT_EXPECT_CT},
    {FX("sentry-relay/unit_test_type_detect_expect_staple.input.json"), ERR_INVALID,
     "unknown_format", 0, 0, -1},
    /* A lone Reporting API item (tcp.refused): accepted as a batch, nothing TLS in it. */
    {FX("sentry-relay/unit_test_nel_basic.input.json"), ERR_OK, "", 0, 1, -1},
    /* Sentry/Relay outputs are events, not reports. */
    {FX("sentry-relay/integration_hpkp.expected.no_processing.json"), ERR_INVALID, "unknown_format",
     0, 0, -1},
    {FX("sentry-relay/integration_expect_ct.expected.no_processing.json"), ERR_INVALID,
     "unknown_format", 0, 0, -1},
    {FX("sentry-relay/integration_expect_staple.expected.no_processing.json"), ERR_INVALID,
     "unknown_format", 0, 0, -1},
    {FX("sentry-relay/unit_test_hpkp_basic.expected.json"), ERR_INVALID, "unknown_format", 0, 0,
     -1},
    {FX("sentry-relay/unit_test_expectct_basic.expected.json"), ERR_INVALID, "unknown_format", 0, 0,
     -1},
    {FX("sentry-relay/unit_test_expectstaple_basic.expected.json"), ERR_INVALID, "unknown_format",
     0, 0, -1},
    {FX("sentry-relay/unit_test_nel_basic.expected.json"), ERR_INVALID, "unknown_format", 0, 0, -1},
    {FX("sentry/sample_event_hpkp.normalized.json"), ERR_INVALID, "unknown_format", 0, 0, -1},
    {FX("sentry/sample_event_expectct.normalized.json"), ERR_INVALID, "unknown_format", 0, 0, -1},
    {FX("reportd/expect_ct_chrome_test_report_2019-10-04.json"), ERR_OK, "", 1, 0,
     REPORT_FMT_EXPECT_CT},
    {FX("reportd/expect_ct_chrome_test_report_2019-10-06.json"), ERR_OK, "", 1, 0,
     REPORT_FMT_EXPECT_CT},
    /* 36 NEL reports, none of them tls.*: all ignored, so the browser gets a 200. */
    {FX("reportd/nel_chrome77_android_batch.json"), ERR_OK, "", 0, 36, -1},
    {FX("w3c-nel/nel_spec_dns-failure.json"), ERR_OK, "", 0, 1, -1},
    {FX("w3c-nel/nel_spec_downgrade-ip1.json"), ERR_OK, "", 0, 1, -1},
    {FX("w3c-nel/nel_spec_downgrade-ip3.json"), ERR_OK, "", 0, 1, -1},
    {FX("w3c-nel/nel_spec_protocol-error.json"), ERR_OK, "", 0, 1, -1},
    {FX("w3c-nel/nel_spec_subdomain-dns-failure.json"), ERR_OK, "", 0, 1, -1},
    {FX("w3c-nel/nel_spec_success-ip1.json"), ERR_OK, "", 0, 1, -1},
    {FX("w3c-nel/nel_spec_success-ip2.json"), ERR_OK, "", 0, 1, -1},
    {FX("w3c-reporting/network_reporting_spec_sample_reports.pseudo-json.txt"), ERR_INVALID,
     "invalid_json", 0, 0, -1},
    {FX("w3c-reporting/reporting_spec_index_bs_sample_reports.pseudo-json.txt"), ERR_INVALID,
     "invalid_json", 0, 0, -1},
    /* A certificate file is not a report body. */
    {FX("chromium-blocklist/00309c736dd661da6f1eb24173aa849944c168a43a15bffd192eecfdb6f8dbd2.pem"),
     ERR_INVALID, "invalid_json", 0, 0, -1},
    {TEST_DATA_DIR "/parse/trustkit_macos_v3.json", ERR_OK, "", 1, 0, REPORT_FMT_TRUSTKIT_IOS},
    {TEST_DATA_DIR "/parse/nel_tls_batch.json", ERR_OK, "", 2, 2, REPORT_FMT_NEL},
};

ParameterizedTestParameters(report_parse, every_fixture_outcome)
{
    return cr_make_param_array(struct outcome, outcomes, sizeof(outcomes) / sizeof(outcomes[0]));
}

ParameterizedTest(struct outcome *o, report_parse, every_fixture_outcome)
{
    size_t len;
    char *body = testenv_read_file(o->path, &len);
    struct report_batch b;
    struct err err;
    enum err_code rc = t_parse(body, len, &b, &err);
    cr_assert_eq(rc, o->rc, "%s: rc %d (%s: %s)", o->path, rc, err.key, err.detail);
    if (o->key[0] != '\0')
        cr_assert_str_eq(err.key, o->key, "%s", o->path);
    cr_assert_eq(b.n, o->n, "%s: %zu reports", o->path, b.n);
    cr_assert_eq(b.ignored, o->ignored, "%s: %zu ignored", o->path, b.ignored);
    cr_assert_eq(b.n_rejected, 0, "%s", o->path);
    if (o->format >= 0)
        cr_assert_eq((int)b.reports[0]->format, o->format, "%s", o->path);
    /* Every report carries the server's view of the request. */
    uint8_t sha[32];
    t_sha256(body, len, sha);
    for (size_t k = 0; k < b.n; k++) {
        cr_assert_eq(b.reports[k]->received_at, T_RECEIVED_AT);
        cr_assert_eq(memcmp(b.reports[k]->raw_sha256, sha, 32), 0);
        cr_assert_not_null(b.reports[k]->client.user_agent);
    }
    report_batch_cleanup(&b);
    free(body);
}

static struct report *fixture_report(const char *path, struct report_batch *b, char **body)
{
    size_t len;
    *body = testenv_read_file(path, &len);
    struct err err;
    cr_assert_eq(t_parse(*body, len, b, &err), ERR_OK, "%s: %s", err.key, err.detail);
    cr_assert_eq(b->n, 1);
    return b->reports[0];
}

/* The three real certificates of the TrustKit samples, leaf first. */
static void expect_thawte_chain(const struct report_chain *ch)
{
    cr_assert(ch->present);
    cr_assert_eq(ch->n, 3);
    t_b64_eq(ch->entries[0].cert->spki_sha256, T_LEAF_SPKI);
    t_b64_eq(ch->entries[1].cert->spki_sha256, T_CA_SPKI);
    t_b64_eq(ch->entries[2].cert->spki_sha256, T_ROOT_SPKI);
    cr_assert_str_eq(ch->entries[0].cert->subject_cn, "www.datatheorem.com");
    /* The chain id: SHA-256 over the DER of the certificates, concatenated in order. */
    size_t total = 0;
    for (size_t i = 0; i < 3; i++)
        total += ch->entries[i].cert->der_len;
    unsigned char *cat = malloc(total), *p = cat;
    for (size_t i = 0; i < 3; i++) {
        memcpy(p, ch->entries[i].cert->der, ch->entries[i].cert->der_len);
        p += ch->entries[i].cert->der_len;
    }
    uint8_t want[32];
    t_sha256(cat, total, want);
    free(cat);
    cr_assert(ch->has_sha256);
    cr_assert_eq(memcmp(ch->sha256, want, 32), 0);
}

static void expect_doc_pins(const struct report *r)
{
    /* Canonical order is byte order: 0xac.. (A) sorts after 0x4d.. (B). */
    cr_assert_eq(r->n_known_pins, 2);
    t_b64_eq(r->known_pins[0], T_PIN_B);
    t_b64_eq(r->known_pins[1], T_PIN_A);
    cr_assert_eq(r->n_known_pins_raw, 0);
}

Test(report_parse, trustkit_1_0_initial)
{
    struct report_batch b;
    char *body;
    struct report *r =
        fixture_report(FX("trustkit-ios/docs_sample_report_2015-06-18_initial.json"), &b, &body);
    cr_assert_str_eq(r->hostname, "www.datatheorem.com");
    cr_assert_str_eq(r->hostname_raw, "www.datatheorem.com");
    cr_assert_str_eq(r->noted_hostname, "www.datatheorem.com");
    cr_assert_eq(r->include_subdomains, 0);
    cr_assert_eq(r->enforce_pinning, -1);
    cr_assert_eq(r->port, 443);
    cr_assert_not(r->has_validation_result);
    cr_assert_str_eq(r->client_time.raw, "2015-06-08T01:58:05Z");
    t_time_eq(&r->client_time, "2015-06-08T01:58:05Z");
    cr_assert_null(r->pins_expire.raw);
    cr_assert_not(r->pins_expire.valid);
    expect_doc_pins(r);
    expect_thawte_chain(&r->validated);
    cr_assert_not(r->served.present);
    cr_assert_str_eq(r->app.bundle_id, "com.datatheorem.testtrustkit2");
    cr_assert_str_eq(r->app.version, "1");
    cr_assert_null(r->app.platform, "TrustKit 1.0 does not say which Apple platform");
    cr_assert_null(r->app.vendor_id);
    cr_assert_str_eq(r->app.sdk, "trustkit");
    cr_assert_null(r->app.sdk_version);
    cr_assert_str_eq(r->client.user_agent, T_UA);
    cr_assert_eq(r->n_problems, 0, "first problem: %s", r->n_problems ? r->problems[0].code : "");
    cr_assert_null(r->extra);
    report_batch_cleanup(&b);
    free(body);
}

Test(report_parse, trustkit_version_steps)
{
    struct report_batch b;
    char *body;
    struct report *r = fixture_report(
        FX("trustkit-ios/docs_sample_report_2015-10-13_app-identifier.json"), &b, &body);
    cr_assert_str_eq(r->app.vendor_id, "599F9C00-92DC-4B5C-9464-7971F01F8370");
    cr_assert_eq(r->n_problems, 0, "app-identifier is a known legacy key");
    report_batch_cleanup(&b);
    free(body);

    r = fixture_report(FX("trustkit-ios/docs_sample_report_2015-10-30_app-vendor-id.json"), &b,
                       &body);
    cr_assert_str_eq(r->app.vendor_id, "599F9C00-92DC-4B5C-9464-7971F01F8370");
    cr_assert_not(r->has_validation_result);
    report_batch_cleanup(&b);
    free(body);

    r = fixture_report(FX("trustkit-ios/docs_sample_report_2015-11-05_validation-result.json"), &b,
                       &body);
    cr_assert(r->has_validation_result);
    cr_assert_eq(r->validation_result, 1);
    cr_assert_null(r->app.platform);
    cr_assert_eq(r->n_problems, 0);
    report_batch_cleanup(&b);
    free(body);

    r = fixture_report(FX("trustkit-ios/docs_sample_report_2015-12-19_app-platform.json"), &b,
                       &body);
    cr_assert_str_eq(r->app.platform, "ios");
    cr_assert_str_eq(r->noted_hostname, "www.datatheorem.com");
    cr_assert_eq(r->include_subdomains, 0);
    cr_assert_eq(r->n_problems, 0);
    report_batch_cleanup(&b);
    free(body);

    r = fixture_report(
        FX("trustkit-ios/docs_sample_report_2016-06-07_trustkit-version_enforce-pinning.json"), &b,
        &body);
    cr_assert_str_eq(r->app.sdk_version, "1.3.1");
    cr_assert_eq(r->enforce_pinning, 1);
    cr_assert_str_eq(r->noted_hostname, "datatheorem.com");
    cr_assert_eq(r->include_subdomains, 1);
    cr_assert_not(report_has_problem(r, "hostname_not_covered"), "subdomain match");
    cr_assert_null(r->app.platform_version);
    report_batch_cleanup(&b);
    free(body);
}

Test(report_parse, trustkit_final_doc_sample)
{
    struct report_batch b;
    char *body;
    struct report *r = fixture_report(T_IOS_FINAL, &b, &body);
    cr_assert_eq(r->format, REPORT_FMT_TRUSTKIT_IOS);
    cr_assert_str_eq(r->app.platform, "ios");
    cr_assert_str_eq(r->app.platform_version, "10.2.0");
    cr_assert_str_eq(r->app.vendor_id, "599F9C00-92DC-4B5C-9464-7971F01F8370");
    cr_assert_str_eq(r->app.sdk, "trustkit");
    cr_assert_str_eq(r->app.sdk_version, "1.3.1");
    cr_assert_eq(r->enforce_pinning, 1);
    cr_assert_eq(r->include_subdomains, 1);
    cr_assert_eq(r->validation_result, 1);
    expect_doc_pins(r);
    expect_thawte_chain(&r->validated);
    /* None of the chain's keys is a known pin: consistent with validation-result 1. */
    for (size_t i = 0; i < r->validated.n; i++)
        cr_assert_not(pin_in_set(r->validated.entries[i].cert->spki_sha256,
                                 (const uint8_t(*)[PIN_LEN])r->known_pins, r->n_known_pins));
    cr_assert_eq(r->n_problems, 0);
    report_batch_cleanup(&b);
    free(body);
}

Test(report_parse, trustkit_android_samples)
{
    struct report_batch b;
    char *body;
    struct report *r = fixture_report(
        FX("trustkit-android/docs_sample_report_2016-11-25_updated.json"), &b, &body);
    cr_assert_eq(r->format, REPORT_FMT_TRUSTKIT_ANDROID);
    cr_assert_str_eq(r->app.platform, "android");
    cr_assert_str_eq(r->app.sdk, "trustkit-android");
    cr_assert_str_eq(r->app.sdk_version, "1.0.0");
    cr_assert_eq(r->served.n, 2);
    cr_assert(r->served.has_sha256);
    t_b64_eq(r->served.entries[1].cert->spki_sha256, T_CA_SPKI);
    expect_thawte_chain(&r->validated);
    cr_assert_neq(memcmp(r->served.sha256, r->validated.sha256, 32), 0);
    expect_doc_pins(r);
    cr_assert_eq(r->n_problems, 0);
    report_batch_cleanup(&b);
    free(body);

    r = fixture_report(FX("trustkit-android/docs_sample_report_2016-11-25_initial.json"), &b,
                       &body);
    cr_assert_str_eq(r->app.platform, "ios");
    cr_assert_str_eq(r->app.sdk, "trustkit");
    report_batch_cleanup(&b);
    free(body);
}

Test(report_parse, relay_hpkp)
{
    struct report_batch b;
    char *body;
    struct report *r = fixture_report(FX("sentry-relay/integration_hpkp.input.json"), &b, &body);
    cr_assert_eq(r->format, REPORT_FMT_HPKP);
    cr_assert_str_eq(r->hostname, "www.example.com");
    cr_assert_null(r->noted_hostname);
    cr_assert_eq(r->port, 443);
    cr_assert_eq(r->include_subdomains, 0);
    t_time_eq(&r->client_time, "2014-04-06T13:00:50Z");
    t_time_eq(&r->pins_expire, "2014-05-01T12:40:50Z");
    cr_assert_str_eq(r->pins_expire.raw, "2014-05-01T12:40:50Z");
    cr_assert_eq(r->n_known_pins, 2);
    t_b64_eq(r->known_pins[0], "E9CZ9INDbd+2eRQozYqqbQ2yXLVKB9+xcprMF+44U1g=");
    t_b64_eq(r->known_pins[1], "d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM=");
    /* Abbreviated PEMs: kept as sent, one problem each, no chain id. */
    cr_assert_eq(r->served.n, 1);
    cr_assert_null(r->served.entries[0].cert);
    cr_assert_str_eq(r->served.entries[0].opaque, "-----BEGIN CERTIFICATE-----\n "
                                                  "MIIEBDCCAuygBQUAMEIxCzAJBgNVBAYTAlVT\n "
                                                  "-----END CERTIFICATE-----");
    cr_assert_not(r->served.has_sha256);
    cr_assert_eq(r->validated.n, 1);
    cr_assert_eq(t_count_problem(r, "undecodable_certificate"), 2);
    cr_assert_eq(r->n_problems, 2);
    cr_assert_str_eq(r->app.bundle_id, "web");
    cr_assert_str_eq(r->app.platform, "web");
    cr_assert_null(r->app.version);
    cr_assert_null(r->app.sdk);
    cr_assert_eq(r->enforce_pinning, -1);
    report_batch_cleanup(&b);
    free(body);

    r = fixture_report(FX("sentry-relay/unit_test_hpkp_basic.input.json"), &b, &body);
    cr_assert_str_eq(r->hostname, "example.com");
    cr_assert_eq(r->n_known_pins, 1);
    cr_assert_eq(t_count_problem(r, "undecodable_certificate"), 2, "empty PEM bodies");
    report_batch_cleanup(&b);
    free(body);

    r = fixture_report(FX("sentry-relay/unit_test_type_detect_hpkp.input.json"), &b, &body);
    cr_assert_eq(t_count_problem(r, "undecodable_certificate"), 2, "PEMs with literal ...");
    cr_assert_not_null(strstr(r->validated.entries[0].opaque, "..."));
    report_batch_cleanup(&b);
    free(body);
}

Test(report_parse, relay_expect_ct)
{
    struct report_batch b;
    char *body;
    struct report *r =
        fixture_report(FX("sentry-relay/integration_expect_ct.input.json"), &b, &body);
    cr_assert_eq(r->format, REPORT_FMT_EXPECT_CT);
    cr_assert_str_eq(r->hostname, "www.example.com");
    cr_assert_eq(r->port, 443);
    t_time_eq(&r->client_time, "2014-04-06T13:00:50Z");
    t_time_eq(&r->pins_expire, "2014-05-01T12:40:50Z");
    cr_assert_eq(r->n_known_pins, 0);
    json_t *scts = json_object_get(r->extra, "scts");
    cr_assert_eq(json_array_size(scts), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(scts, 0), "status")),
                     "invalid");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(scts, 0), "serialized_sct")),
                     "ABCD==");
    cr_assert_eq(t_count_problem(r, "undecodable_certificate"), 2);
    cr_assert_str_eq(r->app.bundle_id, "web");
    report_batch_cleanup(&b);
    free(body);

    r = fixture_report(FX("sentry-relay/unit_test_expectct_basic.input.json"), &b, &body);
    cr_assert_str_eq(json_string_value(json_object_get(r->extra, "scheme")), "https");
    cr_assert_str_eq(json_string_value(json_object_get(r->extra, "failure_mode")), "enforce");
    cr_assert(json_is_false(json_object_get(r->extra, "test_report")));
    cr_assert_not(report_has_problem(r, "unknown_keys"));
    report_batch_cleanup(&b);
    free(body);
}

Test(report_parse, chrome_expect_ct_test_reports)
{
    struct report_batch b;
    char *body;
    struct report *r =
        fixture_report(FX("reportd/expect_ct_chrome_test_report_2019-10-04.json"), &b, &body);
    cr_assert_str_eq(r->hostname, "expect-ct-report.test");
    cr_assert_eq(r->port, 443);
    t_time_eq(&r->client_time, "2019-10-04T01:05:38.621000Z");
    cr_assert_str_eq(r->client_time.raw, "2019-10-04T01:05:38.621Z");
    cr_assert(r->served.present);
    cr_assert_eq(r->served.n, 0);
    cr_assert_not(r->served.has_sha256);
    cr_assert_eq(json_array_size(json_object_get(r->extra, "scts")), 0);
    cr_assert_null(json_object_get(r->extra, "test_report"), "Chrome never sends it");
    cr_assert_eq(r->n_problems, 0);
    report_batch_cleanup(&b);
    free(body);

    r = fixture_report(FX("reportd/expect_ct_chrome_test_report_2019-10-06.json"), &b, &body);
    t_time_eq(&r->client_time, "2019-10-06T15:09:06.894000Z");
    report_batch_cleanup(&b);
    free(body);
}

Test(report_parse, real_shaped_trustkit_3)
{
    struct report_batch b;
    char *body;
    struct report *r = fixture_report(TEST_DATA_DIR "/parse/trustkit_macos_v3.json", &b, &body);
    cr_assert_str_eq(r->hostname, "www.datatheorem.com");
    cr_assert_str_eq(r->hostname_raw, "WWW.DataTheorem.com");
    cr_assert_eq(r->port, 0, "TrustKit sends 0: null");
    cr_assert_not(report_has_problem(r, "invalid_port"));
    cr_assert_str_eq(r->app.platform, "macos");
    cr_assert_str_eq(r->app.version, "4.2.1");
    cr_assert_eq(r->validation_result, 2);
    t_time_eq(&r->pins_expire, "2025-01-31T00:00:00Z");
    cr_assert_str_eq(r->pins_expire.raw, "2025-01-31");
    expect_doc_pins(r);
    expect_thawte_chain(&r->validated);
    cr_assert_eq(r->n_problems, 0);
    report_batch_cleanup(&b);
    free(body);
}

Test(report_parse, nel_tls_batch)
{
    size_t len;
    char *body = testenv_read_file(TEST_DATA_DIR "/parse/nel_tls_batch.json", &len);
    struct report_batch b;
    struct err err;
    cr_assert_eq(t_parse(body, len, &b, &err), ERR_OK);
    cr_assert_eq(b.n, 2);
    cr_assert_eq(b.ignored, 2, "an 'ok' NEL report and a CSP report");
    struct report *r = b.reports[0];
    cr_assert_eq(r->format, REPORT_FMT_NEL);
    cr_assert_str_eq(r->hostname, "api.example.com");
    cr_assert_eq(r->port, 443);
    cr_assert(r->client_time.valid);
    cr_assert_eq(r->client_time.usec, T_RECEIVED_AT - 1200 * 1000);
    cr_assert_str_eq(r->client_time.raw, "1200", "the age as sent");
    cr_assert_not_null(strstr(r->client.user_agent, "Chrome/120"));
    cr_assert_str_eq(json_string_value(json_object_get(r->extra, "type")),
                     "tls.cert.pinned_key_not_in_cert_chain");
    cr_assert_str_eq(json_string_value(json_object_get(r->extra, "phase")), "connection");
    cr_assert_str_eq(json_string_value(json_object_get(r->extra, "server_ip")), "192.0.2.10");
    cr_assert_str_eq(json_string_value(json_object_get(r->extra, "url")),
                     "https://api.example.com/v1/items");
    cr_assert_eq(json_integer_value(json_object_get(r->extra, "elapsed_time")), 48);
    cr_assert_eq(json_integer_value(json_object_get(r->extra, "status_code")), 0);
    cr_assert_str_eq(json_string_value(json_object_get(r->extra, "method")), "GET");
    cr_assert_str_eq(json_string_value(json_object_get(r->extra, "referrer")),
                     "https://www.example.com/account", "where the request came from");
    cr_assert_str_eq(r->app.bundle_id, "web");
    /* The url's query and fragment are dropped on purpose, and that is said. */
    cr_assert_eq(r->n_problems, 1);
    cr_assert_str_eq(r->problems[0].code, "field_dropped");
    cr_assert_not_null(strstr(r->problems[0].detail, "url: query and fragment"), "%s",
                       r->problems[0].detail);
    r = b.reports[1];
    cr_assert_str_eq(r->hostname, "2001:db8::5");
    cr_assert_eq(r->port, 8443);
    cr_assert_str_eq(r->client_time.raw, "5000");
    cr_assert_str_eq(json_string_value(json_object_get(r->extra, "referrer")), "");
    cr_assert_eq(r->n_problems, 0, "nothing dropped");
    cr_assert_eq(json_integer_value(json_object_get(r->extra, "sampling_fraction")), 1);
    report_batch_cleanup(&b);
    free(body);
}

Test(report_parse, invalid_json_detail_has_position)
{
    size_t len;
    char *body = testenv_read_file(
        FX("trustkit-ios/docs_sample_report_2015-10-15_INVALID_smart-quote.json"), &len);
    struct report_batch b;
    struct err err;
    cr_assert_eq(t_parse(body, len, &b, &err), ERR_INVALID);
    cr_assert_str_eq(err.key, "invalid_json");
    cr_assert_not_null(strstr(err.detail, "line 17"), "%s", err.detail);
    cr_assert_eq(b.n, 0);
    cr_assert_null(b.reports);
    report_batch_cleanup(&b);
    free(body);
}
