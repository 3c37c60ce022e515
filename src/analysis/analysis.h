/*
 * analysis — per-report analysis at ingest: the chain-level findings of each chain (computed
 * once per distinct chain and cached), the per-report findings of SPEC 6.1, and the group key
 * of SPEC 6.3 (app, hostname, anchor key, whether any chain key is expected).
 */
#ifndef ANALYSIS_H
#define ANALYSIS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "report/report.h"

struct analysis;
struct catalog;
struct expected_keys;
struct trust_store;

/* Borrowed: ts, cat, ek (must outlive the analysis). New analysis (NULL on OOM). */
struct analysis *analysis_new(const struct trust_store *ts, const struct catalog *cat,
                              const struct expected_keys *ek);
void analysis_free(struct analysis *an);

struct analysis_result {
    json_t *served;       /* chain-level findings of the served chain, or NULL (new ref) */
    json_t *validated;    /* same for the validated chain */
    json_t *findings;     /* SPEC 6.1 per-report findings (validated chain, else served), or NULL */
    char group_id[33];    /* hex */
    char *anchor_subject; /* group anchor (served chain, else validated); NULL without chain */
    uint8_t anchor_spki[32];
    bool has_anchor;
    bool anchor_public;
    bool expected_key; /* any chain key of the report is an expected key of its host */
};

/* Analyse one report. Fills res (release with analysis_result_cleanup). */
enum err_code analysis_report(struct analysis *an, const struct report *r,
                              struct analysis_result *res, struct err *err) ERR_MUSTCHECK;
void analysis_result_cleanup(struct analysis_result *res);

/* The group id for a key (also used when expected keys change and groups are re-evaluated). */
void analysis_group_id(const char *bundle_id, const char *hostname, const uint8_t *anchor_spki,
                       bool expected, char out[33]);

#endif
