/*
 * probe — the ceiling the benchmark compares pinwatch with: the least an HTTP + JSON ingest
 * server must do. libmicrohttpd in the same threading mode and with the same connection
 * limits as src/http_server.c (a thread per connection, internal polling thread), the POST
 * body accumulated up to the same cap, parsed with json_loadb, then 204. No analysis, no
 * storage. Usage: probe PORT (listens on 127.0.0.1; SIGTERM or SIGINT stops it).
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROBE_MAX_BODY 65536

struct probe_body {
    char *data;
    size_t len;
    size_t cap;
    int too_large;
};

static volatile sig_atomic_t probe_stop;

static void probe_on_signal(int sig)
{
    (void)sig;
    probe_stop = 1;
}

static enum MHD_Result probe_reply(struct MHD_Connection *conn, unsigned status)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result probe_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                        const char *method, const char *version,
                                        const char *upload_data, size_t *upload_data_size,
                                        void **con_cls)
{
    (void)cls;
    (void)url;
    (void)version;
    struct probe_body *b = *con_cls;
    if (b == NULL) {
        if (strcmp(method, "POST") != 0)
            return probe_reply(conn, MHD_HTTP_OK);
        b = calloc(1, sizeof(*b));
        if (b == NULL)
            return MHD_NO;
        *con_cls = b;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (b->too_large || b->len + n > PROBE_MAX_BODY) {
            b->too_large = 1;
            return MHD_YES;
        }
        if (b->len + n > b->cap) {
            size_t cap = b->cap > 0 ? b->cap : 4096;
            while (cap < b->len + n)
                cap *= 2;
            char *grown = realloc(b->data, cap);
            if (grown == NULL)
                return MHD_NO;
            b->data = grown;
            b->cap = cap;
        }
        memcpy(b->data + b->len, upload_data, n);
        b->len += n;
        return MHD_YES;
    }
    if (b->too_large)
        return probe_reply(conn, MHD_HTTP_CONTENT_TOO_LARGE);
    json_error_t jerr;
    json_t *doc = json_loadb(b->data != NULL ? b->data : "", b->len, 0, &jerr);
    unsigned status = doc != NULL ? MHD_HTTP_NO_CONTENT : MHD_HTTP_BAD_REQUEST;
    json_decref(doc);
    return probe_reply(conn, status);
}

static void probe_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                               enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct probe_body *b = *con_cls;
    if (b != NULL) {
        free(b->data);
        free(b);
    }
    *con_cls = NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: probe PORT\n");
        return 2;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = probe_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* The flags and limits of src/http_server.c, so only the per-request work differs. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, ntohs(addr.sin_port), NULL, NULL, probe_on_request, NULL, MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT, 512u,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, 256u, MHD_OPTION_CONNECTION_TIMEOUT, 15u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_THREAD_STACK_SIZE,
        (size_t)(512 * 1024), MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_NOTIFY_COMPLETED,
        probe_on_completed, NULL, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "probe: cannot listen on 127.0.0.1:%s\n", argv[1]);
        return 1;
    }
    while (!probe_stop)
        pause();
    MHD_stop_daemon(d);
    return 0;
}
