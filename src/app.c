#include "app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/analysis.h"
#include "analysis/catalog.h"
#include "analysis/expected_keys.h"
#include "analysis/groups.h"
#include "analysis/keys_store.h"
#include "analysis/policy.h"
#include "analysis/trust_store.h"
#include "api/api_alerts.h"
#include "api/api_allowlist.h"
#include "api/api_export.h"
#include "api/api_groups.h"
#include "api/api_health.h"
#include "api/api_hosts.h"
#include "api/api_ingest.h"
#include "api/api_pinsets.h"
#include "api/api_policy.h"
#include "api/api_reports.h"
#include "api/api_spool.h"
#include "base/log.h"
#include "db/db.h"
#include "db/migrate.h"
#include "http/alerter.h"
#include "http/http_server.h"
#include "http/network.h"
#include "http/ratelimit.h"
#include "http/web.h"
#include "http/webhook.h"
#include "report/cert_cache.h"
#include "report/literal_cache.h"
#include "store/batcher.h"
#include "store/signing.h"
#include "store/spool.h"
#include "store/store.h"

/* Ingest is public and answers browsers (CORS) whatever the outcome; the server's own
 * refusals of a report (413) count with the rejected reports (api_ingest_refused). */
#define INGEST_FLAGS (HTTP_ROUTE_PUBLIC | HTTP_ROUTE_CORS)

static const struct http_route routes[] = {
    /* The dashboard: one page for each of its routes, and its assets. GET only: HEAD is 405. */
    {"GET", "/", HTTP_ROUTE_PUBLIC, NULL, web_index},
    {"GET", "/groups/{id}", HTTP_ROUTE_PUBLIC, NULL, web_index},
    {"GET", "/reports/{id}", HTTP_ROUTE_PUBLIC, NULL, web_index},
    {"GET", "/pinsets", HTTP_ROUTE_PUBLIC, NULL, web_index},
    {"GET", "/hosts/{hostname}/keys", HTTP_ROUTE_PUBLIC, NULL, web_index},
    {"GET", "/assets/{name}", HTTP_ROUTE_PUBLIC, NULL, web_asset},
    {"GET", "/healthz", HTTP_ROUTE_PUBLIC, NULL, api_health_healthz},
    {"GET", "/readyz", HTTP_ROUTE_PUBLIC, NULL, api_health_readyz},
    {"GET", "/metrics", HTTP_ROUTE_PUBLIC, NULL, api_health_metrics},
    {"POST", "/v1/reports", INGEST_FLAGS | HTTP_ROUTE_BODY | HTTP_ROUTE_COUNTED,
     api_ingest_precheck, api_ingest_post},
    {"OPTIONS", "/v1/reports", INGEST_FLAGS, NULL, api_ingest_options},
    {"POST", "/report", INGEST_FLAGS | HTTP_ROUTE_BODY | HTTP_ROUTE_COUNTED, api_ingest_precheck,
     api_ingest_post},
    {"OPTIONS", "/report", INGEST_FLAGS, NULL, api_ingest_options},
    {"GET", "/v1/reports", 0, NULL, api_reports_list},
    {"GET", "/v1/reports/{id}", 0, NULL, api_reports_get},
    {"GET", "/v1/reports/{id}/raw", 0, NULL, api_reports_raw},
    {"GET", "/v1/export", 0, NULL, api_export_get},
    {"GET", "/v1/export/signing-key", 0, NULL, api_export_signing_key},
    {"GET", "/v1/groups", 0, NULL, api_groups_list},
    {"GET", "/v1/groups/{id}", 0, NULL, api_groups_get},
    {"GET", "/v1/trends", 0, NULL, api_groups_trends},
    {"GET", "/v1/chains/{sha256}", 0, NULL, api_chains_get},
    {"GET", "/v1/hosts/{hostname}/keys", 0, NULL, api_hosts_keys_get},
    {"PUT", "/v1/hosts/{hostname}/keys", HTTP_ROUTE_BODY, NULL, api_hosts_keys_put},
    {"GET", "/v1/pinsets", 0, NULL, api_pinsets_list},
    {"GET", "/v1/spool/quarantine", 0, NULL, api_spool_quarantine},
    {"POST", "/v1/hosts/{hostname}/rotation-check", HTTP_ROUTE_BODY, NULL,
     api_pinsets_rotation_check},
    {"GET", "/v1/alerts", 0, NULL, api_alerts_list},
    {"GET", "/v1/alerts/rules", 0, NULL, api_alerts_rules_get},
    {"PUT", "/v1/alerts/rules", HTTP_ROUTE_BODY, NULL, api_alerts_rules_put},
    {"POST", "/v1/alerts/test", 0, NULL, api_alerts_test},
    {"POST", "/v1/pin-policies/check", HTTP_ROUTE_BODY, NULL, api_policy_check},
};

