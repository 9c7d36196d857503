/* memprof: Check tests for the CPython line-table decoder
 * (symbols/py_linetable.c), against CPython itself: for every code object of
 * several standard library modules, the line of each instruction as
 * code.co_lines() gives it (tests/fixtures/python/dump_linetables.py, run by
 * the stock /usr/bin/python3), and the largest line. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "symbols/py_linetable.h"

#define PYTHON "/usr/bin/python3"

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    if (strcmp(hex, "-") == 0)
        return 0;
    for (; hex[0] && hex[1] && n < cap; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

START_TEST(lines_match_cpython)
{
    char *argv[] = { PYTHON, (char *)repo_path("tests/fixtures/python/dump_linetables.py"), NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    ck_assert_msg(o.status == 0, "dump_linetables.py failed: %s", o.err);
    static uint8_t table[1 << 20];
    struct problems p = { 0 };
    size_t codes = 0, instrs = 0;
    char *save = NULL;
    for (char *line = strtok_r(o.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int first = 0, units = 0, used = 0;
        char hex[1 << 16];
        if (sscanf(line, "CODE %d %65535s %d %n", &first, hex, &units, &used) != 3)
            continue;
        size_t len = unhex(hex, table, sizeof table);
        codes++;
        int last = first;
        const char *r = line + used;
        int start, end, want, n;
        while (sscanf(r, "%d:%d:%d%n", &start, &end, &want, &n) == 3) {
            r += n;
            if (want > last)
                last = want;
            for (int instr = start / 2; instr < end / 2; instr++, instrs++) {
                int got = mp_py_line_at(table, len, first, (uint32_t)instr);
                if (got != want)
                    problem(&p, "first line %d, instruction %d: line %d, CPython says %d", first, instr, got, want);
            }
        }
        if (mp_py_last_line(table, len, first) != last)
            problem(&p, "first line %d: last line %d, CPython's largest %d", first,
                    mp_py_last_line(table, len, first), last);
        if (mp_py_line_at(table, len, first, MP_PY_NO_INSTR) != first)
            problem(&p, "first line %d: before the first instruction gives %d", first,
                    mp_py_line_at(table, len, first, MP_PY_NO_INSTR));
        if (mp_py_line_at(table, len, first, (uint32_t)units + 100) != -1)
            problem(&p, "first line %d: past the end gives a line", first);
    }
    run_output_free(&o);
    ck_assert_msg(codes > 300 && instrs > 50000, "only %zu code objects, %zu instructions", codes, instrs);
    ck_assert_msg(p.n == 0, "%d mismatches:\n%s", p.n, p.text);
}
END_TEST

/* Truncated or garbage tables never read past their end. */
START_TEST(hostile_tables)
{
    const uint8_t cut_varint[] = { 0x80 | (14 << 3) | 3, 0x41 }; /* long form, varint promises more */
    ck_assert_int_eq(mp_py_line_at(cut_varint, sizeof cut_varint, 10, 0), 10);
    ck_assert_int_eq(mp_py_line_at(cut_varint, sizeof cut_varint, 10, 4), -1);
    const uint8_t no_start[] = { 0x01, 0x02, 0x03 }; /* no entry byte at all */
    ck_assert_int_eq(mp_py_line_at(no_start, sizeof no_start, 5, 0), -1);
    ck_assert_int_eq(mp_py_last_line(no_start, sizeof no_start, 5), 5);
    ck_assert_int_eq(mp_py_line_at(NULL, 0, 7, 0), -1);
    ck_assert_int_eq(mp_py_line_at(NULL, 0, 7, MP_PY_NO_INSTR), 7);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("py_linetable");
    TCase *tc = tcase_create("decoder");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, lines_match_cpython);
    tcase_add_test(tc, hostile_tables);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
