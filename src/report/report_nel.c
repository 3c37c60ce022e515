#include "report/report_nel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "report/hostname.h"
#include "report/report_fields.h"

static const char *const item_keys[] = {"age", "type", "url", "user_agent", "body", NULL};

/* NEL body fields kept in extra, with the hyphenated spelling early Chromium used. */
static const struct {
    const char *key, *legacy;
} body_fields[] = {
    {"type", NULL},
    {"phase", NULL},
    {"server_ip", "server-ip"},
    {"protocol", NULL},
    {"status_code", "status-code"},
    {"elapsed_time", "elapsed-time"},
    {"sampling_fraction", "sampling-fraction"},
    {"method", NULL},
};

/* Known keys; the legacy uri and age are not kept (the item's url and age are), with a
 * problem saying so. */
static const char *const body_keys[] = {"type",
                                        "phase",
                                        "server_ip",
                                        "server-ip",
                                        "protocol",
                                        "status_code",
                                        "status-code",
                                        "elapsed_time",
                                        "elapsed-time",
                                        "sampling_fraction",
                                        "sampling-fraction",
                                        "method",
                                        "referrer",
                                        "uri",
                                        "age",
                                        NULL};

bool report_nel_is_reporting_item(const json_t *item)
{
    return json_is_object(item) && json_is_string(json_object_get(item, "type")) &&
           json_is_object(json_object_get(item, "body"));
}

bool report_nel_is_tls(const json_t *item)
{
    if (!report_nel_is_reporting_item(item) ||
        strcmp(json_string_value(json_object_get(item, "type")), "network-error") != 0)
        return false;
    const json_t *type = json_object_get(json_object_get(item, "body"), "type");
    return json_is_string(type) && strncmp(json_string_value(type), "tls.", 4) == 0;
}

static enum err_code bad_url(struct err *err, const char *why)
{
    return err_set(err, ERR_INVALID, "invalid_field", "url: %s", why);
}

/* Digits only, 1..65535. */
static bool parse_port(const char *p, size_t n, int *port)
{
    int v = 0;
    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    if (v < 1 || v > 65535)
        return false;
    *port = v;
    return true;
}

enum err_code report_nel_split_url(const char *url, char **host, int *port, char **clean,
                                   struct err *err)
{
    const char *scheme;
    int default_port;
    if (url == NULL)
        return bad_url(err, "absent");
    if (strncasecmp(url, "https://", 8) == 0) {
        scheme = "https://";
        default_port = 443;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        scheme = "http://";
        default_port = 80;
    } else {
        return bad_url(err, "not an http(s) URL");
    }
    const char *auth = url + strlen(scheme);
    size_t auth_len = strcspn(auth, "/?#");
    const char *path = auth + auth_len;
    size_t path_len = strcspn(path, "?#");

    /* Userinfo ends at the last '@' of the authority; it is dropped everywhere. */
    const char *hp = auth;
    size_t hp_len = auth_len;
    for (size_t i = auth_len; i > 0; i--) {
        if (auth[i - 1] == '@') {
            hp = auth + i;
            hp_len = auth_len - i;
            break;
        }
    }
    size_t host_len;
    const char *port_text = NULL;
    if (hp_len > 0 && hp[0] == '[') {
        const char *rb = memchr(hp, ']', hp_len);
        if (rb == NULL)
            return bad_url(err, "unterminated IPv6 literal");
        host_len = (size_t)(rb - hp) + 1;
        if (host_len < hp_len && hp[host_len] != ':')
            return bad_url(err, "junk after IPv6 literal");
    } else {
        const char *colon = memchr(hp, ':', hp_len);
        host_len = colon != NULL ? (size_t)(colon - hp) : hp_len;
    }
    if (host_len < hp_len)
        port_text = hp + host_len + 1;
    if (host_len == 0)
        return bad_url(err, "no host");
    *port = default_port;
    if (port_text != NULL && port_text < hp + hp_len &&
        !parse_port(port_text, (size_t)(hp + hp_len - port_text), port))
        return bad_url(err, "bad port");

    size_t clean_len = strlen(scheme) + hp_len + path_len;
    char *h = strndup(hp, host_len);
    char *c = malloc(clean_len + 1);
    if (h == NULL || c == NULL) {
        free(h);
        free(c);
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    }
    snprintf(c, clean_len + 1, "%s%.*s%.*s", scheme, (int)hp_len, hp, (int)path_len, path);
    *host = h;
    *clean = c;
    return ERR_OK;
}

/* Which of userinfo, query and fragment an http(s) URL carries, as words ("userinfo and
 * query"); "" when none. A lone '?' or '#' carries nothing. */
static void url_private_parts(const char *url, char *out, size_t len)
{
    const char *parts[3];
    size_t n = 0;
    const char *auth = strstr(url, "://");
    auth = auth != NULL ? auth + 3 : url;
    size_t auth_len = strcspn(auth, "/?#");
    if (memchr(auth, '@', auth_len) != NULL)
        parts[n++] = "userinfo";
    const char *q = strchr(auth, '?'), *f = strchr(auth, '#');
    if (q != NULL && (f == NULL || q < f) && q[1] != '\0' && q[1] != '#')
        parts[n++] = "query";
    if (f != NULL && f[1] != '\0')
        parts[n++] = "fragment";
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s",
                 i == 0       ? ""
                 : i + 1 == n ? " and "
                              : ", ",
                 parts[i]);
    }
}

/* Record what was cut from a URL that is kept without its private parts. */
static enum err_code dropped_parts(struct report *r, const char *label, const char *url)
{
    char parts[64];
    url_private_parts(url, parts, sizeof(parts));
    if (parts[0] == '\0')
        return ERR_OK;
    return report_add_problem(r, "field_dropped", "%s: %s dropped (they can carry user data)",
                              label, parts);
}

