/* alert_rules: defaults, validation of PUT bodies (nothing changes on a bad one), JSON. */
#include <criterion/criterion.h>
#include <string.h>

#include "analysis/alert_rules.h"

static enum err_code apply(struct alert_rules *r, const char *text, struct err *e)
{
    json_t *j = json_loads(text, 0, NULL);
    cr_assert_not_null(j, "%s", text);
    enum err_code rc = alert_rules_apply_json(r, j, e);
    json_decref(j);
    return rc;
}

Test(alert_rules, defaults_are_those_of_the_spec)
{
    struct alert_rules r;
    alert_rules_defaults(&r);
    cr_assert_eq(alert_rules_param(&r, ALERT_NEW_INTERCEPTION_GROUP, "devices"), 3);
    cr_assert_eq(alert_rules_param(&r, ALERT_NEW_MISCONFIGURATION_GROUP, "devices"), 3);
    cr_assert_eq(alert_rules_param(&r, ALERT_VERSION_FAILING, "devices"), 3);
    cr_assert_eq(alert_rules_param(&r, ALERT_SPIKE, "factor"), 5);
    cr_assert_eq(alert_rules_param(&r, ALERT_SPIKE, "min_reports"), 20);
    cr_assert_eq(alert_rules_param(&r, ALERT_PINS_EXPIRING, "within_days"), 30);
    cr_assert_eq(alert_rules_param(&r, ALERT_PINS_EXPIRING, "seen_days"), 7);
    cr_assert_eq(alert_rules_param(&r, ALERT_INGEST_DEGRADED, "for_seconds"), 300);
    for (int i = 0; i < ALERT_N_RULES; i++)
        cr_assert(r.enabled[i]);
}

Test(alert_rules, a_partial_update_changes_only_what_it_names)
{
    struct alert_rules r;
    struct err e = {0};
    alert_rules_defaults(&r);
    cr_assert_eq(apply(&r, "{\"rules\": {\"spike\": {\"factor\": 2.5, \"enabled\": false}}}", &e),
                 ERR_OK, "%s", e.detail);
    cr_assert_eq(alert_rules_param(&r, ALERT_SPIKE, "factor"), 2.5);
    cr_assert_eq(alert_rules_param(&r, ALERT_SPIKE, "min_reports"), 20);
    cr_assert(!r.enabled[ALERT_SPIKE]);
    cr_assert(r.enabled[ALERT_PINS_EXPIRING]);
    /* the inner object alone is accepted too */
    cr_assert_eq(apply(&r, "{\"version_failing\": {\"devices\": 10}}", &e), ERR_OK);
    cr_assert_eq(alert_rules_param(&r, ALERT_VERSION_FAILING, "devices"), 10);
}

Test(alert_rules, a_bad_update_names_its_entry_and_changes_nothing)
{
    static const struct {
        const char *body, *key;
    } bad[] = {
        {"{\"rules\": {\"nope\": {}}}", "unknown_rule"},
        {"{\"rules\": {\"spike\": {\"devices\": 3}}}", "unknown_parameter"},
        {"{\"rules\": {\"spike\": {\"factor\": 0.5}}}", "invalid_rule"},
        {"{\"rules\": {\"spike\": {\"min_reports\": 1e300}}}", "invalid_rule"},
        {"{\"rules\": {\"version_failing\": {\"devices\": 3.5}}}", "invalid_rule"},
        {"{\"rules\": {\"version_failing\": {\"devices\": null}}}", "invalid_rule"},
        {"{\"rules\": {\"ingest_degraded\": {\"for_seconds\": 5}}}", "invalid_rule"},
        {"{\"rules\": {\"spike\": 5}}", "invalid_rule"},
        {"{\"rules\": \"all\"}", "invalid_rule"},
        {"[]", "invalid_rule"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct alert_rules r, before;
        struct err e = {0};
        alert_rules_defaults(&r);
        before = r;
        /* a valid change first in the same body must not stick either */
        char text[512];
        snprintf(text, sizeof(text), "%s", bad[i].body);
        cr_assert_eq(apply(&r, text, &e), ERR_INVALID, "%s", bad[i].body);
        cr_assert_str_eq(e.key, bad[i].key, "%s: %s", bad[i].body, e.detail);
        cr_assert_eq(memcmp(&r, &before, sizeof(r)), 0, "%s changed the rules", bad[i].body);
    }
    struct alert_rules r, before;
    struct err e = {0};
    alert_rules_defaults(&r);
    before = r;
    cr_assert_eq(apply(&r,
                       "{\"rules\": {\"spike\": {\"factor\": 9}, \"pins_expiring\": "
                       "{\"within_days\": 0}}}",
                       &e),
                 ERR_INVALID);
    cr_assert_eq(memcmp(&r, &before, sizeof(r)), 0, "half an update stuck");
}

Test(alert_rules, json_round_trips)
{
    struct alert_rules r, back;
    struct err e = {0};
    alert_rules_defaults(&r);
    cr_assert_eq(
        apply(&r, "{\"spike\": {\"factor\": 7.25}, \"pins_expiring\": {\"enabled\": false}}", &e),
        ERR_OK);
    json_t *j = alert_rules_json(&r);
    cr_assert_eq(json_object_size(json_object_get(j, "rules")), ALERT_N_RULES);
    alert_rules_defaults(&back);
    cr_assert_eq(alert_rules_apply_json(&back, j, &e), ERR_OK, "%s", e.detail);
    cr_assert_eq(memcmp(&r, &back, sizeof(r)), 0);
    json_decref(j);
}
