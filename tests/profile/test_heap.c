/* memprof tests: heap profiling end to end.  Each fixture carries its
 * expected numbers as annotations (grammar: tests/fixtures/README), derived
 * from its source and cross-checked with valgrind; this program builds each
 * fixture for each of its @build lines, runs it under memprof --json and
 * compares line by line.  A second test runs valgrind itself and compares
 * totals. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading memprof's JSON (one record per text line, fixed field order) ---- */

static int json_num(const char *line, const char *key, uint64_t *out)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(line, pat);
    if (!p)
        return 0;
    *out = strtoull(p + strlen(pat), NULL, 10);
    return 1;
}

static int json_file_is(const char *line, const char *name)
{
    const char *p = strstr(line, "\"file\": \"");
    if (!p)
        return 0;
    p += 9;
    const char *end = strchr(p, '"');
    size_t n = strlen(name), len = (size_t)(end - p);
    return len >= n && strncmp(end - n, name, n) == 0 && (len == n || end[-(long)n - 1] == '/');
}

struct observed {
    uint64_t alloc_calls, allocated_bytes, free_calls, freed_bytes;
    uint64_t occurrences, incl_bytes;
    int seen_line, seen_row;
};

struct run {
    uint64_t alloc_calls, allocated_bytes, free_calls, events_lost;
    struct observed by_line[4096];
};

static void run_memprof(const char *exe, const char *tag, struct run *r)
{
    char json[4096];
    snprintf(json, sizeof json, "%s/heap_%s.json", test_tmp_dir(), tag);
    struct run_output o;
    char *argv[] = { (char *)memprof_path(), "--tables", "0", "--json", json, (char *)exe, NULL };
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    ck_assert_msg(o.status == 0, "%s: status %d\n%s", tag, o.status, o.err);
    run_output_free(&o);
    char *text = read_file(json, NULL);
    ck_assert_ptr_nonnull(text);
    memset(r, 0, sizeof *r);
    ck_assert(json_num(text, "alloc_calls", &r->alloc_calls));
    ck_assert(json_num(text, "allocated_bytes", &r->allocated_bytes));
    ck_assert(json_num(text, "free_calls", &r->free_calls));
    ck_assert(json_num(text, "events_lost", &r->events_lost));
    free(text);
}

