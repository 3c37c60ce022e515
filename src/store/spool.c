#include "store/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/buf.h"
#include "base/timeparse.h"
#include "base/codec.h"
#include "store/store.h"

struct spool {
    int fd;            /* spool.log, O_APPEND */
    int offset_fd;     /* spool.offset */
    int quarantine_fd; /* quarantine.log, O_APPEND */
    char *path;
    char *quarantine_path;
    uint64_t quarantined; /* entries in quarantine.log (atomic for readers) */
    size_t max_bytes;
    uint64_t size;    /* bytes in spool.log */
    uint64_t offset;  /* bytes already committed */
    uint64_t pending; /* units after offset (atomic for readers) */
    uint64_t pending_bytes;
};

static enum err_code io_err(struct err *err, const char *what)
{
    int e = errno;
    return err_set(err, ERR_UNAVAILABLE, e == ENOSPC || e == EDQUOT ? "spool_full" : "spool_error",
                   "%s: %s", what, strerror(e));
}

static int mkdir_p(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static enum err_code write_offset(struct spool *sp, uint64_t offset, struct err *err)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%020llu\n", (unsigned long long)offset);
    if (pwrite(sp->offset_fd, text, (size_t)n, 0) != n || fdatasync(sp->offset_fd) != 0)
        return io_err(err, "writing spool.offset");
    sp->offset = offset;
    return ERR_OK;
}

