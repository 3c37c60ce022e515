/* Evidence export end to end (SPEC §8): a mixed population posted to the real server, the
 * bundle fetched from GET /v1/export, unpacked with tar and checked with sha256sum, byte-exact
 * raw bodies, chains that hash to their ids, filters, `pinwatch verify` on intact and tampered
 * copies, and `pinwatch export --out` producing the same reports. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testenv.h"

#define MAX_POSTED  16
#define DATATHEOREM "www.datatheorem.com"
#define FORMULA     "=cmd|' /C calc'!A0"

struct posted {
    char id[40];
    char *body;
    size_t len;
};

static struct testenv_server srv;
static struct posted posted[MAX_POSTED];
static size_t n_posted;
static char tmpdir[256];

static void setup(void)
{
    testenv_reset_db();
    memset(&srv, 0, sizeof(srv));
    testenv_server_start(&srv, NULL);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/pinwatch-export-test-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    n_posted = 0;
}

static void teardown(void)
{
    testenv_server_kill(&srv);
    for (size_t i = 0; i < n_posted; i++)
        free(posted[i].body);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(export, .init = setup, .fini = teardown, .timeout = 240);

/* ---- helpers ---- */

/* Run a shell command, its output (stdout and stderr) into *out when not NULL; exit status. */
static int run(char **out, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    size_t n;
    while ((n = fread(text + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 1024)
            text = realloc(text, cap *= 2);
    }
    text[len] = '\0';
    int st = pclose(p);
    if (out != NULL)
        *out = text;
    else
        free(text);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static char *fixture(const char *rel, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, rel);
    return testenv_read_file(path, len);
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char d[32];
    cr_assert_eq(EVP_Digest(data, len, d, NULL, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* Post one body; every accepted id is remembered with the exact bytes sent. */
static void post(const char *body, size_t len, const char *content_type, size_t expect)
{
    char h[160];
    snprintf(h, sizeof(h), "Content-Type: %s\r\n", content_type);
    struct testenv_response r;
    int st = testenv_http(srv.port, "POST", "/v1/reports", h, body, len, false, &r);
    cr_assert_eq(st, 200, "status %d: %s", st, r.body);
    json_t *acc = json_object_get(r.json, "accepted");
    cr_assert_eq(json_array_size(acc), expect, "%s", r.body);
    for (size_t i = 0; i < expect; i++) {
        cr_assert_lt(n_posted, MAX_POSTED);
        struct posted *p = &posted[n_posted++];
        snprintf(p->id, sizeof(p->id), "%s", json_string_value(json_array_get(acc, i)));
        p->body = malloc(len);
        memcpy(p->body, body, len);
        p->len = len;
    }
    testenv_response_free(&r);
}

static void post_fixture(const char *rel, const char *content_type, size_t expect)
{
    size_t len;
    char *body = fixture(rel, &len);
    post(body, len, content_type, expect);
    free(body);
}

/* Every format, an array whose two reports share one body, and a report whose values are
 * hostile to spreadsheets: 9 reports, 5 of them for www.datatheorem.com. */
static void post_population(void)
{
    post_fixture("trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json",
                 "application/json", 1);
    post_fixture("trustkit-ios/docs_sample_report_2015-06-18_initial.json", "application/json", 1);
    post_fixture("trustkit-android/docs_sample_report_2016-11-25_updated.json", "application/json",
                 1);
    post_fixture("sentry-relay/integration_hpkp.input.json", "application/json", 1);
    post_fixture("reportd/expect_ct_chrome_test_report_2019-10-04.json",
                 "application/expect-ct-report+json", 1);
    const char *nel =
        "[{\"age\":10,\"type\":\"network-error\",\"url\":\"https://shop.example.com/\","
        "\"user_agent\":\"Mozilla/"
        "5.0\",\"body\":{\"type\":\"tls.cert.pinned_key_not_in_cert_chain\","
        "\"phase\":\"connection\",\"server_ip\":\"203.0.113.9\",\"protocol\":\"h2\","
        "\"elapsed_time\":12,\"sampling_fraction\":1,\"status_code\":0}}]";
    post(nel, strlen(nel), "application/reports+json", 1);

    size_t l1, l2;
    char *a = fixture(
        "trustkit-ios/docs_sample_report_2016-06-07_trustkit-version_enforce-pinning.json", &l1);
    char *b = fixture("sentry-relay/integration_hpkp.input.json", &l2);
    char *arr = malloc(l1 + l2 + 8);
    int n = sprintf(arr, "[%s,%s]", a, b);
    post(arr, (size_t)n, "application/json", 2);
    free(arr);
    free(a);
    free(b);

    char *text =
        fixture("trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json", NULL);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    cr_assert_not_null(j);
    json_object_set_new(j, "app-version", json_string(FORMULA));
    json_object_set_new(j, "app-vendor-id", json_string("a,b\"c\nd"));
    char *hostile = json_dumps(j, JSON_COMPACT);
    post(hostile, strlen(hostile), "application/json", 1);
    free(hostile);
    json_decref(j);
}

static const struct posted *find_posted(const char *id)
{
    for (size_t i = 0; i < n_posted; i++) {
        if (strcmp(posted[i].id, id) == 0)
            return &posted[i];
    }
    return NULL;
}

/* Unpack a bundle into <tmpdir>/<name>.d/, asserting that it holds one folder,
 * pinwatch-evidence-<YYYYMMDDTHHMMSSZ>/, and link <tmpdir>/<name> to that folder. */
static void unpack(const char *tarball, const char *name)
{
    char *out;
    int rc = run(&out, "mkdir -p '%s/%s.d' && tar xzf '%s' -C '%s/%s.d'", tmpdir, name, tarball,
                 tmpdir, name);
    cr_assert_eq(rc, 0, "tar: %s", out);
    free(out);
    rc = run(
        &out,
        "cd '%s/%s.d' && test \"$(ls -A | wc -l)\" = 1 && ls -d pinwatch-evidence-* | grep -Eqx "
        "'pinwatch-evidence-[0-9]{8}T[0-9]{6}Z' && ln -s \"$PWD/$(ls)\" '%s/%s'",
        tmpdir, name, tmpdir, name);
    cr_assert_eq(rc, 0, "%s does not unpack into one pinwatch-evidence-<time>/ folder: %s", tarball,
                 out);
    free(out);
    rc = run(&out, "tar tzf '%s' | grep -Ev '^pinwatch-evidence-[0-9]{8}T[0-9]{6}Z/'", tarball);
    cr_assert_eq(rc, 1, "members outside the folder: %s", out);
    free(out);
}

/* GET /v1/export<query> as a streamed attachment, saved as <tmpdir>/<name>.tar.gz and unpacked
 * (unpack()). */
static void export_http(const char *query, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "/v1/export%s", query);
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, path, &r), 200, "%s", r.body);
    char *ct = testenv_response_header(&r, "Content-Type");
    char *cd = testenv_response_header(&r, "Content-Disposition");
    char *te = testenv_response_header(&r, "Transfer-Encoding");
    cr_assert_str_eq(ct, "application/gzip");
    cr_assert_not_null(cd);
    cr_assert(strncmp(cd, "attachment; filename=\"pinwatch-export-", 38) == 0, "%s", cd);
    cr_assert(strstr(cd, "Z.tar.gz\"") != NULL, "%s", cd);
    /* Streamed: no Content-Length known in advance. */
    cr_assert_str_eq(te, "chunked");
    free(ct);
    free(cd);
    free(te);
    snprintf(path, sizeof(path), "%s/%s.tar.gz", tmpdir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_eq(fwrite(r.body, 1, r.body_len, f), r.body_len);
    fclose(f);
    testenv_response_free(&r);
    unpack(path, name);
}

static char *member(const char *bundle, const char *rel, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/%s", tmpdir, bundle, rel);
    return testenv_read_file(path, len);
}

static bool member_exists(const char *bundle, const char *rel)
{
    char path[512];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/%s/%s", tmpdir, bundle, rel);
    return stat(path, &sb) == 0;
}

static json_t *member_json(const char *bundle, const char *rel)
{
    char *text = member(bundle, rel, NULL);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    cr_assert_not_null(j, "%s is not JSON", rel);
    return j;
}

/* reports.ndjson as a JSON array, asserting one object per line. */
static json_t *ndjson(const char *bundle)
{
    char *text = member(bundle, "reports.ndjson", NULL);
    json_t *all = json_array();
    for (char *line = text, *nl; *line != '\0'; line = nl + 1) {
        nl = strchr(line, '\n');
        cr_assert_not_null(nl, "reports.ndjson does not end in a newline");
        *nl = '\0';
        json_t *j = json_loads(line, 0, NULL);
        cr_assert(json_is_object(j), "not a report: %.80s", line);
        json_array_append_new(all, j);
    }
    free(text);
    return all;
}

static int verify(const char *bundle_path, char **out)
{
    return run(out, "'%s' verify '%s'", PINWATCH_BIN, bundle_path);
}

/* The SHA-256 over the DER of every certificate in a PEM file, in order: a chain's id. */
static void pem_chain_sha(const char *path, char out[65], int *n_certs)
{
    BIO *bio = BIO_new_file(path, "r");
    cr_assert_not_null(bio, "%s", path);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    X509 *x;
    *n_certs = 0;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        unsigned char *der = NULL;
        int len = i2d_X509(x, &der);
        cr_assert_gt(len, 0);
        EVP_DigestUpdate(md, der, (size_t)len);
        OPENSSL_free(der);
        X509_free(x);
        (*n_certs)++;
    }
    unsigned char d[32];
    EVP_DigestFinal_ex(md, d, NULL);
    EVP_MD_CTX_free(md);
    BIO_free(bio);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void assert_chain_member(const char *bundle, const char *sha, size_t n_certs)
{
    char rel[128], path[512], got[65];
    snprintf(rel, sizeof(rel), "chains/%s.pem", sha);
    snprintf(path, sizeof(path), "%s/%s/%s", tmpdir, bundle, rel);
    int n;
    pem_chain_sha(path, got, &n);
    cr_assert_eq((size_t)n, n_certs, "%s: %d certificates", rel, n);
    cr_assert_str_eq(got, sha, "%s does not hash to its chain id", rel);
    snprintf(rel, sizeof(rel), "chains/%s.txt", sha);
    char *txt = member(bundle, rel, NULL);
    char want[128];
    snprintf(want, sizeof(want), "chain sha256: %s\n", sha);
    cr_assert(strncmp(txt, want, strlen(want)) == 0, "%s", rel);
    cr_assert(strstr(txt, "Subject Public Key Info") != NULL, "%s: no decoded fields", rel);
    free(txt);
}

/* ---- tests ---- */

Test(export, bundle_is_complete_exact_and_verifiable)
{
    post_population();
    cr_assert_eq(n_posted, 9);
    export_http("", "all");

    char *out;
    int rc = run(&out, "cd '%s/all' && sha256sum -c --quiet MANIFEST.sha256", tmpdir);
    cr_assert_eq(rc, 0, "sha256sum -c: %s", out);
    free(out);
    /* Every file but the manifest and its signature is listed in it. */
    rc = run(&out,
             "cd '%s/all' && test $(find . -type f | wc -l) -eq $(( $(wc -l < "
             "MANIFEST.sha256) + 2 ))",
             tmpdir);
    cr_assert_eq(rc, 0, "files not listed in the manifest");
    free(out);

    json_t *reports = ndjson("all");
    cr_assert_eq(json_array_size(reports), n_posted);
    size_t i;
    json_t *rep;
    json_array_foreach(reports, i, rep)
    {
        const char *id = json_string_value(json_object_get(rep, "id"));
        const struct posted *p = find_posted(id);
        cr_assert_not_null(p, "report %s was not posted", id);
        /* raw/<id>.json is exactly the posted body, and hashes to the report's raw_sha256. */
        char rel[96], sha[65];
        snprintf(rel, sizeof(rel), "raw/%s.json", id);
        size_t len;
        char *raw = member("all", rel, &len);
        cr_assert_eq(len, p->len, "%s: %zu bytes, posted %zu", rel, len, p->len);
        cr_assert(memcmp(raw, p->body, len) == 0, "%s differs from the posted body", rel);
        free(raw);
        sha256_hex(p->body, p->len, sha);
        cr_assert_str_eq(json_string_value(json_object_get(rep, "raw_sha256")), sha);
        /* Each chain the report references is in chains/, and hashes to its id. */
        static const char *const chains[][2] = {{"served_chain_sha256", "served_chain"},
                                                {"validated_chain_sha256", "validated_chain"}};
        for (size_t c = 0; c < 2; c++) {
            const char *csha = json_string_value(json_object_get(rep, chains[c][0]));
            if (csha != NULL)
                assert_chain_member("all", csha,
                                    json_array_size(json_object_get(rep, chains[c][1])));
        }
    }
    json_decref(reports);

    json_t *summary = member_json("all", "summary.json");
    cr_assert_not_null(summary);
    json_t *counts = json_object_get(summary, "counts");
    cr_assert_eq(json_integer_value(json_object_get(counts, "reports")), 9);
    json_t *by_format = json_object_get(counts, "by_format");
    cr_assert_eq(json_integer_value(json_object_get(by_format, "trustkit_ios")), 4);
    cr_assert_eq(json_integer_value(json_object_get(by_format, "trustkit_android")), 1);
    cr_assert_eq(json_integer_value(json_object_get(by_format, "hpkp")), 2);
    cr_assert_eq(json_integer_value(json_object_get(by_format, "expect_ct")), 1);
    cr_assert_eq(json_integer_value(json_object_get(by_format, "nel")), 1);
    json_int_t verdicts = 0;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(counts, "by_verdict"), k, v) verdicts +=
        json_integer_value(v);
    cr_assert_eq(verdicts, 9);
    cr_assert_str_eq(json_string_value(json_object_get(summary, "server_version")),
                     PINWATCH_VERSION);
    cr_assert_not_null(json_string_value(json_object_get(summary, "exported_at")));
    json_t *groups = json_object_get(summary, "groups");
    cr_assert_gt(json_array_size(groups), 0);
    json_int_t in_groups = 0;
    json_array_foreach(groups, i, v)
    {
        cr_assert_not_null(json_string_value(json_object_get(v, "verdict")));
        cr_assert(json_is_array(json_object_get(v, "reasons")));
        in_groups += json_integer_value(json_object_get(v, "reports_in_export"));
        /* Group times come from the rollup merge (0011): they span the group's reports. */
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "SELECT pinwatch_ts(min(received_at)) || ' ' || pinwatch_ts(max(received_at))"
                 " FROM reports WHERE group_id = '%s'",
                 json_string_value(json_object_get(v, "id")));
        char *span = testenv_db_value(sql), seen[128];
        snprintf(seen, sizeof(seen), "%s %s", json_string_value(json_object_get(v, "first_seen")),
                 json_string_value(json_object_get(v, "last_seen")));
        cr_assert_str_eq(seen, span, "group %s", json_string_value(json_object_get(v, "id")));
        free(span);
    }
    cr_assert_eq(in_groups, testenv_db_long("SELECT count(*) FROM reports WHERE group_id IS NOT"
                                            " NULL"));
    json_decref(summary);

    /* The CSV: a header, the hostile values neutralised and quoted. */
    char *csv = member("all", "reports.csv", NULL);
    cr_assert(strncmp(csv, "id,received_at,format,hostname,", 31) == 0);
    cr_assert(strstr(csv, ",'" FORMULA ",") != NULL, "formula not neutralised");
    cr_assert(strstr(csv, "," FORMULA) == NULL, "formula left as is");
    cr_assert(strstr(csv, ",\"a,b\"\"c\nd\",") != NULL, "quoting");
    /* Chain-level columns come from the report's chain. */
    char *anchor =
        testenv_db_value("SELECT ch.analysis->'anchor'->>'subject' FROM reports r JOIN chains ch"
                         " ON ch.sha256 = coalesce(r.validated_chain, r.served_chain)"
                         " WHERE ch.analysis->'anchor'->>'subject' IS NOT NULL LIMIT 1");
    cr_assert_not_null(anchor);
    cr_assert(strstr(csv, anchor) != NULL, "anchor_subject %s missing from the CSV", anchor);
    free(anchor);
    free(csv);

    char path[512];
    snprintf(path, sizeof(path), "%s/all.tar.gz", tmpdir);
    cr_assert_eq(verify(path, &out), 0, "%s", out);
    cr_assert(strncmp(out, "OK:", 3) == 0, "%s", out);
    free(out);
}

