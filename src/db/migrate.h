/*
 * migrate — bring a database's schema to this build's. Two kinds of SQL files, both under a
 * PostgreSQL advisory lock (several nodes may start at once):
 *   - versioned migrations, migrations/NNNN_name.sql (DDL and data moves): applied once each,
 *     in order, each in its own transaction, recorded in schema_migrations with a checksum; an
 *     applied file whose checksum changed stops start-up (forward only);
 *   - repeatable files, sql/functions/NN_area.sql (CREATE OR REPLACE FUNCTION only): applied
 *     after the migrations, in file-name order, each in its own transaction, whenever its
 *     checksum differs from the one recorded in schema_repeatables, and all of them again
 *     when a migration was applied in the same run (a migration may drop or replace a
 *     function).
 */
#ifndef MIGRATE_H
#define MIGRATE_H

#include <libpq-fe.h>

#include "base/err.h"

struct migrate_counts {
    int migrations;  /* versioned migrations applied now */
    int repeatables; /* repeatable files (re-)applied now */
};

/* Apply pending migrations from migrations_dir, then the repeatable files of functions_dir
 * that are new or changed. counts (optional) gets what was applied now, also on failure. */
enum err_code migrate_run(PGconn *conn, const char *migrations_dir, const char *functions_dir,
                          struct migrate_counts *counts, struct err *err) ERR_MUSTCHECK;

#endif
