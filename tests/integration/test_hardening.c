/* Hardening: the public endpoint under abuse, bad input and faults, through the real server.
 * Every hostile body gets a 4xx with an error code and the server stays up (its process alive
 * and /healthz answering after each); rate limits per network, X-Forwarded-For only from
 * trusted proxies, idle connections, the admin token gate, allow-lists, and full client
 * addresses kept out of the database and the log. */
#include <criterion/criterion.h>
#include <poll.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testenv.h"

#define FINAL_IOS "trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json"
#define ANDROID   "trustkit-android/docs_sample_report_2016-11-25_updated.json"

static struct testenv_server srv;

static void setup(void)
{
    testenv_reset_db();
    memset(&srv, 0, sizeof(srv));
}

static void teardown(void)
{
    testenv_server_kill(&srv);
}

TestSuite(hardening, .init = setup, .fini = teardown, .timeout = 300);

/* Start (or restart on a new port) with extra environment. */
static void start(const char *const *env)
{
    testenv_server_kill(&srv);
    memset(&srv, 0, sizeof(srv));
    testenv_server_start(&srv, env);
}

/* The process is still there and /healthz answers. */
static void assert_alive(const char *what)
{
    int status = 0;
    cr_assert_eq(waitpid(srv.pid, &status, WNOHANG), 0,
                 "%s: pinwatch died (wait status %d), see %s", what, status, srv.log_path);
    struct testenv_response r;
    int st = testenv_http(srv.port, "GET", "/healthz", NULL, NULL, 0, false, &r);
    testenv_response_free(&r);
    cr_assert_eq(st, 200, "%s: /healthz answered %d afterwards", what, st);
}

static const char *error_of(const struct testenv_response *r)
{
    return json_string_value(json_object_get(r->json, "error"));
}

/* POST body; expect status with a JSON {"error": code, "detail": ...}; then the server is up. */
static void expect_error(const char *what, const void *body, size_t len, bool chunked, int status,
                         const char *code)
{
    struct testenv_response r;
    int st = testenv_http(srv.port, "POST", "/v1/reports", "Content-Type: application/json\r\n",
                          body, len, chunked, &r);
    cr_assert_eq(st, status, "%s: status %d, want %d; body %.300s", what, st, status,
                 r.body != NULL ? r.body : "(none)");
    cr_assert_not_null(error_of(&r), "%s: no error code in %.300s", what, r.body);
    if (code != NULL)
        cr_assert_str_eq(error_of(&r), code, "%s: %.300s", what, r.body);
    cr_assert(json_is_string(json_object_get(r.json, "detail")), "%s: no detail", what);
    testenv_response_free(&r);
    assert_alive(what);
}

static char *fixture(const char *rel, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, rel);
    return testenv_read_file(path, len);
}

static json_t *fixture_json(const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, rel);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    cr_assert_not_null(j, "%s: %s", rel, jerr.text);
    return j;
}

/* body of n copies of c, then m copies of d (new, NUL-terminated). */
static char *repeat2(char c, size_t n, char d, size_t m)
{
    char *s = malloc(n + m + 1);
    memset(s, c, n);
    memset(s + n, d, m);
    s[n + m] = '\0';
    return s;
}

/* Post a report with an X-Forwarded-For header; the status. */
static int post_from(const char *body, size_t len, const char *xff, struct testenv_response *r)
{
    char h[256] = "";
    if (xff != NULL)
        snprintf(h, sizeof(h), "X-Forwarded-For: %s\r\n", xff);
    return testenv_post_report(&srv, body, len, h, r);
}

/* ---- hostile bodies ---- */

Test(hardening, deep_nesting_is_refused_before_parsing)
{
    static const char *const env[] = {"PINWATCH_MAX_BODY=4m", NULL};
    start(env);
    size_t n = 100000;
    char *open_only = repeat2('[', n, ' ', 0);
    expect_error("100k '['", open_only, n, false, 400, "json_too_deep");
    char *balanced = repeat2('[', n, ']', n);
    expect_error("100k '[' + 100k ']'", balanced, 2 * n, false, 400, "json_too_deep");
    /* Objects nest too: {"a":{"a":...}} */
    size_t depth = 50000;
    char *objs = malloc(depth * 5 + depth + 1);
    size_t o = 0;
    for (size_t i = 0; i < depth; i++) {
        memcpy(objs + o, "{\"a\":", 5);
        o += 5;
    }
    memcpy(objs + o, "1", 1);
    o += 1;
    memset(objs + o, '}', depth - 1);
    o += depth - 1;
    expect_error("50k nested objects", objs, o, false, 400, "json_too_deep");
    /* Chunked, like TrustKit-Android: no Content-Length to judge by. */
    expect_error("100k '[' chunked", open_only, n, true, 400, "json_too_deep");
    free(open_only);
    free(balanced);
    free(objs);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 0);
}

