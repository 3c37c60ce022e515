/* What the server answers, as a user and a browser see it (issue 23): rejection counters,
 * CORS on every refusal, the raw body's media type, repeated parameters, one JSON formatting,
 * methods that are not allowed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

TestSuite(answers, .init = setup, .fini = teardown, .timeout = 180);

static char *fixture(const char *rel, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, rel);
    return testenv_read_file(path, len);
}

/* A series of /metrics (-1 when absent). */
static long long metric(const char *series)
{
    struct testenv_response m;
    cr_assert_eq(testenv_http(srv.port, "GET", "/metrics", NULL, NULL, 0, false, &m), 200);
    char needle[256];
    snprintf(needle, sizeof(needle), "\n%s ", series);
    const char *at = strstr(m.body, needle);
    long long v = at != NULL ? strtoll(at + strlen(needle), NULL, 10) : -1;
    testenv_response_free(&m);
    return v;
}

static void expect_header(const struct testenv_response *r, const char *name, const char *value)
{
    char *v = testenv_response_header(r, name);
    cr_assert_not_null(v, "no %s header in %s", name, r->headers);
    cr_assert_str_eq(v, value, "%s: %s", name, v);
    free(v);
}

static const char *error_of(const struct testenv_response *r)
{
    const char *e = json_string_value(json_object_get(r->json, "error"));
    return e != NULL ? e : "";
}

#define TOO_LARGE   "pinwatch_reports_rejected_total{reason=\"body_too_large\"}"
#define UNSUPPORTED "pinwatch_reports_rejected_total{reason=\"unsupported_media_type\"}"

Test(answers, refused_bodies_are_counted_and_readable_by_a_browser)
{
    cr_assert_eq(metric(TOO_LARGE), 0);
    cr_assert_eq(metric(UNSUPPORTED), 0);
    size_t big = 70000;
    char *body = malloc(big);
    memset(body, ' ', big);
    struct testenv_response r;
    const char *h = "Content-Type: application/json\r\nOrigin: https://shop.example\r\n";
    /* Declared too large, and found too large while reading a chunked body. */
    for (int chunked = 0; chunked < 2; chunked++) {
        cr_assert_eq(testenv_http(srv.port, "POST", "/v1/reports", h, body, big, chunked, &r), 413);
        cr_assert_str_eq(error_of(&r), "body_too_large");
        expect_header(&r, "Access-Control-Allow-Origin", "*");
        testenv_response_free(&r);
    }
    cr_assert_eq(metric(TOO_LARGE), 2);

    const char *xml = "Content-Type: application/xml\r\nOrigin: https://shop.example\r\n";
    cr_assert_eq(testenv_http(srv.port, "POST", "/report", xml, "{}", 2, false, &r), 415);
    cr_assert_str_eq(error_of(&r), "unsupported_media_type");
    expect_header(&r, "Access-Control-Allow-Origin", "*");
    const char *detail = json_string_value(json_object_get(r.json, "detail"));
    static const char *const accepted[] = {"application/json", "application/reports+json",
                                           "application/expect-ct-report+json",
                                           "application/csp-report", "text/plain"};
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++)
        cr_assert_not_null(strstr(detail, accepted[i]), "415 detail lacks %s: %s", accepted[i],
                           detail);
    testenv_response_free(&r);
    cr_assert_eq(metric(UNSUPPORTED), 1);
    cr_assert_eq(metric(TOO_LARGE), 2);
    free(body);
}

