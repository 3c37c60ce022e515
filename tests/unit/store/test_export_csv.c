/* reports.csv cells: RFC 4180 quoting and spreadsheet formula neutralisation, checked by
 * reading the writer's output back with a strict RFC 4180 reader written here. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "store/export.h"

#define MAX_ROWS  8
#define MAX_CELLS 32

struct table {
    size_t n_rows;
    size_t n_cells[MAX_ROWS];
    char *cells[MAX_ROWS][MAX_CELLS];
};

static void table_free(struct table *t)
{
    for (size_t r = 0; r < t->n_rows; r++)
        for (size_t c = 0; c < t->n_cells[r]; c++)
            free(t->cells[r][c]);
    memset(t, 0, sizeof(*t));
}

/*
 * Strict RFC 4180: records end in CRLF; a field is either quoted ("..." with "" for a quote,
 * anything else allowed inside) or unquoted, and then must not contain '"', CR or LF. Returns
 * false on any violation, so a writer that forgets to quote fails the test.
 */
static bool csv_parse(const char *s, size_t len, struct table *t)
{
    memset(t, 0, sizeof(*t));
    size_t i = 0;
    while (i < len) {
        if (t->n_rows == MAX_ROWS)
            return false;
        size_t row = t->n_rows++;
        for (;;) {
            if (t->n_cells[row] == MAX_CELLS)
                return false;
            char *cell = malloc(len + 1);
            size_t o = 0;
            if (s[i] == '"') {
                i++;
                for (;;) {
                    if (i >= len) {
                        free(cell);
                        return false; /* unterminated quote */
                    }
                    if (s[i] == '"' && i + 1 < len && s[i + 1] == '"') {
                        cell[o++] = '"';
                        i += 2;
                    } else if (s[i] == '"') {
                        i++;
                        break;
                    } else {
                        cell[o++] = s[i++];
                    }
                }
            } else {
                while (i < len && s[i] != ',' && s[i] != '\r') {
                    if (s[i] == '"' || s[i] == '\n') {
                        free(cell);
                        return false; /* must have been quoted */
                    }
                    cell[o++] = s[i++];
                }
            }
            cell[o] = '\0';
            t->cells[row][t->n_cells[row]++] = cell;
            if (i < len && s[i] == ',') {
                i++;
                continue;
            }
            if (i + 1 < len && s[i] == '\r' && s[i + 1] == '\n') {
                i += 2;
                break;
            }
            return false; /* records end in CRLF */
        }
    }
    return true;
}

static void write_row(struct buf *b, const char *const *cells, size_t n)
{
    cr_assert_eq(export_csv_row(b, cells, n), ERR_OK);
}

Test(export_csv, hostile_cells_round_trip_and_formulas_are_neutralised)
{
    static const char *const in[] = {
        "plain",
        "with,comma",
        "with \"quotes\" inside",
        "two\nlines",
        "crlf\r\ninside",
        "=cmd|' /C calc'!A0",
        "+1+1",
        "-2+3",
        "@SUM(A1:A9)",
        "\tstarts with tab",
        "\rstarts with CR",
        "=HYPERLINK(\"http://evil.example\",\"x\")",
        "",
        NULL,
        "a=b, not a formula",
        "'already quoted",
        "trailing,",
        "\"",
    };
    static const char *const want[] = {
        "plain",
        "with,comma",
        "with \"quotes\" inside",
        "two\nlines",
        "crlf\r\ninside",
        "'=cmd|' /C calc'!A0",
        "'+1+1",
        "'-2+3",
        "'@SUM(A1:A9)",
        "'\tstarts with tab",
        "'\rstarts with CR",
        "'=HYPERLINK(\"http://evil.example\",\"x\")",
        "",
        "",
        "a=b, not a formula",
        "'already quoted",
        "trailing,",
        "\"",
    };
    size_t n = sizeof(in) / sizeof(in[0]);
    struct buf b;
    buf_init(&b, 0);
    write_row(&b, in, n);
    write_row(&b, in, n); /* two records: each must end where the next begins */
    struct table t;
    cr_assert(csv_parse(b.data, b.len, &t), "not RFC 4180: %s", b.data);
    cr_assert_eq(t.n_rows, 2);
    for (size_t r = 0; r < 2; r++) {
        cr_assert_eq(t.n_cells[r], n, "row %zu has %zu cells", r, t.n_cells[r]);
        for (size_t c = 0; c < n; c++)
            cr_assert_str_eq(t.cells[r][c], want[c], "cell %zu", c);
    }
    table_free(&t);
    buf_cleanup(&b);
}

