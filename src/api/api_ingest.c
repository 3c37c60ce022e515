#include "api/api_ingest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analysis/analysis.h"
#include "api/api_allowlist.h"
#include "api/api_context.h"
#include "base/log.h"
#include "base/uuid.h"
#include "http/network.h"
#include "http/ratelimit.h"
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

/*
 * One POST /v1/reports, step by step as SPEC §4 reads: parse the body into reports, identify
 * the client, admit the reports inside the allow-lists, answer when nothing is left to store,
 * take the rate limit, make the reports durable, answer with their ids. Each step returns
 * false once it has answered.
 */
struct ingest {
    struct api_context *app;
    struct http_request *req;
    struct http_reply *reply;
    const char *body;
    struct rawbody_split split;  /* the body as stored, and what the JSON is parsed through */
    struct report_batch batch;   /* every report of the body, and the items refused */
    struct network_info net;     /* the client */
    json_t *accepted, *rejected; /* the answer's lists */
    struct report **ok;          /* the admitted reports, borrowed from batch */
    size_t n_ok;
    const char *forbidden; /* the first allow-list refusal, for the 403 */
};

static void ingest_init(struct ingest *in, struct api_context *app, struct http_request *req,
                        struct http_reply *reply)
{
    memset(in, 0, sizeof(*in));
    in->app = app;
    in->req = req;
    in->reply = reply;
    in->body = req->body.data != NULL ? req->body.data : "";
}

static void ingest_cleanup(struct ingest *in)
{
    json_decref(in->accepted);
    json_decref(in->rejected);
    free(in->ok);
    report_batch_cleanup(&in->batch);
    rawbody_split_cleanup(&in->split);
}

static void parse_opts(const struct ingest *in, struct report_parse_opts *opts)
{
    const struct config *cfg = in->app->cfg;
    report_parse_opts_init(opts);
    opts->received_at = in->req->received_at;
    opts->user_agent = http_request_header(in->req, "User-Agent");
    opts->max_depth = cfg->max_json_depth;
    opts->max_items = cfg->max_reports_per_body;
    opts->max_chain = cfg->max_chain;
    opts->max_pins = cfg->max_pins;
    opts->max_string = cfg->max_string;
    opts->certs = in->app->certs;
    opts->literals = in->app->literals;
    opts->split = &in->split;
}

/* The body into reports: 400 when it is not JSON or not a known shape. Items refused one by
 * one are listed in the answer. */
static bool parse_body(struct ingest *in)
{
    struct err e = {0};
    /* Split first: the template is what gets stored, and what the JSON is parsed through. */
    if (rawbody_split(in->body, in->req->body.len, &in->split, &e) != ERR_OK) {
        http_reply_err(in->reply, &e);
        return false;
    }
    struct report_parse_opts opts;
    parse_opts(in, &opts);
    if (report_parse_body(in->body, in->req->body.len, &opts, &in->batch, &e) != ERR_OK) {
        count_reject(in->app, e.key);
        LOG_AT(LOG_LEVEL_DEBUG, in->req->rid, "ingest rejected: %s", e.key);
        http_reply_err(in->reply, &e);
        return false;
    }
    in->accepted = json_array();
    in->rejected = json_array();
    for (size_t i = 0; i < in->batch.n_rejected; i++) {
        const struct report_reject *rj = &in->batch.rejected[i];
        json_array_append_new(in->rejected, reject_json(rj->index, rj->err.key, rj->err.detail));
        count_reject(in->app, rj->err.key);
    }
    return true;
}

/* The client: the peer, or the address a trusted proxy forwarded. */
static void identify_client(struct ingest *in)
{
    const struct config *cfg = in->app->cfg;
    /* Every X-Forwarded-For line: a proxy may add its own after the client's forged one. */
    char *xff = http_request_header_joined(in->req, "X-Forwarded-For");
    network_identify((const struct sockaddr *)&in->req->peer, xff, cfg->trusted_proxies,
                     cfg->n_trusted_proxies, in->app->asn_db, &in->net);
    free(xff);
}

/* The allow-list refusal of r, or NULL when r may be stored. */
static const char *refusal(const struct api_context *app, const struct report *r)
{
    if (!api_allowlist_allows(&app->allowed_apps, r->app.bundle_id ? r->app.bundle_id : "web"))
        return "app_not_allowed";
    if (!api_allowlist_allows(&app->allowed_hosts, r->hostname))
        return "host_not_allowed";
    return NULL;
}

/* What is kept of the client on a report (SPEC §5: the network, the full address only when
 * PINWATCH_STORE_CLIENT_IP is set) and its id. */
static bool stamp(struct ingest *in, struct report *r)
{
    const struct network_info *net = &in->net;
    snprintf(r->client.network, sizeof(r->client.network), "%s", net->network);
    if (in->app->cfg->store_client_ip)
        snprintf(r->client.ip, sizeof(r->client.ip), "%s", net->ip);
    r->client.asn = net->asn;
    if (net->as_org[0] != '\0')
        r->client.as_org = strdup(net->as_org);
    memcpy(r->client.country, net->country, sizeof(r->client.country));
    if (!uuid_v7(r->received_at, r->id)) {
        http_reply_error(in->reply, 500, "internal_error", "no randomness for report ids");
        return false;
    }
    return true;
}