/* A file a setting points at could not be used: say which setting, then why. */
static enum err_code name_setting(enum err_code rc, const char *env, struct err *err)
{
    if (rc == ERR_OK || err == NULL)
        return rc;
    char name[80];
    char key[sizeof(err->key)];
    char detail[sizeof(err->detail)];
    config_setting_name(env, name, sizeof(name));
    snprintf(key, sizeof(key), "%s", err->key);
    snprintf(detail, sizeof(detail), "%s", err->detail);
    return err_set(err, rc, key, "%s: %s", name, detail);
}

/* PINWATCH_METRICS_LISTEN: /metrics with every counter, for a scraper on a private address. */
static const struct http_route metrics_routes[] = {
    {"GET", "/metrics", HTTP_ROUTE_PUBLIC, NULL, api_health_metrics_full},
};

static enum err_code load_analysis(struct api_context *app, const struct config *cfg,
                                   struct err *err)
{
    enum err_code rc = name_setting(trust_store_load(cfg->trust_store, &app->trust, err),
                                    "PINWATCH_TRUST_STORE", err);
    if (rc == ERR_OK)
        rc = name_setting(trust_store_load_legacy(app->trust, cfg->legacy_roots, err),
                          "PINWATCH_LEGACY_ROOTS", err);
    if (rc == ERR_OK)
        rc = name_setting(catalog_load(cfg->catalog, &app->catalog, err), "PINWATCH_CATALOG", err);
    if (rc == ERR_OK && (app->expected = expected_keys_new()) == NULL)
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
    if (rc == ERR_OK && cfg->asn_db != NULL && cfg->asn_db[0] != '\0')
        rc = name_setting(network_db_open(cfg->asn_db, &app->asn_db, err), "PINWATCH_ASN_DB", err);
    if (rc == ERR_OK &&
        (app->analysis = analysis_new(app->trust, app->catalog, app->expected)) == NULL)
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
    return rc;
}

/* The database holds the declared keys; the PINWATCH_EXPECTED_KEYS file seeds its hosts. */
static enum err_code load_expected_keys(PGconn *conn, const struct config *cfg,
                                        struct expected_keys *ek, struct err *err)
{
    struct expected_keys *file_ek = NULL;
    enum err_code rc = ERR_OK;
    if (cfg->expected_keys != NULL && cfg->expected_keys[0] != '\0') {
        if ((file_ek = expected_keys_new()) == NULL)
            return err_set(err, ERR_NOMEM, NULL, "out of memory");
        rc = name_setting(expected_keys_load_file(file_ek, cfg->expected_keys, err),
                          "PINWATCH_EXPECTED_KEYS", err);
    }
    if (rc == ERR_OK)
        rc = keys_store_sync(conn, file_ek, ek, err);
    expected_keys_free(file_ek);
    return rc;
}

/* The key that signs evidence bundles: PINWATCH_SIGNING_KEY, else the one generated next to
 * the spool on the first start. Logged by fingerprint, which reviewers compare with. */
static enum err_code load_signing_key(struct api_context *app, const struct config *cfg,
                                      struct err *err)
{
    char path[1024];
    signing_default_path(cfg->spool_dir, path, sizeof(path));
    bool created = false;
    EVP_PKEY *key = NULL;
    enum err_code rc = signing_key_load(cfg->signing_key, path, &key, &created, err);
    char fpr[SIGNING_FPR_HEX];
    if (rc == ERR_OK && signing_fingerprint(key, fpr) != ERR_OK)
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
    if (rc != ERR_OK) {
        EVP_PKEY_free(key);
        return rc;
    }
    app->signing_key = key;
    const char *from =
        cfg->signing_key != NULL && cfg->signing_key[0] != '\0' ? cfg->signing_key : path;
    log_info("evidence signing key: SHA-256 %s (%s %s)", fpr, created ? "generated in" : "from",
             from);
    return ERR_OK;
}

