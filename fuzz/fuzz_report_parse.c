/*
 * fuzz_report_parse — report_parse_body, the first thing a public request body meets, with
 * small limits so that the limit paths (depth, items, chain, pins, string length) are reached
 * by small inputs. Invariants: every element of the body is accounted for exactly once
 * (accepted, rejected or ignored), reports carry what the contract promises, and a refused
 * body leaves nothing behind.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <string.h>

#include "fuzz_check.h"
#include "report/hostname.h"
#include "report/report_parse.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

#define RP_RECEIVED_AT 1700000000123456LL

static void rp_check_report(const struct report *r, const struct report_parse_opts *opts,
                            const uint8_t sha[32], size_t items)
{
    FUZZ_CHECK(r->index < items);
    FUZZ_CHECK(r->format >= 0 && r->format < REPORT_FMT_COUNT);
    FUZZ_CHECK(r->received_at == RP_RECEIVED_AT);
    FUZZ_CHECK(memcmp(r->raw_sha256, sha, 32) == 0);
    FUZZ_CHECK(r->hostname != NULL && r->hostname[0] != '\0');
    FUZZ_CHECK(strlen(r->hostname) <= HOSTNAME_MAX);
    FUZZ_CHECK(r->port >= 0 && r->port <= 65535);
    FUZZ_CHECK(r->include_subdomains >= -1 && r->include_subdomains <= 1);
    FUZZ_CHECK(r->enforce_pinning >= -1 && r->enforce_pinning <= 1);
    /* Limits hold for what was accepted. */
    FUZZ_CHECK(r->n_known_pins + r->n_known_pins_raw <= opts->max_pins);
    FUZZ_CHECK(r->served.n <= opts->max_chain && r->validated.n <= opts->max_chain);
    /* known_pins is canonical: sorted and unique. */
    for (size_t i = 1; i < r->n_known_pins; i++)
        FUZZ_CHECK(memcmp(r->known_pins[i - 1], r->known_pins[i], 32) < 0);
    for (size_t i = 0; i < r->n_problems; i++)
        FUZZ_CHECK(r->problems[i].code != NULL && r->problems[i].code[0] != '\0');
    const struct report_chain *chains[2] = {&r->served, &r->validated};
    for (size_t c = 0; c < 2; c++) {
        for (size_t i = 0; i < chains[c]->n; i++) {
            const struct report_chain_entry *e = &chains[c]->entries[i];
            FUZZ_CHECK((e->cert != NULL) != (e->opaque != NULL));
        }
    }
    /* Browser formats always get the browser identity (SPEC §5). */
    if (r->format == REPORT_FMT_HPKP || r->format == REPORT_FMT_EXPECT_CT ||
        r->format == REPORT_FMT_NEL)
        FUZZ_CHECK(r->app.bundle_id != NULL && strcmp(r->app.bundle_id, "web") == 0);
    FUZZ_CHECK(r->client.user_agent != NULL);
}

int FUZZ_ENTRY(const uint8_t *data, size_t size);
int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    struct report_parse_opts opts;
    report_parse_opts_init(&opts);
    opts.received_at = RP_RECEIVED_AT;
    opts.user_agent = "fuzz/1.0";
    opts.max_depth = 8;
    opts.max_items = 4;
    opts.max_chain = 3;
    opts.max_pins = 4;
    opts.max_string = 2048;

    struct report_batch batch;
    struct err err;
    memset(&err, 0, sizeof(err));
    enum err_code rc = report_parse_body((const char *)data, size, &opts, &batch, &err);
    if (rc != ERR_OK) {
        FUZZ_CHECK(rc == ERR_INVALID);
        FUZZ_CHECK(err.code == rc && err.key[0] != '\0');
        FUZZ_CHECK(batch.n == 0 && batch.reports == NULL && batch.n_rejected == 0);
        report_batch_cleanup(&batch);
        return 0;
    }
    /* A known shape is valid JSON (the parser said so); count its elements ourselves. */
    json_t *root = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    FUZZ_CHECK(root != NULL);
    size_t items = json_is_array(root) ? json_array_size(root) : 1;
    FUZZ_CHECK(items <= opts.max_items);
    FUZZ_CHECK(batch.n + batch.n_rejected + batch.ignored == items);
    uint8_t sha[32];
    FUZZ_CHECK(EVP_Digest(data, size, sha, NULL, EVP_sha256(), NULL) == 1);
    for (size_t i = 0; i < batch.n; i++) {
        FUZZ_CHECK(batch.reports[i] != NULL);
        rp_check_report(batch.reports[i], &opts, sha, items);
        if (i > 0)
            FUZZ_CHECK(batch.reports[i - 1]->index < batch.reports[i]->index);
    }
    for (size_t i = 0; i < batch.n_rejected; i++) {
        FUZZ_CHECK(batch.rejected[i].index < items);
        FUZZ_CHECK(batch.rejected[i].err.key[0] != '\0');
    }
    /* A lone object is either a report or ignored: its rejection is the whole answer. */
    if (!json_is_array(root))
        FUZZ_CHECK(batch.n_rejected == 0);
    json_decref(root);
    report_batch_cleanup(&batch);
    return 0;
}
