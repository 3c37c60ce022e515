#include "store/export.h"

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/codec.h"
#include "base/json_text.h"
#include "base/log.h"
#include "base/timeparse.h"
#include "db/db.h"
#include "report/pin.h"
#include "store/export_doc.h"
#include "store/signing.h"

#define FETCH_ROWS 500
#define COPY_CHUNK 65536

/* reports.csv has the columns of pinwatch_export_rows (sql/functions/70_reports.sql), named
 * as there; the writer itself needs four of them. */
#define MAX_CSV 64
enum { CSV_ID, CSV_FORMAT, CSV_VERDICT, CSV_RAW, CSV_NEEDED };
static const char *const csv_needed[CSV_NEEDED] = {
    [CSV_ID] = "id", [CSV_FORMAT] = "format", [CSV_VERDICT] = "verdict", [CSV_RAW] = "raw_sha256"};

/* ---- CSV ---- */

enum err_code export_csv_row(struct buf *out, const char *const *cells, size_t n)
{
    enum err_code rc = ERR_OK;
    for (size_t i = 0; rc == ERR_OK && i < n; i++) {
        const char *v = cells[i] != NULL ? cells[i] : "";
        /* A spreadsheet evaluates a cell starting with one of these as a formula (and CR/tab
         * are how such a prefix gets smuggled past naive checks): make it text. */
        bool neutralise = v[0] != '\0' && strchr("=+-@\t\r", v[0]) != NULL;
        /* ";" too: spreadsheets that split on it would run "x;=cmd" as a formula. */
        bool quote = strpbrk(v, ",;\"\r\n") != NULL;
        if (i > 0)
            rc = buf_append(out, ",", 1);
        if (rc == ERR_OK && quote)
            rc = buf_append(out, "\"", 1);
        if (rc == ERR_OK && neutralise)
            rc = buf_append(out, "'", 1);
        for (const char *p = v; rc == ERR_OK && *p != '\0';) {
            size_t run = quote ? strcspn(p, "\"") : strlen(p);
            rc = buf_append(out, p, run);
            p += run;
            if (rc == ERR_OK && *p == '"') {
                rc = buf_append(out, "\"\"", 2);
                p++;
            }
        }
        if (rc == ERR_OK && quote)
            rc = buf_append(out, "\"", 1);
    }
    if (rc == ERR_OK)
        rc = buf_append(out, "\r\n", 2);
    return rc;
}

void export_filename(int64_t now_usec, char *out, size_t size)
{
    time_t t = (time_t)(now_usec / 1000000);
    struct tm tm;
    char stamp[32] = "unknown";
    if (gmtime_r(&t, &tm) != NULL)
        strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, size, "pinwatch-export-%s.tar.gz", stamp);
}

/* ---- the archive and its members ---- */

struct bundle {
    struct archive *ar;
    export_sink_fn *sink;
    void *sink_ctx;
    enum err_code sink_rc; /* why the sink refused, once it did */
    PGconn *conn;
    const struct query_filters *filters;
    struct query_match match; /* the filters as pinwatch_reports_matching arguments */
    int64_t now;
    EVP_PKEY *key;   /* signs the manifest (borrowed) */
    char folder[64]; /* "pinwatch-evidence-<utc>": every member lives under it */
    json_t *summary; /* what summary.json says, for README.txt and report.html */
    EVP_MD_CTX *md;
    FILE *manifest; /* "<hex>  <name>\n" lines, copied in as the last member */
    FILE *ndjson;
    FILE *csv;
    struct buf scratch;
    struct buf raw; /* the last raw body read: the reports of one request share it */
    char raw_sha[65];
    bool raw_found;
    json_t *by_format;
    json_t *by_verdict;
    int csv_n;               /* columns of reports.csv */
    int csv_col[CSV_NEEDED]; /* where the writer's own columns are */
    struct export_stats st;
    struct err *err;
};

static la_ssize_t ar_write(struct archive *a, void *ctx, const void *data, size_t len)
{
    (void)a;
    struct bundle *b = ctx;
    enum err_code rc = b->sink(b->sink_ctx, data, len);
    if (rc != ERR_OK) {
        b->sink_rc = rc;
        return -1;
    }
    b->st.bytes += len;
    return (la_ssize_t)len;
}

