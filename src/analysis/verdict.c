#include "analysis/verdict.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "analysis/chain.h"
#include "base/err.h"
#include "base/utf8.h"

/*
 * The rule order (docs/verdicts.md is the operator's copy; keep both in step). The first rule
 * whose condition holds decides. The order goes from the strongest, least forgeable evidence
 * to the weakest:
 *
 *   1 known_hostile      a chain key is a catalog hostile SPKI       -> interception
 *   2 no_reports         nothing in the window                       -> undetermined
 *   3 clock_skew         ours or public, failures explained by the client clock
 *   4 server_chain       ours (expected key), chain does not validate
 *   5 stale_pins         ours, no known pin in the chain
 *   6 pins_expired       reports sent after the pin policy expired
 *   7 ours_unexplained   ours, valid and pinned, yet failing         -> undetermined
 *   8 nel / no_chain     browser reports: their tls.* type and spread decide; any other
 *                        report without a decodable chain          -> undetermined
 *   9 catalog            private anchor named like a catalog product -> its category
 *  10 captive_portal     untrusted, leaf for another name, one device, transient
 *  11 stale_pins         public anchor, no pin, spread or confined to versions
 *  12 public_unexplained public anchor otherwise                     -> undetermined
 *  13 device_local       private anchor on one or two devices        -> debugging_proxy/unknown
 *  14 enterprise_proxy   private anchor concentrated, several devices, across versions
 *  15 shared_key         private anchor spread over many networks and devices
 *  16 private_rest       private anchor otherwise -> unknown if not ours, else undetermined
 */

/* ---- arithmetic on shares, without overflow for any uint64_t ------------------------- */

/* n >= ceil(total * pct / 100), total > 0. */
static bool share_at_least(uint64_t n, uint64_t total, unsigned pct)
{
    if (total == 0)
        return false;
    uint64_t need = total / 100 * pct + ((total % 100) * pct + 99) / 100;
    return n >= need;
}

/* n <= floor(total * pct / 100). */
static bool share_at_most(uint64_t n, uint64_t total, unsigned pct)
{
    return n <= total / 100 * pct + (total % 100) * pct / 100;
}

/* A per-report finding holds for the group (see VERDICT_MAJORITY_PCT). */
static bool holds(const struct verdict_evidence *ev, uint64_t n)
{
    return n > 0 && share_at_least(n, ev->reports, VERDICT_MAJORITY_PCT);
}

/* ---- population predicates ------------------------------------------------------------- */

/* Failures everywhere the app runs: the signature of our own misconfiguration. */
static bool is_spread(const struct verdict_evidence *ev)
{
    return ev->networks >= VERDICT_SPREAD_MIN_NETWORKS &&
           share_at_most(ev->top_network_reports, ev->reports, VERDICT_SPREAD_MAX_TOP_PCT);
}

/* Failures on few networks: the signature of a network interceptor. */
static bool is_concentrated(const struct verdict_evidence *ev)
{
    if (ev->reports == 0 || ev->networks == 0)
        return false;
    return ev->networks <= VERDICT_CONCENTRATED_MAX_NETWORKS ||
           share_at_least(ev->top_network_reports, ev->reports, VERDICT_CONCENTRATED_TOP_PCT);
}

/* Only a few app versions fail while other versions of the app talk to the same host: the pin
 * sets of those versions are wrong (landscape §4.3, change-point alignment). */
static bool versions_confined(const struct verdict_evidence *ev)
{
    return ev->versions >= 1 && ev->versions <= VERDICT_FEW_VERSIONS &&
           ev->app_versions >= ev->versions + VERDICT_CONFINED_MIN_OTHER_VERSIONS;
}

/* A chain key is ours: the strongest misconfiguration signal (SPEC §6.2). */
static bool is_ours(const struct verdict_evidence *ev)
{
    return ev->has_chain && (ev->expected_key_seen || ev->leaf_expected > 0);
}

/* ---- reasons -------------------------------------------------------------------------- */

struct ctx {
    const struct verdict_evidence *ev;
    json_t *reasons; /* NULL after an allocation failure */
};

static const char *sv(const char *s, const char *dflt)
{
    return s != NULL && s[0] != '\0' ? s : dflt;
}

static void reason(struct ctx *c, const char *code, const char *fmt, ...) ERR_PRINTF(3, 4);

