#include "base/uuid.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <string.h>

#include "base/codec.h"

bool uuid_v7(int64_t unix_usec, char out[UUID_STR_LEN])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1)
        return false;
    uint64_t ms = (uint64_t)(unix_usec / 1000);
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    /* 8-4-4-4-12 hex digits: the groups are 4, 2, 2, 2 and 6 bytes. */
    static const size_t groups[] = {4, 2, 2, 2, 6};
    const unsigned char *in = b;
    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        if (g > 0)
            *out++ = '-';
        codec_hex_encode(in, groups[g], out);
        in += groups[g];
        out += 2 * groups[g];
    }
    return true;
}

bool uuid_valid(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}
