#include "http/http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/json_text.h"
#include "base/log.h"
#include "http/header_deadline.h"

/* Bytes of an oversized body drained before giving up on answering it with 413. */
#define HTTP_DRAIN_MIN          (64u << 20)
#define HTTP_DRAIN_CEILING(max) ((max)*4 > HTTP_DRAIN_MIN ? (max)*4 : HTTP_DRAIN_MIN)

struct http_server {
    struct MHD_Daemon *daemon;
    const struct config *cfg;
    const struct http_route *routes;
    size_t n_routes;
    void *ctx;
    http_refused_fn *refused;
    uint16_t port;
    MHD_socket quiesced_fd;
    unsigned long rid_prefix;
    unsigned long rid_counter;   /* atomic */
    long active;                 /* atomic: requests between first call and completion */
    uint64_t status_counts[600]; /* atomic */
    unsigned char token_digest[SHA256_DIGEST_LENGTH];
    bool has_token;
    struct header_deadline *headers; /* the whole-header deadline */
};

static int64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    log_warn("http: %s", msg);
}

/* ---- replies ---- */

void http_reply_bytes(struct http_reply *reply, int status, const char *content_type,
                      const void *data, size_t len)
{
    free(reply->body);
    reply->status = status;
    reply->content_type = content_type;
    reply->body = malloc(len + 1);
    reply->len = reply->body != NULL ? len : 0;
    if (reply->body != NULL) {
        memcpy(reply->body, data, len);
        reply->body[len] = '\0';
    }
}

void http_reply_json(struct http_reply *reply, int status, json_t *take)
{
    free(reply->body);
    reply->status = status;
    reply->content_type = "application/json";
    reply->body = json_text_dump(take);
    reply->len = reply->body != NULL ? strlen(reply->body) : 0;
    json_decref(take);
    if (reply->body == NULL) {
        reply->status = 500;
        reply->body = strdup("{\"error\":\"internal_error\",\"detail\":\"out of memory\"}");
        reply->len = reply->body != NULL ? strlen(reply->body) : 0;
    }
}

void http_reply_json_text(struct http_reply *reply, int status, char *take, size_t len)
{
    free(reply->body);
    reply->body = NULL;
    reply->len = 0;
    if (take == NULL) {
        http_reply_error(reply, 500, "internal_error", "out of memory");
        return;
    }
    reply->status = status;
    reply->content_type = "application/json";
    reply->body = take;
    reply->len = json_text_compact(take, len);
}

void http_reply_error(struct http_reply *reply, int status, const char *code, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    http_reply_json(reply, status, json_pack("{s:s, s:s}", "error", code, "detail", detail));
}

void http_reply_err(struct http_reply *reply, const struct err *err)
{
    http_reply_error(reply, err_http_status(err->code),
                     err->key[0] ? err->key : err_default_key(err->code), "%s", err->detail);
}

void http_reply_header(struct http_reply *reply, const char *name, const char *value)
{
    if (reply->n_headers >= HTTP_MAX_HEADERS)
        return;
    reply->header_names[reply->n_headers] = name;
    snprintf(reply->header_values[reply->n_headers], sizeof(reply->header_values[0]), "%s", value);
    reply->n_headers++;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

struct joined {
    const char *name;
    struct buf *out;
    bool oom;
};

static enum MHD_Result join_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    struct joined *j = cls;
    if (key == NULL || value == NULL || strcasecmp(key, j->name) != 0)
        return MHD_YES;
    if ((j->out->len > 0 && buf_append(j->out, ", ", 2) != ERR_OK) ||
        buf_append_str(j->out, value) != ERR_OK)
        j->oom = true;
    return MHD_YES;
}

char *http_request_header_joined(const struct http_request *req, const char *name)
{
    struct buf out;
    buf_init(&out, 0);
    struct joined j = {name, &out, false};
    /* MHD keeps the headers in the order they came, and iterates them all. */
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, join_value, &j);
    if (j.oom || out.len == 0 || buf_append(&out, "", 1) != ERR_OK) {
        buf_cleanup(&out);
        return NULL;
    }
    return out.data; /* the buffer's bytes, NUL-terminated, now the caller's */
}

