/* Ingest end to end: every real fixture through the real server into the real database and
 * back out through the admin API, byte-exact raw bodies, media types, limits, CORS. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "testenv.h"

static struct testenv_server srv;

static void setup(void)
{
    testenv_reset_db();
    memset(&srv, 0, sizeof(srv));
    static const char *const env[] = {"PINWATCH_MAX_BODY=65536", NULL};
    testenv_server_start(&srv, env);
}

static void teardown(void)
{
    testenv_server_kill(&srv);
}

TestSuite(ingest, .init = setup, .fini = teardown, .timeout = 180);

static char *fixture(const char *rel, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, rel);
    return testenv_read_file(path, len);
}

/* Post a fixture, expect 200 with n accepted; returns the first id (new string). */
static char *post_ok(const char *rel, const char *content_type, size_t expect_accepted)
{
    size_t len;
    char *body = fixture(rel, &len);
    char h[256];
    snprintf(h, sizeof(h), "Content-Type: %s\r\n", content_type);
    struct testenv_response r;
    int st = testenv_http(srv.port, "POST", "/v1/reports", h, body, len, false, &r);
    cr_assert_eq(st, 200, "%s: status %d body %s", rel, st, r.body);
    json_t *acc = json_object_get(r.json, "accepted");
    cr_assert_eq(json_array_size(acc), expect_accepted, "%s: %s", rel, r.body);
    char *id = expect_accepted > 0 ? strdup(json_string_value(json_array_get(acc, 0))) : NULL;
    testenv_response_free(&r);
    free(body);
    return id;
}

static json_t *get_report(const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/reports/%s", id);
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, path, &r), 200, "%s", r.body);
    json_t *j = json_incref(r.json);
    testenv_response_free(&r);
    return j;
}

static void assert_raw_exact(const char *id, const char *rel)
{
    size_t len;
    char *body = fixture(rel, &len);
    char path[128];
    snprintf(path, sizeof(path), "/v1/reports/%s/raw", id);
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, path, &r), 200);
    cr_assert_eq(r.body_len, len, "%s: raw length %zu, posted %zu", rel, r.body_len, len);
    cr_assert(memcmp(r.body, body, len) == 0, "%s: raw bytes differ", rel);
    /* the header carries the whole SHA-256 of those bytes: 64 hex digits */
    unsigned char digest[32];
    char hex[65];
    cr_assert_eq(EVP_Digest(body, len, digest, NULL, EVP_sha256(), NULL), 1);
    for (size_t i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    char *header = testenv_response_header(&r, "X-Raw-SHA256");
    cr_assert_not_null(header);
    cr_assert_str_eq(header, hex, "%s: X-Raw-SHA256", rel);
    free(header);
    testenv_response_free(&r);
    free(body);
}

static void assert_raw_exact_bytes(const char *id, const char *body, size_t len)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/reports/%s/raw", id);
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, path, &r), 200);
    cr_assert_eq(r.body_len, len, "raw length %zu, posted %zu", r.body_len, len);
    cr_assert(memcmp(r.body, body, len) == 0, "raw bytes differ");
    testenv_response_free(&r);
}

static const char *str_at(json_t *obj, const char *a, const char *b)
{
    json_t *v = json_object_get(obj, a);
    if (b != NULL)
        v = json_object_get(v, b);
    return json_string_value(v);
}

