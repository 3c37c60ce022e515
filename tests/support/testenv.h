/*
 * testenv — what integration tests need to run the real thing: the throwaway PostgreSQL
 * started by the db.start fixture, a real `pinwatch serve` process on a loopback port, and a
 * small HTTP/1.1 client over a raw socket (so tests see exactly what goes on the wire).
 */
#ifndef TESTENV_H
#define TESTENV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>
#include <libpq-fe.h>

/* Connection string of the test database for this binary (created empty on first use:
 * PINWATCH_TEST_DB_NAME, else "t_default"). Static storage. */
const char *testenv_conninfo(void);
/* Drop and re-create this binary's database. */
void testenv_reset_db(void);
/* A new connection to the test database (asserts on failure). */
PGconn *testenv_db(void);
/* Run SQL returning one value as a new string (NULL for SQL NULL). */
char *testenv_db_value(const char *sql);
long testenv_db_long(const char *sql);
/* Run SQL that returns no rows (asserts it succeeded). */
void testenv_db_exec(const char *sql);

struct testenv_server {
    pid_t pid;
    unsigned port;
    char log_path[256];
    char spool_dir[256];
    char token[64];
    const char *conninfo; /* database to use; NULL = this binary's test database */
};

/* A private PostgreSQL cluster of one test's own, so the test may stop and start it. */
struct testenv_pg {
    char dir[256];
    char conninfo[512];
};
void testenv_pg_create(struct testenv_pg *pg, const char *name);
void testenv_pg_stop(struct testenv_pg *pg);
void testenv_pg_start(struct testenv_pg *pg);
void testenv_pg_destroy(struct testenv_pg *pg);

/* Start `pinwatch serve` on 127.0.0.1:<free port> against the test database with the given
 * extra environment ("NAME=value", NULL-terminated, may be NULL). Waits for /healthz. */
void testenv_server_start(struct testenv_server *srv, const char *const *extra_env);
/* SIGTERM and wait; returns the exit status (or 128+signal). */
int testenv_server_stop(struct testenv_server *srv);
/* SIGKILL and wait. */
void testenv_server_kill(struct testenv_server *srv);

struct testenv_response {
    int status;
    char *headers; /* raw header block */
    char *body;
    size_t body_len;
    json_t *json; /* parsed body when it is JSON, else NULL */
};

/* One request on a fresh connection. headers: "Name: value\r\n"... or NULL. body may be NULL.
 * chunked: send the body with Transfer-Encoding: chunked. Returns status, or -1 when the
 * connection failed or was closed without an answer. */
int testenv_http(unsigned port, const char *method, const char *path, const char *headers,
                 const void *body, size_t body_len, bool chunked, struct testenv_response *resp);
/* Admin GET with the server's bearer token. */
int testenv_get(const struct testenv_server *srv, const char *path, struct testenv_response *resp);
/* POST application/json to /v1/reports. */
int testenv_post_report(const struct testenv_server *srv, const char *body, size_t len,
                        const char *extra_headers, struct testenv_response *resp);
void testenv_response_free(struct testenv_response *resp);
/* Value of a response header (new string) or NULL. */
char *testenv_response_header(const struct testenv_response *resp, const char *name);

/* A loopback TCP port free right now (for a second listener of a server under test). */
unsigned testenv_free_port(void);

/* Run a shell command (printf-style); its stdout and stderr go into *out (new string) when out
 * is not NULL. Returns the exit status (128+signal when killed). */
int testenv_run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whole file as a new NUL-terminated buffer (asserts on failure); len may be NULL. */
char *testenv_read_file(const char *path, size_t *len);

/* A new temporary file holding content; returns its path (caller unlink()s and frees). */
char *testenv_write_temp(const char *content);

/*
 * Call fn on every report fixture (every file under each source folder of tests/fixtures),
 * its whole bytes NUL-terminated (borrowed for the call). Returns the number of files.
 */
size_t testenv_each_fixture(void (*fn)(const char *path, const char *body, size_t len, void *ctx),
                            void *ctx);

/* Monotonic seconds, for timing bounds. */
double testenv_now_s(void);

/* Sleep for ms milliseconds. */
void testenv_sleep_ms(long ms);

#endif