/* Count complete units after the offset (at open). */
static void count_pending(struct spool *sp)
{
    uint64_t units = 0;
    char chunk[65536];
    off_t pos = (off_t)sp->offset;
    ssize_t n;
    while ((n = pread(sp->fd, chunk, sizeof(chunk), pos)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            units += chunk[i] == '\n';
        pos += n;
    }
    __atomic_store_n(&sp->pending, units, __ATOMIC_RELAXED);
    __atomic_store_n(&sp->pending_bytes, sp->size - sp->offset, __ATOMIC_RELAXED);
}

static void count_quarantined(struct spool *sp)
{
    uint64_t lines = 0;
    char chunk[65536];
    off_t pos = 0;
    ssize_t n;
    while ((n = pread(sp->quarantine_fd, chunk, sizeof(chunk), pos)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            lines += chunk[i] == '\n';
        pos += n;
    }
    __atomic_store_n(&sp->quarantined, lines, __ATOMIC_RELAXED);
}

enum err_code spool_open(const char *dir, size_t max_bytes, struct spool **out, struct err *err)
{
    if (mkdir_p(dir) != 0)
        return io_err(err, "creating the spool folder");
    struct spool *sp = calloc(1, sizeof(*sp));
    if (sp == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    sp->fd = sp->offset_fd = sp->quarantine_fd = -1;
    sp->max_bytes = max_bytes;
    char path[4096];
    snprintf(path, sizeof(path), "%s/spool.log", dir);
    sp->path = strdup(path);
    sp->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    snprintf(path, sizeof(path), "%s/spool.offset", dir);
    sp->offset_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    snprintf(path, sizeof(path), "%s/quarantine.log", dir);
    sp->quarantine_path = strdup(path);
    sp->quarantine_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    enum err_code rc = ERR_OK;
    if (sp->path == NULL || sp->quarantine_path == NULL || sp->fd < 0 || sp->offset_fd < 0 ||
        sp->quarantine_fd < 0) {
        rc = io_err(err, "opening the spool");
        goto fail;
    }
    struct stat stt;
    if (fstat(sp->fd, &stt) != 0) {
        rc = io_err(err, "reading the spool");
        goto fail;
    }
    sp->size = (uint64_t)stt.st_size;
    char text[32] = {0};
    if (pread(sp->offset_fd, text, sizeof(text) - 1, 0) > 0)
        sp->offset = strtoull(text, NULL, 10);
    if (sp->offset > sp->size)
        sp->offset = 0;
    /* A unit cut short by a crash was never acknowledged: drop the torn tail. */
    if (sp->size > 0) {
        char last;
        if (pread(sp->fd, &last, 1, (off_t)sp->size - 1) == 1 && last != '\n') {
            off_t keep = (off_t)sp->offset;
            char chunk[4096];
            for (off_t pos = (off_t)sp->offset; pos < (off_t)sp->size;) {
                ssize_t n = pread(sp->fd, chunk, sizeof(chunk), pos);
                if (n <= 0)
                    break;
                for (ssize_t i = 0; i < n; i++) {
                    if (chunk[i] == '\n')
                        keep = pos + i + 1;
                }
                pos += n;
            }
            if (ftruncate(sp->fd, keep) == 0)
                sp->size = (uint64_t)keep;
        }
    }
    count_pending(sp);
    count_quarantined(sp);
    *out = sp;
    return ERR_OK;
fail:
    spool_close(sp);
    return rc;
}

void spool_close(struct spool *sp)
{
    if (sp == NULL)
        return;
    if (sp->fd >= 0)
        close(sp->fd);
    if (sp->offset_fd >= 0)
        close(sp->offset_fd);
    if (sp->quarantine_fd >= 0)
        close(sp->quarantine_fd);
    free(sp->path);
    free(sp->quarantine_path);
    free(sp);
}

enum err_code spool_append(struct spool *sp, struct store_unit *const *units, size_t n,
                           struct err *err)
{
    struct buf b;
    buf_init(&b, 0);
    enum err_code rc = ERR_OK;
    for (size_t i = 0; i < n; i++) {
        char *line = store_unit_serialize(units[i]);
        if (line == NULL) {
            /* Never acknowledge what the spool could not write down whole. */
            rc = err_set(err, ERR_INTERNAL, "unserializable_unit",
                         "a unit cannot be written to the spool");
            goto out;
        }
        if (buf_append_str(&b, line) != ERR_OK || buf_append(&b, "\n", 1) != ERR_OK) {
            free(line);
            rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
            goto out;
        }
        free(line);
    }
    if (sp->size + b.len > sp->max_bytes) {
        rc = err_set(err, ERR_UNAVAILABLE, "spool_full", "the spool is at its size limit");
        goto out;
    }
    size_t done = 0;
    while (done < b.len) {
        ssize_t w = write(sp->fd, b.data + done, b.len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = io_err(err, "appending to the spool");
            break;
        }
        done += (size_t)w;
    }
    if (rc == ERR_OK && fdatasync(sp->fd) != 0)
        rc = io_err(err, "syncing the spool");
    if (rc != ERR_OK) {
        /* Nothing of this append is acknowledged: cut it back off. */
        if (ftruncate(sp->fd, (off_t)sp->size) != 0)
            rc = io_err(err, "truncating the spool");
        goto out;
    }
    sp->size += b.len;
    __atomic_add_fetch(&sp->pending, n, __ATOMIC_RELAXED);
    __atomic_store_n(&sp->pending_bytes, sp->size - sp->offset, __ATOMIC_RELAXED);
out:
    buf_cleanup(&b);
    return rc;
}

enum err_code spool_peek(struct spool *sp, size_t max, struct spool_entry *out, size_t *n_out,
                         struct err *err)
{
    *n_out = 0;
    struct buf b;
    buf_init(&b, 0);
    enum err_code rc = ERR_OK;
    uint64_t read_pos = sp->offset; /* file position of the next byte to read into b */
    size_t line_start = 0;          /* start of the current line within b */
    char chunk[65536];
    while (*n_out < max && read_pos < sp->size) {
        size_t want =
            sp->size - read_pos < sizeof(chunk) ? (size_t)(sp->size - read_pos) : sizeof(chunk);
        ssize_t n = pread(sp->fd, chunk, want, (off_t)read_pos);
        if (n <= 0) {
            rc = io_err(err, "reading the spool");
            break;
        }
        size_t scan_from = b.len;
        if (buf_append(&b, chunk, (size_t)n) != ERR_OK) {
            rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
            break;
        }
        read_pos += (uint64_t)n;
        for (size_t i = scan_from; i < b.len && *n_out < max; i++) {
            if (b.data[i] != '\n')
                continue;
            struct spool_entry *e = &out[(*n_out)++];
            e->unit = NULL;
            e->start = sp->offset + line_start;
            e->end = sp->offset + i + 1;
            /* An unreadable line comes back without a unit: the caller quarantines it. */
            enum err_code prc =
                store_unit_parse(b.data + line_start, i - line_start, &e->unit, NULL);
            if (prc == ERR_NOMEM) {
                (*n_out)--;
                rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
                goto out;
            }
            line_start = i + 1;
        }
    }
out:
    buf_cleanup(&b);
    return rc;
}

/* The entry's exact bytes (new buffer of e->end - e->start bytes), or NULL. */
static char *read_entry(const struct spool *sp, const struct spool_entry *e)
{
    size_t len = (size_t)(e->end - e->start);
    char *data = malloc(len + 1);
    if (data == NULL)
        return NULL;
    for (size_t done = 0; done < len;) {
        ssize_t n = pread(sp->fd, data + done, len - done, (off_t)(e->start + done));
        if (n <= 0) {
            free(data);
            return NULL;
        }
        done += (size_t)n;
    }
    data[len] = '\0';
    return data;
}

static char *quarantine_line(const struct spool_entry *e, const char *line, size_t len,
                             const char *reason)
{
    uint8_t digest[32];
    char hex[65], ts[TIMEPARSE_FMT_LEN];
    if (EVP_Digest(line, len, digest, NULL, EVP_sha256(), NULL) != 1)
        memset(digest, 0, sizeof(digest));
    codec_hex_encode(digest, sizeof(digest), hex);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    timeparse_format((int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000, ts);
    char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    if (b64 == NULL)
        return NULL;
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)line, (int)len);
    json_t *ids = e->unit != NULL ? store_unit_report_ids(e->unit) : json_array();
    json_t *doc = json_pack("{s:s, s:s, s:I, s:s, s:I, s:o, s:s}", "quarantined_at", ts, "reason",
                            reason, "bytes", (json_int_t)len, "sha256", hex, "reports",
                            (json_int_t)(e->unit != NULL ? store_unit_reports(e->unit) : 0),
                            "report_ids", ids != NULL ? ids : json_array(), "line_base64", b64);
    free(b64);
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

enum err_code spool_quarantine(struct spool *sp, const struct spool_entry *e, const char *reason,
                               struct err *err)
{
    enum err_code rc = ERR_OK;
    char *line = read_entry(sp, e);
    /* the entry without its newline; the reason is ours, so always valid UTF-8 */
    char *text =
        line != NULL ? quarantine_line(e, line, (size_t)(e->end - e->start) - 1, reason) : NULL;
    if (text == NULL) {
        rc = err_set(err, ERR_NOMEM, NULL, "cannot copy a unit to the quarantine");
        goto out;
    }
    struct stat st;
    off_t before = fstat(sp->quarantine_fd, &st) == 0 ? st.st_size : -1;
    size_t len = strlen(text);
    text[len] = '\n'; /* replaces the NUL: written with its length */
    size_t done = 0;
    while (rc == ERR_OK && done < len + 1) {
        ssize_t w = write(sp->quarantine_fd, text + done, len + 1 - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = io_err(err, "appending to the quarantine");
        else
            done += (size_t)w;
    }
    if (rc == ERR_OK && fdatasync(sp->quarantine_fd) != 0)
        rc = io_err(err, "syncing the quarantine");
    if (rc != ERR_OK) {
        /* The unit stays in the spool; a torn line must not be counted as an entry. */
        if (before >= 0 && ftruncate(sp->quarantine_fd, before) != 0)
            rc = io_err(err, "truncating the quarantine");
        goto out;
    }
    __atomic_add_fetch(&sp->quarantined, 1, __ATOMIC_RELAXED);
out:
    free(line);
    free(text);
    return rc;
}

enum err_code spool_quarantine_list(const struct spool *sp, size_t from, size_t limit, json_t **out,
                                    size_t *next, struct err *err)
{
    *out = NULL;
    *next = 0;
    FILE *f = fopen(sp->quarantine_path, "re");
    if (f == NULL)
        return io_err(err, "opening the quarantine");
    json_t *list = json_array();
    enum err_code rc = list != NULL ? ERR_OK : ERR_NOMEM;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    for (size_t index = 0; rc == ERR_OK && (n = getline(&line, &cap, f)) > 0; index++) {
        if (line[n - 1] != '\n')
            break; /* being written */
        if (index < from)
            continue;
        if (json_array_size(list) == limit) {
            *next = index;
            break;
        }
        json_t *doc = json_loadb(line, (size_t)n, 0, NULL);
        if (doc == NULL)
            doc = json_pack("{s:s}", "reason", "unreadable quarantine entry");
        json_object_del(doc, "line_base64"); /* the bytes stay in the file */
        json_object_set_new(doc, "index", json_integer((json_int_t)index));
        if (json_array_append_new(list, doc) != 0)
            rc = ERR_NOMEM;
    }
    free(line);
    fclose(f);
    if (rc != ERR_OK) {
        json_decref(list);
        return err_set(err, rc, NULL, "out of memory");
    }
    *out = list;
    return ERR_OK;
}

uint64_t spool_quarantined_units(const struct spool *sp)
{
    return sp != NULL ? __atomic_load_n(&sp->quarantined, __ATOMIC_RELAXED) : 0;
}

enum err_code spool_advance(struct spool *sp, uint64_t offset, struct err *err)
{
    uint64_t done_units = 0;
    char chunk[65536];
    for (uint64_t pos = sp->offset; pos < offset;) {
        size_t want = offset - pos < sizeof(chunk) ? (size_t)(offset - pos) : sizeof(chunk);
        ssize_t n = pread(sp->fd, chunk, want, (off_t)pos);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            done_units += chunk[i] == '\n';
        pos += (uint64_t)n;
    }
    enum err_code rc;
    if (offset >= sp->size) {
        /* All committed: start over with an empty file. */
        if (ftruncate(sp->fd, 0) != 0 || fdatasync(sp->fd) != 0)
            return io_err(err, "truncating the spool");
        sp->size = 0;
        rc = write_offset(sp, 0, err);
        __atomic_store_n(&sp->pending, 0, __ATOMIC_RELAXED);
    } else {
        rc = write_offset(sp, offset, err);
        uint64_t p = __atomic_load_n(&sp->pending, __ATOMIC_RELAXED);
        __atomic_store_n(&sp->pending, p > done_units ? p - done_units : 0, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&sp->pending_bytes, sp->size - sp->offset, __ATOMIC_RELAXED);
    return rc;
}

uint64_t spool_pending_units(const struct spool *sp)
{
    return sp != NULL ? __atomic_load_n(&sp->pending, __ATOMIC_RELAXED) : 0;
}

uint64_t spool_pending_bytes(const struct spool *sp)
{
    return sp != NULL ? __atomic_load_n(&sp->pending_bytes, __ATOMIC_RELAXED) : 0;
}
