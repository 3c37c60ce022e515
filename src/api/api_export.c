#include "api/api_export.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/groups.h"
#include "api/api_context.h"
#include "api/api_common.h"
#include "base/log.h"
#include "db/db.h"
#include "store/export.h"
#include "store/query.h"
#include "store/signing.h"

/* Bytes between the producer and the connection: enough to keep the socket busy while the
 * next batch of reports is fetched, small enough not to matter per concurrent export. */
#define QUEUE_BYTES (256 * 1024)
/* Largest piece libmicrohttpd asks for at once (it fits the 64 KiB connection memory). */
#define READ_BLOCK (32 * 1024)

/*
 * One export in flight. The producer thread writes the bundle into ring; the connection
 * thread (reader) drains it. Freed by stream_free once libmicrohttpd is done with the
 * response, which stops the producer first if the client left early.
 */
struct export_stream {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* signalled on every change of len, done or cancelled */
    unsigned char *ring; /* QUEUE_BYTES */
    size_t head;         /* next byte to send */
    size_t len;          /* bytes queued */
    bool done;           /* the producer has finished */
    bool failed;         /* ... without completing the bundle */
    bool cancelled;      /* the response is gone: stop producing */
    bool thread_started;
    pthread_t thread;
    PGconn *conn; /* the producer's own connection */
    struct query_filters filters;
    int64_t now;
    EVP_PKEY *key;                        /* borrowed from the api_context */
    const struct expected_keys *expected; /* borrowed from the api_context */
    char rid[24];
};

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* export_sink_fn: block while the queue is full; fail once nobody will read any more. */
static enum err_code queue_push(void *ctx, const void *data, size_t len)
{
    struct export_stream *s = ctx;
    const unsigned char *p = data;
    pthread_mutex_lock(&s->lock);
    while (len > 0 && !s->cancelled) {
        if (s->len == QUEUE_BYTES) {
            pthread_cond_wait(&s->cond, &s->lock);
            continue;
        }
        size_t tail = (s->head + s->len) % QUEUE_BYTES;
        size_t n = min3(len, QUEUE_BYTES - s->len, QUEUE_BYTES - tail);
        memcpy(s->ring + tail, p, n);
        s->len += n;
        p += n;
        len -= n;
        pthread_cond_broadcast(&s->cond);
    }
    bool cancelled = s->cancelled;
    pthread_mutex_unlock(&s->lock);
    return cancelled ? ERR_UNAVAILABLE : ERR_OK;
}