const char *http_request_query(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- routing ---- */

/* Match "/a/{x}/b" against path; captures point into the NUL-split copy. */
static bool route_match(const char *pattern, char *path_copy, const char **params, size_t *n)
{
    const char *p = pattern;
    char *s = path_copy;
    size_t count = 0;
    while (*p != '\0' && *s != '\0') {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (close == NULL || count >= HTTP_MAX_PARAMS)
                return false;
            char *end = strchr(s, '/');
            if (end == s)
                return false;
            params[count++] = s;
            p = close + 1;
            if (end == NULL) {
                s += strlen(s);
            } else {
                if (*p != '/')
                    return false;
                *end = '\0';
                s = end + 1;
                p++;
            }
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    if (*p != '\0' || *s != '\0')
        return false;
    *n = count;
    return true;
}

/* Add a method to the Allow list of a 405 ("GET, PUT"), once. */
static void allow_add(char *allow, size_t size, const char *method)
{
    size_t mlen = strlen(method);
    const char *p = allow;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        if (n == mlen && strncmp(p, method, mlen) == 0)
            return;
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
    }
    size_t used = strlen(allow);
    snprintf(allow + used, size - used, "%s%s", used > 0 ? ", " : "", method);
}

/* Find the route; *method_mismatch tells 405 from 404, and allow then lists the methods the
 * path has. */
static const struct http_route *find_route(struct http_server *srv, struct http_request *req,
                                           bool *method_mismatch, char *allow, size_t allow_size)
{
    *method_mismatch = false;
    allow[0] = '\0';
    for (size_t i = 0; i < srv->n_routes; i++) {
        const struct http_route *r = &srv->routes[i];
        free(req->path_copy);
        req->path_copy = strdup(req->path);
        if (req->path_copy == NULL)
            return NULL;
        size_t n = 0;
        if (!route_match(r->pattern, req->path_copy, req->params, &n))
            continue;
        if (strcmp(r->method, req->method) != 0) {
            *method_mismatch = true;
            allow_add(allow, allow_size, r->method);
            continue;
        }
        req->n_params = n;
        return r;
    }
    return NULL;
}

static bool token_ok(const struct http_server *srv, const struct http_request *req)
{
    if (!srv->has_token)
        return false;
    const char *auth = http_request_header(req, "Authorization");
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *tok = auth + 7;
    while (*tok == ' ')
        tok++;
    /* Compare digests so neither the content nor the length leaks through timing. */
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)tok, strlen(tok), digest);
    return CRYPTO_memcmp(digest, srv->token_digest, sizeof(digest)) == 0;
}

bool http_server_authorized(const struct http_server *srv, const struct http_request *req)
{
    return srv != NULL && token_ok(srv, req);
}

static bool is_admin_path(const char *path)
{
    return strcmp(path, "/v1") == 0 || strncmp(path, "/v1/", 4) == 0;
}

struct query_scan {
    const char *keys[HTTP_MAX_QUERY_PARAMS];
    size_t n;
    const char *repeated; /* first key given twice */
    bool too_many;
};

static enum MHD_Result scan_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    (void)value;
    struct query_scan *q = cls;
    if (key == NULL)
        return MHD_YES;
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->keys[i], key) == 0) {
            q->repeated = key;
            return MHD_NO;
        }
    }
    if (q->n == HTTP_MAX_QUERY_PARAMS) {
        q->too_many = true;
        return MHD_NO;
    }
    q->keys[q->n++] = key;
    return MHD_YES;
}

/* Every admin parameter takes one value: a repeated one would silently lose all but the first
 * (libmicrohttpd's lookup answers the first), so it is refused. */
static bool query_ok(struct http_request *req, struct http_reply *reply)
{
    struct query_scan q = {.n = 0};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, scan_query, &q);
    if (q.repeated != NULL) {
        http_reply_error(reply, 400, "invalid_parameter",
                         "%.64s: given more than once; give one value", q.repeated);
        return false;
    }
    if (q.too_many) {
        http_reply_error(reply, 400, "invalid_parameter", "more than %d query parameters",
                         HTTP_MAX_QUERY_PARAMS);
        return false;
    }
    return true;
}

static void tell_refused(struct http_server *srv, struct http_request *req, const char *code)
{
    const struct http_route *route = req->route;
    if (route != NULL && (route->flags & HTTP_ROUTE_COUNTED) && srv->refused != NULL)
        srv->refused(srv->ctx, req, code);
}

