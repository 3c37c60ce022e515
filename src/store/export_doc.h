/*
 * export_doc — the members of an evidence bundle written for people: README.txt (what each
 * file is, which filters made the bundle, how to verify it with pinwatch and with stock
 * sha256sum and openssl) and report.html (the incident on one self-contained page: groups
 * with verdict, kind, product and reasons; reports per hour as an inline SVG chart; app
 * versions by networks; every distinct chain with its certificates). The page has inline
 * styles only, a Content-Security-Policy that forbids every load, and no script: it opens
 * offline in any browser and sends no request.
 *
 * Both read the summary (summary.json's object: filters, exported_at, server_version, counts,
 * groups), borrowed.
 */
#ifndef EXPORT_DOC_H
#define EXPORT_DOC_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>

#include "base/buf.h"
#include "base/err.h"
#include "store/query.h"

/* Chains shown in report.html (all are in chains/); the rest are counted. */
#define EXPORT_DOC_MAX_CHAINS 300
/* App versions and networks of the versions × networks table. */
#define EXPORT_DOC_MAX_VERSIONS 15
#define EXPORT_DOC_MAX_NETWORKS 10
/* Hour bars of the timeline; a longer window gets bars of several hours. */
#define EXPORT_DOC_MAX_BARS 720

/* README.txt into out, for the bundle folder and the signing key's fingerprint (hex). */
enum err_code export_doc_readme(struct buf *out, const char *folder, const json_t *summary,
                                const char *fingerprint) ERR_MUSTCHECK;

/* report.html into out, reading the reports that the export's match arguments keep
 * (query_match_params: QUERY_MATCH_NPARAMS values) from conn, inside the export's transaction,
 * through the pinwatch_evidence_* functions (sql/functions/75_evidence.sql). */
enum err_code export_doc_html(PGconn *conn, const char *const *match, const json_t *summary,
                              FILE *out, struct err *err) ERR_MUSTCHECK;

#endif
