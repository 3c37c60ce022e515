/* api_groups — GET /v1/groups, /v1/groups/{id}, /v1/trends (admin), read from the rollups. */
#ifndef API_GROUPS_H
#define API_GROUPS_H

#include "http/http_server.h"

void api_groups_list(void *ctx, struct http_request *req, struct http_reply *reply);
void api_groups_get(void *ctx, struct http_request *req, struct http_reply *reply);
void api_groups_trends(void *ctx, struct http_request *req, struct http_reply *reply);

#endif