Test(export, filters_choose_the_reports)
{
    post_population();
    export_http("?hostname=WWW.DataTheorem.com", "host");
    json_t *reports = ndjson("host");
    long want = testenv_db_long("SELECT count(*) FROM reports WHERE hostname = '" DATATHEOREM "'");
    cr_assert_eq(want, 5);
    cr_assert_eq(json_array_size(reports), (size_t)want);
    size_t i;
    json_t *rep;
    json_array_foreach(reports, i, rep)
    {
        cr_assert_str_eq(json_string_value(json_object_get(rep, "hostname")), DATATHEOREM);
        char rel[96];
        snprintf(rel, sizeof(rel), "raw/%s.json", json_string_value(json_object_get(rep, "id")));
        cr_assert(member_exists("host", rel), "%s", rel);
    }
    json_decref(reports);
    char *out;
    cr_assert_eq(run(&out, "ls '%s/host/raw' | wc -l | grep -qx 5", tmpdir), 0);
    free(out);
    json_t *summary = member_json("host", "summary.json");
    json_t *filters = json_object_get(summary, "filters");
    cr_assert_str_eq(json_string_value(json_object_get(filters, "hostname")), DATATHEOREM);
    cr_assert(json_is_null(json_object_get(filters, "app")));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(summary, "counts"), "reports")),
                 5);
    json_decref(summary);

    export_http("?platform=web", "web");
    reports = ndjson("web");
    cr_assert_eq(json_array_size(reports), 4); /* 2 HPKP, Expect-CT, NEL */
    json_decref(reports);

    /* Nothing in range: still a valid, verifiable bundle. */
    export_http("?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z", "empty");
    reports = ndjson("empty");
    cr_assert_eq(json_array_size(reports), 0);
    json_decref(reports);
    char path[512];
    snprintf(path, sizeof(path), "%s/empty.tar.gz", tmpdir);
    cr_assert_eq(verify(path, &out), 0, "%s", out);
    free(out);

    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, "/v1/export?platform=bogus", &r), 400);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "invalid_parameter");
    testenv_response_free(&r);
    cr_assert_eq(testenv_get(&srv, "/v1/export?from=yesterday", &r), 400);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "error")), "invalid_parameter");
    testenv_response_free(&r);
    cr_assert_eq(testenv_http(srv.port, "GET", "/v1/export", NULL, NULL, 0, false, &r), 401);
    testenv_response_free(&r);
}