static void reason(struct ctx *c, const char *code, const char *fmt, ...)
{
    char detail[512];
    va_list ap;

    if (c->reasons == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    /* Certificate names may carry anything, and truncation may cut a sequence; jansson
     * refuses invalid UTF-8. */
    utf8_sanitize(detail);
    json_t *r = json_pack("{s:s, s:s}", "code", code, "detail", detail);
    if (r == NULL || json_array_append_new(c->reasons, r) != 0) {
        /* json_array_append_new releases r on failure. Drop everything rather than hand
         * back a partial list that reads like a complete explanation. */
        json_decref(c->reasons);
        c->reasons = NULL;
    }
}

/* The "s" of a noun counted n times ("1 report", "2 reports"). */
static const char *plural(uint64_t n)
{
    return n == 1 ? "" : "s";
}

/* The "s" of a verb whose subject is counted n times ("1 network reports", "2 networks
 * report"). */
static const char *verb_s(uint64_t n)
{
    return n == 1 ? "s" : "";
}

/* "all from app version 4.2.0 of 6 versions seen for this app and host", etc. */
static void versions_text(const struct verdict_evidence *ev, char *buf, size_t len)
{
    if (ev->versions == 0)
        snprintf(buf, len, "no app version reported");
    else if (ev->versions == 1 && ev->top_version != NULL)
        snprintf(buf, len,
                 "all from app version %s of %" PRIu64 " version%s seen for this app "
                 "and host",
                 ev->top_version, ev->app_versions, plural(ev->app_versions));
    else
        snprintf(buf, len,
                 "from %" PRIu64 " app version%s (most: %s) of %" PRIu64 " seen for "
                 "this app and host",
                 ev->versions, plural(ev->versions), sv(ev->top_version, "unknown"),
                 ev->app_versions);
}

/* The summary every verdict ends with, after the report-only count when there is one. */
static void reason_population(struct ctx *c)
{
    const struct verdict_evidence *ev = c->ev;
    char vers[200];

    if (ev->report_only > 0)
        reason(c, "report_only",
               "%" PRIu64 " of %" PRIu64 " reports come from report-only clients "
               "(enforce-pinning false): those connections were not blocked; with pinning "
               "enforced, %" PRIu64 " more device%s would break",
               ev->report_only, ev->reports, ev->report_only_devices,
               plural(ev->report_only_devices));

    versions_text(ev, vers, sizeof(vers));
    reason(c, "population",
           "%" PRIu64 " report%s from %" PRIu64 " device%s on %" PRIu64 " network%s (busiest "
           "network: %" PRIu64 " report%s; %" PRIu64 " network%s report%s this app and host); %s",
           ev->reports, plural(ev->reports), ev->devices, plural(ev->devices), ev->networks,
           plural(ev->networks), ev->top_network_reports, plural(ev->top_network_reports),
           ev->app_networks, plural(ev->app_networks), verb_s(ev->app_networks), vers);
}

/* Spread or concentration over networks, when either holds. */
static void reason_networks(struct ctx *c)
{
    const struct verdict_evidence *ev = c->ev;

    if (is_spread(ev))
        reason(c, "network_spread",
               "%" PRIu64 " report%s from %" PRIu64 " network%s, the busiest with only %" PRIu64
               ": failures wherever the app runs",
               ev->reports, plural(ev->reports), ev->networks, plural(ev->networks),
               ev->top_network_reports);
    else if (is_concentrated(ev))
        reason(c, "network_concentration",
               "%" PRIu64 " of %" PRIu64 " report%s from one network, %" PRIu64
               " network%s in all (of %" PRIu64 " reporting this app and host)",
               ev->top_network_reports, ev->reports, plural(ev->reports), ev->networks,
               plural(ev->networks), ev->app_networks);
}

/* Confinement to, or spread over, app versions, when either is telling. */
static void reason_versions(struct ctx *c)
{
    const struct verdict_evidence *ev = c->ev;
    char vers[200];

    versions_text(ev, vers, sizeof(vers));
    if (versions_confined(ev))
        reason(c, "versions_confined", "%" PRIu64 " report%s %s: the other versions do not fail",
               ev->reports, plural(ev->reports), vers);
    else if (ev->versions >= 2 && ev->versions == ev->app_versions)
        reason(c, "versions_spread",
               "across all %" PRIu64 " app versions seen for this app and host", ev->versions);
}

/* An appended public root that does not issue the chain (issue 16): never public, and said. */
static void reason_tail(struct ctx *c)
{
    if (c->ev->unlinked_public_tail)
        reason(c, "unlinked_public_tail",
               "the chain ends with certificates that carry or lead to a public root but do not "
               "issue the certificate before them: a public root appended to a chain it does not "
               "issue is a sign of tampering, and does not make the chain public");
}

static void reason_private_anchor(struct ctx *c)
{
    const struct verdict_evidence *ev = c->ev;
    if (ev->anchor_legacy)
        reason(c, "private_anchor",
               "the anchor %s is a formerly public root, removed from the public stores on %s, "
               "before these reports were sent",
               sv(ev->anchor_subject, "(no subject)"), sv(ev->legacy_removed, "an unknown day"));
    else
        reason(c, "private_anchor", "the anchor %s is not in the trust store",
               sv(ev->anchor_subject, "(no subject)"));
    reason_tail(c);
}

static void reason_public_anchor(struct ctx *c)
{
    const struct verdict_evidence *ev = c->ev;
    if (ev->anchor_legacy)
        reason(c, "legacy_anchor",
               "public (legacy): the chain links up to %s, a formerly public root removed from "
               "the public stores on %s, after these reports were sent",
               sv(ev->anchor_subject, "(no subject)"), sv(ev->legacy_removed, "an unknown day"));
    else
        reason(c, "public_anchor", "the chain links up to the trust-store key of %s",
               sv(ev->anchor_subject, "(no subject)"));
    reason_tail(c);
}

static void reason_expected_key(struct ctx *c)
{
    const struct verdict_evidence *ev = c->ev;
    reason(c, "expected_key_seen",
           "a chain key is an expected key declared for %s; the leaf key is expected in %" PRIu64
           " of %" PRIu64 " report%s",
           sv(ev->hostname, "the host"), ev->leaf_expected, ev->reports, plural(ev->reports));
}

static void reason_no_pin(struct ctx *c)
{
    const struct verdict_evidence *ev = c->ev;
    reason(c, "no_pin_match",
           "%" PRIu64 " of %" PRIu64 " report%s carry no known pin in their chain",
           ev->reports - (ev->pin_in_chain < ev->reports ? ev->pin_in_chain : ev->reports),
           ev->reports, plural(ev->reports));
}

static void reason_untrusted(struct ctx *c)
{
    const struct verdict_evidence *ev = c->ev;
    if (ev->result_untrusted > 0)
        reason(c, "chain_untrusted",
               "%" PRIu64 " of %" PRIu64 " report%s have validation-result 2 (chain not trusted)",
               ev->result_untrusted, ev->reports, plural(ev->reports));
}

/* Supporting evidence for interception verdicts (landscape S13 and S1 negated). */
static void reason_interception_support(struct ctx *c)
{
    const struct verdict_evidence *ev = c->ev;

    if (ev->host_has_expected_keys && !ev->expected_key_seen)
        reason(c, "not_our_key",
               "none of the chain keys is among the expected keys declared for %s",
               sv(ev->hostname, "the host"));
    /* SHA-1 and small keys were common on the roots that were public then: not a sign. */
    unsigned weak = ev->anchor_legacy ? 0 : ev->weak & CHAIN_WEAK_ALL;
    if (weak != 0) {
        char names[96] = "";
        size_t used = 0;
        for (unsigned bit = 1; bit <= CHAIN_WEAK_ALL; bit <<= 1) {
            const char *name = chain_weak_name(bit);
            if ((weak & bit) == 0 || name == NULL)
                continue;
            size_t sep = used > 0 ? 2 : 0, len = strlen(name);
            if (used + sep + len >= sizeof(names))
                break;
            memcpy(names + used, ", ", sep);
            memcpy(names + used + sep, name, len);
            used += sep + len;
            names[used] = '\0';
        }
        reason(c, "weak_crypto", "weak crypto in the chain (%s), typical of interception products",
               names);
    }
}

/* Without declared keys a private anchor may be our own broken chain (self-signed, missing
 * intermediate): say what would settle it. */
static void reason_needs_keys(struct ctx *c)
{
    reason(c, "needs_expected_keys",
           "no expected keys are declared for %s: declaring them tells our own broken or "
           "privately issued chain from interception",
           sv(c->ev->hostname, "the host"));
}

/* ---- the rules -------------------------------------------------------------------------- */

static void set(struct verdict_result *out, enum verdict_kind_class v, const char *kind,
                const char *product)
{
    out->verdict = v;
    out->kind = kind;
    out->product = product;
}

/* 1. A known-hostile key (Chromium blocklist / known-interception list) is proof enough:
 * the key itself, not a name, identifies the interceptor (landscape S9). */
static bool rule_known_hostile(struct ctx *c, struct verdict_result *out)
{
    const struct verdict_evidence *ev = c->ev;
    if (!ev->has_chain || !ev->known_hostile)
        return false;
    set(out, VERDICT_INTERCEPTION, "known_hostile", ev->hostile_name);
    reason(c, "known_hostile_key",
           "a chain key is the catalog's known-hostile key \"%s\" (%s); "
           "anchor %s",
           sv(ev->hostile_name, "unnamed"), sv(ev->hostile_category, "uncategorised"),
           sv(ev->anchor_subject, "(no subject)"));
    reason_tail(c);
    reason_interception_support(c);
    reason_population(c);
    return true;
}

/* 2. Below this point every rule weighs counts; with none there is nothing to weigh. */
static bool rule_no_reports(struct ctx *c, struct verdict_result *out)
{
    if (c->ev->reports > 0)
        return false;
    set(out, VERDICT_UNDETERMINED, NULL, NULL);
    reason(c, "no_reports", "0 reports for %s on %s in the window", sv(c->ev->app, "(no app)"),
           sv(c->ev->hostname, "(no hostname)"));
    return true;
}

/* 3. A chain that was valid when we received it but not at the client's clock failed because
 * of the clock (Acer et al. 2017), whoever's chain it is, as long as it is one the device
 * could otherwise trust: ours or publicly anchored, linked, naming the host. Checked before
 * server_chain because the validity failure it explains would otherwise read as ours. A
 * private anchor is left to the interception rules: the interceptor matters more. */
static bool rule_clock_skew(struct ctx *c, struct verdict_result *out)
{
    const struct verdict_evidence *ev = c->ev;
    if (!ev->has_chain || !(is_ours(ev) || ev->anchor_public) || !holds(ev, ev->clock_skew) ||
        !ev->linked || holds(ev, ev->not_covering))
        return false;
    set(out, VERDICT_MISCONFIGURATION, "clock_skew", NULL);
    reason(c, "clock_skew",
           "%" PRIu64 " of %" PRIu64 " report%s have a client clock more than 24 h from receipt "
           "and a chain valid at receipt but not at the client time",
           ev->clock_skew, ev->reports, plural(ev->reports));
    if (is_ours(ev))
        reason_expected_key(c);
    else
        reason_public_anchor(c);
    reason(c, "chain_invalid_at_time",
           "%" PRIu64 " of %" PRIu64 " report%s: chain not valid at the report time",
           ev->invalid_at_time, ev->reports, plural(ev->reports));
    reason_population(c);
    return true;
}

/* 4. Our key, but the chain does not validate: expired, missing intermediate, name mismatch
 * (landscape S7). Whether pins match is irrelevant: the server must be fixed first. */
static bool rule_server_chain(struct ctx *c, struct verdict_result *out)
{
    const struct verdict_evidence *ev = c->ev;
    if (!is_ours(ev) || (ev->linked && !holds(ev, ev->invalid_at_time) &&
                         !holds(ev, ev->not_covering) && !holds(ev, ev->result_untrusted)))
        return false;
    set(out, VERDICT_MISCONFIGURATION, "server_chain", NULL);
    reason_expected_key(c);
    if (!ev->linked)
        reason(c, "chain_not_linked",
               "the chain does not link: a certificate is not issued by the next one (names or "
               "signatures)");
    reason_tail(c);
    if (ev->invalid_at_time > 0)
        reason(c, "chain_invalid_at_time",
               "%" PRIu64 " of %" PRIu64 " report%s: chain not valid at the report time (%" PRIu64
               " explained by the client clock)",
               ev->invalid_at_time, ev->reports, plural(ev->reports), ev->clock_skew);
    if (ev->not_covering > 0)
        reason(c, "leaf_not_covering",
               "%" PRIu64 " of %" PRIu64 " report%s: the leaf does not cover %s", ev->not_covering,
               ev->reports, plural(ev->reports), sv(ev->hostname, "the hostname"));
    reason_untrusted(c);
    reason_population(c);
    return true;
}

/* 5. Our key and a valid chain, yet no shipped pin matches: the pins are stale after a key,
 * intermediate or CA change (landscape S1/S2). */
static bool rule_stale_pins_ours(struct ctx *c, struct verdict_result *out)
{
    const struct verdict_evidence *ev = c->ev;
    if (!is_ours(ev) || holds(ev, ev->pin_in_chain))
        return false;
    set(out, VERDICT_MISCONFIGURATION, "stale_pins", NULL);
    reason_expected_key(c);
    reason_no_pin(c);
    reason_networks(c);
    reason_versions(c);
    reason_population(c);
    return true;
}

/* 6. The app shipped a pin policy that had expired when it failed (landscape S11). It needs
 * no chain, so it comes before no_chain; it comes after the "ours" rules because a concrete
 * key mismatch is the more useful thing to tell. */
static bool rule_pins_expired(struct ctx *c, struct verdict_result *out)
{
    const struct verdict_evidence *ev = c->ev;
    if (!holds(ev, ev->pins_expired))
        return false;
    set(out, VERDICT_MISCONFIGURATION, "pins_expired", NULL);
    reason(c, "pins_expired",
           "%" PRIu64 " of %" PRIu64 " report%s were sent after their pin policy had expired: "
           "ship a later expiry (a failure dated after expiry can also mean a wrong client "
           "clock)",
           ev->pins_expired, ev->reports, plural(ev->reports));
    reason_population(c);
    return true;
}

/* 7. Our key in a linked, valid chain that carries a known pin, and still a failure: none of
 * our explanations fits, and an interception verdict would contradict the key. Shown, not
 * guessed. */
static bool rule_ours_unexplained(struct ctx *c, struct verdict_result *out)
{
    const struct verdict_evidence *ev = c->ev;
    if (!is_ours(ev))
        return false;
    set(out, VERDICT_UNDETERMINED, NULL, NULL);
    reason_expected_key(c);
    reason(c, "pin_match",
           "%" PRIu64 " of %" PRIu64 " report%s carry a known pin in a linked chain valid at the "
           "report time: the pins do not explain the failure",
           ev->pin_in_chain, ev->reports, plural(ev->reports));
    reason_untrusted(c);
    reason_population(c);
    return true;
}

static bool nel_is(const struct verdict_evidence *ev, const char *type)
{
    return ev->nel_type != NULL && strcmp(ev->nel_type, type) == 0;
}

/* The NEL type reason: which type, and how many of the sampled reports carry it. */
static void reason_nel_type(struct ctx *c, const char *meaning)
{
    const struct verdict_evidence *ev = c->ev;
    reason(c, "nel_type", "%" PRIu64 " of the latest %" PRIu64 " browser reports are %s: %s",
           ev->nel_type_reports, ev->nel_sampled, ev->nel_type, meaning);
}

/* 8a. Browser (NEL) reports have no chain; their tls.* type and the spread tell (SPEC 6.3):
 * our certificate or TLS setup fails on every network, an interceptor's CA on few. The type
 * decides only when it holds for the group. */
static bool rule_nel(struct ctx *c, struct verdict_result *out)
{
    const struct verdict_evidence *ev = c->ev;
    if (ev->has_chain || ev->nel_type == NULL)
        return false;
    bool type_holds = ev->nel_sampled > 0 &&
                      share_at_least(ev->nel_type_reports, ev->nel_sampled, VERDICT_MAJORITY_PCT);
    bool spread = is_spread(ev) && ev->devices >= VERDICT_POPULATION_MIN_DEVICES;
    if (type_holds && spread &&
        (nel_is(ev, "tls.cert.date_invalid") || nel_is(ev, "tls.cert.name_invalid"))) {
        bool date = nel_is(ev, "tls.cert.date_invalid");
        set(out, VERDICT_MISCONFIGURATION, date ? "expired_certificate" : "wrong_certificate",
            NULL);
        reason_nel_type(c, date ? "the certificate browsers get is expired or not yet valid"
                                : "the certificate browsers get does not name the host");
    } else if (type_holds && spread &&
               (nel_is(ev, "tls.version_or_cipher_mismatch") || nel_is(ev, "tls.protocol.error"))) {
        set(out, VERDICT_MISCONFIGURATION, "server_tls_config", NULL);
        reason_nel_type(c, "browsers and our server agree on no TLS version or cipher");
    } else if (type_holds && nel_is(ev, "tls.cert.authority_invalid") && is_concentrated(ev) &&
               !is_spread(ev)) {
        set(out, VERDICT_INTERCEPTION, "unknown", NULL);
        reason_nel_type(c, "browsers get a certificate from an authority they do not trust");
    } else {
        set(out, VERDICT_UNDETERMINED, NULL, NULL);
        reason(c, "nel_unclear",
               "%" PRIu64 " of the latest %" PRIu64 " browser reports are %s, on %" PRIu64
               " networks from %" PRIu64 " devices: no rule for that type and spread (date or "
               "name errors, or version and cipher mismatches, across at least %d networks; "
               "authority errors on few networks)",
               ev->nel_type_reports, ev->nel_sampled, ev->nel_type, ev->networks, ev->devices,
               VERDICT_SPREAD_MIN_NETWORKS);
    }
    reason_networks(c);
    reason_population(c);
    return true;
}

/* 8b. Every rule below reads the chain. */
static bool rule_no_chain(struct ctx *c, struct verdict_result *out)
{
    if (c->ev->has_chain)
        return false;
    set(out, VERDICT_UNDETERMINED, NULL, NULL);
    reason(c, "no_chain", "none of the %" PRIu64 " report%s carried a decodable certificate chain",
           c->ev->reports, plural(c->ev->reports));
    reason_population(c);
    return true;
}

/* A name-matched product's kind is its catalog category (SPEC 6.3): a state product is
 * `state`. Key-only categories (compromised_ca, leaked_key, revoked) never name a product. */
static const char *catalog_kind(const char *category)
{
    static const char *const kinds[] = {"enterprise_proxy", "antivirus", "debugging_proxy",
                                        "malware_adware", "state"};
    for (size_t i = 0; category != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(category, kinds[i]) == 0)
            return kinds[i];
    }
    return "unknown";
}

