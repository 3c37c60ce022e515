/*
 * policy — an app's pin policy, read before it ships (SPEC §11): Android's
 * network_security_config.xml (with TrustKit-Android's <trustkit-config>) or a TrustKit iOS
 * Info.plist (XML or binary), and the findings of checking it against the chains the server
 * really serves.
 *
 * Parsing is libxml2's and libplist's (policy_parse.c); the checks are pure. A struct policy
 * is plain data owned by the caller (policy_free).
 */
#ifndef POLICY_H
#define POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

struct expected_keys;

/* TrustKit-Android's report server when disableDefaultReportUri is not set. */
#define POLICY_TRUSTKIT_DEFAULT_REPORT_URI "https://overmind.datatheorem.com/trustkit/report"
#define POLICY_EXPIRES_SOON_DAYS           30

enum policy_format { POLICY_ANDROID_NSC, POLICY_TRUSTKIT_PLIST };

struct policy_pin {
    char *text; /* as written */
    bool valid; /* SHA-256 digest, base64 of 32 bytes */
    uint8_t spki[32];
};

struct policy_domain {
    char *domain; /* normalized (hostname_normalize) */
    bool include_subdomains;
    struct policy_pin *pins;
    size_t n_pins;
    char *expiration;   /* "YYYY-MM-DD" as written; NULL when none */
    bool expiration_ok; /* expiration parses as a date */
    int64_t expires_at; /* Unix microseconds: the end of that UTC day */
    bool enforce;       /* connections fail on a mismatch (else report-only) */
    char **report_uris;
    size_t n_report_uris;
    int line; /* where the domain is declared (0 for binary plists) */
};

struct policy {
    enum policy_format format;
    struct policy_domain *domains;
    size_t n;
};

/*
 * Parse a policy file (the format is recognised from the text itself). On success *out is new
 * (policy_free). ERR_INVALID with key "invalid_policy" and a detail naming the line when the
 * XML or plist is malformed, is neither format, or declares a domain that is not a host name.
 */
enum err_code policy_parse(const char *text, size_t len, struct policy **out,
                           struct err *err) ERR_MUSTCHECK;

/* Accepts NULL. */
void policy_free(struct policy *p);

/* Initialise libxml2 once, before threads parse policies (the server calls it at start). */
void policy_init(void);

/* A domain's current chain: every key of it (the trust-store root that issued it included),
 * and which of them is the leaf's. */
struct policy_chain {
    uint8_t (*keys)[32];
    size_t n_keys;
    uint8_t leaf[32];
    bool has_leaf;
};

/* Fill *out with the current chain of domain (keys owned by the callee's ctx or freed by the
 * caller with free(out->keys)); false when none is known. */
typedef bool (*policy_chain_fn)(void *ctx, const char *domain, struct policy_chain *out);

struct policy_check_opts {
    int64_t now_usec;
    const struct expected_keys *ek; /* declared keys and their labels; may be NULL */
    const char *public_url;         /* PINWATCH_PUBLIC_URL; NULL or "": not judged */
    policy_chain_fn chain;          /* may be NULL */
    void *chain_ctx;
};

/*
 * The findings of every domain: {"domains": [{"domain", "include_subdomains", "pins",
 * "expiration", "enforce", "report_uris", "findings": [{"code", "severity", "detail"}]}]}.
 * The current chain of a domain comes from opts->chain, else from the keys declared for it
 * (labels current, ca and cdn are served keys; backup is not). New reference; NULL on OOM.
 */
json_t *policy_check(const struct policy *p, const struct policy_check_opts *opts);

/* True when some finding of a policy_check result has severity "error". */
bool policy_has_error(const json_t *result);

/* The result as text, one block per domain, for people and CI logs. */
void policy_print(const json_t *result, FILE *out);

#endif
