/* spool: entries come back with their exact offsets, an unreadable line comes back without a
 * unit, and the quarantine keeps what it is given, across a reopen. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/spool.h"
#include "store/store.h"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/pinwatch-spool-test-%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    int rc = system(cmd);
    (void)rc;
}

TestSuite(spool, .init = setup, .fini = teardown);

static void append_line(const char *line)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/spool.log", dir);
    FILE *f = fopen(path, "a");
    cr_assert_not_null(f);
    fputs(line, f);
    fclose(f);
}

Test(spool, an_unreadable_line_is_quarantined_with_its_bytes)
{
    struct spool *sp = NULL;
    cr_assert_eq(spool_open(dir, 1 << 20, &sp, NULL), ERR_OK);
    struct store_unit *u = store_unit_new();
    cr_assert_eq(spool_append(sp, &u, 1, NULL), ERR_OK);
    store_unit_free(u);
    spool_close(sp);
    append_line("not a unit\n");
    cr_assert_eq(spool_open(dir, 1 << 20, &sp, NULL), ERR_OK);
    cr_assert_eq(spool_pending_units(sp), 2);

    struct spool_entry e[4];
    size_t n = 0;
    cr_assert_eq(spool_peek(sp, 4, e, &n, NULL), ERR_OK);
    cr_assert_eq(n, 2);
    cr_assert_not_null(e[0].unit);
    cr_assert_null(e[1].unit, "a line that does not parse has no unit");
    cr_assert_eq(e[0].start, 0);
    cr_assert_eq(e[1].start, e[0].end);
    cr_assert_eq(e[1].end - e[1].start, strlen("not a unit\n"));
    cr_assert_eq(spool_quarantine(sp, &e[1], "unreadable spool line", NULL), ERR_OK);
    cr_assert_eq(spool_quarantined_units(sp), 1);
    cr_assert_eq(spool_advance(sp, e[1].end, NULL), ERR_OK);
    cr_assert_eq(spool_pending_units(sp), 0);
    for (size_t i = 0; i < n; i++)
        store_unit_free(e[i].unit);
    spool_close(sp);

    /* reopened: the quarantine still holds it, listed without its bytes */
    cr_assert_eq(spool_open(dir, 1 << 20, &sp, NULL), ERR_OK);
    cr_assert_eq(spool_quarantined_units(sp), 1);
    json_t *list = NULL;
    size_t next = 99;
    cr_assert_eq(spool_quarantine_list(sp, 0, 10, &list, &next, NULL), ERR_OK);
    cr_assert_eq(json_array_size(list), 1);
    cr_assert_eq(next, 0);
    json_t *q = json_array_get(list, 0);
    cr_assert_str_eq(json_string_value(json_object_get(q, "reason")), "unreadable spool line");
    cr_assert_eq(json_integer_value(json_object_get(q, "bytes")), 10);
    cr_assert_null(json_object_get(q, "line_base64"));
    json_decref(list);
    spool_close(sp);

    char path[300];
    snprintf(path, sizeof(path), "%s/quarantine.log", dir);
    FILE *f = fopen(path, "r");
    char buf[1024] = "";
    cr_assert_not_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    /* base64 of "not a unit" */
    cr_assert_not_null(strstr(buf, "\"line_base64\":\"bm90IGEgdW5pdA==\""), "%s", buf);
}
