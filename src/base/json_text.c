#include "base/json_text.h"

char *json_text_dump(const json_t *v)
{
    return v != NULL ? json_dumps(v, JSON_TEXT_FLAGS) : NULL;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r'; /* RFC 8259 whitespace */
}

size_t json_text_compact(char *text, size_t len)
{
    size_t out = 0;
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            text[out++] = c;
            if (c == '\\' && i + 1 < len)
                text[out++] = text[++i];
            else if (c == '"')
                in_string = 0;
        } else if (!is_blank(c)) {
            text[out++] = c;
            in_string = c == '"';
        }
    }
    if (out < len)
        text[out] = '\0';
    return out;
}
