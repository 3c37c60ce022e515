#include "app.h"

#include <string.h>

#include "api_health.h"
#include "db.h"
#include "http_server.h"
#include "log.h"
#include "migrate.h"

static const struct http_route routes[] = {
    {"GET", "/healthz", HTTP_ROUTE_PUBLIC, NULL, api_health_healthz},
    {"GET", "/readyz", HTTP_ROUTE_PUBLIC, NULL, api_health_readyz},
};

enum err_code app_start(struct app *app, const struct config *cfg, struct err *err)
{
    memset(app, 0, sizeof(*app));
    app->cfg = cfg;
    enum err_code rc;
    if (cfg->database_url == NULL || cfg->database_url[0] == '\0')
        return err_set(err, ERR_INVALID, "config", "DATABASE_URL is required for serve");
    app->pool = db_pool_new(cfg->database_url, 8);
    if (app->pool == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");

    PGconn *conn;
    if ((rc = db_pool_acquire(app->pool, 10000, &conn, err)) != ERR_OK)
        goto fail;
    int applied = 0;
    rc = migrate_run(conn, cfg->migrations_dir, &applied, err);
    db_pool_release(app->pool, conn);
    if (rc != ERR_OK)
        goto fail;
    log_info("migrations: %d applied now", applied);

    rc = http_server_start(cfg, routes, sizeof(routes) / sizeof(routes[0]), app, &app->http,
                           err);
    if (rc != ERR_OK)
        goto fail;
    return ERR_OK;
fail:
    app_stop(app);
    return rc;
}

void app_stop(struct app *app)
{
    if (app->http != NULL)
        http_server_quiesce(app->http, 30000);
    http_server_stop(app->http);
    app->http = NULL;
    db_pool_free(app->pool);
    app->pool = NULL;
}
