#include "analysis/expected_keys.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "report/pin.h"

struct ek_host {
    char *pattern; /* canonical; "*.example.com" or exact */
    struct expected_key *keys;
    size_t n;
};

struct expected_keys {
    pthread_rwlock_t lock;
    struct ek_host *hosts; /* unordered; small */
    size_t n_hosts, cap_hosts;
};

static const char *const label_names[] = {"current", "backup", "ca", "cdn"};
#define N_LABELS (sizeof(label_names) / sizeof(label_names[0]))

const char *expected_keys_label_name(enum expected_keys_label label)
{
    if ((unsigned)label >= N_LABELS)
        return NULL;
    return label_names[label];
}

int expected_keys_label_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    for (size_t i = 0; i < N_LABELS; i++) {
        if (strcmp(name, label_names[i]) == 0)
            return (int)i;
    }
    return -1;
}

struct expected_keys *expected_keys_new(void)
{
    struct expected_keys *ek = calloc(1, sizeof(*ek));
    if (ek == NULL)
        return NULL;
    if (pthread_rwlock_init(&ek->lock, NULL) != 0) {
        free(ek);
        return NULL;
    }
    return ek;
}

static void host_cleanup(struct ek_host *h)
{
    free(h->pattern);
    free(h->keys);
}

void expected_keys_free(struct expected_keys *ek)
{
    if (ek == NULL)
        return;
    for (size_t i = 0; i < ek->n_hosts; i++)
        host_cleanup(&ek->hosts[i]);
    free(ek->hosts);
    pthread_rwlock_destroy(&ek->lock);
    free(ek);
}

static bool pattern_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == ':';
}

enum err_code expected_keys_normalize_pattern(const char *pattern,
                                              char out[EXPECTED_KEYS_MAX_PATTERN + 1],
                                              struct err *err)
{
    if (pattern == NULL)
        return err_set(err, ERR_INVALID, "invalid_hostname", "no host pattern");
    size_t start = 0, end = strlen(pattern);
    while (start < end && isspace((unsigned char)pattern[start]))
        start++;
    while (end > start && isspace((unsigned char)pattern[end - 1]))
        end--;
    if (end > start && pattern[end - 1] == '.')
        end--;
    size_t len = end - start;
    if (len == 0 || len > EXPECTED_KEYS_MAX_PATTERN)
        return err_set(err, ERR_INVALID, "invalid_hostname", "host pattern is empty or too long");

    char buf[EXPECTED_KEYS_MAX_PATTERN + 1];
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)tolower((unsigned char)pattern[start + i]);
    buf[len] = '\0';

    const char *name = buf;
    if (len >= 2 && buf[0] == '*' && buf[1] == '.')
        name = buf + 2;
    if (*name == '\0')
        return err_set(err, ERR_INVALID, "invalid_hostname", "wildcard without a domain");
    char prev = '.';
    for (const char *p = name; *p != '\0'; p++) {
        if (!pattern_char_ok(*p))
            return err_set(err, ERR_INVALID, "invalid_hostname",
                           "host pattern may only start with \"*.\" and hold letters, digits, "
                           "'-', '_', '.', ':'");
        if (*p == '.' && prev == '.')
            return err_set(err, ERR_INVALID, "invalid_hostname", "empty label in host pattern");
        prev = *p;
    }
    memcpy(out, buf, len + 1);
    return ERR_OK;
}

/* Index of pattern (canonical) or -1. Caller holds the lock. */
static long find_host(const struct expected_keys *ek, const char *pattern)
{
    for (size_t i = 0; i < ek->n_hosts; i++) {
        if (strcmp(ek->hosts[i].pattern, pattern) == 0)
            return (long)i;
    }
    return -1;
}