Test(hardening, huge_arrays_are_refused)
{
    static const char *const env[] = {"PINWATCH_MAX_BODY=8m", NULL};
    start(env);
    size_t n = 100000;
    char *arr = malloc(2 * n + 2);
    size_t o = 0;
    arr[o++] = '[';
    for (size_t i = 0; i < n; i++) {
        arr[o++] = '0';
        arr[o++] = ',';
    }
    arr[o - 1] = ']';
    expect_error("100k-element array", arr, o, false, 400, "too_many_items");
    free(arr);

    /* 100k known-pins in one report. */
    json_t *rep = fixture_json(FINAL_IOS);
    json_t *pins = json_array();
    json_t *pin = json_string("pin-sha256=\"rFjc3wG7lTZe43zeYTvPq8k4xdDEutCmIhI5dn4oCeE=\"");
    for (size_t i = 0; i < n; i++)
        json_array_append(pins, pin);
    json_decref(pin);
    json_object_set_new(rep, "known-pins", pins);
    char *body = json_dumps(rep, JSON_COMPACT);
    expect_error("100k known-pins", body, strlen(body), false, 400, "too_many_pins");
    free(body);
    json_decref(rep);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 0);
}

Test(hardening, huge_string_is_refused)
{
    /* Raise the body limit so that the 1 MB string reaches the parser's string limit. */
    static const char *const env[] = {"PINWATCH_MAX_BODY=4m", NULL};
    start(env);
    json_t *rep = fixture_json(FINAL_IOS);
    char *mb = repeat2('a', 1 << 20, ' ', 0);
    json_object_set_new(rep, "app-version", json_string(mb));
    char *body = json_dumps(rep, JSON_COMPACT);
    expect_error("1 MB app-version", body, strlen(body), false, 400, "string_too_long");
    free(body);
    /* As a key too. */
    json_object_set_new(rep, "app-version", json_string("1"));
    json_object_set_new(rep, mb, json_true());
    body = json_dumps(rep, JSON_COMPACT);
    expect_error("1 MB key", body, strlen(body), false, 400, "string_too_long");
    free(body);
    free(mb);
    json_decref(rep);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 0);
}

Test(hardening, bad_bytes_and_bad_numbers)
{
    start(NULL);
    size_t len;
    char *good = fixture(FINAL_IOS, &len);
    char *host = strstr(good, "www.datatheorem.com");
    cr_assert_not_null(host);

    /* Invalid UTF-8 inside a string: an overlong '/' and a lone continuation byte. */
    char *bad = malloc(len + 1);
    memcpy(bad, good, len + 1);
    size_t at = (size_t)(host - good);
    bad[at] = (char)0xc0;
    bad[at + 1] = (char)0xaf;
    expect_error("overlong UTF-8", bad, len, false, 400, "invalid_json");
    memcpy(bad, good, len);
    bad[at] = (char)0x80;
    expect_error("lone continuation byte", bad, len, false, 400, "invalid_json");
    /* A raw NUL byte inside the hostname, and one between tokens. */
    memcpy(bad, good, len);
    bad[at + 3] = '\0';
    expect_error("raw NUL in a string", bad, len, false, 400, "invalid_json");
    memcpy(bad, good, len);
    bad[1] = '\0';
    expect_error("raw NUL between tokens", bad, len, false, 400, "invalid_json");
    free(bad);

    static const char *const bodies[][2] = {
        {"{\"hostname\":\"www.example.com\\u0000.evil.test\",\"known-pins\":[]}", "invalid_json"},
        {"{\"hostname\":\"a.example\",\"port\":1e999,\"known-pins\":[]}", "invalid_json"},
        {"{\"hostname\":\"a.example\",\"port\":-1e999,\"known-pins\":[]}", "invalid_json"},
        {"{\"hostname\":\"a.example\",\"port\":99999999999999999999999,\"known-pins\":[]}",
         "invalid_json"},
        {"{\"hostname\":\"\\ud800\",\"known-pins\":[]}", "invalid_json"},  /* lone surrogate */
        {"{\"hostname\":\"a.example\",\"known-pins\":[]", "invalid_json"}, /* truncated */
        {"{\"hostname\":\"a.example\",\"known-pins\":[]} trailing", "invalid_json"},
        {"\xef\xbb\xbf{\"hostname\":\"a.example\",\"known-pins\":[]}", "invalid_json"}, /* BOM */
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        expect_error(bodies[i][0], bodies[i][0], strlen(bodies[i][0]), false, 400, bodies[i][1]);
    free(good);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 0);
}

