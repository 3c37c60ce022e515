#include "store/export_doc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/timeparse.h"
#include "db/db.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : "";
}

static long long num(const json_t *obj, const char *key)
{
    return (long long)json_integer_value(json_object_get(obj, key));
}

/* ---- README.txt ---- */

static const char readme_files[] =
    "What each file is\n"
    "-----------------\n"
    "report.html          the incident on one page: the groups with verdict, kind, product\n"
    "                     and reasons, reports per hour, app versions by networks, every\n"
    "                     chain with its certificates. It opens offline in any browser and\n"
    "                     loads nothing.\n"
    "summary.json         the filters, the export time, the counts, and the groups with their\n"
    "                     verdicts and reasons (JSON).\n"
    "reports.ndjson       one normalized report per line (JSON), each with raw_sha256, the\n"
    "                     SHA-256 of the request body it came in.\n"
    "reports.csv          the same reports as a table for spreadsheets (RFC 4180).\n"
    "raw/<id>.json        each report's body exactly as the server received it.\n"
    "chains/<sha256>.pem  each certificate chain the reports carried, as PEM, named by the\n"
    "                     chain's SHA-256 (of its certificates' DER, in order).\n"
    "chains/<sha256>.txt  the same chain decoded: fields, keys and findings.\n"
    "signing-key.pem      the public Ed25519 key that signed this bundle.\n"
    "MANIFEST.sha256      the SHA-256 of every file above (sha256sum format).\n"
    "MANIFEST.sha256.sig  the base64 Ed25519 signature of MANIFEST.sha256, byte for byte.\n"
    "\n";

static const char readme_verify[] =
    "How to verify\n"
    "-------------\n"
    "1. The key. Compare the fingerprint above with the one the server's operator publishes\n"
    "   (pinwatch logs it at start-up; GET /v1/export/signing-key serves the key). The\n"
    "   fingerprint of a key file is\n"
    "     openssl pkey -pubin -in signing-key.pem -outform DER | sha256sum\n"
    "\n"
    "2. With pinwatch, on the .tar.gz as downloaded (--key: the key you trust, not the one in\n"
    "   the bundle):\n"
    "     pinwatch verify BUNDLE.tar.gz --key trusted-signing-key.pem\n"
    "\n"
    "3. With stock tools, inside this folder:\n"
    "     sha256sum -c MANIFEST.sha256\n"
    "     base64 -d MANIFEST.sha256.sig > /tmp/manifest.sig\n"
    "     openssl pkeyutl -verify -pubin -inkey signing-key.pem -rawin \\\n"
    "         -in MANIFEST.sha256 -sigfile /tmp/manifest.sig\n"
    "   The first checks every file against the manifest; the last prints \"Signature Verified\n"
    "   Successfully\" only if the manifest is the one the key signed. Use the key you trust in\n"
    "   place of signing-key.pem.\n";

enum err_code export_doc_readme(struct buf *out, const char *folder, const json_t *summary,
                                const char *fingerprint)
{
    const json_t *counts = json_object_get(summary, "counts");
    enum err_code rc = buf_printf(out,
                                  "pinwatch evidence bundle\n"
                                  "========================\n\n"
                                  "Folder:       %s\n"
                                  "Exported at:  %s by pinwatch %s\n"
                                  "Signing key:  SHA-256 %s\n"
                                  "Filters:     ",
                                  folder, str(summary, "exported_at"),
                                  str(summary, "server_version"), fingerprint);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(summary, "filters"), k, v)
    {
        if (rc == ERR_OK && json_is_string(v))
            rc = buf_printf(out, " %s=%s", k, json_string_value(v));
    }
    if (rc == ERR_OK)
        rc = buf_printf(out,
                        "\nContents:     %lld reports in %zu groups, %lld raw bodies, %lld "
                        "chains\n\n",
                        num(counts, "reports"), json_array_size(json_object_get(summary, "groups")),
                        num(counts, "raw_files"), num(counts, "chains"));
    if (rc == ERR_OK && num(counts, "raw_missing") > 0)
        rc = buf_printf(out,
                        "Note: %lld reports have no usable stored body; `pinwatch verify` lists "
                        "them.\n\n",
                        num(counts, "raw_missing"));
    if (rc == ERR_OK)
        rc = buf_append_str(out, readme_files);
    if (rc == ERR_OK)
        rc = buf_append_str(out, readme_verify);
    return rc;
}

/* ---- report.html ---- */

