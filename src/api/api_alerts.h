/* api_alerts — GET/PUT /v1/alerts/rules, GET /v1/alerts, POST /v1/alerts/test (SPEC 7, 10). */
#ifndef API_ALERTS_H
#define API_ALERTS_H

#include "http/http_server.h"

void api_alerts_rules_get(void *ctx, struct http_request *req, struct http_reply *reply);
void api_alerts_rules_put(void *ctx, struct http_request *req, struct http_reply *reply);
void api_alerts_list(void *ctx, struct http_request *req, struct http_reply *reply);
void api_alerts_test(void *ctx, struct http_request *req, struct http_reply *reply);

#endif
