#include "testreport.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

json_t *testreport_json(const struct testreport *tr)
{
    json_t *pins = json_array();
    for (size_t i = 0; i < tr->n_pins; i++) {
        char pin[45], entry[64];
        testcert_pin(tr->pins[i], pin);
        snprintf(entry, sizeof(entry), "pin-sha256=\"%s\"", pin);
        json_array_append_new(pins, json_string(entry));
    }
    json_t *chain = testcert_chain_json(tr->chain, tr->chain_len);
    bool android = tr->platform != NULL && strcmp(tr->platform, "ANDROID") == 0;
    /* The failure happened just now, as a device would report it. */
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:b, s:b, s:O, s:o, s:i}", "app-bundle-id",
        tr->app, "app-version", tr->version, "app-vendor-id", tr->vendor_id, "app-platform",
        tr->platform != NULL ? tr->platform : "IOS", "date-time",
        tr->date_time != NULL ? tr->date_time : now, "hostname", tr->hostname, "port", 0,
        "noted-hostname", tr->noted_hostname != NULL ? tr->noted_hostname : tr->hostname,
        "include-subdomains", 0, "enforce-pinning", tr->report_only ? 0 : 1,
        "validated-certificate-chain", chain, "known-pins", pins, "validation-result",
        tr->validation_result != 0 ? tr->validation_result : 1);
    if (android)
        json_object_set(j, "served-certificate-chain", chain);
    if (tr->pins_expire != NULL)
        json_object_set_new(j, "known-pins-expiration-date", json_string(tr->pins_expire));
    json_decref(chain);
    return j;
}

char *testreport_post(const struct testenv_server *srv, const struct testreport *tr, const char *ip)
{
    json_t *j = testreport_json(tr);
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char h[128];
    snprintf(h, sizeof(h), "X-Forwarded-For: %s\r\n", ip);
    struct testenv_response r;
    int st = testenv_post_report(srv, body, strlen(body), h, &r);
    cr_assert_eq(st, 200, "post: %d %s", st, r.body);
    char *id = strdup(json_string_value(json_array_get(json_object_get(r.json, "accepted"), 0)));
    testenv_response_free(&r);
    free(body);
    return id;
}
