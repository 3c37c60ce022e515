#include "cli/cli_policy.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/expected_keys.h"
#include "analysis/policy.h"
#include "analysis/trust_store.h"
#include "base/buf.h"
#include "base/config.h"
#include "report/cert.h"
#include "report/hostname.h"
#include "report/pem_list.h"

#define MAX_FILE   (16u << 20)
#define MAX_CHAINS 64

/* One --chain: the keys of a PEM chain, for one host or (host NULL) for every domain. */
struct chain_arg {
    char *host;
    struct policy_chain chain;
};

struct chains {
    struct chain_arg items[MAX_CHAINS];
    size_t n;
};

static void chains_cleanup(struct chains *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->items[i].host);
        free(c->items[i].chain.keys);
    }
}

/* policy_chain_fn: the chain given for that host, else the one given for every host. */
static bool find_chain(void *ctx, const char *domain, struct policy_chain *out)
{
    const struct chains *c = ctx;
    const struct chain_arg *any = NULL;
    for (size_t i = 0; i < c->n; i++) {
        if (c->items[i].host != NULL && strcmp(c->items[i].host, domain) == 0) {
            any = &c->items[i];
            break;
        }
        if (c->items[i].host == NULL && any == NULL)
            any = &c->items[i];
    }
    if (any == NULL)
        return false;
    *out = any->chain;
    out->keys = malloc((any->chain.n_keys + 1) * sizeof(*out->keys));
    if (out->keys == NULL)
        return false;
    memcpy(out->keys, any->chain.keys, any->chain.n_keys * sizeof(*out->keys));
    return true;
}

/* The keys of the chain in path, leaf first, and the store root that issued its last one. */
static bool load_chain(const char *path, const struct trust_store *ts, struct policy_chain *out,
                       FILE *errors)
{
    size_t len = 0;
    char *text = buf_read_file(path, MAX_FILE, &len);
    struct pem_list list = {0};
    struct err e = {0};
    bool ok = text != NULL && pem_list_read(text, len, 0, &list, &e) == ERR_OK && list.n > 0;
    if (!ok) {
        fprintf(errors, "pinwatch check-policy: %s: %s\n", path,
                text == NULL  ? "cannot be read"
                : e.detail[0] ? e.detail
                              : "no certificate");
    } else if ((out->keys = malloc((list.n + 1) * sizeof(*out->keys))) == NULL) {
        ok = false;
    } else {
        for (size_t i = 0; i < list.n; i++)
            memcpy(out->keys[out->n_keys++], list.certs[i]->spki_sha256, 32);
        memcpy(out->leaf, list.certs[0]->spki_sha256, 32);
        out->has_leaf = true;
        const struct cert *root = trust_store_find_issuer(ts, list.certs[list.n - 1]);
        if (root != NULL)
            memcpy(out->keys[out->n_keys++], root->spki_sha256, 32);
    }
    pem_list_cleanup(&list);
    free(text);
    return ok;
}

static bool add_chain(struct chains *c, const char *arg, const struct trust_store *ts, FILE *errors)
{
    if (c->n == MAX_CHAINS) {
        fprintf(errors, "pinwatch check-policy: more than %d --chain\n", MAX_CHAINS);
        return false;
    }
    struct chain_arg *a = &c->items[c->n];
    memset(a, 0, sizeof(*a));
    const char *eq = strchr(arg, '='), *path = arg;
    if (eq != NULL) {
        char *raw = strndup(arg, (size_t)(eq - arg));
        struct err e = {0};
        bool ok = raw != NULL && hostname_normalize(raw, &a->host, &e) == ERR_OK;
        free(raw);
        if (!ok) {
            fprintf(errors, "pinwatch check-policy: --chain %s: not a host name\n", arg);
            return false;
        }
        path = eq + 1;
    }
    if (!load_chain(path, ts, &a->chain, errors)) {
        free(a->host);
        return false;
    }
    c->n++;
    return true;
}

struct args {
    const char *policy;
    bool json;
};

static int usage(FILE *errors)
{
    fprintf(errors, "usage: pinwatch check-policy [--chain FILE | --chain HOST=FILE ...] [--json] "
                    "POLICY\n");
    return 2;
}

/* The settings the check reads: trust store, expected keys, public URL. NULL ek on none. */
static bool load_context(const struct config *cfg, struct trust_store **ts,
                         struct expected_keys **ek, FILE *errors)
{
    struct err e = {0};
    if (trust_store_load(cfg->trust_store, ts, &e) != ERR_OK)
        *ts = NULL; /* chains are then judged without the root they omit */
    if (cfg->expected_keys == NULL || cfg->expected_keys[0] == '\0')
        return true;
    if ((*ek = expected_keys_new()) == NULL ||
        expected_keys_load_file(*ek, cfg->expected_keys, &e) != ERR_OK) {
        fprintf(errors, "pinwatch check-policy: PINWATCH_EXPECTED_KEYS: %s\n", e.detail);
        return false;
    }
    return true;
}

static int check(const struct args *a, const struct config *cfg, struct chains *chains,
                 const struct expected_keys *ek, FILE *out, FILE *errors)
{
    size_t len = 0;
    char *text = buf_read_file(a->policy, MAX_FILE, &len);
    if (text == NULL) {
        fprintf(errors, "pinwatch check-policy: cannot read %s\n", a->policy);
        return 2;
    }
    struct policy *p = NULL;
    struct err e = {0};
    int status = 2;
    if (policy_parse(text, len, &p, &e) != ERR_OK) {
        fprintf(errors, "pinwatch check-policy: %s: %s\n", a->policy, e.detail);
    } else {
        struct policy_check_opts o = {.now_usec = (int64_t)time(NULL) * 1000000,
                                      .ek = ek,
                                      .public_url = cfg->public_url,
                                      .chain = chains->n > 0 ? find_chain : NULL,
                                      .chain_ctx = chains};
        json_t *res = policy_check(p, &o);
        if (res == NULL) {
            fprintf(errors, "pinwatch check-policy: out of memory\n");
        } else {
            if (a->json)
                json_dumpf(res, out, JSON_INDENT(2));
            else
                policy_print(res, out);
            if (a->json)
                fputc('\n', out);
            status = policy_has_error(res) ? 1 : 0;
        }
        json_decref(res);
    }
    policy_free(p);
    free(text);
    return status;
}

int cli_check_policy(int argc, char **argv, FILE *out, FILE *errors)
{
    struct args a = {0};
    const char *chain_args[MAX_CHAINS];
    size_t n_chain_args = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            a.json = true;
        else if (strcmp(argv[i], "--chain") == 0 && i + 1 < argc && n_chain_args < MAX_CHAINS)
            chain_args[n_chain_args++] = argv[++i];
        else if (argv[i][0] != '-' && a.policy == NULL)
            a.policy = argv[i];
        else
            return usage(errors);
    }
    if (a.policy == NULL)
        return usage(errors);
    struct config cfg;
    if (config_load(&cfg, 0, NULL, errors) != ERR_OK) {
        config_cleanup(&cfg);
        return 2;
    }
    struct trust_store *ts = NULL;
    struct expected_keys *ek = NULL;
    struct chains chains = {0};
    int status = 2;
    bool ok = load_context(&cfg, &ts, &ek, errors);
    for (size_t i = 0; ok && i < n_chain_args; i++)
        ok = add_chain(&chains, chain_args[i], ts, errors);
    if (ok)
        status = check(&a, &cfg, &chains, ek, out, errors);
    chains_cleanup(&chains);
    expected_keys_free(ek);
    trust_store_free(ts);
    config_cleanup(&cfg);
    return status;
}