Test(hardening, bodies_that_are_not_reports)
{
    start(NULL);
    expect_error("empty body", "", 0, false, 400, "invalid_json");
    expect_error("empty chunked body", "", 0, true, 400, "invalid_json");
    expect_error("whitespace", " \r\n\t ", 5, false, 400, "invalid_json");
    static const char *const shapes[] = {
        "null", "\"str\"", "42", "true", "-0.5", "{}", "{\"hostname\":\"a.example\"}"};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        expect_error(shapes[i], shapes[i], strlen(shapes[i]), false, 400, "unknown_format");
    /* Arrays of nothing useful: no report, nothing ignored. */
    static const char *const arrays[] = {"[]", "[null]", "[1,\"a\",[]]", "[{}]"};
    for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++)
        expect_error(arrays[i], arrays[i], strlen(arrays[i]), false, 400, NULL);
    /* A POST without any body at all. */
    struct testenv_response r;
    cr_assert_eq(testenv_http(srv.port, "POST", "/v1/reports", "Content-Type: application/json\r\n",
                              NULL, 0, false, &r),
                 400);
    cr_assert_not_null(error_of(&r));
    testenv_response_free(&r);
    assert_alive("no body");
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 0);
}

Test(hardening, ten_thousand_certificate_chain)
{
    static const char *const env[] = {"PINWATCH_MAX_BODY=32m", NULL};
    start(env);
    json_t *rep = fixture_json(FINAL_IOS);
    json_t *cert = json_array_get(json_object_get(rep, "validated-certificate-chain"), 0);
    cr_assert(json_is_string(cert));
    json_t *chain = json_array();
    for (size_t i = 0; i < 10000; i++)
        json_array_append(chain, cert);
    json_object_set_new(rep, "served-certificate-chain", chain);
    char *body = json_dumps(rep, JSON_COMPACT);
    size_t len = strlen(body);
    cr_assert_gt(len, 10u << 20);
    double t0 = testenv_now_s();
    expect_error("10 000 certificates", body, len, false, 400, "too_many_certificates");
    /* Refused before any certificate is decoded: quick even for 10 000 of them. */
    cr_assert_lt(testenv_now_s() - t0, 20.0);
    free(body);
    json_decref(rep);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 0);
}

Test(hardening, ten_megabyte_chunked_body_gets_413)
{
    start(NULL); /* PINWATCH_MAX_BODY at its default, 64 KiB */
    size_t n = 10u << 20;
    char *big = repeat2(' ', n, ' ', 0);
    big[0] = '[';
    big[n - 1] = ']';
    double t0 = testenv_now_s();
    expect_error("10 MB chunked", big, n, true, 413, "body_too_large");
    cr_assert_lt(testenv_now_s() - t0, 30.0);
    /* With a Content-Length it is refused before a byte of it is read. */
    expect_error("10 MB with Content-Length", big, n, false, 413, "body_too_large");
    free(big);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 0);
}

/* ---- wrong types for every field of a TrustKit report ---- */

struct variant {
    const char *field;
    const char *value; /* JSON text */
    int status;        /* 200 (accepted with the problem) or 400 (rejected with the code) */
    const char *code;  /* problem code (200) or error code (400) */
};

static const struct variant variants[] = {
    {"hostname", "42", 400, "invalid_field"},
    {"hostname", "[\"www.datatheorem.com\"]", 400, "invalid_field"},
    {"hostname", "{\"name\":\"www.datatheorem.com\"}", 400, "invalid_field"},
    {"hostname", "null", 400, "missing_field"},
    {"hostname", "true", 400, "invalid_field"},
    {"hostname", "\"\"", 400, "invalid_field"},
    {"hostname", "\"https://www.datatheorem.com/\"", 400, "invalid_field"},
    {"known-pins", "\"pin-sha256=\\\"rFjc3wG7lTZe43zeYTvPq8k4xdDEutCmIhI5dn4oCeE=\\\"\"", 400,
     "invalid_field"},
    {"known-pins", "{\"pin-sha256\":\"rFjc3wG7lTZe43zeYTvPq8k4xdDEutCmIhI5dn4oCeE=\"}", 400,
     "invalid_field"},
    {"known-pins", "null", 400, "missing_field"},
    {"known-pins", "[1,2,3]", 200, "unrecognized_pin"},
    {"known-pins", "[null,{},[]]", 200, "unrecognized_pin"},
    {"validated-certificate-chain", "\"-----BEGIN CERTIFICATE-----\"", 200, "invalid_field"},
    {"validated-certificate-chain", "{\"0\":\"x\"}", 200, "invalid_field"},
    {"validated-certificate-chain", "[1,2,3]", 200, "undecodable_certificate"},
    {"served-certificate-chain", "42", 200, "invalid_field"},
    {"served-certificate-chain", "[[],{},null,true]", 200, "undecodable_certificate"},
    {"served-certificate-chain", "[\"not a certificate\"]", 200, "undecodable_certificate"},
    {"port", "\"443\"", 200, "invalid_port"},
    {"port", "-1", 200, "invalid_port"},
    {"port", "1e10", 200, "invalid_port"},
    {"port", "10000000000", 200, "invalid_port"},
    {"port", "65536", 200, "invalid_port"},
    {"port", "443.5", 200, "invalid_port"},
    {"date-time", "1433728685", 200, "unparseable_date"},
    {"date-time", "\"yesterday\"", 200, "unparseable_date"},
    {"date-time", "[\"2015-06-08T01:58:05Z\"]", 200, "unparseable_date"},
    {"known-pins-expiration-date", "20170101", 200, "unparseable_date"},
    {"effective-expiration-date", "{}", 200, "unparseable_date"},
    {"validation-result", "\"1\"", 200, "invalid_field"},
    {"validation-result", "1.5", 200, "invalid_field"},
    {"validation-result", "99", 200, "unknown_validation_result"},
    {"include-subdomains", "\"true\"", 200, "invalid_field"},
    {"include-subdomains", "1", 200, "invalid_field"},
    {"enforce-pinning", "\"false\"", 200, "invalid_field"},
    {"app-bundle-id", "{\"id\":\"com.example\"}", 200, "invalid_field"},
    {"app-bundle-id", "[]", 200, "invalid_field"},
    {"app-version", "{}", 200, "invalid_field"},
    {"app-version", "1", 200, "invalid_field"},
    {"app-platform", "[\"IOS\"]", 200, "invalid_field"},
    {"app-platform-version", "10.2", 200, "invalid_field"},
    {"app-vendor-id", "{}", 200, "invalid_field"},
    {"trustkit-version", "131", 200, "invalid_field"},
    {"noted-hostname", "42", 200, "invalid_field"},
    {"noted-hostname", "\"not a host name\"", 200, "invalid_field"},
};

