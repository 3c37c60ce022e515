/* cli_verify — `pinwatch verify`: re-check a bundle's integrity and its signature (SPEC §8). */
#include "cli/cli_export.h"

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/codec.h"
#include "report/pin.h"
#include "store/export.h"
#include "store/signing.h"

/* Largest signature or key member read (both are a few hundred bytes). */
#define SMALL_MEMBER_MAX (64 * 1024)

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
    const char *key_path;  /* --key, or NULL: the bundle's signing-key.pem */
    char *folder;          /* the one top folder every member lives under */
    struct buf signature;  /* MANIFEST.sha256.sig */
    struct buf public_key; /* signing-key.pem */
    bool has_signature, has_public_key;
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
    struct buf *small = strcmp(name, EXPORT_SIGNATURE) == 0    ? &v->signature
                        : strcmp(name, EXPORT_PUBLIC_KEY) == 0 ? &v->public_key
                                                               : NULL;
    v->has_manifest |= is_manifest;
    v->has_ndjson |= is_ndjson;
    v->has_signature |= small == &v->signature;
    v->has_public_key |= small == &v->public_key;
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
        if (ok && small != NULL && small->len + (size_t)n <= SMALL_MEMBER_MAX)
            ok = buf_append(small, chunk, (size_t)n) == ERR_OK;
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

/* The member's name inside the bundle's one folder (set by the first member), or NULL with a
 * problem when it lies outside it. */
static const char *in_folder(struct verify *v, const char *path)
{
    const char *slash = strchr(path, '/');
    if (slash == NULL || slash == path || slash[1] == '\0') {
        problem(v, "%s: not inside the bundle's folder", path);
        return NULL;
    }
    size_t len = (size_t)(slash - path);
    if (v->folder == NULL && (v->folder = strndup(path, len)) == NULL)
        return NULL;
    if (strlen(v->folder) != len || strncmp(path, v->folder, len) != 0) {
        problem(v, "%s: outside the bundle's folder %s/", path, v->folder);
        return NULL;
    }
    return slash + 1;
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
        name = in_folder(v, name);
        if (name == NULL)
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
        if (!m->listed && strcmp(m->name, EXPORT_MANIFEST) != 0 &&
            strcmp(m->name, EXPORT_SIGNATURE) != 0)
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

/* The manifest's signature, with the --key key or else the bundle's own; prints the key's
 * fingerprint, which is what a reviewer compares with the one published out of band. Runs
 * before check_manifest, which cuts the manifest's text into lines. */
static void check_signature(struct verify *v, char fpr[SIGNING_FPR_HEX])
{
    fpr[0] = '\0';
    struct buf trusted;
    buf_init(&trusted, SMALL_MEMBER_MAX);
    const struct buf *pem = &v->public_key;
    if (v->key_path != NULL) {
        if (buf_append_file(&trusted, v->key_path) != ERR_OK) {
            problem(v, "%s: cannot read the key", v->key_path);
            buf_cleanup(&trusted);
            return;
        }
        pem = &trusted;
    } else if (!v->has_public_key) {
        problem(v, "%s: missing from the bundle (or give --key)", EXPORT_PUBLIC_KEY);
    }
    EVP_PKEY *key = NULL;
    struct err e = {0};
    if (pem->len > 0 && signing_public_from_pem(pem->data, pem->len, &key, &e) != ERR_OK)
        problem(v, "%s: %s", v->key_path != NULL ? v->key_path : EXPORT_PUBLIC_KEY, e.detail);
    if (key != NULL && signing_fingerprint(key, fpr) != ERR_OK)
        fpr[0] = '\0';
    if (!v->has_signature)
        problem(v, "%s: missing from the bundle: it is not signed", EXPORT_SIGNATURE);
    else if (key != NULL && v->has_manifest &&
             !signing_verify_base64(key, v->manifest.data != NULL ? v->manifest.data : "",
                                    v->manifest.len, v->signature.data, v->signature.len))
        problem(v, "%s: not a signature of %s by this key", EXPORT_SIGNATURE, EXPORT_MANIFEST);
    EVP_PKEY_free(key);
    buf_cleanup(&trusted);
}

static void verify_cleanup(struct verify *v)
{
    free(v->folder);
    buf_cleanup(&v->signature);
    buf_cleanup(&v->public_key);
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

/* FILE [--key PEM], in either order; false on bad usage. */
static bool parse_args(int argc, char **argv, struct verify *v)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0 && i + 1 < argc && v->key_path == NULL)
            v->key_path = argv[++i];
        else if (strncmp(argv[i], "--key=", 6) == 0 && v->key_path == NULL)
            v->key_path = argv[i] + 6;
        else if (argv[i][0] != '-' && v->path == NULL)
            v->path = argv[i];
        else
            return false;
    }
    return v->path != NULL;
}

int cli_verify(int argc, char **argv)
{
    struct verify v;
    memset(&v, 0, sizeof(v));
    if (!parse_args(argc, argv, &v)) {
        fprintf(stderr, "usage: pinwatch verify FILE [--key PEM]\n");
        return 2;
    }
    buf_init(&v.manifest, 0);
    buf_init(&v.line, 0);
    buf_init(&v.signature, 0);
    buf_init(&v.public_key, 0);
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
    char fpr[SIGNING_FPR_HEX];
    check_signature(&v, fpr);
    check_manifest(&v);
    size_t matched = check_raw(&v);
    int status = 0;
    if (v.problems > 0) {
        if (fpr[0] != '\0')
            printf("signing key: SHA-256 %s (%s)\n", fpr,
                   v.key_path != NULL ? v.key_path : "the bundle's " EXPORT_PUBLIC_KEY);
        fprintf(stderr, "pinwatch verify: %s: %lu problem(s)\n", v.path, v.problems);
        status = 1;
    } else {
        printf("OK: %s: %s/ signed by key SHA-256 %s; %zu files match %s, %zu raw bodies"
               " match the raw_sha256 of their report\n",
               v.path, v.folder, fpr, v.n_members > 1 ? v.n_members - 2 : 0, EXPORT_MANIFEST,
               matched);
    }
    verify_cleanup(&v);
    return status;
}
