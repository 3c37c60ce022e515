/*
 * json_text — the one formatting of every JSON text pinwatch writes: compact, no whitespace
 * between tokens, UTF-8 as is. jansson's output and PostgreSQL's json text (which puts " : "
 * and ", " between tokens) both go through here, so every answer reads the same. Pure.
 */
#ifndef JSON_TEXT_H
#define JSON_TEXT_H

#include <jansson.h>
#include <stddef.h>

/* The jansson flags of that formatting (any value, not only arrays and objects). */
#define JSON_TEXT_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

/* v (borrowed) as a new string in that formatting, or NULL (out of memory, or a value jansson
 * cannot encode). */
char *json_text_dump(const json_t *v);

/*
 * Remove the whitespace between tokens of a JSON text of len bytes, in place; strings are
 * left byte for byte. Returns the new length (text[len] is then NUL when there was room, i.e.
 * whenever the length shrank). The text is not validated: on text that is not JSON the result
 * is the same bytes without their unquoted blanks.
 */
size_t json_text_compact(char *text, size_t len);

#endif
