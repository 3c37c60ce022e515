/* web — the dashboard: one page (web/index.html) answered at "/" and at each of its routes
 * (/groups/{id}, /reports/{id}, /pinsets, /hosts/{hostname}/keys), and its scripts, styles and
 * the charting library under /assets/, all compiled into the binary. None of it carries report
 * data: the page's scripts read the admin API with the bearer token. Answers are gzip-encoded
 * when the client accepts it, with ETag revalidation (304). */
#ifndef WEB_H
#define WEB_H

#include "http/http_server.h"

/* The page, for every dashboard route. */
void web_index(void *ctx, struct http_request *req, struct http_reply *reply);
/* GET /assets/{name}. */
void web_asset(void *ctx, struct http_request *req, struct http_reply *reply);

#endif
