/* memprof tests: mapped memory and annotated pools, end to end.  tests/fixtures/mapped.c maps
 * anonymous pools of known sizes, unmaps part of one, remaps another,
 * moves the break, maps a file and shared memory (not counted) next to a
 * heap block; its annotations (@mappedtotal, @mapped, @expect; README)
 * were derived step by step in its header.  Each build runs under both
 * engines, on glibc's malloc and, linked, on jemalloc, tcmalloc and
 * mimalloc: the allocator's own mappings must never show.  --no-mmap
 * leaves mapped memory out and the heap as it was.  tests/fixtures/pool.c
 * is a program's own pool (an mmap'ed arena) annotated with memprof.h: its
 * objects are heap blocks (exact per line, peak, leaks) charged to the
 * pool's callers, its arena mapped memory, under both engines. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LIBDIR "/usr/lib/x86_64-linux-gnu"

static json_t *run_json(const char *exe, const char *engine, const char *extra, const char *tag)
{
    char json[4096], engine_opt[64];
    snprintf(json, sizeof json, "%s/mapped_%s.json", test_tmp_dir(), tag);
    snprintf(engine_opt, sizeof engine_opt, "--engine=%s", engine);
    char *argv[9] = { (char *)memprof_path(), engine_opt, "--json", json, "-o", "/dev/null" }, **a = argv + 6;
    if (extra)
        *a++ = (char *)extra;
    *a++ = (char *)exe;
    *a = NULL;
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    ck_assert_msg(o.status == 0, "%s %s: status %d\n%.1000s", tag, engine, o.status, o.err);
    run_output_free(&o);
    json_error_t err;
    json_t *root = json_load_file(json, 0, &err);
    ck_assert_msg(root != NULL, "%s: %s", json, err.text);
    return root;
}

/* pool: libstdc++'s emergency pool, when the allocator library brings
 * libstdc++ into this C program: one more block, live all along. */
static void check_mapped(const struct fixture_spec *f, json_t *root, const char *what, uint64_t pool,
                         struct problems *pr)
{
    static const char *const keys[] = { "map_calls", "mapped_bytes", "unmap_calls", "unmapped_bytes",
                                        "mapped_live_bytes", "peak_mapped_bytes", "peak_total_bytes",
                                        "peak_total_mapped_bytes" };
    const uint64_t want[] = { f->map_calls, f->mapped_bytes, f->unmap_calls, f->unmapped_bytes, f->mapped_live,
                              f->peak_mapped, f->peak_total + pool, f->peak_total_mapped };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (summary_u64(root, keys[i]) != want[i])
            problem(pr, "%s: summary.%s %" PRIu64 ", expected %" PRIu64, what, keys[i], summary_u64(root, keys[i]),
                    want[i]);
    if (!json_is_true(json_object_get(json_object_get(root, "summary"), "mapped_profiled")))
        problem(pr, "%s: mapped_profiled is not true", what);
    int seen[FIXTURE_MAX_LINES] = { 0 };
    json_t *lines = json_object_get(root, "lines"), *l;
    size_t i;
    json_array_foreach(lines, i, l) {
        if (!fixture_file_is(json_string_value(json_object_get(l, "file")), f->name))
            continue;
        int ln = (int)obj_u64(l, "line");
        uint64_t got[5] = { obj_u64(l, "map_calls"), obj_u64(l, "mapped_bytes"), obj_u64(l, "unmapped_bytes"),
                            obj_u64(l, "mapped_live_bytes"), obj_u64(l, "peak_total_bytes") };
        const struct fixture_line *e = fixture_line_at(f, ln);
        if (!e || !e->has_mapped) {
            if (got[0] || got[1] || got[2] || got[3] || got[4])
                problem(pr, "%s: line %d has mapped memory, no @mapped", what, ln);
            continue;
        }
        seen[e - f->lines] = 1;
        uint64_t exp[5] = { e->map_calls, e->mapped_bytes, e->unmapped_bytes, e->mapped_live, e->peak_total };
        if (memcmp(got, exp, sizeof got) != 0)
            problem(pr, "%s: line %d: calls %" PRIu64 " bytes %" PRIu64 " unmapped %" PRIu64 " live %" PRIu64
                        " peak_total %" PRIu64 ", expected %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64,
                    what, ln, got[0], got[1], got[2], got[3], got[4], exp[0], exp[1], exp[2], exp[3], exp[4]);
    }
    for (int k = 0; k < f->n_lines; k++) {
        const struct fixture_line *e = &f->lines[k];
        if (e->has_mapped && !seen[k] && (e->map_calls || e->mapped_bytes || e->peak_total))
            problem(pr, "%s: line %d missing from the report", what, e->line);
    }
    /* the line that reached the peak of heap + mapped: the sbrk */
    json_t *pt = json_object_get(root, "peak_total");
    if (!pt || obj_u64(pt, "bytes") != f->peak_total + pool)
        problem(pr, "%s: \"peak_total\" missing or wrong", what);
}

