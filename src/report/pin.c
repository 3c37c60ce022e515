#include "report/pin.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/codec.h"

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

enum err_code pin_from_base64(const char *b64, size_t len, uint8_t out[PIN_LEN], struct err *err)
{
    unsigned char *bytes = NULL;
    size_t n = 0;
    enum err_code rc = codec_base64_decode(b64, len, &bytes, &n, err);
    if (rc == ERR_NOMEM)
        return rc;
    if (rc != ERR_OK)
        return err_set(err, ERR_INVALID, "invalid_pin", "pin is not base64");
    if (n != PIN_LEN) {
        free(bytes);
        return err_set(err, ERR_INVALID, "invalid_pin", "pin decodes to %zu bytes, not %d", n,
                       PIN_LEN);
    }
    memcpy(out, bytes, PIN_LEN);
    free(bytes);
    return ERR_OK;
}

enum err_code pin_parse_entry(const char *entry, size_t len, uint8_t out[PIN_LEN], struct err *err)
{
    static const char token[] = "pin-sha256";
    const size_t token_len = sizeof(token) - 1;
    size_t i = 0, end = len;

    if (entry == NULL)
        return err_set(err, ERR_INVALID, "unrecognized_pin", "no entry");
    while (i < end && is_ws(entry[i]))
        i++;
    while (end > i && is_ws(entry[end - 1]))
        end--;
    if (end - i < token_len || strncasecmp(entry + i, token, token_len) != 0)
        return err_set(err, ERR_INVALID, "unrecognized_pin", "not a pin-sha256 entry");
    i += token_len;
    while (i < end && is_ws(entry[i]))
        i++;
    if (i >= end || entry[i] != '=')
        return err_set(err, ERR_INVALID, "unrecognized_pin", "no '=' after pin-sha256");
    i++;
    while (i < end && is_ws(entry[i]))
        i++;
    /* RFC 7469 says quoted-string; clients also send the bare value. */
    if (i < end && (entry[i] == '"' || entry[i] == '\'')) {
        char q = entry[i];
        if (end - i < 2 || entry[end - 1] != q)
            return err_set(err, ERR_INVALID, "unrecognized_pin", "unbalanced quotes");
        i++;
        end--;
    }
    if (memchr(entry + i, '"', end - i) != NULL || memchr(entry + i, '\'', end - i) != NULL)
        return err_set(err, ERR_INVALID, "unrecognized_pin", "stray quote in value");
    if (pin_from_base64(entry + i, end - i, out, err) != ERR_OK)
        return err_set(err, ERR_INVALID, "unrecognized_pin", "value is not base64 of %d bytes",
                       PIN_LEN);
    return ERR_OK;
}

void pin_to_base64(const uint8_t pin[PIN_LEN], char out[PIN_B64_LEN + 1])
{
    codec_base64_encode(pin, PIN_LEN, out);
}

static int pin_cmp(const void *a, const void *b)
{
    return memcmp(a, b, PIN_LEN);
}

size_t pin_sort_unique(uint8_t (*pins)[PIN_LEN], size_t n)
{
    if (pins == NULL || n < 2)
        return n;
    qsort(pins, n, PIN_LEN, pin_cmp);
    size_t w = 1;
    for (size_t r = 1; r < n; r++) {
        if (memcmp(pins[r], pins[w - 1], PIN_LEN) != 0) {
            if (w != r)
                memcpy(pins[w], pins[r], PIN_LEN);
            w++;
        }
    }
    return w;
}

bool pin_in_set(const uint8_t pin[PIN_LEN], const uint8_t (*pins)[PIN_LEN], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (memcmp(pin, pins[i], PIN_LEN) == 0)
            return true;
    }
    return false;
}
