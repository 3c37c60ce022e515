/*
 * export — the incident evidence bundle (SPEC §8): a gzip'd tar whose members all live under
 * one folder, pinwatch-evidence-<utc>/:
 *
 *   raw/<id>.json                    each report's body exactly as received
 *   reports.ndjson                   one normalized report per line (pinwatch_report_json)
 *   reports.csv                      the same reports as a flat RFC 4180 table
 *   chains/<sha256>.pem, .txt        every distinct chain referenced, PEM and decoded text
 *   summary.json                     filters, export time, version, counts, groups involved
 *   README.txt, report.html          what the files are and how to verify them; the incident
 *                                    as a self-contained page (export_doc.h)
 *   signing-key.pem                  the public key of the signature
 *   MANIFEST.sha256                  `sha256sum` lines for every member above, relative to
 *                                    the folder
 *   MANIFEST.sha256.sig              base64 Ed25519 signature of the manifest's exact bytes
 *
 * The writer streams: it reads the matching reports through server-side cursors (500 rows a
 * fetch) inside one read-only REPEATABLE READ transaction, so every member describes the
 * same snapshot, and hands compressed bytes to a sink as libarchive produces them. Members
 * whose size cannot be known before the last report (reports.ndjson, reports.csv, the
 * manifest) are spooled to unlinked temporary files, so memory stays bounded whatever the
 * number of reports. The raw bodies go out while a cursor over plain columns is read, ahead
 * of the costlier pinwatch_report_json cursor, so the first bytes leave at once.
 */
#ifndef EXPORT_H
#define EXPORT_H

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "store/query.h"

#define EXPORT_MANIFEST   "MANIFEST.sha256"
#define EXPORT_SIGNATURE  "MANIFEST.sha256.sig"
#define EXPORT_PUBLIC_KEY "signing-key.pem"
#define EXPORT_README     "README.txt"
#define EXPORT_HTML       "report.html"

/* Receives the compressed bundle in pieces, in order. A non-OK return aborts the export
 * (the client went away, the disk is full) and is what export_bundle_write returns. */
typedef enum err_code export_sink_fn(void *ctx, const void *data, size_t len);

struct export_stats {
    uint64_t reports;      /* lines of reports.ndjson */
    uint64_t raw_files;    /* raw/<id>.json written */
    uint64_t raw_missing;  /* reports whose stored body could not be found */
    uint64_t raw_mismatch; /* bodies whose SHA-256 differs from the recorded raw_sha256 */
    uint64_t chains;       /* distinct chains written */
    uint64_t bytes;        /* compressed bytes handed to the sink */
};

/*
 * Write the bundle of the reports matching f (received_at range and filters as for
 * GET /v1/reports; limit and cursor are ignored: an export has no paging). conn is borrowed
 * and must be idle; the export runs and ends its own transaction on it. now_usec is the
 * export time recorded in summary.json, on the members and in the folder's name. key (an
 * Ed25519 private key, borrowed) signs the manifest. stats may be NULL.
 */
enum err_code export_bundle_write(PGconn *conn, const struct query_filters *f, int64_t now_usec,
                                  EVP_PKEY *key, export_sink_fn *sink, void *sink_ctx,
                                  struct export_stats *stats, struct err *err) ERR_MUSTCHECK;

/* The bundle's one folder for an export made at now_usec: "pinwatch-evidence-<utc>", <utc> as
 * 20260102T030405Z. */
void export_folder_name(int64_t now_usec, char *out, size_t size);

/*
 * Append one CSV row (RFC 4180, CRLF-terminated) of n cells to out. A NULL cell is empty.
 * A cell that starts with '=', '+', '-', '@', tab or CR gets a leading "'" so spreadsheets
 * show it as text instead of evaluating it; a cell containing a comma, a double quote, CR or
 * LF is quoted, with its double quotes doubled.
 */
enum err_code export_csv_row(struct buf *out, const char *const *cells, size_t n) ERR_MUSTCHECK;

/* The attachment name for an export made at now_usec: "pinwatch-export-<utc>.tar.gz", with
 * <utc> as 20260102T030405Z. out holds at least 48 bytes. */
void export_filename(int64_t now_usec, char *out, size_t size);

#endif
