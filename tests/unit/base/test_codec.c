/* codec: hex and base64, canonical out, lenient in, and what is not an encoding at all. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdlib.h>
#include <string.h>

#include "base/codec.h"

/* The first known pin of the TrustKit doc samples, and its bytes in hex (openssl base64 -d). */
#define PIN_A     "rFjc3wG7lTZe43zeYTvPq8k4xdDEutCmIhI5dn4oCeE="
#define PIN_A_HEX "ac58dcdf01bb95365ee37cde613bcfabc938c5d0c4bad0a6221239767e2809e1"

Test(codec, base64_decode_edge_cases)
{
    unsigned char *out = NULL;
    size_t n = 0;
    struct err err = {0};
    cr_assert_eq(codec_base64_decode("aGVsbG8=", 8, &out, &n, NULL), ERR_OK);
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(out, "hello", 5), 0);
    free(out);
    cr_assert_eq(codec_base64_decode(" aGVs\r\nbG8 ", 11, &out, &n, NULL), ERR_OK);
    cr_assert_eq(n, 5);
    free(out);
    cr_assert_eq(codec_base64_decode("aGVsbA", 6, &out, &n, NULL), ERR_OK); /* no padding */
    cr_assert_eq(n, 4);
    cr_assert_eq(memcmp(out, "hell", 4), 0);
    free(out);
    cr_assert_eq(codec_base64_decode("", 0, &out, &n, NULL), ERR_OK);
    cr_assert_eq(n, 0);
    free(out);
    const char *bad[] = {"a", "aGVsbG8=x", "aGV=sbG8", "aGVsbA===", "aGVs*G8=", "a=="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(codec_base64_decode(bad[i], strlen(bad[i]), &out, &n, &err), ERR_INVALID, "%s",
                     bad[i]);
        cr_assert_str_eq(err.key, "invalid_base64");
    }
}

Test(codec, hex_round_trip_of_a_pin)
{
    unsigned char *pin = NULL;
    size_t n = 0;
    uint8_t back[32];
    char hex[CODEC_HEX_LEN(32) + 1];
    cr_assert_eq(codec_base64_decode(PIN_A, strlen(PIN_A), &pin, &n, NULL), ERR_OK);
    cr_assert_eq(n, 32);
    codec_hex_encode(pin, 32, hex);
    cr_assert_eq(strlen(hex), 64);
    cr_assert_str_eq(hex, PIN_A_HEX);
    for (char *p = hex; *p; p++)
        *p = (char)(*p >= 'a' ? *p - 32 : *p); /* upper case decodes too */
    cr_assert_eq(codec_hex_decode(hex, back, 32, NULL), ERR_OK);
    cr_assert_eq(memcmp(pin, back, 32), 0);
    struct err err = {0};
    cr_assert_eq(codec_hex_decode("abc", back, 32, &err), ERR_INVALID);
    cr_assert_str_eq(err.key, "invalid_hex");
    char bad[CODEC_HEX_LEN(32) + 1];
    memset(bad, 'a', 64);
    bad[64] = '\0';
    bad[10] = 'g';
    cr_assert_eq(codec_hex_decode(bad, back, 32, NULL), ERR_INVALID);
    cr_assert_eq(memcmp(pin, back, 32), 0, "untouched on failure");
    free(pin);
}

/* RFC 4648 §10 test vectors. Criterion runs each parameter in a new process, so the
 * parameters hold their text rather than pointers into this one. */
struct b64_vector {
    char raw[8];
    char b64[12];
};

ParameterizedTestParameters(codec, rfc4648_vectors)
{
    static struct b64_vector v[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    return cr_make_param_array(struct b64_vector, v, sizeof(v) / sizeof(v[0]));
}

ParameterizedTest(struct b64_vector *v, codec, rfc4648_vectors)
{
    size_t raw_len = strlen(v->raw);
    char enc[16];
    codec_base64_encode((const uint8_t *)v->raw, raw_len, enc);
    cr_assert_str_eq(enc, v->b64);
    cr_assert_eq(strlen(enc), CODEC_BASE64_LEN(raw_len));

    /* padded, and with the padding left off (as URL-safe senders do) */
    for (int strip = 0; strip < 2; strip++) {
        size_t len = strlen(v->b64);
        while (strip && len > 0 && v->b64[len - 1] == '=')
            len--;
        unsigned char *out = NULL;
        size_t n = 99;
        cr_assert_eq(codec_base64_decode(v->b64, len, &out, &n, NULL), ERR_OK, "%s", v->b64);
        cr_assert_not_null(out);
        cr_assert_eq(n, raw_len, "%s (strip %d)", v->b64, strip);
        cr_assert_eq(memcmp(out, v->raw, raw_len), 0);
        free(out);
    }
}

Test(codec, base64_both_alphabets_and_partial_padding)
{
    /* 0xfb 0xff: "+/8=" in the standard alphabet, "-_8" URL-safe */
    const char *spellings[] = {"+/8=", "-_8", "-_8=", "+/8", " + / 8 = "};
    for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
        unsigned char *out = NULL;
        size_t n = 0;
        cr_assert_eq(codec_base64_decode(spellings[i], strlen(spellings[i]), &out, &n, NULL),
                     ERR_OK, "%s", spellings[i]);
        cr_assert_eq(n, 2);
        cr_assert_eq(out[0], 0xfb);
        cr_assert_eq(out[1], 0xff);
        free(out);
    }
    /* one '=' of the two a 1-byte tail needs is still the same byte */
    unsigned char *out = NULL;
    size_t n = 0;
    cr_assert_eq(codec_base64_decode("Zg=", 3, &out, &n, NULL), ERR_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0], 'f');
    free(out);
}