/* 9. A private anchor named like an interception product (landscape S8): names are evidence,
 * not proof, which is why they count only on anchors outside the trust store and only after
 * our own keys had their say. */
static bool rule_catalog(struct ctx *c, struct verdict_result *out)
{
    const struct verdict_evidence *ev = c->ev;
    if (ev->anchor_public || ev->catalog_product == NULL)
        return false;
    set(out, VERDICT_INTERCEPTION, catalog_kind(ev->catalog_category), ev->catalog_product);
    reason(c, "catalog_name",
           "the private anchor %s or its chain is named like the catalog product \"%s\" (%s)",
           sv(ev->anchor_subject, "(no subject)"), ev->catalog_product,
           sv(ev->catalog_category, "uncategorised"));
    reason_tail(c);
    reason_networks(c);
    reason_versions(c);
    reason_interception_support(c);
    reason_population(c);
    return true;
}

/* 10. A captive portal answers with its own certificate for its own name, untrusted, to a
 * device passing through (landscape §4.3 point 3). Interceptors mint a leaf for our name, so
 * "leaf for another name" on every report is the strong part of the evidence; the rest is
 * the transient one-device, one-network pattern. */
static bool rule_captive_portal(struct ctx *c, struct verdict_result *out)
{
    const struct verdict_evidence *ev = c->ev;
    if (ev->result_untrusted < ev->reports || ev->not_covering < ev->reports || ev->devices != 1 ||
        ev->networks != 1 || ev->reports > VERDICT_PORTAL_MAX_REPORTS)
        return false;
    set(out, VERDICT_INTERCEPTION, "captive_portal", NULL);
    reason(c, "portal_leaf",
           "all %" PRIu64 " report%s: an untrusted chain whose leaf does not cover %s, anchored "
           "at %s, from 1 device on 1 network",
           ev->reports, plural(ev->reports), sv(ev->hostname, "the hostname"),
           sv(ev->anchor_subject, "(no subject)"));
    reason_untrusted(c);
    reason_population(c);
    return true;
}