/* body.referrer is evidence of where the failing request came from: kept like the url, without
 * userinfo, query and fragment. One that is not an http(s) URL is dropped whole. */
static enum err_code referrer(struct report *r, const json_t *body)
{
    const json_t *v = json_object_get(body, "referrer");
    if (v == NULL || json_is_null(v))
        return ERR_OK;
    if (!json_is_string(v))
        return report_add_problem(r, "invalid_field", "body.referrer is not a string");
    const char *text = json_string_value(v);
    if (text[0] == '\0')
        return report_fields_extra_take(r, "referrer", json_string(""));
    char *host = NULL, *clean = NULL;
    int port;
    struct err why = {0};
    enum err_code rc = report_nel_split_url(text, &host, &port, &clean, &why);
    if (rc == ERR_INVALID)
        return report_add_problem(r, "field_dropped",
                                  "body.referrer: not a usable http(s) URL, dropped whole (it "
                                  "can carry user data)");
    if (rc == ERR_OK)
        rc = report_fields_extra_take(r, "referrer", json_string(clean));
    if (rc == ERR_OK)
        rc = dropped_parts(r, "body.referrer", text);
    free(host);
    free(clean);
    return rc;
}

/* Early Chromium's body.uri and body.age duplicate the item's url and age, which are kept. */
static enum err_code legacy_fields(struct report *r, const json_t *body)
{
    static const char *const keys[] = {"uri", "age"};
    enum err_code rc = ERR_OK;
    for (size_t i = 0; rc == ERR_OK && i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (json_object_get(body, keys[i]) != NULL)
            rc = report_add_problem(r, "field_dropped",
                                    "body.%s: legacy duplicate of the item's %s, not kept", keys[i],
                                    i == 0 ? "url" : "age");
    }
    return rc;
}

/* client_time = receipt - age; client_time_raw keeps the age as sent. */
static enum err_code client_time(struct report *r, const json_t *item, int64_t received_at)
{
    const json_t *age = json_object_get(item, "age");
    if (age == NULL || json_is_null(age))
        return ERR_OK;
    r->client_time.raw =
        json_is_string(age) ? strdup(json_string_value(age)) : report_fields_json_text(age);
    if (r->client_time.raw == NULL)
        return ERR_NOMEM;
    json_int_t ms = json_is_integer(age) ? json_integer_value(age) : -1;
    if (ms < 0 || ms > INT64_MAX / 1000 || received_at < INT64_MIN + ms * 1000)
        return report_add_problem(r, "invalid_field", "age is not a non-negative integer");
    r->client_time.valid = true;
    r->client_time.usec = received_at - ms * 1000;
    return ERR_OK;
}

static enum err_code fill(struct report *r, const json_t *item, const char *url, const char *clean,
                          const struct report_parse_opts *opts)
{
    const json_t *body = json_object_get(item, "body");
    enum err_code rc = client_time(r, item, opts->received_at);
    if (rc == ERR_OK)
        rc = report_fields_string(r, item, "user_agent", &r->client.user_agent);
    for (size_t i = 0; rc == ERR_OK && i < sizeof(body_fields) / sizeof(body_fields[0]); i++) {
        const char *src = body_fields[i].key;
        if (json_object_get(body, src) == NULL && body_fields[i].legacy != NULL)
            src = body_fields[i].legacy;
        rc = report_fields_extra_copy(r, body, src, body_fields[i].key);
    }
    if (rc == ERR_OK)
        rc = report_fields_extra_take(r, "url", json_string(clean));
    if (rc == ERR_OK)
        rc = dropped_parts(r, "url", url);
    if (rc == ERR_OK)
        rc = referrer(r, body);
    if (rc == ERR_OK)
        rc = legacy_fields(r, body);
    if (rc == ERR_OK)
        rc = report_fields_browser_app(r);
    if (rc == ERR_OK)
        rc = report_fields_unknown_keys(r, item, item_keys);
    if (rc == ERR_OK)
        rc = report_fields_unknown_keys(r, body, body_keys);
    return rc;
}

enum err_code report_nel_parse(const json_t *item, const struct report_parse_opts *opts,
                               struct report **out, struct err *err)
{
    char *host = NULL, *clean = NULL;
    struct report *r = NULL;
    struct err why = {0};
    enum err_code rc;

    const json_t *url = json_object_get(item, "url");
    if (url == NULL || json_is_null(url))
        return err_set(err, ERR_INVALID, "missing_field", "no url");
    if (!json_is_string(url))
        return err_set(err, ERR_INVALID, "invalid_field", "url is not a string");
    if ((r = report_new()) == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    r->format = REPORT_FMT_NEL;
    rc = report_nel_split_url(json_string_value(url), &host, &r->port, &clean, err);
    if (rc != ERR_OK)
        goto out;
    rc = hostname_normalize(host, &r->hostname, &why);
    if (rc == ERR_INVALID) {
        rc = err_set(err, ERR_INVALID, "invalid_field", "url host: %s", why.detail);
        goto out;
    }
    if (rc == ERR_OK && (r->hostname_raw = strdup(host)) == NULL)
        rc = ERR_NOMEM;
    if (rc == ERR_OK)
        rc = fill(r, item, json_string_value(url), clean, opts);
    if (rc != ERR_OK) {
        err_set(err, rc, NULL, "out of memory");
        goto out;
    }
    *out = r;
    r = NULL;
out:
    free(host);
    free(clean);
    report_free(r);
    return rc;
}
