/* verdict: populations of failures, each landing in the right verdict, kind and reasons. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "analysis/chain.h"
#include "analysis/verdict.h"

#define HOST       "api.example.com"
#define APP        "com.example.shop"
#define PUBLIC_CA  "CN=ISRG Root X1,O=Internet Security Research Group,C=US"
#define PRIVATE_CA "CN=Acme Corp Inspection CA,O=Acme Corp"

/* Our server after a key rotation, seen by one app version that pinned only the old key:
 * a linked chain to a public root, valid, naming the host, iOS result 1 (pin mismatch). */
static struct verdict_evidence rotated(void)
{
    return (struct verdict_evidence){
        .app = APP,
        .hostname = HOST,
        .has_chain = true,
        .anchor_public = true,
        .anchor_subject = PUBLIC_CA,
        .linked = true,
        .reports = 412,
        .devices = 380,
        .networks = 37,
        .versions = 1,
        .app_versions = 6,
        .app_networks = 45,
        .top_network_reports = 30,
        .top_version = "4.2.0",
    };
}

/* An interceptor's chain: linked, valid, names the host (minted on the fly), private anchor,
 * no known pin. Population fields are set by each test. */
static struct verdict_evidence intercepted(void)
{
    return (struct verdict_evidence){
        .app = APP,
        .hostname = HOST,
        .has_chain = true,
        .anchor_public = false,
        .anchor_subject = PRIVATE_CA,
        .linked = true,
        .app_versions = 6,
        .app_networks = 45,
        .top_version = "4.1.0",
    };
}

static const json_t *find_reason(const struct verdict_result *r, const char *code)
{
    size_t i;
    const json_t *it;
    json_array_foreach(r->reasons, i, it)
    {
        const char *c = json_string_value(json_object_get(it, "code"));
        if (c != NULL && strcmp(c, code) == 0)
            return it;
    }
    return NULL;
}

/* The reason `code` is present and its detail contains every needle (NULL-terminated). */
static void expect_reason(const struct verdict_result *r, const char *code, ...)
{
    const json_t *it = find_reason(r, code);
    char *dump = json_dumps(r->reasons, 0);
    cr_assert_not_null(it, "no reason %s in %s", code, dump);
    const char *detail = json_string_value(json_object_get(it, "detail"));
    cr_assert_not_null(detail);
    va_list ap;
    va_start(ap, code);
    for (const char *n = va_arg(ap, const char *); n != NULL; n = va_arg(ap, const char *))
        cr_assert_not_null(strstr(detail, n), "reason %s: \"%s\" lacks \"%s\"", code, detail, n);
    va_end(ap);
    free(dump);
}

static void expect_no_reason(const struct verdict_result *r, const char *code)
{
    char *dump = json_dumps(r->reasons, 0);
    cr_assert_null(find_reason(r, code), "unexpected reason %s in %s", code, dump);
    free(dump);
}

/* Reasons are a non-empty array of {code, detail} with non-empty strings. */
static void expect_well_formed(const struct verdict_result *r)
{
    cr_assert(json_is_array(r->reasons));
    cr_assert_gt(json_array_size(r->reasons), 0);
    size_t i;
    const json_t *it;
    json_array_foreach(r->reasons, i, it)
    {
        cr_assert_eq(json_object_size(it), 2);
        const char *code = json_string_value(json_object_get(it, "code"));
        const char *detail = json_string_value(json_object_get(it, "detail"));
        cr_assert(code != NULL && code[0] != '\0');
        cr_assert(detail != NULL && detail[0] != '\0');
    }
}

static void expect_verdict(const struct verdict_result *r, enum verdict_kind_class v,
                           const char *kind, const char *product)
{
    char *dump = json_dumps(r->reasons, 0);
    cr_assert_eq(r->verdict, v, "verdict %s, reasons %s", verdict_name(r->verdict), dump);
    if (kind == NULL)
        cr_assert_null(r->kind, "kind %s, reasons %s", r->kind, dump);
    else
        cr_assert(r->kind != NULL && strcmp(r->kind, kind) == 0, "kind %s, expected %s; %s",
                  r->kind != NULL ? r->kind : "NULL", kind, dump);
    if (product == NULL)
        cr_assert_null(r->product);
    else
        cr_assert_str_eq(r->product, product);
    free(dump);
    expect_well_formed(r);
}

/* ---- misconfiguration ------------------------------------------------------------------ */

Test(verdict, stale_pins_after_rotation_with_expected_keys)
{
    struct verdict_evidence ev = rotated();
    ev.expected_key_seen = true;
    ev.host_has_expected_keys = true;
    ev.leaf_expected = 412;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "stale_pins", NULL);
    expect_reason(&r, "expected_key_seen", HOST, "412 of 412", NULL);
    expect_reason(&r, "no_pin_match", "412 of 412", NULL);
    expect_reason(&r, "network_spread", "412 reports from 37 networks", "only 30", NULL);
    expect_reason(&r, "versions_confined", "app version 4.2.0 of 6 versions", NULL);
    expect_reason(&r, "population", "412 reports from 380 devices on 37 networks", NULL);
    verdict_result_cleanup(&r);
}

