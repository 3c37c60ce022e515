/* Alerts through the real server (SPEC 10): rules API, signed webhooks to a real HTTP receiver
 * inside the test, retries after 500s and timeouts, two nodes on one database delivering each
 * alert once, an alert queued before a SIGKILL delivered after the restart, and the rules fired
 * by simulated populations (an enterprise proxy; a rollout with stale pins). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testcert.h"
#include "testenv.h"
#include "testreceiver.h"
#include "testreport.h"

#define SECRET     "whsec-test-1234"
#define PUBLIC_URL "https://pinwatch.example.com/"

static struct testenv_server srv, srv2;
static struct testenv_pg pg;
static bool pg_made;
static struct testreceiver *rx;
static struct testcert *pub_root, *pub_ca, *leaf_old, *leaf_new, *forti_root, *forti_leaf;
static char *store_path;
static char env_store[512], env_url[256];

static void setup(void)
{
    testenv_reset_db();
    pub_root = testcert_new_root(&(struct testcert_opts){.cn = "Pinwatch Test Public Root"});
    pub_ca = testcert_new_ca(&(struct testcert_opts){.cn = "Pinwatch Test Public CA"}, pub_root);
    const char *sans[] = {"api.example.com", NULL};
    leaf_old =
        testcert_new_leaf(&(struct testcert_opts){.cn = "api.example.com", .sans = sans}, pub_ca);
    leaf_new =
        testcert_new_leaf(&(struct testcert_opts){.cn = "api.example.com", .sans = sans}, pub_ca);
    forti_root = testcert_new_root(&(struct testcert_opts){.cn = "FortiGate CA", .o = "Fortinet"});
    forti_leaf = testcert_new_leaf(&(struct testcert_opts){.cn = "api.example.com", .sans = sans},
                                   forti_root);
    const struct testcert *roots[] = {pub_root};
    store_path = testcert_bundle_tmpfile(roots, 1);
    rx = testreceiver_start();
    cr_assert_not_null(rx);
    snprintf(env_store, sizeof(env_store), "PINWATCH_TRUST_STORE=%s", store_path);
    snprintf(env_url, sizeof(env_url), "PINWATCH_ALERT_WEBHOOK_URL=http://127.0.0.1:%u/hook",
             testreceiver_port(rx));
    memset(&srv, 0, sizeof(srv));
    memset(&srv2, 0, sizeof(srv2));
}

static void teardown(void)
{
    testenv_server_kill(&srv);
    if (srv2.pid > 0)
        testenv_server_kill(&srv2);
    testreceiver_stop(rx);
    if (pg_made)
        testenv_pg_destroy(&pg);
    pg_made = false;
    unlink(store_path);
    free(store_path);
    struct testcert *all[] = {pub_root, pub_ca, leaf_old, leaf_new, forti_root, forti_leaf};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        testcert_free(all[i]);
}

TestSuite(alerts, .init = setup, .fini = teardown, .timeout = 240);

static void start(struct testenv_server *s, const char *extra)
{
    const char *env[] = {env_store,
                         "PINWATCH_TRUSTED_PROXIES=127.0.0.0/8",
                         env_url,
                         "PINWATCH_ALERT_WEBHOOK_SECRET=" SECRET,
                         "PINWATCH_ALERT_INTERVAL=2",
                         "PINWATCH_ALERT_TIMEOUT=2",
                         "PINWATCH_PUBLIC_URL=" PUBLIC_URL,
                         extra,
                         NULL};
    testenv_server_start(s, env);
}

static int admin(const struct testenv_server *s, const char *method, const char *path,
                 const char *body, struct testenv_response *r)
{
    char h[200];
    snprintf(h, sizeof(h), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
             s->token);
    return testenv_http(s->port, method, path, h, body, body != NULL ? strlen(body) : 0, false, r);
}

static void post(const struct testenv_server *s, const char *app, const char *version,
                 const char *device, const struct testcert *c0, const struct testcert *c1,
                 const char *ip)
{
    const struct testcert *chain[] = {c0, c1};
    const struct testcert *pins[] = {leaf_old};
    struct testreport tr = {.app = app,
                            .version = version,
                            .vendor_id = device,
                            .hostname = "api.example.com",
                            .chain = chain,
                            .chain_len = 2,
                            .pins = pins,
                            .n_pins = 1};
    free(testreport_post(s, &tr, ip));
}

/* Wait until the receiver has n 2xx deliveries of rule (NULL: any), at most seconds. */
static bool wait_delivered(const char *rule, size_t n, int seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        if (testreceiver_delivered(rx, rule, NULL) >= n)
            return true;
        usleep(100000);
    }
    return false;
}

