/* api_reports — GET /v1/reports, /v1/reports/{id}, /v1/reports/{id}/raw (admin). */
#ifndef API_REPORTS_H
#define API_REPORTS_H

#include <libpq-fe.h>

#include "http/http_server.h"

void api_reports_list(void *ctx, struct http_request *req, struct http_reply *reply);
void api_reports_get(void *ctx, struct http_request *req, struct http_reply *reply);
void api_reports_raw(void *ctx, struct http_request *req, struct http_reply *reply);

struct api_context;

/* A read connection from the app's pool, or NULL with reply set to 503 + Retry-After.
 * Give it back with db_pool_release. Shared by the admin handlers. */
PGconn *api_reports_borrow(struct api_context *app, struct http_reply *reply);

/* query_param_fn over the request's query string. */
const char *api_query_param(void *req, const char *name);

#endif
