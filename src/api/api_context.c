#include "api/api_context.h"

#include <string.h>

static const char *const reject_names[] = {
    "invalid_json",    "json_too_deep",          "unknown_format",
    "missing_field",   "invalid_field",          "too_many_items",
    "string_too_long", "too_many_certificates",  "too_many_pins",
    "app_not_allowed", "host_not_allowed",       "rate_limited",
    "body_too_large",  "unsupported_media_type", "other"};
#define N_REJECT (sizeof(reject_names) / sizeof(reject_names[0]))

size_t api_context_reject_slot(const char *key)
{
    for (size_t i = 0; i + 1 < N_REJECT; i++) {
        if (key != NULL && strcmp(key, reject_names[i]) == 0)
            return i;
    }
    return N_REJECT - 1;
}

const char *api_context_reject_name(size_t slot)
{
    return slot < N_REJECT ? reject_names[slot] : NULL;
}