static void *producer(void *arg)
{
    struct export_stream *s = arg;
    struct export_stats st;
    struct err e = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* The bundle states verdicts and reasons: bring the groups that changed since their last
     * evaluation up to date first, as every read of the API does. */
    unsigned evaluated = 0;
    if (groups_evaluate(s->conn, s->expected, false, 10000, &evaluated, &e) != ERR_OK)
        LOG_AT(LOG_LEVEL_WARN, s->rid, "export: verdicts not brought up to date: %s", e.detail);
    enum err_code rc =
        export_bundle_write(s->conn, &s->filters, s->now, s->key, queue_push, s, &st, &e);
    PQfinish(s->conn);
    s->conn = NULL;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long ms = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (rc == ERR_OK)
        LOG_AT(LOG_LEVEL_INFO, s->rid,
               "export: %llu reports, %llu raw bodies (%llu missing), %llu chains, %llu bytes"
               " in %lld ms",
               (unsigned long long)st.reports, (unsigned long long)st.raw_files,
               (unsigned long long)st.raw_missing, (unsigned long long)st.chains,
               (unsigned long long)st.bytes, ms);
    else
        LOG_AT(LOG_LEVEL_WARN, s->rid, "export stopped after %llu bytes: %s",
               (unsigned long long)st.bytes, e.detail);
    pthread_mutex_lock(&s->lock);
    s->done = true;
    s->failed = rc != ERR_OK;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* MHD_ContentReaderCallback. Connections have a thread each here, so waiting for the
 * producer is allowed (returning 0 would make libmicrohttpd spin). */
static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct export_stream *s = cls;
    pthread_mutex_lock(&s->lock);
    while (s->len == 0 && !s->done)
        pthread_cond_wait(&s->cond, &s->lock);
    ssize_t n;
    if (s->len > 0) {
        size_t k = min3(s->len, max, QUEUE_BYTES - s->head);
        memcpy(out, s->ring + s->head, k);
        s->head = (s->head + k) % QUEUE_BYTES;
        s->len -= k;
        pthread_cond_broadcast(&s->cond);
        n = (ssize_t)k;
    } else {
        n = s->failed ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void stream_destroy(struct export_stream *s)
{
    if (s == NULL)
        return;
    PQfinish(s->conn);
    query_filters_cleanup(&s->filters);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s->ring);
    free(s);
}

/* MHD_ContentReaderFreeCallback: the response is finished or abandoned. */
static void stream_free(void *cls)
{
    struct export_stream *s = cls;
    pthread_mutex_lock(&s->lock);
    s->cancelled = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (s->thread_started)
        pthread_join(s->thread, NULL);
    stream_destroy(s);
}

/* The report list's filters; an export is never paged. */
static const char *export_param(void *req, const char *name)
{
    if (strcmp(name, "limit") == 0 || strcmp(name, "cursor") == 0)
        return NULL;
    return api_common_query_param(req, name);
}

static struct export_stream *stream_new(void)
{
    struct export_stream *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->ring = malloc(QUEUE_BYTES);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (s->ring == NULL) {
        stream_destroy(s);
        return NULL;
    }
    return s;
}

void api_export_get(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct api_context *app = ctx;
    struct err e = {0};
    struct export_stream *s = stream_new();
    if (s == NULL) {
        http_reply_error(reply, 500, "internal_error", "out of memory");
        return;
    }
    if (query_filters_parse(export_param, req, req->received_at, &s->filters, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        stream_destroy(s);
        return;
    }
    /* A connection of its own: an export may take minutes and must not hold one of the
     * pool's, which serve the rest of the admin API. */
    if (db_connect(app->cfg->database_url, &s->conn, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        http_reply_header(reply, "Retry-After", "5");
        stream_destroy(s);
        return;
    }
    s->now = req->received_at;
    s->key = app->signing_key;
    s->expected = app->expected;
    snprintf(s->rid, sizeof(s->rid), "%s", req->rid);
    if (pthread_create(&s->thread, NULL, producer, s) != 0) {
        http_reply_error(reply, 500, "internal_error", "cannot start the export");
        stream_destroy(s);
        return;
    }
    s->thread_started = true;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, READ_BLOCK, reader, s, stream_free);
    if (resp == NULL) {
        stream_free(s);
        http_reply_error(reply, 500, "internal_error", "out of memory");
        return;
    }
    char name[64], disposition[96];
    export_filename(s->now, name, sizeof(name));
    snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s\"", name);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/gzip");
    MHD_add_response_header(resp, "Content-Disposition", disposition);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    reply->status = 200;
    reply->response = resp;
}

void api_export_signing_key(void *ctx, struct http_request *req, struct http_reply *reply)
{
    (void)req;
    struct api_context *app = ctx;
    struct buf pem;
    buf_init(&pem, 0);
    char fpr[SIGNING_FPR_HEX];
    if (signing_public_pem(app->signing_key, &pem) != ERR_OK ||
        signing_fingerprint(app->signing_key, fpr) != ERR_OK) {
        buf_cleanup(&pem);
        http_reply_error(reply, 500, "internal_error", "out of memory");
        return;
    }
    http_reply_bytes(reply, 200, "application/x-pem-file", pem.data, pem.len);
    http_reply_header(reply, "X-Key-Fingerprint", fpr);
    buf_cleanup(&pem);
}
