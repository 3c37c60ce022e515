/*
 * codec — the byte encodings pinwatch reads and writes: lower-case hex and base64. Pure.
 *
 * Encoding is canonical (lower-case hex; standard base64 with '=' padding, OpenSSL's
 * EVP_EncodeBlock). Decoding base64 is lenient, because pins and certificates arrive in every
 * spelling: standard (+/) or URL-safe (-_) alphabet, with or without padding, whitespace
 * anywhere; the decoding itself is OpenSSL's EVP_DecodeBlock.
 */
#ifndef CODEC_H
#define CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Characters of the hex text of n bytes, without the NUL. */
#define CODEC_HEX_LEN(n) (2 * (n))
/* Characters of the padded base64 text of n bytes, without the NUL. */
#define CODEC_BASE64_LEN(n) (4 * (((n) + 2) / 3))

/* Lower-case hex of n bytes into out, which holds CODEC_HEX_LEN(n) + 1 bytes (NUL-terminated). */
void codec_hex_encode(const uint8_t *in, size_t n, char *out);

/*
 * Decode exactly 2 * n hex digits (either case, nothing else, NUL-terminated) into n bytes.
 * ERR_INVALID with key "invalid_hex" otherwise; out is untouched on failure.
 */
enum err_code codec_hex_decode(const char *hex, uint8_t *out, size_t n,
                               struct err *err) ERR_MUSTCHECK;

/* Standard padded base64 of n bytes into out, which holds CODEC_BASE64_LEN(n) + 1 bytes
 * (NUL-terminated). */
void codec_base64_encode(const uint8_t *in, size_t n, char *out);

/*
 * Decode base64 in any common spelling (see above). On success *out is a new buffer (caller
 * frees; never NULL, even for empty input) of *out_len bytes. ERR_INVALID (key
 * "invalid_base64") for a character outside both alphabets, data after the padding, more
 * padding than the length allows, or a length no base64 text has (4k + 1 characters).
 */
enum err_code codec_base64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len,
                                  struct err *err) ERR_MUSTCHECK;

#endif
