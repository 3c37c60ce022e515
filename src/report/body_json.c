#include "report/body_json.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "report/literal_cache.h"

/* A placeholder decodes to NUL + the fragment's index in decimal. A body with "\u0000"
 * outside its certificate literals is parsed whole, so nothing else decodes to a leading NUL. */
#define PLACEHOLDER_OPEN "\"\\u0000"

static bool has_nul_escape(const char *s, size_t len)
{
    static const char esc[] = "\\u0000";
    for (const char *p = s; (p = memchr(p, '\\', (size_t)(s + len - p))) != NULL; p++) {
        if ((size_t)(s + len - p) >= sizeof(esc) - 1 && memcmp(p, esc, sizeof(esc) - 1) == 0)
            return true;
    }
    return false;
}

/* True when the literal ending at end is followed by ':' (it is an object key). */
static bool is_key(const char *body, size_t len, size_t end)
{
    while (end < len &&
           (body[end] == ' ' || body[end] == '\t' || body[end] == '\n' || body[end] == '\r'))
        end++;
    return end < len && body[end] == ':';
}

/* The body with every fragment replaced by its placeholder; false when it must be parsed
 * whole (or on OOM, which the whole parse then reports). */
static bool build_template(const char *body, size_t len, const struct rawbody_split *split,
                           struct buf *text)
{
    size_t copied = 0;
    for (size_t i = 0; i < split->n_frags; i++) {
        const struct rawbody_fragment *f = &split->frags[i];
        size_t start = (size_t)(f->data - body), end = start + f->len;
        if (start < copied || end > len || is_key(body, len, end) ||
            has_nul_escape(body + copied, start - copied))
            return false;
        char ph[32];
        int n = snprintf(ph, sizeof(ph), PLACEHOLDER_OPEN "%zu\"", i);
        if (buf_append(text, body + copied, start - copied) != ERR_OK ||
            buf_append(text, ph, (size_t)n) != ERR_OK)
            return false;
        copied = end;
    }
    return !has_nul_escape(body + copied, len - copied) &&
           buf_append(text, body + copied, len - copied) == ERR_OK;
}

/* The fragment a string value stands for, or SIZE_MAX when it is an ordinary string. */
static size_t placeholder_index(const json_t *v, size_t n_frags)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len < 2 || s[0] != '\0')
        return SIZE_MAX;
    char *end = NULL;
    unsigned long long i = strtoull(s + 1, &end, 10);
    return end == s + len && i < n_frags ? (size_t)i : SIZE_MAX;
}

struct subst {
    const struct rawbody_split *split;
    struct literal_cache *literals;
    size_t done; /* placeholders replaced */
    bool bad;    /* a literal did not decode, or OOM */
};

/* A new string for v when v is a placeholder, NULL otherwise. */
static json_t *resolve(const json_t *v, struct subst *st)
{
    if (!json_is_string(v))
        return NULL;
    size_t i = placeholder_index(v, st->split->n_frags);
    if (i == SIZE_MAX)
        return NULL;
    const struct rawbody_fragment *f = &st->split->frags[i];
    json_t *s = NULL;
    if (literal_cache_decode(st->literals, f->sha256, f->data, f->len, &s) != ERR_OK)
        st->bad = true;
    else
        st->done++;
    return s;
}

/* Put the decoded literals in place of the placeholders under v. The depth is bounded by the
 * caller's check of the bytes. */
static void substitute(json_t *v, struct subst *st)
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v) && !st->bad; i++) {
            json_t *e = json_array_get(v, i);
            json_t *s = resolve(e, st);
            if (s != NULL)
                st->bad = json_array_set_new(v, i, s) != 0;
            else
                substitute(e, st);
        }
    } else if (json_is_object(v)) {
        for (void *it = json_object_iter(v); it != NULL && !st->bad;
             it = json_object_iter_next(v, it)) {
            json_t *e = json_object_iter_value(it);
            json_t *s = resolve(e, st);
            if (s != NULL)
                st->bad = json_object_iter_set_new(v, it, s) != 0;
            else
                substitute(e, st);
        }
    }
}

/* The tree of the template with every placeholder replaced, or NULL. */
static json_t *load_template(const char *body, size_t len, const struct rawbody_split *split,
                             struct literal_cache *literals)
{
    struct buf text;
    buf_init(&text, 0);
    json_t *root = NULL;
    json_error_t jerr;
    if (build_template(body, len, split, &text))
        root = json_loadb(text.data, text.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    buf_cleanup(&text);
    if (root == NULL)
        return NULL;
    struct subst st = {.split = split, .literals = literals};
    json_t *whole = resolve(root, &st); /* a body that is one bare literal */
    if (whole != NULL) {
        json_decref(root);
        root = whole;
    } else {
        substitute(root, &st);
    }
    if (st.bad || st.done != split->n_frags) {
        json_decref(root);
        return NULL;
    }
    return root;
}

json_t *body_json_load(const char *body, size_t len, const struct rawbody_split *split,
                       struct literal_cache *literals, json_error_t *jerr)
{
    if (split != NULL && split->n_frags > 0) {
        json_t *root = load_template(body, len, split, literals);
        if (root != NULL)
            return root;
    }
    return json_loadb(body, len, JSON_DECODE_ANY, jerr);
}