/* 11. A public anchor without our pins, failing wherever the app runs or only in a few app
 * versions, is our key change or our pin-set mistake (SPEC §6.3: "chain anchors publicly, but
 * no known pin matches"). Needs a population: one or two devices say nothing about spread. */
static bool rule_stale_pins_public(struct ctx *c, struct verdict_result *out)
{
    const struct verdict_evidence *ev = c->ev;
    if (!ev->anchor_public || holds(ev, ev->pin_in_chain) ||
        ev->devices < VERDICT_POPULATION_MIN_DEVICES || !(is_spread(ev) || versions_confined(ev)))
        return false;
    set(out, VERDICT_MISCONFIGURATION, "stale_pins", NULL);
    reason_public_anchor(c);
    reason_no_pin(c);
    reason_networks(c);
    reason_versions(c);
    if (ev->host_has_expected_keys)
        reason(c, "undeclared_public_key",
               "keys are declared for %s but none is in this chain: if it is not our CDN or edge, "
               "check Certificate Transparency for a mis-issued certificate",
               sv(ev->hostname, "the host"));
    reason_population(c);
    return true;
}

/* 12. A public anchor is not an interceptor's (a mis-issuance would be rare and needs CT, not
 * a guess): whatever rule 11 could not call is shown, not guessed. */
