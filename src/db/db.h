/*
 * db — libpq connections: a small pool for reads and admin writes, and helpers that map
 * libpq results onto the err idiom. A PGconn is used by one thread at a time.
 */
#ifndef DB_H
#define DB_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "base/err.h"

struct db_pool;

/* Connect with a connect timeout and a statement timeout; new PGconn in *out. */
enum err_code db_connect(const char *conninfo, PGconn **out, struct err *err) ERR_MUSTCHECK;

/* A pool of up to `size` lazily opened connections. New pool, free with db_pool_free. */
struct db_pool *db_pool_new(const char *conninfo, unsigned size);
void db_pool_free(struct db_pool *pool);

/* Borrow a healthy connection (reconnecting a broken one), waiting at most timeout_ms.
 * ERR_UNAVAILABLE when the database cannot be reached. Give it back with db_pool_release. */
enum err_code db_pool_acquire(struct db_pool *pool, unsigned timeout_ms, PGconn **out,
                              struct err *err) ERR_MUSTCHECK;
/* Return a connection; one left in a transaction or broken is reset. */
void db_pool_release(struct db_pool *pool, PGconn *conn);

/* Map a failed result (or NULL result) to an err, by what the caller can do about it:
 *   ERR_CONFLICT     "database_conflict"    deadlock or serialization failure: retry now;
 *   ERR_UNAVAILABLE  "database_unavailable" the connection or the server is gone;
 *   ERR_UNAVAILABLE  DB_KEY_BUSY            transient (timeout, lock wait, disk full, memory):
 *                                           the server is there, retry later;
 *   ERR_INTERNAL     DB_KEY_DATA            the rows are refused (SQLSTATE 22xxx, 23xxx);
 *   ERR_INTERNAL     "database_error"       anything else (a broken function, a bug).
 * The detail carries the SQLSTATE and the primary message. */
#define DB_KEY_BUSY "database_busy"
#define DB_KEY_DATA "database_data_error"
enum err_code db_result_error(PGconn *conn, const PGresult *res, const char *what, struct err *err);

/* Run a parameterless command; ERR_OK when it succeeded. */
enum err_code db_exec(PGconn *conn, const char *sql, struct err *err);

/* End the open transaction by what happened in it: COMMIT when rc is ERR_OK (its failure is
 * returned), else ROLLBACK (its own error ignored: rc, already in err, is what counts). */
enum err_code db_end(PGconn *conn, enum err_code rc, struct err *err);

/* The numbers of the n columns named names[] in res, into cols[]: a result is read by column
 * name, not position. ERR_INTERNAL naming the first column res lacks. */
enum err_code db_columns(const PGresult *res, const char *const *names, int n, int *cols,
                         struct err *err) ERR_MUSTCHECK;

/* Check that the database answers (SELECT 1). */
enum err_code db_ping(struct db_pool *pool, struct err *err) ERR_MUSTCHECK;

#endif