/* Copy the unpacked bundle, tamper with the copy through `sh` (run inside its folder), re-pack
 * it with tar czf and run pinwatch verify on it (with extra arguments); returns verify's exit
 * status and output. */
static int tampered_with(const char *name, const char *shell, const char *args, char **out)
{
    char *o;
    int rc = run(&o,
                 "cp -a '%s/all.d' '%s/%s.d' && cd '%s/%s.d'/pinwatch-evidence-* && (%s) && cd .. "
                 "&& tar czf '%s/%s.tar.gz' .",
                 tmpdir, tmpdir, name, tmpdir, name, shell, tmpdir, name);
    cr_assert_eq(rc, 0, "%s: %s", name, o);
    free(o);
    return run(out, "'%s' verify '%s/%s.tar.gz' %s", PINWATCH_BIN, tmpdir, name, args);
}

static int tampered(const char *name, const char *shell, char **out)
{
    return tampered_with(name, shell, "", out);
}

Test(export, verify_rejects_tampered_bundles)
{
    post_population();
    export_http("", "all");
    char *out;
    char path[512];
    snprintf(path, sizeof(path), "%s/all.tar.gz", tmpdir);
    cr_assert_eq(verify(path, &out), 0, "%s", out);
    free(out);
    /* Re-packed by tar (./ prefixes, directory entries) but untouched: still fine. */
    cr_assert_eq(tampered("repacked", "true", &out), 0, "%s", out);
    free(out);

    const char *id = posted[0].id;
    char sh[512];
    /* One byte changed inside a member. */
    snprintf(sh, sizeof(sh), "printf X | dd of=raw/%s.json bs=1 seek=20 conv=notrunc 2>/dev/null",
             id);
    cr_assert_eq(tampered("byte", sh, &out), 1, "%s", out);
    char want[96];
    snprintf(want, sizeof(want), "raw/%s.json: SHA-256 is", id);
    cr_assert(strstr(out, want) != NULL, "%s", out);
    free(out);

    /* One file missing. */
    cr_assert_eq(tampered("missing", "rm \"$(ls chains/*.txt | head -n 1)\"", &out), 1, "%s", out);
    cr_assert(strstr(out, "but missing from the bundle") != NULL, "%s", out);
    free(out);

    /* A body changed and the manifest recomputed to match: the raw_sha256 recorded at ingest
     * in reports.ndjson still tells. */
    snprintf(sh, sizeof(sh),
             "printf ' ' >> raw/%s.json && find . -type f ! -name MANIFEST.sha256 | sed 's|^./||'"
             " | xargs sha256sum > MANIFEST.sha256",
             id);
    cr_assert_eq(tampered("resigned", sh, &out), 1, "%s", out);
    cr_assert(strstr(out, "reports.ndjson records raw_sha256") != NULL, "%s", out);
    cr_assert(strstr(out, "MANIFEST.sha256 says") == NULL, "%s", out);
    free(out);

    /* A file slipped in. */
    cr_assert_eq(tampered("extra", "echo hello > chains/extra.txt", &out), 1, "%s", out);
    cr_assert(strstr(out, "chains/extra.txt: in the bundle but not listed") != NULL, "%s", out);
    free(out);

    /* Not a bundle at all. */
    snprintf(path, sizeof(path), "%s/garbage.tar.gz", tmpdir);
    FILE *f = fopen(path, "wb");
    fputs("not a tarball", f);
    fclose(f);
    cr_assert_neq(verify(path, &out), 0, "%s", out);
    free(out);
}

