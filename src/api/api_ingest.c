#include "api/api_ingest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analysis/analysis.h"
#include "api/api_context.h"
#include "base/log.h"
#include "base/uuid.h"
#include "http/network.h"
#include "http/ratelimit.h"
#include "report/hostname.h"
#include "report/rawbody.h"
#include "report/report_parse.h"
#include "store/batcher.h"
#include "store/store.h"

static const char *const media_types[] = {"application/json", "application/reports+json",
                                          "application/expect-ct-report+json",
                                          "application/csp-report", "text/plain"};

const char *api_ingest_media_type(const char *content_type)
{
    if (content_type == NULL)
        return NULL;
    while (*content_type == ' ' || *content_type == '\t')
        content_type++;
    size_t len = strcspn(content_type, ";");
    while (len > 0 && (content_type[len - 1] == ' ' || content_type[len - 1] == '\t'))
        len--;
    for (size_t i = 0; i < sizeof(media_types) / sizeof(media_types[0]); i++) {
        if (strlen(media_types[i]) == len && strncasecmp(content_type, media_types[i], len) == 0)
            return media_types[i];
    }
    return NULL;
}

bool api_ingest_media_type_ok(const char *content_type)
{
    /* no header at all: judge the body, as for text/plain */
    return content_type == NULL || api_ingest_media_type(content_type) != NULL;
}

static void cors(struct http_reply *reply)
{
    http_reply_header(reply, "Access-Control-Allow-Origin", "*");
}

void api_ingest_refused(void *ctx, struct http_request *req, const char *code)
{
    (void)req;
    struct api_context *app = ctx;
    __atomic_add_fetch(&app->reports_rejected[api_context_reject_slot(code)], 1, __ATOMIC_RELAXED);
}

bool api_ingest_precheck(void *ctx, struct http_request *req, struct http_reply *reply)
{
    const char *ct = http_request_header(req, "Content-Type");
    if (!api_ingest_media_type_ok(ct)) {
        http_reply_error(reply, 415, "unsupported_media_type",
                         "media type is not accepted; send %s, %s, %s, %s or %s", media_types[0],
                         media_types[1], media_types[2], media_types[3], media_types[4]);
        cors(reply);
        api_ingest_refused(ctx, req, "unsupported_media_type");
        return false;
    }
    return true;
}

/* A header list a preflight may ask for: field names (RFC 9110 tokens) and commas. */
static bool header_list_ok(const char *list)
{
    size_t len = strlen(list);
    if (len == 0 || len >= HTTP_HEADER_VALUE_MAX)
        return false;
    for (const char *p = list; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && strchr("!#$%&'*+-.^_`|~, ", *p) == NULL)
            return false;
    }
    return true;
}

void api_ingest_options(void *ctx, struct http_request *req, struct http_reply *reply)
{
    (void)ctx;
    /* The page's own headers are allowed too: any header is harmless on a public endpoint that
     * takes no credentials, and a refused preflight loses the report. */
    const char *asked = http_request_header(req, "Access-Control-Request-Headers");
    http_reply_bytes(reply, 204, "text/plain", "", 0);
    cors(reply);
    http_reply_header(reply, "Access-Control-Allow-Methods", "POST");
    http_reply_header(reply, "Access-Control-Allow-Headers",
                      asked != NULL && header_list_ok(asked) ? asked : "Content-Type");
    http_reply_header(reply, "Access-Control-Max-Age", "86400");
    http_reply_header(reply, "Vary", "Access-Control-Request-Headers");
}

/* Comma list membership; host entries may be "*.example.com". */
static bool listed(const char *list, const char *value, bool patterns)
{
    if (list == NULL || list[0] == '\0')
        return true;
    if (value == NULL)
        return false;
    const char *p = list;
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t len = strcspn(p, ",");
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len > 0 && len < 256) {
            char item[256];
            memcpy(item, p, len);
            item[len] = '\0';
            for (char *c = item; patterns && *c; c++)
                *c = (char)tolower((unsigned char)*c);
            if (patterns ? hostname_matches_pattern(value, item) : strcmp(value, item) == 0)
                return true;
        }
        p += strcspn(p, ",");
    }
    return false;
}

