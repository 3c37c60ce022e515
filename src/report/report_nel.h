/*
 * report_nel — Network Error Logging reports of TLS failures, one Reporting API item
 * ({age, type, url, user_agent, body}) at a time. Pure.
 */
#ifndef REPORT_NEL_H
#define REPORT_NEL_H

#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"
#include "report/report.h"
#include "report/report_parse.h"

/* A Reporting API item: an object with a string "type" and an object "body". */
bool report_nel_is_reporting_item(const json_t *item);

/* A Reporting API item that pinwatch stores: type "network-error" and body.type "tls.*". */
bool report_nel_is_tls(const json_t *item);

/*
 * Normalize one tls.* network-error item (borrowed) into a new report in *out (caller frees).
 * hostname and port come from the item's url (http/https only; port defaults to 80/443);
 * client_time = opts->received_at - age ms, client_time.raw the age as sent; user_agent from
 * the item. extra gets "type", "phase", "server_ip", "protocol", "status_code",
 * "elapsed_time", "sampling_fraction", "method" from the body (legacy hyphenated spellings
 * accepted), "url" and "referrer" without userinfo, query or fragment (they can carry user
 * data; what is cut is recorded as a field_dropped problem, and a referrer that is not an
 * http(s) URL is dropped whole, on record too). App is "web". Rejects (ERR_INVALID) for
 * missing_field (url) and invalid_field (url not a string, not http(s), no usable host or port).
 */
enum err_code report_nel_parse(const json_t *item, const struct report_parse_opts *opts,
                               struct report **out, struct err *err) ERR_MUSTCHECK;

/*
 * Split an http(s) URL into its host (as written, brackets kept for IPv6; new string), its
 * port (explicit, or 80/443 by scheme) and the URL without userinfo, query and fragment (new
 * string). ERR_INVALID with key "invalid_field" otherwise. Exposed for tests.
 */
enum err_code report_nel_split_url(const char *url, char **host, int *port, char **clean,
                                   struct err *err) ERR_MUSTCHECK;

#endif