static enum err_code ar_fail(struct bundle *b, const char *what)
{
    if (b->sink_rc != ERR_OK)
        return err_set(b->err, b->sink_rc, "export_aborted", "%s: the receiver stopped reading",
                       what);
    const char *why = archive_error_string(b->ar);
    return err_set(b->err, ERR_INTERNAL, "export_failed", "%s: %s", what,
                   why != NULL ? why : "archive error");
}

static enum err_code nomem(struct bundle *b)
{
    return err_set(b->err, ERR_NOMEM, NULL, "out of memory");
}

static enum err_code io_fail(struct bundle *b, const char *what)
{
    return err_set(b->err, ERR_INTERNAL, "export_failed", "%s: temporary file error", what);
}

/* An unlinked temporary file under $TMPDIR (or /tmp): nothing is left behind, even if the
 * process dies mid-export. */
static FILE *temp_file(void)
{
    const char *dir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/pinwatch-export-XXXXXX",
             dir != NULL && dir[0] != '\0' ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    unlink(path);
    FILE *f = fdopen(fd, "w+b");
    if (f == NULL)
        close(fd);
    return f;
}

static enum err_code member_begin(struct bundle *b, const char *name, int64_t size)
{
    struct archive_entry *e = archive_entry_new();
    if (e == NULL)
        return nomem(b);
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", b->folder, name);
    archive_entry_set_pathname(e, path);
    archive_entry_set_size(e, size);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, (time_t)(b->now / 1000000), 0);
    int r = archive_write_header(b->ar, e);
    archive_entry_free(e);
    if (r != ARCHIVE_OK)
        return ar_fail(b, name);
    if (EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1)
        return nomem(b);
    return ERR_OK;
}

static enum err_code member_data(struct bundle *b, const char *name, const void *data, size_t len)
{
    if (EVP_DigestUpdate(b->md, data, len) != 1)
        return nomem(b);
    const char *p = data;
    while (len > 0) {
        la_ssize_t n = archive_write_data(b->ar, p, len);
        if (n <= 0)
            return ar_fail(b, name);
        p += n;
        len -= (size_t)n;
    }
    return ERR_OK;
}

/* Close the member; list it in the manifest unless it is the manifest. sha may be NULL. */
static enum err_code member_end(struct bundle *b, const char *name, bool listed, uint8_t *sha)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    if (EVP_DigestFinal_ex(b->md, digest, NULL) != 1)
        return nomem(b);
    if (archive_write_finish_entry(b->ar) != ARCHIVE_OK)
        return ar_fail(b, name);
    if (sha != NULL)
        memcpy(sha, digest, 32);
    if (!listed)
        return ERR_OK;
    char hex[PIN_HEX_LEN + 1];
    codec_hex_encode(digest, 32, hex);
    if (fprintf(b->manifest, "%s  %s\n", hex, name) < 0)
        return io_fail(b, EXPORT_MANIFEST);
    return ERR_OK;
}

static enum err_code member_add_buf(struct bundle *b, const char *name, const void *data,
                                    size_t len, uint8_t *sha)
{
    enum err_code rc = member_begin(b, name, (int64_t)len);
    if (rc == ERR_OK)
        rc = member_data(b, name, data, len);
    if (rc == ERR_OK)
        rc = member_end(b, name, true, sha);
    return rc;
}

static enum err_code member_add_file(struct bundle *b, const char *name, FILE *f, bool listed)
{
    struct stat sb;
    if (fflush(f) != 0 || fstat(fileno(f), &sb) != 0 || fseek(f, 0, SEEK_SET) != 0)
        return io_fail(b, name);
    enum err_code rc = member_begin(b, name, (int64_t)sb.st_size);
    char *chunk = rc == ERR_OK ? malloc(COPY_CHUNK) : NULL;
    if (rc == ERR_OK && chunk == NULL)
        rc = nomem(b);
    for (off_t left = sb.st_size; rc == ERR_OK && left > 0;) {
        size_t want = left > COPY_CHUNK ? COPY_CHUNK : (size_t)left;
        size_t got = fread(chunk, 1, want, f);
        if (got == 0) {
            rc = io_fail(b, name);
            break;
        }
        rc = member_data(b, name, chunk, got);
        left -= (off_t)got;
    }
    free(chunk);
    if (rc == ERR_OK)
        rc = member_end(b, name, listed, NULL);
    return rc;
}

