#include "analysis/alert_rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"

static const char *const rule_names[ALERT_N_RULES] = {
    "new_interception_group", "new_misconfiguration_group",
    "version_failing",        "spike",
    "pins_expiring",          "ingest_degraded",
};

struct param {
    enum alert_rule rule;
    const char *name;
    double def, min, max;
    bool integer;
};

static const struct param params[] = {
    {ALERT_NEW_INTERCEPTION_GROUP, "devices", 3, 1, 1e9, true},
    {ALERT_NEW_MISCONFIGURATION_GROUP, "devices", 3, 1, 1e9, true},
    {ALERT_VERSION_FAILING, "devices", 3, 1, 1e9, true},
    {ALERT_SPIKE, "factor", 5, 1, 1e6, false},
    {ALERT_SPIKE, "min_reports", 20, 1, 1e12, true},
    {ALERT_PINS_EXPIRING, "within_days", 30, 1, 3650, true},
    {ALERT_PINS_EXPIRING, "seen_days", 7, 1, 366, true},
    {ALERT_INGEST_DEGRADED, "for_seconds", 300, 10, 86400, true},
};

#define N_PARAMS (sizeof(params) / sizeof(params[0]))
_Static_assert(N_PARAMS <= ALERT_MAX_PARAMS, "ALERT_MAX_PARAMS too small");

const char *alert_rule_name(enum alert_rule r)
{
    return (unsigned)r < ALERT_N_RULES ? rule_names[r] : "test";
}

static int rule_by_name(const char *name)
{
    for (int i = 0; i < ALERT_N_RULES; i++) {
        if (strcmp(rule_names[i], name) == 0)
            return i;
    }
    return -1;
}

