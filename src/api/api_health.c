#include "api/api_health.h"

#include <stdio.h>
#include <stdlib.h>

#include "api/api_context.h"
#include "base/log.h"
#include "db/db.h"
#include "http/alerter.h"
#include "report/cert_cache.h"
#include "report/literal_cache.h"
#include "store/batcher.h"
#include "store/spool.h"

static void cache_metrics(struct api_context *app, FILE *out);

void api_health_healthz(void *ctx, struct http_request *req, struct http_reply *reply)
{
    (void)ctx;
    (void)req;
    http_reply_json(reply, 200, json_pack("{s:s}", "status", "ok"));
}

void api_health_readyz(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    struct err e = {0};
    uint64_t spooled = spool_pending_units(app->spool);
    if (db_ping(app->pool, &e) != ERR_OK) {
        /* libpq's text names the socket, user, database and pg_hba rule: the log has it, an
         * unauthenticated answer does not. */
        LOG_AT(LOG_LEVEL_WARN, req->rid, "readyz: database unreachable: %s", e.detail);
        http_reply_json(reply, 503,
                        json_pack("{s:s, s:s, s:s, s:I}", "status", "unavailable", "reason",
                                  "database_unreachable", "detail",
                                  "PostgreSQL does not answer; the server log has the cause",
                                  "spooled", (json_int_t)spooled));
        http_reply_header(reply, "Retry-After", "5");
        return;
    }
    if (spooled > 0) {
        http_reply_json(reply, 503,
                        json_pack("{s:s, s:s, s:s, s:I}", "status", "unavailable", "reason",
                                  "spooling", "detail",
                                  "reports are in the spool, waiting to be replayed", "spooled",
                                  (json_int_t)spooled));
        http_reply_header(reply, "Retry-After", "5");
        return;
    }
    http_reply_json(reply, 200,
                    json_pack("{s:s, s:b, s:I}", "status", "ready", "database", 1, "spooled", 0));
}

/* The Prometheus text; with_caches adds the content-cache counters, which tell whether a given
 * chain was reported lately (parsing runs before the rate limit can refuse a body). */
static void metrics(struct api_context *app, bool with_caches, struct http_reply *reply)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out == NULL) {
        http_reply_error(reply, 500, "internal_error", "out of memory");
        return;
    }
    uint64_t counts[600];
    http_server_status_counts(app->http, counts);
    fprintf(out, "# HELP pinwatch_http_requests_total HTTP requests answered, by status.\n"
                 "# TYPE pinwatch_http_requests_total counter\n");
    for (int s = 100; s < 600; s++) {
        if (counts[s] > 0)
            fprintf(out, "pinwatch_http_requests_total{status=\"%d\"} %llu\n", s,
                    (unsigned long long)counts[s]);
    }
    fprintf(out,
            "# HELP pinwatch_reports_accepted_total Reports accepted (durable).\n"
            "# TYPE pinwatch_reports_accepted_total counter\n"
            "pinwatch_reports_accepted_total %llu\n"
            "# HELP pinwatch_reports_ignored_total Reporting API items that are not TLS reports.\n"
            "# TYPE pinwatch_reports_ignored_total counter\n"
            "pinwatch_reports_ignored_total %llu\n"
            "# HELP pinwatch_reports_rejected_total Reports or bodies refused, by reason.\n"
            "# TYPE pinwatch_reports_rejected_total counter\n",
            __atomic_load_n(&app->reports_accepted, __ATOMIC_RELAXED),
            __atomic_load_n(&app->reports_ignored, __ATOMIC_RELAXED));
    for (size_t i = 0; api_context_reject_name(i) != NULL; i++)
        fprintf(out, "pinwatch_reports_rejected_total{reason=\"%s\"} %llu\n",
                api_context_reject_name(i),
                __atomic_load_n(&app->reports_rejected[i], __ATOMIC_RELAXED));
    if (with_caches)
        cache_metrics(app, out);
    batcher_metrics(app->batcher, out);
    alerter_metrics(app->alerter, out);
    fclose(out);
    reply->status = 200;
    reply->content_type = "text/plain; version=0.0.4";
    reply->body = text;
    reply->len = len;
}

void api_health_metrics(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    metrics(app, http_server_authorized(app->http, req), reply);
}

void api_health_metrics_full(void *ctx, struct http_request *req, struct http_reply *reply)
{
    (void)req;
    metrics(ctx, true, reply);
}

static void cache_metrics(struct api_context *app, FILE *out)
{
    /* The content caches: a chain seen before should cost its hashes, not a parse. */
    unsigned long long hits[2], misses[2];
    cert_cache_stats(app->certs, &hits[0], &misses[0]);
    literal_cache_stats(app->literals, &hits[1], &misses[1]);
    fprintf(out,
            "# HELP pinwatch_content_cache_lookups_total Lookups of the content caches, by cache "
            "(certificate: decoded certificates; literal: decoded certificate strings) and "
            "result.\n"
            "# TYPE pinwatch_content_cache_lookups_total counter\n");
    static const char *const caches[] = {"certificate", "literal"};
    for (size_t i = 0; i < 2; i++)
        fprintf(out,
                "pinwatch_content_cache_lookups_total{cache=\"%s\",result=\"hit\"} %llu\n"
                "pinwatch_content_cache_lookups_total{cache=\"%s\",result=\"miss\"} %llu\n",
                caches[i], hits[i], caches[i], misses[i]);
}