Test(export, cli_export_writes_the_same_reports)
{
    post_population();
    export_http("?hostname=" DATATHEOREM, "http");
    char *out, *a, *b, path[512];
    size_t l1, l2;
    /* The CLI finds the server's key next to the spool, as `pinwatch serve` does. */
    int rc = run(&out,
                 "PINWATCH_SPOOL_DIR='%s' '%s' export --out '%s/cli.tar.gz' --database-url '%s' "
                 "--hostname %s",
                 srv.spool_dir, PINWATCH_BIN, tmpdir, testenv_conninfo(), DATATHEOREM);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "5 reports") != NULL, "%s", out);
    free(out);
    snprintf(path, sizeof(path), "%s/cli.tar.gz", tmpdir);
    unpack(path, "cli");
    a = member("http", "signing-key.pem", &l1);
    b = member("cli", "signing-key.pem", &l2);
    cr_assert(l1 == l2 && memcmp(a, b, l1) == 0, "the CLI signs with the server's key");
    free(a);
    free(b);
    a = member("http", "reports.ndjson", &l1);
    b = member("cli", "reports.ndjson", &l2);
    cr_assert_eq(l1, l2);
    cr_assert(memcmp(a, b, l1) == 0, "reports.ndjson differs between HTTP and CLI exports");
    free(a);
    free(b);
    cr_assert_eq(verify(path, &out), 0, "%s", out);
    free(out);

    /* Flags are checked like query parameters; no partial file is left behind. */
    rc = run(&out, "'%s' export --out '%s/bad.tar.gz' --database-url '%s' --platform bogus",
             PINWATCH_BIN, tmpdir, testenv_conninfo());
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert(strstr(out, "platform") != NULL, "%s", out);
    free(out);
    cr_assert_eq(run(NULL, "'%s' export --hostname x", PINWATCH_BIN), 2);
    cr_assert_eq(run(NULL, "ls '%s' | grep -q bad", tmpdir), 1);
}

