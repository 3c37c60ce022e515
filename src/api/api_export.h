/* api_export — GET /v1/export (admin): the evidence bundle of SPEC §8, streamed. */
#ifndef API_EXPORT_H
#define API_EXPORT_H

#include "http/http_server.h"

/*
 * Same filters as GET /v1/reports (limit and cursor ignored); a bad value is 400
 * invalid_parameter, an unreachable database 503, before anything is streamed. Otherwise a
 * 200 application/gzip attachment whose body a producer thread writes (export_bundle_write on
 * a dedicated PostgreSQL connection) into a small bounded queue that libmicrohttpd drains, so
 * the first bytes leave at once and memory does not grow with the export. A failure once
 * streaming has started ends the chunked body without its terminating chunk, which clients
 * report as a truncated transfer.
 */
void api_export_get(void *ctx, struct http_request *req, struct http_reply *reply);

/* GET /v1/export/signing-key (admin): the public key that signs bundles, SubjectPublicKeyInfo
 * PEM (application/x-pem-file), its fingerprint in X-Key-Fingerprint. */
void api_export_signing_key(void *ctx, struct http_request *req, struct http_reply *reply);

#endif
