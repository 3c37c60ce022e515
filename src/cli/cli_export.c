#include "cli/cli_export.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/codec.h"
#include "base/config.h"
#include "db/db.h"
#include "report/pin.h"
#include "store/export.h"
#include "store/query.h"

/* ---- pinwatch export ---- */

/* Flags pinwatch export understands; the filters are named like the query parameters. */
static const char *const export_flags[] = {"out",     "database_url", "hostname",    "app",
                                           "from",    "to",           "app_version", "platform",
                                           "network", "verdict",      "group"};
#define N_EXPORT_FLAGS (sizeof(export_flags) / sizeof(export_flags[0]))

struct flag_values {
    const char *v[N_EXPORT_FLAGS];
};

/* query_param_fn over the parsed flags. */
static const char *flag_param(void *ctx, const char *name)
{
    const struct flag_values *fv = ctx;
    for (size_t i = 0; i < N_EXPORT_FLAGS; i++) {
        if (strcmp(export_flags[i], name) == 0)
            return fv->v[i];
    }
    return NULL;
}

/* "--app-version=1.2", "--app_version 1.2": fill fv; false (with a message) on bad usage. */
static bool parse_flags(int argc, char **argv, struct flag_values *fv)
{
    memset(fv, 0, sizeof(*fv));
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0) {
            fprintf(stderr, "pinwatch export: unexpected argument '%s'\n", argv[i]);
            return false;
        }
        char name[32];
        const char *eq = strchr(argv[i], '=');
        size_t len = eq != NULL ? (size_t)(eq - argv[i] - 2) : strlen(argv[i] + 2);
        if (len >= sizeof(name))
            len = sizeof(name) - 1;
        memcpy(name, argv[i] + 2, len);
        name[len] = '\0';
        for (char *p = name; *p != '\0'; p++)
            *p = *p == '-' ? '_' : *p;
        size_t k = 0;
        while (k < N_EXPORT_FLAGS && strcmp(export_flags[k], name) != 0)
            k++;
        if (k == N_EXPORT_FLAGS) {
            fprintf(stderr, "pinwatch export: unknown flag --%s\n", name);
            return false;
        }
        if (eq != NULL) {
            fv->v[k] = eq + 1;
        } else if (i + 1 < argc) {
            fv->v[k] = argv[++i];
        } else {
            fprintf(stderr, "pinwatch export: --%s needs a value\n", name);
            return false;
        }
    }
    return true;
}

static enum err_code file_sink(void *ctx, const void *data, size_t len)
{
    return fwrite(data, 1, len, ctx) == len ? ERR_OK : ERR_INTERNAL;
}

