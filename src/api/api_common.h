/*
 * api_common — what the admin read handlers share: parse the report filters of the query
 * string, borrow a pooled connection (503 + Retry-After when none comes), run the handler's
 * query on it, give the connection back; and the two ways a read answers (a JSON buffer, or
 * the one JSON text value a query returns).
 *
 *     static enum err_code run(PGconn *conn, const struct api_common_request *r,
 *                              struct http_reply *reply, struct err *err) { ... }
 *     api_common_read(ctx, req, reply, API_COMMON_FILTERS, run, NULL);
 */
#ifndef API_COMMON_H
#define API_COMMON_H

#include <libpq-fe.h>

#include "base/buf.h"
#include "http/http_server.h"
#include "store/query.h"

struct api_context;

enum api_common_flags {
    API_COMMON_FILTERS = 1u << 0,        /* parse the report filters first (400 when bad) */
    API_COMMON_GROUPS_CURRENT = 1u << 1, /* bring changed groups' verdicts up to date first */
};

/* What a handler's query sees; every member is borrowed for the call. */
struct api_common_request {
    struct api_context *app;
    struct http_request *req;
    const struct query_filters *filters; /* NULL without API_COMMON_FILTERS */
    void *ctx;                           /* the handler's own */
};

/* Answer the request from conn: set the reply, or return an error (err filled) that
 * api_common_read turns into the reply. */
typedef enum err_code (*api_common_fn)(PGconn *conn, const struct api_common_request *r,
                                       struct http_reply *reply, struct err *err);

/* filters (flags) -> borrow -> run -> release. ctx is passed to run as r->ctx. */
void api_common_read(struct api_context *app, struct http_request *req, struct http_reply *reply,
                     unsigned flags, api_common_fn run, void *ctx);

/* A pooled connection, or NULL with reply set to 503 + Retry-After. Give it back with
 * api_common_release. For handlers that borrow in the middle of their work. */
PGconn *api_common_borrow(struct api_context *app, struct http_reply *reply);

/* Accepts NULL. */
void api_common_release(struct api_context *app, PGconn *conn);

/* query_param_fn over the request's query string. */
const char *api_common_query_param(void *req, const char *name);

/* 200 with b's bytes (taken from b) as content_type; 500 when out of memory. */
void api_common_reply_buf(struct http_reply *reply, struct buf *b, const char *content_type);

/* Run a query returning one JSON text value and send it as 200; 404 not_found (detail
 * not_found) when there is no row or the value is NULL; the database's error otherwise. */
void api_common_reply_sql(PGconn *conn, struct http_reply *reply, const char *sql, int n_params,
                          const char *const *params, const char *not_found);

#endif