/* Every hit carries a valid signature of its exact body. */
static void assert_all_signed(void)
{
    for (size_t i = 0; i < testreceiver_count(rx); i++) {
        struct testreceiver_hit h = testreceiver_hit(rx, i);
        cr_assert(testreceiver_verify(SECRET, h.signature, h.body), "hit %zu: %s / %s", i,
                  h.signature, h.body);
        cr_assert(!testreceiver_verify("another-secret", h.signature, h.body));
        testreceiver_hit_free(&h);
    }
}

Test(alerts, rules_are_read_validated_and_changed)
{
    start(&srv, NULL);
    struct testenv_response r;
    cr_assert_eq(admin(&srv, "GET", "/v1/alerts/rules", NULL, &r), 200, "%s", r.body);
    json_t *rules = json_object_get(r.json, "rules");
    json_t *spike = json_object_get(rules, "spike");
    cr_assert_eq(json_number_value(json_object_get(spike, "factor")), 5);
    cr_assert_eq(json_integer_value(json_object_get(spike, "min_reports")), 20);
    cr_assert_eq(json_integer_value(
                     json_object_get(json_object_get(rules, "new_interception_group"), "devices")),
                 3);
    cr_assert_eq(
        json_integer_value(json_object_get(json_object_get(rules, "pins_expiring"), "within_days")),
        30);
    cr_assert_eq(json_integer_value(
                     json_object_get(json_object_get(rules, "ingest_degraded"), "for_seconds")),
                 300);
    cr_assert_eq(json_object_size(rules), 6);
    testenv_response_free(&r);

    cr_assert_eq(admin(&srv, "PUT", "/v1/alerts/rules",
                       "{\"rules\": {\"spike\": {\"factor\": 8.5}, \"version_failing\": "
                       "{\"enabled\": false}}}",
                       &r),
                 200, "%s", r.body);
    testenv_response_free(&r);
    /* Bad input: 400 with its code, and nothing changes. */
    static const struct {
        const char *body, *code;
    } bad[] = {
        {"{\"rules\": {\"spiky\": {\"factor\": 2}}}", "unknown_rule"},
        {"{\"rules\": {\"spike\": {\"factorial\": 2}}}", "unknown_parameter"},
        {"{\"rules\": {\"spike\": {\"factor\": 0}}}", "invalid_rule"},
        {"{\"rules\": {\"new_interception_group\": {\"devices\": 2.5}}}", "invalid_rule"},
        {"{\"rules\": {\"new_interception_group\": {\"devices\": \"3\"}}}", "invalid_rule"},
        {"{\"rules\": {\"spike\": {\"enabled\": 1}}}", "invalid_rule"},
        {"{\"rules\": {\"spike\": {\"factor\": 2}, \"pins_expiring\": {\"within_days\": -1}}}",
         "invalid_rule"},
        {"{\"rules\": [1]}", "invalid_rule"},
        {"{\"rules\": {\"spike\": ", "invalid_json"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(admin(&srv, "PUT", "/v1/alerts/rules", bad[i].body, &r), 400, "%s",
                     bad[i].body);
        cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), bad[i].code, "%s",
                         r.body);
        testenv_response_free(&r);
    }
    cr_assert_eq(admin(&srv, "GET", "/v1/alerts/rules", NULL, &r), 200);
    rules = json_object_get(r.json, "rules");
    cr_assert_eq(json_number_value(json_object_get(json_object_get(rules, "spike"), "factor")),
                 8.5);
    cr_assert(json_is_false(json_object_get(json_object_get(rules, "version_failing"), "enabled")));
    cr_assert(json_is_true(json_object_get(json_object_get(rules, "spike"), "enabled")));
    cr_assert_eq(json_integer_value(
                     json_object_get(json_object_get(rules, "new_interception_group"), "devices")),
                 3);
    testenv_response_free(&r);
    /* The token is required. */
    cr_assert_eq(testenv_http(srv.port, "GET", "/v1/alerts/rules", NULL, NULL, 0, false, &r), 401);
    testenv_response_free(&r);
}

