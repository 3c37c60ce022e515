#include "report/hostname.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <idn2.h>

#include "base/addr.h"

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

bool hostname_is_ip(const char *name)
{
    struct addr a;
    return addr_parse_str(name, &a);
}

/* What IDNA lets through is still checked: only LDH (and '_', seen in real names) labels of
 * 1..63 bytes, so URLs, spaces or '*' never become a "host name". */
static bool ldh_valid(const char *s)
{
    size_t label = 0, total = 0;
    for (const char *p = s; *p != '\0'; p++, total++) {
        char c = *p;
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0 && total <= HOSTNAME_MAX;
}

static char *to_ascii(const char *name)
{
    char *res = NULL;
    /* UTS #46 non-transitional first (IDNA2008 behaviour for ß, ς); transitional as a
     * fallback for names that only the older mapping accepts. */
    if (idn2_to_ascii_8z(name, &res, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) == IDN2_OK)
        return res;
    res = NULL;
    if (idn2_to_ascii_8z(name, &res, IDN2_TRANSITIONAL | IDN2_NFC_INPUT) == IDN2_OK)
        return res;
    return NULL;
}

enum err_code hostname_normalize(const char *raw, char **out, struct err *err)
{
    enum err_code rc = ERR_OK;
    char *buf = NULL, *ascii = NULL, *result = NULL;
    char ip[ADDR_TEXT_LEN];
    struct addr a;

    if (raw == NULL)
        return err_set(err, ERR_INVALID, "invalid_hostname", "no host name");
    size_t start = 0, end = strlen(raw);
    while (start < end && is_ws(raw[start]))
        start++;
    while (end > start && is_ws(raw[end - 1]))
        end--;
    if (end - start > 4 * HOSTNAME_MAX) /* no IDNA work on obviously oversized input */
        return err_set(err, ERR_INVALID, "invalid_hostname", "host name too long");
    buf = strndup(raw + start, end - start);
    if (buf == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    size_t len = end - start;

    if (len >= 2 && buf[0] == '[' && buf[len - 1] == ']') {
        /* URL-style IPv6 literal: only an IPv6 address may sit inside brackets. */
        if (!addr_parse_bracketed(buf, len, &a)) {
            rc = err_set(err, ERR_INVALID, "invalid_hostname", "bad IPv6 literal in brackets");
            goto out;
        }
        addr_format(&a, ip);
        result = strdup(ip);
        goto done;
    }
    if (len > 0 && buf[len - 1] == '.')
        buf[--len] = '\0';
    if (len == 0) {
        rc = err_set(err, ERR_INVALID, "invalid_hostname", "empty host name");
        goto out;
    }
    for (size_t i = 0; i < len; i++) {
        if (buf[i] >= 'A' && buf[i] <= 'Z')
            buf[i] = (char)(buf[i] - 'A' + 'a');
    }
    if (addr_parse(buf, len, &a)) {
        addr_format(&a, ip);
        result = strdup(ip);
        goto done;
    }
    /* Plain lower-case LDH names without A-labels are already what IDNA would return: skip
     * libidn2 for them (nearly every report). */
    if (ldh_valid(buf) && strncmp(buf, "xn--", 4) != 0 && strstr(buf, ".xn--") == NULL) {
        result = strdup(buf);
        goto done;
    }
    ascii = to_ascii(buf);
    if (ascii == NULL || !ldh_valid(ascii)) {
        rc = err_set(err, ERR_INVALID, "invalid_hostname", "not a valid host name");
        goto out;
    }
    result = strdup(ascii);
done:
    if (result == NULL) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    *out = result;
out:
    free(buf);
    idn2_free(ascii);
    return rc;
}

bool hostname_covered(const char *host, const char *noted, bool include_subdomains)
{
    if (host == NULL || noted == NULL)
        return false;
    if (strcmp(host, noted) == 0)
        return true;
    if (!include_subdomains || hostname_is_ip(host) || hostname_is_ip(noted))
        return false;
    size_t hl = strlen(host), nl = strlen(noted);
    return nl > 0 && hl > nl + 1 && host[hl - nl - 1] == '.' && strcmp(host + hl - nl, noted) == 0;
}

bool hostname_matches_pattern(const char *host, const char *pattern)
{
    if (host == NULL || pattern == NULL)
        return false;
    if (pattern[0] == '*' && pattern[1] == '.') {
        const char *suffix = pattern + 1; /* ".example.com" */
        size_t hl = strlen(host), sl = strlen(suffix);
        return hl > sl && strcasecmp(host + hl - sl, suffix) == 0;
    }
    return strcasecmp(host, pattern) == 0;
}
