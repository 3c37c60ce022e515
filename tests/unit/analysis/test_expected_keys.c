#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/expected_keys.h"
#include "report/pin.h"
#include "testenv.h"

static void fill_pin(uint8_t pin[32], uint8_t seed)
{
    for (int i = 0; i < 32; i++)
        pin[i] = (uint8_t)(seed + i * 7);
}

static json_t *body_with(const char *pin, const char *label)
{
    return json_pack("{s:[{s:s, s:s}]}", "keys", "pin", pin, "label", label);
}

Test(expected_keys, label_names_round_trip)
{
    cr_assert_str_eq(expected_keys_label_name(EXPECTED_KEYS_CURRENT), "current");
    cr_assert_str_eq(expected_keys_label_name(EXPECTED_KEYS_CDN), "cdn");
    cr_assert_null(expected_keys_label_name((enum expected_keys_label)17));
    cr_assert_eq(expected_keys_label_from_name("backup"), EXPECTED_KEYS_BACKUP);
    cr_assert_eq(expected_keys_label_from_name("ca"), EXPECTED_KEYS_CA);
    cr_assert_eq(expected_keys_label_from_name("Current"), -1);
    cr_assert_eq(expected_keys_label_from_name("primary"), -1);
    cr_assert_eq(expected_keys_label_from_name(NULL), -1);
}

Test(expected_keys, pattern_normalization)
{
    char out[EXPECTED_KEYS_MAX_PATTERN + 1];
    cr_assert_eq(expected_keys_normalize_pattern(" WWW.Example.COM. ", out, NULL), ERR_OK);
    cr_assert_str_eq(out, "www.example.com");
    cr_assert_eq(expected_keys_normalize_pattern("*.Example.com", out, NULL), ERR_OK);
    cr_assert_str_eq(out, "*.example.com");
    cr_assert_eq(expected_keys_normalize_pattern("2001:db8::1", out, NULL), ERR_OK);

    const char *bad[] = {"",
                         "*",
                         "*.",
                         "a*.example.com",
                         "www.*.example.com",
                         "www..example.com",
                         ".example.com",
                         "exa mple.com",
                         "*.*.example.com"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct err err;
        cr_assert_eq(expected_keys_normalize_pattern(bad[i], out, &err), ERR_INVALID, "%s", bad[i]);
        cr_assert_str_eq(err.key, "invalid_hostname");
    }
}

Test(expected_keys, parse_valid_body)
{
    uint8_t a[32], b[32];
    char a64[PIN_B64_LEN + 1], b64[PIN_B64_LEN + 1];
    fill_pin(a, 1);
    fill_pin(b, 2);
    pin_to_base64(a, a64);
    pin_to_base64(b, b64);
    json_t *body = json_pack("{s:[{s:s, s:s}, {s:s, s:s, s:s}]}", "keys", "pin", a64, "label",
                             "current", "pin", b64, "label", "backup", "note", "ignored");
    struct expected_key *keys = NULL;
    size_t n = 0;
    cr_assert_eq(expected_keys_parse_keys(body, &keys, &n, NULL), ERR_OK);
    cr_assert_eq(n, 2);
    cr_assert_arr_eq(keys[0].pin, a, 32);
    cr_assert_eq(keys[0].label, EXPECTED_KEYS_CURRENT);
    cr_assert_arr_eq(keys[1].pin, b, 32);
    cr_assert_eq(keys[1].label, EXPECTED_KEYS_BACKUP);
    free(keys);
    json_decref(body);

    /* An empty list is valid (it clears the host). */
    body = json_pack("{s:[]}", "keys");
    keys = (struct expected_key *)0x1;
    cr_assert_eq(expected_keys_parse_keys(body, &keys, &n, NULL), ERR_OK);
    cr_assert_eq(n, 0);
    cr_assert_null(keys);
    json_decref(body);
}