Test(verdict, stale_pins_after_rotation_without_expected_keys)
{
    struct verdict_evidence ev = rotated();
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "stale_pins", NULL);
    expect_reason(&r, "public_anchor", "ISRG Root X1", NULL);
    expect_reason(&r, "no_pin_match", "412 of 412", NULL);
    expect_reason(&r, "network_spread", "37 networks", NULL);
    expect_reason(&r, "versions_confined", "4.2.0", "of 6", NULL);
    expect_no_reason(&r, "expected_key_seen");
    expect_no_reason(&r, "undeclared_public_key");
    verdict_result_cleanup(&r);
}

/* Keys declared for the host but none in the chain: still our pins (the failure is
 * everywhere), with a warning to check CT in case it is not our CDN. */
Test(verdict, stale_pins_public_key_not_declared)
{
    struct verdict_evidence ev = rotated();
    ev.host_has_expected_keys = true;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "stale_pins", NULL);
    expect_reason(&r, "undeclared_public_key", HOST, "Certificate Transparency", NULL);
    verdict_result_cleanup(&r);
}

/* Every version failing everywhere: the server changed its keys; still stale pins. */
Test(verdict, stale_pins_all_versions_spread)
{
    struct verdict_evidence ev = rotated();
    ev.versions = 6;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "stale_pins", NULL);
    expect_reason(&r, "versions_spread", "all 6 app versions", NULL);
    expect_no_reason(&r, "versions_confined");
    verdict_result_cleanup(&r);
}

/* Confined to one version of six without network spread is enough on a public anchor. */
Test(verdict, stale_pins_confined_without_spread)
{
    struct verdict_evidence ev = rotated();
    ev.networks = 2;
    ev.top_network_reports = 300;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "stale_pins", NULL);
    expect_reason(&r, "versions_confined", "4.2.0", NULL);
    expect_no_reason(&r, "network_spread");
    verdict_result_cleanup(&r);
}

/* Spread needs VERDICT_SPREAD_MIN_NETWORKS networks and a busiest network at most half. */
Test(verdict, spread_thresholds)
{
    struct verdict_evidence ev = rotated();
    ev.versions = ev.app_versions = 1; /* no confinement: spread alone must decide */
    ev.reports = 100;
    ev.devices = 90;
    ev.networks = VERDICT_SPREAD_MIN_NETWORKS;
    ev.top_network_reports = 50;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "stale_pins", NULL);
    verdict_result_cleanup(&r);

    ev.top_network_reports = 51;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_UNDETERMINED, NULL, NULL);
    expect_reason(&r, "insufficient_population", "90 devices on 5 networks", NULL);
    verdict_result_cleanup(&r);

    ev.top_network_reports = 50;
    ev.networks = VERDICT_SPREAD_MIN_NETWORKS - 1;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_UNDETERMINED, NULL, NULL);
    verdict_result_cleanup(&r);
}

/* Our leaf, chain expired at the report time: a server problem, whatever the pins say. */
Test(verdict, server_chain_expired_leaf)
{
    struct verdict_evidence ev = rotated();
    ev.expected_key_seen = true;
    ev.host_has_expected_keys = true;
    ev.leaf_expected = 412;
    ev.pin_in_chain = 412;
    ev.versions = 6;
    ev.invalid_at_time = 400;
    ev.result_untrusted = 400;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "server_chain", NULL);
    expect_reason(&r, "chain_invalid_at_time", "400 of 412", "0 explained by the client clock",
                  NULL);
    expect_reason(&r, "chain_untrusted", "400 of 412", NULL);
    expect_reason(&r, "expected_key_seen", HOST, NULL);
    expect_no_reason(&r, "clock_skew");
    verdict_result_cleanup(&r);
}

/* Our leaf served without its intermediate: unlinked/untrusted, the anchor is our own leaf. */
Test(verdict, server_chain_missing_intermediate_and_name)
{
    struct verdict_evidence ev = intercepted();
    ev.anchor_subject = "CN=api.example.com";
    ev.expected_key_seen = true;
    ev.host_has_expected_keys = true;
    ev.leaf_expected = 80;
    ev.reports = 80;
    ev.devices = 70;
    ev.networks = 20;
    ev.top_network_reports = 8;
    ev.versions = 6;
    ev.result_untrusted = 80;
    ev.not_covering = 80;
    ev.linked = false;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "server_chain", NULL);
    expect_reason(&r, "chain_not_linked", "does not link", NULL);
    expect_reason(&r, "leaf_not_covering", "80 of 80", HOST, NULL);
    expect_reason(&r, "chain_untrusted", "80 of 80", NULL);
    verdict_result_cleanup(&r);
}

/* Same expired-looking chain, but valid at receipt: the clients' clocks are wrong. */
Test(verdict, clock_skew_on_our_chain)
{
    struct verdict_evidence ev = rotated();
    ev.expected_key_seen = true;
    ev.host_has_expected_keys = true;
    ev.leaf_expected = 100;
    ev.pin_in_chain = 100;
    ev.reports = 100;
    ev.devices = 95;
    ev.networks = 60;
    ev.top_network_reports = 4;
    ev.invalid_at_time = 100;
    ev.result_untrusted = 100;
    ev.clock_skew = 97;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "clock_skew", NULL);
    expect_reason(&r, "clock_skew", "97 of 100", "24 h", NULL);
    expect_reason(&r, "chain_invalid_at_time", "100 of 100", NULL);
    expect_reason(&r, "expected_key_seen", HOST, NULL);
    verdict_result_cleanup(&r);

    /* A few skewed clocks do not explain a chain invalid for nearly everyone. */
    ev.clock_skew = 10;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "server_chain", NULL);
    expect_reason(&r, "chain_invalid_at_time", "100 of 100", "10 explained", NULL);
    verdict_result_cleanup(&r);
}

