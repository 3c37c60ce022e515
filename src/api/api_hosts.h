/* api_hosts — expected keys per host pattern (PUT/GET /v1/hosts/{hostname}/keys) and the
 * chain-level findings of one chain (GET /v1/chains/{sha256}). Admin. */
#ifndef API_HOSTS_H
#define API_HOSTS_H

#include "http/http_server.h"

void api_hosts_keys_get(void *ctx, struct http_request *req, struct http_reply *reply);
void api_hosts_keys_put(void *ctx, struct http_request *req, struct http_reply *reply);
void api_chains_get(void *ctx, struct http_request *req, struct http_reply *reply);

#endif