static bool has_problem(json_t *report, const char *code)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(report, "problems"), i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "code")), code) == 0)
            return true;
    }
    return false;
}

Test(hardening, wrong_types_for_every_trustkit_field)
{
    start(NULL);
    json_t *base = fixture_json(FINAL_IOS);
    size_t accepted = 0;
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        const struct variant *v = &variants[i];
        char what[256];
        snprintf(what, sizeof(what), "%s = %s", v->field, v->value);
        json_t *rep = json_deep_copy(base);
        json_error_t jerr;
        json_t *value = json_loads(v->value, JSON_DECODE_ANY, &jerr);
        cr_assert_not_null(value, "%s: %s", what, jerr.text);
        json_object_set_new(rep, v->field, value);
        char *body = json_dumps(rep, JSON_COMPACT);
        json_decref(rep);
        struct testenv_response r;
        int st = testenv_post_report(&srv, body, strlen(body), NULL, &r);
        free(body);
        cr_assert_eq(st, v->status, "%s: status %d, want %d; %.300s", what, st, v->status, r.body);
        if (st == 400) {
            cr_assert_str_eq(error_of(&r), v->code, "%s: %s", what, r.body);
        } else {
            json_t *ids = json_object_get(r.json, "accepted");
            cr_assert_eq(json_array_size(ids), 1, "%s: %s", what, r.body);
            char path[128];
            snprintf(path, sizeof(path), "/v1/reports/%s",
                     json_string_value(json_array_get(ids, 0)));
            struct testenv_response g;
            cr_assert_eq(testenv_get(&srv, path, &g), 200, "%s: %s", what, g.body);
            cr_assert(has_problem(g.json, v->code), "%s: no %s problem in %.600s", what, v->code,
                      json_dumps(json_object_get(g.json, "problems"), JSON_COMPACT));
            /* The report itself is intact: its host name still normalized. */
            cr_assert_str_eq(json_string_value(json_object_get(g.json, "hostname")),
                             "www.datatheorem.com", "%s", what);
            testenv_response_free(&g);
            accepted++;
        }
        testenv_response_free(&r);
        assert_alive(what);
    }
    json_decref(base);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), (long)accepted);
}

/* ---- rate limits and X-Forwarded-For ---- */

Test(hardening, rate_limit_per_network_behind_a_trusted_proxy)
{
    static const char *const env[] = {"PINWATCH_RATE_LIMIT=5/min",
                                      "PINWATCH_TRUSTED_PROXIES=127.0.0.0/8", NULL};
    start(env);
    size_t len;
    char *body = fixture(FINAL_IOS, &len);
    struct testenv_response r;
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(post_from(body, len, "198.51.100.7", &r), 200, "report %d: %s", i, r.body);
        testenv_response_free(&r);
    }
    cr_assert_eq(post_from(body, len, "198.51.100.7", &r), 429, "%s", r.body);
    cr_assert_str_eq(error_of(&r), "rate_limited");
    char *retry = testenv_response_header(&r, "Retry-After");
    cr_assert_not_null(retry, "429 without Retry-After");
    long secs = strtol(retry, NULL, 10);
    cr_assert(secs >= 1 && secs <= 60, "Retry-After: %s", retry);
    free(retry);
    testenv_response_free(&r);
    /* The same /24 is the same network. */
    cr_assert_eq(post_from(body, len, "198.51.100.200", &r), 429);
    testenv_response_free(&r);
    /* Another network is not affected. */
    cr_assert_eq(post_from(body, len, "203.0.113.9", &r), 200, "%s", r.body);
    testenv_response_free(&r);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports WHERE network = '198.51.100.0/24'"),
                 5);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports WHERE network = '203.0.113.0/24'"),
                 1);
    free(body);
    assert_alive("rate limit");
}