/* A public chain failing only at the clients' clocks, no keys declared: clock skew too. */
Test(verdict, clock_skew_on_public_chain)
{
    struct verdict_evidence ev = rotated();
    ev.pin_in_chain = 412;
    ev.invalid_at_time = 300;
    ev.clock_skew = 300;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "clock_skew", NULL);
    expect_reason(&r, "public_anchor", "ISRG", NULL);
    verdict_result_cleanup(&r);

    /* On a private anchor the interceptor matters more than the clock. */
    ev.anchor_public = false;
    ev.anchor_subject = PRIVATE_CA;
    verdict_decide(&ev, &r);
    cr_assert_neq(r.verdict, VERDICT_MISCONFIGURATION);
    verdict_result_cleanup(&r);
}

Test(verdict, pins_expired)
{
    struct verdict_evidence ev = rotated();
    ev.pins_expired = 300;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    /* Stale pins on a public anchor would also fit; the expired policy is the first cause. */
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "pins_expired", NULL);
    expect_reason(&r, "pins_expired", "300 of 412", NULL);
    verdict_result_cleanup(&r);

    /* Needs no chain. */
    ev.has_chain = false;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "pins_expired", NULL);
    verdict_result_cleanup(&r);

    /* A minority of expired policies is not the explanation. */
    ev.pins_expired = 100;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_UNDETERMINED, NULL, NULL);
    expect_reason(&r, "no_chain", "412 reports", NULL);
    verdict_result_cleanup(&r);
}

/* Our key, valid, pinned, still failing: none of the explanations fits. */
Test(verdict, ours_unexplained)
{
    struct verdict_evidence ev = rotated();
    ev.expected_key_seen = true;
    ev.host_has_expected_keys = true;
    ev.pin_in_chain = 412;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_UNDETERMINED, NULL, NULL);
    expect_reason(&r, "pin_match", "412 of 412", NULL);
    verdict_result_cleanup(&r);
}

/* ---- interception ---------------------------------------------------------------------- */

Test(verdict, enterprise_proxy_fortinet_catalog)
{
    struct verdict_evidence ev = intercepted();
    ev.anchor_subject = "CN=FortiGate CA,O=Fortinet";
    ev.catalog_product = "Fortinet FortiGate";
    ev.catalog_category = "enterprise_proxy";
    ev.reports = 160;
    ev.devices = 45;
    ev.networks = 2;
    ev.top_network_reports = 150;
    ev.versions = 6;
    ev.result_untrusted = 160; /* Android: user CA not trusted by the app */
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "enterprise_proxy", "Fortinet FortiGate");
    expect_reason(&r, "catalog_name", "FortiGate CA", "Fortinet FortiGate", "enterprise_proxy",
                  NULL);
    expect_reason(&r, "network_concentration", "150 of 160 reports from one network", "2 networks",
                  NULL);
    expect_reason(&r, "versions_spread", "all 6 app versions", NULL);
    expect_reason(&r, "population", "160 reports from 45 devices on 2 networks", NULL);
    verdict_result_cleanup(&r);
}

Test(verdict, enterprise_proxy_unbranded_corporate_ca)
{
    struct verdict_evidence ev = intercepted();
    ev.reports = 240;
    ev.devices = 85;
    ev.networks = 1;
    ev.top_network_reports = 240;
    ev.versions = 5;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "enterprise_proxy", NULL);
    expect_reason(&r, "private_anchor", "Acme Corp Inspection CA", NULL);
    expect_reason(&r, "network_concentration", "240 of 240", NULL);
    expect_reason(&r, "many_devices", "85 devices", "1 network", NULL);
    verdict_result_cleanup(&r);

    /* Most reports from one network, a few from home networks (deferred uploads). */
    ev.networks = 9;
    ev.top_network_reports = 200;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "enterprise_proxy", NULL);
    expect_reason(&r, "network_concentration", "200 of 240", "9 networks", NULL);
    verdict_result_cleanup(&r);

    /* Confined to one new version on one network: could be a test lab; no guess. */
    ev.networks = 1;
    ev.top_network_reports = 240;
    ev.versions = 1;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_UNDETERMINED, NULL, NULL);
    expect_reason(&r, "needs_expected_keys", HOST, NULL);
    verdict_result_cleanup(&r);
}

Test(verdict, debugging_proxy_mitmproxy_catalog)
{
    struct verdict_evidence ev = intercepted();
    ev.anchor_subject = "CN=mitmproxy,O=mitmproxy";
    ev.catalog_product = "mitmproxy";
    ev.catalog_category = "debugging_proxy";
    ev.reports = 7;
    ev.devices = 1;
    ev.networks = 1;
    ev.top_network_reports = 7;
    ev.versions = 2;
    ev.top_version = "4.3.0-beta";
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "debugging_proxy", "mitmproxy");
    expect_reason(&r, "catalog_name", "mitmproxy", "debugging_proxy", NULL);
    expect_reason(&r, "population", "7 reports from 1 device on 1 network (busiest", "4.3.0-beta",
                  NULL);
    verdict_result_cleanup(&r);
}

