/*
 * chain — per-chain findings (SPEC §6.1). Pure: no I/O, no globals.
 *
 * Two parts:
 *  - struct chain_analysis, computed once per distinct chain (ordered list of certificates,
 *    leaf first) and cacheable/storable: its id, linkage, anchor, catalog and hostile-key
 *    matches, weak crypto. It round-trips through JSON (chain_analysis_to_json /
 *    chain_analysis_from_json) so the database can keep it.
 *  - struct chain_report_findings, cheap, per report: hostname coverage, validity at the
 *    report time, pins, expected keys.
 */
#ifndef CHAIN_H
#define CHAIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct cert;
struct catalog;
struct expected_keys;
struct trust_store;

#define CHAIN_MAX_CERTS 64

/* Bits of chain_analysis.weak. */
enum chain_weak {
    CHAIN_WEAK_SHA1_SIGNATURE = 1u << 0, /* "sha1_signature" */
    CHAIN_WEAK_MD5_SIGNATURE = 1u << 1,  /* "md5_signature" (also MD2/MD4) */
    CHAIN_WEAK_RSA_1024 = 1u << 2,       /* "rsa_1024": an RSA key under 2048 bits */
    /* "unusual_key": an issuer key no signature is checked with (RSA exponent above 2^32 or
     * modulus above 8192 bits, an EC curve other than P-256/384/521, DSA, ...): checking
     * would cost far more than any real chain needs. That link counts as not linked. */
    CHAIN_WEAK_UNUSUAL_KEY = 1u << 3,
    /* "unverified_links": more links than CHAIN_MAX_VERIFY signature checks; the rest count
     * as not linked. */
    CHAIN_WEAK_UNVERIFIED_LINKS = 1u << 4,
};
#define CHAIN_WEAK_ALL                                                                             \
    (CHAIN_WEAK_SHA1_SIGNATURE | CHAIN_WEAK_MD5_SIGNATURE | CHAIN_WEAK_RSA_1024 |                  \
     CHAIN_WEAK_UNUSUAL_KEY | CHAIN_WEAK_UNVERIFIED_LINKS)

/* Signature checks one chain analysis may make (a report has at most two chains): the CPU
 * budget of a report, whatever its certificates. */
#define CHAIN_MAX_VERIFY 16

struct chain_analysis {
    uint8_t sha256[32]; /* the chain's id: SHA-256 of the DER of its certificates, in order */
    size_t n_certs;
    /* Each certificate is issued by the next one: issuer name == next subject AND its
     * signature verifies with the next one's key. Vacuously true for one certificate. */
    bool linked;
    /* The anchor: the trust-store root that issued the last certificate when there is one
     * (a chain that omits its root), else the last certificate itself. */
    char *anchor_subject;    /* RFC 2253 */
    uint8_t anchor_spki[32]; /* SPKI SHA-256 */
    bool anchor_public;      /* the anchor's key is a trust-store root key */
    bool anchor_from_store;  /* the anchor is a store root absent from the chain */
    /* Some chain key (or the anchor key) is in the catalog's hostile SPKIs. */
    bool known_hostile;
    char *hostile_name;     /* NULL unless known_hostile */
    char *hostile_category; /* NULL unless known_hostile */
    /* First catalog product matching a chain certificate (issuer names, and subject names
     * of CA certificates) or the store anchor; both NULL when none. */
    char *catalog_product;
    char *catalog_category;
    /* enum chain_weak bits. Signature algorithms are judged on every certificate except a
     * self-issued last one (a root's self-signature is not relied on); key sizes on all. */
    unsigned weak;
    /* The leaf's subject and subjectAltName on an otherwise empty OpenSSL certificate, for
     * per-report hostname checks without decoding the leaf again (owned; NULL when the
     * analysis came from JSON). Read-only once built, so threads share it. */
    struct x509_st *leaf_names;
};

/* "sha1_signature", "md5_signature", "rsa_1024" for one bit; NULL otherwise. */
const char *chain_weak_name(unsigned bit);