/* ---- SQL helpers ---- */

static enum err_code exec_ok(struct bundle *b, const char *sql, int n_params,
                             const char *const *params, const char *what)
{
    PGresult *res = PQexecParams(b->conn, sql, n_params, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    enum err_code rc = ERR_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = db_result_error(b->conn, res, what, b->err);
    PQclear(res);
    return rc;
}

typedef enum err_code rows_fn(struct bundle *b, void *ctx, const PGresult *res);

/* One FETCH of FETCH_ROWS rows handed to fn; *done once the cursor is exhausted (and then
 * closed). */
static enum err_code fetch_batch(struct bundle *b, const char *cursor, rows_fn *fn, void *ctx,
                                 bool *done, const char *what)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "FETCH %d FROM %s", FETCH_ROWS, cursor);
    PGresult *res = PQexec(b->conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        enum err_code rc = db_result_error(b->conn, res, what, b->err);
        PQclear(res);
        return rc;
    }
    int n = PQntuples(res);
    enum err_code rc = n > 0 ? fn(b, ctx, res) : ERR_OK;
    PQclear(res);
    *done = rc == ERR_OK && n < FETCH_ROWS;
    if (*done) {
        snprintf(sql, sizeof(sql), "CLOSE %s", cursor);
        rc = exec_ok(b, sql, 0, NULL, what);
    }
    return rc;
}

