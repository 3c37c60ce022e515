/*
 * alert_rules — the alert rules of SPEC 10: their thresholds (defaults, validation, the
 * alert_rules table, the JSON of GET/PUT /v1/alerts/rules) and their evaluation from the
 * rollups (never from the reports). Evaluation yields candidates: a subject whose state differs
 * from the last one an alert fired for; the store's outbox decides, atomically, which fire.
 * ingest_degraded is judged from process state by the alerter; this module holds its threshold.
 */
#ifndef ALERT_RULES_H
#define ALERT_RULES_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

enum alert_rule {
    ALERT_NEW_INTERCEPTION_GROUP,
    ALERT_NEW_MISCONFIGURATION_GROUP,
    ALERT_VERSION_FAILING,
    ALERT_SPIKE,
    ALERT_PINS_EXPIRING,
    ALERT_INGEST_DEGRADED,
    ALERT_N_RULES
};

#define ALERT_MAX_PARAMS 12

/* Thresholds of every rule: enabled flags and numeric parameters by table position. */
struct alert_rules {
    bool enabled[ALERT_N_RULES];
    double value[ALERT_MAX_PARAMS];
};

const char *alert_rule_name(enum alert_rule r);
/* Every rule enabled, every parameter at its default. */
void alert_rules_defaults(struct alert_rules *rules);
/* A parameter of a rule by name ("devices", "factor", ...); its default when unknown. */
double alert_rules_param(const struct alert_rules *rules, enum alert_rule r, const char *name);

/* {"rules": {"<rule>": {"enabled": true, "<param>": n, ...}, ...}} (new reference). */
json_t *alert_rules_json(const struct alert_rules *rules);
/* Apply a partial update ({"rules": {...}} or the inner object) to rules. ERR_INVALID with key
 * "unknown_rule", "unknown_parameter" or "invalid_rule" names the first bad entry; rules is
 * unchanged then. */
enum err_code alert_rules_apply_json(struct alert_rules *rules, const json_t *body,
                                     struct err *err) ERR_MUSTCHECK;

/* Defaults overlaid with the alert_rules table. */
enum err_code alert_rules_load(PGconn *conn, struct alert_rules *rules,
                               struct err *err) ERR_MUSTCHECK;
/* Store every rule's thresholds (one statement). */
enum err_code alert_rules_save(PGconn *conn, const struct alert_rules *rules,
                               struct err *err) ERR_MUSTCHECK;

/* A subject that should fire: owned strings and a JSON object (the body's subject). */
struct alert_candidate {
    enum alert_rule rule;
    char *subject;  /* "group:<id>", ... */
    char *state;    /* what alert_subjects records: verdict at firing, "spiking", ... */
    char *summary;  /* one readable sentence */
    char *route;    /* dashboard route, e.g. "/groups/<id>" */
    char *key;      /* the body's member holding object: "group", "pinset", "health" */
    json_t *object; /* owned reference */
};

struct alert_candidates {
    struct alert_candidate *items;
    size_t n, cap;
};

/* Append a candidate taking ownership of object (strings are copied). */
enum err_code alert_candidates_add(struct alert_candidates *c, enum alert_rule rule,
                                   const char *subject, const char *state, const char *summary,
                                   const char *route, const char *key,
                                   json_t *object) ERR_MUSTCHECK;
void alert_candidates_cleanup(struct alert_candidates *c);

/* Evaluate the rollup rules (all but ingest_degraded) at the database's now(). Subjects whose
 * condition ended are re-armed (their state becomes "clear") so that they fire again when it
 * returns. Candidates are appended to out. */
enum err_code alert_rules_evaluate(PGconn *conn, const struct alert_rules *rules,
                                   struct alert_candidates *out, struct err *err) ERR_MUSTCHECK;

#endif