Test(ingest, every_trustkit_ios_version_is_accepted_and_read_back)
{
    static const char *const files[] = {
        "trustkit-ios/docs_sample_report_2015-06-18_initial.json",
        "trustkit-ios/docs_sample_report_2015-10-13_app-identifier.json",
        "trustkit-ios/docs_sample_report_2015-10-30_app-vendor-id.json",
        "trustkit-ios/docs_sample_report_2015-11-05_validation-result.json",
        "trustkit-ios/docs_sample_report_2015-12-19_app-platform.json",
        "trustkit-ios/docs_sample_report_2016-06-07_trustkit-version_enforce-pinning.json",
        "trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *id = post_ok(files[i], "application/json", 1);
        json_t *rep = get_report(id);
        cr_assert_str_eq(str_at(rep, "format", NULL), "trustkit_ios", "%s", files[i]);
        cr_assert_str_eq(str_at(rep, "hostname", NULL), "www.datatheorem.com");
        cr_assert_str_eq(str_at(rep, "app", "bundle_id"), "com.datatheorem.testtrustkit2");
        cr_assert_eq(json_array_size(json_object_get(rep, "validated_chain")), 3, "%s", files[i]);
        cr_assert_eq(json_array_size(json_object_get(rep, "known_pins")), 2);
        /* The leaf's pin, as the fixture provenance computed it with OpenSSL. */
        json_t *leaf = json_array_get(json_object_get(rep, "validated_chain"), 0);
        cr_assert_str_eq(str_at(leaf, "pin_sha256", NULL),
                         "0SDf3cRToyZJaMsoS17oF72VMavLxj/N7WBNasNuiR8=");
        cr_assert_eq(strlen(str_at(rep, "validated_chain_sha256", NULL)), 64);
        cr_assert_eq(strlen(str_at(rep, "raw_sha256", NULL)), 64);
        cr_assert_not_null(json_object_get(rep, "findings"));
        cr_assert_not_null(str_at(rep, "group", NULL));
        assert_raw_exact(id, files[i]);
        json_decref(rep);
        free(id);
    }
}

Test(ingest, trustkit_fields_by_version)
{
    char *id = post_ok("trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json",
                       "application/json", 1);
    json_t *rep = get_report(id);
    cr_assert_str_eq(str_at(rep, "app", "platform"), "ios");
    cr_assert_str_eq(str_at(rep, "app", "platform_version"), "10.2.0");
    cr_assert_str_eq(str_at(rep, "noted_hostname", NULL), "datatheorem.com");
    cr_assert(json_is_true(json_object_get(rep, "include_subdomains")));
    cr_assert_eq(json_integer_value(json_object_get(rep, "validation_result")), 1);
    cr_assert_str_eq(str_at(rep, "client_time", NULL), "2015-06-08T01:58:05Z");
    cr_assert_str_eq(str_at(rep, "client_time_raw", NULL), "2015-06-08T01:58:05Z");
    cr_assert_str_eq(str_at(rep, "client", "network"), "127.0.0.0/24");
    /* Full client addresses are not stored by default. */
    cr_assert(json_is_null(json_object_get(json_object_get(rep, "client"), "ip")));
    json_decref(rep);
    free(id);
    /* TrustKit 1.0: no validation-result at all. */
    id = post_ok("trustkit-ios/docs_sample_report_2015-06-18_initial.json", "application/json", 1);
    rep = get_report(id);
    cr_assert(json_is_null(json_object_get(rep, "validation_result")));
    json_decref(rep);
    free(id);
}

