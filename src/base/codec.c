#include "base/codec.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

void codec_hex_encode(const uint8_t *in, size_t n, char *out)
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

enum err_code codec_hex_decode(const char *hex, uint8_t *out, size_t n, struct err *err)
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

void codec_base64_encode(const uint8_t *in, size_t n, char *out)
{
    /* EVP_EncodeBlock takes an int: whole groups of three bytes at a time keep the pieces
     * concatenable (no padding inside). */
    const size_t chunk = (size_t)3 << 28;
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        out += EVP_EncodeBlock((unsigned char *)out, in + off, (int)k);
    }
    *out = '\0';
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool is_b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Rewrite in into norm (len + 4 bytes) in the standard alphabet, without whitespace and with
 * exactly the padding its length needs; *missing is how many '=' that took. */
static enum err_code normalize(const char *in, size_t len, char *norm, size_t *norm_len,
                               size_t *missing, struct err *err)
{
    size_t n = 0, pad_seen = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (is_ws(c))
            continue;
        if (c == '=') {
            pad_seen++;
            continue;
        }
        if (pad_seen > 0)
            return err_set(err, ERR_INVALID, "invalid_base64", "data after '=' padding");
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        if (!is_b64_char(c))
            return err_set(err, ERR_INVALID, "invalid_base64", "character 0x%02x is not base64",
                           (unsigned)(unsigned char)c);
        norm[n++] = c;
    }
    *missing = (4 - n % 4) % 4;
    if (n % 4 == 1 || pad_seen > *missing)
        return err_set(err, ERR_INVALID, "invalid_base64", "base64 length is impossible");
    for (size_t i = 0; i < *missing; i++)
        norm[n++] = '=';
    norm[n] = '\0';
    *norm_len = n;
    return ERR_OK;
}

enum err_code codec_base64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len,
                                  struct err *err)
{
    enum err_code rc = ERR_OK;
    char *norm = NULL;
    unsigned char *buf = NULL;
    size_t n = 0, missing = 0;

    if (in == NULL && len > 0)
        return err_set(err, ERR_INVALID, "invalid_base64", "no input");
    if (len > (size_t)INT_MAX - 8)
        return err_set(err, ERR_INVALID, "invalid_base64", "input too long");
    norm = malloc(len + 4);
    if (norm == NULL) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    if ((rc = normalize(in, len, norm, &n, &missing, err)) != ERR_OK)
        goto out;
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
