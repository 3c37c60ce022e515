/*
 * migrate — apply migrations/NNNN_name.sql in order, each in its own transaction, under a
 * PostgreSQL advisory lock (several nodes may start at once), recorded in schema_migrations
 * with a checksum; an applied file whose checksum changed stops start-up (forward only).
 */
#ifndef MIGRATE_H
#define MIGRATE_H

#include <libpq-fe.h>

#include "base/err.h"

/* Apply pending migrations from dir; *applied (optional) gets the number applied now. */
enum err_code migrate_run(PGconn *conn, const char *dir, int *applied,
                          struct err *err) ERR_MUSTCHECK;

#endif
