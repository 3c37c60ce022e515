/* api_hosts — expected keys per host pattern (PUT/GET /v1/hosts/{hostname}/keys) and the
 * chain-level findings of one chain (GET /v1/chains/{sha256}). Admin. */
#ifndef API_HOSTS_H
#define API_HOSTS_H

#include <libpq-fe.h>

#include "err.h"
#include "http_server.h"

struct expected_keys;

void api_hosts_keys_get(void *ctx, struct http_request *req, struct http_reply *reply);
void api_hosts_keys_put(void *ctx, struct http_request *req, struct http_reply *reply);
void api_chains_get(void *ctx, struct http_request *req, struct http_reply *reply);

/* Start-up: write the PINWATCH_EXPECTED_KEYS file's hosts (if loaded into file_ek) into the
 * database, then load every declared key from the database into ek. */
enum err_code api_hosts_sync(PGconn *conn, const struct expected_keys *file_ek,
                             struct expected_keys *ek, struct err *err) ERR_MUSTCHECK;

#endif