/* Open an export and walk away after a few bytes, with a receive buffer so small that the
 * server has to wait for us. */
static void abandon_export(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)srv.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "GET /v1/export HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n",
                     srv.token);
    cr_assert_eq(send(fd, req, (size_t)n, 0), n);
    char buf[512];
    cr_assert_gt(recv(fd, buf, sizeof(buf), 0), 0);
    close(fd);
}

Test(export, many_reports_stream_through_the_cursor)
{
    post_fixture("trustkit-android/docs_sample_report_2016-11-25_updated.json", "application/json",
                 1);
    /* 1234 more copies of the stored report under new ids: several FETCH batches. */
    PGconn *c = testenv_db();
    PGresult *res = PQexec(
        c, "INSERT INTO reports SELECT p.* FROM reports r CROSS JOIN generate_series(1, 1234) g"
           " CROSS JOIN LATERAL jsonb_populate_record(NULL::reports, to_jsonb(r)"
           " || jsonb_build_object('id', gen_random_uuid(),"
           "   'received_at', r.received_at - g * interval '1 ms')) p");
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);

    abandon_export();
    export_http("", "many");
    json_t *reports = ndjson("many");
    cr_assert_eq(json_array_size(reports), 1235);
    json_decref(reports);
    char *out;
    cr_assert_eq(run(&out, "ls '%s/many/raw' | wc -l | grep -qx 1235", tmpdir), 0);
    free(out);
    char path[512];
    snprintf(path, sizeof(path), "%s/many.tar.gz", tmpdir);
    cr_assert_eq(verify(path, &out), 0, "%s", out);
    cr_assert(strstr(out, "1235 raw bodies match") != NULL, "%s", out);
    free(out);
    /* The server outlived the abandoned export. */
    struct testenv_response r;
    cr_assert_eq(testenv_http(srv.port, "GET", "/healthz", NULL, NULL, 0, false, &r), 200);
    testenv_response_free(&r);
}