static void check_run(const struct fixture_spec *f, json_t *root, const char *what, uint64_t pool, struct problems *pr)
{
    check_mapped(f, root, what, pool, pr);
    if (summary_u64(root, "alloc_calls") != f->total_calls + !!pool ||
        summary_u64(root, "allocated_bytes") != f->total_bytes + pool ||
        summary_u64(root, "free_calls") != f->total_frees)
        problem(pr, "%s: the heap changed", what);
}

START_TEST(mapped_c)
{
    static struct fixture_spec f;
    fixture_parse("mapped.c", &f);
    ck_assert(f.has_mappedtotal);
    static struct problems pr;
    memset(&pr, 0, sizeof pr);
    static const char *const libs[] = { NULL, LIBDIR "/libjemalloc.so.2", LIBDIR "/libtcmalloc_minimal.so.4",
                                        LIBDIR "/libmimalloc.so.2" };
    for (int b = 0; b < f.n_builds; b++)
        for (size_t a = 0; a < sizeof libs / sizeof *libs; a++) {
            char tag[160], what[400];
            fixture_tag(tag, sizeof tag, "", "mapped.c", b);
            snprintf(tag + strlen(tag), sizeof tag - strlen(tag), "_%zu", a);
            ck_assert_msg(!libs[a] || access(libs[a], R_OK) == 0, "%s missing: run scripts/install-deps", libs[a]);
            const char *exe = build_fixture_with("tests/fixtures/mapped.c", f.builds[b][0], f.builds[b][1],
                                                 libs[a] ? libs[a] : "", tag);
            ck_assert_ptr_nonnull(exe);
            uint64_t pool = objects_of(exe, NULL).libstdcxx ? LIBSTDCXX_POOL : 0;
            for (int e = 0; e < 2; e++) {
                const char *engine = e ? "breakpoint" : "agent";
                snprintf(what, sizeof what, "mapped.c [%s] on %s, %s", f.builds[b][1], libs[a] ? libs[a] : "glibc",
                         engine);
                json_t *root = run_json(exe, engine, NULL, tag);
                check_run(&f, root, what, pool, &pr);
                json_decref(root);
            }
        }
    ck_assert_msg(pr.n == 0, "%d problem(s):\n%s", pr.n, pr.text);
}
END_TEST

/* A static program (breakpoint engine): libc's own mappings (thread stacks)
 * are left out there too. */
START_TEST(static_programs)
{
    static struct fixture_spec f;
    fixture_parse("mapped.c", &f);
    static struct problems pr;
    memset(&pr, 0, sizeof pr);
    const char *exe = build_fixture("tests/fixtures/mapped.c", "gcc", "-O0 -g -static", "mapped_static");
    ck_assert_ptr_nonnull(exe);
    json_t *root = run_json(exe, "auto", NULL, "static");
    /* a static glibc allocates a few blocks at start-up and never frees them
     * (the program frees its only block): they are in heap + mapped's peak */
    check_mapped(&f, root, "mapped.c -static", summary_u64(root, "leaked_bytes"), &pr);
    json_decref(root);
    exe = build_fixture("tests/fixtures/threads.c", "gcc", "-O0 -g -static", "threads_static");
    ck_assert_ptr_nonnull(exe);
    root = run_json(exe, "auto", NULL, "threads_static");
    if (summary_u64(root, "map_calls") != 0)
        problem(&pr, "threads.c -static: %" PRIu64 " map calls (thread stacks?)", summary_u64(root, "map_calls"));
    json_decref(root);
    ck_assert_msg(pr.n == 0, "%d problem(s):\n%s", pr.n, pr.text);
}
END_TEST