static const char *cell(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static enum err_code count_in(json_t *obj, const char *key)
{
    json_int_t n = json_integer_value(json_object_get(obj, key));
    return json_object_set_new(obj, key != NULL ? key : "", json_integer(n + 1)) == 0 ? ERR_OK
                                                                                      : ERR_NOMEM;
}

/* ---- reports: raw bodies, ndjson, csv ---- */

static enum err_code write_raw(struct bundle *b, const char *id, const char *sha_hex)
{
    uint8_t sha[32];
    if (sha_hex == NULL || codec_hex_decode(sha_hex, sha, 32, NULL) != ERR_OK) {
        b->st.raw_missing++;
        return ERR_OK;
    }
    if (strcmp(sha_hex, b->raw_sha) != 0) {
        b->raw.len = 0;
        struct err e = {0};
        enum err_code rc = query_raw_body(b->conn, sha, &b->raw, &e);
        if (rc == ERR_NOT_FOUND || rc == ERR_INVALID) {
            /* Evidence must not be silently dropped: count it, and `pinwatch verify` flags
             * the report without a raw file. */
            log_warn("export: report %s: stored raw body unusable (%s)", id, e.key);
        } else if (rc != ERR_OK) {
            if (b->err != NULL)
                *b->err = e;
            return rc;
        }
        b->raw_found = rc == ERR_OK;
        snprintf(b->raw_sha, sizeof(b->raw_sha), "%s", sha_hex);
    }
    if (!b->raw_found) {
        b->st.raw_missing++;
        return ERR_OK;
    }
    char name[80];
    snprintf(name, sizeof(name), "raw/%s.json", id);
    uint8_t got[32];
    enum err_code rc = member_add_buf(b, name, b->raw.data, b->raw.len, got);
    if (rc != ERR_OK)
        return rc;
    b->st.raw_files++;
    if (memcmp(got, sha, 32) != 0) {
        b->st.raw_mismatch++;
        log_warn("export: report %s: raw body does not hash to its raw_sha256", id);
    }
    return ERR_OK;
}

static enum err_code csv_write(struct bundle *b, const char *const *cells)
{
    b->scratch.len = 0;
    if (export_csv_row(&b->scratch, cells, (size_t)b->csv_n) != ERR_OK)
        return nomem(b);
    if (fwrite(b->scratch.data, 1, b->scratch.len, b->csv) != b->scratch.len)
        return io_fail(b, "reports.csv");
    return ERR_OK;
}

/* A batch of the cheap cursor: the CSV row, the counts and the raw body of each report. */
static enum err_code report_rows(struct bundle *b, void *ctx, const PGresult *res)
{
    (void)ctx;
    const char *cells[MAX_CSV];
    const int *c = b->csv_col;
    enum err_code rc = ERR_OK;
    for (int i = 0; rc == ERR_OK && i < PQntuples(res); i++) {
        for (int k = 0; k < b->csv_n; k++)
            cells[k] = cell(res, i, k);
        if ((rc = csv_write(b, cells)) != ERR_OK)
            return rc;
        if (count_in(b->by_format, cells[c[CSV_FORMAT]]) != ERR_OK ||
            count_in(b->by_verdict, cells[c[CSV_VERDICT]]) != ERR_OK)
            return nomem(b);
        b->st.reports++;
        rc = write_raw(b, cells[c[CSV_ID]], cells[c[CSV_RAW]]);
    }
    return rc;
}

/* A batch of the JSON cursor: one reports.ndjson line per report. */
static enum err_code json_rows(struct bundle *b, void *ctx, const PGresult *res)
{
    uint64_t *lines = ctx;
    for (int i = 0; i < PQntuples(res); i++) {
        char *json = PQgetvalue(res, i, 0);
        /* json_build_object never breaks lines outside strings; keep one report per line
         * even if a future version pretty-prints. */
        for (char *nl = strchr(json, '\n'); nl != NULL; nl = strchr(nl, '\n'))
            *nl = ' ';
        if (fputs(json, b->ndjson) < 0 || fputc('\n', b->ndjson) < 0)
            return io_fail(b, "reports.ndjson");
        (*lines)++;
    }
    return ERR_OK;
}

/*
 * Two cursors over the same reports in the same order and snapshot: export_rows reads plain
 * columns (cheap) and writes the raw bodies, which are the bulk of the stream; export_json
 * reads pinwatch_report_json(r), which costs PostgreSQL far more per row, into the ndjson
 * spool. The cheap one runs ahead until the first compressed bytes have left, then they
 * alternate, so the client gets bytes at once and then steadily, whatever the JSON costs.
 */
static enum err_code open_report_cursors(struct bundle *b)
{
    enum err_code rc = exec_ok(b,
                               "DECLARE export_rows NO SCROLL CURSOR FOR"
                               " SELECT * FROM pinwatch_export_rows(" QUERY_MATCH_ARGS ")",
                               QUERY_MATCH_NPARAMS, b->match.params, "opening the report cursor");
    if (rc == ERR_OK)
        rc = exec_ok(b,
                     "DECLARE export_json NO SCROLL CURSOR FOR SELECT pinwatch_report_json(r)::text"
                     " FROM pinwatch_reports_matching(" QUERY_MATCH_ARGS ") r"
                     " ORDER BY r.received_at, r.id",
                     QUERY_MATCH_NPARAMS, b->match.params, "opening the report cursor");
    return rc;
}

/* The CSV header: the names of export_rows' columns. */
static enum err_code csv_header(struct bundle *b)
{
    PGresult *res = PQdescribePortal(b->conn, "export_rows");
    enum err_code rc = ERR_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = db_result_error(b->conn, res, "describing the report cursor", b->err);
    else if ((b->csv_n = PQnfields(res)) > MAX_CSV)
        rc = err_set(b->err, ERR_INTERNAL, NULL, "reports.csv has more than %d columns", MAX_CSV);
    else
        rc = db_columns(res, csv_needed, CSV_NEEDED, b->csv_col, b->err);
    const char *names[MAX_CSV];
    for (int k = 0; rc == ERR_OK && k < b->csv_n; k++)
        names[k] = PQfname(res, k);
    if (rc == ERR_OK)
        rc = csv_write(b, names);
    PQclear(res);
    return rc;
}

static enum err_code export_reports(struct bundle *b)
{
    enum err_code rc = open_report_cursors(b);
    if (rc == ERR_OK)
        rc = csv_header(b);
    bool rows_done = false, json_done = false;
    uint64_t lines = 0;
    while (rc == ERR_OK && (!rows_done || !json_done)) {
        if (!rows_done)
            rc = fetch_batch(b, "export_rows", report_rows, NULL, &rows_done, "reading reports");
        if (rc == ERR_OK && !json_done && (rows_done || b->st.bytes > 0))
            rc = fetch_batch(b, "export_json", json_rows, &lines, &json_done, "reading reports");
    }
    if (rc == ERR_OK && lines != b->st.reports)
        rc = err_set(b->err, ERR_INTERNAL, "export_failed",
                     "the report cursors disagree (%llu rows, %llu JSON lines)",
                     (unsigned long long)b->st.reports, (unsigned long long)lines);
    if (rc == ERR_OK)
        rc = member_add_file(b, "reports.ndjson", b->ndjson, true);
    if (rc == ERR_OK)
        rc = member_add_file(b, "reports.csv", b->csv, true);
    return rc;
}

/* ---- chains ---- */

/* The chain cursor (pinwatch_export_chains): one row per certificate, chains in order, with
 * the stored fields already laid out as text. */
enum { CH_CHAIN, CH_POS, CH_DER, CH_ANALYSIS, CH_FIELDS }; /* as export_chains selects them */

struct chain_acc {
    char sha[65];
    struct buf pem;
    struct buf txt;
};

static enum err_code chain_flush(struct bundle *b, struct chain_acc *acc)
{
    if (acc->sha[0] == '\0')
        return ERR_OK;
    char name[96];
    snprintf(name, sizeof(name), "chains/%s.pem", acc->sha);
    enum err_code rc = member_add_buf(b, name, acc->pem.data, acc->pem.len, NULL);
    snprintf(name, sizeof(name), "chains/%s.txt", acc->sha);
    if (rc == ERR_OK)
        rc = member_add_buf(b, name, acc->txt.data, acc->txt.len, NULL);
    if (rc == ERR_OK)
        b->st.chains++;
    acc->sha[0] = '\0';
    acc->pem.len = acc->txt.len = 0;
    return rc;
}

/* Append the BIO's contents to out. */
static enum err_code bio_drain(BIO *bio, struct buf *out)
{
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    return n > 0 ? buf_append(out, p, (size_t)n) : ERR_OK;
}

/* The stored DER as PEM (byte-exact, not re-encoded) and, when OpenSSL parses it, the full
 * decoded text `openssl x509 -text` would show. */
static enum err_code cert_pem_and_text(const char *der_hex, struct chain_acc *acc)
{
    size_t len = strlen(der_hex) / 2;
    unsigned char *der = malloc(len > 0 ? len : 1);
    BIO *pem = BIO_new(BIO_s_mem());
    BIO *txt = BIO_new(BIO_s_mem());
    enum err_code rc = der != NULL && pem != NULL && txt != NULL ? ERR_OK : ERR_NOMEM;
    if (rc == ERR_OK && codec_hex_decode(der_hex, der, len, NULL) != ERR_OK)
        rc = ERR_INTERNAL;
    if (rc == ERR_OK && PEM_write_bio(pem, "CERTIFICATE", "", der, (long)len) <= 0)
        rc = ERR_NOMEM;
    if (rc == ERR_OK)
        rc = bio_drain(pem, &acc->pem);
    const unsigned char *p = der;
    X509 *x = rc == ERR_OK ? d2i_X509(NULL, &p, (long)len) : NULL;
    if (x != NULL && X509_print_ex(txt, x, XN_FLAG_RFC2253, 0) == 1)
        rc = bio_drain(txt, &acc->txt);
    else if (rc == ERR_OK)
        rc = buf_append_str(&acc->txt, "  (OpenSSL cannot decode this certificate)\n");
    X509_free(x);
    BIO_free(pem);
    BIO_free(txt);
    free(der);
    return rc;
}

static enum err_code chain_cert_text(const PGresult *res, int i, struct chain_acc *acc)
{
    long pos = strtol(PQgetvalue(res, i, CH_POS), NULL, 10);
    enum err_code rc = buf_printf(&acc->txt, "\n== certificate %ld%s ==\n%s", pos - 1,
                                  pos == 1 ? " (leaf)" : "", PQgetvalue(res, i, CH_FIELDS));
    const char *der = cell(res, i, CH_DER);
    if (rc == ERR_OK && der == NULL)
        rc = buf_append_str(&acc->txt, "  (certificate not stored)\n");
    else if (rc == ERR_OK)
        rc = cert_pem_and_text(der, acc);
    return rc;
}

static enum err_code chain_rows(struct bundle *b, void *ctx, const PGresult *res)
{
    struct chain_acc *acc = ctx;
    enum err_code rc = ERR_OK;
    for (int i = 0; rc == ERR_OK && i < PQntuples(res); i++) {
        const char *sha = PQgetvalue(res, i, CH_CHAIN);
        if (strcmp(sha, acc->sha) != 0) {
            if ((rc = chain_flush(b, acc)) != ERR_OK)
                return rc;
            snprintf(acc->sha, sizeof(acc->sha), "%s", sha);
            const char *analysis = cell(res, i, CH_ANALYSIS);
            if (buf_printf(&acc->txt, "chain sha256: %s\nchain findings: %s\n", sha,
                           analysis != NULL ? analysis : "(not analysed)") != ERR_OK)
                return nomem(b);
        }
        rc = chain_cert_text(res, i, acc);
        if (rc != ERR_OK)
            return rc == ERR_NOMEM ? nomem(b)
                                   : err_set(b->err, rc, "export_failed",
                                             "chain %s: stored certificate unreadable", sha);
    }
    return rc;
}

static enum err_code export_chains(struct bundle *b)
{
    enum err_code rc = exec_ok(b,
                               "DECLARE export_chains NO SCROLL CURSOR FOR"
                               " SELECT chain, pos, der, analysis, fields"
                               " FROM pinwatch_export_chains(" QUERY_MATCH_ARGS ")",
                               QUERY_MATCH_NPARAMS, b->match.params, "opening the chain cursor");
    if (rc != ERR_OK)
        return rc;
    struct chain_acc acc;
    memset(&acc, 0, sizeof(acc));
    buf_init(&acc.pem, 0);
    buf_init(&acc.txt, 0);
    for (bool done = false; rc == ERR_OK && !done;)
        rc = fetch_batch(b, "export_chains", chain_rows, &acc, &done, "reading chains");
    if (rc == ERR_OK)
        rc = chain_flush(b, &acc);
    buf_cleanup(&acc.pem);
    buf_cleanup(&acc.txt);
    return rc;
}

/* ---- summary.json ---- */

static json_t *filters_json(const struct query_filters *f)
{
    char from[TIMEPARSE_FMT_LEN], to[TIMEPARSE_FMT_LEN];
    return json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "from",
                     timeparse_format(f->from, from), "to", timeparse_format(f->to, to), "hostname",
                     f->hostname, "app", f->app, "app_version", f->app_version, "platform",
                     f->platform, "network", f->network, "verdict", f->verdict, "group", f->group);
}

