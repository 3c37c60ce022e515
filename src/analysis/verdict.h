/*
 * verdict — the verdict rules of SPEC §6.3: from the evidence of one group of failures (app,
 * hostname, anchor key, whether any chain key is expected), tell our own misconfiguration from
 * interception, or say "undetermined" and show the evidence. Pure: no I/O, no globals.
 *
 * The rules combine the per-chain findings of §6.1 with population evidence (spread over
 * networks vs concentration, spread over app versions vs confinement, number of devices); see
 * docs/verdicts.md for the operator's table and verdict.c for the rule order and its reasons.
 * The first matching rule wins. Every verdict carries reasons whose details name the evidence
 * with numbers, so an operator can check the call.
 */
#ifndef VERDICT_H
#define VERDICT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Thresholds. A per-report finding "holds for the group" when at least VERDICT_MAJORITY_PCT
 * percent of the group's reports show it (a group mixes reports of one anchor, so a few odd
 * reports must not flip the verdict).
 */
#define VERDICT_MAJORITY_PCT 50
/* Spread: at least this many networks, and the busiest one holds at most
 * VERDICT_SPREAD_MAX_TOP_PCT percent of the reports (misconfiguration hits every network). */
#define VERDICT_SPREAD_MIN_NETWORKS 5
#define VERDICT_SPREAD_MAX_TOP_PCT  50
/* Concentration: at most this many networks, or the busiest one holds at least
 * VERDICT_CONCENTRATED_TOP_PCT percent of the reports (a proxy sits on one network; iOS
 * deferred uploads put a few of its reports on home networks). */
#define VERDICT_CONCENTRATED_MAX_NETWORKS 3
#define VERDICT_CONCENTRATED_TOP_PCT      80
/* Confined to app versions: the group's reports come from at most VERDICT_FEW_VERSIONS app
 * versions while at least VERDICT_CONFINED_MIN_OTHER_VERSIONS other versions of the app report
 * for the same hostname in the window (those versions do not fail with this chain). */
#define VERDICT_FEW_VERSIONS                2
#define VERDICT_CONFINED_MIN_OTHER_VERSIONS 2
/* A population: at least this many devices before spread or confinement means anything. */
#define VERDICT_POPULATION_MIN_DEVICES 3
/* Device-local: at most this many devices (and, for a debugging proxy, networks). */
#define VERDICT_LOCAL_MAX_DEVICES  2
#define VERDICT_LOCAL_MAX_NETWORKS 2
/* A shared interception key (Superfish-style adware): at least this many devices, spread. */
#define VERDICT_SHARED_KEY_MIN_DEVICES 5
/* Captive portal: a transient pattern of at most this many reports from one device. */
#define VERDICT_PORTAL_MAX_REPORTS 3
/* NEL groups: the type of at most this many latest reports is read (a bounded sample). */
#define VERDICT_NEL_SAMPLE 1000

/*
 * The evidence of one group, computed by the caller from the database. All strings are
 * borrowed and may be NULL. Counts are over the group's reports in the window.
 */
struct verdict_evidence {
    const char *app; /* bundle id, "web" for browsers */
    const char *hostname;
    bool has_chain;             /* reports carried a decodable chain */
    bool anchor_public;         /* the chain links up to a trust-store key, or to a formerly public
                                   root for reports dated before its removal (SPEC 6.1) */
    bool anchor_legacy;         /* the anchor is a formerly public root ("public (legacy)") */
    const char *legacy_removed; /* its removal day "YYYY-MM-DD", or NULL */
    bool unlinked_public_tail;  /* certificates after the linked part carry or lead to a
                                   public root they do not link to: a sign of tampering */
    const char *anchor_subject; /* may be NULL */
    bool known_hostile;         /* catalog SPKI hit */
    const char *hostile_name;
    const char *hostile_category;
    const char *catalog_product; /* catalog name match, or NULL */
    const char *catalog_category;
    bool linked;                         /* chain links (names + signatures) */
    unsigned weak;                       /* enum chain_weak bits from src/chain.h */
    bool expected_key_seen;              /* some chain key is an operator-declared expected key */
    bool host_has_expected_keys;         /* the operator declared keys for this hostname at all */
    uint64_t reports, devices, networks; /* in the window */
    uint64_t versions;                   /* distinct app versions among the group's reports */
    uint64_t app_versions;        /* distinct app versions among ALL reports of this app+hostname
                                     in the window */
    uint64_t app_networks;        /* distinct networks among all reports of this app+hostname */
    uint64_t top_network_reports; /* reports from the group's most frequent network */
    uint64_t pin_in_chain;        /* reports whose chain contains a known pin */
    uint64_t leaf_expected;       /* reports whose leaf key is expected */
    uint64_t not_covering;        /* reports whose leaf does not cover the hostname */
    uint64_t invalid_at_time;     /* reports whose chain was not valid at the report time */
    uint64_t result_untrusted;    /* validation-result 2 (chain not trusted) */
    uint64_t pins_expired;        /* reports whose pin policy had expired at the report time */
    uint64_t clock_skew; /* reports whose client time is > 24 h from receipt and whose chain is
                            valid at receipt but not at client time */
    /* Added: the group's most frequent app version, or NULL (browsers). Only named in reason
     * details ("all from app version 4.2.0"); no rule depends on it. */
    const char *top_version;
    /* Browser (NEL) reports, which carry no chain: the most frequent tls.* type among the
     * group's latest nel_sampled reports (NULL when none is NEL), and how many have it. */
    const char *nel_type;
    uint64_t nel_type_reports;
    uint64_t nel_sampled;
    /* Reports sent with enforce-pinning false (TrustKit report-only: the connection was not
     * blocked), and their distinct devices: what would break were pinning enforced. */
    uint64_t report_only;
    uint64_t report_only_devices;
};

enum verdict_kind_class { VERDICT_MISCONFIGURATION, VERDICT_INTERCEPTION, VERDICT_UNDETERMINED };

struct verdict_result {
    enum verdict_kind_class verdict;
    /* Static string, NULL for undetermined: stale_pins | server_chain | pins_expired |
     * clock_skew | expired_certificate | wrong_certificate | server_tls_config |
     * known_hostile | state | enterprise_proxy | antivirus | debugging_proxy | malware_adware |
     * captive_portal | unknown */
    const char *kind;
    /* Catalog product (or hostile name), NULL otherwise; borrowed from the evidence. */
    const char *product;
    /* New reference: [{"code": "...", "detail": "..."}], never empty; NULL only when out of
     * memory. */
    json_t *reasons;
};

/* "misconfiguration", "interception", "undetermined" (static; "undetermined" for any other
 * value). */
const char *verdict_name(enum verdict_kind_class v);

/*
 * Decide the verdict of one group. ev is borrowed (NULL: undetermined, reason "no_evidence");
 * out must not be NULL and is overwritten (release with verdict_result_cleanup); its product
 * points into ev's strings, so ev's strings must outlive it. Never fails except for memory:
 * then out->reasons is NULL and the verdict is still set.
 */
void verdict_decide(const struct verdict_evidence *ev, struct verdict_result *out);

/* Release out->reasons and reset r to an empty undetermined result. Accepts NULL. */
void verdict_result_cleanup(struct verdict_result *r);

#endif