static json_t *reject_json(size_t index, const char *code, const char *detail)
{
    return json_pack("{s:I, s:s, s:s}", "index", (json_int_t)index, "error", code, "detail",
                     detail);
}

static void count_reject(struct api_context *app, const char *key)
{
    __atomic_add_fetch(&app->reports_rejected[api_context_reject_slot(key)], 1, __ATOMIC_RELAXED);
}

/* Turn the accepted reports into one store unit. */
static enum err_code build_unit(struct api_context *app, struct http_request *req,
                                struct report **reports, size_t n, struct rawbody_split *split,
                                struct store_unit *unit, struct err *err)
{
    const char *media_type = api_ingest_media_type(http_request_header(req, "Content-Type"));
    enum err_code rc = store_unit_add_body(app->store, unit, reports[0]->raw_sha256,
                                           req->received_at, req->body.len, media_type, split, err);
    for (size_t i = 0; rc == ERR_OK && i < n; i++) {
        struct analysis_result res;
        rc = analysis_report(app->analysis, reports[i], &res, err);
        if (rc != ERR_OK)
            break;
        rc = store_unit_add_report(app->store, unit, reports[i], &res, err);
        analysis_result_cleanup(&res);
    }
    return rc;
}

void api_ingest_post(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    const struct config *cfg = app->cfg;
    struct report_parse_opts opts;
    report_parse_opts_init(&opts);
    opts.received_at = req->received_at;
    opts.user_agent = http_request_header(req, "User-Agent");
    opts.max_depth = cfg->max_json_depth;
    opts.max_items = cfg->max_reports_per_body;
    opts.max_chain = cfg->max_chain;
    opts.max_pins = cfg->max_pins;
    opts.max_string = cfg->max_string;
    opts.certs = app->certs;
    opts.literals = app->literals;

    struct report_batch batch;
    struct rawbody_split split;
    struct err e = {0};
    json_t *accepted = NULL, *rejected = NULL;
    struct store_unit *unit = NULL;
    struct report **ok = NULL;
    const char *body = req->body.data != NULL ? req->body.data : "";
    memset(&batch, 0, sizeof(batch));
    cors(reply);
    /* Split first: the template is what gets stored, and what the JSON is parsed through. */
    if (rawbody_split(body, req->body.len, &split, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        goto out;
    }
    opts.split = &split;
    if (report_parse_body(body, req->body.len, &opts, &batch, &e) != ERR_OK) {
        count_reject(app, e.key);
        LOG_AT(LOG_LEVEL_DEBUG, req->rid, "ingest rejected: %s", e.key);
        http_reply_err(reply, &e);
        goto out;
    }
    struct network_info net;
    network_identify((const struct sockaddr *)&req->peer,
                     http_request_header(req, "X-Forwarded-For"), cfg->trusted_proxies,
                     cfg->n_trusted_proxies, app->asn_db, &net);

    rejected = json_array();
    accepted = json_array();
    for (size_t i = 0; i < batch.n_rejected; i++) {
        json_array_append_new(rejected,
                              reject_json(batch.rejected[i].index, batch.rejected[i].err.key,
                                          batch.rejected[i].err.detail));
        count_reject(app, batch.rejected[i].err.key);
    }
    ok = calloc(batch.n > 0 ? batch.n : 1, sizeof(*ok));
    if (ok == NULL) {
        http_reply_error(reply, 500, "internal_error", "out of memory");
        goto out;
    }
    size_t n_ok = 0;
    const char *forbidden = NULL;
    for (size_t i = 0; i < batch.n; i++) {
        struct report *r = batch.reports[i];
        const char *code = NULL;
        if (!listed(cfg->allowed_apps, r->app.bundle_id ? r->app.bundle_id : "web", false))
            code = "app_not_allowed";
        else if (!listed(cfg->allowed_hosts, r->hostname, true))
            code = "host_not_allowed";
        if (code != NULL) {
            json_array_append_new(rejected,
                                  reject_json(r->index, code,
                                              strcmp(code, "app_not_allowed") == 0
                                                  ? "app is not in PINWATCH_ALLOWED_APPS"
                                                  : "hostname is not in PINWATCH_ALLOWED_HOSTS"));
            count_reject(app, code);
            forbidden = forbidden ? forbidden : code;
            continue;
        }
        snprintf(r->client.network, sizeof(r->client.network), "%s", net.network);
        if (cfg->store_client_ip)
            snprintf(r->client.ip, sizeof(r->client.ip), "%s", net.ip);
        r->client.asn = net.asn;
        if (net.as_org[0] != '\0')
            r->client.as_org = strdup(net.as_org);
        memcpy(r->client.country, net.country, sizeof(r->client.country));
        if (!uuid_v7(r->received_at, r->id)) {
            http_reply_error(reply, 500, "internal_error", "no randomness for report ids");
            goto out;
        }
        ok[n_ok++] = r;
    }
    if (n_ok == 0) {
        if (forbidden != NULL && batch.ignored == 0) {
            http_reply_error(reply, 403, forbidden, "no report is inside the allow-lists");
        } else if (batch.ignored > 0) {
            __atomic_add_fetch(&app->reports_ignored, batch.ignored, __ATOMIC_RELAXED);
            http_reply_json(reply, 200,
                            json_pack("{s:O, s:I, s:O}", "accepted", accepted, "ignored",
                                      (json_int_t)batch.ignored, "rejected", rejected));
        } else {
            http_reply_json(reply, 400,
                            json_pack("{s:s, s:s, s:O}", "error", "no_valid_report", "detail",
                                      "no item of the body is a valid report", "rejected",
                                      rejected));
        }
        goto out;
    }
    unsigned retry = 0;
    /* A body with more reports than one period allows costs a full bucket, not forever. */
    unsigned cost = (unsigned)n_ok;
    if (cfg->rate_limit_count > 0 && cost > cfg->rate_limit_count)
        cost = cfg->rate_limit_count;
    if (!ratelimit_take(app->ratelimit, net.network, cost, req->received_at, &retry)) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%u", retry);
        count_reject(app, "rate_limited");
        http_reply_error(reply, 429, "rate_limited",
                         "too many reports from this network; retry after %u s", retry);
        http_reply_header(reply, "Retry-After", ra);
        goto out;
    }
    unit = store_unit_new();
    if (unit == NULL || build_unit(app, req, ok, n_ok, &split, unit, &e) != ERR_OK) {
        if (unit == NULL)
            err_set(&e, ERR_NOMEM, NULL, "out of memory");
        log_write(LOG_LEVEL_ERROR, req->rid, "ingest: cannot prepare reports: %s", e.detail);
        http_reply_err(reply, &e);
        goto out;
    }
    enum err_code rc = batcher_submit(app->batcher, unit, &e);
    unit = NULL; /* taken */
    if (rc != ERR_OK) {
        log_write(LOG_LEVEL_ERROR, req->rid, "ingest: not durable: %s", e.detail);
        if (rc == ERR_UNAVAILABLE) {
            http_reply_error(reply, 503, e.key[0] ? e.key : "unavailable",
                             "reports cannot be stored right now: %s", e.detail);
            http_reply_header(reply, "Retry-After", "30");
        } else {
            http_reply_err(reply, &e);
        }
        goto out;
    }
    for (size_t i = 0; i < n_ok; i++)
        json_array_append_new(accepted, json_string(ok[i]->id));
    __atomic_add_fetch(&app->reports_accepted, n_ok, __ATOMIC_RELAXED);
    __atomic_add_fetch(&app->reports_ignored, batch.ignored, __ATOMIC_RELAXED);
    LOG_AT(LOG_LEVEL_DEBUG, req->rid, "ingest accepted=%zu ignored=%zu rejected=%zu", n_ok,
           batch.ignored, json_array_size(rejected));
    http_reply_json(reply, 200,
                    json_pack("{s:O, s:I, s:O}", "accepted", accepted, "ignored",
                              (json_int_t)batch.ignored, "rejected", rejected));
out:
    store_unit_free(unit);
    json_decref(accepted);
    json_decref(rejected);
    free(ok);
    report_batch_cleanup(&batch);
    rawbody_split_cleanup(&split);
}
