/* pgcopy: rows in PostgreSQL's COPY text format, byte for byte (test_ingest sends such rows
 * through a real PostgreSQL and reads them back). */
#include <criterion/criterion.h>

#include <string.h>

#include "store/pgcopy.h"

static struct buf out;

static void setup(void)
{
    buf_init(&out, 0);
}

static void teardown(void)
{
    buf_cleanup(&out);
}

TestSuite(pgcopy, .init = setup, .fini = teardown);

Test(pgcopy, fields_are_tab_separated_and_the_row_ends_with_a_newline)
{
    struct pgcopy_row row;
    pgcopy_begin(&row, &out);
    pgcopy_text(&row, "a");
    pgcopy_null(&row);
    pgcopy_text(&row, NULL);
    pgcopy_int(&row, -42);
    pgcopy_bool(&row, true);
    pgcopy_tristate(&row, -1);
    pgcopy_tristate(&row, 0);
    pgcopy_text(&row, "");
    cr_assert_eq(pgcopy_end(&row), ERR_OK);
    cr_assert_str_eq(out.data, "a\t\\N\t\\N\t-42\tt\t\\N\tf\t\n");
}

Test(pgcopy, text_escapes_only_what_copy_reads_specially)
{
    struct pgcopy_row row;
    pgcopy_begin(&row, &out);
    pgcopy_text(&row, "x\ty\nz\r\\N \"{}\" \xc3\xa9");
    cr_assert_eq(pgcopy_end(&row), ERR_OK);
    cr_assert_str_eq(out.data, "x\\ty\\nz\\r\\\\N \"{}\" \xc3\xa9\n");
}

Test(pgcopy, bytea_time_and_json)
{
    static const uint8_t bytes[] = {0x00, 0xab, 0xff};
    json_t *doc = json_pack("{s:s}", "k", "a\tb");
    struct pgcopy_row row;
    pgcopy_begin(&row, &out);
    pgcopy_bytea(&row, bytes, sizeof(bytes));
    pgcopy_time(&row, 1433728685000000LL);
    pgcopy_json(&row, doc);
    pgcopy_json(&row, NULL);
    cr_assert_eq(pgcopy_end(&row), ERR_OK);
    /* JSON escapes the tab itself; COPY then doubles the backslash of its escape. */
    cr_assert_str_eq(out.data, "\\\\x00abff\t2015-06-08T01:58:05Z\t{\"k\":\"a\\\\tb\"}\t\\N\n");
    json_decref(doc);
}

Test(pgcopy, text_arrays_quote_every_element)
{
    const char *items[] = {"plain", "quo\"te", "back\\slash", "{,}", ""};
    struct pgcopy_row row;
    pgcopy_begin(&row, &out);
    pgcopy_text_array(&row, items, 5);
    pgcopy_text_array(&row, NULL, 0);
    cr_assert_eq(pgcopy_end(&row), ERR_OK);
    /* Array literal {"plain","quo\"te","back\\slash","{,}",""}, then COPY doubles backslashes. */
    cr_assert_str_eq(out.data,
                     "{\"plain\",\"quo\\\\\"te\",\"back\\\\\\\\slash\",\"{,}\",\"\"}\t{}\n");
}

static const uint8_t *hash_at(size_t i, const void *ctx)
{
    return (const uint8_t *)ctx + 32 * i;
}

Test(pgcopy, hash_arrays_and_leading_hashes)
{
    uint8_t hashes[64];
    for (size_t i = 0; i < sizeof(hashes); i++)
        hashes[i] = (uint8_t)i;
    struct pgcopy_row row;
    pgcopy_begin(&row, &out);
    pgcopy_bytea(&row, hashes, 32);
    pgcopy_hash_array(&row, 2, hash_at, hashes);
    pgcopy_hash_array(&row, 0, hash_at, hashes);
    cr_assert_eq(pgcopy_end(&row), ERR_OK);
    char first[65], second[65];
    for (size_t i = 0; i < 32; i++) {
        snprintf(first + 2 * i, 3, "%02x", hashes[i]);
        snprintf(second + 2 * i, 3, "%02x", hashes[32 + i]);
    }
    char want[512];
    snprintf(want, sizeof(want), "\\\\x%s\t{\"\\\\\\\\x%s\",\"\\\\\\\\x%s\"}\t{}\n", first, first,
             second);
    cr_assert_str_eq(out.data, want);

    uint8_t key[32];
    cr_assert(pgcopy_leading_hash(out.data, out.len, key));
    cr_assert(memcmp(key, hashes, 32) == 0);
    cr_assert_not(pgcopy_leading_hash("\\\\x00\t", 6, key), "too short");
    cr_assert_not(pgcopy_leading_hash(out.data + 1, out.len - 1, key), "not at a row start");
}

Test(pgcopy, a_failed_row_is_taken_back_whole)
{
    struct pgcopy_row row;
    pgcopy_begin(&row, &out);
    pgcopy_text(&row, "kept");
    cr_assert_eq(pgcopy_end(&row), ERR_OK);
    out.max = out.len + 8; /* the next row passes the cap half-way */
    pgcopy_begin(&row, &out);
    pgcopy_text(&row, "1234");
    pgcopy_text(&row, "56789");
    pgcopy_int(&row, 1);
    cr_assert_eq(pgcopy_end(&row), ERR_TOO_LARGE);
    cr_assert_str_eq(out.data, "kept\n");
    pgcopy_begin(&row, &out);
    cr_assert_eq(pgcopy_end(&row), ERR_INVALID, "a row needs a field");
    cr_assert_str_eq(out.data, "kept\n");
}
