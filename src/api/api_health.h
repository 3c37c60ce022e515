/* api_health — /healthz (process up), /readyz (database reachable, spool drained) and
 * /metrics (Prometheus text). Unauthenticated, and they carry no report data. */
#ifndef API_HEALTH_H
#define API_HEALTH_H

#include "http/http_server.h"

void api_health_healthz(void *ctx, struct http_request *req, struct http_reply *reply);
void api_health_readyz(void *ctx, struct http_request *req, struct http_reply *reply);
/* /metrics on the main listener: the content-cache counters only with the admin token. */
void api_health_metrics(void *ctx, struct http_request *req, struct http_reply *reply);
/* /metrics on PINWATCH_METRICS_LISTEN: every counter. */
void api_health_metrics_full(void *ctx, struct http_request *req, struct http_reply *reply);

#endif