Test(verdict, debugging_proxy_unbranded_one_device)
{
    struct verdict_evidence ev = intercepted();
    ev.anchor_subject = "CN=Test Root,O=Dev";
    ev.reports = 5;
    ev.devices = 1;
    ev.networks = 1;
    ev.top_network_reports = 5;
    ev.versions = 1;
    ev.result_untrusted = 5;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "debugging_proxy", NULL);
    expect_reason(&r, "few_devices", "1 device on 1 network", NULL);
    expect_reason(&r, "private_anchor", "CN=Test Root", NULL);
    verdict_result_cleanup(&r);

    /* The same device failing on many networks carries its interceptor: unknown kind. */
    ev.networks = 6;
    ev.top_network_reports = 1;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "unknown", NULL);
    expect_reason(&r, "device_mobility", "1 device but 6 networks", NULL);
    verdict_result_cleanup(&r);
}

Test(verdict, known_hostile_root)
{
    struct verdict_evidence ev = intercepted();
    ev.anchor_subject = "CN=Qaznet Trust Network,C=KZ";
    ev.known_hostile = true;
    ev.hostile_name = "Kazakhstan Qaznet Trust Network";
    ev.hostile_category = "state";
    ev.catalog_product = "Kazakhstan state interception"; /* the key beats the name */
    ev.catalog_category = "state";
    ev.reports = 900;
    ev.devices = 700;
    ev.networks = 19;
    ev.top_network_reports = 600;
    ev.versions = 6;
    ev.weak = CHAIN_WEAK_SHA1_SIGNATURE;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "known_hostile", "Kazakhstan Qaznet Trust Network");
    expect_reason(&r, "known_hostile_key", "Kazakhstan Qaznet Trust Network", "state",
                  "Qaznet Trust Network,C=KZ", NULL);
    expect_reason(&r, "weak_crypto", "sha1_signature", NULL);
    expect_reason(&r, "population", "900 reports from 700 devices on 19 networks", NULL);
    verdict_result_cleanup(&r);

    /* Even with our key in the chain (key injection), a hostile key is interception. */
    ev.expected_key_seen = true;
    ev.host_has_expected_keys = true;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "known_hostile", "Kazakhstan Qaznet Trust Network");
    verdict_result_cleanup(&r);
}

/* A state-interception name without the hostile key: named, kind unknown. */
/* A product matched by name only gets the kind of its catalog category: a state product is
 * `state` (it was `unknown` before issue 17). */
Test(verdict, catalog_state_name_has_state_kind)
{
    struct verdict_evidence ev = intercepted();
    ev.catalog_product = "Kazakhstan ISCA";
    ev.catalog_category = "state";
    ev.reports = 50;
    ev.devices = 40;
    ev.networks = 3;
    ev.top_network_reports = 30;
    ev.versions = 6;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "state", "Kazakhstan ISCA");
    verdict_result_cleanup(&r);

    ev.catalog_category = "antivirus";
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "antivirus", "Kazakhstan ISCA");
    verdict_result_cleanup(&r);

    ev.catalog_category = "compromised_ca"; /* a key-only category never names a kind */
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "unknown", "Kazakhstan ISCA");
    verdict_result_cleanup(&r);
}

/* A product name on a publicly anchored chain is not evidence (anyone can put a name). */
Test(verdict, catalog_name_ignored_on_public_anchor)
{
    struct verdict_evidence ev = rotated();
    ev.catalog_product = "Cisco Umbrella";
    ev.catalog_category = "enterprise_proxy";
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "stale_pins", NULL);
    expect_no_reason(&r, "catalog_name");
    verdict_result_cleanup(&r);
}

Test(verdict, captive_portal)
{
    struct verdict_evidence ev = intercepted();
    ev.anchor_subject = "CN=portal.hotel.example";
    ev.reports = 2;
    ev.devices = 1;
    ev.networks = 1;
    ev.top_network_reports = 2;
    ev.versions = 1;
    ev.result_untrusted = 2;
    ev.not_covering = 2;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "captive_portal", NULL);
    expect_reason(&r, "portal_leaf", "all 2 reports", HOST, "portal.hotel.example", NULL);
    verdict_result_cleanup(&r);

    /* The leaf names our host: an interceptor minting leaves, not a portal. */
    ev.not_covering = 1;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "debugging_proxy", NULL);
    verdict_result_cleanup(&r);

    /* Not transient. */
    ev.not_covering = ev.result_untrusted = ev.reports = ev.top_network_reports =
        VERDICT_PORTAL_MAX_REPORTS + 1;
    verdict_decide(&ev, &r);
    cr_assert_str_neq(r.kind, "captive_portal");
    verdict_result_cleanup(&r);
}