/* Headers are in: authenticate, route, check declared length. false = answer now. */
static bool begin(struct http_server *srv, struct http_request *req, struct http_reply *reply)
{
    bool mismatch;
    char allow[64];
    const struct http_route *route = find_route(srv, req, &mismatch, allow, sizeof(allow));
    if (is_admin_path(req->path) && (route == NULL || !(route->flags & HTTP_ROUTE_PUBLIC)) &&
        !token_ok(srv, req)) {
        http_reply_error(reply, 401, "unauthorized", "a valid bearer token is required");
        http_reply_header(reply, "WWW-Authenticate", "Bearer");
        return false;
    }
    if (route == NULL) {
        if (mismatch) {
            http_reply_error(reply, 405, "method_not_allowed", "%s is not allowed here; use %s",
                             req->method, allow);
            http_reply_header(reply, "Allow", allow);
        } else
            http_reply_error(reply, 404, "not_found", "no such endpoint");
        return false;
    }
    req->route = route;
    if (is_admin_path(req->path) && !(route->flags & HTTP_ROUTE_PUBLIC) && !query_ok(req, reply))
        return false;
    if (route->flags & HTTP_ROUTE_BODY) {
        const char *cl = http_request_header(req, "Content-Length");
        if (cl != NULL) {
            char *end;
            unsigned long long v = strtoull(cl, &end, 10);
            if (*end == '\0' && v > srv->cfg->max_body) {
                http_reply_error(reply, 413, "body_too_large",
                                 "body of %llu bytes is over the limit of %zu", v,
                                 srv->cfg->max_body);
                tell_refused(srv, req, "body_too_large");
                return false;
            }
        }
    }
    if (route->precheck != NULL && !route->precheck(srv->ctx, req, reply))
        return false;
    return true;
}