static int64_t now_usec(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Write the bundle to out (a temporary name, renamed when complete; "-" is stdout). */
static int export_to(PGconn *conn, const struct query_filters *f, const char *out)
{
    bool to_stdout = strcmp(out, "-") == 0;
    char *tmp = NULL;
    FILE *fp = stdout;
    if (!to_stdout) {
        size_t n = strlen(out) + 16;
        tmp = malloc(n);
        int fd = -1;
        if (tmp != NULL) {
            snprintf(tmp, n, "%s.tmp-XXXXXX", out);
            fd = mkstemp(tmp);
        }
        fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
        if (fp == NULL) {
            fprintf(stderr, "pinwatch export: cannot write next to %s: %s\n", out, strerror(errno));
            if (fd >= 0)
                close(fd);
            free(tmp);
            return 1;
        }
    }
    struct export_stats st;
    struct err e = {0};
    enum err_code rc = export_bundle_write(conn, f, now_usec(), file_sink, fp, &st, &e);
    bool ok = rc == ERR_OK && fflush(fp) == 0;
    if (!to_stdout) {
        ok = ok && fsync(fileno(fp)) == 0;
        ok = fclose(fp) == 0 && ok;
        ok = ok && rename(tmp, out) == 0;
        if (!ok)
            unlink(tmp);
        free(tmp);
    }
    if (!ok) {
        fprintf(stderr, "pinwatch export: failed: %s\n", rc != ERR_OK ? e.detail : strerror(errno));
        return 1;
    }
    fprintf(to_stdout ? stderr : stdout,
            "pinwatch export: wrote %s: %llu reports, %llu raw bodies, %llu chains, %llu bytes\n",
            to_stdout ? "stdout" : out, (unsigned long long)st.reports,
            (unsigned long long)st.raw_files, (unsigned long long)st.chains,
            (unsigned long long)st.bytes);
    if (st.raw_missing > 0 || st.raw_mismatch > 0)
        fprintf(stderr,
                "pinwatch export: warning: %llu reports without a usable raw body, %llu raw"
                " bodies not matching their raw_sha256\n",
                (unsigned long long)st.raw_missing, (unsigned long long)st.raw_mismatch);
    return 0;
}

int cli_export(int argc, char **argv)
{
    struct flag_values fv;
    if (!parse_flags(argc, argv, &fv))
        return 2;
    const char *out = flag_param(&fv, "out");
    if (out == NULL || out[0] == '\0') {
        fprintf(stderr, "usage: pinwatch export --out FILE [--hostname H] [--app A] [--from T]"
                        " [--to T] [--app-version V] [--platform P] [--network N] [--verdict V]"
                        " [--group G] [--database-url URL]   (pinwatch export --help)\n");
        return 2;
    }
    struct query_filters f;
    struct err e = {0};
    if (query_filters_parse(flag_param, &fv, now_usec(), &f, &e) != ERR_OK) {
        fprintf(stderr, "pinwatch export: %s\n", e.detail);
        return 2;
    }
    /* The flag, else the environment, else the database `make run` recorded. */
    const char *url = flag_param(&fv, "database_url");
    if (url == NULL)
        url = getenv("DATABASE_URL");
    char *recorded = url == NULL || url[0] == '\0' ? config_run_database_url() : NULL;
    if (recorded != NULL)
        url = recorded;
    if (url == NULL || url[0] == '\0') {
        config_print_no_database(stderr, "export");
        query_filters_cleanup(&f);
        return 2;
    }
    PGconn *conn = NULL;
    int status = 2;
    if (db_connect(url, &conn, &e) != ERR_OK)
        fprintf(stderr, "pinwatch export: %s\n", e.detail);
    else
        status = export_to(conn, &f, out);
    PQfinish(conn);
    free(recorded);
    query_filters_cleanup(&f);
    return status;
}

/* ---- pinwatch verify ---- */

struct member {
    char *name;
    char sha[PIN_HEX_LEN + 1];
    bool listed; /* named by a manifest line */
};

struct report_ref {
    char *id;
    char *raw_sha;
};

struct verify {
    const char *path;
    struct member *members;
    size_t n_members, cap_members;
    struct report_ref *reports;
    size_t n_reports, cap_reports;
    struct buf manifest; /* the manifest's text */
    bool has_manifest, has_ndjson;
    struct buf line; /* a reports.ndjson line being assembled */
    unsigned long ndjson_line;
    unsigned long problems;
};

static void problem(struct verify *v, const char *fmt, ...) ERR_PRINTF(2, 3);
static void problem(struct verify *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    v->problems++;
}

static const char *ar_error(struct archive *a)
{
    const char *e = archive_error_string(a);
    return e != NULL ? e : "unknown error";
}

static bool grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 256;
    void *p = realloc(*arr, c * size);
    if (p == NULL)
        return false;
    *arr = p;
    *cap = c;
    return true;
}

/* One complete reports.ndjson line: remember its id and raw_sha256. */
static bool ndjson_line(struct verify *v, const char *text, size_t len)
{
    v->ndjson_line++;
    if (len == 0)
        return true;
    json_t *j = json_loadb(text, len, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *sha = json_string_value(json_object_get(j, "raw_sha256"));
    bool ok = true;
    if (id == NULL || sha == NULL) {
        problem(v, "reports.ndjson line %lu: not a report with an id and a raw_sha256",
                v->ndjson_line);
    } else if (!grow((void **)&v->reports, &v->cap_reports, v->n_reports, sizeof(*v->reports))) {
        ok = false;
    } else {
        struct report_ref *r = &v->reports[v->n_reports];
        r->id = strdup(id);
        r->raw_sha = strdup(sha);
        ok = r->id != NULL && r->raw_sha != NULL;
        v->n_reports++;
    }
    json_decref(j);
    return ok;
}

static bool ndjson_feed(struct verify *v, const char *data, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t piece = nl != NULL ? (size_t)(nl - data) : len;
        if (buf_append(&v->line, data, piece) != ERR_OK)
            return false;
        if (nl == NULL)
            break;
        if (!ndjson_line(v, v->line.data, v->line.len))
            return false;
        v->line.len = 0;
        data += piece + 1;
        len -= piece + 1;
    }
    return true;
}