static enum err_code export_summary(struct bundle *b)
{
    PGresult *res =
        PQexecParams(b->conn, "SELECT * FROM pinwatch_export_groups(" QUERY_MATCH_ARGS ")",
                     QUERY_MATCH_NPARAMS, NULL, b->match.params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        enum err_code rc = db_result_error(b->conn, res, "reading groups", b->err);
        PQclear(res);
        return rc;
    }
    json_t *groups = json_array();
    for (int i = 0; groups != NULL && i < PQntuples(res); i++)
        json_array_append_new(groups, json_loads(PQgetvalue(res, i, 0), 0, NULL));
    PQclear(res);
    char at[TIMEPARSE_FMT_LEN];
    json_t *summary = json_pack(
        "{s:s, s:i, s:s, s:s, s:o, s:{s:I, s:O, s:O, s:I, s:I, s:I}, s:o?}", "bundle",
        "pinwatch-evidence", "bundle_version", 1, "server_version", PINWATCH_VERSION, "exported_at",
        timeparse_format(b->now, at), "filters", filters_json(b->filters), "counts", "reports",
        (json_int_t)b->st.reports, "by_format", b->by_format, "by_verdict", b->by_verdict,
        "raw_files", (json_int_t)b->st.raw_files, "raw_missing", (json_int_t)b->st.raw_missing,
        "chains", (json_int_t)b->st.chains, "groups", groups);
    char *text = summary != NULL ? json_text_dump(summary) : NULL;
    b->summary = summary;
    if (text == NULL)
        return nomem(b);
    size_t len = strlen(text);
    enum err_code rc = member_begin(b, "summary.json", (int64_t)len + 1);
    if (rc == ERR_OK)
        rc = member_data(b, "summary.json", text, len);
    if (rc == ERR_OK)
        rc = member_data(b, "summary.json", "\n", 1);
    if (rc == ERR_OK)
        rc = member_end(b, "summary.json", true, NULL);
    free(text);
    return rc;
}

