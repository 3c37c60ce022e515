#include "store/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "store/store.h"

struct spool {
    int fd;        /* spool.log, O_APPEND */
    int offset_fd; /* spool.offset */
    char *path;
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

enum err_code spool_open(const char *dir, size_t max_bytes, struct spool **out, struct err *err)
{
    if (mkdir_p(dir) != 0)
        return io_err(err, "creating the spool folder");
    struct spool *sp = calloc(1, sizeof(*sp));
    if (sp == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    sp->max_bytes = max_bytes;
    char path[4096];
    snprintf(path, sizeof(path), "%s/spool.log", dir);
    sp->path = strdup(path);
    sp->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    snprintf(path, sizeof(path), "%s/spool.offset", dir);
    sp->offset_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    enum err_code rc = ERR_OK;
    if (sp->path == NULL || sp->fd < 0 || sp->offset_fd < 0) {
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
    free(sp->path);
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
        if (line == NULL || buf_append_str(&b, line) != ERR_OK ||
            buf_append(&b, "\n", 1) != ERR_OK) {
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

enum err_code spool_peek(struct spool *sp, size_t max, struct store_unit **out, size_t *n_out,
                         uint64_t *next_offset, struct err *err)
{
    *n_out = 0;
    *next_offset = sp->offset;
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
            struct store_unit *unit = NULL;
            /* an unreadable line is skipped, not retried forever */
            if (store_unit_parse(b.data + line_start, i - line_start, &unit, NULL) == ERR_OK)
                out[(*n_out)++] = unit;
            line_start = i + 1;
            *next_offset = sp->offset + line_start;
        }
    }
    buf_cleanup(&b);
    return rc;
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
