/*
 * app — the context every handler receives: configuration and the long-lived parts the
 * server is wired from. main builds one, serves, and tears it down in reverse order.
 */
#ifndef APP_H
#define APP_H

#include <stdbool.h>

#include "config.h"
#include "err.h"

struct db_pool;
struct http_server;

struct app {
    const struct config *cfg;   /* borrowed */
    struct db_pool *pool;       /* reads and admin writes */
    struct http_server *http;
};

/* Open the database pool, apply migrations, start HTTP. */
enum err_code app_start(struct app *app, const struct config *cfg, struct err *err)
    ERR_MUSTCHECK;
/* Graceful stop: stop accepting, finish in-flight requests, close everything. */
void app_stop(struct app *app);

#endif
