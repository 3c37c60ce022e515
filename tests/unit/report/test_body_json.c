/*
 * body_json and literal_cache: a body parsed through its certificate template gives exactly
 * the tree (or the error) of parsing it whole, and a certificate literal seen before is not
 * decoded again.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/body_json.h"
#include "report/literal_cache.h"
#include "report/rawbody.h"
#include "testcert.h"
#include "testenv.h"

/* Parse body both ways and require the same tree, or the same error. Returns the number of
 * certificate literals the template had. */
static size_t same_as_whole(const char *body, size_t len, struct literal_cache *lc,
                            const char *what)
{
    struct rawbody_split s;
    cr_assert_eq(rawbody_split(body, len, &s, NULL), ERR_OK, "%s", what);
    json_error_t e_whole, e_tpl;
    memset(&e_tpl, 0, sizeof(e_tpl));
    json_t *whole = json_loadb(body, len, JSON_DECODE_ANY, &e_whole);
    json_t *tpl = body_json_load(body, len, &s, lc, &e_tpl);
    if (whole == NULL) {
        cr_assert_null(tpl, "%s: the template parse accepted what jansson refuses", what);
        cr_assert_str_eq(e_tpl.text, e_whole.text, "%s", what);
        cr_assert_eq(e_tpl.position, e_whole.position, "%s", what);
        cr_assert_eq(e_tpl.line, e_whole.line, "%s", what);
    } else {
        cr_assert_not_null(tpl, "%s: %s", what, e_tpl.text);
        cr_assert(json_equal(whole, tpl), "%s: the trees differ", what);
    }
    json_decref(whole);
    json_decref(tpl);
    size_t n = s.n_frags;
    rawbody_split_cleanup(&s);
    return n;
}

struct fixture_pass {
    struct literal_cache *lc;
    size_t literals;
};

static void fixture_parses(const char *path, const char *body, size_t len, void *ctx)
{
    struct fixture_pass *fp = ctx;
    fp->literals += same_as_whole(body, len, fp->lc, path);
    same_as_whole(body, len, fp->lc, path); /* again, from the cache */
}

Test(body_json, every_fixture_parses_as_a_whole_body_does)
{
    struct literal_cache *lc = literal_cache_new(64, 1 << 20);
    struct fixture_pass fp = {.lc = lc};
    size_t files = testenv_each_fixture(fixture_parses, &fp), literals = fp.literals;
    cr_assert_geq(files, 40);
    cr_assert_geq(literals, 20, "the fixtures carry certificate literals");
    unsigned long long hits, misses;
    literal_cache_stats(lc, &hits, &misses);
    cr_assert_geq(hits, literals, "every literal of the second pass came from the cache");
    literal_cache_free(lc);
}

/* A pin report whose chains are real PEM text (escaped newlines) from OpenSSL. */
static char *pem_body(const char *extra_member)
{
    struct testcert *root = testcert_new_root(NULL);
    struct testcert *leaf = testcert_new_leaf(NULL, root);
    const struct testcert *chain[] = {leaf, root};
    json_t *served = testcert_chain_json(chain, 2);
    json_t *obj = json_pack("{s:s, s:i, s:o, s:O, s:[s]}", "hostname", "www.example.com", "port",
                            443, "served-certificate-chain", served, "validated-certificate-chain",
                            served, "known-pins", "pin-sha256=\"AAAA\"");
    char *text = json_dumps(obj, JSON_INDENT(2));
    json_decref(obj);
    testcert_free(leaf);
    testcert_free(root);
    cr_assert_not_null(text);
    if (extra_member == NULL)
        return text;
    /* insert before the closing brace */
    size_t n = strlen(text), m = strlen(extra_member);
    char *out = malloc(n + m + 3);
    char *close = strrchr(text, '}');
    size_t head = (size_t)(close - text);
    memcpy(out, text, head);
    out[head] = ',';
    memcpy(out + head + 1, extra_member, m);
    strcpy(out + head + 1 + m, close);
    free(text);
    return out;
}

Test(body_json, openssl_chains_come_from_the_cache_the_second_time)
{
    char *body = pem_body(NULL);
    /* Direct-mapped: a large table makes a slot collision of the two literals (1 in 65 536) the
     * only way this can fail. */
    struct literal_cache *lc = literal_cache_new(1 << 16, 1 << 20);
    cr_assert_eq(same_as_whole(body, strlen(body), lc, "pem body"), 4);
    unsigned long long hits, misses;
    literal_cache_stats(lc, &hits, &misses);
    /* leaf and root, each twice in the body: decoded once each. */
    cr_assert_eq(misses, 2);
    cr_assert_eq(hits, 2);
    same_as_whole(body, strlen(body), lc, "pem body again");
    literal_cache_stats(lc, &hits, &misses);
    cr_assert_eq(misses, 2);
    cr_assert_eq(hits, 6);
    literal_cache_free(lc);
    free(body);
}

/* A certificate-looking literal long enough to be templated, with the given escapes. */
static char *cert_literal(const char *inner)
{
    char *s = malloc(strlen(inner) + 300);
    strcpy(s, "\"-----BEGIN CERTIFICATE-----");
    strcat(s, inner);
    for (int i = 0; i < 4; i++)
        strcat(s, "MIIBszCCAVmgAwIBAgIUFAKEFAKEFAKEFAKEFAKE");
    strcat(s, "\\n-----END CERTIFICATE-----\"");
    return s;
}

