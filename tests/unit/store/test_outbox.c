/* outbox_body: the webhook body's fields, and the url joined from PINWATCH_PUBLIC_URL. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>

#include "store/outbox.h"

static json_t *body_of(const char *base)
{
    json_t *obj = json_pack("{s:s, s:i}", "id", "g1", "devices", 3);
    struct outbox_alert a = {"new_interception_group",
                             "group:g1",
                             "interception",
                             "Interception of api.example.com.",
                             "/groups/g1",
                             "group",
                             obj};
    char *text = outbox_body(&a, "01a24296-fc21-7a44-b8a7-a27fc6b05d51", 1764876320123456, base);
    cr_assert_not_null(text);
    json_t *b = json_loads(text, 0, NULL);
    cr_assert_not_null(b, "%s", text);
    free(text);
    json_decref(obj);
    return b;
}

Test(outbox, the_body_carries_every_field)
{
    json_t *b = body_of("https://pinwatch.example.com/");
    cr_assert_str_eq(json_string_value(json_object_get(b, "id")),
                     "01a24296-fc21-7a44-b8a7-a27fc6b05d51");
    cr_assert_str_eq(json_string_value(json_object_get(b, "rule")), "new_interception_group");
    cr_assert_str_eq(json_string_value(json_object_get(b, "fired_at")), "2025-12-04T19:25:20Z");
    cr_assert_str_eq(json_string_value(json_object_get(b, "summary")),
                     "Interception of api.example.com.");
    cr_assert_str_eq(json_string_value(json_object_get(b, "text")),
                     json_string_value(json_object_get(b, "summary")));
    cr_assert_str_eq(json_string_value(json_object_get(b, "url")),
                     "https://pinwatch.example.com/groups/g1");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(b, "group"), "devices")), 3);
    json_decref(b);
}

Test(outbox, the_url_joins_without_a_double_slash_and_is_null_without_a_base)
{
    json_t *b = body_of("http://10.0.0.5:8080");
    cr_assert_str_eq(json_string_value(json_object_get(b, "url")),
                     "http://10.0.0.5:8080/groups/g1");
    json_decref(b);
    b = body_of(NULL);
    cr_assert(json_is_null(json_object_get(b, "url")));
    json_decref(b);
}