static void esc(FILE *f, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* Call one of the pinwatch_evidence_* functions (sql/functions/75_evidence.sql) with the
 * export's match arguments and, for `extra`, one more ($12; $13 with extra2). NULL with *out_rc
 * set on failure. */
static PGresult *call(PGconn *conn, const char *sql, const char *const *match, const char *extra,
                      const char *extra2, enum err_code *out_rc, struct err *err)
{
    const char *params[QUERY_MATCH_NPARAMS + 2];
    memcpy(params, match, sizeof(params[0]) * QUERY_MATCH_NPARAMS);
    params[QUERY_MATCH_NPARAMS] = extra;
    params[QUERY_MATCH_NPARAMS + 1] = extra2;
    int n = QUERY_MATCH_NPARAMS + (extra != NULL) + (extra2 != NULL);
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        *out_rc = db_result_error(conn, res, "reading the incident summary", err);
        PQclear(res);
        return NULL;
    }
    *out_rc = ERR_OK;
    return res;
}

static const char *verdict_color(const char *v)
{
    if (strcmp(v, "interception") == 0)
        return "#b3261e";
    if (strcmp(v, "misconfiguration") == 0)
        return "#9a5b00";
    return "#555";
}

#define TABLE "<table style=\"border-collapse:collapse;width:100%;font-size:14px\">"
#define TH    "<th style=\"text-align:left;border-bottom:2px solid #999;padding:4px 6px\">"
#define TD    "<td style=\"vertical-align:top;border-bottom:1px solid #ddd;padding:4px 6px\">"
#define MONO                                                                                       \
    "<td style=\"vertical-align:top;border-bottom:1px solid #ddd;padding:4px 6px;"                 \
    "font-family:monospace;font-size:12px;word-break:break-all\">"