/* ---- signed, self-describing bundles (issue 21) ---- */

/* SHA-256 of a PEM public key's SubjectPublicKeyInfo DER, as openssl computes it. */
static char *openssl_fingerprint(const char *pem_path)
{
    char *out;
    int rc =
        run(&out, "openssl pkey -pubin -in '%s' -outform DER | sha256sum | cut -c1-64", pem_path);
    cr_assert_eq(rc, 0, "%s", out);
    out[strcspn(out, "\n")] = '\0';
    return out;
}

Test(export, signed_bundle_verifies_with_stock_tools_alone)
{
    post_population();
    export_http("?hostname=" DATATHEOREM, "all");
    char *out;
    int rc = run(&out, "cd '%s/all' && sha256sum -c MANIFEST.sha256", tmpdir);
    cr_assert_eq(rc, 0, "sha256sum -c: %s", out);
    free(out);
    rc = run(&out,
             "cd '%s/all' && base64 -d MANIFEST.sha256.sig > '%s/manifest.sig' && openssl pkeyutl "
             "-verify -pubin -inkey signing-key.pem -rawin -in MANIFEST.sha256 -sigfile "
             "'%s/manifest.sig'",
             tmpdir, tmpdir, tmpdir);
    cr_assert_eq(rc, 0, "openssl refuses the signature: %s", out);
    cr_assert(strstr(out, "Signature Verified Successfully") != NULL, "%s", out);
    free(out);

    /* The key in the bundle is the server's, served at /v1/export/signing-key (admin). */
    char pem_path[512];
    snprintf(pem_path, sizeof(pem_path), "%s/all/signing-key.pem", tmpdir);
    char *fpr = openssl_fingerprint(pem_path);
    cr_assert_eq(strlen(fpr), 64, "%s", fpr);
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, "/v1/export/signing-key", &r), 200);
    char *ct = testenv_response_header(&r, "Content-Type");
    char *hf = testenv_response_header(&r, "X-Key-Fingerprint");
    cr_assert_str_eq(ct, "application/x-pem-file");
    cr_assert_str_eq(hf, fpr);
    size_t len;
    char *pem = member("all", "signing-key.pem", &len);
    cr_assert(r.body_len == len && memcmp(r.body, pem, len) == 0, "served key differs");
    cr_assert(strncmp(pem, "-----BEGIN PUBLIC KEY-----\n", 27) == 0, "%s", pem);
    free(pem);
    free(ct);
    free(hf);
    testenv_response_free(&r);
    cr_assert_eq(testenv_http(srv.port, "GET", "/v1/export/signing-key", NULL, NULL, 0, false, &r),
                 401);
    testenv_response_free(&r);

    /* The server logged it by fingerprint; the private key sits next to the spool, 0600. */
    char *log = testenv_read_file(srv.log_path, NULL);
    char want[128];
    snprintf(want, sizeof(want), "evidence signing key: SHA-256 %s", fpr);
    cr_assert(strstr(log, want) != NULL, "no '%s' in the log", want);
    free(log);
    char key_path[512];
    snprintf(key_path, sizeof(key_path), "%s", srv.spool_dir);
    *strrchr(key_path, '/') = '\0';
    strcat(key_path, "/evidence-signing-key.pem");
    struct stat sb;
    cr_assert_eq(stat(key_path, &sb), 0, "%s", key_path);
    cr_assert_eq(sb.st_mode & 0777, 0600, "%s has mode %o", key_path, sb.st_mode & 0777);

    /* pinwatch verify prints the same fingerprint. */
    char path[512];
    snprintf(path, sizeof(path), "%s/all.tar.gz", tmpdir);
    cr_assert_eq(verify(path, &out), 0, "%s", out);
    cr_assert(strstr(out, fpr) != NULL, "%s", out);
    free(out);

    /* README.txt says what the files are, which filters, and how to check them. */
    char *readme = member("all", "README.txt", NULL);
    static const char *const needles[] = {"report.html",
                                          "reports.ndjson",
                                          "raw/<id>.json",
                                          "MANIFEST.sha256.sig",
                                          "hostname=" DATATHEOREM,
                                          "sha256sum -c MANIFEST.sha256",
                                          "openssl pkeyutl -verify -pubin -inkey signing-key.pem",
                                          "pinwatch verify",
                                          "Folder:       pinwatch-evidence-"};
    for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++)
        cr_assert(strstr(readme, needles[i]) != NULL, "README.txt lacks '%s'", needles[i]);
    cr_assert(strstr(readme, fpr) != NULL, "README.txt lacks the fingerprint");
    free(readme);
    free(fpr);
}