/* Replace the first occurrence of from in s (new string). */
static char *replaced(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    cr_assert_not_null(at, "%s not in the body", from);
    size_t n = strlen(s) - strlen(from) + strlen(to);
    char *out = malloc(n + 1);
    snprintf(out, n + 1, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return out;
}

Test(ingest, raw_spellings_and_findings_survive_compact_storage)
{
    /* Spellings that differ from their normalized value are stored and shown as sent; equal
     * ones are stored once and shown twice (see migration 0008). */
    size_t len;
    char *body =
        fixture("trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json", &len);
    char *a = replaced(body, "\"www.datatheorem.com\"", "\"WWW.DataTheorem.com.\"");
    char *b = replaced(a, "\"2015-06-08T01:58:05Z\"", "\"2015-06-08T03:58:05.000+02:00\"");
    struct testenv_response r;
    int st = testenv_http(srv.port, "POST", "/v1/reports", "Content-Type: application/json\r\n", b,
                          strlen(b), false, &r);
    cr_assert_eq(st, 200, "%s", r.body);
    char *id = strdup(json_string_value(json_array_get(json_object_get(r.json, "accepted"), 0)));
    testenv_response_free(&r);
    json_t *rep = get_report(id);
    cr_assert_str_eq(str_at(rep, "hostname", NULL), "www.datatheorem.com");
    cr_assert_str_eq(str_at(rep, "hostname_raw", NULL), "WWW.DataTheorem.com.");
    cr_assert_str_eq(str_at(rep, "noted_hostname_raw", NULL), "datatheorem.com");
    cr_assert_str_eq(str_at(rep, "client_time", NULL), "2015-06-08T01:58:05Z");
    cr_assert_str_eq(str_at(rep, "client_time_raw", NULL), "2015-06-08T03:58:05.000+02:00");
    /* Per-report findings come back as booleans, merged with the chain's. */
    json_t *f = json_object_get(rep, "findings");
    cr_assert(json_is_true(json_object_get(f, "covers_hostname")));
    cr_assert(json_is_true(json_object_get(f, "linked")));
    cr_assert(json_is_boolean(json_object_get(f, "valid_at_report_time")));
    cr_assert(json_is_false(json_object_get(f, "expected_key")));
    cr_assert(json_is_false(json_object_get(f, "leaf_expected")));
    cr_assert_not_null(json_object_get(f, "anchor"), "chain-level findings merged in");
    /* The pins the report carries are not in its chain (the fixture is a pin failure). */
    cr_assert(json_is_false(json_object_get(f, "pin_in_chain")));
    json_decref(rep);
    free(id);
    free(a);
    free(b);
    free(body);
}

Test(ingest, text_with_copy_escapes_is_stored_exactly)
{
    /* Rows reach PostgreSQL in COPY text format: tabs, newlines, backslashes, the array
     * literal's quotes, braces and commas, and "\N" must all come back as sent. */
#define VERSION_JSON "\"1.0\\t\\\\N\\n\\\\x41 \\\"{a,b}\\\" \\r\\u00e9\""
#define PIN_JSON     "\"pin-sha256=\\\"not\\\\tbase64{},\\\"\""
    static const char version[] = "1.0\t\\N\n\\x41 \"{a,b}\" \r\xc3\xa9";
    static const char pin[] = "pin-sha256=\"not\\tbase64{},\"";
    size_t len;
    char *body =
        fixture("trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json", &len);
    char *a = replaced(body, "\"app-version\": \"1\"", "\"app-version\": " VERSION_JSON);
    char *b = replaced(a, "\"pin-sha256=\\\"rFjc3wG7lTZe43zeYTvPq8k4xdDEutCmIhI5dn4oCeE=\\\"\"",
                       PIN_JSON);
    struct testenv_response r;
    int st = testenv_http(srv.port, "POST", "/v1/reports",
                          "Content-Type: application/json\r\nUser-Agent: ua\tx\\N\r\n", b,
                          strlen(b), false, &r);
    cr_assert_eq(st, 200, "%s", r.body);
    char *id = strdup(json_string_value(json_array_get(json_object_get(r.json, "accepted"), 0)));
    testenv_response_free(&r);
    json_t *rep = get_report(id);
    cr_assert_str_eq(str_at(rep, "app", "version"), version);
    cr_assert_str_eq(str_at(rep, "client", "user_agent"), "ua\tx\\N");
    json_t *raw = json_object_get(rep, "known_pins_raw");
    cr_assert_eq(json_array_size(raw), 1, "%s", json_dumps(raw, 0));
    cr_assert_str_eq(json_string_value(json_array_get(raw, 0)), pin);
    cr_assert_eq(json_array_size(json_object_get(rep, "known_pins")), 1);
    json_decref(rep);
    assert_raw_exact_bytes(id, b, strlen(b));
    free(id);
    free(a);
    free(b);
    free(body);
#undef VERSION_JSON
#undef PIN_JSON
}

Test(ingest, a_user_agent_that_is_not_utf8_is_left_out_not_a_failure)
{
    /* Stored text must be UTF-8 (PostgreSQL refuses the row otherwise): the header is dropped
     * and the report is still stored. */
    size_t len;
    char *body =
        fixture("trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json", &len);
    struct testenv_response r;
    int st = testenv_http(srv.port, "POST", "/v1/reports",
                          "Content-Type: application/json\r\nUser-Agent: bad\xff\xfe\r\n", body,
                          len, false, &r);
    cr_assert_eq(st, 200, "%s", r.body);
    char *id = strdup(json_string_value(json_array_get(json_object_get(r.json, "accepted"), 0)));
    testenv_response_free(&r);
    json_t *rep = get_report(id);
    cr_assert(json_is_null(json_object_get(json_object_get(rep, "client"), "user_agent")));
    json_decref(rep);
    free(id);
    free(body);
}

Test(ingest, trustkit_android_chunked_like_the_sdk_sends_it)
{
    size_t len;
    char *body = fixture("trustkit-android/docs_sample_report_2016-11-25_updated.json", &len);
    struct testenv_response r;
    int st = testenv_http(srv.port, "POST", "/v1/reports", "Content-Type: application/json\r\n",
                          body, len, true, &r);
    cr_assert_eq(st, 200, "%s", r.body);
    char *id = strdup(json_string_value(json_array_get(json_object_get(r.json, "accepted"), 0)));
    testenv_response_free(&r);
    json_t *rep = get_report(id);
    cr_assert_str_eq(str_at(rep, "format", NULL), "trustkit_android");
    cr_assert_str_eq(str_at(rep, "app", "platform"), "android");
    cr_assert_eq(json_array_size(json_object_get(rep, "served_chain")), 2);
    cr_assert_eq(json_array_size(json_object_get(rep, "validated_chain")), 3);
    cr_assert_str_neq(str_at(rep, "served_chain_sha256", NULL),
                      str_at(rep, "validated_chain_sha256", NULL));
    assert_raw_exact(id, "trustkit-android/docs_sample_report_2016-11-25_updated.json");
    json_decref(rep);
    free(id);
    free(body);
}

Test(ingest, hpkp_and_expect_ct_and_the_report_alias)
{
    char *id =
        post_ok("sentry-relay/integration_hpkp.input.json", "application/json; charset=utf-8", 1);
    json_t *rep = get_report(id);
    cr_assert_str_eq(str_at(rep, "format", NULL), "hpkp");
    cr_assert_str_eq(str_at(rep, "app", "bundle_id"), "web");
    cr_assert_str_eq(str_at(rep, "app", "platform"), "web");
    cr_assert(json_is_null(json_object_get(json_object_get(rep, "app"), "version")));
    cr_assert_str_eq(str_at(rep, "pins_expire", NULL), "2014-05-01T12:40:50Z");
    /* The abbreviated PEMs are not certificates: kept, with a problem, never a rejection. */
    cr_assert_geq(json_array_size(json_object_get(rep, "problems")), 1);
    json_decref(rep);
    free(id);

    id = post_ok("reportd/expect_ct_chrome_test_report_2019-10-04.json",
                 "application/expect-ct-report+json; charset=utf-8", 1);
    rep = get_report(id);
    cr_assert_str_eq(str_at(rep, "format", NULL), "expect_ct");
    cr_assert_str_eq(str_at(rep, "hostname", NULL), "expect-ct-report.test");
    cr_assert_eq(json_integer_value(json_object_get(rep, "port")), 443);
    assert_raw_exact(id, "reportd/expect_ct_chrome_test_report_2019-10-04.json");
    json_decref(rep);
    free(id);

    size_t len;
    char *body = fixture("sentry-relay/integration_expect_ct.input.json", &len);
    struct testenv_response r;
    cr_assert_eq(testenv_http(srv.port, "POST", "/report",
                              "Content-Type: application/expect-ct-report+json\r\n", body, len,
                              false, &r),
                 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "accepted")), 1);
    testenv_response_free(&r);
    free(body);
}