START_TEST(no_mmap_leaves_it_out)
{
    static struct fixture_spec f;
    fixture_parse("mapped.c", &f);
    const char *exe = build_fixture("tests/fixtures/mapped.c", f.builds[0][0], f.builds[0][1], "mapped_nommap");
    ck_assert_ptr_nonnull(exe);
    for (int e = 0; e < 2; e++) {
        json_t *root = run_json(exe, e ? "breakpoint" : "agent", "--no-mmap", "nommap");
        ck_assert(json_is_false(json_object_get(json_object_get(root, "summary"), "mapped_profiled")));
        ck_assert_uint_eq(summary_u64(root, "map_calls"), 0);
        ck_assert_uint_eq(summary_u64(root, "mapped_live_bytes"), 0);
        ck_assert_uint_eq(summary_u64(root, "peak_total_bytes"), summary_u64(root, "peak_heap_bytes"));
        ck_assert_uint_eq(summary_u64(root, "alloc_calls"), f.total_calls);
        ck_assert_uint_eq(summary_u64(root, "allocated_bytes"), f.total_bytes);
        json_decref(root);
    }
}
END_TEST

/* The text report: its rows say the same as the JSON. */
START_TEST(text_report_shows_mapped)
{
    static struct fixture_spec f;
    fixture_parse("mapped.c", &f);
    const char *exe = build_fixture("tests/fixtures/mapped.c", f.builds[0][0], f.builds[0][1], "mapped_text");
    ck_assert_ptr_nonnull(exe);
    char *argv[] = { (char *)memprof_path(), "--stable", (char *)exe, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    ck_assert_int_eq(o.status, 0);
    /* --stable: exact bytes */
    ck_assert_msg(strstr(o.err, "  mapped             5 calls, 2,437,120 B (mmap, mremap, brk); 1,601,536 B unmapped\n"),
                  "%s", o.err);
    ck_assert_msg(strstr(o.err, "  peak heap + mapped 2,012,832 B (1,912,832 B mapped), reached at "), "%s", o.err);
    ck_assert_msg(strstr(o.err, "mapped.c:77 (main)\n"), "%s", o.err);
    ck_assert_msg(strstr(o.err, "  mapped at exit     835,584 B\n"), "%s", o.err);
    ck_assert_msg(strstr(o.err, "\nStill mapped at exit: 835,584 B\n"), "%s", o.err);
    ck_assert_msg(strstr(o.err, "   allocated        calls       mapped live at exit   line\n"), "%s", o.err);
    ck_assert_msg(strstr(o.err, "Line #    Allocated   Freed here          Net     Max held  Held at end  Alloc calls"
                                "   Max mapped   Line Contents\n"),
                  "%s", o.err);
    /* the partial munmap leaves line 53 holding 786,432 B at the peak of heap + mapped */
    ck_assert_msg(strstr(o.err, "   786,432 B    786,432 B        39.1%   tests/fixtures/mapped.c:53 (main)\n"), "%s",
                  o.err);
    run_output_free(&o);
}
END_TEST

/* The heap side: @expect lines (completeness), totals, peak and leaks. */
static void check_heap_lines(const struct fixture_spec *f, json_t *root, const char *what, struct problems *pr)
{
    json_t *lines = json_object_get(root, "lines"), *l;
    size_t i;
    json_array_foreach(lines, i, l) {
        if (!fixture_file_is(json_string_value(json_object_get(l, "file")), f->name) || !obj_u64(l, "alloc_calls"))
            continue;
        int ln = (int)obj_u64(l, "line");
        const struct fixture_line *e = fixture_line_at(f, ln);
        if (!e || !e->has_expect) {
            problem(pr, "%s: line %d allocated, no @expect", what, ln);
            continue;
        }
        if (obj_u64(l, "alloc_calls") != e->alloc_calls || obj_u64(l, "allocated_bytes") != e->allocated_bytes ||
            obj_u64(l, "free_calls") != e->free_calls || obj_u64(l, "freed_bytes") != e->freed_bytes)
            problem(pr, "%s: line %d: %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 ", expected %" PRIu64 " %" PRIu64
                        " %" PRIu64 " %" PRIu64, what, ln, obj_u64(l, "alloc_calls"), obj_u64(l, "allocated_bytes"),
                    obj_u64(l, "free_calls"), obj_u64(l, "freed_bytes"), e->alloc_calls, e->allocated_bytes,
                    e->free_calls, e->freed_bytes);
    }
    if (summary_u64(root, "peak_heap_bytes") != f->peak_heap || summary_u64(root, "leaked_bytes") != f->leaked_bytes ||
        summary_u64(root, "leaked_blocks") != f->leaked_blocks)
        problem(pr, "%s: peak %" PRIu64 ", leaked %" PRIu64 " in %" PRIu64 ", expected %" PRIu64 " %" PRIu64 " %" PRIu64,
                what, summary_u64(root, "peak_heap_bytes"), summary_u64(root, "leaked_bytes"),
                summary_u64(root, "leaked_blocks"), f->peak_heap, f->leaked_bytes, f->leaked_blocks);
    json_t *reached = json_object_get(json_object_get(root, "peak"), "reached_at");
    if (obj_u64(reached, "line") != (uint64_t)f->reached_line)
        problem(pr, "%s: the peak reached at line %" PRIu64 ", expected %d", what, obj_u64(reached, "line"),
                f->reached_line);
}

START_TEST(annotated_pool_c)
{
    static struct fixture_spec f;
    fixture_parse("pool.c", &f);
    ck_assert(f.has_mappedtotal && f.has_peaktotal);
    static struct problems pr;
    memset(&pr, 0, sizeof pr);
    for (int b = 0; b < f.n_builds; b++) {
        char tag[160], what[300];
        fixture_tag(tag, sizeof tag, "", "pool.c", b);
        const char *exe = build_fixture("tests/fixtures/pool.c", f.builds[b][0], f.builds[b][1], tag);
        ck_assert_ptr_nonnull(exe);
        for (int e = 0; e < 2; e++) {
            const char *engine = e ? "breakpoint" : "agent";
            snprintf(what, sizeof what, "pool.c [%s], %s", f.builds[b][1], engine);
            json_t *root = run_json(exe, engine, NULL, tag);
            check_run(&f, root, what, 0, &pr);
            check_heap_lines(&f, root, what, &pr);
            json_t *folded = json_array_get(json_object_get(root, "folded_functions"), 0);
            if (!folded || strcmp(json_string_value(json_object_get(folded, "function")), "pool_alloc") != 0 ||
                obj_u64(folded, "calls") != f.total_calls)
                problem(&pr, "%s: pool_alloc is not reported folded with its %" PRIu64 " calls", what, f.total_calls);
            json_decref(root);
            /* not folded: every object on the line that annotates it */
            root = run_json(exe, engine, "--no-auto-alloc-fn", tag);
            json_t *lines = json_object_get(root, "lines"), *l;
            size_t i;
            uint64_t in_pool_alloc = 0;
            json_array_foreach(lines, i, l)
                if (strcmp(json_string_value(json_object_get(l, "function")), "pool_alloc") == 0)
                    in_pool_alloc += obj_u64(l, "alloc_calls");
            if (in_pool_alloc != f.total_calls || json_array_size(json_object_get(root, "folded_functions")))
                problem(&pr, "%s --no-auto-alloc-fn: %" PRIu64 " calls in pool_alloc, expected %" PRIu64, what,
                        in_pool_alloc, f.total_calls);
            json_decref(root);
        }
    }
    ck_assert_msg(pr.n == 0, "%d problem(s):\n%s", pr.n, pr.text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mapped");
    TCase *tc = tcase_create("mapped");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, mapped_c);
    tcase_add_test(tc, no_mmap_leaves_it_out);
    tcase_add_test(tc, static_programs);
    tcase_add_test(tc, text_report_shows_mapped);
    tcase_add_test(tc, annotated_pool_c);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