Test(alerts, a_test_alert_is_signed_and_carries_its_fields)
{
    start(&srv, NULL);
    struct testenv_response r;
    cr_assert_eq(admin(&srv, "POST", "/v1/alerts/test", NULL, &r), 200, "%s", r.body);
    const char *id = json_string_value(json_object_get(r.json, "id"));
    cr_assert_not_null(id);
    char *want_id = strdup(id);
    json_t *delivery = json_object_get(r.json, "delivery");
    cr_assert_str_eq(json_string_value(json_object_get(delivery, "state")), "delivered", "%s",
                     r.body);
    cr_assert_eq(json_integer_value(json_object_get(delivery, "last_status")), 200);
    testenv_response_free(&r);
    cr_assert_eq(testreceiver_count(rx), 1);
    assert_all_signed();
    struct testreceiver_hit h = testreceiver_hit(rx, 0);
    json_t *body = json_loads(h.body, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(body, "id")), want_id);
    cr_assert_str_eq(json_string_value(json_object_get(body, "rule")), "test");
    cr_assert_not_null(json_string_value(json_object_get(body, "fired_at")));
    cr_assert_not_null(json_string_value(json_object_get(body, "summary")));
    cr_assert_str_eq(json_string_value(json_object_get(body, "text")),
                     json_string_value(json_object_get(body, "summary")));
    cr_assert_str_eq(json_string_value(json_object_get(body, "url")),
                     "https://pinwatch.example.com/");
    json_decref(body);
    testreceiver_hit_free(&h);
    /* History: newest first, with its delivery state. */
    cr_assert_eq(admin(&srv, "GET", "/v1/alerts", NULL, &r), 200, "%s", r.body);
    json_t *first = json_array_get(json_object_get(r.json, "alerts"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(first, "id")), want_id);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(first, "delivery"), "state")),
        "delivered");
    testenv_response_free(&r);
    cr_assert_eq(admin(&srv, "GET", "/v1/alerts?limit=0", NULL, &r), 400);
    testenv_response_free(&r);
    cr_assert_eq(admin(&srv, "GET", "/v1/alerts?cursor=nonsense", NULL, &r), 400);
    testenv_response_free(&r);
    free(want_id);
    /* SIGTERM stops the alerter with the rest, nothing leaked (ASan would exit non-zero). */
    cr_assert_eq(testenv_server_stop(&srv), 0, "see %s", srv.log_path);
}

Test(alerts, alerts_page_newest_first)
{
    start(&srv, NULL);
    struct testenv_response r;
    char ids[3][40];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(admin(&srv, "POST", "/v1/alerts/test", NULL, &r), 200, "%s", r.body);
        snprintf(ids[i], sizeof(ids[i]), "%s", json_string_value(json_object_get(r.json, "id")));
        testenv_response_free(&r);
        usleep(20000);
    }
    cr_assert_eq(admin(&srv, "GET", "/v1/alerts?limit=2", NULL, &r), 200, "%s", r.body);
    json_t *list = json_object_get(r.json, "alerts");
    cr_assert_eq(json_array_size(list), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "id")), ids[2]);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 1), "id")), ids[1]);
    char path[200];
    snprintf(path, sizeof(path), "/v1/alerts?limit=2&cursor=%s",
             json_string_value(json_object_get(r.json, "next_cursor")));
    testenv_response_free(&r);
    cr_assert_eq(admin(&srv, "GET", path, NULL, &r), 200, "%s", r.body);
    list = json_object_get(r.json, "alerts");
    cr_assert_eq(json_array_size(list), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "id")), ids[0]);
    cr_assert(json_is_null(json_object_get(r.json, "next_cursor")));
    testenv_response_free(&r);
}