Test(answers, preflight_allows_the_headers_a_page_asks_for)
{
    struct testenv_response r;
    const char *asked = "Origin: https://shop.example\r\nAccess-Control-Request-Method: POST\r\n"
                        "Access-Control-Request-Headers: content-type,x-app-build\r\n";
    cr_assert_eq(testenv_http(srv.port, "OPTIONS", "/v1/reports", asked, NULL, 0, false, &r), 204);
    expect_header(&r, "Access-Control-Allow-Origin", "*");
    expect_header(&r, "Access-Control-Allow-Methods", "POST");
    expect_header(&r, "Access-Control-Allow-Headers", "content-type,x-app-build");
    testenv_response_free(&r);

    /* Nothing asked: the default; something that is not a header list: the default too. */
    const char *plain = "Origin: https://shop.example\r\nAccess-Control-Request-Method: POST\r\n";
    cr_assert_eq(testenv_http(srv.port, "OPTIONS", "/report", plain, NULL, 0, false, &r), 204);
    expect_header(&r, "Access-Control-Allow-Headers", "Content-Type");
    testenv_response_free(&r);
    const char *junk = "Origin: https://shop.example\r\nAccess-Control-Request-Method: POST\r\n"
                       "Access-Control-Request-Headers: x-a; <script>\r\n";
    cr_assert_eq(testenv_http(srv.port, "OPTIONS", "/report", junk, NULL, 0, false, &r), 204);
    expect_header(&r, "Access-Control-Allow-Headers", "Content-Type");
    testenv_response_free(&r);
}

/* Post a fixture with a Content-Type (NULL: none) and fetch its raw body's answer. */
static void expect_raw_media_type(const char *path, const char *content_type, const char *expect)
{
    size_t len;
    char *body = testenv_read_file(path, &len);
    char h[256] = "";
    if (content_type != NULL)
        snprintf(h, sizeof(h), "Content-Type: %s\r\n", content_type);
    struct testenv_response r;
    cr_assert_eq(testenv_http(srv.port, "POST", "/v1/reports", h, body, len, false, &r), 200,
                 "%s: %s", path, r.body);
    char url[128];
    snprintf(url, sizeof(url), "/v1/reports/%s/raw",
             json_string_value(json_array_get(json_object_get(r.json, "accepted"), 0)));
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, url, &r), 200);
    expect_header(&r, "Content-Type", expect);
    expect_header(&r, "X-Content-Type-Options", "nosniff");
    cr_assert_eq(r.body_len, len);
    cr_assert_eq(memcmp(r.body, body, len), 0, "the bytes as received");
    testenv_response_free(&r);
    free(body);
}

Test(answers, raw_body_keeps_the_media_type_it_arrived_with)
{
    expect_raw_media_type(TEST_DATA_DIR "/parse/nel_tls_batch.json", "application/reports+json",
                          "application/reports+json");
    expect_raw_media_type(FIXTURES_DIR "/sentry-relay/integration_expect_ct.input.json",
                          "Application/Expect-CT-Report+JSON; charset=utf-8",
                          "application/expect-ct-report+json");
    expect_raw_media_type(FIXTURES_DIR "/trustkit-ios/docs_sample_report_2015-06-18_initial.json",
                          "text/plain;charset=UTF-8", "text/plain");
    expect_raw_media_type(FIXTURES_DIR
                          "/trustkit-android/docs_sample_report_2016-11-25_updated.json",
                          NULL, "application/json");
}

/* NEL's age and referrer end up in the normalized report as the README says. */
Test(answers, nel_report_keeps_age_and_referrer)
{
    size_t len;
    char *body = testenv_read_file(TEST_DATA_DIR "/parse/nel_tls_batch.json", &len);
    struct testenv_response r;
    cr_assert_eq(testenv_http(srv.port, "POST", "/v1/reports",
                              "Content-Type: application/reports+json\r\n", body, len, false, &r),
                 200);
    char url[128];
    snprintf(url, sizeof(url), "/v1/reports/%s",
             json_string_value(json_array_get(json_object_get(r.json, "accepted"), 0)));
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, url, &r), 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "client_time_raw")), "1200");
    json_t *extra = json_object_get(r.json, "extra");
    cr_assert_str_eq(json_string_value(json_object_get(extra, "referrer")),
                     "https://www.example.com/account");
    cr_assert_str_eq(json_string_value(json_object_get(extra, "url")),
                     "https://api.example.com/v1/items");
    json_t *p = json_array_get(json_object_get(r.json, "problems"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(p, "code")), "field_dropped", "%s", r.body);
    testenv_response_free(&r);
    free(body);
}