/* A proxy that adds its own X-Forwarded-For line (HAProxy "option forwardfor") leaves the
 * client's forged line first: every line counts, in order, and the right-most address that is
 * not a trusted proxy is the client. */
Test(hardening, xff_lines_are_joined_and_a_forged_first_line_changes_nothing)
{
    static const char *const env[] = {"PINWATCH_RATE_LIMIT=5/min",
                                      "PINWATCH_TRUSTED_PROXIES=127.0.0.0/8", NULL};
    start(env);
    size_t len;
    char *body = fixture(FINAL_IOS, &len);
    struct testenv_response r;
    for (int i = 0; i < 6; i++) {
        char h[256];
        /* a fresh forged network each time, then the line our proxy added */
        snprintf(h, sizeof(h),
                 "X-Forwarded-For: 203.0.%d.66\r\nX-Forwarded-For: 198.51.100.7, 127.0.0.2\r\n", i);
        int st = testenv_post_report(&srv, body, len, h, &r);
        cr_assert_eq(st, i < 5 ? 200 : 429, "report %d: %d %s", i, st, r.body);
        testenv_response_free(&r);
    }
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports WHERE network = '198.51.100.0/24'"),
                 5);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 5);
    /* Nor can a forged line drain another network's bucket. */
    char h[128];
    snprintf(h, sizeof(h), "X-Forwarded-For: 198.51.100.9\r\nX-Forwarded-For: 192.0.2.1\r\n");
    cr_assert_eq(testenv_post_report(&srv, body, len, h, &r), 200, "%s", r.body);
    testenv_response_free(&r);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports WHERE network = '192.0.2.0/24'"), 1);
    free(body);
}

/* The rate limit is charged before the body is parsed (certificates decoded, chains analysed):
 * a network over its limit costs no parsing, whatever it sends. */
Test(hardening, a_network_over_its_limit_is_refused_before_its_body_is_parsed)
{
    static const char *const env[] = {"PINWATCH_RATE_LIMIT=3/min", NULL};
    start(env);
    size_t len;
    char *body = fixture(FINAL_IOS, &len);
    struct testenv_response r;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(testenv_post_report(&srv, body, len, NULL, &r), 200, "%s", r.body);
        testenv_response_free(&r);
    }
    static const char broken[] = "{\"hostname\": ";
    cr_assert_eq(testenv_post_report(&srv, broken, strlen(broken), NULL, &r), 429, "%s", r.body);
    cr_assert_str_eq(error_of(&r), "rate_limited");
    testenv_response_free(&r);
    free(body);
}

Test(hardening, xff_is_ignored_without_trusted_proxies)
{
    static const char *const env[] = {"PINWATCH_RATE_LIMIT=5/min", NULL};
    start(env);
    size_t len;
    char *body = fixture(FINAL_IOS, &len);
    struct testenv_response r;
    static const char *const claimed[] = {"198.51.100.7", "203.0.113.9", "192.0.2.1", "2001:db8::1",
                                          NULL};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(post_from(body, len, claimed[i], &r), 200, "report %d: %s", i, r.body);
        testenv_response_free(&r);
    }
    /* Five "different" networks were one: the loopback peer's. */
    cr_assert_eq(post_from(body, len, "198.18.0.1", &r), 429, "%s", r.body);
    testenv_response_free(&r);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports WHERE network = '127.0.0.0/24'"), 5);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 5);
    free(body);
}

/* ---- what unauthenticated endpoints tell (SPEC 7) ---- */

/* The content-cache counters tell whether a given chain was reported lately: only with the
 * admin token, or on PINWATCH_METRICS_LISTEN. */