/* Replace or insert (n > 0) or remove (n == 0) under the write lock; keys_take is owned. */
static enum err_code set_locked(struct expected_keys *ek, const char *pattern,
                                struct expected_key *keys_take, size_t n, struct err *err)
{
    long i = find_host(ek, pattern);
    if (n == 0) {
        free(keys_take);
        if (i >= 0) {
            host_cleanup(&ek->hosts[i]);
            ek->hosts[i] = ek->hosts[--ek->n_hosts];
        }
        return ERR_OK;
    }
    if (i >= 0) {
        free(ek->hosts[i].keys);
        ek->hosts[i].keys = keys_take;
        ek->hosts[i].n = n;
        return ERR_OK;
    }
    if (ek->n_hosts >= EXPECTED_KEYS_MAX_HOSTS) {
        free(keys_take);
        return err_set(err, ERR_TOO_LARGE, "too_many_hosts", "more than %d host patterns",
                       EXPECTED_KEYS_MAX_HOSTS);
    }
    char *copy = strdup(pattern);
    if (copy == NULL) {
        free(keys_take);
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    }
    if (ek->n_hosts == ek->cap_hosts) {
        size_t cap = ek->cap_hosts ? ek->cap_hosts * 2 : 8;
        struct ek_host *grown = realloc(ek->hosts, cap * sizeof(*grown));
        if (grown == NULL) {
            free(copy);
            free(keys_take);
            return err_set(err, ERR_NOMEM, NULL, "out of memory");
        }
        ek->hosts = grown;
        ek->cap_hosts = cap;
    }
    ek->hosts[ek->n_hosts++] = (struct ek_host){.pattern = copy, .keys = keys_take, .n = n};
    return ERR_OK;
}

static enum err_code check_keys(const struct expected_key *keys, size_t n, struct err *err)
{
    if (n > EXPECTED_KEYS_MAX_PER_HOST)
        return err_set(err, ERR_INVALID, "too_many_keys", "more than %d keys for one host",
                       EXPECTED_KEYS_MAX_PER_HOST);
    if (n > 0 && keys == NULL)
        return err_set(err, ERR_INVALID, "invalid_body", "no keys");
    for (size_t i = 0; i < n; i++) {
        if (expected_keys_label_name(keys[i].label) == NULL)
            return err_set(err, ERR_INVALID, "invalid_label", "unknown label");
    }
    return ERR_OK;
}

enum err_code expected_keys_set_host(struct expected_keys *ek, const char *pattern,
                                     const struct expected_key *keys, size_t n, struct err *err)
{
    char canon[EXPECTED_KEYS_MAX_PATTERN + 1];
    enum err_code rc;

    if (ek == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "no expected-keys object");
    if ((rc = expected_keys_normalize_pattern(pattern, canon, err)) != ERR_OK)
        return rc;
    if ((rc = check_keys(keys, n, err)) != ERR_OK)
        return rc;
    struct expected_key *copy = NULL;
    if (n > 0) {
        copy = malloc(n * sizeof(*copy));
        if (copy == NULL)
            return err_set(err, ERR_NOMEM, NULL, "out of memory");
        memcpy(copy, keys, n * sizeof(*copy));
    }
    pthread_rwlock_wrlock(&ek->lock);
    rc = set_locked(ek, canon, copy, n, err);
    pthread_rwlock_unlock(&ek->lock);
    return rc;
}

static json_t *keys_json(const struct expected_key *keys, size_t n)
{
    json_t *arr = json_array();
    json_t *obj = json_object();
    if (arr == NULL || obj == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        char b64[PIN_B64_LEN + 1];
        pin_to_base64(keys[i].pin, b64);
        json_t *item =
            json_pack("{s:s, s:s}", "pin", b64, "label", expected_keys_label_name(keys[i].label));
        if (item == NULL || json_array_append_new(arr, item) != 0)
            goto fail;
    }
    if (json_object_set_new(obj, "keys", arr) != 0) {
        arr = NULL; /* set_new consumed it even on failure */
        goto fail;
    }
    return obj;
fail:
    json_decref(arr);
    json_decref(obj);
    return NULL;
}

json_t *expected_keys_host_json(const struct expected_keys *ek, const char *pattern)
{
    char canon[EXPECTED_KEYS_MAX_PATTERN + 1];
    if (ek == NULL || expected_keys_normalize_pattern(pattern, canon, NULL) != ERR_OK)
        return NULL;
    pthread_rwlock_rdlock((pthread_rwlock_t *)&ek->lock);
    long i = find_host(ek, canon);
    json_t *out = i >= 0 ? keys_json(ek->hosts[i].keys, ek->hosts[i].n) : keys_json(NULL, 0);
    pthread_rwlock_unlock((pthread_rwlock_t *)&ek->lock);
    return out;
}