static int param_index(enum alert_rule r, const char *name)
{
    for (size_t i = 0; i < N_PARAMS; i++) {
        if (params[i].rule == r && strcmp(params[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

void alert_rules_defaults(struct alert_rules *rules)
{
    memset(rules, 0, sizeof(*rules));
    for (int i = 0; i < ALERT_N_RULES; i++)
        rules->enabled[i] = true;
    for (size_t i = 0; i < N_PARAMS; i++)
        rules->value[i] = params[i].def;
}

double alert_rules_param(const struct alert_rules *rules, enum alert_rule r, const char *name)
{
    int i = param_index(r, name);
    return i >= 0 ? rules->value[i] : 0;
}

static json_t *rule_json(const struct alert_rules *rules, int r)
{
    json_t *o = json_pack("{s:b}", "enabled", rules->enabled[r]);
    for (size_t i = 0; o != NULL && i < N_PARAMS; i++) {
        if ((int)params[i].rule != r)
            continue;
        json_t *v = params[i].integer ? json_integer((json_int_t)rules->value[i])
                                      : json_real(rules->value[i]);
        json_object_set_new(o, params[i].name, v);
    }
    return o;
}

json_t *alert_rules_json(const struct alert_rules *rules)
{
    json_t *all = json_object();
    for (int r = 0; all != NULL && r < ALERT_N_RULES; r++)
        json_object_set_new(all, rule_names[r], rule_json(rules, r));
    return json_pack("{s:o}", "rules", all);
}

static enum err_code apply_param(struct alert_rules *rules, int r, const char *name,
                                 const json_t *v, struct err *err)
{
    if (strcmp(name, "enabled") == 0) {
        if (!json_is_boolean(v))
            return err_set(err, ERR_INVALID, "invalid_rule", "%s.enabled must be true or false",
                           rule_names[r]);
        rules->enabled[r] = json_is_true(v);
        return ERR_OK;
    }
    int i = param_index((enum alert_rule)r, name);
    if (i < 0)
        return err_set(err, ERR_INVALID, "unknown_parameter", "%s has no parameter '%.64s'",
                       rule_names[r], name);
    const struct param *p = &params[i];
    double d = json_number_value(v);
    if (!json_is_number(v) || !isfinite(d) || d < p->min || d > p->max ||
        (p->integer && d != (double)(long long)d))
        return err_set(err, ERR_INVALID, "invalid_rule", "%s.%s must be %s from %g to %g",
                       rule_names[r], name, p->integer ? "an integer" : "a number", p->min, p->max);
    rules->value[i] = d;
    return ERR_OK;
}

enum err_code alert_rules_apply_json(struct alert_rules *rules, const json_t *body, struct err *err)
{
    const json_t *inner = json_object_get(body, "rules");
    if (inner == NULL)
        inner = body;
    if (!json_is_object(inner))
        return err_set(err, ERR_INVALID, "invalid_rule",
                       "expected {\"rules\": {\"<rule>\": {\"<parameter>\": value}}}");
    struct alert_rules next = *rules;
    const char *name;
    json_t *rv;
    json_object_foreach((json_t *)inner, name, rv)
    {
        int r = rule_by_name(name);
        if (r < 0)
            return err_set(err, ERR_INVALID, "unknown_rule", "no rule named '%.64s'", name);
        if (!json_is_object(rv))
            return err_set(err, ERR_INVALID, "invalid_rule", "%s must be an object", name);
        const char *pname;
        json_t *pv;
        json_object_foreach(rv, pname, pv)
        {
            enum err_code rc = apply_param(&next, r, pname, pv, err);
            if (rc != ERR_OK)
                return rc;
        }
    }
    *rules = next;
    return ERR_OK;
}

enum err_code alert_rules_load(PGconn *conn, struct alert_rules *rules, struct err *err)
{
    alert_rules_defaults(rules);
    PGresult *res = PQexec(conn, "SELECT rule, params::text FROM alert_rules");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        enum err_code rc = db_result_error(conn, res, "alert rules", err);
        PQclear(res);
        return rc;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *params_json = json_loads(PQgetvalue(res, i, 1), 0, NULL);
        json_t *one = json_object();
        json_object_set(one, PQgetvalue(res, i, 0), params_json);
        /* A row the current version cannot read (a rule or parameter since removed, a value
         * out of today's bounds) keeps the defaults rather than stopping the alerts. */
        struct err ignored = {0};
        if (alert_rules_apply_json(rules, one, &ignored) != ERR_OK)
            err_clear(&ignored);
        json_decref(one);
        json_decref(params_json);
    }
    PQclear(res);
    return ERR_OK;
}

enum err_code alert_rules_save(PGconn *conn, const struct alert_rules *rules, struct err *err)
{
    json_t *all = alert_rules_json(rules);
    char *text = json_dumps(json_object_get(all, "rules"), JSON_COMPACT);
    json_decref(all);
    if (text == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    const char *p[1] = {text};
    PGresult *res = PQexecParams(conn,
                                 "INSERT INTO alert_rules (rule, params, updated_at)"
                                 " SELECT key, value, now() FROM jsonb_each($1::jsonb)"
                                 " ON CONFLICT (rule) DO UPDATE SET params = excluded.params,"
                                 "   updated_at = now()",
                                 1, NULL, p, NULL, NULL, 0);
    enum err_code rc = PQresultStatus(res) == PGRES_COMMAND_OK
                           ? ERR_OK
                           : db_result_error(conn, res, "alert rules", err);
    PQclear(res);
    free(text);
    return rc;
}

enum err_code alert_candidates_add(struct alert_candidates *c, enum alert_rule rule,
                                   const char *subject, const char *state, const char *summary,
                                   const char *route, const char *key, json_t *object)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct alert_candidate *items = realloc(c->items, cap * sizeof(*items));
        if (items == NULL) {
            json_decref(object);
            return ERR_NOMEM;
        }
        c->items = items;
        c->cap = cap;
    }
    struct alert_candidate *a = &c->items[c->n];
    a->rule = rule;
    a->subject = strdup(subject);
    a->state = strdup(state);
    a->summary = strdup(summary);
    a->route = strdup(route);
    a->key = strdup(key);
    a->object = object;
    c->n++;
    if (a->subject == NULL || a->state == NULL || a->summary == NULL || a->route == NULL ||
        a->key == NULL || object == NULL)
        return ERR_NOMEM;
    return ERR_OK;
}

void alert_candidates_cleanup(struct alert_candidates *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->items[i].subject);
        free(c->items[i].state);
        free(c->items[i].summary);
        free(c->items[i].route);
        free(c->items[i].key);
        json_decref(c->items[i].object);
    }
    free(c->items);
    memset(c, 0, sizeof(*c));
}