/* ---- the whole bundle ---- */

static enum err_code bundle_open(struct bundle *b)
{
    b->md = EVP_MD_CTX_new();
    b->manifest = temp_file();
    b->ndjson = temp_file();
    b->csv = temp_file();
    b->by_format = json_object();
    b->by_verdict = json_object();
    if (b->md == NULL || b->by_format == NULL || b->by_verdict == NULL)
        return nomem(b);
    if (b->manifest == NULL || b->ndjson == NULL || b->csv == NULL)
        return err_set(b->err, ERR_INTERNAL, "export_failed",
                       "cannot create a temporary file (TMPDIR)");
    query_match_params(b->filters, false, &b->match);
    b->ar = archive_write_new();
    if (b->ar == NULL)
        return nomem(b);
    /* pax_restricted writes plain ustar unless a name or size needs more; the last block is
     * not padded, so the stream ends where gzip ends (no trailing garbage). The gzip filter
     * holds back 64 KiB rounded down to a multiple of the block size (but at least one block)
     * of compressed output: blocks of 32 KiB + 1 halve that, so the first bytes leave sooner
     * when the reports compress well. */
    if (archive_write_add_filter_gzip(b->ar) != ARCHIVE_OK ||
        archive_write_set_format_pax_restricted(b->ar) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(b->ar, 32 * 1024 + 1) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(b->ar, 1) != ARCHIVE_OK ||
        archive_write_open2(b->ar, b, NULL, ar_write, NULL, NULL) != ARCHIVE_OK)
        return ar_fail(b, "opening the archive");
    return ERR_OK;
}