Test(hardening, public_metrics_keep_the_cache_counters_to_the_admin)
{
    unsigned mport = testenv_free_port();
    char listen[64];
    snprintf(listen, sizeof(listen), "PINWATCH_METRICS_LISTEN=127.0.0.1:%u", mport);
    const char *env[] = {listen, NULL};
    start(env);
    size_t len;
    char *body = fixture(FINAL_IOS, &len);
    struct testenv_response r;
    cr_assert_eq(testenv_post_report(&srv, body, len, NULL, &r), 200, "%s", r.body);
    testenv_response_free(&r);
    free(body);
    static const char cache[] = "pinwatch_content_cache_lookups_total";
    cr_assert_eq(testenv_http(srv.port, "GET", "/metrics", NULL, NULL, 0, false, &r), 200);
    cr_assert_null(strstr(r.body, cache), "public /metrics shows the cache counters");
    cr_assert_not_null(strstr(r.body, "pinwatch_reports_accepted_total 1"), "%s", r.body);
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, "/metrics", &r), 200);
    cr_assert_not_null(strstr(r.body, cache), "with the token: %s", r.body);
    testenv_response_free(&r);
    cr_assert_eq(testenv_http(mport, "GET", "/metrics", NULL, NULL, 0, false, &r), 200);
    cr_assert_not_null(strstr(r.body, cache), "on the metrics listener: %s", r.body);
    testenv_response_free(&r);
    /* that listener serves nothing else */
    cr_assert_eq(testenv_http(mport, "GET", "/v1/groups", NULL, NULL, 0, false, &r), 401);
    testenv_response_free(&r);
    cr_assert_eq(testenv_http(mport, "GET", "/healthz", NULL, NULL, 0, false, &r), 404);
    testenv_response_free(&r);
}

/* ---- connections ---- */

/* Seconds until the server closes a connection that sends one header byte every `every_ms`,
 * or a negative number when it is still open after `give_up_s`. */
static double dribble_until_closed(unsigned every_ms, double give_up_s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)srv.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    static const char start_line[] = "POST /v1/reports HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    cr_assert_eq(send(fd, start_line, sizeof(start_line) - 1, MSG_NOSIGNAL),
                 (ssize_t)sizeof(start_line) - 1);
    double t0 = testenv_now_s(), closed = -1;
    while (closed < 0 && testenv_now_s() - t0 < give_up_s) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)every_ms) > 0) {
            char c;
            if (recv(fd, &c, 1, 0) <= 0)
                closed = testenv_now_s() - t0;
            continue;
        }
        if (send(fd, "a", 1, MSG_NOSIGNAL) != 1)
            closed = testenv_now_s() - t0;
    }
    close(fd);
    return closed;
}

/* The idle timeout restarts on every byte; the header deadline does not. */
Test(hardening, a_header_sent_one_byte_a_second_is_cut_at_the_deadline)
{
    static const char *const env[] = {"PINWATCH_HEADER_TIMEOUT=2", "PINWATCH_CONNECTION_TIMEOUT=30",
                                      NULL};
    start(env);
    double closed = dribble_until_closed(1000, 8);
    cr_assert_geq(closed, 0, "the connection was still open after 8 s of a 1 byte/s header");
    cr_assert(closed >= 1.5 && closed < 4.5, "closed after %.1f s, the deadline is 2 s", closed);
    /* and the server goes on answering */
    assert_alive("after a cut header");
}

Test(hardening, idle_connections_do_not_block_a_request)
{
    start(NULL);
    enum { IDLE = 200 };
    int fds[IDLE];
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)srv.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < IDLE; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert_geq(fds[i], 0);
        cr_assert_eq(connect(fds[i], (struct sockaddr *)&a, sizeof(a)), 0, "connection %d", i);
    }
    /* Let the server accept them all. */
    struct timespec pause = {0, 300 * 1000000L};
    nanosleep(&pause, NULL);
    struct testenv_response r;
    double t0 = testenv_now_s();
    cr_assert_eq(testenv_http(srv.port, "GET", "/healthz", NULL, NULL, 0, false, &r), 200);
    double took = testenv_now_s() - t0;
    testenv_response_free(&r);
    cr_assert_lt(took, 1.0, "/healthz took %.2f s beside %d idle connections", took, IDLE);
    size_t len;
    char *body = fixture(FINAL_IOS, &len);
    t0 = testenv_now_s();
    cr_assert_eq(testenv_post_report(&srv, body, len, NULL, &r), 200, "%s", r.body);
    took = testenv_now_s() - t0;
    testenv_response_free(&r);
    cr_assert_lt(took, 1.0, "a report took %.2f s beside %d idle connections", took, IDLE);
    free(body);
    for (int i = 0; i < IDLE; i++)
        close(fds[i]);
    assert_alive("idle connections");
}

/* ---- admin API gate ---- */