/* The reports inside the allow-lists, stamped; the others are listed as refused. */
static bool admit_reports(struct ingest *in)
{
    in->ok = calloc(in->batch.n > 0 ? in->batch.n : 1, sizeof(*in->ok));
    if (in->ok == NULL) {
        http_reply_error(in->reply, 500, "internal_error", "out of memory");
        return false;
    }
    for (size_t i = 0; i < in->batch.n; i++) {
        struct report *r = in->batch.reports[i];
        const char *code = refusal(in->app, r);
        if (code != NULL) {
            json_array_append_new(in->rejected,
                                  reject_json(r->index, code,
                                              strcmp(code, "app_not_allowed") == 0
                                                  ? "app is not in PINWATCH_ALLOWED_APPS"
                                                  : "hostname is not in PINWATCH_ALLOWED_HOSTS"));
            count_reject(in->app, code);
            in->forbidden = in->forbidden ? in->forbidden : code;
            continue;
        }
        if (!stamp(in, r))
            return false;
        in->ok[in->n_ok++] = r;
    }
    return true;
}

static void reply_lists(struct ingest *in)
{
    http_reply_json(in->reply, 200,
                    json_pack("{s:O, s:I, s:O}", "accepted", in->accepted, "ignored",
                              (json_int_t)in->batch.ignored, "rejected", in->rejected));
}

/* No report to store: 403 when the allow-lists refused them all, 200 for a batch of ignored
 * items (so browsers do not retry it), 400 otherwise. */
static bool something_to_store(struct ingest *in)
{
    if (in->n_ok > 0)
        return true;
    if (in->forbidden != NULL && in->batch.ignored == 0) {
        http_reply_error(in->reply, 403, in->forbidden, "no report is inside the allow-lists");
    } else if (in->batch.ignored > 0) {
        __atomic_add_fetch(&in->app->reports_ignored, in->batch.ignored, __ATOMIC_RELAXED);
        reply_lists(in);
    } else {
        http_reply_json(in->reply, 400,
                        json_pack("{s:s, s:s, s:O}", "error", "no_valid_report", "detail",
                                  "no item of the body is a valid report", "rejected",
                                  in->rejected));
    }
    return false;
}

/* n tokens from the client network's bucket: 429 with Retry-After otherwise. */
static bool take_tokens(struct ingest *in, unsigned n)
{
    unsigned retry = 0;
    if (ratelimit_take(in->app->ratelimit, in->net.network, n, in->req->received_at, &retry))
        return true;
    char ra[16];
    snprintf(ra, sizeof(ra), "%u", retry);
    count_reject(in->app, "rate_limited");
    http_reply_error(in->reply, 429, "rate_limited",
                     "too many reports from this network; retry after %u s", retry);
    http_reply_header(in->reply, "Retry-After", ra);
    return false;
}

/* A body costs one report before it is parsed (certificates decoded, chains analysed): the
 * expensive work is never free for a network over its limit. */
static bool within_rate_limit_to_parse(struct ingest *in)
{
    return take_tokens(in, 1);
}

/* One token per report from the client network's bucket, the one taken to parse included. */
static bool within_rate_limit(struct ingest *in)
{
    const struct config *cfg = in->app->cfg;
    /* A body with more reports than one period allows costs a full bucket, not forever. */
    unsigned cost = (unsigned)in->n_ok;
    if (cfg->rate_limit_count > 0 && cost > cfg->rate_limit_count)
        cost = cfg->rate_limit_count;
    return cost <= 1 || take_tokens(in, cost - 1);
}

/* Analyse the admitted reports and hand them to the batcher, which answers once they are
 * committed or spooled: 503 with Retry-After when neither can take them. */
static bool store_durably(struct ingest *in)
{
    struct err e = {0};
    struct store_unit *unit = store_unit_new();
    if (unit == NULL ||
        build_unit(in->app, in->req, in->ok, in->n_ok, &in->split, unit, &e) != ERR_OK) {
        if (unit == NULL)
            err_set(&e, ERR_NOMEM, NULL, "out of memory");
        log_write(LOG_LEVEL_ERROR, in->req->rid, "ingest: cannot prepare reports: %s", e.detail);
        http_reply_err(in->reply, &e);
        store_unit_free(unit);
        return false;
    }
    enum err_code rc = batcher_submit(in->app->batcher, unit, &e); /* takes unit */
    if (rc == ERR_OK)
        return true;
    log_write(LOG_LEVEL_ERROR, in->req->rid, "ingest: not durable: %s", e.detail);
    if (rc == ERR_UNAVAILABLE) {
        http_reply_error(in->reply, 503, e.key[0] ? e.key : "unavailable",
                         "reports cannot be stored right now: %s", e.detail);
        http_reply_header(in->reply, "Retry-After", "30");
    } else {
        http_reply_err(in->reply, &e);
    }
    return false;
}

/* 200: the ids of the durable reports in input order, the ignored count, the refusals. */
static void reply_accepted(struct ingest *in)
{
    for (size_t i = 0; i < in->n_ok; i++)
        json_array_append_new(in->accepted, json_string(in->ok[i]->id));
    __atomic_add_fetch(&in->app->reports_accepted, in->n_ok, __ATOMIC_RELAXED);
    __atomic_add_fetch(&in->app->reports_ignored, in->batch.ignored, __ATOMIC_RELAXED);
    LOG_AT(LOG_LEVEL_DEBUG, in->req->rid, "ingest accepted=%zu ignored=%zu rejected=%zu", in->n_ok,
           in->batch.ignored, json_array_size(in->rejected));
    reply_lists(in);
}

void api_ingest_post(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct ingest in;
    ingest_init(&in, ctx, req, reply);
    cors(reply);
    identify_client(&in);
    if (within_rate_limit_to_parse(&in) && parse_body(&in) && admit_reports(&in) &&
        something_to_store(&in) && within_rate_limit(&in) && store_durably(&in))
        reply_accepted(&in);
    ingest_cleanup(&in);
}