Test(expected_keys, parse_accepts_unpadded_and_urlsafe_pins)
{
    uint8_t p[32];
    char b64[PIN_B64_LEN + 1];
    memset(p, 0xfb, sizeof(p)); /* encodes with '+' and '/' */
    pin_to_base64(p, b64);
    cr_assert(strchr(b64, '/') != NULL || strchr(b64, '+') != NULL);
    char alt[PIN_B64_LEN + 1];
    strcpy(alt, b64);
    for (char *c = alt; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    alt[strcspn(alt, "=")] = '\0';

    json_t *body = body_with(alt, "cdn");
    struct expected_key *keys = NULL;
    size_t n = 0;
    cr_assert_eq(expected_keys_parse_keys(body, &keys, &n, NULL), ERR_OK);
    cr_assert_eq(n, 1);
    cr_assert_arr_eq(keys[0].pin, p, 32);
    free(keys);
    json_decref(body);
}

Test(expected_keys, parse_rejects_bad_input)
{
    uint8_t p[32];
    char ok64[PIN_B64_LEN + 1];
    fill_pin(p, 9);
    pin_to_base64(p, ok64);
    /* base64 of 31 and 33 bytes, and garbage */
    const char *short64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==";
    const char *long64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g";
    struct {
        json_t *body;
        const char *key;
    } cases[] = {
        {body_with(short64, "current"), "invalid_pin"},
        {body_with(long64, "current"), "invalid_pin"},
        {body_with("not base64 at all!", "current"), "invalid_pin"},
        {body_with("", "current"), "invalid_pin"},
        {body_with(ok64, "primary"), "invalid_label"},
        {body_with(ok64, "CURRENT"), "invalid_label"},
        {json_pack("{s:[{s:s}]}", "keys", "pin", ok64), "invalid_body"},
        {json_pack("{s:[{s:i, s:s}]}", "keys", "pin", 5, "label", "ca"), "invalid_body"},
        {json_pack("{s:{}}", "keys"), "invalid_body"},
        {json_pack("[]"), "invalid_body"},
        {json_pack("{}"), "invalid_body"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct expected_key *keys = (struct expected_key *)0x1;
        size_t n = 77;
        struct err err;
        cr_assert_not_null(cases[i].body);
        cr_assert_eq(expected_keys_parse_keys(cases[i].body, &keys, &n, &err), ERR_INVALID,
                     "case %zu", i);
        cr_assert_str_eq(err.key, cases[i].key, "case %zu", i);
        cr_assert_eq(keys, (struct expected_key *)0x1, "out touched on failure");
        cr_assert_eq(n, 77);
        json_decref(cases[i].body);
    }
}

Test(expected_keys, too_many_keys)
{
    json_t *arr = json_array();
    uint8_t p[32];
    char b64[PIN_B64_LEN + 1];
    fill_pin(p, 3);
    pin_to_base64(p, b64);
    for (int i = 0; i < EXPECTED_KEYS_MAX_PER_HOST + 1; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s}", "pin", b64, "label", "ca"));
    json_t *body = json_pack("{s:o}", "keys", arr);
    struct expected_key *keys = NULL;
    size_t n = 0;
    struct err err;
    cr_assert_eq(expected_keys_parse_keys(body, &keys, &n, &err), ERR_INVALID);
    cr_assert_str_eq(err.key, "too_many_keys");
    json_decref(body);
}

Test(expected_keys, set_get_replace_remove)
{
    struct expected_keys *ek = expected_keys_new();
    struct expected_key k[2];
    fill_pin(k[0].pin, 10);
    k[0].label = EXPECTED_KEYS_CURRENT;
    fill_pin(k[1].pin, 20);
    k[1].label = EXPECTED_KEYS_BACKUP;
    cr_assert_eq(expected_keys_set_host(ek, "WWW.example.com", k, 2, NULL), ERR_OK);

    json_t *j = expected_keys_host_json(ek, "www.example.com.");
    cr_assert_not_null(j);
    json_t *keys = json_object_get(j, "keys");
    cr_assert_eq(json_array_size(keys), 2);
    char b64[PIN_B64_LEN + 1];
    pin_to_base64(k[1].pin, b64);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(keys, 1), "pin")), b64);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(keys, 1), "label")),
                     "backup");
    json_decref(j);

    cr_assert_str_eq(expected_keys_match(ek, "www.example.com", k[0].pin), "current");
    cr_assert_str_eq(expected_keys_match(ek, "www.example.com", k[1].pin), "backup");
    cr_assert(expected_keys_has_host(ek, "www.example.com"));

    /* PUT replaces the whole set */
    struct expected_key k2 = {.label = EXPECTED_KEYS_CDN};
    fill_pin(k2.pin, 30);
    cr_assert_eq(expected_keys_set_host(ek, "www.example.com", &k2, 1, NULL), ERR_OK);
    cr_assert_null(expected_keys_match(ek, "www.example.com", k[0].pin));
    cr_assert_str_eq(expected_keys_match(ek, "www.example.com", k2.pin), "cdn");

    /* invalid pattern: nothing changes */
    struct err err;
    cr_assert_eq(expected_keys_set_host(ek, "www..example.com", k, 1, &err), ERR_INVALID);
    cr_assert_str_eq(expected_keys_match(ek, "www.example.com", k2.pin), "cdn");

    /* empty set removes; GET then answers an empty list */
    cr_assert_eq(expected_keys_set_host(ek, "www.example.com", NULL, 0, NULL), ERR_OK);
    cr_assert_null(expected_keys_match(ek, "www.example.com", k2.pin));
    cr_assert_not(expected_keys_has_host(ek, "www.example.com"));
    j = expected_keys_host_json(ek, "www.example.com");
    cr_assert_eq(json_array_size(json_object_get(j, "keys")), 0);
    json_decref(j);
    cr_assert_null(expected_keys_host_json(ek, "bad..pattern"));
    expected_keys_free(ek);
    expected_keys_free(NULL);
}