Test(ingest, reporting_api_batches)
{
    /* A real Chrome NEL batch without TLS items: all ignored, still 200 so it is not retried. */
    size_t len;
    char *body = fixture("reportd/nel_chrome77_android_batch.json", &len);
    struct testenv_response r;
    cr_assert_eq(testenv_http(srv.port, "POST", "/v1/reports",
                              "Content-Type: application/reports+json\r\n", body, len, false, &r),
                 200, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "ignored")), 36);
    cr_assert_eq(json_array_size(json_object_get(r.json, "accepted")), 0);
    testenv_response_free(&r);
    free(body);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 0);

    /* A batch with one tls.* item among others: that one is stored as a NEL report. */
    const char *batch = "[{\"age\":1500,\"type\":\"network-error\",\"url\":\"https://"
                        "shop.example.com:8443/cart?x=1\","
                        "\"user_agent\":\"Mozilla/5.0 "
                        "Test\",\"body\":{\"type\":\"tls.cert.pinned_key_not_in_cert_chain\","
                        "\"phase\":\"connection\",\"server_ip\":\"203.0.113.9\",\"protocol\":"
                        "\"h2\",\"elapsed_time\":12,"
                        "\"sampling_fraction\":1,\"status_code\":0}},"
                        "{\"age\":10,\"type\":\"deprecation\",\"url\":\"https://shop.example.com/"
                        "\",\"user_agent\":\"x\","
                        "\"body\":{}}]";
    cr_assert_eq(testenv_http(srv.port, "POST", "/v1/reports",
                              "Content-Type: application/reports+json\r\n", batch, strlen(batch),
                              false, &r),
                 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "accepted")), 1);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "ignored")), 1);
    char *id = strdup(json_string_value(json_array_get(json_object_get(r.json, "accepted"), 0)));
    testenv_response_free(&r);
    json_t *rep = get_report(id);
    cr_assert_str_eq(str_at(rep, "format", NULL), "nel");
    cr_assert_str_eq(str_at(rep, "hostname", NULL), "shop.example.com");
    cr_assert_eq(json_integer_value(json_object_get(rep, "port")), 8443);
    cr_assert_str_eq(str_at(rep, "client", "user_agent"), "Mozilla/5.0 Test");
    json_decref(rep);
    free(id);
}

