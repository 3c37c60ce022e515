/* uuid — UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version, 74 random bits. Report ids are
 * assigned before anything is written, so a replay after a crash is idempotent. */
#ifndef UUID_H
#define UUID_H

#include <stdbool.h>
#include <stdint.h>

#define UUID_STR_LEN 37 /* 36 characters and the NUL */

/* Write a new UUIDv7 for the given Unix microseconds into out (lower-case, hyphenated). */
bool uuid_v7(int64_t unix_usec, char out[UUID_STR_LEN]);
/* true when s is a canonical hyphenated UUID (any version). */
bool uuid_valid(const char *s);

#endif