json_t *expected_keys_to_json(const struct expected_keys *ek)
{
    json_t *hosts = json_object();
    json_t *doc = NULL;
    if (ek == NULL || hosts == NULL)
        goto fail;
    pthread_rwlock_rdlock((pthread_rwlock_t *)&ek->lock);
    bool ok = true;
    for (size_t i = 0; ok && i < ek->n_hosts; i++) {
        json_t *h = keys_json(ek->hosts[i].keys, ek->hosts[i].n);
        ok = h != NULL && json_object_set_new(hosts, ek->hosts[i].pattern, h) == 0;
    }
    pthread_rwlock_unlock((pthread_rwlock_t *)&ek->lock);
    if (!ok)
        goto fail;
    doc = json_object();
    if (doc == NULL)
        goto fail;
    if (json_object_set_new(doc, "hosts", hosts) != 0) {
        hosts = NULL; /* set_new consumed it even on failure */
        goto fail;
    }
    return doc;
fail:
    json_decref(hosts);
    json_decref(doc);
    return NULL;
}

enum err_code expected_keys_parse_keys(const json_t *body, struct expected_key **out, size_t *n_out,
                                       struct err *err)
{
    const json_t *arr = json_is_object(body) ? json_object_get(body, "keys") : NULL;
    if (!json_is_array(arr))
        return err_set(err, ERR_INVALID, "invalid_body",
                       "expected {\"keys\": [{\"pin\": ..., \"label\": ...}]}");
    size_t n = json_array_size(arr);
    if (n > EXPECTED_KEYS_MAX_PER_HOST)
        return err_set(err, ERR_INVALID, "too_many_keys", "more than %d keys for one host",
                       EXPECTED_KEYS_MAX_PER_HOST);
    struct expected_key *keys = n > 0 ? calloc(n, sizeof(*keys)) : NULL;
    if (n > 0 && keys == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");

    enum err_code rc = ERR_OK;
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(arr, i);
        const json_t *pin = json_object_get(item, "pin");
        const json_t *label = json_object_get(item, "label");
        if (!json_is_object(item) || !json_is_string(pin) || !json_is_string(label)) {
            rc = err_set(err, ERR_INVALID, "invalid_body",
                         "keys[%zu] needs a string \"pin\" and a string \"label\"", i);
            goto out;
        }
        if (pin_from_base64(json_string_value(pin), json_string_length(pin), keys[i].pin, NULL) !=
            ERR_OK) {
            rc = err_set(err, ERR_INVALID, "invalid_pin",
                         "keys[%zu].pin is not base64 of a 32-byte SHA-256", i);
            goto out;
        }
        int l = expected_keys_label_from_name(json_string_value(label));
        if (l < 0) {
            rc = err_set(err, ERR_INVALID, "invalid_label",
                         "keys[%zu].label must be current, backup, ca or cdn", i);
            goto out;
        }
        keys[i].label = (enum expected_keys_label)l;
    }
    *out = keys;
    *n_out = n;
    keys = NULL;
out:
    free(keys);
    return rc;
}

struct parsed_host {
    char pattern[EXPECTED_KEYS_MAX_PATTERN + 1];
    struct expected_key *keys;
    size_t n;
};

