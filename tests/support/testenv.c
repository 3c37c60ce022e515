#include "testenv.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char conninfo_buf[512];
static char admin_conninfo[512];

static const char *db_name(void)
{
    const char *n = getenv("PINWATCH_TEST_DB_NAME");
    return n != NULL && n[0] ? n : "t_default";
}

static void load_base(void)
{
    if (admin_conninfo[0] != '\0')
        return;
    char path[512];
    snprintf(path, sizeof(path), "%s/conninfo", TEST_STATE_DIR);
    size_t len;
    char *base = testenv_read_file(path, &len);
    base[strcspn(base, "\r\n")] = '\0';
    snprintf(admin_conninfo, sizeof(admin_conninfo), "%s dbname=postgres", base);
    snprintf(conninfo_buf, sizeof(conninfo_buf), "%s dbname=%s", base, db_name());
    free(base);
}

static void admin_exec(const char *sql)
{
    PGconn *c = PQconnectdb(admin_conninfo);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "admin connect: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

void testenv_reset_db(void)
{
    load_base();
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db_name());
    admin_exec(sql);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db_name());
    admin_exec(sql);
}

const char *testenv_conninfo(void)
{
    load_base();
    return conninfo_buf;
}

PGconn *testenv_db(void)
{
    PGconn *c = PQconnectdb(testenv_conninfo());
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "connect: %s", PQerrorMessage(c));
    return c;
}

void testenv_db_exec(const char *sql)
{
    PGconn *c = testenv_db();
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

char *testenv_db_value(const char *sql)
{
    PGconn *c = testenv_db();
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    cr_assert_eq(PQntuples(r), 1, "%s: %d rows", sql, PQntuples(r));
    char *v = PQgetisnull(r, 0, 0) ? NULL : strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

long testenv_db_long(const char *sql)
{
    char *v = testenv_db_value(sql);
    cr_assert_not_null(v, "%s returned NULL", sql);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

char *testenv_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    cr_assert_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    buf[size] = '\0';
    fclose(f);
    if (len != NULL)
        *len = (size_t)size;
    return buf;
}

char *testenv_write_temp(const char *content)
{
    char path[] = "/tmp/pinwatch-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
    size_t len = strlen(content);
    cr_assert_eq(write(fd, content, len), (ssize_t)len);
    close(fd);
    return strdup(path);
}

size_t testenv_each_fixture(void (*fn)(const char *path, const char *body, size_t len, void *ctx),
                            void *ctx)
{
    static const char *const dirs[] = {"trustkit-ios",  "trustkit-android",  "sentry-relay",
                                       "reportd",       "w3c-nel",           "sentry",
                                       "w3c-reporting", "chromium-blocklist"};
    size_t files = 0;
    for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/%s", FIXTURES_DIR, dirs[d]);
        DIR *dh = opendir(dir);
        cr_assert_not_null(dh, "%s", dir);
        for (struct dirent *e; (e = readdir(dh)) != NULL;) {
            if (e->d_name[0] == '.')
                continue;
            char path[1024];
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            size_t len;
            char *body = testenv_read_file(path, &len);
            fn(path, body, len, ctx);
            free(body);
            files++;
        }
        closedir(dh);
    }
    return files;
}

unsigned testenv_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

void testenv_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

double testenv_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void testenv_server_start(struct testenv_server *srv, const char *const *extra_env)
{
    if (srv->port == 0)
        srv->port = testenv_free_port();
    if (srv->token[0] == '\0')
        snprintf(srv->token, sizeof(srv->token), "test-token-%u", srv->port);
    if (srv->spool_dir[0] == '\0')
        snprintf(srv->spool_dir, sizeof(srv->spool_dir), "%s/spool-%s-%u", TEST_STATE_DIR,
                 db_name(), srv->port);
    snprintf(srv->log_path, sizeof(srv->log_path), "%s/server-%s-%u.log", TEST_STATE_DIR, db_name(),
             srv->port);
    const char *conninfo = srv->conninfo != NULL ? srv->conninfo : testenv_conninfo();
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        char listen[64], token[128], db[600], spool[300];
        snprintf(listen, sizeof(listen), "PINWATCH_LISTEN=127.0.0.1:%u", srv->port);
        snprintf(token, sizeof(token), "PINWATCH_ADMIN_TOKEN=%s", srv->token);
        snprintf(db, sizeof(db), "DATABASE_URL=%s", conninfo);
        snprintf(spool, sizeof(spool), "PINWATCH_SPOOL_DIR=%s", srv->spool_dir);
        putenv(listen);
        putenv(token);
        putenv(db);
        putenv(spool);
        putenv("PINWATCH_RATE_LIMIT=0");
        putenv("PINWATCH_LOG_LEVEL=debug");
        for (size_t i = 0; extra_env != NULL && extra_env[i] != NULL; i++)
            putenv((char *)extra_env[i]);
        FILE *log = freopen(srv->log_path, "a", stderr);
        (void)log;
        execl(PINWATCH_BIN, "pinwatch", "serve", (char *)NULL);
        _exit(127);
    }
    srv->pid = pid;
    for (int i = 0; i < 300; i++) {
        struct testenv_response r;
        if (testenv_http(srv->port, "GET", "/healthz", NULL, NULL, 0, false, &r) == 200) {
            testenv_response_free(&r);
            return;
        }
        testenv_response_free(&r);
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            cr_assert_fail("pinwatch exited during start-up (status %d), see %s", status,
                           srv->log_path);
        testenv_sleep_ms(50);
    }
    cr_assert_fail("pinwatch did not answer /healthz, see %s", srv->log_path);
}