static bool rule_public_unexplained(struct ctx *c, struct verdict_result *out)
{
    const struct verdict_evidence *ev = c->ev;
    if (!ev->anchor_public)
        return false;
    set(out, VERDICT_UNDETERMINED, NULL, NULL);
    reason_public_anchor(c);
    if (holds(ev, ev->pin_in_chain))
        reason(c, "pin_match",
               "%" PRIu64 " of %" PRIu64 " report%s carry a known pin in their chain: the pins "
               "do not explain the failure",
               ev->pin_in_chain, ev->reports, plural(ev->reports));
    else
        reason(c, "insufficient_population",
               "no pin matches, but %" PRIu64 " device%s on %" PRIu64 " network%s in %" PRIu64
               " of %" PRIu64 " app version%s are neither spread nor confined enough to call "
               "stale pins",
               ev->devices, plural(ev->devices), ev->networks, plural(ev->networks), ev->versions,
               ev->app_versions, plural(ev->app_versions));
    reason_untrusted(c);
    if (!ev->host_has_expected_keys)
        reason_needs_keys(c);
    reason_population(c);
    return true;
}

/* 13. A private anchor on one or two devices is software on those devices. We call it a
 * debugging proxy when the device also stays on one or two networks: developers, QA and
 * reverse engineers run Charles/Burp/mitmproxy on their own network, and the usual antivirus
 * products are named in the catalog (rule 9). A device that fails across more networks
 * carries its interceptor with it (antivirus, MDM, malware): unknown. */