enum err_code app_start(struct api_context *app, const struct config *cfg, struct err *err)
{
    memset(app, 0, sizeof(*app));
    app->cfg = cfg;
    enum err_code rc;
    if (cfg->database_url == NULL || cfg->database_url[0] == '\0')
        return err_set(err, ERR_INVALID, "config", "DATABASE_URL is required for serve");
    app->pool = db_pool_new(cfg->database_url, 8);
    app->store = store_new();
    app->ratelimit = ratelimit_new(cfg->rate_limit_count, cfg->rate_limit_period);
    app->certs = cert_cache_new(4096, (size_t)16 << 20);      /* 16 MiB */
    app->literals = literal_cache_new(4096, (size_t)8 << 20); /* 8 MiB */
    if (app->pool == NULL || app->store == NULL || app->ratelimit == NULL || app->certs == NULL ||
        app->literals == NULL) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
        goto fail;
    }
    if ((rc = load_analysis(app, cfg, err)) != ERR_OK)
        goto fail;
    policy_init();
    if ((rc = api_allowlist_parse(cfg->allowed_apps, false, &app->allowed_apps, err)) != ERR_OK ||
        (rc = api_allowlist_parse(cfg->allowed_hosts, true, &app->allowed_hosts, err)) != ERR_OK)
        goto fail;

    PGconn *conn;
    if ((rc = db_pool_acquire(app->pool, 10000, &conn, err)) != ERR_OK)
        goto fail;
    struct migrate_counts applied = {0, 0};
    rc = migrate_run(conn, cfg->migrations_dir, cfg->functions_dir, &applied, err);
    if (rc == ERR_OK)
        rc = load_expected_keys(conn, cfg, app->expected, err);
    db_pool_release(app->pool, conn);
    if (rc != ERR_OK)
        goto fail;
    log_info("migrations: %d applied now, function files: %d applied now", applied.migrations,
             applied.repeatables);

    if ((rc = spool_open(cfg->spool_dir, cfg->spool_max, &app->spool, err)) != ERR_OK)
        goto fail;
    if (spool_pending_units(app->spool) > 0)
        log_info("spool: %llu units from an earlier run will be replayed",
                 (unsigned long long)spool_pending_units(app->spool));
    if ((rc = load_signing_key(app, cfg, err)) != ERR_OK)
        goto fail;
    if ((rc = batcher_start(cfg, app->store, app->spool, &app->batcher, err)) != ERR_OK)
        goto fail;
    if ((rc = groups_evaluator_start(cfg, app->expected, 2000, &app->evaluator, err)) != ERR_OK)
        goto fail;
    if ((rc = webhook_global_init(err)) != ERR_OK)
        goto fail;
    app->curl_ready = true;
    if ((rc = alerter_start(cfg, app->spool, app->expected, &app->alerter, err)) != ERR_OK)
        goto fail;
    rc = http_server_start(cfg, routes, sizeof(routes) / sizeof(routes[0]), app, api_ingest_refused,
                           &app->http, err);
    if (rc == ERR_OK && cfg->metrics_listen != NULL && cfg->metrics_listen[0] != '\0')
        rc = http_server_start_at(cfg, &cfg->metrics_listen_addr, cfg->metrics_listen,
                                  metrics_routes, 1, app, NULL, &app->metrics_http, err);
    if (rc != ERR_OK)
        goto fail;
    return ERR_OK;
fail:
    app_stop(app);
    return rc;
}

void app_stop(struct api_context *app)
{
    /* Reverse order: no new requests, finish in-flight ones (they wait for their batch), then
     * let the writer finish what is queued. */
    if (app->http != NULL)
        http_server_quiesce(app->http, 30000);
    batcher_stop(app->batcher);
    app->batcher = NULL;
    groups_evaluator_stop(app->evaluator);
    app->evaluator = NULL;
    alerter_stop(app->alerter);
    app->alerter = NULL;
    if (app->curl_ready)
        webhook_global_cleanup();
    http_server_stop(app->metrics_http);
    app->metrics_http = NULL;
    http_server_stop(app->http);
    app->http = NULL;
    spool_close(app->spool);
    analysis_free(app->analysis);
    cert_cache_free(app->certs);
    literal_cache_free(app->literals);
    network_db_free(app->asn_db);
    expected_keys_free(app->expected);
    catalog_free(app->catalog);
    trust_store_free(app->trust);
    ratelimit_free(app->ratelimit);
    EVP_PKEY_free(app->signing_key);
    api_allowlist_cleanup(&app->allowed_apps);
    api_allowlist_cleanup(&app->allowed_hosts);
    store_free(app->store);
    db_pool_free(app->pool);
    memset(app, 0, sizeof(*app));
}