/* Read one member's bytes, hashing them; keep the manifest, parse reports.ndjson. */
static bool read_member(struct verify *v, struct archive *a, const char *name, char *hex)
{
    bool is_manifest = strcmp(name, EXPORT_MANIFEST) == 0;
    bool is_ndjson = strcmp(name, "reports.ndjson") == 0;
    v->has_manifest |= is_manifest;
    v->has_ndjson |= is_ndjson;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char *chunk = malloc(65536);
    bool ok = md != NULL && chunk != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    la_ssize_t n;
    while (ok && (n = archive_read_data(a, chunk, 65536)) != 0) {
        if (n < 0) {
            problem(v, "%s: unreadable: %s", name, ar_error(a));
            ok = false;
            break;
        }
        ok = EVP_DigestUpdate(md, chunk, (size_t)n) == 1;
        if (ok && is_manifest)
            ok = buf_append(&v->manifest, chunk, (size_t)n) == ERR_OK;
        if (ok && is_ndjson)
            ok = ndjson_feed(v, chunk, (size_t)n);
    }
    unsigned char d[EVP_MAX_MD_SIZE];
    if (ok)
        ok = EVP_DigestFinal_ex(md, d, NULL) == 1;
    if (ok)
        codec_hex_encode(d, 32, hex);
    if (ok && is_ndjson && v->line.len > 0)
        ok = ndjson_line(v, v->line.data, v->line.len);
    EVP_MD_CTX_free(md);
    free(chunk);
    return ok;
}

static int member_cmp(const void *a, const void *b)
{
    return strcmp(((const struct member *)a)->name, ((const struct member *)b)->name);
}

static struct member *find_member(struct verify *v, const char *name)
{
    struct member key = {.name = (char *)name};
    if (v->n_members == 0) /* bsearch and qsort want a real array, even when empty */
        return NULL;
    return bsearch(&key, v->members, v->n_members, sizeof(*v->members), member_cmp);
}

static int report_cmp(const void *a, const void *b)
{
    return strcmp(((const struct report_ref *)a)->id, ((const struct report_ref *)b)->id);
}

/* Every member of the archive, hashed. false when the archive itself is unreadable. */
static bool read_archive(struct verify *v)
{
    struct archive *a = archive_read_new();
    if (a == NULL)
        return false;
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    bool ok = archive_read_open_filename(a, v->path, 65536) == ARCHIVE_OK;
    if (!ok)
        problem(v, "%s: cannot open: %s", v->path, ar_error(a));
    struct archive_entry *e;
    int r = ARCHIVE_OK;
    while (ok && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        /* A bundle re-packed with tar may say "./raw/x.json" and carry directory entries. */
        while (name != NULL && strncmp(name, "./", 2) == 0)
            name += 2;
        if (name == NULL || archive_entry_filetype(e) == AE_IFDIR)
            continue;
        if (archive_entry_filetype(e) != AE_IFREG) {
            problem(v, "%s: not a regular file", name);
            continue;
        }
        if (!grow((void **)&v->members, &v->cap_members, v->n_members, sizeof(*v->members)))
            return false;
        struct member *m = &v->members[v->n_members];
        memset(m, 0, sizeof(*m));
        if ((m->name = strdup(name)) == NULL)
            return false;
        v->n_members++;
        ok = read_member(v, a, m->name, m->sha);
    }
    if (ok && r != ARCHIVE_EOF) {
        problem(v, "%s: archive damaged: %s", v->path, ar_error(a));
        ok = false;
    }
    archive_read_free(a);
    return ok;
}

