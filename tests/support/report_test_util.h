/* Helpers shared by test_report_parse.c and test_report_variants.c (header-only, static). */
#ifndef REPORT_TEST_UTIL_H
#define REPORT_TEST_UTIL_H

#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/timeparse.h"
#include "report/pin.h"
#include "report/report_parse.h"
#include "testenv.h"

#define T_RECEIVED_AT 1700000000123456LL /* 2023-11-14T22:13:20.123456Z */
#define T_UA          "TestAgent/1.0"
#define T_PIN_A       "rFjc3wG7lTZe43zeYTvPq8k4xdDEutCmIhI5dn4oCeE="
#define T_PIN_B       "TQEtdMbmwFgYUifM4LDF+xgEtd0z69mPGmkp014d6ZY="
#define T_LEAF_SPKI   "0SDf3cRToyZJaMsoS17oF72VMavLxj/N7WBNasNuiR8="
#define T_CA_SPKI     "J0HK633IekUIMgCxADcUXWl3I+wr1XIbHkr038xIyRk="
#define T_ROOT_SPKI   "HXXQgxueCIU5TTLHob/bPbwcKOKw6DkfsTWYHbxbqTY="
#define T_IOS_FINAL                                                                                \
    FIXTURES_DIR "/trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json"

static inline struct report_parse_opts t_opts(void)
{
    struct report_parse_opts o;
    report_parse_opts_init(&o);
    o.received_at = T_RECEIVED_AT;
    o.user_agent = T_UA;
    return o;
}

static inline enum err_code t_parse(const char *body, size_t len, struct report_batch *b,
                                    struct err *err)
{
    struct report_parse_opts o = t_opts();
    err_clear(err);
    return report_parse_body(body, len, &o, b, err);
}

static inline enum err_code t_parse_str(const char *body, struct report_batch *b, struct err *err)
{
    return t_parse(body, strlen(body), b, err);
}

/* Parse a JSON value (dumped compactly) with default options. */
static inline enum err_code t_parse_json(const json_t *v, struct report_batch *b, struct err *err)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    enum err_code rc = t_parse_str(s, b, err);
    free(s);
    return rc;
}

/* Parse a body that must give exactly one report; returns it (owned by *b). */
static inline struct report *t_one(const char *body, struct report_batch *b)
{
    struct err err;
    cr_assert_eq(t_parse_str(body, b, &err), ERR_OK, "%s: %s", err.key, err.detail);
    cr_assert_eq(b->n, 1, "%zu reports, %zu rejected, %zu ignored", b->n, b->n_rejected,
                 b->ignored);
    return b->reports[0];
}

static inline void t_b64_eq(const uint8_t pin[32], const char *want)
{
    char b64[PIN_B64_LEN + 1];
    pin_to_base64(pin, b64);
    cr_assert_str_eq(b64, want);
}

static inline void t_time_eq(const struct report_time *t, const char *want)
{
    char buf[TIMEPARSE_FMT_LEN];
    cr_assert(t->valid, "time not valid (raw %s)", t->raw ? t->raw : "NULL");
    cr_assert_str_eq(timeparse_format(t->usec, buf), want);
}

static inline void t_sha256(const void *data, size_t len, uint8_t out[32])
{
    cr_assert_eq(EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL), 1);
}

/* A TrustKit iOS report object as the 2017 doc sample (the caller owns it). */
static inline json_t *t_ios_report(void)
{
    json_error_t jerr;
    json_t *r = json_load_file(T_IOS_FINAL, 0, &jerr);
    cr_assert_not_null(r, "%s", jerr.text);
    return r;
}

static inline size_t t_count_problem(const struct report *r, const char *code)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_problems; i++)
        n += strcmp(r->problems[i].code, code) == 0;
    return n;
}

#endif