/* The hits of one alert id, in order. */
static size_t hits_of(const char *id, struct testreceiver_hit *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < testreceiver_count(rx) && n < max; i++) {
        struct testreceiver_hit h = testreceiver_hit(rx, i);
        json_t *b = json_loads(h.body, 0, NULL);
        if (strcmp(json_string_value(json_object_get(b, "id")), id) == 0)
            out[n++] = h;
        else
            testreceiver_hit_free(&h);
        json_decref(b);
    }
    return n;
}

static void retried_until_delivered(unsigned delay_ms, int status)
{
    start(&srv, NULL);
    testreceiver_fail_next(rx, 2, status, delay_ms);
    struct testenv_response r;
    cr_assert_eq(admin(&srv, "POST", "/v1/alerts/test", NULL, &r), 200, "%s", r.body);
    char id[40];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(r.json, "id")));
    json_t *d = json_object_get(r.json, "delivery");
    cr_assert_str_eq(json_string_value(json_object_get(d, "state")), "pending", "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(d, "attempts")), 1);
    if (status != 0)
        cr_assert_eq(json_integer_value(json_object_get(d, "last_status")), status);
    else
        cr_assert(json_is_null(json_object_get(d, "last_status")), "%s", r.body);
    testenv_response_free(&r);
    cr_assert(wait_delivered("test", 1, 40), "not delivered after the retries");
    struct testreceiver_hit hits[8];
    size_t n = hits_of(id, hits, 8);
    cr_assert_eq(n, 3, "two failed tries and one delivery, got %zu", n);
    /* The same body (same id) every try, each signed; the first retry within 10 s. */
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(hits[i].body, hits[0].body);
        cr_assert(testreceiver_verify(SECRET, hits[i].signature, hits[i].body));
    }
    double first_retry = hits[1].at - hits[0].at;
    cr_assert(first_retry <= 10.0 + (delay_ms / 1000.0), "first retry after %.1f s", first_retry);
    cr_assert(hits[2].at - hits[1].at > first_retry - 1.0, "backoff grows");
    cr_assert_eq(hits[2].answered, 200);
    for (size_t i = 0; i < n; i++)
        testreceiver_hit_free(&hits[i]);
    /* The receiver saw the answer before the sender recorded it: look until it has. */
    for (int i = 0;; i++) {
        cr_assert_eq(admin(&srv, "GET", "/v1/alerts", NULL, &r), 200);
        d = json_object_get(json_array_get(json_object_get(r.json, "alerts"), 0), "delivery");
        if (strcmp(json_string_value(json_object_get(d, "state")), "delivered") == 0 || i == 50)
            break;
        testenv_response_free(&r);
        usleep(100000);
    }
    cr_assert_str_eq(json_string_value(json_object_get(d, "state")), "delivered");
    cr_assert_eq(json_integer_value(json_object_get(d, "attempts")), 3);
    testenv_response_free(&r);
}

Test(alerts, an_alert_is_retried_after_500s)
{
    retried_until_delivered(0, 500);
}

Test(alerts, an_alert_is_retried_after_timeouts)
{
    /* The receiver answers after 3.5 s; the sender gives up after 2 s. */
    retried_until_delivered(3500, 0);
}

Test(alerts, a_test_alert_without_a_webhook_is_refused)
{
    const char *env[] = {env_store, NULL};
    testenv_server_start(&srv, env);
    struct testenv_response r;
    cr_assert_eq(admin(&srv, "POST", "/v1/alerts/test", NULL, &r), 409, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "webhook_not_configured");
    testenv_response_free(&r);
}

static const char *const versions[] = {"1.0", "2.0", "3.0", "4.0", "5.0"};