/*
 * Analyse certs[0..n) (leaf first; borrowed). ts and cat may be NULL (then the anchor is
 * never public and nothing matches the catalog). On success *out is new (caller frees with
 * chain_analysis_free). ERR_INVALID (key "empty_chain" or "chain_too_long") for n == 0 or
 * n > CHAIN_MAX_CERTS; ERR_INVALID "undecodable_certificate" when a DER does not decode.
 */
enum err_code chain_analyze(struct cert *const *certs, size_t n, const struct trust_store *ts,
                            const struct catalog *cat, struct chain_analysis **out,
                            struct err *err) ERR_MUSTCHECK;

/* The same, checking signatures through sc (may be NULL): a link seen before costs no
 * signature check. */
struct sigcache;
enum err_code chain_analyze_cached(struct cert *const *certs, size_t n,
                                   const struct trust_store *ts, const struct catalog *cat,
                                   struct sigcache *sc, struct chain_analysis **out,
                                   struct err *err) ERR_MUSTCHECK;

/* Accepts NULL. */
void chain_analysis_free(struct chain_analysis *a);

/*
 * The chain-level findings of SPEC §6.1 (what GET /v1/chains/{sha256} shows):
 * {"chain_sha256", "n_certs", "anchor": {"subject", "spki_sha256", "public"}, "linked",
 *  "known_hostile", "hostile": {"name", "category"} | null,
 *  "catalog": {"product", "category"} | null, "weak": ["sha1_signature", ...]}
 * Hashes are 64-character lower-case hex. New reference; NULL when out of memory.
 */
json_t *chain_analysis_to_json(const struct chain_analysis *a);

/*
 * Inverse of chain_analysis_to_json (borrowed input; unknown members and unknown weak
 * names ignored). On success *out is new. ERR_INVALID (key "invalid_chain_analysis") when a
 * required member is missing or mistyped.
 */
enum err_code chain_analysis_from_json(const json_t *j, struct chain_analysis **out,
                                       struct err *err) ERR_MUSTCHECK;

/* Per-report part of the findings. */
struct chain_report_findings {
    /* The leaf covers the hostname, as OpenSSL's X509_check_host / X509_check_ip decide
     * (RFC 6125): a DNS SAN (exact, or a wildcard "*.<domain>" standing for exactly one
     * left-most label, A-labels included; never a partial-label wildcard, a wildcard over a
     * public suffix or an IP address) or an IP SAN equal to an IP literal hostname. The
     * subject CN counts only when the leaf has no DNS or IP SAN, and only for a name. */
    bool covers_hostname;
    /* EVERY certificate of the chain has not_before <= t <= not_after at the report time
     * (a store anchor absent from the chain is not judged). */
    bool valid_at_report_time;
    /* Some chain key (or the store anchor's key) is among the report's known pins. */
    bool pin_in_chain;
    /* Some chain key (or the store anchor's key) is an expected key of the hostname. */
    bool expected_key;
    /* The leaf's key is an expected key of the hostname. */
    bool leaf_expected;
};

/*
 * Compute the per-report findings of chain a for the same certificates certs[0..n) (leaf
 * first), a normalized hostname (may be NULL: covers_hostname false), the report time in
 * Unix microseconds, the report's pins (may be NULL when n_pins is 0) and the expected keys
 * (may be NULL). Never fails. ISO C11 does not convert uint8_t (*)[32] to the const form
 * implicitly: pass `(const uint8_t(*)[32])report->known_pins`.
 */
void chain_report_findings(const struct chain_analysis *a, struct cert *const *certs, size_t n,
                           const char *hostname, int64_t at_usec, const uint8_t (*pins)[32],
                           size_t n_pins, const struct expected_keys *ek,
                           struct chain_report_findings *out);

/* Whether a certificate's names cover hostname (the covers_hostname rule above). */
bool chain_cert_covers_hostname(const struct cert *leaf, const char *hostname);

/*
 * A report's full "findings" object (SPEC §6.1): the chain-level members plus
 * "covers_hostname", "valid_at_report_time", "pin_in_chain", "expected_key",
 * "leaf_expected". New reference; NULL when out of memory.
 */
json_t *chain_report_findings_to_json(const struct chain_analysis *a,
                                      const struct chain_report_findings *f);

#endif