static void html_groups(FILE *f, const json_t *groups)
{
    fprintf(f, "<h2>Groups (%zu)</h2>\n", json_array_size(groups));
    if (json_array_size(groups) == 0) {
        fputs("<p>No report matched the filters.</p>\n", f);
        return;
    }
    fputs(TABLE "<tr>" TH "verdict</th>" TH "kind</th>" TH "product</th>" TH
                "app → hostname</th>" TH "anchor</th>" TH "reports</th>" TH
                "first / last seen</th>" TH "reasons</th></tr>\n",
          f);
    size_t i;
    const json_t *g;
    json_array_foreach(groups, i, g)
    {
        const char *verdict = str(g, "verdict")[0] != '\0' ? str(g, "verdict") : "undetermined";
        const json_t *anchor = json_object_get(g, "anchor");
        fprintf(f, "<tr>" TD "<b style=\"color:%s\">", verdict_color(verdict));
        esc(f, verdict);
        fputs("</b></td>" TD, f);
        esc(f, str(g, "kind")[0] != '\0' ? str(g, "kind") : "—");
        fputs("</td>" TD, f);
        esc(f, str(g, "product")[0] != '\0' ? str(g, "product") : "—");
        fputs("</td>" TD, f);
        esc(f, str(g, "app"));
        fputs(" → ", f);
        esc(f, str(g, "hostname"));
        fputs("</td>" TD, f);
        esc(f, str(anchor, "subject")[0] != '\0' ? str(anchor, "subject") : "(no chain)");
        fputs(json_is_true(json_object_get(anchor, "public")) ? " (public)" : "", f);
        fprintf(f, "</td>" TD "%lld</td>" TD, num(g, "reports_in_export"));
        esc(f, str(g, "first_seen"));
        fputs("<br>", f);
        esc(f, str(g, "last_seen"));
        fputs("</td><td style=\"vertical-align:top;border-bottom:1px solid #ddd;padding:4px 6px;"
              "min-width:360px\"><ul style=\"margin:0;padding-left:18px;font-weight:normal\">",
              f);
        size_t k;
        const json_t *r;
        json_array_foreach(json_object_get(g, "reasons"), k, r)
        {
            fputs("<li><code>", f);
            esc(f, str(r, "code"));
            fputs("</code>: ", f);
            esc(f, str(r, "detail"));
            fputs("</li>", f);
        }
        fputs("</ul></td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* Reports per hour as bars on a linear time axis (only hours with reports are returned). */
static enum err_code html_timeline(FILE *f, PGconn *conn, const char *const *match, struct err *err)
{
    enum err_code rc;
    PGresult *res = call(conn, "SELECT * FROM pinwatch_evidence_hours(" QUERY_MATCH_ARGS ")", match,
                         NULL, NULL, &rc, err);
    if (res == NULL)
        return rc;
    int n = PQntuples(res);
    fputs("<h2>Reports per hour (UTC)</h2>\n", f);
    if (n == 0) {
        fputs("<p>No reports.</p>\n", f);
        PQclear(res);
        return ERR_OK;
    }
    long long first = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    long long last = strtoll(PQgetvalue(res, n - 1, 0), NULL, 10);
    long long span = last - first + 1, per = (span + EXPORT_DOC_MAX_BARS - 1) / EXPORT_DOC_MAX_BARS;
    long long bars = (span + per - 1) / per;
    long long *count = calloc((size_t)bars, sizeof(*count));
    if (count == NULL) {
        PQclear(res);
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    }
    long long max = 1;
    for (int i = 0; i < n; i++) {
        long long b = (strtoll(PQgetvalue(res, i, 0), NULL, 10) - first) / per;
        count[b] += strtoll(PQgetvalue(res, i, 1), NULL, 10);
        max = count[b] > max ? count[b] : max;
    }
    PQclear(res);
    const int width = 1000, height = 160, top = 10, bottom = 30;
    double bw = (double)width / (double)bars;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"100%%\" "
            "role=\"img\" aria-label=\"reports per hour\" style=\"max-width:%dpx;"
            "background:#fafafa;border:1px solid #ddd\">\n",
            width + 60, height + top + bottom, width + 60);
    fprintf(f, "<text x=\"4\" y=\"%d\" font-size=\"11\">%lld</text>\n", top + 10, max);
    for (long long b = 0; b < bars; b++) {
        if (count[b] == 0)
            continue;
        double h = (double)height * (double)count[b] / (double)max;
        char at[TIMEPARSE_FMT_LEN];
        timeparse_format((int64_t)(first + b * per) * 3600 * 1000000, at);
        fprintf(f,
                "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#3b6ea8\">"
                "<title>%s: %lld</title></rect>\n",
                50 + b * bw, top + height - h, bw > 2 ? bw - 1 : bw, h, at, count[b]);
    }
    char t0[TIMEPARSE_FMT_LEN], t1[TIMEPARSE_FMT_LEN];
    timeparse_format((int64_t)first * 3600 * 1000000, t0);
    timeparse_format((int64_t)(last + 1) * 3600 * 1000000, t1);
    fprintf(f,
            "<line x1=\"50\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\"/>\n"
            "<text x=\"50\" y=\"%d\" font-size=\"11\">%s</text>\n"
            "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%s</text>\n</svg>\n",
            top + height, width + 50, top + height, top + height + 18, t0, width + 50,
            top + height + 18, t1);
    if (per > 1)
        fprintf(f, "<p style=\"font-size:12px\">Each bar is %lld hours.</p>\n", per);
    free(count);
    return ERR_OK;
}

static enum err_code html_matrix(FILE *f, PGconn *conn, const char *const *match, struct err *err)
{
    enum err_code rc;
    PGresult *res =
        call(conn, "SELECT pinwatch_evidence_matrix(" QUERY_MATCH_ARGS ", $12::int, $13::int)",
             match, STR(EXPORT_DOC_MAX_VERSIONS), STR(EXPORT_DOC_MAX_NETWORKS), &rc, err);
    if (res == NULL)
        return rc;
    json_t *m = PQntuples(res) > 0 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
    PQclear(res);
    const json_t *versions = json_object_get(m, "versions"),
                 *networks = json_object_get(m, "networks");
    const json_t *cells = json_object_get(m, "cells");
    fprintf(f,
            "<h2>App versions × networks</h2>\n<p style=\"font-size:12px\">Reports of the %lld "
            "most frequent versions (of %lld) on the %lld busiest networks (of %lld).</p>\n",
            (long long)json_array_size(versions), num(m, "all_versions"),
            (long long)json_array_size(networks), num(m, "all_networks"));
    fputs(TABLE "<tr>" TH "version \\ network</th>", f);
    size_t i, j;
    const json_t *v, *n;
    json_array_foreach(networks, j, n)
    {
        fputs(TH, f);
        esc(f, json_string_value(json_array_get(n, 0)));
        fputs("</th>", f);
    }
    fputs(TH "all networks</th></tr>\n", f);
    json_array_foreach(versions, i, v)
    {
        const char *vs = json_string_value(json_array_get(v, 0));
        fputs("<tr>" TD, f);
        esc(f, vs);
        fputs("</td>", f);
        json_array_foreach(networks, j, n)
        {
            char key[512];
            snprintf(key, sizeof(key), "%s\t%s", vs != NULL ? vs : "",
                     json_string_value(json_array_get(n, 0)));
            long long c = (long long)json_integer_value(json_object_get(cells, key));
            if (c > 0)
                fprintf(f, TD "%lld</td>", c);
            else
                fputs(TD "<span style=\"color:#bbb\">0</span></td>", f);
        }
        fprintf(f, TD "<b>%lld</b></td></tr>\n",
                (long long)json_integer_value(json_array_get(v, 1)));
    }
    fputs("</table>\n", f);
    json_decref(m);
    return ERR_OK;
}

static void html_chain(FILE *f, const char *sha, const char *n, const json_t *certs)
{
    fputs("<h3 style=\"font-family:monospace;font-size:13px;word-break:break-all\">", f);
    esc(f, sha);
    fprintf(f,
            "</h3>\n<p style=\"font-size:12px\">In %s report chain(s) (served or validated); "
            "<code>chains/",
            n);
    esc(f, sha);
    fputs(".pem</code>, <code>.txt</code>.</p>\n" TABLE "<tr>" TH "#</th>" TH "subject</th>" TH
          "issuer</th>" TH "valid</th>" TH "key</th>" TH "SPKI SHA-256</th></tr>\n",
          f);
    size_t i;
    const json_t *c;
    json_array_foreach(certs, i, c)
    {
        fprintf(f, "<tr>" TD "%zu%s</td>" TD, i, i == 0 ? " (leaf)" : "");
        esc(f, str(c, "subject")[0] != '\0' ? str(c, "subject") : "(not stored)");
        fputs("</td>" TD, f);
        esc(f, str(c, "issuer"));
        fputs("</td>" TD, f);
        esc(f, str(c, "not_before"));
        fputs(" – ", f);
        esc(f, str(c, "not_after"));
        fputs("</td>" TD, f);
        esc(f, str(c, "key"));
        fputs(json_is_true(json_object_get(c, "ca")) ? ", CA" : "", f);
        fputs("</td>" MONO, f);
        esc(f, str(c, "spki_sha256"));
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static enum err_code html_chains(FILE *f, PGconn *conn, const char *const *match, struct err *err)
{
    enum err_code rc;
    PGresult *res =
        call(conn, "SELECT * FROM pinwatch_evidence_chains(" QUERY_MATCH_ARGS ", $12::int)", match,
             STR(EXPORT_DOC_MAX_CHAINS), NULL, &rc, err);
    if (res == NULL)
        return rc;
    int n = PQntuples(res);
    long long total = n > 0 ? strtoll(PQgetvalue(res, 0, 2), NULL, 10) : 0;
    fprintf(f, "<h2>Chains (%lld)</h2>\n", total);
    if (total > n)
        fprintf(f, "<p>The %d chains seen most; all %lld are in <code>chains/</code>.</p>\n", n,
                total);
    for (int i = 0; i < n; i++) {
        json_t *certs = json_loads(PQgetvalue(res, i, 3), 0, NULL);
        html_chain(f, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), certs);
        json_decref(certs);
    }
    PQclear(res);
    return ERR_OK;
}

static void html_head(FILE *f, const json_t *summary)
{
    const json_t *counts = json_object_get(summary, "counts");
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>pinwatch incident evidence ",
          f);
    esc(f, str(summary, "exported_at"));
    fputs("</title></head>\n<body style=\"font-family:system-ui,-apple-system,Segoe UI,sans-serif;"
          "margin:24px auto;max-width:1200px;padding:0 16px;color:#222;line-height:1.4\">\n"
          "<h1 style=\"font-size:24px\">Incident evidence</h1>\n<p>Exported at ",
          f);
    esc(f, str(summary, "exported_at"));
    fputs(" by pinwatch ", f);
    esc(f, str(summary, "server_version"));
    fprintf(f, ": <b>%lld reports</b>. Filters:", num(counts, "reports"));
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(summary, "filters"), k, v)
    {
        if (!json_is_string(v))
            continue;
        fputs(" <code>", f);
        esc(f, k);
        fputs("=", f);
        esc(f, json_string_value(v));
        fputs("</code>", f);
    }
    fputs(".</p>\n<p style=\"font-size:12px\">This page loads nothing. README.txt says how to "
          "check that this bundle is the one the server signed.</p>\n",
          f);
}

enum err_code export_doc_html(PGconn *conn, const char *const *match, const json_t *summary,
                              FILE *out, struct err *err)
{
    html_head(out, summary);
    html_groups(out, json_object_get(summary, "groups"));
    enum err_code rc = html_timeline(out, conn, match, err);
    if (rc == ERR_OK)
        rc = html_matrix(out, conn, match, err);
    if (rc == ERR_OK)
        rc = html_chains(out, conn, match, err);
    if (rc == ERR_OK)
        fputs("</body></html>\n", out);
    if (rc == ERR_OK && (fflush(out) != 0 || ferror(out)))
        rc = err_set(err, ERR_INTERNAL, "export_failed", "report.html: temporary file error");
    return rc;
}