static void check_manifest(struct verify *v)
{
    if (!v->has_manifest) {
        problem(v, "%s: missing from the bundle", EXPORT_MANIFEST);
        return;
    }
    unsigned long lineno = 0;
    for (char *line = v->manifest.data, *next; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        lineno++;
        line[strcspn(line, "\r")] = '\0';
        /* sha256sum format: 64 hex digits, a space, ' ' (text) or '*' (binary), the name. */
        if (strlen(line) < 67 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*')) {
            problem(v, "%s line %lu: not a sha256sum line", EXPORT_MANIFEST, lineno);
            continue;
        }
        line[64] = '\0';
        const char *name = line + 66;
        struct member *m = find_member(v, name);
        if (m == NULL) {
            problem(v, "%s: listed in %s but missing from the bundle", name, EXPORT_MANIFEST);
            continue;
        }
        m->listed = true;
        for (char *p = line; *p != '\0'; p++)
            *p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        if (strcmp(line, m->sha) != 0)
            problem(v, "%s: SHA-256 is %s, %s says %s", name, m->sha, EXPORT_MANIFEST, line);
    }
    for (size_t i = 0; i < v->n_members; i++) {
        const struct member *m = &v->members[i];
        if (!m->listed && strcmp(m->name, EXPORT_MANIFEST) != 0)
            problem(v, "%s: in the bundle but not listed in %s", m->name, EXPORT_MANIFEST);
    }
}

/* Every raw body against its report's raw_sha256, and the other way round. */
static size_t check_raw(struct verify *v)
{
    if (!v->has_ndjson) {
        problem(v, "reports.ndjson: missing from the bundle");
        return 0;
    }
    size_t matched = 0;
    char name[128];
    for (size_t i = 0; i < v->n_reports; i++) {
        const struct report_ref *r = &v->reports[i];
        snprintf(name, sizeof(name), "raw/%s.json", r->id);
        const struct member *m = find_member(v, name);
        if (m == NULL)
            problem(v, "report %s: %s missing from the bundle", r->id, name);
        else if (strcmp(m->sha, r->raw_sha) != 0)
            problem(v, "%s: SHA-256 is %s, reports.ndjson records raw_sha256 %s", name, m->sha,
                    r->raw_sha);
        else
            matched++;
    }
    if (v->n_reports > 0)
        qsort(v->reports, v->n_reports, sizeof(*v->reports), report_cmp);
    for (size_t i = 0; i < v->n_members; i++) {
        const char *n = v->members[i].name;
        size_t len = strlen(n);
        if (strncmp(n, "raw/", 4) != 0 || len < 9 || strcmp(n + len - 5, ".json") != 0)
            continue;
        char id[128];
        snprintf(id, sizeof(id), "%.*s", (int)(len - 9), n + 4);
        struct report_ref key = {.id = id};
        if (v->n_reports == 0 ||
            bsearch(&key, v->reports, v->n_reports, sizeof(key), report_cmp) == NULL)
            problem(v, "%s: no report %s in reports.ndjson", n, id);
    }
    return matched;
}

static void verify_cleanup(struct verify *v)
{
    for (size_t i = 0; i < v->n_members; i++)
        free(v->members[i].name);
    for (size_t i = 0; i < v->n_reports; i++) {
        free(v->reports[i].id);
        free(v->reports[i].raw_sha);
    }
    free(v->members);
    free(v->reports);
    buf_cleanup(&v->manifest);
    buf_cleanup(&v->line);
}

int cli_verify(int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-') {
        fprintf(stderr, "usage: pinwatch verify FILE\n");
        return 2;
    }
    struct verify v;
    memset(&v, 0, sizeof(v));
    v.path = argv[0];
    buf_init(&v.manifest, 0);
    buf_init(&v.line, 0);
    if (!read_archive(&v)) {
        if (v.problems == 0)
            problem(&v, "%s: cannot be read (out of memory)", v.path);
        verify_cleanup(&v);
        return 1;
    }
    if (v.n_members > 0)
        qsort(v.members, v.n_members, sizeof(*v.members), member_cmp);
    for (size_t i = 1; i < v.n_members; i++) {
        if (strcmp(v.members[i - 1].name, v.members[i].name) == 0)
            problem(&v, "%s: appears more than once in the bundle", v.members[i].name);
    }
    check_manifest(&v);
    size_t matched = check_raw(&v);
    int status = 0;
    if (v.problems > 0) {
        fprintf(stderr, "pinwatch verify: %s: %lu problem(s)\n", v.path, v.problems);
        status = 1;
    } else {
        printf("OK: %s: %zu files match %s, %zu raw bodies match the raw_sha256 of their"
               " report\n",
               v.path, v.n_members > 0 ? v.n_members - 1 : 0, EXPORT_MANIFEST, matched);
    }
    verify_cleanup(&v);
    return status;
}