Test(codec, base64_malformed_input_is_refused_not_guessed)
{
    const char *bad[] = {
        "Zg===",    /* more padding than the length allows */
        "Zm9v=",    /* padding after a whole group */
        "====",     /* padding alone */
        "Z",        /* 4k + 1 characters: no base64 text is that long */
        "Zm9vY",    /* same, after a whole group */
        "Zg==Zg==", /* data after padding */
        "Zm9\xff",  /* a byte outside ASCII */
        "Zm9v.",    /* punctuation */
        "Zm\0v",    /* an embedded NUL (length given explicitly) */
    };
    size_t lens[] = {5, 5, 4, 1, 5, 8, 4, 5, 4};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char *out = (unsigned char *)"untouched";
        size_t n = 7;
        struct err err = {0};
        cr_assert_eq(codec_base64_decode(bad[i], lens[i], &out, &n, &err), ERR_INVALID, "%zu", i);
        cr_assert_str_eq(err.key, "invalid_base64", "%zu", i);
        cr_assert_str_eq((const char *)out, "untouched", "%zu: output untouched", i);
        cr_assert_eq(n, 7);
    }
    struct err err = {0};
    unsigned char *out = NULL;
    size_t n = 0;
    cr_assert_eq(codec_base64_decode(NULL, 4, &out, &n, &err), ERR_INVALID);
    cr_assert_eq(codec_base64_decode(NULL, 0, &out, &n, NULL), ERR_OK, "nothing is empty");
    cr_assert_eq(n, 0);
    free(out);
}

Test(codec, base64_of_binary_round_trips_at_every_length)
{
    uint8_t raw[200];
    for (size_t i = 0; i < sizeof(raw); i++)
        raw[i] = (uint8_t)(i * 37 + 11);
    char enc[CODEC_BASE64_LEN(sizeof(raw)) + 1];
    for (size_t len = 0; len <= sizeof(raw); len++) {
        codec_base64_encode(raw, len, enc);
        cr_assert_eq(strlen(enc), CODEC_BASE64_LEN(len));
        unsigned char *out = NULL;
        size_t n = 0;
        cr_assert_eq(codec_base64_decode(enc, strlen(enc), &out, &n, NULL), ERR_OK);
        cr_assert_eq(n, len);
        cr_assert_eq(memcmp(out, raw, len), 0);
        free(out);
    }
}

Test(codec, hex_encode_is_lower_case_and_decode_is_exact)
{
    const uint8_t bytes[] = {0x00, 0x01, 0xab, 0xcd, 0xef, 0xff};
    char hex[CODEC_HEX_LEN(sizeof(bytes)) + 1];
    codec_hex_encode(bytes, sizeof(bytes), hex);
    cr_assert_str_eq(hex, "0001abcdefff");
    codec_hex_encode(bytes, 0, hex);
    cr_assert_str_eq(hex, "");

    uint8_t out[3] = {7, 7, 7};
    cr_assert_eq(codec_hex_decode("", out, 0, NULL), ERR_OK);
    cr_assert_eq(codec_hex_decode("AbCdEf", out, 3, NULL), ERR_OK);
    cr_assert_eq(out[0], 0xab);
    cr_assert_eq(out[2], 0xef);
    const char *bad[] = {"abcde", "abcdef00", " abcde", "abcde ", "0xabcd", "ab-cde", "abcdeg"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct err err = {0};
        cr_assert_eq(codec_hex_decode(bad[i], out, 3, &err), ERR_INVALID, "%s", bad[i]);
        cr_assert_str_eq(err.key, "invalid_hex");
        cr_assert_eq(out[0], 0xab, "%s: untouched", bad[i]);
    }
    cr_assert_eq(codec_hex_decode(NULL, out, 3, NULL), ERR_INVALID);
}
