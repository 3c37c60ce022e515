/* api_spool — GET /v1/spool/quarantine (admin): the spooled units that could not be stored
 * after every retry, kept in the spool folder's quarantine.log (SPEC 7, 9). */
#ifndef API_SPOOL_H
#define API_SPOOL_H

#include "http/http_server.h"

void api_spool_quarantine(void *ctx, struct http_request *req, struct http_reply *reply);

#endif