enum err_code expected_keys_load_json(struct expected_keys *ek, const json_t *doc, struct err *err)
{
    const json_t *hosts = json_is_object(doc) ? json_object_get(doc, "hosts") : NULL;
    if (ek == NULL)
        return err_set(err, ERR_INTERNAL, NULL, "no expected-keys object");
    if (!json_is_object(hosts))
        return err_set(err, ERR_INVALID, "invalid_body",
                       "expected {\"hosts\": {\"<pattern>\": {\"keys\": [...]}}}");
    size_t n = json_object_size(hosts);
    if (n > EXPECTED_KEYS_MAX_HOSTS)
        return err_set(err, ERR_TOO_LARGE, "too_many_hosts", "more than %d host patterns",
                       EXPECTED_KEYS_MAX_HOSTS);
    struct parsed_host *parsed = n > 0 ? calloc(n, sizeof(*parsed)) : NULL;
    if (n > 0 && parsed == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");

    enum err_code rc = ERR_OK;
    size_t k = 0;
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)hosts, key, value)
    {
        struct err inner;
        err_clear(&inner);
        rc = expected_keys_normalize_pattern(key, parsed[k].pattern, &inner);
        if (rc == ERR_OK)
            rc = expected_keys_parse_keys(value, &parsed[k].keys, &parsed[k].n, &inner);
        if (rc != ERR_OK) {
            err_set(err, rc, inner.key, "host \"%.80s\": %s", key, inner.detail);
            goto out;
        }
        k++;
    }
    pthread_rwlock_wrlock(&ek->lock);
    for (size_t i = 0; i < k && rc == ERR_OK; i++) {
        rc = set_locked(ek, parsed[i].pattern, parsed[i].keys, parsed[i].n, err);
        parsed[i].keys = NULL; /* taken, also on failure */
    }
    pthread_rwlock_unlock(&ek->lock);
out:
    for (size_t i = 0; i < n; i++)
        free(parsed[i].keys);
    free(parsed);
    return rc;
}

enum err_code expected_keys_load_file(struct expected_keys *ek, const char *path, struct err *err)
{
    json_error_t jerr;
    if (path == NULL)
        return err_set(err, ERR_INVALID, "invalid_config", "no expected-keys file");
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        return err_set(err, ERR_INVALID, "invalid_json", "%s:%d: %s", path, jerr.line, jerr.text);
    enum err_code rc = expected_keys_load_json(ek, doc, err);
    json_decref(doc);
    return rc;
}

/* Specificity of pattern for hostname: 0 when it does not cover it, else a rank where an
 * exact name beats any wildcard and a longer wildcard beats a shorter one. */
static size_t coverage(const char *pattern, const char *hostname, size_t host_len)
{
    if (pattern[0] == '*') {
        const char *suffix = pattern + 1; /* ".example.com" */
        size_t slen = strlen(suffix);
        if (host_len > slen && strncasecmp(hostname + host_len - slen, suffix, slen) == 0)
            return slen;
        return 0;
    }
    if (strlen(pattern) == host_len && strncasecmp(pattern, hostname, host_len) == 0)
        return (size_t)EXPECTED_KEYS_MAX_PATTERN + 1;
    return 0;
}

static size_t host_len_of(const char *hostname)
{
    size_t len = strlen(hostname);
    if (len > 0 && hostname[len - 1] == '.')
        len--;
    return len;
}

const char *expected_keys_match(const struct expected_keys *ek, const char *hostname,
                                const uint8_t spki[32])
{
    if (ek == NULL || hostname == NULL || spki == NULL)
        return NULL;
    size_t host_len = host_len_of(hostname);
    const char *label = NULL;
    size_t best = 0;

    pthread_rwlock_rdlock((pthread_rwlock_t *)&ek->lock);
    for (size_t i = 0; i < ek->n_hosts; i++) {
        const struct ek_host *h = &ek->hosts[i];
        size_t rank = coverage(h->pattern, hostname, host_len);
        if (rank <= best)
            continue;
        for (size_t j = 0; j < h->n; j++) {
            if (memcmp(h->keys[j].pin, spki, 32) == 0) {
                label = expected_keys_label_name(h->keys[j].label);
                best = rank;
                break;
            }
        }
    }
    pthread_rwlock_unlock((pthread_rwlock_t *)&ek->lock);
    return label;
}

bool expected_keys_has_host(const struct expected_keys *ek, const char *hostname)
{
    if (ek == NULL || hostname == NULL)
        return false;
    size_t host_len = host_len_of(hostname);
    bool found = false;
    pthread_rwlock_rdlock((pthread_rwlock_t *)&ek->lock);
    for (size_t i = 0; !found && i < ek->n_hosts; i++)
        found = ek->hosts[i].n > 0 && coverage(ek->hosts[i].pattern, hostname, host_len) > 0;
    pthread_rwlock_unlock((pthread_rwlock_t *)&ek->lock);
    return found;
}