int testenv_server_stop(struct testenv_server *srv)
{
    if (srv->pid <= 0)
        return -1;
    kill(srv->pid, SIGTERM);
    int status = 0;
    waitpid(srv->pid, &status, 0);
    srv->pid = 0;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

void testenv_server_kill(struct testenv_server *srv)
{
    if (srv->pid <= 0)
        return;
    kill(srv->pid, SIGKILL);
    waitpid(srv->pid, NULL, 0);
    srv->pid = 0;
}

static bool send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static void parse_response(char *raw, size_t len, struct testenv_response *resp)
{
    char *end = strstr(raw, "\r\n\r\n");
    if (end == NULL || sscanf(raw, "HTTP/1.%*d %d", &resp->status) != 1) {
        resp->status = -1;
        return;
    }
    resp->headers = strndup(raw, (size_t)(end - raw) + 2);
    char *body = end + 4;
    size_t blen = len - (size_t)(body - raw);
    char *te = testenv_response_header(resp, "Transfer-Encoding");
    if (te != NULL && strcasecmp(te, "chunked") == 0) {
        /* De-chunk in place. */
        char *out = malloc(blen + 1);
        size_t o = 0;
        char *p = body;
        while (p < body + blen) {
            unsigned long sz = strtoul(p, &p, 16);
            p = strstr(p, "\r\n");
            if (p == NULL || sz == 0)
                break;
            p += 2;
            memcpy(out + o, p, sz);
            o += sz;
            p += sz + 2;
        }
        out[o] = '\0';
        resp->body = out;
        resp->body_len = o;
    } else {
        resp->body = malloc(blen + 1);
        memcpy(resp->body, body, blen);
        resp->body[blen] = '\0';
        resp->body_len = blen;
    }
    free(te);
    resp->json = json_loadb(resp->body, resp->body_len, 0, NULL);
}

int testenv_http(unsigned port, const char *method, const char *path, const char *headers,
                 const void *body, size_t body_len, bool chunked, struct testenv_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->status = -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    char head[8192];
    int n =
        snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s",
                 method, path, headers != NULL ? headers : "");
    if (body != NULL && !chunked)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n", body_len);
    if (body != NULL && chunked)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Transfer-Encoding: chunked\r\n");
    n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
    bool ok = send_all(fd, head, (size_t)n);
    if (ok && body != NULL && !chunked)
        ok = send_all(fd, body, body_len);
    if (ok && body != NULL && chunked) {
        const char *p = body;
        size_t left = body_len;
        while (ok && left > 0) {
            size_t piece = left > 4000 ? 4000 : left;
            char sz[32];
            int m = snprintf(sz, sizeof(sz), "%zx\r\n", piece);
            ok = send_all(fd, sz, (size_t)m) && send_all(fd, p, piece) && send_all(fd, "\r\n", 2);
            p += piece;
            left -= piece;
        }
        if (ok)
            ok = send_all(fd, "0\r\n\r\n", 5);
    }
    size_t cap = 65536, len = 0;
    char *raw = malloc(cap);
    for (;;) {
        if (len + 4096 > cap) {
            cap *= 2;
            raw = realloc(raw, cap);
        }
        ssize_t r = recv(fd, raw + len, cap - len - 1, 0);
        if (r < 0 && errno == EINTR)
            continue; /* a signal (e.g. SIGCHLD from system()) is not the end of the answer */
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    raw[len] = '\0';
    if (len > 0)
        parse_response(raw, len, resp);
    free(raw);
    return resp->status;
}

int testenv_get(const struct testenv_server *srv, const char *path, struct testenv_response *resp)
{
    char h[160];
    snprintf(h, sizeof(h), "Authorization: Bearer %s\r\n", srv->token);
    return testenv_http(srv->port, "GET", path, h, NULL, 0, false, resp);
}

int testenv_post_report(const struct testenv_server *srv, const char *body, size_t len,
                        const char *extra_headers, struct testenv_response *resp)
{
    char h[2048];
    snprintf(h, sizeof(h), "Content-Type: application/json\r\n%s",
             extra_headers != NULL ? extra_headers : "");
    return testenv_http(srv->port, "POST", "/v1/reports", h, body, len, false, resp);
}

void testenv_response_free(struct testenv_response *resp)
{
    free(resp->headers);
    free(resp->body);
    json_decref(resp->json);
    memset(resp, 0, sizeof(*resp));
}

char *testenv_response_header(const struct testenv_response *resp, const char *name)
{
    if (resp->headers == NULL)
        return NULL;
    size_t nlen = strlen(name);
    for (const char *p = resp->headers; p != NULL && *p; p = strstr(p, "\r\n")) {
        if (p[0] == '\r')
            p += 2;
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (*v == ' ')
                v++;
            return strndup(v, strcspn(v, "\r\n"));
        }
    }
    return NULL;
}