Test(export_csv, exact_bytes)
{
    struct buf b;
    buf_init(&b, 0);
    write_row(&b, (const char *const[]){"a", "b,c", "d\"e", NULL, "x"}, 5);
    cr_assert_str_eq(b.data, "a,\"b,c\",\"d\"\"e\",,x\r\n");
    b.len = 0;
    /* The neutralising quote goes inside the quotes when the cell needs quoting too. */
    write_row(&b, (const char *const[]){"=1+2", "-3,4", "\rX"}, 3);
    cr_assert_str_eq(b.data, "'=1+2,\"'-3,4\",\"'\rX\"\r\n");
    b.len = 0;
    /* Nothing to neutralise or quote in ordinary report values. */
    write_row(&b,
              (const char *const[]){"01a21dae-30c7-7aac-ba53-17cb1f7595c6",
                                    "2026-11-27T15:44:44.743599Z", "www.example.com",
                                    "TQEtdMbmwFgYUifM4LDF+xgEtd0z69mPGmkp014d6ZY="},
              4);
    cr_assert_str_eq(b.data, "01a21dae-30c7-7aac-ba53-17cb1f7595c6,2026-11-27T15:44:44.743599Z,"
                             "www.example.com,TQEtdMbmwFgYUifM4LDF+xgEtd0z69mPGmkp014d6ZY=\r\n");
    buf_cleanup(&b);
}

/* A spreadsheet that splits on ';' would see "x;=cmd" as two cells, the second a formula:
 * every cell holding ';' is quoted (SPEC 8), whatever follows it. */
Test(export_csv, a_cell_holding_a_semicolon_is_quoted)
{
    struct buf b;
    buf_init(&b, 0);
    write_row(&b, (const char *const[]){"x;=1+1", "a;+b", "c;-d", "e;@f", "g;h", "plain"}, 6);
    cr_assert_str_eq(b.data, "\"x;=1+1\",\"a;+b\",\"c;-d\",\"e;@f\",\"g;h\",plain\r\n");
    b.len = 0;
    write_row(&b, (const char *const[]){"=a;b"}, 1);
    cr_assert_str_eq(b.data, "\"'=a;b\"\r\n");
    buf_cleanup(&b);
}

Test(export_csv, an_empty_row_is_one_empty_cell)
{
    struct buf b;
    buf_init(&b, 0);
    write_row(&b, (const char *const[]){""}, 1);
    cr_assert_str_eq(b.data, "\r\n");
    buf_cleanup(&b);
}

Test(export_csv, a_full_buffer_is_reported)
{
    struct buf b;
    buf_init(&b, 8); /* capped: the row does not fit */
    cr_assert_eq(export_csv_row(&b, (const char *const[]){"0123456789"}, 1), ERR_TOO_LARGE);
    buf_cleanup(&b);
}

Test(export_csv, attachment_name_is_utc)
{
    char name[64];
    export_filename(0, name, sizeof(name));
    cr_assert_str_eq(name, "pinwatch-export-19700101T000000Z.tar.gz");
    export_filename(1795921487123456LL, name, sizeof(name));
    cr_assert_str_eq(name, "pinwatch-export-20261129T030447Z.tar.gz");
}