/* Flip the byte at offset `at` of a member (run inside the bundle's folder). */
#define FLIP(file, at)                                                                             \
    "b=$(dd if=" file " bs=1 skip=" #at " count=1 2>/dev/null); if [ \"$b\" = A ]; then c=B; "     \
    "else c=A; fi; printf $c | dd of=" file " bs=1 seek=" #at " conv=notrunc 2>/dev/null"

Test(export, any_changed_byte_or_another_key_fails_verify)
{
    post_population();
    export_http("", "all");
    static const struct {
        const char *name, *shell, *says;
    } cases[] = {
        {"readme", FLIP("README.txt", 30), "README.txt: SHA-256 is"},
        {"html", FLIP("report.html", 200), "report.html: SHA-256 is"},
        {"summary", FLIP("summary.json", 5), "summary.json: SHA-256 is"},
        {"csv", FLIP("reports.csv", 3), "reports.csv: SHA-256 is"},
        {"pubkey", FLIP("signing-key.pem", 40), "signing-key.pem: SHA-256 is"},
        {"manifest", FLIP("MANIFEST.sha256", 10), "MANIFEST.sha256.sig: not a signature"},
        {"signature", FLIP("MANIFEST.sha256.sig", 10), "MANIFEST.sha256.sig: not a signature"},
        {"unsigned", "rm MANIFEST.sha256.sig", "it is not signed"},
        {"keyless", "rm signing-key.pem", "signing-key.pem: missing"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out;
        cr_assert_eq(tampered(cases[i].name, cases[i].shell, &out), 1, "%s: %s", cases[i].name,
                     out);
        cr_assert(strstr(out, cases[i].says) != NULL, "%s: %s", cases[i].name, out);
        free(out);
    }

    /* Someone who rewrites everything, key and signature included, makes a bundle that checks
     * out on its own, under another fingerprint: --key with the server's key catches it. */
    char trusted[512], *out;
    snprintf(trusted, sizeof(trusted), "%s/trusted.pem", tmpdir);
    struct testenv_response r;
    cr_assert_eq(testenv_get(&srv, "/v1/export/signing-key", &r), 200);
    FILE *f = fopen(trusted, "wb");
    fwrite(r.body, 1, r.body_len, f);
    fclose(f);
    testenv_response_free(&r);
    char path[512];
    snprintf(path, sizeof(path), "%s/all.tar.gz", tmpdir);
    int rc = run(&out, "'%s' verify '%s' --key '%s'", PINWATCH_BIN, path, trusted);
    cr_assert_eq(rc, 0, "the right key: %s", out);
    free(out);
    char forge[2048];
    snprintf(forge, sizeof(forge),
             "printf ' ' >> README.txt && openssl genpkey -algorithm ED25519 -out '%s/forger.pem' "
             "&& openssl pkey -in '%s/forger.pem' -pubout -out signing-key.pem && "
             "find . -type f ! -name 'MANIFEST.sha256*' | sed 's|^./||' | xargs sha256sum > "
             "MANIFEST.sha256 && openssl pkeyutl -sign -inkey '%s/forger.pem' -rawin -in "
             "MANIFEST.sha256 | base64 -w0 > MANIFEST.sha256.sig && echo >> MANIFEST.sha256.sig",
             tmpdir, tmpdir, tmpdir);
    cr_assert_eq(tampered("forged", forge, &out), 0, "consistent on its own: %s", out);
    char *fpr = openssl_fingerprint(trusted);
    cr_assert(strstr(out, fpr) == NULL, "another fingerprint is shown: %s", out);
    free(out);
    char args[600];
    snprintf(args, sizeof(args), "--key '%s'", trusted);
    cr_assert_eq(tampered_with("forged2", forge, args, &out), 1, "%s", out);
    cr_assert(strstr(out, "not a signature") != NULL, "%s", out);
    free(out);
    free(fpr);

    /* --key with another key fails on the intact bundle; so does a key that is not one. */
    char other[512];
    snprintf(other, sizeof(other), "%s/other.pem", tmpdir);
    rc = run(&out, "openssl genpkey -algorithm ED25519 | openssl pkey -pubout -out '%s'", other);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = run(&out, "'%s' verify '%s' --key '%s'", PINWATCH_BIN, path, other);
    cr_assert_eq(rc, 1, "another key: %s", out);
    free(out);
    rc = run(&out, "'%s' verify '%s' --key '%s/all/README.txt'", PINWATCH_BIN, path, tmpdir);
    cr_assert_eq(rc, 1, "not a key: %s", out);
    free(out);
    cr_assert_eq(run(NULL, "'%s' verify --key", PINWATCH_BIN), 2);
}

/* The text as report.html writes it. */
static char *html_escaped(const char *s)
{
    size_t cap = strlen(s) * 6 + 1, n = 0;
    char *out = malloc(cap);
    for (; *s != '\0'; s++) {
        const char *e = *s == '<'    ? "&lt;"
                        : *s == '>'  ? "&gt;"
                        : *s == '&'  ? "&amp;"
                        : *s == '"'  ? "&quot;"
                        : *s == '\'' ? "&#39;"
                                     : NULL;
        if (e != NULL) {
            memcpy(out + n, e, strlen(e));
            n += strlen(e);
        } else {
            out[n++] = *s;
        }
    }
    out[n] = '\0';
    return out;
}

/* Open a page in headless Chromium with a network log; the number of requests the page itself
 * made (those with a page origin as initiator), and its rendered DOM into *dom. */
static int page_requests(const char *html_path, char **dom)
{
    char *out;
    int rc = run(&out,
                 "rm -f '%s/netlog.json' && timeout 120 chromium --headless --no-sandbox "
                 "--disable-gpu --no-first-run --disable-background-networking "
                 "--disable-component-update --disable-sync --user-data-dir='%s/chromium' "
                 "--log-net-log='%s/netlog.json' --dump-dom 'file://%s' 2>/dev/null",
                 tmpdir, tmpdir, tmpdir, html_path);
    cr_assert_eq(rc, 0, "chromium: %s", out);
    if (dom != NULL)
        *dom = out;
    else
        free(out);
    char *n;
    rc = run(&n,
             "python3 -c \"import json,sys; d=json.load(open(sys.argv[1])); print(sum(1 for e in "
             "d.get('events', []) if e.get('params', {}).get('initiator', 'not an origin') != "
             "'not an origin'))\" '%s/netlog.json'",
             tmpdir);
    cr_assert_eq(rc, 0, "netlog: %s", n);
    int count = atoi(n);
    free(n);
    return count;
}

Test(export, report_html_shows_the_incident_and_loads_nothing)
{
    post_population();
    export_http("", "all");
    char *html = member("all", "report.html", NULL);
    cr_assert(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    cr_assert(strstr(html, "Content-Security-Policy\" content=\"default-src 'none'") != NULL);
    static const char *const loads[] = {"<script", "<link", "<img",  "<iframe", "<object",
                                        "<embed",  "src=",  "href=", "url(",    "@import"};
    for (size_t i = 0; i < sizeof(loads) / sizeof(loads[0]); i++)
        cr_assert(strstr(html, loads[i]) == NULL, "report.html has %s", loads[i]);
    cr_assert(strstr(html, "<svg") != NULL && strstr(html, "<rect") != NULL, "no timeline");
    cr_assert(strstr(html, "App versions × networks") != NULL);

    json_t *summary = member_json("all", "summary.json");
    size_t i, k, reasons = 0;
    json_t *g, *reason;
    json_array_foreach(json_object_get(summary, "groups"), i, g)
    {
        char *v = html_escaped(json_string_value(json_object_get(g, "verdict")));
        cr_assert(strstr(html, v) != NULL, "verdict %s missing", v);
        free(v);
        json_array_foreach(json_object_get(g, "reasons"), k, reason)
        {
            char *d = html_escaped(json_string_value(json_object_get(reason, "detail")));
            cr_assert(strstr(html, d) != NULL, "reason missing: %s", d);
            free(d);
            reasons++;
        }
    }
    /* The export brings verdicts up to date first: every group has its reasons. */
    cr_assert_geq(reasons, json_array_size(json_object_get(summary, "groups")));
    json_decref(summary);
    /* Every chain of the bundle, with its certificates. */
    char *list;
    cr_assert_eq(run(&list, "cd '%s/all/chains' && ls *.pem | sed 's/.pem$//'", tmpdir), 0);
    int chains = 0;
    for (char *line = strtok(list, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        cr_assert(strstr(html, line) != NULL, "chain %s missing from report.html", line);
        chains++;
    }
    cr_assert_gt(chains, 0);
    free(list);
    free(html);

    /* A real browser renders it offline, and the page itself asks for nothing (Chromium's own
     * background requests carry no page origin: "not an origin"). A control page that loads
     * one image shows that such a request would be seen. */
    if (run(NULL, "command -v chromium") == 0) {
        char control[512];
        snprintf(control, sizeof(control), "%s/control.html", tmpdir);
        FILE *f = fopen(control, "w");
        fputs("<!DOCTYPE html><p>x</p><img src=\"http://127.0.0.1:9/x.png\">", f);
        fclose(f);
        cr_assert_gt(page_requests(control, NULL), 0, "the request detector sees nothing");
        char page[512], *dom = NULL;
        snprintf(page, sizeof(page), "%s/all/report.html", tmpdir);
        cr_assert_eq(page_requests(page, &dom), 0, "report.html made requests");
        cr_assert(strstr(dom, "Incident evidence") != NULL, "%s", dom);
        cr_assert(strstr(dom, "<svg") != NULL && strstr(dom, "population</code>") != NULL, "%s",
                  dom);
        free(dom);
    }
}