Test(ingest, an_array_of_reports_shares_one_raw_body)
{
    size_t l1, l2;
    char *a =
        fixture("trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json", &l1);
    char *b = fixture("sentry-relay/integration_hpkp.input.json", &l2);
    char *body = malloc(l1 + l2 + 64);
    int n = sprintf(body, "[%s,{\"no\":\"report\"},%s]", a, b);
    struct testenv_response r;
    cr_assert_eq(testenv_post_report(&srv, body, (size_t)n, NULL, &r), 200, "%s", r.body);
    json_t *acc = json_object_get(r.json, "accepted");
    cr_assert_eq(json_array_size(acc), 2);
    json_t *rej = json_object_get(r.json, "rejected");
    cr_assert_eq(json_array_size(rej), 1);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(rej, 0), "index")), 1);
    json_t *r0 = get_report(json_string_value(json_array_get(acc, 0)));
    json_t *r1 = get_report(json_string_value(json_array_get(acc, 1)));
    /* accepted is in input order */
    cr_assert_str_eq(str_at(r0, "format", NULL), "trustkit_ios");
    cr_assert_str_eq(str_at(r1, "format", NULL), "hpkp");
    cr_assert_str_eq(str_at(r0, "raw_sha256", NULL), str_at(r1, "raw_sha256", NULL));
    json_decref(r0);
    json_decref(r1);
    testenv_response_free(&r);
    free(a);
    free(b);
    free(body);
}

Test(ingest, bad_bodies_get_clear_4xx_answers)
{
    size_t len;
    char *body =
        fixture("trustkit-ios/docs_sample_report_2015-10-15_INVALID_smart-quote.json", &len);
    struct testenv_response r;
    cr_assert_eq(testenv_post_report(&srv, body, len, NULL, &r), 400);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "invalid_json");
    cr_assert_not_null(json_object_get(r.json, "detail"));
    testenv_response_free(&r);
    free(body);

    const char *no_pins = "{\"hostname\":\"a.example\"}";
    cr_assert_eq(testenv_post_report(&srv, no_pins, strlen(no_pins), NULL, &r), 400);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "unknown_format");
    testenv_response_free(&r);
    const char *no_host = "{\"known-pins\":[]}";
    cr_assert_eq(testenv_post_report(&srv, no_host, strlen(no_host), NULL, &r), 400);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "missing_field");
    testenv_response_free(&r);

    cr_assert_eq(testenv_http(srv.port, "POST", "/v1/reports",
                              "Content-Type: application/x-www-form-urlencoded\r\n", "a=b", 3,
                              false, &r),
                 415);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "unsupported_media_type");
    testenv_response_free(&r);

    char *big = malloc(70000);
    memset(big, ' ', 70000);
    big[0] = '[';
    big[69999] = ']';
    cr_assert_eq(testenv_post_report(&srv, big, 70000, NULL, &r), 413);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "body_too_large");
    testenv_response_free(&r);
    /* Chunked: no Content-Length to judge by; still 413, and the server stays up. */
    cr_assert_eq(testenv_http(srv.port, "POST", "/v1/reports", "Content-Type: application/json\r\n",
                              big, 70000, true, &r),
                 413);
    testenv_response_free(&r);
    free(big);
    cr_assert_eq(testenv_http(srv.port, "GET", "/healthz", NULL, NULL, 0, false, &r), 200);
    testenv_response_free(&r);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 0);
}