/* An enterprise proxy named like Fortinet's, in two networks, on every app version. */
static void post_proxy_population(int from, int to)
{
    char ip[64], dev[32];
    for (int d = from; d < to; d++) {
        for (int v = 0; v < 5; v++) {
            snprintf(ip, sizeof(ip), "198.51.%d.%d", 100 + d % 2, 20 + d);
            snprintf(dev, sizeof(dev), "FORTI-%d", d);
            post(d % 2 == 0 || srv2.pid <= 0 ? &srv : &srv2, "com.example.shop", versions[v], dev,
                 forti_leaf, forti_root, ip);
        }
    }
}

static long metric(const struct testenv_server *s, const char *line_start)
{
    struct testenv_response r;
    cr_assert_eq(testenv_http(s->port, "GET", "/metrics", NULL, NULL, 0, false, &r), 200);
    const char *p = strstr(r.body, line_start);
    long v = p != NULL ? atol(p + strlen(line_start)) : -1;
    testenv_response_free(&r);
    return v;
}

Test(alerts, an_enterprise_proxy_population_fires_one_signed_webhook)
{
    start(&srv, NULL);
    time_t t0 = time(NULL);
    post_proxy_population(0, 6);
    cr_assert(wait_delivered("new_interception_group", 1, 60), "no webhook within a minute");
    cr_assert_leq(time(NULL) - t0, 60);
    json_t *bodies = NULL;
    testreceiver_delivered(rx, "new_interception_group", &bodies);
    json_t *b = json_array_get(bodies, 0);
    char *dump = json_dumps(b, JSON_COMPACT);
    json_t *g = json_object_get(b, "group");
    cr_assert_str_eq(json_string_value(json_object_get(g, "verdict")), "interception", "%s", dump);
    cr_assert_str_eq(json_string_value(json_object_get(g, "kind")), "enterprise_proxy", "%s", dump);
    cr_assert(strstr(json_string_value(json_object_get(g, "product")), "Forti") != NULL);
    cr_assert_str_eq(json_string_value(json_object_get(g, "app")), "com.example.shop");
    cr_assert_str_eq(json_string_value(json_object_get(g, "hostname")), "api.example.com");
    cr_assert_geq(json_integer_value(json_object_get(g, "devices")), 3, "%s", dump);
    cr_assert_geq(json_integer_value(json_object_get(g, "reports")), 15, "%s", dump);
    cr_assert_eq(json_integer_value(json_object_get(g, "networks")), 2, "%s", dump);
    cr_assert_gt(json_array_size(json_object_get(g, "reasons")), 0, "%s", dump);
    cr_assert_leq(json_array_size(json_object_get(g, "reasons")), 3, "%s", dump);
    char url[300];
    snprintf(url, sizeof(url), "https://pinwatch.example.com/groups/%s",
             json_string_value(json_object_get(g, "id")));
    cr_assert_str_eq(json_string_value(json_object_get(b, "url")), url);
    cr_assert(strstr(json_string_value(json_object_get(b, "summary")), "api.example.com") != NULL);
    free(dump);
    json_decref(bodies);
    /* More of the same population over several evaluations: no second alert. */
    post_proxy_population(6, 9);
    sleep(7);
    cr_assert_eq(testreceiver_delivered(rx, "new_interception_group", NULL), 1);
    cr_assert_eq(testreceiver_delivered(rx, "version_failing", NULL), 0,
                 "an interception population is not a bad release");
    assert_all_signed();
    cr_assert_eq(metric(&srv, "pinwatch_failing_groups{verdict=\"interception\"} "), 1);
    cr_assert_eq(metric(&srv, "pinwatch_failing_devices{verdict=\"interception\"} "), 9);
    cr_assert_eq(metric(&srv, "pinwatch_failing_reports_last_hour{verdict=\"interception\"} "), 45);
    cr_assert_eq(metric(&srv, "pinwatch_alerts_fired_total{rule=\"new_interception_group\"} "), 1);
}

static void post_stale(const char *app, const char *version, int devices, int net)
{
    char ip[64], dev[48];
    for (int i = 0; i < devices; i++) {
        snprintf(ip, sizeof(ip), "100.%d.%d.10", 64 + net, i);
        snprintf(dev, sizeof(dev), "%s-%s-%d", app, version, i);
        /* The app pins the old key; the server now serves a new key from a public CA. */
        post(&srv, app, version, dev, leaf_new, pub_ca, ip);
    }
}