Test(answers, a_parameter_given_twice_is_refused)
{
    static const char *const paths[] = {
        "/v1/trends?by=app_version&by=network", "/v1/trends?bucket=day&by=verdict&by=verdict",
        "/v1/reports?hostname=a.example&hostname=b.example", "/v1/groups?limit=5&limit=6"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct testenv_response r;
        cr_assert_eq(testenv_get(&srv, paths[i], &r), 400, "%s: %s", paths[i], r.body);
        cr_assert_str_eq(error_of(&r), "invalid_parameter");
        const char *detail = json_string_value(json_object_get(r.json, "detail"));
        cr_assert_not_null(strstr(detail, "more than once"), "%s", detail);
        testenv_response_free(&r);
    }
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, "/v1/trends?by=network&bucket=day", &r), 200, "%s", r.body);
    testenv_response_free(&r);
}

/* No whitespace between JSON tokens: the formatting of every JSON answer. */
static void expect_compact(const char *what, const struct testenv_response *r)
{
    cr_assert_not_null(r->json, "%s: not JSON: %s", what, r->body);
    char *ct = testenv_response_header(r, "Content-Type");
    cr_assert_str_eq(ct, "application/json", "%s", what);
    free(ct);
    bool in_string = false;
    for (size_t i = 0; i < r->body_len; i++) {
        char c = r->body[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else {
            cr_assert(c != ' ' && c != '\n' && c != '\t' && c != '\r',
                      "%s: whitespace at byte %zu: %.80s", what, i,
                      r->body + (i > 20 ? i - 20 : 0));
        }
    }
}

Test(answers, every_json_answer_has_one_formatting)
{
    size_t len;
    char *body = fixture("trustkit-ios/docs_sample_report_2015-06-18_initial.json", &len);
    struct testenv_response r;
    cr_assert_eq(testenv_post_report(&srv, body, len, NULL, &r), 200);
    expect_compact("ingest", &r);
    char id[64];
    snprintf(id, sizeof(id), "%s",
             json_string_value(json_array_get(json_object_get(r.json, "accepted"), 0)));
    testenv_response_free(&r);
    free(body);

    cr_assert_eq(testenv_get(&srv, "/v1/groups", &r), 200);
    char gid[80];
    snprintf(gid, sizeof(gid), "/v1/groups/%s",
             json_string_value(
                 json_object_get(json_array_get(json_object_get(r.json, "groups"), 0), "id")));
    testenv_response_free(&r);
    char rid[96];
    snprintf(rid, sizeof(rid), "/v1/reports/%s", id);
    const char *const paths[] = {"/v1/groups",
                                 "/v1/groups?hostname=nothing.example",
                                 gid,
                                 "/v1/reports",
                                 "/v1/reports?hostname=nothing.example",
                                 rid,
                                 "/v1/trends?bucket=day&by=verdict",
                                 "/v1/trends?by=network",
                                 "/v1/hosts/www.datatheorem.com/keys",
                                 "/v1/pinsets",
                                 "/v1/reports/00000000-0000-0000-0000-000000000000",
                                 "/v1/nothing",
                                 "/healthz",
                                 "/readyz"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        testenv_get(&srv, paths[i], &r);
        expect_compact(paths[i], &r);
        testenv_response_free(&r);
    }
}

Test(answers, methods_not_allowed_say_which_are)
{
    static const struct {
        const char *method, *path, *allow;
    } cases[] = {
        {"HEAD", "/", "GET"},
        {"HEAD", "/healthz", "GET"},
        {"HEAD", "/metrics", "GET"},
        {"POST", "/healthz", "GET"},
        {"GET", "/report", "POST, OPTIONS"},
        {"DELETE", "/v1/hosts/api.example.com/keys", "GET, PUT"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct testenv_response r;
        char h[160];
        snprintf(h, sizeof(h), "Authorization: Bearer %s\r\n", srv.token);
        int st = testenv_http(srv.port, cases[i].method, cases[i].path, h, NULL, 0, false, &r);
        cr_assert_eq(st, 405, "%s %s: %d", cases[i].method, cases[i].path, st);
        expect_header(&r, "Allow", cases[i].allow);
        if (strcmp(cases[i].method, "HEAD") != 0)
            cr_assert_str_eq(error_of(&r), "method_not_allowed");
        testenv_response_free(&r);
    }
}