static void read_lines(const char *json_path, const char *fixture_name, struct run *r)
{
    char *text = read_file(json_path, NULL);
    ck_assert_ptr_nonnull(text);
    int in_tables = 0, table_is_fixture = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        uint64_t ln;
        if (strstr(line, "\"tables\": ["))
            in_tables = 1;
        if (!in_tables && json_file_is(line, fixture_name) && json_num(line, "line", &ln) && ln < 4096) {
            struct observed *ob = &r->by_line[ln];
            uint64_t v;
            ob->seen_line = 1;
            json_num(line, "alloc_calls", &v), ob->alloc_calls += v;
            json_num(line, "allocated_bytes", &v), ob->allocated_bytes += v;
            json_num(line, "free_calls", &v), ob->free_calls += v;
            json_num(line, "freed_bytes", &v), ob->freed_bytes += v;
        }
        if (in_tables && strstr(line, "\"rows\": ["))
            table_is_fixture = json_file_is(line, fixture_name);
        if (in_tables && table_is_fixture && strncmp(line, "      {\"line\": ", 15) == 0 &&
            json_num(line, "line", &ln) && ln < 4096) {
            struct observed *ob = &r->by_line[ln];
            uint64_t occ, bytes;
            json_num(line, "occurrences", &occ);
            json_num(line, "allocated_bytes", &bytes);
            ob->seen_row = 1;
            if (occ > ob->occurrences)
                ob->occurrences = occ;
            if (bytes > ob->incl_bytes)
                ob->incl_bytes = bytes;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
}

static void check_fixture(const char *name)
{
    static struct fixture_spec f;
    fixture_parse(name, &f);
    /* lines with @expect or @incl: the completeness rule applies */
    int annotated = f.n_expect > 0 || f.n_incl > 0;
    for (int b = 0; b < f.n_builds; b++) {
        char tag[128];
        fixture_tag(tag, sizeof tag, "", name, b);
        char rel[256];
        snprintf(rel, sizeof rel, "tests/fixtures/%s", name);
        const char *exe = build_fixture(rel, f.builds[b][0], f.builds[b][1], tag);
        ck_assert_ptr_nonnull(exe);
        static struct run r;
        run_memprof(exe, tag, &r);
        char json[4096];
        snprintf(json, sizeof json, "%s/heap_%s.json", test_tmp_dir(), tag);
        read_lines(json, name, &r);
        const char *where = f.builds[b][1];
        ck_assert_msg(r.alloc_calls == f.total_calls, "%s [%s]: alloc_calls %" PRIu64 " expected %" PRIu64,
                      name, where, r.alloc_calls, f.total_calls);
        ck_assert_msg(r.allocated_bytes == f.total_bytes, "%s [%s]: allocated_bytes %" PRIu64 " expected %" PRIu64,
                      name, where, r.allocated_bytes, f.total_bytes);
        ck_assert_msg(r.free_calls == f.total_frees, "%s [%s]: free_calls %" PRIu64 " expected %" PRIu64, name,
                      where, r.free_calls, f.total_frees);
        ck_assert_uint_eq(r.events_lost, 0);
        uint64_t attributed_calls = 0, attributed_bytes = 0;
        for (int ln = 1; ln < 4096; ln++) {
            const struct observed *ob = &r.by_line[ln];
            attributed_calls += ob->alloc_calls;
            attributed_bytes += ob->allocated_bytes;
            const struct fixture_line *e = fixture_line_at(&f, ln);
            if (ob->alloc_calls && annotated)
                ck_assert_msg(e && e->has_expect, "%s [%s]: line %d has %" PRIu64 " allocations, no @expect", name,
                              where, ln, ob->alloc_calls);
            if (!e)
                continue;
            if (e->has_expect) {
                ck_assert_msg(ob->alloc_calls == e->alloc_calls && ob->allocated_bytes == e->allocated_bytes &&
                                  ob->free_calls == e->free_calls && ob->freed_bytes == e->freed_bytes,
                              "%s [%s]: line %d: got calls=%" PRIu64 " bytes=%" PRIu64 " frees=%" PRIu64
                              " freed=%" PRIu64 ", expected %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64,
                              name, where, ln, ob->alloc_calls, ob->allocated_bytes, ob->free_calls,
                              ob->freed_bytes, e->alloc_calls, e->allocated_bytes, e->free_calls, e->freed_bytes);
            }
            if (e->has_incl) {
                ck_assert_msg(ob->occurrences == e->occurrences && ob->incl_bytes == e->incl_bytes,
                              "%s [%s]: line %d inclusive: got occurrences=%" PRIu64 " bytes=%" PRIu64
                              ", expected %" PRIu64 " %" PRIu64,
                              name, where, ln, ob->occurrences, ob->incl_bytes, e->occurrences, e->incl_bytes);
            }
        }
        if (annotated) {
            ck_assert_msg(r.alloc_calls - attributed_calls == f.unattributed_calls,
                          "%s [%s]: %" PRIu64 " calls outside the fixture's lines, expected %" PRIu64, name, where,
                          r.alloc_calls - attributed_calls, f.unattributed_calls);
            ck_assert_uint_eq(r.allocated_bytes - attributed_bytes, f.unattributed_bytes);
        }
    }
}

START_TEST(basic_c) { check_fixture("basic.c"); }
END_TEST
START_TEST(cxx_cpp) { check_fixture("cxx.cpp"); }
END_TEST
START_TEST(threads_c) { check_fixture("threads.c"); }
END_TEST
START_TEST(nodebug_c) { check_fixture("nodebug.c"); }
END_TEST
START_TEST(demo_c) { check_fixture("demo.c"); }
END_TEST
START_TEST(touch_c) { check_fixture("touch.c"); }
END_TEST

START_TEST(totals_equal_valgrinds)
{
    /* basic.c without pvalloc: valgrind 3.19 aborts on pvalloc. */
    static const char *const builds[][4] = {
        { "tests/fixtures/basic.c", "gcc", "-O0 -g -DBASIC_NO_PVALLOC", "vg_basic" },
        { "tests/fixtures/basic.c", "gcc", "-O2 -g -DBASIC_NO_PVALLOC", "vg_basic_o2" },
        { "tests/fixtures/cxx.cpp", "g++", "-O2 -g", "vg_cxx" },
        { "tests/fixtures/threads.c", "gcc", "-O0 -g", "vg_threads" },
        { "tests/fixtures/demo.c", "gcc", "-O0 -g", "vg_demo" },
        { "tests/fixtures/nodebug.c", "gcc", "-O0", "vg_nodebug" },
    };
    for (size_t i = 0; i < sizeof builds / sizeof *builds; i++) {
        const char *exe = build_fixture(builds[i][0], builds[i][1], builds[i][2], builds[i][3]);
        ck_assert_ptr_nonnull(exe);
        uint64_t allocs, frees, bytes;
        valgrind_totals(exe, 0, &allocs, &frees, &bytes);
        static struct run r;
        run_memprof(exe, builds[i][3], &r);
        ck_assert_msg(r.alloc_calls == allocs && r.free_calls == frees && r.allocated_bytes == bytes,
                      "%s: memprof %" PRIu64 " allocs %" PRIu64 " frees %" PRIu64 " bytes, valgrind %" PRIu64
                      " %" PRIu64 " %" PRIu64,
                      builds[i][3], r.alloc_calls, r.free_calls, r.allocated_bytes, allocs, frees, bytes);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("heap");
    TCase *tc = tcase_create("fixtures");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, basic_c);
    tcase_add_test(tc, cxx_cpp);
    tcase_add_test(tc, threads_c);
    tcase_add_test(tc, nodebug_c);
    tcase_add_test(tc, demo_c);
    tcase_add_test(tc, touch_c);
    tcase_add_test(tc, totals_equal_valgrinds);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