Test(verdict, shared_key_adware_across_networks)
{
    struct verdict_evidence ev = intercepted();
    ev.anchor_subject = "CN=Superfish\\, Inc.";
    ev.reports = 300;
    ev.devices = 120;
    ev.networks = 40;
    ev.top_network_reports = 10;
    ev.versions = 6;
    ev.weak = CHAIN_WEAK_SHA1_SIGNATURE | CHAIN_WEAK_RSA_1024;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "malware_adware", NULL);
    expect_reason(&r, "result_trusted", "300 of 300", NULL);
    expect_reason(&r, "network_spread", "40 networks", NULL);
    expect_reason(&r, "many_devices", "120 devices", NULL);
    expect_reason(&r, "weak_crypto", "sha1_signature, rsa_1024", NULL);
    verdict_result_cleanup(&r);

    /* Untrusted everywhere, nothing declared: as likely our own broken chain. */
    ev.result_untrusted = 290;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_UNDETERMINED, NULL, NULL);
    expect_reason(&r, "chain_untrusted", "290 of 300", NULL);
    expect_reason(&r, "needs_expected_keys", HOST, NULL);
    verdict_result_cleanup(&r);

    /* Declared keys rule our chain out. */
    ev.host_has_expected_keys = true;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "unknown", NULL);
    expect_reason(&r, "not_our_key", HOST, NULL);
    verdict_result_cleanup(&r);
}

/* ---- undetermined and edge cases ------------------------------------------------------- */

Test(verdict, ambiguous_private_anchor_is_undetermined)
{
    struct verdict_evidence ev = intercepted();
    ev.reports = 8;
    ev.devices = 4;
    ev.networks = 4;
    ev.top_network_reports = 2;
    ev.versions = 3;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_UNDETERMINED, NULL, NULL);
    expect_reason(&r, "private_anchor", "Acme Corp Inspection CA", NULL);
    expect_reason(&r, "unclear_population", "4 devices on 4 networks in 3 of 6", NULL);
    expect_reason(&r, "needs_expected_keys", HOST, NULL);
    expect_reason(&r, "population", "8 reports from 4 devices on 4 networks", NULL);
    verdict_result_cleanup(&r);

    ev.host_has_expected_keys = true;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "unknown", NULL);
    expect_reason(&r, "not_our_key", HOST, NULL);
    expect_no_reason(&r, "needs_expected_keys");
    verdict_result_cleanup(&r);
}

/* A public anchor seen by two devices: too few to call stale pins. */
Test(verdict, public_anchor_few_devices_is_undetermined)
{
    struct verdict_evidence ev = rotated();
    ev.reports = 3;
    ev.devices = 2;
    ev.networks = 2;
    ev.top_network_reports = 2;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_UNDETERMINED, NULL, NULL);
    expect_reason(&r, "insufficient_population", "2 devices on 2 networks", NULL);
    verdict_result_cleanup(&r);
}

Test(verdict, zero_reports)
{
    struct verdict_evidence ev = rotated();
    ev.reports = ev.devices = ev.networks = ev.versions = ev.top_network_reports = 0;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_UNDETERMINED, NULL, NULL);
    expect_reason(&r, "no_reports", "0 reports", APP, HOST, NULL);
    cr_assert_eq(json_array_size(r.reasons), 1);
    verdict_result_cleanup(&r);

    /* Zero everything, even with our key declared and seen: nothing to weigh. */
    struct verdict_evidence zero = {.has_chain = true, .expected_key_seen = true};
    verdict_decide(&zero, &r);
    expect_verdict(&r, VERDICT_UNDETERMINED, NULL, NULL);
    expect_reason(&r, "no_reports", "(no app)", "(no hostname)", NULL);
    verdict_result_cleanup(&r);

    /* A hostile key is a chain fact, counts or not. */
    ev.known_hostile = true;
    ev.hostile_name = "Superfish";
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "known_hostile", "Superfish");
    verdict_result_cleanup(&r);
}

Test(verdict, null_strings)
{
    struct verdict_evidence ev = intercepted();
    ev.app = ev.hostname = ev.anchor_subject = ev.top_version = NULL;
    ev.reports = 3;
    ev.devices = 1;
    ev.networks = 1;
    ev.top_network_reports = 3;
    ev.versions = 2;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "debugging_proxy", NULL);
    expect_reason(&r, "private_anchor", "(no subject)", NULL);
    expect_reason(&r, "population", "(most: unknown)", NULL);
    verdict_result_cleanup(&r);

    /* Hostile key without a name or category; catalog product without a category. */
    ev.known_hostile = true;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "known_hostile", NULL);
    expect_reason(&r, "known_hostile_key", "\"unnamed\"", "uncategorised", NULL);
    verdict_result_cleanup(&r);

    ev.known_hostile = false;
    ev.catalog_product = "Some Proxy";
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "unknown", "Some Proxy");
    expect_reason(&r, "catalog_name", "uncategorised", NULL);
    verdict_result_cleanup(&r);

    /* Browsers: no version at all. */
    struct verdict_evidence web = rotated();
    web.app = "web";
    web.versions = web.app_versions = 0;
    web.top_version = NULL;
    verdict_decide(&web, &r);
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "stale_pins", NULL);
    expect_reason(&r, "population", "no app version reported", NULL);
    verdict_result_cleanup(&r);
}

Test(verdict, null_evidence_and_cleanup)
{
    struct verdict_result r;
    verdict_decide(NULL, &r);
    expect_verdict(&r, VERDICT_UNDETERMINED, NULL, NULL);
    expect_reason(&r, "no_evidence", "no evidence", NULL);
    verdict_result_cleanup(&r);
    cr_assert_null(r.reasons);
    cr_assert_null(r.kind);
    cr_assert_eq(r.verdict, VERDICT_UNDETERMINED);
    verdict_result_cleanup(&r); /* twice is fine */
    verdict_result_cleanup(NULL);

    /* Cleanup resets a decided result. */
    struct verdict_evidence ev = rotated();
    verdict_decide(&ev, &r);
    cr_assert_eq(r.verdict, VERDICT_MISCONFIGURATION);
    verdict_result_cleanup(&r);
    cr_assert_null(r.reasons);
    cr_assert_null(r.kind);
    cr_assert_null(r.product);
    cr_assert_eq(r.verdict, VERDICT_UNDETERMINED);
}

