/* api_reports — GET /v1/reports, /v1/reports/{id}, /v1/reports/{id}/raw (admin). */
#ifndef API_REPORTS_H
#define API_REPORTS_H

#include "http/http_server.h"

void api_reports_list(void *ctx, struct http_request *req, struct http_reply *reply);
void api_reports_get(void *ctx, struct http_request *req, struct http_reply *reply);
void api_reports_raw(void *ctx, struct http_request *req, struct http_reply *reply);

#endif
