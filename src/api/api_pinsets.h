/* api_pinsets — GET /v1/pinsets and POST /v1/hosts/{hostname}/rotation-check (admin). */
#ifndef API_PINSETS_H
#define API_PINSETS_H

#include "http/http_server.h"

void api_pinsets_list(void *ctx, struct http_request *req, struct http_reply *reply);
void api_pinsets_rotation_check(void *ctx, struct http_request *req, struct http_reply *reply);

#endif