Test(verdict, names)
{
    cr_assert_str_eq(verdict_name(VERDICT_MISCONFIGURATION), "misconfiguration");
    cr_assert_str_eq(verdict_name(VERDICT_INTERCEPTION), "interception");
    cr_assert_str_eq(verdict_name(VERDICT_UNDETERMINED), "undetermined");
    cr_assert_str_eq(verdict_name((enum verdict_kind_class)42), "undetermined");
}

/* Counts near UINT64_MAX: share arithmetic must not overflow into a different verdict. */
Test(verdict, huge_counts)
{
    struct verdict_evidence ev = rotated();
    ev.reports = UINT64_MAX;
    ev.devices = UINT64_MAX / 2;
    ev.networks = 1000;
    ev.top_network_reports = UINT64_MAX / 100;
    ev.versions = 6;
    ev.pin_in_chain = UINT64_MAX / 2; /* just under half */
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "stale_pins", NULL);
    expect_reason(&r, "population", "18446744073709551615 reports", NULL);
    verdict_result_cleanup(&r);

    ev.pin_in_chain = UINT64_MAX / 2 + 1; /* exactly half, rounded up: holds */
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_UNDETERMINED, NULL, NULL);
    expect_reason(&r, "pin_match", NULL);
    verdict_result_cleanup(&r);
}

/* Certificate names may hold any bytes, and a long one is cut: reasons must stay valid JSON
 * strings (jansson refuses invalid UTF-8) instead of vanishing. One parameter per subject:
 * a lone 0xFF, a surrogate, a name cut inside a sequence. */
ParameterizedTestParameters(verdict, invalid_utf8_and_truncated_names)
{
    static int subject[] = {0, 1, 2};
    return cr_make_param_array(int, subject, sizeof(subject) / sizeof(subject[0]));
}

ParameterizedTest(int *which, verdict, invalid_utf8_and_truncated_names)
{
    char longname[1200];
    size_t n = 0;
    while (n + 2 < sizeof(longname) - 1) {
        longname[n++] = (char)0xC3; /* "é" */
        longname[n++] = (char)0xA9;
    }
    longname[n] = '\0';
    const char *subjects[] = {"CN=\xff\xfe Proxy CA", "CN=\xed\xa0\x80 surrogate", longname};
    int i = *which;
    struct verdict_evidence ev = intercepted();
    ev.anchor_subject = subjects[i];
    ev.reports = 3;
    ev.devices = 1;
    ev.networks = 1;
    ev.top_network_reports = 3;
    ev.versions = 1;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "debugging_proxy", NULL);
    if (i < 2)
        expect_reason(&r, "private_anchor", "CN=?", NULL);
    else
        expect_reason(&r, "private_anchor", "\xc3\xa9\xc3\xa9", NULL);
    char *dump = json_dumps(r.reasons, 0);
    cr_assert_not_null(dump);
    free(dump);
    verdict_result_cleanup(&r);
}

/* ---- public (legacy) and appended roots ------------------------------------------------ */

/* A chain up to a formerly public root, reported while it was public, after our rotation:
 * our pin mistake, and its SHA-1 is what public chains had then, not an interceptor's mark. */
Test(verdict, legacy_public_chain_with_sha1_is_stale_pins)
{
    struct verdict_evidence ev = rotated();
    ev.anchor_subject = "CN=thawte Primary Root CA,O=thawte\\, Inc.,C=US";
    ev.anchor_legacy = true;
    ev.legacy_removed = "2020-06-01";
    ev.weak = CHAIN_WEAK_SHA1_SIGNATURE;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "stale_pins", NULL);
    expect_reason(&r, "legacy_anchor", "public (legacy)", "thawte Primary Root CA", "2020-06-01",
                  NULL);
    expect_no_reason(&r, "public_anchor");
    expect_no_reason(&r, "weak_crypto");
    verdict_result_cleanup(&r);
}

/* The TrustKit documentation sample's population: one device, one network, a legacy public
 * chain. Too little to call stale pins, and never interception. */
Test(verdict, trustkit_sample_population_is_not_interception)
{
    struct verdict_evidence ev = rotated();
    ev.anchor_legacy = true;
    ev.legacy_removed = "2020-06-01";
    ev.weak = CHAIN_WEAK_SHA1_SIGNATURE;
    ev.reports = 1;
    ev.devices = 1;
    ev.networks = 1;
    ev.top_network_reports = 1;
    ev.app_versions = 1;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_UNDETERMINED, NULL, NULL);
    expect_reason(&r, "legacy_anchor", "public (legacy)", NULL);
    expect_no_reason(&r, "weak_crypto");
    verdict_result_cleanup(&r);
}

