/* web — the dashboard at "/": one static page compiled into the binary (web/index.html). It
 * carries no report data; its script reads the admin API with the bearer token. */
#ifndef WEB_H
#define WEB_H

#include "http/http_server.h"

void web_index(void *ctx, struct http_request *req, struct http_reply *reply);

#endif