static void run_or_fail(const char *cmd)
{
    int rc = system(cmd);
    cr_assert_eq(rc, 0, "command failed (%d): %s", rc, cmd);
}

void testenv_pg_create(struct testenv_pg *pg, const char *name)
{
    snprintf(pg->dir, sizeof(pg->dir), "%s/private-%s", TEST_STATE_DIR, name);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/pg_start.sh %s >/dev/null", TEST_SCRIPTS_DIR, pg->dir);
    run_or_fail(cmd);
    char path[512];
    snprintf(path, sizeof(path), "%s/conninfo", pg->dir);
    char *base = testenv_read_file(path, NULL);
    base[strcspn(base, "\r\n")] = '\0';
    snprintf(pg->conninfo, sizeof(pg->conninfo), "%s dbname=postgres", base);
    free(base);
}

/* scripts/pgcluster.sh finds the cluster of a state folder wherever it lives (as root, in a
 * folder the postgres user can reach). */
static void pgcluster(const char *what, const struct testenv_pg *pg)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/../../scripts/pgcluster.sh %s %s >/dev/null", TEST_SCRIPTS_DIR,
             what, pg->dir);
    run_or_fail(cmd);
}

void testenv_pg_stop(struct testenv_pg *pg)
{
    pgcluster("stop", pg);
}

void testenv_pg_start(struct testenv_pg *pg)
{
    pgcluster("start", pg);
}

void testenv_pg_destroy(struct testenv_pg *pg)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/pg_stop.sh %s >/dev/null 2>&1", TEST_SCRIPTS_DIR, pg->dir);
    int rc = system(cmd);
    (void)rc;
}

int testenv_run(char **out, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    cr_assert(n > 0 && (size_t)n + 8 < sizeof(cmd), "command too long");
    strcat(cmd, " 2>&1");
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    size_t cap = 4096, len = 0, got;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    while ((got = fread(text + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 1024) {
            text = realloc(text, cap *= 2);
            cr_assert_not_null(text);
        }
    }
    text[len] = '\0';
    int status = pclose(p);
    if (out != NULL)
        *out = text;
    else
        free(text);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
