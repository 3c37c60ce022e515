#include "testreceiver.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_HITS 256

struct testreceiver {
    struct MHD_Daemon *d;
    unsigned port;
    pthread_mutex_t lock;
    struct testreceiver_hit hits[MAX_HITS];
    size_t n;
    unsigned fail_n;
    int fail_status;
    unsigned fail_delay_ms;
    unsigned latency_ms;
    struct timespec t0;
};

struct body {
    char *data;
    size_t len;
};

static double since(const struct testreceiver *r)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)(ts.tv_sec - r->t0.tv_sec) + (double)(ts.tv_nsec - r->t0.tv_nsec) / 1e9;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)url;
    (void)version;
    struct testreceiver *r = cls;
    struct body *b = *con_cls;
    if (b == NULL) {
        *con_cls = calloc(1, sizeof(struct body));
        return MHD_YES;
    }
    if (*upload_size > 0) {
        char *grown = realloc(b->data, b->len + *upload_size + 1);
        if (grown == NULL)
            return MHD_NO;
        b->data = grown;
        memcpy(b->data + b->len, upload, *upload_size);
        b->len += *upload_size;
        b->data[b->len] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    int status = strcmp(method, "POST") == 0 ? 200 : 405;
    unsigned delay = 0, latency = 0;
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Pinwatch-Signature");
    pthread_mutex_lock(&r->lock);
    size_t slot = r->n < MAX_HITS ? r->n++ : MAX_HITS;
    if (r->fail_n > 0) {
        r->fail_n--;
        if (r->fail_delay_ms > 0)
            delay = r->fail_delay_ms;
        else
            status = r->fail_status;
    } else {
        latency = r->latency_ms;
    }
    if (slot < MAX_HITS) {
        r->hits[slot].signature = sig != NULL ? strdup(sig) : NULL;
        r->hits[slot].body = strdup(b->data != NULL ? b->data : "");
        r->hits[slot].answered = delay > 0 ? 0 : status;
        r->hits[slot].at = since(r);
    }
    pthread_mutex_unlock(&r->lock);
    if (delay + latency > 0)
        usleep((delay + latency) * 1000u);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
                 enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct body *b = *con_cls;
    if (b != NULL) {
        free(b->data);
        free(b);
    }
    *con_cls = NULL;
}

struct testreceiver *testreceiver_start(void)
{
    struct testreceiver *r = calloc(1, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                MHD_USE_POLL,
                            0, NULL, NULL, answer, r, MHD_OPTION_SOCK_ADDR, &sa,
                            MHD_OPTION_NOTIFY_COMPLETED, done, r, MHD_OPTION_END);
    if (r->d == NULL) {
        free(r);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(r->d, MHD_DAEMON_INFO_BIND_PORT);
    r->port = info->port;
    return r;
}

void testreceiver_stop(struct testreceiver *r)
{
    if (r == NULL)
        return;
    MHD_stop_daemon(r->d);
    for (size_t i = 0; i < r->n && i < MAX_HITS; i++)
        testreceiver_hit_free(&r->hits[i]);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

unsigned testreceiver_port(const struct testreceiver *r)
{
    return r->port;
}

void testreceiver_fail_next(struct testreceiver *r, unsigned n, int status, unsigned delay_ms)
{
    pthread_mutex_lock(&r->lock);
    r->fail_n = n;
    r->fail_status = status;
    r->fail_delay_ms = delay_ms;
    pthread_mutex_unlock(&r->lock);
}

void testreceiver_set_latency(struct testreceiver *r, unsigned ms)
{
    pthread_mutex_lock(&r->lock);
    r->latency_ms = ms;
    pthread_mutex_unlock(&r->lock);
}

size_t testreceiver_count(struct testreceiver *r)
{
    pthread_mutex_lock(&r->lock);
    size_t n = r->n;
    pthread_mutex_unlock(&r->lock);
    return n;
}

struct testreceiver_hit testreceiver_hit(struct testreceiver *r, size_t i)
{
    struct testreceiver_hit h = {0};
    pthread_mutex_lock(&r->lock);
    if (i < r->n && i < MAX_HITS) {
        h = r->hits[i];
        h.signature = h.signature != NULL ? strdup(h.signature) : NULL;
        h.body = strdup(h.body);
    }
    pthread_mutex_unlock(&r->lock);
    return h;
}

void testreceiver_hit_free(struct testreceiver_hit *h)
{
    free(h->signature);
    free(h->body);
    h->signature = h->body = NULL;
}

bool testreceiver_wait(struct testreceiver *r, size_t n, unsigned timeout_ms)
{
    for (unsigned waited = 0; testreceiver_count(r) < n; waited += 50) {
        if (waited >= timeout_ms)
            return false;
        usleep(50000);
    }
    return true;
}

size_t testreceiver_delivered(struct testreceiver *r, const char *rule, json_t **bodies)
{
    size_t count = 0;
    json_t *list = json_array();
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n && i < MAX_HITS; i++) {
        if (r->hits[i].answered < 200 || r->hits[i].answered > 299)
            continue;
        json_t *b = json_loads(r->hits[i].body, 0, NULL);
        const char *got = json_string_value(json_object_get(b, "rule"));
        if (rule == NULL || (got != NULL && strcmp(got, rule) == 0)) {
            count++;
            json_array_append(list, b);
        }
        json_decref(b);
    }
    pthread_mutex_unlock(&r->lock);
    if (bodies != NULL)
        *bodies = list;
    else
        json_decref(list);
    return count;
}

bool testreceiver_verify(const char *secret, const char *signature, const char *body)
{
    long long t;
    char hex[65];
    if (signature == NULL || sscanf(signature, "t=%lld,v1=%64[0-9a-f]", &t, hex) != 2 ||
        strlen(hex) != 64)
        return false;
    char *msg = NULL;
    size_t len = (size_t)snprintf(NULL, 0, "%lld.%s", t, body);
    msg = malloc(len + 1);
    snprintf(msg, len + 1, "%lld.%s", t, body);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)msg, len, mac, &mac_len);
    free(msg);
    char want[65];
    for (unsigned i = 0; i < mac_len && i < 32; i++)
        snprintf(want + 2 * i, 3, "%02x", mac[i]);
    return mac_len == 32 && strcmp(want, hex) == 0 && llabs(t - (long long)time(NULL)) < 600;
}
