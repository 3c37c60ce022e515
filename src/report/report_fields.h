/*
 * report_fields — normalization steps shared by the format parsers (report_pins,
 * report_expect_ct, report_nel), so each SPEC §5 rule is written once. Pure.
 *
 * Convention: a field that is absent or JSON null is simply absent. A field of the wrong type
 * or with an unusable value records a problem on the report and is treated as absent; only the
 * functions documented to do so reject (ERR_INVALID with err filled). ERR_NOMEM is returned
 * when a problem or value could not be stored.
 *
 * Problem codes recorded here: invalid_field, invalid_port, unparseable_date,
 * undecodable_certificate, certificate_text_not_utf8, hostname_not_covered, unknown_keys.
 */
#ifndef REPORT_FIELDS_H
#define REPORT_FIELDS_H

#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"
#include "report/report.h"
#include "report/report_parse.h"

/* Reject (string_too_long) when any string or object key in v is over max bytes. */
enum err_code report_fields_check_strings(const json_t *v, size_t max,
                                          struct err *err) ERR_MUSTCHECK;

/* The required host name at key: missing_field when absent/null, invalid_field when not a
 * string or not normalizable. Sets hostname and hostname_raw. */
/* The end of every format parser: r goes to *out when rc is ERR_OK, else it is freed; returns
 * rc. */
enum err_code report_fields_done(struct report *r, enum err_code rc, struct report **out);

enum err_code report_fields_hostname(struct report *r, const json_t *obj, const char *key,
                                     struct err *err) ERR_MUSTCHECK;

/* Optional noted-hostname: sets noted_hostname_raw and, when it normalizes, noted_hostname. */
enum err_code report_fields_noted(struct report *r, const json_t *obj) ERR_MUSTCHECK;

/* After hostname, noted and include_subdomains are set: hostname_not_covered when needed. */
enum err_code report_fields_coverage(struct report *r) ERR_MUSTCHECK;

/* Optional port: 1..65535 kept; 0 or absent is null (0); anything else null + invalid_port. */
enum err_code report_fields_port(struct report *r, const json_t *obj) ERR_MUSTCHECK;

/* Optional boolean into *out (-1 absent, 0, 1). */
enum err_code report_fields_bool(struct report *r, const json_t *obj, const char *key,
                                 int *out) ERR_MUSTCHECK;

/* Optional string, copied into *out (NULL when absent). */
enum err_code report_fields_string(struct report *r, const json_t *obj, const char *key,
                                   char **out) ERR_MUSTCHECK;

/* Optional client time: raw kept as sent (non-strings as their JSON text), parsed leniently,
 * unparseable_date when it does not parse. Does nothing when t->raw is already set. */
enum err_code report_fields_time(struct report *r, const json_t *obj, const char *key,
                                 struct report_time *t) ERR_MUSTCHECK;

/* Reject (too_many_certificates) when the chain at key is an array longer than max_chain.
 * Separate from report_fields_chain so that every rejection happens before any decoding. */
enum err_code report_fields_chain_check(const json_t *obj, const char *key,
                                        const struct report_parse_opts *opts,
                                        struct err *err) ERR_MUSTCHECK;

/* Optional PEM chain at key decoded into ch (entries that are not certificates are kept
 * opaque, with undecodable_certificate); ch->sha256 computed. */
enum err_code report_fields_chain(struct report *r, const json_t *obj, const char *key,
                                  struct cert_cache *certs, struct report_chain *ch) ERR_MUSTCHECK;

/* Set extra[key] (creating r->extra); takes the reference to value, even on failure. */
enum err_code report_fields_extra_take(struct report *r, const char *key,
                                       json_t *value) ERR_MUSTCHECK;

/* Copy obj[src] (any JSON type) to extra[dst] when present and not null. */
enum err_code report_fields_extra_copy(struct report *r, const json_t *obj, const char *src,
                                       const char *dst) ERR_MUSTCHECK;

/* Keys of obj not in the NULL-terminated known list: appended to extra["unknown_keys"] and
 * summarised in one unknown_keys problem. Never rejects (SPEC §4). */
enum err_code report_fields_unknown_keys(struct report *r, const json_t *obj,
                                         const char *const *known) ERR_MUSTCHECK;

/* JSON text of any value (for keeping a non-string "as sent"); new string or NULL on OOM. */
char *report_fields_json_text(const json_t *v);

/* The browser identity SPEC §5 gives to HPKP, Expect-CT and NEL reports: bundle "web",
 * platform "web", no version or SDK. */
enum err_code report_fields_browser_app(struct report *r) ERR_MUSTCHECK;

#endif