Test(ingest, cors_preflight)
{
    struct testenv_response r;
    cr_assert_eq(testenv_http(srv.port, "OPTIONS", "/v1/reports",
                              "Origin: null\r\nAccess-Control-Request-Method: POST\r\n"
                              "Access-Control-Request-Headers: content-type\r\n",
                              NULL, 0, false, &r),
                 204);
    char *o = testenv_response_header(&r, "Access-Control-Allow-Origin");
    char *m = testenv_response_header(&r, "Access-Control-Allow-Methods");
    char *h = testenv_response_header(&r, "Access-Control-Allow-Headers");
    cr_assert_str_eq(o, "*");
    cr_assert(strstr(m, "POST") != NULL);
    cr_assert(strstr(h, "Content-Type") != NULL || strstr(h, "content-type") != NULL);
    free(o);
    free(m);
    free(h);
    testenv_response_free(&r);
    cr_assert_eq(testenv_http(srv.port, "OPTIONS", "/report", NULL, NULL, 0, false, &r), 204);
    testenv_response_free(&r);
}

Test(ingest, report_list_filters_and_pages)
{
    for (int i = 0; i < 3; i++)
        free(post_ok("trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json",
                     "application/json", 1));
    free(post_ok("sentry-relay/integration_hpkp.input.json", "application/json", 1));
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, "/v1/reports?limit=2", &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "reports")), 2);
    const char *cursor = json_string_value(json_object_get(r.json, "next_cursor"));
    cr_assert_not_null(cursor);
    char path[256];
    snprintf(path, sizeof(path), "/v1/reports?limit=2&cursor=%s", cursor);
    struct testenv_response r2;
    cr_assert_eq(testenv_get(&srv, path, &r2), 200);
    cr_assert_eq(json_array_size(json_object_get(r2.json, "reports")), 2);
    cr_assert(json_is_null(json_object_get(r2.json, "next_cursor")));
    /* Pages do not overlap. */
    const char *a = str_at(json_array_get(json_object_get(r.json, "reports"), 1), "id", NULL);
    const char *b = str_at(json_array_get(json_object_get(r2.json, "reports"), 0), "id", NULL);
    cr_assert_str_neq(a, b);
    testenv_response_free(&r);
    testenv_response_free(&r2);

    cr_assert_eq(testenv_get(&srv, "/v1/reports?platform=web", &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "reports")), 1);
    testenv_response_free(&r);
    cr_assert_eq(
        testenv_get(&srv,
                    "/v1/reports?hostname=WWW.DataTheorem.com.&app=com.datatheorem.testtrustkit2",
                    &r),
        200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "reports")), 3);
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, "/v1/reports?network=127.0.0.0/8", &r), 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "reports")), 4);
    testenv_response_free(&r);
    cr_assert_eq(
        testenv_get(&srv, "/v1/reports?from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00Z", &r),
        200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "reports")), 0);
    testenv_response_free(&r);
    /* Bad filter values: 400, never a database error. */
    static const char *const bad[] = {
        "/v1/reports?limit=0",         "/v1/reports?limit=5000",
        "/v1/reports?from=yesterday",  "/v1/reports?network=300.1.1.1/8",
        "/v1/reports?verdict=maybe",   "/v1/reports?cursor=abc",
        "/v1/reports?platform=symbian"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(testenv_get(&srv, bad[i], &r), 400, "%s", bad[i]);
        cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "invalid_parameter");
        testenv_response_free(&r);
    }
    cr_assert_eq(testenv_get(&srv, "/v1/reports/00000000-0000-7000-8000-000000000000", &r), 404);
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, "/v1/reports/not-a-uuid/raw", &r), 404);
    testenv_response_free(&r);
}