/* Reported after the root was removed: private then, but its weak crypto is still no sign. */
Test(verdict, legacy_root_after_removal_is_private_without_weak_crypto)
{
    struct verdict_evidence ev = intercepted();
    ev.anchor_subject = "CN=DST Root CA X3,O=Digital Signature Trust Co.";
    ev.anchor_legacy = true;
    ev.legacy_removed = "2021-10-07";
    ev.weak = CHAIN_WEAK_SHA1_SIGNATURE;
    ev.reports = 2;
    ev.devices = 1;
    ev.networks = 1;
    ev.top_network_reports = 2;
    ev.versions = 1;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_reason(&r, "private_anchor", "formerly public root", "2021-10-07", NULL);
    expect_no_reason(&r, "weak_crypto");
    verdict_result_cleanup(&r);
}

/* issue 16: a proxy chain with a genuine public root appended. The chain analysis keeps it
 * private; the verdict is the population's interception and the reasons name the tail. */
Test(verdict, appended_public_root_is_named_as_tampering)
{
    struct verdict_evidence ev = intercepted();
    ev.linked = false;
    ev.unlinked_public_tail = true;
    ev.reports = 120;
    ev.devices = 40;
    ev.networks = 2;
    ev.top_network_reports = 110;
    ev.versions = 6;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_INTERCEPTION, "enterprise_proxy", NULL);
    expect_reason(&r, "unlinked_public_tail", "tampering", NULL);
    expect_no_reason(&r, "public_anchor");
    verdict_result_cleanup(&r);
}

/* ---- browser (NEL) groups: the tls.* type and the spread ------------------------------- */

/* Browser reports of one host: no chain, population set by each test. */
static struct verdict_evidence browsers(const char *type, uint64_t devices, uint64_t networks,
                                        uint64_t top)
{
    return (struct verdict_evidence){
        .app = "web",
        .hostname = HOST,
        .has_chain = false,
        .reports = 60,
        .devices = devices,
        .networks = networks,
        .top_network_reports = top,
        .app_networks = networks,
        .nel_type = type,
        .nel_type_reports = 60,
        .nel_sampled = 60,
    };
}

static void expect_nel(const struct verdict_evidence *ev, enum verdict_kind_class v,
                       const char *kind, const char *code)
{
    struct verdict_result r;
    verdict_decide(ev, &r);
    expect_verdict(&r, v, kind, NULL);
    expect_reason(&r, code, ev->nel_type, NULL);
    expect_no_reason(&r, "no_chain");
    verdict_result_cleanup(&r);
}

Test(verdict, nel_date_invalid_everywhere_is_an_expired_certificate)
{
    struct verdict_evidence ev = browsers("tls.cert.date_invalid", 48, 14, 8);
    expect_nel(&ev, VERDICT_MISCONFIGURATION, "expired_certificate", "nel_type");
}

Test(verdict, nel_name_invalid_everywhere_is_a_wrong_certificate)
{
    struct verdict_evidence ev = browsers("tls.cert.name_invalid", 30, 9, 10);
    expect_nel(&ev, VERDICT_MISCONFIGURATION, "wrong_certificate", "nel_type");
}

Test(verdict, nel_version_or_protocol_everywhere_is_our_tls_config)
{
    struct verdict_evidence ev = browsers("tls.version_or_cipher_mismatch", 25, 11, 9);
    expect_nel(&ev, VERDICT_MISCONFIGURATION, "server_tls_config", "nel_type");
    ev = browsers("tls.protocol.error", 25, 11, 9);
    expect_nel(&ev, VERDICT_MISCONFIGURATION, "server_tls_config", "nel_type");
}

Test(verdict, nel_authority_invalid_on_few_networks_is_interception)
{
    struct verdict_evidence ev = browsers("tls.cert.authority_invalid", 12, 2, 50);
    expect_nel(&ev, VERDICT_INTERCEPTION, "unknown", "nel_type");
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_reason(&r, "network_concentration", NULL);
    verdict_result_cleanup(&r);
}

/* Everything else is shown, not guessed. */
Test(verdict, nel_other_populations_are_undetermined)
{
    /* an authority error everywhere: our own chain may be broken for every browser */
    struct verdict_evidence ev = browsers("tls.cert.authority_invalid", 40, 12, 8);
    expect_nel(&ev, VERDICT_UNDETERMINED, NULL, "nel_unclear");
    /* an expired certificate on one network only: a proxy's, or one device's clock */
    ev = browsers("tls.cert.date_invalid", 3, 1, 60);
    expect_nel(&ev, VERDICT_UNDETERMINED, NULL, "nel_unclear");
    /* spread over networks but from two devices only */
    ev = browsers("tls.cert.name_invalid", 2, 6, 10);
    expect_nel(&ev, VERDICT_UNDETERMINED, NULL, "nel_unclear");
    /* a type without a rule */
    ev = browsers("tls.cert.pinned_key_not_in_cert_chain", 40, 12, 8);
    expect_nel(&ev, VERDICT_UNDETERMINED, NULL, "nel_unclear");
    /* the dominant type does not hold: 25 of 60 */
    ev = browsers("tls.cert.date_invalid", 40, 12, 8);
    ev.nel_type_reports = 25;
    expect_nel(&ev, VERDICT_UNDETERMINED, NULL, "nel_unclear");

    /* a chainless group that is not NEL keeps no_chain */
    ev = browsers(NULL, 40, 12, 8);
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_UNDETERMINED, NULL, NULL);
    expect_reason(&r, "no_chain", NULL);
    verdict_result_cleanup(&r);
}