static void bundle_close(struct bundle *b)
{
    if (b->ar != NULL)
        archive_write_free(b->ar);
    EVP_MD_CTX_free(b->md);
    if (b->manifest != NULL)
        fclose(b->manifest);
    if (b->ndjson != NULL)
        fclose(b->ndjson);
    if (b->csv != NULL)
        fclose(b->csv);
    buf_cleanup(&b->scratch);
    buf_cleanup(&b->raw);
    json_decref(b->by_format);
    json_decref(b->by_verdict);
    json_decref(b->summary);
}

/* ---- the members that make the bundle readable and trustworthy on its own ---- */

static enum err_code member_add_text(struct bundle *b, const char *name, const struct buf *text,
                                     bool listed)
{
    enum err_code rc = member_begin(b, name, (int64_t)text->len);
    if (rc == ERR_OK)
        rc = member_data(b, name, text->data != NULL ? text->data : "", text->len);
    if (rc == ERR_OK)
        rc = member_end(b, name, listed, NULL);
    return rc;
}

/* README.txt, report.html and signing-key.pem, all listed in the manifest. */
static enum err_code export_docs(struct bundle *b)
{
    struct buf text;
    buf_init(&text, 0);
    char fpr[SIGNING_FPR_HEX];
    enum err_code rc = signing_fingerprint(b->key, fpr);
    if (rc == ERR_OK)
        rc = export_doc_readme(&text, b->folder, b->summary, fpr);
    if (rc != ERR_OK) {
        buf_cleanup(&text);
        return nomem(b);
    }
    rc = member_add_text(b, EXPORT_README, &text, true);
    FILE *html = rc == ERR_OK ? temp_file() : NULL;
    if (rc == ERR_OK && html == NULL)
        rc = io_fail(b, EXPORT_HTML);
    if (rc == ERR_OK)
        rc = export_doc_html(b->conn, b->match.params, b->summary, html, b->err);
    if (rc == ERR_OK)
        rc = member_add_file(b, EXPORT_HTML, html, true);
    if (html != NULL)
        fclose(html);
    text.len = 0;
    if (rc == ERR_OK && signing_public_pem(b->key, &text) != ERR_OK)
        rc = nomem(b);
    if (rc == ERR_OK)
        rc = member_add_text(b, EXPORT_PUBLIC_KEY, &text, true);
    buf_cleanup(&text);
    return rc;
}

