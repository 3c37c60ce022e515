#include "report/pin.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool is_b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

enum err_code pin_base64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len,
                                struct err *err)
{
    enum err_code rc = ERR_OK;
    char *norm = NULL;
    unsigned char *buf = NULL;
    size_t n = 0, pad_seen = 0;

    if (in == NULL && len > 0)
        return err_set(err, ERR_INVALID, "invalid_base64", "no input");
    if (len > (size_t)INT_MAX - 8)
        return err_set(err, ERR_INVALID, "invalid_base64", "input too long");

    /* Rewrite into the standard alphabet without whitespace, so that OpenSSL's strict
     * decoder can do the decoding itself. */
    norm = malloc(len + 4);
    if (norm == NULL) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (is_ws(c))
            continue;
        if (c == '=') {
            pad_seen++;
            continue;
        }
        if (pad_seen > 0) {
            rc = err_set(err, ERR_INVALID, "invalid_base64", "data after '=' padding");
            goto out;
        }
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        if (!is_b64_char(c)) {
            rc = err_set(err, ERR_INVALID, "invalid_base64", "character 0x%02x is not base64",
                         (unsigned)(unsigned char)c);
            goto out;
        }
        norm[n++] = c;
    }
    size_t missing = (4 - n % 4) % 4;
    if (n % 4 == 1 || pad_seen > missing) {
        rc = err_set(err, ERR_INVALID, "invalid_base64", "base64 length is impossible");
        goto out;
    }
    for (size_t i = 0; i < missing; i++)
        norm[n++] = '=';
    norm[n] = '\0';

    buf = malloc(n / 4 * 3 + 1);
    if (buf == NULL) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    /* EVP_DecodeBlock decodes '=' as zero bits, so the padding bytes come back as zeros and
     * are dropped from the length below. */
    int got = n > 0 ? EVP_DecodeBlock(buf, (const unsigned char *)norm, (int)n) : 0;
    if (got < 0 || (size_t)got < missing) {
        rc = err_set(err, ERR_INVALID, "invalid_base64", "not base64");
        goto out;
    }
    *out = buf;
    *out_len = (size_t)got - missing;
    buf = NULL;
out:
    free(norm);
    free(buf);
    return rc;
}

enum err_code pin_from_base64(const char *b64, size_t len, uint8_t out[PIN_LEN], struct err *err)
{
    unsigned char *bytes = NULL;
    size_t n = 0;
    enum err_code rc = pin_base64_decode(b64, len, &bytes, &n, err);
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
    EVP_EncodeBlock((unsigned char *)out, pin, PIN_LEN);
}

void pin_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

enum err_code pin_hex_decode(const char *hex, uint8_t *out, size_t n, struct err *err)
{
    if (hex == NULL || strlen(hex) != 2 * n)
        return err_set(err, ERR_INVALID, "invalid_hex", "expected %zu hex digits", 2 * n);
    for (size_t i = 0; i < 2 * n; i++) {
        if (hex_value(hex[i]) < 0)
            return err_set(err, ERR_INVALID, "invalid_hex", "not a hex digit");
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
    return ERR_OK;
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
