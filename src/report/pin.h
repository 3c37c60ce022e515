/*
 * pin — SPKI pins (SHA-256 of a SubjectPublicKeyInfo, 32 bytes) and the byte encodings around
 * them: lenient base64 decoding (standard or URL-safe alphabet, padding optional, whitespace
 * ignored), canonical base64 (standard, padded, 44 characters), lower-case hex. Pure.
 */
#ifndef PIN_H
#define PIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define PIN_LEN     32 /* SHA-256 */
#define PIN_B64_LEN 44 /* standard base64 with padding, without the NUL */
#define PIN_HEX_LEN 64 /* lower-case hex, without the NUL */

/*
 * Decode base64 in any common spelling: standard (+/) or URL-safe (-_) alphabet, with or
 * without '=' padding, ASCII whitespace anywhere ignored. Decoding itself is OpenSSL's.
 * On success *out is a new buffer (caller frees; never NULL, even for empty input) of
 * *out_len bytes. ERR_INVALID (key "invalid_base64") for anything else.
 */
enum err_code pin_base64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len,
                                struct err *err) ERR_MUSTCHECK;

/*
 * Decode one pin given as bare base64 (any spelling, see pin_base64_decode) that must be
 * exactly 32 bytes. ERR_INVALID with key "invalid_pin" otherwise. Used for known-pins and for
 * operator-declared expected keys.
 */
enum err_code pin_from_base64(const char *b64, size_t len, uint8_t out[PIN_LEN],
                              struct err *err) ERR_MUSTCHECK;

/*
 * Parse one RFC 7469 known-pins entry, `pin-sha256="<base64>"`: token case-insensitive,
 * whitespace around the token, '=' and value ignored, quotes optional. Anything else
 * (pin-sha1, another token, garbage, not 32 bytes) is ERR_INVALID with key "unrecognized_pin".
 */
enum err_code pin_parse_entry(const char *entry, size_t len, uint8_t out[PIN_LEN],
                              struct err *err) ERR_MUSTCHECK;

/* Canonical form: standard base64 with padding, NUL-terminated (out holds 45 bytes). */
void pin_to_base64(const uint8_t pin[PIN_LEN], char out[PIN_B64_LEN + 1]);

/* Lower-case hex of n bytes into out, which must hold 2 * n + 1 bytes (NUL-terminated). */
void pin_hex_encode(const uint8_t *in, size_t n, char *out);

/*
 * Decode exactly 2 * n hex digits (either case, nothing else, NUL-terminated) into n bytes.
 * ERR_INVALID with key "invalid_hex" otherwise; out is untouched on failure.
 */
enum err_code pin_hex_decode(const char *hex, uint8_t *out, size_t n,
                             struct err *err) ERR_MUSTCHECK;

/* Sort pins (memcmp order) and drop duplicates in place; returns the new count. */
size_t pin_sort_unique(uint8_t (*pins)[PIN_LEN], size_t n);

/* True when pin is one of the n pins (linear scan; sets are small). */
bool pin_in_set(const uint8_t pin[PIN_LEN], const uint8_t (*pins)[PIN_LEN], size_t n);

#endif