static bool rule_device_local(struct ctx *c, struct verdict_result *out)
{
    const struct verdict_evidence *ev = c->ev;
    /* 0 devices means the caller could not count them: no device-local guess then. */
    if (ev->devices == 0 || ev->devices > VERDICT_LOCAL_MAX_DEVICES)
        return false;
    bool stays = ev->networks <= VERDICT_LOCAL_MAX_NETWORKS;
    set(out, VERDICT_INTERCEPTION, stays ? "debugging_proxy" : "unknown", NULL);
    reason_private_anchor(c);
    if (stays)
        reason(c, "few_devices",
               "only %" PRIu64 " device%s on %" PRIu64 " network%s: a per-install interceptor "
               "such as a debugging proxy",
               ev->devices, plural(ev->devices), ev->networks, plural(ev->networks));
    else
        reason(c, "device_mobility",
               "only %" PRIu64 " device%s but %" PRIu64 " networks: the interceptor travels with "
               "the device (antivirus, MDM or malware)",
               ev->devices, plural(ev->devices), ev->networks);
    reason_untrusted(c);
    reason_interception_support(c);
    reason_population(c);
    return true;
}

/* 14. One private key on several devices, in few networks, whatever the app version: a
 * network interceptor with one CA per organisation (landscape §4.3 point 4). Confined to a
 * version it could be a test lab, so that case goes on. */
