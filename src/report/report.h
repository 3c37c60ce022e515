/*
 * report — the normalized report (SPEC §5) that every wire-format parser produces and the
 * store, analysis and API consume. Plain data; report_free releases everything it owns.
 */
#ifndef REPORT_H
#define REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "report/cert.h"

enum report_format {
    REPORT_FMT_TRUSTKIT_IOS = 0,
    REPORT_FMT_TRUSTKIT_ANDROID,
    REPORT_FMT_HPKP,
    REPORT_FMT_EXPECT_CT,
    REPORT_FMT_NEL,
    REPORT_FMT_COUNT
};

/* "trustkit_ios", "trustkit_android", "hpkp", "expect_ct", "nel". */
const char *report_format_name(enum report_format fmt);
/* Inverse of report_format_name; -1 when unknown. */
int report_format_from_name(const char *name);

struct report_problem {
    char *code;   /* snake_case, e.g. "hostname_not_covered", "undecodable_certificate" */
    char *detail; /* may be NULL */
};

/* A client-supplied time: raw string kept as sent, parsed leniently. */
struct report_time {
    char *raw;    /* NULL when the field was absent or JSON null */
    bool valid;   /* usec is meaningful */
    int64_t usec; /* Unix microseconds, UTC */
};

/* One chain entry: a decoded certificate, or the opaque string when undecodable. */
struct report_chain_entry {
    struct cert *cert; /* owned reference, NULL when undecodable */
    char *opaque;      /* entry as sent (only when cert == NULL) */
};

struct report_chain {
    bool present; /* the key was in the report (even if empty) */
    size_t n;
    struct report_chain_entry *entries;
    bool has_sha256;    /* at least one decoded certificate */
    uint8_t sha256[32]; /* SHA-256 of the decoded certificates' DER concatenated in order */
};

struct report_app {
    char *bundle_id; /* "web" for browser reports */
    char *version;   /* NULL for browser reports */
    char *platform;  /* ios, macos, tvos, watchos, android, web */
    char *platform_version;
    char *vendor_id;
    char *sdk; /* "trustkit", "trustkit-android", or NULL */
    char *sdk_version;
};

struct report_client {
    char network[64]; /* CIDR prefix: IPv4 /24, IPv6 /48; "" when unknown */
    char ip[64];      /* full address, only when PINWATCH_STORE_CLIENT_IP=1, else "" */
    int64_t asn;      /* 0 when unknown */
    char *as_org;
    char country[4];
    char *user_agent; /* from the User-Agent header, or the Reporting API item */
};

struct report {
    char id[40]; /* UUIDv7, assigned before anything is written */
    enum report_format format;
    int64_t received_at; /* Unix microseconds */
    size_t index;        /* position in the request's array (0 for a lone object) */

    char *hostname;       /* normalized (lower-case, no trailing dot, A-labels) */
    char *hostname_raw;   /* as sent */
    char *noted_hostname; /* normalized, may be NULL */
    char *noted_hostname_raw;
    int port;               /* 1..65535, 0 = null */
    int include_subdomains; /* -1 absent, 0, 1 */
    int enforce_pinning;    /* -1 absent, 0, 1 */
    bool has_validation_result;
    int64_t validation_result;

    struct report_time client_time; /* date-time (NEL: received - age) */
    struct report_time pins_expire; /* known-pins-expiration-date / effective-... */

    uint8_t (*known_pins)[32]; /* canonical pins: sorted, unique */
    size_t n_known_pins;
    char **known_pins_raw; /* entries that are not pin-sha256 of 32 bytes, as sent */
    size_t n_known_pins_raw;

    struct report_chain served;
    struct report_chain validated;

    struct report_app app;
    struct report_client client;

    json_t *extra; /* owned; format-specific fields (NEL body, scts, ...) */

    struct report_problem *problems;
    size_t n_problems;

    uint8_t raw_sha256[32]; /* SHA-256 of the request body the report came in */
};

/* A new zeroed report (include_subdomains/enforce_pinning = -1). NULL on OOM. */
struct report *report_new(void);
/* Frees everything the report owns. Accepts NULL. */
void report_free(struct report *r);

/* Record a problem (copies the strings). */
enum err_code report_add_problem(struct report *r, const char *code, const char *fmt, ...)
    ERR_PRINTF(3, 4);
bool report_has_problem(const struct report *r, const char *code);

/* Append a chain entry: takes the cert reference or copies the opaque string. */
enum err_code report_chain_append(struct report_chain *ch, struct cert *cert_take,
                                  const char *opaque);
/* Compute ch->sha256 over the decoded certificates (sets has_sha256). */
void report_chain_finish(struct report_chain *ch);
void report_chain_cleanup(struct report_chain *ch);

#endif