static json_t *version_alert(const char *app, const char *version)
{
    json_t *bodies = NULL, *found = NULL;
    testreceiver_delivered(rx, "version_failing", &bodies);
    size_t i;
    json_t *b;
    json_array_foreach(bodies, i, b)
    {
        json_t *g = json_object_get(b, "group");
        if (strcmp(json_string_value(json_object_get(g, "app")), app) == 0 &&
            strcmp(json_string_value(json_object_get(json_object_get(g, "version"), "version")),
                   version) == 0)
            found = json_incref(b);
    }
    json_decref(bodies);
    return found;
}

Test(alerts, a_rollout_with_stale_pins_fires_version_failing)
{
    start(&srv, NULL);
    post_stale("com.example.shop", "5.0", 12, 0);
    cr_assert(wait_delivered("version_failing", 1, 60), "no version_failing within a minute");
    json_t *b = version_alert("com.example.shop", "5.0");
    cr_assert_not_null(b);
    json_t *g = json_object_get(b, "group");
    /* An early warning: it may fire before the verdict has settled, never as interception. */
    const char *verdict = json_string_value(json_object_get(g, "verdict"));
    cr_assert(strcmp(verdict, "misconfiguration") == 0 || strcmp(verdict, "undetermined") == 0,
              "%s", verdict);
    cr_assert_geq(json_integer_value(json_object_get(json_object_get(g, "version"), "devices")), 3);
    json_decref(b);
    cr_assert(wait_delivered("new_misconfiguration_group", 1, 30));
    /* Another app whose older version already fails the same way: the newer one is no news. */
    post_stale("com.example.other", "3.0", 3, 1);
    cr_assert(wait_delivered("version_failing", 2, 60));
    post_stale("com.example.other", "4.0", 5, 2);
    sleep(7);
    json_t *newer = version_alert("com.example.other", "4.0");
    cr_assert_null(newer, "4.0 fails like 3.0 did");
    cr_assert_eq(testreceiver_delivered(rx, "version_failing", NULL), 2);
    assert_all_signed();
}

Test(alerts, two_nodes_deliver_each_alert_once)
{
    start(&srv, NULL);
    start(&srv2, NULL);
    /* Every first try fails, so every retry is up for grabs by both nodes. */
    testreceiver_fail_next(rx, 8, 500, 0);
    char ids[8][40];
    struct testenv_response r;
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(admin(i % 2 ? &srv2 : &srv, "POST", "/v1/alerts/test", NULL, &r), 200);
        snprintf(ids[i], sizeof(ids[i]), "%s", json_string_value(json_object_get(r.json, "id")));
        testenv_response_free(&r);
    }
    /* Slow answers: a node that claimed an alert holds it for a while, the other node polls
     * meanwhile and must leave it alone. */
    testreceiver_set_latency(rx, 1200);
    post_proxy_population(0, 6); /* both nodes evaluate the rules */
    cr_assert(wait_delivered("test", 8, 60));
    cr_assert(wait_delivered("new_interception_group", 1, 60));
    sleep(8);
    for (int i = 0; i < 8; i++) {
        struct testreceiver_hit hits[8];
        size_t n = hits_of(ids[i], hits, 8), ok = 0;
        for (size_t k = 0; k < n; k++) {
            ok += hits[k].answered == 200;
            testreceiver_hit_free(&hits[k]);
        }
        cr_assert_eq(ok, 1, "alert %d delivered %zu times", i, ok);
        cr_assert_eq(n, 2, "alert %d tried %zu times", i, n);
    }
    cr_assert_eq(testreceiver_delivered(rx, "new_interception_group", NULL), 1);
    long d1 = metric(&srv, "pinwatch_alert_deliveries_total{result=\"delivered\"} ");
    long d2 = metric(&srv2, "pinwatch_alert_deliveries_total{result=\"delivered\"} ");
    cr_assert_eq(d1 + d2, 9, "%ld + %ld", d1, d2);
    assert_all_signed();
}