Test(ingest, certificates_and_chains_are_stored_once)
{
    for (int i = 0; i < 3; i++)
        free(post_ok("trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json",
                     "application/json", 1));
    free(post_ok("trustkit-android/docs_sample_report_2016-11-25_updated.json", "application/json",
                 1));
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 4);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM certificates"), 3);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM chains"), 2);
    /* Reports are partitioned by month of receipt. */
    cr_assert_geq(testenv_db_long("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = "
                                  "i.inhparent WHERE c.relname = 'reports'"),
                  1);
}

/* A counter of /metrics (0 when absent). */
static unsigned long long metric(const char *series)
{
    struct testenv_response m;
    cr_assert_eq(testenv_get(&srv, "/metrics", &m), 200);
    const char *at = strstr(m.body, series);
    unsigned long long v = at != NULL ? strtoull(at + strlen(series), NULL, 10) : 0;
    testenv_response_free(&m);
    return v;
}

#define LIT_HIT  "pinwatch_content_cache_lookups_total{cache=\"literal\",result=\"hit\"} "
#define LIT_MISS "pinwatch_content_cache_lookups_total{cache=\"literal\",result=\"miss\"} "
#define CRT_HIT  "pinwatch_content_cache_lookups_total{cache=\"certificate\",result=\"hit\"} "
#define CRT_MISS "pinwatch_content_cache_lookups_total{cache=\"certificate\",result=\"miss\"} "

Test(ingest, a_chain_seen_before_is_neither_lexed_nor_decoded_again)
{
    const char *rel = "trustkit-android/docs_sample_report_2016-11-25_updated.json";
    char *first = post_ok(rel, "application/json", 1);
    unsigned long long lh = metric(LIT_HIT), lm = metric(LIT_MISS);
    unsigned long long ch = metric(CRT_HIT), cm = metric(CRT_MISS);
    cr_assert_geq(lm, 1, "the first body's certificate literals were decoded");
    char *second = post_ok(rel, "application/json", 1);
    /* 2 served + 3 validated certificate literals, all from the caches this time. */
    cr_assert_eq(metric(LIT_MISS), lm, "a literal seen before was decoded again");
    cr_assert_eq(metric(LIT_HIT), lh + 5);
    cr_assert_eq(metric(CRT_MISS), cm, "a certificate seen before was decoded again");
    cr_assert_eq(metric(CRT_HIT), ch + 5);
    /* And the report read back is the same as the first. */
    json_t *a = get_report(first), *b = get_report(second);
    cr_assert(json_equal(json_object_get(a, "served_chain"), json_object_get(b, "served_chain")));
    cr_assert(
        json_equal(json_object_get(a, "validated_chain"), json_object_get(b, "validated_chain")));
    assert_raw_exact(second, rel);
    json_decref(a);
    json_decref(b);
    free(first);
    free(second);
}

Test(ingest, dashboard_page_carries_no_report_data_and_loads_nothing_from_elsewhere)
{
    free(post_ok("trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json",
                 "application/json", 1));
    struct testenv_response r;
    cr_assert_eq(testenv_http(srv.port, "GET", "/", NULL, NULL, 0, false, &r), 200);
    char *ct = testenv_response_header(&r, "Content-Type");
    cr_assert(strncmp(ct, "text/html", 9) == 0, "%s", ct);
    free(ct);
    cr_assert(strstr(r.body, "<title>pinwatch</title>") != NULL);
    cr_assert(strstr(r.body, "datatheorem") == NULL, "no report data in the page");
    cr_assert(strstr(r.body, "src=\"http") == NULL && strstr(r.body, "href=\"http") == NULL,
              "nothing is loaded from another host");
    /* The scripts are the binary's own assets; the shared one keeps the token. */
    const char *src = strstr(r.body, "<script src=\"/assets/core.js?v=");
    cr_assert_not_null(src, "the page loads its scripts from /assets/");
    char path[128];
    cr_assert_eq(sscanf(src, "<script src=\"%127[^\"]\"", path), 1);
    testenv_response_free(&r);
    cr_assert_eq(testenv_http(srv.port, "GET", path, NULL, NULL, 0, false, &r), 200);
    cr_assert(strstr(r.body, "sessionStorage") != NULL, "the token is kept in sessionStorage");
    cr_assert(strstr(r.body, "datatheorem") == NULL, "no report data in the scripts");
    testenv_response_free(&r);
}
