/*
 * fuzz_pin — pin_parse_entry (every known-pins entry of a report), and the base64 and hex
 * decoders under it. Invariants: an accepted entry round-trips through the canonical base64
 * form; the lenient base64 decoder agrees with a strict re-encoding of what it decoded.
 */
#include <openssl/evp.h>
#include <string.h>

#include "base/codec.h"
#include "fuzz_check.h"
#include "report/pin.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

static void pn_check_entry(const char *entry, size_t len)
{
    uint8_t pin[PIN_LEN];
    struct err err;
    memset(&err, 0, sizeof(err));
    enum err_code rc = pin_parse_entry(entry, len, pin, &err);
    if (rc != ERR_OK) {
        FUZZ_CHECK(rc == ERR_INVALID);
        FUZZ_CHECK(strcmp(err.key, "unrecognized_pin") == 0);
        return;
    }
    char b64[PIN_B64_LEN + 1];
    pin_to_base64(pin, b64);
    FUZZ_CHECK(strlen(b64) == PIN_B64_LEN);
    char canonical[64];
    int n = snprintf(canonical, sizeof(canonical), "pin-sha256=\"%s\"", b64);
    uint8_t again[PIN_LEN];
    FUZZ_CHECK(pin_parse_entry(canonical, (size_t)n, again, NULL) == ERR_OK);
    FUZZ_CHECK(memcmp(pin, again, PIN_LEN) == 0);
    FUZZ_CHECK(pin_from_base64(b64, PIN_B64_LEN, again, NULL) == ERR_OK);
    FUZZ_CHECK(memcmp(pin, again, PIN_LEN) == 0);
    char hex[PIN_HEX_LEN + 1];
    codec_hex_encode(pin, PIN_LEN, hex);
    FUZZ_CHECK(codec_hex_decode(hex, again, PIN_LEN, NULL) == ERR_OK);
    FUZZ_CHECK(memcmp(pin, again, PIN_LEN) == 0);
}

static void pn_check_base64(const char *in, size_t len)
{
    unsigned char *out = NULL;
    size_t out_len = 0;
    struct err err;
    memset(&err, 0, sizeof(err));
    enum err_code rc = codec_base64_decode(in, len, &out, &out_len, &err);
    if (rc != ERR_OK) {
        FUZZ_CHECK(rc == ERR_INVALID && strcmp(err.key, "invalid_base64") == 0);
        FUZZ_CHECK(out == NULL);
        return;
    }
    FUZZ_CHECK(out != NULL);
    FUZZ_CHECK(out_len <= len / 4 * 3 + 3);
    /* Re-encode strictly, decode again: the same bytes. */
    unsigned char *enc = malloc(4 * ((out_len + 2) / 3) + 1);
    FUZZ_CHECK(enc != NULL);
    int elen = EVP_EncodeBlock(enc, out, (int)out_len);
    unsigned char *back = NULL;
    size_t back_len = 0;
    FUZZ_CHECK(codec_base64_decode((const char *)enc, (size_t)elen, &back, &back_len, NULL) ==
               ERR_OK);
    FUZZ_CHECK(back_len == out_len && memcmp(back, out, out_len) == 0);
    free(back);
    free(enc);
    free(out);
}

int FUZZ_ENTRY(const uint8_t *data, size_t size);
int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    /* Exact-size copies (no terminator) so that any read past len is an ASan report. */
    char *entry = malloc(size ? size : 1);
    FUZZ_CHECK(entry != NULL);
    memcpy(entry, data, size);
    pn_check_entry(entry, size);
    pn_check_base64(entry, size);
    free(entry);

    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    uint8_t bytes[PIN_LEN];
    if (codec_hex_decode(text, bytes, PIN_LEN, NULL) == ERR_OK) {
        char hex[PIN_HEX_LEN + 1];
        codec_hex_encode(bytes, PIN_LEN, hex);
        for (size_t i = 0; i < PIN_HEX_LEN; i++)
            FUZZ_CHECK(hex[i] == text[i] || hex[i] == text[i] - 'A' + 'a');
    }
    free(text);
    return 0;
}