static bool rule_enterprise_proxy(struct ctx *c, struct verdict_result *out)
{
    const struct verdict_evidence *ev = c->ev;
    if (ev->devices < VERDICT_POPULATION_MIN_DEVICES || !is_concentrated(ev) ||
        versions_confined(ev))
        return false;
    set(out, VERDICT_INTERCEPTION, "enterprise_proxy", NULL);
    reason_private_anchor(c);
    reason_networks(c);
    reason(c, "many_devices", "%" PRIu64 " devices share this anchor on %" PRIu64 " network%s",
           ev->devices, ev->networks, plural(ev->networks));
    reason_versions(c);
    reason_interception_support(c);
    reason_population(c);
    return true;
}

/* 15. One private key spread over many networks and devices. Trusted on the devices (result 1)
 * it is a root installed everywhere with a shared key, the Superfish pattern: adware. Mostly
 * untrusted it may as well be our own chain failing for everyone (self-signed, missing
 * intermediate): interception only when the operator's declared keys rule that out. */
static bool rule_shared_key(struct ctx *c, struct verdict_result *out)
{
    const struct verdict_evidence *ev = c->ev;
    if (!is_spread(ev) || ev->devices < VERDICT_SHARED_KEY_MIN_DEVICES)
        return false;
    bool trusted = !holds(ev, ev->result_untrusted);
    if (trusted)
        set(out, VERDICT_INTERCEPTION, "malware_adware", NULL);
    else if (ev->host_has_expected_keys)
        set(out, VERDICT_INTERCEPTION, "unknown", NULL);
    else
        set(out, VERDICT_UNDETERMINED, NULL, NULL);
    reason_private_anchor(c);
    reason_networks(c);
    reason(c, "many_devices", "%" PRIu64 " devices share this anchor on %" PRIu64 " network%s",
           ev->devices, ev->networks, plural(ev->networks));
    if (trusted)
        reason(
            c, "result_trusted",
            "%" PRIu64 " of %" PRIu64 " report%s had the chain trusted by the device: its root is "
            "installed on the devices",
            ev->reports - (ev->result_untrusted < ev->reports ? ev->result_untrusted : ev->reports),
            ev->reports, plural(ev->reports));
    else
        reason_untrusted(c);
    if (out->verdict == VERDICT_UNDETERMINED)
        reason_needs_keys(c);
    reason_interception_support(c);
    reason_population(c);
    return true;
}

