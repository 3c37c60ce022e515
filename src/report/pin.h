/*
 * pin — SPKI pins (SHA-256 of a SubjectPublicKeyInfo, 32 bytes): RFC 7469 entries, bare base64
 * pins in any spelling and their canonical form (standard, padded, 44 characters). The
 * encodings themselves are base/codec's. Pure.
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
 * Decode one pin given as bare base64 (any spelling, see codec_base64_decode) that must be
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

/* Sort pins (memcmp order) and drop duplicates in place; returns the new count. */
size_t pin_sort_unique(uint8_t (*pins)[PIN_LEN], size_t n);

/* True when pin is one of the n pins (linear scan; sets are small). */
bool pin_in_set(const uint8_t pin[PIN_LEN], const uint8_t (*pins)[PIN_LEN], size_t n);

#endif
