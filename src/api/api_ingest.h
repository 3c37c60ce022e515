/* api_ingest — POST /v1/reports (and /report): the public ingest endpoint (SPEC §4). */
#ifndef API_INGEST_H
#define API_INGEST_H

#include <stdbool.h>

#include "http/http_server.h"

/* Before the body: media type (415, counted). */
bool api_ingest_precheck(void *ctx, struct http_request *req, struct http_reply *reply);
/* The whole body is in: parse, filter, rate-limit, analyse, commit (or spool), answer. */
void api_ingest_post(void *ctx, struct http_request *req, struct http_reply *reply);
/* OPTIONS: CORS preflight; allows the headers the page asks for. */
void api_ingest_options(void *ctx, struct http_request *req, struct http_reply *reply);

/* The server refused an ingest request itself (413): counted with the rejected reports. */
void api_ingest_refused(void *ctx, struct http_request *req, const char *code);

/* The accepted media type (static, lower case) of a Content-Type, parameters ignored; NULL
 * when absent or not accepted. */
const char *api_ingest_media_type(const char *content_type);
/* true when the media type (parameters ignored) is one SPEC §4 accepts, or there is none. */
bool api_ingest_media_type_ok(const char *content_type);

#endif