Test(body_json, hostile_shapes_fall_back_to_the_whole_parse)
{
    /* Direct-mapped: a large table makes a slot collision of the two literals (1 in 65 536) the
     * only way this can fail. */
    struct literal_cache *lc = literal_cache_new(1 << 16, 1 << 20);
    const char *inners[] = {"\\nA\\/B\\u002b",        "\\x bad escape",     "\\u0000 nul inside",
                            "\\ud800 lone surrogate", "\xff\xfe not utf-8", "\x01 control"};
    for (size_t i = 0; i < sizeof(inners) / sizeof(inners[0]); i++) {
        char *lit = cert_literal(inners[i]);
        char body[2048];
        /* as a value, as an array element, as a bare body, as a key, twice under one key, and
         * next to a \u0000 elsewhere */
        static const char *const shapes[][2] = {
            {"{\"c\": ", "}"}, {"[1, ", ", \"x\"]"},        {"", ""},
            {"{", ": 1}"},     {"{\"c\": ", ", \"c\": 2}"}, {"{\"c\": ", ", \"d\": \"\\u0000\"}"},
            {"{\"c\": [", ""}};
        for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
            int n = snprintf(body, sizeof(body), "%s%s%s", shapes[k][0], lit, shapes[k][1]);
            cr_assert_lt((size_t)n, sizeof(body));
            char what[64];
            snprintf(what, sizeof(what), "literal %zu, shape %zu", i, k);
            cr_assert_eq(same_as_whole(body, (size_t)n, lc, what), 1, "%s is templated", what);
        }
        free(lit);
    }
    unsigned long long hits, misses;
    literal_cache_stats(lc, &hits, &misses);
    cr_assert_geq(hits, 1, "the valid literal was served from the cache");
    literal_cache_free(lc);
}

Test(literal_cache, invalid_literals_are_never_cached)
{
    struct literal_cache *lc = literal_cache_new(4, 1 << 20);
    uint8_t key[32] = {1};
    json_t *v = NULL;
    const char *bad = "\"a\\qb\"";
    cr_assert_eq(literal_cache_decode(lc, key, bad, strlen(bad), &v), ERR_INVALID);
    cr_assert_null(v);
    cr_assert_eq(literal_cache_decode(lc, key, bad, strlen(bad), &v), ERR_INVALID);
    const char *notstr = "[1]";
    cr_assert_eq(literal_cache_decode(lc, key, notstr, strlen(notstr), &v), ERR_INVALID);
    const char *good = "\"line\\nnext \\u00e9\"";
    cr_assert_eq(literal_cache_decode(lc, key, good, strlen(good), &v), ERR_OK);
    cr_assert_str_eq(json_string_value(v), "line\nnext \xc3\xa9");
    json_decref(v);
    /* Same key: answered from the cache, not from these bytes. */
    cr_assert_eq(literal_cache_decode(lc, key, "\"other\"", 7, &v), ERR_OK);
    cr_assert_str_eq(json_string_value(v), "line\nnext \xc3\xa9");
    json_decref(v);
    unsigned long long hits, misses;
    literal_cache_stats(lc, &hits, &misses);
    cr_assert_eq(hits, 1);
    cr_assert_eq(misses, 4);
    /* Without a cache, every call decodes. */
    cr_assert_eq(literal_cache_decode(NULL, key, "\"other\"", 7, &v), ERR_OK);
    cr_assert_str_eq(json_string_value(v), "other");
    json_decref(v);
    literal_cache_free(lc);
    literal_cache_free(NULL);
}

/* A JSON literal of n 'a's (new string). */
static char *literal_of(size_t n)
{
    char *s = malloc(n + 3);
    s[0] = '"';
    memset(s + 1, 'a', n);
    s[n + 1] = '"';
    s[n + 2] = '\0';
    return s;
}

Test(literal_cache, held_text_stays_within_its_byte_budget)
{
    struct literal_cache *lc = literal_cache_new(8, 1000);
    /* different slots whatever the byte order */
    uint8_t k1[32] = {1, 1, 1, 1, 1, 1, 1, 1}, k2[32] = {2, 2, 2, 2, 2, 2, 2, 2};
    char *a = literal_of(600), *b = literal_of(600);
    json_t *v = NULL;
    cr_assert_eq(literal_cache_decode(lc, k1, a, strlen(a), &v), ERR_OK);
    json_decref(v);
    cr_assert_eq(literal_cache_bytes(lc), 600);
    /* 1 200 bytes would pass the budget: decoded, not kept. */
    cr_assert_eq(literal_cache_decode(lc, k2, b, strlen(b), &v), ERR_OK);
    cr_assert_eq(json_string_length(v), 600);
    json_decref(v);
    cr_assert_eq(literal_cache_bytes(lc), 600);
    cr_assert_eq(literal_cache_decode(lc, k2, b, strlen(b), &v), ERR_OK);
    json_decref(v);
    cr_assert_eq(literal_cache_decode(lc, k1, a, strlen(a), &v), ERR_OK);
    json_decref(v);
    unsigned long long hits, misses;
    literal_cache_stats(lc, &hits, &misses);
    cr_assert_eq(hits, 1, "only the literal that was kept is answered from the cache");
    cr_assert_eq(misses, 3);
    literal_cache_free(lc);
    /* Longer than any certificate: never kept, whatever the budget. */
    lc = literal_cache_new(8, 1 << 24);
    char *big = literal_of(LITERAL_CACHE_MAX_ENTRY + 1);
    cr_assert_eq(literal_cache_decode(lc, k1, big, strlen(big), &v), ERR_OK);
    cr_assert_eq(json_string_length(v), LITERAL_CACHE_MAX_ENTRY + 1);
    json_decref(v);
    cr_assert_eq(literal_cache_bytes(lc), 0);
    literal_cache_free(lc);
    free(a);
    free(b);
    free(big);
}
