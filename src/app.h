/*
 * app — wires the server: opens the database pool, applies migrations, loads the analysis
 * data and starts HTTP with every route; app_stop tears it down in reverse order. The context
 * it fills is the one every handler receives (api/api_context.h).
 */
#ifndef APP_H
#define APP_H

#include "api/api_context.h"
#include "base/config.h"
#include "base/err.h"

/* Open the database pool, apply migrations, start HTTP. */
enum err_code app_start(struct api_context *app, const struct config *cfg,
                        struct err *err) ERR_MUSTCHECK;
/* Graceful stop: stop accepting, finish in-flight requests, close everything. */
void app_stop(struct api_context *app);

#endif
