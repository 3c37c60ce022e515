/*
 * http_server — the libmicrohttpd daemon: option list with explicit limits, route table,
 * bearer-token gate for the admin API, body accumulation with a cap (also for chunked
 * bodies), JSON error answers, request ids, graceful shutdown.
 *
 * Threading: one thread per connection (MHD_USE_THREAD_PER_CONNECTION, poll). Handlers may
 * block (an ingest request waits for its group commit), and the connection limits bound
 * the number of threads.
 */
#ifndef HTTP_SERVER_H
#define HTTP_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "base/config.h"
#include "base/err.h"

struct MHD_Connection;
struct MHD_Response;
struct http_server;

#define HTTP_MAX_PARAMS 4
/* Headers a handler may add to a reply, and the longest value (longer ones are cut). */
#define HTTP_MAX_HEADERS      6
#define HTTP_HEADER_VALUE_MAX 256
/* Query parameters of an admin request beyond which it is refused (each is checked for
 * repeats against the others). */
#define HTTP_MAX_QUERY_PARAMS 64

struct http_request {
    char rid[24]; /* request id carried by every log line */
    char method[12];
    char *path;                          /* owned copy, without the query string */
    struct MHD_Connection *conn;         /* borrowed, valid during handler calls */
    const char *params[HTTP_MAX_PARAMS]; /* route captures, borrowed from path_copy */
    size_t n_params;
    char *path_copy;
    struct sockaddr_storage peer; /* TCP peer */
    int64_t received_at;          /* Unix microseconds, at the first handler call */
    struct buf body;
    bool too_large; /* latched while a body overflowed the cap */
    size_t discarded;
    const void *route; /* matched route */
    int status;        /* answered status, for logs and metrics */
};

struct http_reply {
    int status;
    char *body; /* malloc'd, freed by the server */
    size_t len;
    const char *content_type;                                    /* static string */
    const char *header_names[HTTP_MAX_HEADERS];                  /* static strings */
    char header_values[HTTP_MAX_HEADERS][HTTP_HEADER_VALUE_MAX]; /* a SHA-256 in hex fits */
    size_t n_headers;
    struct MHD_Response *response; /* when set, sent as is (streaming); takes ownership */
};

typedef void http_handler_fn(void *ctx, struct http_request *req, struct http_reply *reply);
/* Called once the headers are in, before the body: return false with reply filled to answer
 * right away (the body is then discarded by MHD). */
typedef bool http_precheck_fn(void *ctx, struct http_request *req, struct http_reply *reply);
/* Told when the server itself refuses a request of an HTTP_ROUTE_COUNTED route before its
 * handler runs (code: "body_too_large"), so that the layer above can count it. */
typedef void http_refused_fn(void *ctx, struct http_request *req, const char *code);

enum http_route_flags {
    HTTP_ROUTE_PUBLIC = 1 << 0,  /* no bearer token, even under /v1/ */
    HTTP_ROUTE_BODY = 1 << 1,    /* reads a request body */
    HTTP_ROUTE_CORS = 1 << 2,    /* every answer, refusals included, carries
                                    Access-Control-Allow-Origin: * */
    HTTP_ROUTE_COUNTED = 1 << 3, /* the server's own refusals go to the refused callback */
};

struct http_route {
    const char *method;
    const char *pattern; /* "/v1/reports/{id}/raw": {x} captures one segment */
    unsigned flags;
    http_precheck_fn *precheck; /* may be NULL */
    http_handler_fn *handler;
};

/* Start serving on cfg->listen_addr. routes/ctx are borrowed and must outlive the server;
 * refused may be NULL. New server in *out. */
enum err_code http_server_start(const struct config *cfg, const struct http_route *routes,
                                size_t n_routes, void *ctx, http_refused_fn *refused,
                                struct http_server **out, struct err *err) ERR_MUSTCHECK;
/* The same on another address (addr_text names it in errors), e.g. PINWATCH_METRICS_LISTEN. */
enum err_code http_server_start_at(const struct config *cfg, const struct sockaddr_storage *addr,
                                   const char *addr_text, const struct http_route *routes,
                                   size_t n_routes, void *ctx, http_refused_fn *refused,
                                   struct http_server **out, struct err *err) ERR_MUSTCHECK;
/* Whether the request carries the admin bearer token (constant-time comparison). */
bool http_server_authorized(const struct http_server *srv, const struct http_request *req);
/* The port actually bound (useful with port 0). */
uint16_t http_server_port(const struct http_server *srv);
/* Stop accepting new connections, wait up to timeout_ms for in-flight requests. */
void http_server_quiesce(struct http_server *srv, unsigned timeout_ms);
/* Stop and free. Accepts NULL. */
void http_server_stop(struct http_server *srv);

/* Requests answered per status class, for /metrics: counts[status] for 100..599. */
void http_server_status_counts(const struct http_server *srv, uint64_t counts[600]);

/* Request helpers, valid inside handlers. */
const char *http_request_header(const struct http_request *req, const char *name);
const char *http_request_query(const struct http_request *req, const char *name);
/* Every header of that name in the order received, joined with ", " (what RFC 9110 5.3 says
 * several lines of one field mean), as a new string; NULL when there is none. */
char *http_request_header_joined(const struct http_request *req, const char *name);

/* Reply helpers. JSON answers all have the formatting of base/json_text.h. */
void http_reply_json(struct http_reply *reply, int status, json_t *take);
/* A JSON text made elsewhere (PostgreSQL): take is malloc'd, owned by the reply from now on,
 * and compacted in place. NULL answers 500. */
void http_reply_json_text(struct http_reply *reply, int status, char *take, size_t len);
void http_reply_error(struct http_reply *reply, int status, const char *code, const char *fmt, ...)
    ERR_PRINTF(4, 5);
void http_reply_err(struct http_reply *reply, const struct err *err);
void http_reply_bytes(struct http_reply *reply, int status, const char *content_type,
                      const void *data, size_t len);
void http_reply_header(struct http_reply *reply, const char *name, const char *value);

#endif