Test(expected_keys, wildcard_matching)
{
    struct expected_keys *ek = expected_keys_new();
    struct expected_key w = {.label = EXPECTED_KEYS_CA}, e = {.label = EXPECTED_KEYS_CURRENT};
    fill_pin(w.pin, 40);
    fill_pin(e.pin, 50);
    cr_assert_eq(expected_keys_set_host(ek, "*.example.com", &w, 1, NULL), ERR_OK);
    cr_assert_eq(expected_keys_set_host(ek, "www.example.com", &e, 1, NULL), ERR_OK);

    cr_assert_str_eq(expected_keys_match(ek, "api.example.com", w.pin), "ca");
    cr_assert_str_eq(expected_keys_match(ek, "a.b.example.com", w.pin), "ca");
    cr_assert_str_eq(expected_keys_match(ek, "API.Example.COM", w.pin), "ca");
    cr_assert_str_eq(expected_keys_match(ek, "api.example.com.", w.pin), "ca");
    cr_assert_null(expected_keys_match(ek, "example.com", w.pin));
    cr_assert_null(expected_keys_match(ek, "badexample.com", w.pin));
    cr_assert_null(expected_keys_match(ek, "example.com.evil.net", w.pin));
    cr_assert_null(expected_keys_match(ek, "api.example.com", e.pin), "exact key leaked");
    /* the union of both patterns covers www */
    cr_assert_str_eq(expected_keys_match(ek, "www.example.com", e.pin), "current");
    cr_assert_str_eq(expected_keys_match(ek, "www.example.com", w.pin), "ca");
    cr_assert_null(expected_keys_match(NULL, "www.example.com", w.pin));
    cr_assert_null(expected_keys_match(ek, NULL, w.pin));
    expected_keys_free(ek);
}

Test(expected_keys, most_specific_label_wins)
{
    struct expected_keys *ek = expected_keys_new();
    struct expected_key k = {.label = EXPECTED_KEYS_CDN};
    fill_pin(k.pin, 60);
    cr_assert_eq(expected_keys_set_host(ek, "*.example.com", &k, 1, NULL), ERR_OK);
    k.label = EXPECTED_KEYS_BACKUP;
    cr_assert_eq(expected_keys_set_host(ek, "*.api.example.com", &k, 1, NULL), ERR_OK);
    k.label = EXPECTED_KEYS_CURRENT;
    cr_assert_eq(expected_keys_set_host(ek, "www.example.com", &k, 1, NULL), ERR_OK);
    cr_assert_str_eq(expected_keys_match(ek, "www.example.com", k.pin), "current");
    cr_assert_str_eq(expected_keys_match(ek, "v1.api.example.com", k.pin), "backup");
    cr_assert_str_eq(expected_keys_match(ek, "img.example.com", k.pin), "cdn");
    expected_keys_free(ek);
}

