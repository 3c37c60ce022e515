/*
 * fuzz_hostname — hostname_normalize (hostname, noted-hostname, URLs of NEL/Expect-CT reports),
 * with the helpers that consume its output. Invariants: a normalized name is short, made only
 * of the characters SPEC §5 allows (LDH labels, or an IP literal), and is a fixed point (so
 * grouping, coverage and allow-lists compare like with like); a refusal returns nothing.
 */
#include <string.h>

#include "fuzz_check.h"
#include "report/hostname.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

static int hn_allowed(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == ':';
}

int FUZZ_ENTRY(const uint8_t *data, size_t size);
int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    /* The API takes NUL-terminated text; an embedded NUL simply ends it. */
    char *raw = malloc(size + 1);
    FUZZ_CHECK(raw != NULL);
    memcpy(raw, data, size);
    raw[size] = '\0';

    char *out = NULL;
    struct err err;
    memset(&err, 0, sizeof(err));
    enum err_code rc = hostname_normalize(raw, &out, &err);
    if (rc != ERR_OK) {
        FUZZ_CHECK(rc == ERR_INVALID);
        FUZZ_CHECK(strcmp(err.key, "invalid_hostname") == 0);
        FUZZ_CHECK(out == NULL);
    } else {
        size_t len = strlen(out);
        FUZZ_CHECK(len > 0 && len <= HOSTNAME_MAX);
        for (size_t i = 0; i < len; i++)
            FUZZ_CHECK(hn_allowed(out[i]));
        if (strchr(out, ':') != NULL)
            FUZZ_CHECK(hostname_is_ip(out));
        char *again = NULL;
        FUZZ_CHECK(hostname_normalize(out, &again, NULL) == ERR_OK);
        FUZZ_CHECK(strcmp(again, out) == 0);
        free(again);
        FUZZ_CHECK(hostname_covered(out, out, false));
        FUZZ_CHECK(hostname_matches_pattern(out, out));
        if (!hostname_is_ip(out)) {
            /* Every proper parent covers it with include-subdomains, and "*.parent" matches
             * (unless the parent is an IP literal: "1.2.3.4.5" is a name, "2.3.4.5" is not). */
            const char *dot = strchr(out, '.');
            if (dot != NULL && dot[1] != '\0' && !hostname_is_ip(dot + 1)) {
                FUZZ_CHECK(hostname_covered(out, dot + 1, true));
                FUZZ_CHECK(!hostname_covered(out, dot + 1, false));
                char pattern[HOSTNAME_MAX + 3];
                snprintf(pattern, sizeof(pattern), "*.%s", dot + 1);
                FUZZ_CHECK(hostname_matches_pattern(out, pattern));
            }
        }
        free(out);
    }
    /* The helpers must take any text, normalized or not. */
    (void)hostname_is_ip(raw);
    size_t half = size / 2;
    char *a = malloc(half + 1), *b = malloc(size - half + 1);
    FUZZ_CHECK(a != NULL && b != NULL);
    memcpy(a, raw, half);
    a[half] = '\0';
    memcpy(b, raw + half, size - half);
    b[size - half] = '\0';
    (void)hostname_covered(a, b, true);
    (void)hostname_matches_pattern(a, b);
    free(a);
    free(b);
    free(raw);
    return 0;
}