/* 16. Any other private anchor: interception when the declared keys say it is not ours, else
 * the evidence without a guess. Always matches. */
static bool rule_private_rest(struct ctx *c, struct verdict_result *out)
{
    const struct verdict_evidence *ev = c->ev;
    if (ev->host_has_expected_keys)
        set(out, VERDICT_INTERCEPTION, "unknown", NULL);
    else
        set(out, VERDICT_UNDETERMINED, NULL, NULL);
    reason_private_anchor(c);
    reason(c, "unclear_population",
           "%" PRIu64 " device%s on %" PRIu64 " network%s in %" PRIu64 " of %" PRIu64
           " app version%s: neither device-local, concentrated across versions, nor spread",
           ev->devices, plural(ev->devices), ev->networks, plural(ev->networks), ev->versions,
           ev->app_versions, plural(ev->app_versions));
    reason_untrusted(c);
    if (!ev->host_has_expected_keys)
        reason_needs_keys(c);
    reason_interception_support(c);
    reason_population(c);
    return true;
}

typedef bool verdict_rule_fn(struct ctx *c, struct verdict_result *out);

/* In docs/verdicts.md order; the first rule that matches decides. */
static verdict_rule_fn *const rules[] = {
    rule_known_hostile,      /* 1 */
    rule_no_reports,         /* 2 */
    rule_clock_skew,         /* 3 */
    rule_server_chain,       /* 4 */
    rule_stale_pins_ours,    /* 5 */
    rule_pins_expired,       /* 6 */
    rule_ours_unexplained,   /* 7 */
    rule_nel,                /* 8a */
    rule_no_chain,           /* 8b */
    rule_catalog,            /* 9 */
    rule_captive_portal,     /* 10 */
    rule_stale_pins_public,  /* 11 */
    rule_public_unexplained, /* 12 */
    rule_device_local,       /* 13 */
    rule_enterprise_proxy,   /* 14 */
    rule_shared_key,         /* 15 */
    rule_private_rest,       /* 16 */
};

const char *verdict_name(enum verdict_kind_class v)
{
    switch (v) {
    case VERDICT_MISCONFIGURATION:
        return "misconfiguration";
    case VERDICT_INTERCEPTION:
        return "interception";
    case VERDICT_UNDETERMINED:
        break;
    }
    return "undetermined";
}

void verdict_decide(const struct verdict_evidence *ev, struct verdict_result *out)
{
    struct ctx c = {.ev = ev, .reasons = json_array()};

    set(out, VERDICT_UNDETERMINED, NULL, NULL);
    if (ev == NULL) {
        reason(&c, "no_evidence", "no evidence was given for this group");
    } else {
        for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
            if (rules[i](&c, out))
                break;
        }
    }
    out->reasons = c.reasons;
}

void verdict_result_cleanup(struct verdict_result *r)
{
    if (r == NULL)
        return;
    json_decref(r->reasons);
    r->reasons = NULL;
    set(r, VERDICT_UNDETERMINED, NULL, NULL);
}