Test(expected_keys, load_file_and_round_trip)
{
    uint8_t a[32], b[32];
    char a64[PIN_B64_LEN + 1], b64[PIN_B64_LEN + 1], doc[1024];
    fill_pin(a, 70);
    fill_pin(b, 80);
    pin_to_base64(a, a64);
    pin_to_base64(b, b64);
    snprintf(doc, sizeof(doc),
             "{\"hosts\": {\"api.example.com\": {\"keys\": [{\"pin\": \"%s\", \"label\": "
             "\"current\"}]}, \"*.cdn.example.net\": {\"keys\": [{\"pin\": \"%s\", \"label\": "
             "\"cdn\"}]}}}",
             a64, b64);
    char *path = testenv_write_temp(doc);
    struct expected_keys *ek = expected_keys_new();
    cr_assert_eq(expected_keys_load_file(ek, path, NULL), ERR_OK);
    cr_assert_str_eq(expected_keys_match(ek, "api.example.com", a), "current");
    cr_assert_str_eq(expected_keys_match(ek, "x.cdn.example.net", b), "cdn");

    json_t *all = expected_keys_to_json(ek);
    struct expected_keys *copy = expected_keys_new();
    cr_assert_eq(expected_keys_load_json(copy, all, NULL), ERR_OK);
    json_t *again = expected_keys_to_json(copy);
    cr_assert(json_equal(all, again), "to_json/load_json round trip differs");
    json_decref(all);
    json_decref(again);
    expected_keys_free(copy);
    expected_keys_free(ek);
    unlink(path);
    free(path);
}

Test(expected_keys, load_is_all_or_nothing)
{
    uint8_t a[32];
    char a64[PIN_B64_LEN + 1];
    fill_pin(a, 90);
    pin_to_base64(a, a64);
    json_t *doc = json_pack("{s:{s:{s:[{s:s,s:s}]}, s:{s:[{s:s,s:s}]}}}", "hosts", "good.example",
                            "keys", "pin", a64, "label", "current", "bad.example", "keys", "pin",
                            a64, "label", "nonsense");
    struct expected_keys *ek = expected_keys_new();
    struct err err;
    cr_assert_eq(expected_keys_load_json(ek, doc, &err), ERR_INVALID);
    cr_assert_str_eq(err.key, "invalid_label");
    cr_assert(strstr(err.detail, "bad.example") != NULL, "%s", err.detail);
    cr_assert_null(expected_keys_match(ek, "good.example", a), "partial load");
    json_decref(doc);

    char *path = testenv_write_temp("{\"hosts\": ");
    cr_assert_eq(expected_keys_load_file(ek, path, &err), ERR_INVALID);
    cr_assert_str_eq(err.key, "invalid_json");
    unlink(path);
    free(path);
    cr_assert_eq(expected_keys_load_file(ek, "/nonexistent/keys.json", NULL), ERR_INVALID);
    expected_keys_free(ek);
}

struct race {
    struct expected_keys *ek;
    uint8_t pin[32];
    int bad;
};

static void *reader(void *arg)
{
    struct race *r = arg;
    for (int i = 0; i < 20000; i++) {
        const char *l = expected_keys_match(r->ek, "www.example.com", r->pin);
        if (l != NULL && strcmp(l, "current") != 0 && strcmp(l, "backup") != 0)
            __atomic_add_fetch(&r->bad, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

Test(expected_keys, concurrent_replace_and_match)
{
    struct race r = {.ek = expected_keys_new()};
    fill_pin(r.pin, 100);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, reader, &r), 0);
    for (int i = 0; i < 2000; i++) {
        struct expected_key k = {.label = i % 2 ? EXPECTED_KEYS_CURRENT : EXPECTED_KEYS_BACKUP};
        memcpy(k.pin, r.pin, 32);
        cr_assert_eq(expected_keys_set_host(r.ek, "www.example.com", &k, i % 3 ? 1 : 0, NULL),
                     ERR_OK);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(r.bad, 0);
    expected_keys_free(r.ek);
}