/* The manifest, then its signature over the manifest's exact bytes. The manifest is mapped,
 * not read: it has a line per member, and Ed25519 signs a message whole. */
static enum err_code export_manifest_signed(struct bundle *b)
{
    enum err_code rc = member_add_file(b, EXPORT_MANIFEST, b->manifest, false);
    struct stat sb;
    if (rc == ERR_OK && fstat(fileno(b->manifest), &sb) != 0)
        rc = io_fail(b, EXPORT_MANIFEST);
    if (rc != ERR_OK)
        return rc;
    void *map = sb.st_size > 0
                    ? mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fileno(b->manifest), 0)
                    : NULL;
    if (sb.st_size > 0 && map == MAP_FAILED)
        return io_fail(b, EXPORT_MANIFEST);
    struct buf sig;
    buf_init(&sig, 0);
    rc = signing_sign_base64(b->key, map != NULL ? map : "", (size_t)sb.st_size, &sig, b->err);
    if (map != NULL)
        munmap(map, (size_t)sb.st_size);
    if (rc == ERR_OK)
        rc = member_add_text(b, EXPORT_SIGNATURE, &sig, false);
    buf_cleanup(&sig);
    return rc;
}

void export_folder_name(int64_t now_usec, char *out, size_t size)
{
    time_t t = (time_t)(now_usec / 1000000);
    struct tm tm;
    char stamp[32] = "unknown";
    if (gmtime_r(&t, &tm) != NULL)
        strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, size, "pinwatch-evidence-%s", stamp);
}

enum err_code export_bundle_write(PGconn *conn, const struct query_filters *f, int64_t now_usec,
                                  EVP_PKEY *key, export_sink_fn *sink, void *sink_ctx,
                                  struct export_stats *stats, struct err *err)
{
    struct bundle b;
    memset(&b, 0, sizeof(b));
    b.key = key;
    export_folder_name(now_usec, b.folder, sizeof(b.folder));
    b.sink = sink;
    b.sink_ctx = sink_ctx;
    b.conn = conn;
    b.filters = f;
    b.now = now_usec;
    b.err = err;
    buf_init(&b.scratch, 0);
    buf_init(&b.raw, 0);
    enum err_code rc = bundle_open(&b);
    bool in_tx = false;
    if (rc == ERR_OK) {
        /* Group times and rollups include every acknowledged report (migration 0011). Best
         * effort: on a read-only standby the export goes on with what is merged there. */
        PQclear(PQexec(conn, "SELECT pinwatch_rollups_flush()"));
        /* One snapshot for every member: reports arriving meanwhile are not half in. */
        rc = exec_ok(&b, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL,
                     "starting the export");
        in_tx = rc == ERR_OK;
    }
    if (rc == ERR_OK)
        rc = export_reports(&b);
    if (rc == ERR_OK)
        rc = export_chains(&b);
    if (rc == ERR_OK)
        rc = export_summary(&b);
    if (rc == ERR_OK)
        rc = export_docs(&b);
    if (rc == ERR_OK)
        rc = export_manifest_signed(&b);
    if (rc == ERR_OK && archive_write_close(b.ar) != ARCHIVE_OK)
        rc = ar_fail(&b, "closing the archive");
    if (in_tx) {
        PGresult *res = PQexec(conn, rc == ERR_OK ? "COMMIT" : "ROLLBACK");
        PQclear(res);
    }
    if (stats != NULL)
        *stats = b.st;
    bundle_close(&b);
    return rc;
}