Test(alerts, an_alert_queued_before_a_sigkill_is_delivered_after_the_restart)
{
    start(&srv, NULL);
    testreceiver_fail_next(rx, 1, 503, 0);
    struct testenv_response r;
    cr_assert_eq(admin(&srv, "POST", "/v1/alerts/test", NULL, &r), 200);
    char id[40];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(r.json, "id")));
    testenv_response_free(&r);
    testenv_server_kill(&srv);
    cr_assert_eq(testreceiver_count(rx), 1);
    start(&srv, NULL);
    cr_assert(wait_delivered("test", 1, 30), "the queued alert was lost");
    struct testreceiver_hit hits[4];
    size_t n = hits_of(id, hits, 4);
    cr_assert_eq(n, 2);
    cr_assert_eq(hits[0].answered, 503);
    cr_assert_eq(hits[1].answered, 200);
    cr_assert_str_eq(hits[0].body, hits[1].body);
    for (size_t i = 0; i < n; i++)
        testreceiver_hit_free(&hits[i]);
}

Test(alerts, pins_expiring_fires_once_for_a_pin_set_still_reported)
{
    start(&srv, NULL);
    char expires[16];
    time_t soon = time(NULL) + 10 * 86400;
    strftime(expires, sizeof(expires), "%Y-%m-%d", gmtime(&soon));
    const struct testcert *chain[] = {leaf_new, pub_ca};
    const struct testcert *pins[] = {leaf_old};
    for (int i = 0; i < 3; i++) {
        char dev[16], hdr[64];
        snprintf(dev, sizeof(dev), "PX-%d", i);
        struct testreport tr = {.app = "com.example.pins",
                                .version = "2.1",
                                .vendor_id = dev,
                                .hostname = "api.example.com",
                                .chain = chain,
                                .chain_len = 2,
                                .pins = pins,
                                .n_pins = 1};
        json_t *body = testreport_json(&tr);
        json_object_set_new(body, "known-pins-expiration-date", json_string(expires));
        char *text = json_dumps(body, JSON_COMPACT);
        snprintf(hdr, sizeof(hdr), "X-Forwarded-For: 192.0.2.%d\r\n", 10 + i);
        struct testenv_response r;
        cr_assert_eq(testenv_post_report(&srv, text, strlen(text), hdr, &r), 200, "%s", r.body);
        testenv_response_free(&r);
        free(text);
        json_decref(body);
    }
    cr_assert(wait_delivered("pins_expiring", 1, 60), "no pins_expiring within a minute");
    json_t *bodies = NULL;
    testreceiver_delivered(rx, "pins_expiring", &bodies);
    json_t *b = json_array_get(bodies, 0);
    json_t *p = json_object_get(b, "pinset");
    cr_assert_str_eq(json_string_value(json_object_get(p, "app")), "com.example.pins");
    cr_assert_str_eq(json_string_value(json_object_get(p, "version")), "2.1");
    cr_assert_str_eq(json_string_value(json_object_get(p, "hostname")), "api.example.com");
    cr_assert_eq(strncmp(json_string_value(json_object_get(p, "pins_expire")), expires, 10), 0);
    cr_assert_eq(json_integer_value(json_object_get(p, "reports")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(b, "url")),
                     "https://pinwatch.example.com/pinsets?app=com.example.pins&hostname=api."
                     "example.com");
    json_decref(bodies);
    sleep(5);
    cr_assert_eq(testreceiver_delivered(rx, "pins_expiring", NULL), 1);
    assert_all_signed();
}

