/*
 * groups — the verdict side of SPEC 6.3: gathers each group's evidence from the rollups
 * (population) and the group row (chain-level findings), asks the verdict rules, and stores
 * verdict, kind, product and reasons on the group. Groups whose version moved since their
 * last evaluation are re-evaluated; a background evaluator keeps verdicts fresh and the read
 * API evaluates before answering.
 */
#ifndef GROUPS_H
#define GROUPS_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "base/config.h"
#include "base/err.h"

struct expected_keys;
struct groups_evaluator;

/* Evaluate up to max stale groups (all groups when all is true). *n (optional) gets the
 * number evaluated. */
enum err_code groups_evaluate(PGconn *conn, const struct expected_keys *ek, bool all, unsigned max,
                              unsigned *n, struct err *err) ERR_MUSTCHECK;

/*
 * The operator changed the expected keys of pattern (exact host or "*.domain"): recompute, for
 * every stored report of a covered hostname, whether a chain key is expected, move reports to
 * the group their new key names, rebuild those groups' rollups and mark them for evaluation.
 * One transaction. *moved (optional) gets the number of reports that changed group.
 */
enum err_code groups_rekey(PGconn *conn, const struct expected_keys *ek, const char *pattern,
                           unsigned *moved, struct err *err) ERR_MUSTCHECK;

/* A thread that evaluates stale groups every interval_ms with its own connection, and every
 * few rounds brings ek up to date with the database (keys changed through another node). */
enum err_code groups_evaluator_start(const struct config *cfg, struct expected_keys *ek,
                                     unsigned interval_ms, struct groups_evaluator **out,
                                     struct err *err) ERR_MUSTCHECK;
void groups_evaluator_stop(struct groups_evaluator *ev);

#endif
