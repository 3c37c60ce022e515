/* json_text: one formatting for jansson's output and PostgreSQL's json text. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_text.h"

static void expect_compact(const char *in, const char *want)
{
    char *s = strdup(in);
    size_t n = json_text_compact(s, strlen(s));
    cr_assert_eq(n, strlen(want), "%s -> %s", in, s);
    cr_assert_eq(memcmp(s, want, n), 0, "%s -> %.*s", in, (int)n, s);
    free(s);
}

Test(json_text, postgresql_spacing_is_removed)
{
    expect_compact("{\"groups\" : []}", "{\"groups\":[]}");
    expect_compact("{\"a\" : 1, \"b\" : [1, 2, {\"c\" : null}]}",
                   "{\"a\":1,\"b\":[1,2,{\"c\":null}]}");
    expect_compact(" [\n\t1 ,\r\n 2 ] ", "[1,2]");
    expect_compact("{\"reports\":[]}", "{\"reports\":[]}");
}

Test(json_text, strings_are_left_byte_for_byte)
{
    expect_compact("{\"k e y\" : \"a , b : c\"}", "{\"k e y\":\"a , b : c\"}");
    expect_compact("[\"quote \\\" still in\" , \"back\\\\\" , \" x \"]",
                   "[\"quote \\\" still in\",\"back\\\\\",\" x \"]");
    expect_compact("\"caf\xc3\xa9 \\u0020 \"", "\"caf\xc3\xa9 \\u0020 \"");
}

/* What jansson writes and what PostgreSQL-style text compacts to are the same. */
Test(json_text, dump_and_compact_agree)
{
    json_t *v = json_pack("{s:[i,s,n], s:{s:b}}", "a", 1, "x y", "b", "o", 1);
    char *dumped = json_text_dump(v);
    cr_assert_str_eq(dumped, "{\"a\":[1,\"x y\",null],\"b\":{\"o\":true}}");
    char *pretty = json_dumps(v, JSON_INDENT(3));
    size_t n = json_text_compact(pretty, strlen(pretty));
    cr_assert_eq(n, strlen(dumped));
    cr_assert_str_eq(pretty, dumped);
    free(pretty);
    free(dumped);
    char *scalar = json_text_dump(json_object_get(v, "a"));
    cr_assert_str_eq(scalar, "[1,\"x y\",null]");
    free(scalar);
    json_decref(v);
    cr_assert_null(json_text_dump(NULL));
}