Test(hardening, admin_api_needs_the_right_token)
{
    start(NULL);
    char wrong[200], prefix[200], longer[200], basic[200];
    snprintf(wrong, sizeof(wrong), "Authorization: Bearer not-%s\r\n", srv.token);
    snprintf(prefix, sizeof(prefix), "Authorization: Bearer %.*s\r\n", (int)strlen(srv.token) - 1,
             srv.token);
    snprintf(longer, sizeof(longer), "Authorization: Bearer %sx\r\n", srv.token);
    snprintf(basic, sizeof(basic), "Authorization: Basic %s\r\n", srv.token);
    const char *headers[] = {NULL,
                             wrong,
                             prefix,
                             longer,
                             basic,
                             "Authorization: Bearer \r\n",
                             "Authorization: Bearer\r\n",
                             "Authorization: \r\n"};
    static const char *const paths[][2] = {
        {"GET", "/v1/reports"},
        {"GET", "/v1/reports/00000000-0000-7000-8000-000000000000"},
        {"GET", "/v1/reports/00000000-0000-7000-8000-000000000000/raw"},
        {"GET", "/v1/groups"},
        {"GET", "/v1/export"},
        {"PUT", "/v1/hosts/example.com/keys"},
        {"GET", "/v1/no-such-endpoint"},
        {"DELETE", "/v1/reports"},
        {"GET", "/v1"},
        {"GET", "/v1/"},
    };
    for (size_t h = 0; h < sizeof(headers) / sizeof(headers[0]); h++) {
        for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
            struct testenv_response r;
            int st = testenv_http(srv.port, paths[p][0], paths[p][1], headers[h],
                                  strcmp(paths[p][0], "PUT") == 0 ? "{}" : NULL, 2, false, &r);
            cr_assert_eq(st, 401, "%s %s with %s: %d", paths[p][0], paths[p][1],
                         headers[h] != NULL ? headers[h] : "no header", st);
            cr_assert_str_eq(error_of(&r), "unauthorized");
            char *www = testenv_response_header(&r, "WWW-Authenticate");
            cr_assert_not_null(www);
            free(www);
            testenv_response_free(&r);
        }
    }
    /* The right token opens it; an unknown path is then a plain 404. */
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, "/v1/reports", &r), 200);
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, "/v1/no-such-endpoint", &r), 404);
    testenv_response_free(&r);
    /* Ingest stays public. */
    size_t len;
    char *body = fixture(FINAL_IOS, &len);
    cr_assert_eq(testenv_post_report(&srv, body, len, NULL, &r), 200);
    testenv_response_free(&r);
    free(body);
}

Test(hardening, admin_api_without_any_configured_token)
{
    /* No token configured: the admin API answers 401 to everyone, even to an empty bearer. */
    static const char *const env[] = {"PINWATCH_ADMIN_TOKEN=", NULL};
    start(env);
    struct testenv_response r;
    cr_assert_eq(testenv_http(srv.port, "GET", "/v1/reports", "Authorization: Bearer \r\n", NULL, 0,
                              false, &r),
                 401);
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, "/v1/reports", &r), 401);
    testenv_response_free(&r);
}

/* ---- allow-lists ---- */

static int post_variant(const char *field, const char *value, struct testenv_response *r)
{
    json_t *rep = fixture_json(FINAL_IOS);
    json_object_set_new(rep, field, json_string(value));
    char *body = json_dumps(rep, JSON_COMPACT);
    json_decref(rep);
    int st = testenv_post_report(&srv, body, strlen(body), NULL, r);
    free(body);
    return st;
}

Test(hardening, allowed_apps)
{
    static const char *const env[] = {"PINWATCH_ALLOWED_APPS=com.example.app", NULL};
    start(env);
    struct testenv_response r;
    cr_assert_eq(post_variant("app-bundle-id", "com.datatheorem.testtrustkit2", &r), 403, "%s",
                 r.body);
    cr_assert_str_eq(error_of(&r), "app_not_allowed");
    testenv_response_free(&r);
    cr_assert_eq(post_variant("app-bundle-id", "com.example.app.evil", &r), 403);
    testenv_response_free(&r);
    cr_assert_eq(post_variant("app-bundle-id", "COM.EXAMPLE.APP", &r), 403);
    testenv_response_free(&r);
    /* Browser reports are app "web": not on the list either. */
    size_t len;
    char *hpkp = fixture("sentry-relay/integration_hpkp.input.json", &len);
    cr_assert_eq(testenv_post_report(&srv, hpkp, len, NULL, &r), 403);
    cr_assert_str_eq(error_of(&r), "app_not_allowed");
    testenv_response_free(&r);
    free(hpkp);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 0);
    cr_assert_eq(post_variant("app-bundle-id", "com.example.app", &r), 200, "%s", r.body);
    testenv_response_free(&r);
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 1);
    assert_alive("allowed apps");
}

