/* store_unit: the spool form of a unit, and units spooled by the version before (v 2: body rows
 * without a media type) read back into today's row layout. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "report/rawbody.h"
#include "store/store.h"

#define BODY "{\"hostname\":\"a.example\",\"known-pins\":[]}"

/* A unit of two bodies with the given media types, serialized (new string). */
static char *unit_line(const char *media_a, const char *media_b)
{
    struct store *st = store_new();
    struct store_unit *u = store_unit_new();
    const char *media[] = {media_a, media_b};
    for (int i = 0; i < 2; i++) {
        struct rawbody_split split;
        struct err e = {0};
        cr_assert_eq(rawbody_split(BODY, strlen(BODY), &split, &e), ERR_OK, "%s", e.detail);
        uint8_t sha[32];
        memset(sha, 0xa0 + i, sizeof(sha));
        cr_assert_eq(
            store_unit_add_body(st, u, sha, 1700000000000000LL, strlen(BODY), media[i], &split, &e),
            ERR_OK, "%s", e.detail);
        rawbody_split_cleanup(&split);
    }
    char *line = store_unit_serialize(u);
    cr_assert_not_null(line);
    store_unit_free(u);
    store_free(st);
    return line;
}

static const char *body_rows(json_t *doc)
{
    return json_string_value(json_array_get(json_object_get(doc, "rows"), 3));
}

Test(store_unit, body_rows_carry_the_media_type)
{
    char *line = unit_line("application/reports+json", NULL);
    json_t *doc = json_loads(line, 0, NULL);
    cr_assert_eq(json_integer_value(json_object_get(doc, "v")), 3);
    const char *rows = body_rows(doc);
    const char *nl = strchr(rows, '\n');
    cr_assert_not_null(nl);
    cr_assert_eq(strncmp(nl - 25, "\tapplication/reports+json\n", 26), 0, "%s", rows);
    cr_assert_eq(strcmp(rows + strlen(rows) - 4, "\t\\N\n"), 0, "%s", rows);
    json_decref(doc);
    free(line);
}

/* Remove the last field of every row: what v 2 wrote. */
static char *without_last_field(const char *rows)
{
    char *out = calloc(1, strlen(rows) + 1);
    size_t n = 0;
    const char *p = rows;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        const char *tab = nl - 1;
        while (*tab != '\t')
            tab--;
        memcpy(out + n, p, (size_t)(tab - p));
        n += (size_t)(tab - p);
        out[n++] = '\n';
        p = nl + 1;
    }
    return out;
}

Test(store_unit, a_unit_spooled_before_media_types_reads_back)
{
    char *today = unit_line(NULL, NULL);
    json_t *doc = json_loads(today, 0, NULL);
    char *old_rows = without_last_field(body_rows(doc));
    json_array_set_new(json_object_get(doc, "rows"), 3, json_string(old_rows));
    json_object_set_new(doc, "v", json_integer(2));
    char *v2 = json_dumps(doc, JSON_COMPACT);

    struct store_unit *u = NULL;
    struct err e = {0};
    cr_assert_eq(store_unit_parse(v2, strlen(v2), &u, &e), ERR_OK, "%s", e.detail);
    char *again = store_unit_serialize(u);
    cr_assert_str_eq(again, today, "a v 2 unit is a unit without media types");
    free(again);
    store_unit_free(u);
    free(v2);
    free(old_rows);
    json_decref(doc);
    free(today);
}
