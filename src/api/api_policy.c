#include "api/api_policy.h"

#include <stdlib.h>
#include <string.h>

#include "analysis/expected_keys.h"
#include "analysis/policy.h"
#include "api/api_common.h"
#include "api/api_context.h"
#include "base/codec.h"
#include "base/timeparse.h"

#define SEEN_DAYS 30

struct seen_ctx {
    PGconn *conn;
    int64_t since_usec;
    const struct expected_keys *ek;
};

/* policy_chain_fn: the keys of the chains reported for domain, unless keys are declared for
 * it (the check reads the declared ones then). */
static bool seen_chain(void *ctx, const char *domain, struct policy_chain *out)
{
    const struct seen_ctx *s = ctx;
    if (expected_keys_has_host(s->ek, domain))
        return false;
    char since[TIMEPARSE_FMT_LEN];
    timeparse_format(s->since_usec, since);
    const char *params[] = {domain, since};
    PGresult *res =
        PQexecParams(s->conn, "SELECT spki_hex, leaf FROM pinwatch_policy_served_keys($1, $2)", 2,
                     NULL, params, NULL, NULL, 0);
    int n = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : 0;
    memset(out, 0, sizeof(*out));
    out->keys = n > 0 ? malloc((size_t)n * sizeof(*out->keys)) : NULL;
    for (int i = 0; out->keys != NULL && i < n; i++) {
        if (codec_hex_decode(PQgetvalue(res, i, 0), out->keys[out->n_keys], 32, NULL) != ERR_OK)
            continue;
        if (PQgetvalue(res, i, 1)[0] == 't') {
            memcpy(out->leaf, out->keys[out->n_keys], 32);
            out->has_leaf = true;
        }
        out->n_keys++;
    }
    PQclear(res);
    if (out->n_keys == 0) {
        free(out->keys);
        out->keys = NULL;
        return false;
    }
    return true;
}

static enum err_code check(PGconn *conn, const struct api_common_request *r,
                           struct http_reply *reply, struct err *err)
{
    (void)err;
    const struct policy *p = r->ctx;
    struct seen_ctx s = {.conn = conn,
                         .since_usec = r->req->received_at - SEEN_DAYS * 86400LL * 1000000,
                         .ek = r->app->expected};
    struct policy_check_opts o = {.now_usec = r->req->received_at,
                                  .ek = r->app->expected,
                                  .public_url = r->app->cfg->public_url,
                                  .chain = seen_chain,
                                  .chain_ctx = &s};
    json_t *res = policy_check(p, &o);
    if (res == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    http_reply_json(reply, 200, res);
    return ERR_OK;
}

void api_policy_check(void *ctx, struct http_request *req, struct http_reply *reply)
{
    struct policy *p = NULL;
    struct err e = {0};
    if (policy_parse(req->body.data, req->body.len, &p, &e) != ERR_OK) {
        http_reply_err(reply, &e);
        return;
    }
    api_common_read(ctx, req, reply, 0, check, p);
    policy_free(p);
}