/* Report-only failures did not block: the reasons say how many devices would break. */
Test(verdict, report_only_failures_are_named)
{
    struct verdict_evidence ev = rotated();
    ev.report_only = 100;
    ev.report_only_devices = 90;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_verdict(&r, VERDICT_MISCONFIGURATION, "stale_pins", NULL);
    expect_reason(&r, "report_only", "100 of 412", "90 more devices would break", NULL);
    verdict_result_cleanup(&r);
    ev.report_only = 0;
    verdict_decide(&ev, &r);
    expect_no_reason(&r, "report_only");
    verdict_result_cleanup(&r);
}

/* ---- words ---------------------------------------------------------------------------- */

/* A detail that says "1 reports", "1 networks" or "device(s)": the counts of one. */
static void expect_singular_words(const struct verdict_result *r, const char *what)
{
    static const char *const bad[] = {
        "(^|[^0-9.])1 (reports|devices|networks|versions|app versions)\\b",
        "\\(s\\)",
        "(^|[^0-9.])1 network report ",
    };
    size_t i;
    const json_t *it;
    json_array_foreach(r->reasons, i, it)
    {
        const char *detail = json_string_value(json_object_get(it, "detail"));
        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
            regex_t re;
            cr_assert_eq(regcomp(&re, bad[k], REG_EXTENDED | REG_NOSUB), 0);
            int m = regexec(&re, detail, 0, NULL, 0);
            regfree(&re);
            cr_assert_neq(m, 0, "%s: reason %s says \"%s\"", what,
                          json_string_value(json_object_get(it, "code")), detail);
        }
    }
}

/* Every count in the evidence is one (or zero): each rule's words must be singular. */
static struct verdict_evidence ones(bool public_anchor)
{
    struct verdict_evidence ev = public_anchor ? rotated() : intercepted();
    ev.reports = 1;
    ev.devices = 1;
    ev.networks = 1;
    ev.versions = 1;
    ev.app_versions = 1;
    ev.app_networks = 1;
    ev.top_network_reports = 1;
    return ev;
}

Test(verdict, counts_of_one_read_in_the_singular)
{
    struct verdict_evidence evs[16];
    size_t n = 0;
    struct verdict_evidence ev;

    ev = ones(false); /* 1 known_hostile */
    ev.known_hostile = true;
    ev.hostile_name = "Hostile";
    ev.host_has_expected_keys = true;
    evs[n++] = ev;
    ev = ones(true); /* 3 clock_skew */
    ev.expected_key_seen = true;
    ev.leaf_expected = 1;
    ev.clock_skew = 1;
    ev.invalid_at_time = 1;
    evs[n++] = ev;
    ev = ones(true); /* 4 server_chain */
    ev.expected_key_seen = true;
    ev.linked = false;
    ev.invalid_at_time = 1;
    ev.not_covering = 1;
    ev.result_untrusted = 1;
    evs[n++] = ev;
    ev = ones(true); /* 5 stale_pins, ours, confined to one version of three */
    ev.expected_key_seen = true;
    ev.app_versions = 3;
    evs[n++] = ev;
    ev = ones(true); /* 6 pins_expired */
    ev.pins_expired = 1;
    evs[n++] = ev;
    ev = ones(true); /* 7 ours_unexplained */
    ev.expected_key_seen = true;
    ev.pin_in_chain = 1;
    ev.result_untrusted = 1;
    evs[n++] = ev;
    ev = ones(false); /* 8 no_chain, no version name */
    ev.has_chain = false;
    ev.top_version = NULL;
    evs[n++] = ev;
    ev = ones(false); /* 9 catalog, confined */
    ev.catalog_product = "Product";
    ev.catalog_category = "antivirus";
    ev.app_versions = 3;
    evs[n++] = ev;
    ev = ones(false); /* 10 captive_portal */
    ev.result_untrusted = 1;
    ev.not_covering = 1;
    evs[n++] = ev;
    ev = ones(true); /* 12 public_unexplained, both branches */
    evs[n++] = ev;
    ev.pin_in_chain = 1;
    evs[n++] = ev;
    ev = ones(false); /* 13 device_local */
    evs[n++] = ev;
    ev = ones(false); /* 14 enterprise_proxy: several devices on one network */
    ev.devices = 3;
    evs[n++] = ev;
    ev = ones(false); /* 16 private_rest */
    ev.devices = 0;
    ev.host_has_expected_keys = true;
    evs[n++] = ev;
    for (size_t i = 0; i < n; i++) {
        struct verdict_result r;
        char what[32];
        snprintf(what, sizeof(what), "case %zu", i);
        verdict_decide(&evs[i], &r);
        expect_well_formed(&r);
        expect_singular_words(&r, what);
        verdict_result_cleanup(&r);
    }
}

/* Plural counts keep their plural words. */
Test(verdict, counts_of_several_read_in_the_plural)
{
    struct verdict_evidence ev = ones(false);
    ev.reports = 2;
    ev.top_network_reports = 2;
    ev.networks = 2;
    ev.app_networks = 2;
    struct verdict_result r;
    verdict_decide(&ev, &r);
    expect_reason(&r, "few_devices", "only 1 device on 2 networks", NULL);
    expect_reason(&r, "population", "2 reports from 1 device on 2 networks",
                  "busiest network: 2 reports", "2 networks report this", NULL);
    verdict_result_cleanup(&r);
}