Test(alerts, a_spike_against_the_median_hour_fires_once)
{
    start(&srv, NULL);
    post_proxy_population(0, 6); /* 30 reports this hour */
    cr_assert(wait_delivered("new_interception_group", 1, 60));
    char *gid = testenv_db_value("SELECT id FROM groups WHERE verdict = 'interception'");
    cr_assert_not_null(gid);
    char sql[1024];
    /* The group is older than its window, with 10 reports every hour of the week before: 30 is
     * not 5 times 10. */
    snprintf(sql, sizeof(sql),
             "UPDATE groups SET first_seen = now() - interval '8 days' WHERE id = '%s'", gid);
    testenv_db_exec(sql);
    snprintf(sql, sizeof(sql),
             "INSERT INTO rollup_group_hourly (group_id, hour, platform, reports, devices)"
             " SELECT '%s', h, 'test-baseline', 10, hll_empty()"
             " FROM generate_series(date_trunc('hour', now()) - interval '169 hours',"
             "   date_trunc('hour', now()) - interval '2 hours', interval '1 hour') h",
             gid);
    testenv_db_exec(sql);
    sleep(5);
    cr_assert_eq(testreceiver_delivered(rx, "spike", NULL), 0, "30 is within 5x the median 10");
    /* A quiet week before: the same 30 reports are a spike. */
    testenv_db_exec("DELETE FROM rollup_group_hourly WHERE platform = 'test-baseline'");
    cr_assert(wait_delivered("spike", 1, 30), "no spike");
    json_t *bodies = NULL;
    testreceiver_delivered(rx, "spike", &bodies);
    json_t *g = json_object_get(json_array_get(bodies, 0), "group");
    cr_assert_str_eq(json_string_value(json_object_get(g, "id")), gid);
    json_t *sp = json_object_get(g, "spike");
    cr_assert_eq(json_integer_value(json_object_get(sp, "reports_last_hour")), 30);
    cr_assert_eq(json_number_value(json_object_get(sp, "median_hour")), 0);
    json_decref(bodies);
    sleep(5);
    cr_assert_eq(testreceiver_delivered(rx, "spike", NULL), 1);
    free(gid);
}

Test(alerts, ingest_degraded_is_sent_directly_while_the_database_is_away, .timeout = 180)
{
    testenv_pg_create(&pg, "alerts-degraded");
    pg_made = true;
    srv.conninfo = pg.conninfo;
    start(&srv, NULL);
    struct testenv_response r;
    cr_assert_eq(admin(&srv, "PUT", "/v1/alerts/rules",
                       "{\"rules\": {\"ingest_degraded\": {\"for_seconds\": 10}}}", &r),
                 200, "%s", r.body);
    testenv_response_free(&r);
    sleep(3); /* an evaluation reads the new threshold */
    testenv_pg_stop(&pg);
    bool sent = wait_delivered("ingest_degraded", 1, 40);
    if (!sent)
        testenv_pg_start(&pg);
    cr_assert(sent, "no ingest_degraded while PostgreSQL was down");
    json_t *bodies = NULL;
    testreceiver_delivered(rx, "ingest_degraded", &bodies);
    json_t *h = json_object_get(json_array_get(bodies, 0), "health");
    cr_assert_str_eq(json_string_value(json_object_get(h, "condition")), "database_unreachable");
    cr_assert_geq(json_integer_value(json_object_get(h, "for_seconds")), 10);
    char id[40];
    snprintf(id, sizeof(id), "%s",
             json_string_value(json_object_get(json_array_get(bodies, 0), "id")));
    json_decref(bodies);
    assert_all_signed();
    /* Back: the alert is recorded as delivered, and not sent again. */
    testenv_pg_start(&pg);
    bool recorded = false;
    for (int i = 0; i < 100 && !recorded; i++) {
        if (admin(&srv, "GET", "/v1/alerts?rule=ingest_degraded", NULL, &r) == 200) {
            json_t *a = json_array_get(json_object_get(r.json, "alerts"), 0);
            recorded =
                a != NULL && strcmp(json_string_value(json_object_get(a, "id")), id) == 0 &&
                strcmp(json_string_value(json_object_get(json_object_get(a, "delivery"), "state")),
                       "delivered") == 0;
        }
        testenv_response_free(&r);
        if (!recorded)
            usleep(200000);
    }
    cr_assert(recorded, "the alert sent while the database was away was not recorded");
    sleep(3);
    cr_assert_eq(testreceiver_delivered(rx, "ingest_degraded", NULL), 1);
    cr_assert_eq(testenv_server_stop(&srv), 0, "see %s", srv.log_path);
}
