/* pin: known-pins entries in every spelling (the encodings: test_codec.c). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdlib.h>
#include <string.h>

#include "report/pin.h"

/* The first known pin of the TrustKit doc samples, and its bytes in hex (openssl base64 -d). */
#define PIN_A "rFjc3wG7lTZe43zeYTvPq8k4xdDEutCmIhI5dn4oCeE="

static void expect_pin_a(const uint8_t pin[PIN_LEN])
{
    char b64[PIN_B64_LEN + 1];
    pin_to_base64(pin, b64);
    cr_assert_str_eq(b64, PIN_A);
}

/* Parameters hold their text: Criterion runs each one in a process of its own. */
struct entry {
    char text[96];
};

ParameterizedTestParameters(pin, entry_spellings)
{
    static struct entry ok[] = {
        {"pin-sha256=\"" PIN_A "\""},                                   /* TrustKit, RFC 7469 */
        {"pin-sha256=" PIN_A},                                          /* quotes missing */
        {"  PIN-SHA256 = \"" PIN_A "\"  "},                             /* token case, whitespace */
        {"Pin-Sha256='" PIN_A "'"},                                     /* single quotes */
        {"pin-sha256=\"rFjc3wG7lTZe43zeYTvPq8k4xdDEutCmIhI5dn4oCeE\""}, /* no padding */
        {"pin-sha256=\"rFjc3wG7lTZe43zeYTvPq8k4xdDEutCmIhI5dn4oCeE=\"\n"},
    };
    return cr_make_param_array(struct entry, ok, sizeof(ok) / sizeof(ok[0]));
}

ParameterizedTest(struct entry *e, pin, entry_spellings)
{
    uint8_t pin[PIN_LEN];
    struct err err = {0};
    cr_assert_eq(pin_parse_entry(e->text, strlen(e->text), pin, &err), ERR_OK, "%s: %s", e->text,
                 err.detail);
    expect_pin_a(pin);
}

/* A pin whose base64 has + and /, spelled URL-safe and unpadded. */
Test(pin, url_safe_alphabet)
{
    const char *std = "TQEtdMbmwFgYUifM4LDF+xgEtd0z69mPGmkp014d6ZY=";
    const char *url = "pin-sha256=\"TQEtdMbmwFgYUifM4LDF-xgEtd0z69mPGmkp014d6ZY\"";
    uint8_t a[PIN_LEN], b[PIN_LEN];
    cr_assert_eq(pin_from_base64(std, strlen(std), a, NULL), ERR_OK);
    cr_assert_eq(pin_parse_entry(url, strlen(url), b, NULL), ERR_OK);
    cr_assert_eq(memcmp(a, b, PIN_LEN), 0);
    char out[PIN_B64_LEN + 1];
    pin_to_base64(b, out);
    cr_assert_str_eq(out, std);
    const char *slash = "HXXQgxueCIU5TTLHob_bPbwcKOKw6DkfsTWYHbxbqTY";
    cr_assert_eq(pin_from_base64(slash, strlen(slash), a, NULL), ERR_OK);
    pin_to_base64(a, out);
    cr_assert_str_eq(out, "HXXQgxueCIU5TTLHob/bPbwcKOKw6DkfsTWYHbxbqTY=");
}

ParameterizedTestParameters(pin, not_pins)
{
    static struct entry bad[] = {
        {"pin-sha1=\"d6qzRu9zOECb90Uez27xWltNsj0=\""},   /* other hash */
        {"pin-sha256=\"d6qzRu9zOECb90Uez27xWltNsj0=\""}, /* 20 bytes */
        {"pin-sha256=\"" PIN_A "\"; max-age=3"},         /* header syntax, not an entry */
        {"pin-sha256=\"" PIN_A},                         /* unbalanced quote */
        {"pin-sha256"},
        {"pin-sha256="},
        {"pin-sha256=\"\""},
        {"pin-sha256=\"not base64!\""},
        {"pin-sha256=\"" PIN_A "AAAA\""}, /* 35 bytes */
        {"sha256/" PIN_A},                /* OkHttp spelling is not RFC 7469 */
        {PIN_A},
        {""},
        {"garbage"},
    };
    return cr_make_param_array(struct entry, bad, sizeof(bad) / sizeof(bad[0]));
}

ParameterizedTest(struct entry *e, pin, not_pins)
{
    uint8_t pin[PIN_LEN];
    struct err err = {0};
    cr_assert_eq(pin_parse_entry(e->text, strlen(e->text), pin, &err), ERR_INVALID, "%s", e->text);
    cr_assert_str_eq(err.key, "unrecognized_pin", "%s", e->text);
}

Test(pin, sort_unique)
{
    uint8_t pins[5][PIN_LEN];
    memset(pins, 0, sizeof(pins));
    pins[0][0] = 3;
    pins[1][0] = 1;
    pins[2][0] = 3;
    pins[3][0] = 2;
    pins[4][0] = 1;
    size_t n = pin_sort_unique(pins, 5);
    cr_assert_eq(n, 3);
    cr_assert_eq(pins[0][0], 1);
    cr_assert_eq(pins[1][0], 2);
    cr_assert_eq(pins[2][0], 3);
    cr_assert(pin_in_set(pins[1], (const uint8_t(*)[PIN_LEN])pins, n));
    uint8_t other[PIN_LEN] = {9};
    cr_assert_not(pin_in_set(other, (const uint8_t(*)[PIN_LEN])pins, n));
    cr_assert_eq(pin_sort_unique(pins, 0), 0);
}