static enum MHD_Result send_reply(struct http_server *srv, struct http_request *req,
                                  struct http_reply *reply)
{
    struct MHD_Response *resp = reply->response;
    if (resp == NULL) {
        if (reply->body == NULL)
            http_reply_error(reply, 500, "internal_error", "no answer was produced");
        resp = MHD_create_response_from_buffer(reply->len, reply->body, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL) {
            free(reply->body);
            return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                reply->content_type ? reply->content_type : "application/json");
    } else {
        free(reply->body);
    }
    reply->body = NULL;
    MHD_add_response_header(resp, "X-Request-Id", req->rid);
    bool has_cors = false;
    for (size_t i = 0; i < reply->n_headers; i++) {
        MHD_add_response_header(resp, reply->header_names[i], reply->header_values[i]);
        has_cors |= strcasecmp(reply->header_names[i], "Access-Control-Allow-Origin") == 0;
    }
    /* Refusals the server makes itself (413) must be readable by the page that sent the
     * report, like the handler's own answers. */
    const struct http_route *route = req->route;
    if (!has_cors && route != NULL && (route->flags & HTTP_ROUTE_CORS))
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    int status = reply->status >= 100 && reply->status < 600 ? reply->status : 500;
    req->status = status;
    __atomic_add_fetch(&srv->status_counts[status], 1, __ATOMIC_RELAXED);
    enum MHD_Result ret = MHD_queue_response(req->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static struct http_request *request_new(struct http_server *srv, struct MHD_Connection *conn,
                                        const char *url, const char *method)
{
    struct http_request *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL;
    unsigned long n = __atomic_add_fetch(&srv->rid_counter, 1, __ATOMIC_RELAXED);
    snprintf(req->rid, sizeof(req->rid), "%06lx-%06lx", srv->rid_prefix & 0xffffff, n & 0xffffff);
    snprintf(req->method, sizeof(req->method), "%s", method);
    size_t plen = strcspn(url, "?");
    req->path = strndup(url, plen);
    req->conn = conn;
    req->received_at = now_usec();
    buf_init(&req->body, srv->cfg->max_body);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci != NULL && ci->client_addr != NULL) {
        size_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                            : sizeof(struct sockaddr_in);
        memcpy(&req->peer, ci->client_addr, len);
    }
    if (req->path == NULL) {
        free(req);
        return NULL;
    }
    __atomic_add_fetch(&srv->active, 1, __ATOMIC_RELAXED);
    return req;
}

static void request_free(struct http_request *req)
{
    if (req == NULL)
        return;
    buf_cleanup(&req->body);
    free(req->path);
    free(req->path_copy);
    free(req);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct http_server *srv = cls;
    struct http_request *req = *con_cls;
    struct http_reply reply;
    memset(&reply, 0, sizeof(reply));

    if (req == NULL) {
        header_deadline_began(srv->headers, conn);
        req = request_new(srv, conn, url, method);
        if (req == NULL)
            return MHD_NO;
        *con_cls = req;
        if (!begin(srv, req, &reply))
            return send_reply(srv, req, &reply);
        const struct http_route *route = req->route;
        if (!(route->flags & HTTP_ROUTE_BODY)) {
            route->handler(srv->ctx, req, &reply);
            return send_reply(srv, req, &reply);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!req->too_large) {
            enum err_code rc = buf_append(&req->body, upload_data, n);
            if (rc == ERR_TOO_LARGE) {
                req->too_large = true;
                req->discarded = req->body.len;
                buf_cleanup(&req->body);
            } else if (rc != ERR_OK) {
                return MHD_NO;
            }
        }
        if (req->too_large) {
            req->discarded += n;
            /* A response cannot be queued mid-upload (MHD 0.9.75): drain to the end and answer
             * 413 then. Only a body past the drain ceiling (a client streaming forever) gets
             * its connection dropped instead. */
            if (req->discarded > HTTP_DRAIN_CEILING(srv->cfg->max_body))
                return MHD_NO;
        }
        return MHD_YES;
    }
    if (req->too_large) {
        http_reply_error(&reply, 413, "body_too_large", "body is over the limit of %zu bytes",
                         srv->cfg->max_body);
        tell_refused(srv, req, "body_too_large");
        return send_reply(srv, req, &reply);
    }
    ((const struct http_route *)req->route)->handler(srv->ctx, req, &reply);
    return send_reply(srv, req, &reply);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    struct http_request *req = *con_cls;
    header_deadline_ended(srv->headers, conn); /* a kept-alive connection waits for headers */
    if (req == NULL)
        return;
    int64_t ms = (now_usec() - req->received_at) / 1000;
    LOG_AT(LOG_LEVEL_DEBUG, req->rid, "%s %s status=%d ms=%lld end=%d", req->method, req->path,
           req->status, (long long)ms, (int)toe);
    request_free(req);
    *con_cls = NULL;
    __atomic_sub_fetch(&srv->active, 1, __ATOMIC_RELAXED);
}

enum err_code http_server_start(const struct config *cfg, const struct http_route *routes,
                                size_t n_routes, void *ctx, http_refused_fn *refused,
                                struct http_server **out, struct err *err)
{
    return http_server_start_at(cfg, &cfg->listen_addr, cfg->listen, routes, n_routes, ctx, refused,
                                out, err);
}

enum err_code http_server_start_at(const struct config *cfg, const struct sockaddr_storage *addr,
                                   const char *addr_text, const struct http_route *routes,
                                   size_t n_routes, void *ctx, http_refused_fn *refused,
                                   struct http_server **out, struct err *err)
{
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    srv->cfg = cfg;
    srv->routes = routes;
    srv->n_routes = n_routes;
    srv->ctx = ctx;
    srv->refused = refused;
    srv->quiesced_fd = MHD_INVALID_SOCKET;
    if (RAND_bytes((unsigned char *)&srv->rid_prefix, sizeof(srv->rid_prefix)) != 1)
        srv->rid_prefix = (unsigned long)getpid();
    if (cfg->admin_token != NULL) {
        SHA256((const unsigned char *)cfg->admin_token, strlen(cfg->admin_token),
               srv->token_digest);
        srv->has_token = true;
    }
    if ((srv->headers = header_deadline_new(cfg->header_timeout)) == NULL) {
        free(srv);
        return err_set(err, ERR_NOMEM, NULL, "cannot start the header deadline thread");
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    uint16_t port;
    if (addr->ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
        port = ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
    } else {
        port = ntohs(((const struct sockaddr_in *)addr)->sin_port);
    }
    srv->daemon = MHD_start_daemon(
        flags, port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)addr, MHD_OPTION_CONNECTION_LIMIT,
        cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_connections_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(64 * 1024), MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, header_deadline_notify, srv->headers, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        header_deadline_free(srv->headers);
        free(srv);
        return err_set(err, ERR_INVALID, "listen_failed",
                       "cannot listen on %s (address in use or not available)", addr_text);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di != NULL ? di->port : port;
    *out = srv;
    return ERR_OK;
}

uint16_t http_server_port(const struct http_server *srv)
{
    return srv->port;
}

void http_server_quiesce(struct http_server *srv, unsigned timeout_ms)
{
    if (srv == NULL || srv->daemon == NULL)
        return;
    if (srv->quiesced_fd == MHD_INVALID_SOCKET)
        srv->quiesced_fd = MHD_quiesce_daemon(srv->daemon);
    for (unsigned waited = 0; waited < timeout_ms; waited += 10) {
        if (__atomic_load_n(&srv->active, __ATOMIC_RELAXED) <= 0)
            break;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void http_server_stop(struct http_server *srv)
{
    if (srv == NULL)
        return;
    if (srv->daemon != NULL)
        MHD_stop_daemon(srv->daemon);
    if (srv->quiesced_fd != MHD_INVALID_SOCKET)
        close(srv->quiesced_fd);
    header_deadline_free(srv->headers); /* after the daemon reported every close */
    free(srv);
}

void http_server_status_counts(const struct http_server *srv, uint64_t counts[600])
{
    for (int i = 0; i < 600; i++)
        counts[i] = __atomic_load_n(&srv->status_counts[i], __ATOMIC_RELAXED);
}