Test(hardening, allowed_hosts)
{
    static const char *const env[] = {"PINWATCH_ALLOWED_HOSTS=*.example.com", NULL};
    start(env);
    struct testenv_response r;
    cr_assert_eq(post_variant("hostname", "evil.test", &r), 403, "%s", r.body);
    cr_assert_str_eq(error_of(&r), "host_not_allowed");
    testenv_response_free(&r);
    static const char *const outside[] = {"example.com", "evilexample.com", "example.com.evil.test",
                                          "www.example.co", "203.0.113.9"};
    for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
        cr_assert_eq(post_variant("hostname", outside[i], &r), 403, "%s: %s", outside[i], r.body);
        testenv_response_free(&r);
    }
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 0);
    /* Inside, in any spelling that normalizes into it. */
    static const char *const inside[] = {"www.example.com", "WWW.Example.COM.", "a.b.example.com"};
    for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++) {
        cr_assert_eq(post_variant("hostname", inside[i], &r), 200, "%s: %s", inside[i], r.body);
        testenv_response_free(&r);
    }
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports"), 3);
    /* An array with one report inside and one outside: 200, the outsider listed as rejected. */
    json_t *a = fixture_json(FINAL_IOS), *b = fixture_json(FINAL_IOS);
    json_object_set_new(a, "hostname", json_string("api.example.com"));
    json_object_set_new(b, "hostname", json_string("evil.test"));
    json_t *arr = json_pack("[o,o]", a, b);
    char *body = json_dumps(arr, JSON_COMPACT);
    cr_assert_eq(testenv_post_report(&srv, body, strlen(body), NULL, &r), 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "accepted")), 1);
    json_t *rej = json_array_get(json_object_get(r.json, "rejected"), 0);
    cr_assert_eq(json_integer_value(json_object_get(rej, "index")), 1);
    cr_assert_str_eq(json_string_value(json_object_get(rej, "error")), "host_not_allowed");
    testenv_response_free(&r);
    free(body);
    json_decref(arr);
}

/* ---- privacy: full client addresses ---- */

/* Rows of every table of the public schema whose text contains needle. */
static long rows_containing(const char *needle)
{
    PGconn *c = testenv_db();
    PGresult *tables = PQexec(c, "SELECT format('%I', c.relname) FROM pg_class c JOIN "
                                 "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = "
                                 "'public' AND c.relkind IN ('r', 'p')");
    cr_assert_eq(PQresultStatus(tables), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    cr_assert_gt(PQntuples(tables), 3);
    long total = 0;
    for (int i = 0; i < PQntuples(tables); i++) {
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM %s t WHERE t::text LIKE '%%' || $1 || '%%'",
                 PQgetvalue(tables, i, 0));
        const char *params[1] = {needle};
        PGresult *res = PQexecParams(c, sql, 1, NULL, params, NULL, NULL, 0);
        cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
        long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        cr_assert_eq(n, 0, "table %s has %ld row(s) with %s", PQgetvalue(tables, i, 0), n, needle);
        total += n;
        PQclear(res);
    }
    PQclear(tables);
    PQfinish(c);
    return total;
}

/* Whether any file directly under dir contains needle. */
static bool dir_contains(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[768];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            continue;
        char *buf = malloc(1 << 20);
        size_t n = fread(buf, 1, (1 << 20) - 1, f);
        fclose(f);
        buf[n] = '\0';
        for (size_t i = 0; !found && i + strlen(needle) <= n; i++)
            found = memcmp(buf + i, needle, strlen(needle)) == 0;
        free(buf);
    }
    closedir(d);
    return found;
}

Test(hardening, full_client_addresses_are_kept_nowhere_by_default)
{
    static const char *const env[] = {"PINWATCH_TRUSTED_PROXIES=127.0.0.0/8", NULL};
    start(env);
    size_t len;
    char *body = fixture(ANDROID, &len);
    struct testenv_response r;
    cr_assert_eq(post_from(body, len, "198.51.100.77", &r), 200, "%s", r.body);
    testenv_response_free(&r);
    /* A rejected one too: errors must not log the address either. */
    cr_assert_eq(post_from("{\"known-pins\":[]}", 17, "198.51.100.77", &r), 400);
    testenv_response_free(&r);
    /* The address was believed (its network is stored)... */
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports WHERE network = '198.51.100.0/24'"),
                 1);
    /* ...but not kept. */
    cr_assert_eq(testenv_db_long("SELECT count(*) FROM reports WHERE client_ip IS NOT NULL"), 0);
    cr_assert_eq(rows_containing("198.51.100.77"), 0);
    cr_assert_not(dir_contains(srv.spool_dir, "198.51.100.77"), "the spool holds the address");
    /* The log (debug level in tests) does not have it. */
    size_t log_len;
    char *log = testenv_read_file(srv.log_path, &log_len);
    cr_assert_gt(log_len, 0);
    cr_assert_null(strstr(log, "198.51.100.77"), "the server log holds the address");
    free(log);
    free(body);
}

Test(hardening, full_client_addresses_kept_when_asked)
{
    static const char *const env[] = {"PINWATCH_TRUSTED_PROXIES=127.0.0.0/8",
                                      "PINWATCH_STORE_CLIENT_IP=1", NULL};
    start(env);
    size_t len;
    char *body = fixture(ANDROID, &len);
    struct testenv_response r;
    cr_assert_eq(post_from(body, len, "198.51.100.78", &r), 200, "%s", r.body);
    testenv_response_free(&r);
    char *ip = testenv_db_value("SELECT host(client_ip) FROM reports");
    cr_assert_not_null(ip);
    cr_assert_str_eq(ip, "198.51.100.78");
    free(ip);
    free(body);
}
