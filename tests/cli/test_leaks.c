/* memprof tests: leak kinds at exit and the leak gate, end to end.
 *
 * The expected kinds come from the fixtures' own annotations (@leakkinds,
 * @leakkind: derived by hand from their source, tests/fixtures/README
 * section 5) and from valgrind's memcheck run on the same binary
 * (--leak-check=full --show-leak-kinds=all --run-libc-freeres=no
 * --run-cxx-freeres=no), which must agree with them; memprof must give the
 * same numbers under both engines.  Then what a CI user relies on: the
 * gate passes hello worlds (C stdio, threads, C++ iostream) and fails a
 * lost block naming its line; a heap nothing measured never passes; an
 * image the agent cannot reach is profiled by the breakpoint engine;
 * suppression files; bad input. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const kind_names[4] = { "definite", "indirect", "possible", "reachable" };
static const char *const engines[2] = { "agent", "breakpoint" };

static json_t *load_json(const char *path)
{
    json_error_t e;
    json_t *root = json_load_file(path, 0, &e);
    ck_assert_msg(root != NULL, "%s: not JSON: %s (line %d)", path, e.text, e.line);
    return root;
}

/* memprof [extra...] --json FILE exe args...: the parsed report (status in *status). */
static json_t *run_memprof(const char *tag, char *const extra[], char *const argv[], int *status, char **err)
{
    char json[4096], text[4096];
    snprintf(json, sizeof json, "%s/%s.json", test_tmp_dir(), tag);
    snprintf(text, sizeof text, "%s/%s.txt", test_tmp_dir(), tag);
    char *args[64];
    size_t n = 0;
    args[n++] = (char *)memprof_path();
    for (size_t i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n++] = "--json";
    args[n++] = json;
    args[n++] = "-o";
    args[n++] = text;
    for (size_t i = 0; argv[i] && n + 1 < sizeof args / sizeof *args; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    struct run_output o;
    ck_assert_int_eq(run_cmd(args, NULL, NULL, 120, &o), 0);
    *status = o.status;
    if (err)
        *err = strdup(o.err);
    run_output_free(&o);
    return load_json(json);
}

static void expect_kinds(struct problems *pr, const char *what, const uint64_t *bytes, const uint64_t *blocks,
                         const uint64_t *want_bytes, const uint64_t *want_blocks)
{
    for (int k = 0; k < 4; k++)
        if (bytes[k] != want_bytes[k] || blocks[k] != want_blocks[k])
            problem(pr, "%s: %s %llu bytes in %llu blocks, expected %llu in %llu\n", what, kind_names[k],
                    (unsigned long long)bytes[k], (unsigned long long)blocks[k], (unsigned long long)want_bytes[k],
                    (unsigned long long)want_blocks[k]);
}

/* Each fixture line's kinds, summed over the stacks whose user line it is,
 * against its @leakkind (every line with a live block must carry one). */
static void expect_line_kinds(struct problems *pr, const char *what, json_t *root, const struct fixture_spec *f)
{
    uint64_t bytes[FIXTURE_MAX_LINES][4], blocks[FIXTURE_MAX_LINES][4];
    int lines[FIXTURE_MAX_LINES], n = 0;
    memset(bytes, 0, sizeof bytes);
    memset(blocks, 0, sizeof blocks);
    json_t *frames = json_object_get(root, "frames"), *stacks = json_object_get(root, "stacks");
    size_t i;
    json_t *st;
    json_array_foreach(stacks, i, st) {
        if (!obj_u64(st, "leaked_blocks"))
            continue;
        json_t *place = json_array_get(frames, (size_t)json_integer_value(json_object_get(st, "user_line")));
        json_t *file = json_object_get(place, "file");
        if (!json_is_string(file) || !fixture_file_is(json_string_value(file), f->name))
            continue;
        int line = (int)obj_u64(place, "line"), at = 0;
        while (at < n && lines[at] != line)
            at++;
        if (at == n) {
            ck_assert_int_lt(n, FIXTURE_MAX_LINES);
            lines[n++] = line;
        }
        uint64_t b[4], k[4];
        json_leak_kinds(st, b, k);
        for (int j = 0; j < 4; j++) {
            bytes[at][j] += b[j];
            blocks[at][j] += k[j];
        }
    }
    for (int l = 0; l < n; l++) {
        const struct fixture_line *fl = fixture_line_at(f, lines[l]);
        char where[256];
        snprintf(where, sizeof where, "%s line %d", what, lines[l]);
        if (!fl || !fl->has_leakkind)
            problem(pr, "%s: live blocks but no @leakkind\n", where);
        else
            expect_kinds(pr, where, bytes[l], blocks[l], fl->kind_bytes, fl->kind_blocks);
    }
    for (int a = 0; a < f->n_lines; a++) {
        const struct fixture_line *fl = &f->lines[a];
        int seen = 0;
        for (int l = 0; l < n; l++)
            seen |= lines[l] == fl->line;
        uint64_t any = 0;
        for (int k = 0; k < 4; k++)
            any += fl->kind_blocks[k];
        if (fl->has_leakkind && any && !seen)
            problem(pr, "%s line %d: @leakkind says blocks live at exit, memprof has none there\n", what, fl->line);
    }
}

/* A fixture with @leakkinds: memcheck agrees with the annotations, and
 * memprof with both, per build, per engine, in total and per line. */
static void check_fixture_kinds(const char *name)
{
    struct fixture_spec f;
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/%s", name);
    fixture_parse(name, &f);
    ck_assert(f.has_leakkinds && f.n_leakkind > 0);
    struct problems pr = { .len = 0 };
    for (int b = 0; b < f.n_builds; b++) {
        char tag[128];
        fixture_tag(tag, sizeof tag, "lk_", name, b);
        const char *exe = build_fixture(path, f.builds[b][0], f.builds[b][1], tag);
        ck_assert_ptr_nonnull(exe);
        char exe_copy[4096];
        snprintf(exe_copy, sizeof exe_copy, "%s", exe);
        uint64_t vb[4], vk[4];
        char *argv[] = { exe_copy, NULL };
        memcheck_leak_kinds(argv, vb, vk);
        char what[256];
        snprintf(what, sizeof what, "%s %s: memcheck", name, f.builds[b][1]);
        expect_kinds(&pr, what, vb, vk, f.kind_bytes, f.kind_blocks);
        for (int e = 0; e < 2; e++) {
            char engine[64], run_tag[200];
            snprintf(engine, sizeof engine, "--engine=%s", engines[e]);
            snprintf(run_tag, sizeof run_tag, "%s_%s", tag, engines[e]);
            char *extra[] = { engine, NULL };
            int status;
            json_t *root = run_memprof(run_tag, extra, argv, &status, NULL);
            ck_assert_int_eq(status, 0);
            uint64_t mb[4], mk[4];
            json_leak_kinds(json_object_get(root, "summary"), mb, mk);
            snprintf(what, sizeof what, "%s %s %s", name, f.builds[b][1], engines[e]);
            expect_kinds(&pr, what, mb, mk, vb, vk);
            expect_line_kinds(&pr, what, root, &f);
            json_decref(root);
        }
    }
    ck_assert_msg(pr.n == 0, "%d problems:\n%s", pr.n, pr.text);
}

START_TEST(every_kind_as_memcheck_says_c) { check_fixture_kinds("leak_kinds.c"); }
END_TEST

START_TEST(every_kind_as_memcheck_says_cxx_heuristics) { check_fixture_kinds("leak_kinds_cxx.cpp"); }
END_TEST

/* A program's own pool (<memprof/memprof.h>): the pieces are classed, not
 * the arena.  pool_kinds.c's annotations (by hand) hold for its mapped
 * arena; with its arena from malloc ("heap") memcheck, which leaves the
 * arena block out, must agree with them, and memprof too with the arena
 * counted as still reachable (1,024 bytes, 1 block). */
START_TEST(pool_pieces_are_classed_not_their_arena)
{
    struct fixture_spec f;
    fixture_parse("pool_kinds.c", &f);
    ck_assert(f.has_leakkinds && f.n_leakkind > 0);
    struct problems pr = { .len = 0 };
    for (int b = 0; b < f.n_builds; b++) {
        char tag[128];
        fixture_tag(tag, sizeof tag, "lk_", "pool_kinds.c", b);
        const char *exe = build_fixture("tests/fixtures/pool_kinds.c", f.builds[b][0], f.builds[b][1], tag);
        ck_assert_ptr_nonnull(exe);
        char exe_copy[4096];
        snprintf(exe_copy, sizeof exe_copy, "%s", exe);
        char *mapped[] = { exe_copy, NULL }, *heap[] = { exe_copy, "heap", NULL };
        uint64_t vb[4], vk[4];
        char what[256];
        memcheck_leak_kinds(heap, vb, vk);
        snprintf(what, sizeof what, "pool_kinds.c %s heap: memcheck", f.builds[b][1]);
        expect_kinds(&pr, what, vb, vk, f.kind_bytes, f.kind_blocks);
        uint64_t heap_bytes[4], heap_blocks[4];
        memcpy(heap_bytes, f.kind_bytes, sizeof heap_bytes);
        memcpy(heap_blocks, f.kind_blocks, sizeof heap_blocks);
        heap_bytes[3] += 1024;
        heap_blocks[3] += 1;
        for (int e = 0; e < 2; e++) {
            char engine[64], run_tag[200];
            snprintf(engine, sizeof engine, "--engine=%s", engines[e]);
            char *extra[] = { engine, NULL };
            for (int v = 0; v < 2; v++) {
                int status;
                snprintf(run_tag, sizeof run_tag, "%s_%s_%s", tag, engines[e], v ? "heap" : "mapped");
                json_t *root = run_memprof(run_tag, extra, v ? heap : mapped, &status, NULL);
                ck_assert_int_eq(status, 0);
                uint64_t mb[4], mk[4];
                json_leak_kinds(json_object_get(root, "summary"), mb, mk);
                snprintf(what, sizeof what, "pool_kinds.c %s %s %s", f.builds[b][1], engines[e],
                         v ? "heap" : "mapped");
                if (v) {
                    expect_kinds(&pr, what, mb, mk, heap_bytes, heap_blocks);
                } else {
                    expect_kinds(&pr, what, mb, mk, f.kind_bytes, f.kind_blocks);
                    expect_line_kinds(&pr, what, root, &f);
                }
                json_decref(root);
            }
        }
    }
    ck_assert_msg(pr.n == 0, "%d problems:\n%s", pr.n, pr.text);
}
END_TEST

/* The older fixtures, whose kinds nobody wrote down: memcheck is the oracle. */
START_TEST(older_fixtures_as_memcheck_says)
{
    static const char *const builds[][4] = {
        { "tests/fixtures/demo.c", "gcc", "-O0 -g", "lko_demo0" },
        { "tests/fixtures/demo.c", "gcc", "-O2 -g", "lko_demo2" },
        { "tests/fixtures/peak.c", "gcc", "-O2 -g", "lko_peak" },
        { "tests/fixtures/threads.c", "gcc", "-O0 -g -pthread", "lko_threads" },
        { "tests/fixtures/cxx.cpp", "g++", "-O2 -g", "lko_cxx" },
        { "tests/fixtures/gate_hello.c", "gcc", "-O0 -g", "lko_hello" },
        { "tests/fixtures/gate_iostream.cpp", "g++", "-O0 -g", "lko_iostream" },
    };
    struct problems pr = { .len = 0 };
    for (size_t i = 0; i < sizeof builds / sizeof *builds; i++) {
        const char *exe = build_fixture(builds[i][0], builds[i][1], builds[i][2], builds[i][3]);
        ck_assert_ptr_nonnull(exe);
        char exe_copy[4096];
        snprintf(exe_copy, sizeof exe_copy, "%s", exe);
        char *argv[] = { exe_copy, NULL };
        uint64_t vb[4], vk[4];
        memcheck_leak_kinds(argv, vb, vk);
        for (int e = 0; e < 2; e++) {
            char engine[64], tag[200], what[256];
            snprintf(engine, sizeof engine, "--engine=%s", engines[e]);
            snprintf(tag, sizeof tag, "%s_%s", builds[i][3], engines[e]);
            char *extra[] = { engine, NULL };
            int status;
            json_t *root = run_memprof(tag, extra, argv, &status, NULL);
            uint64_t mb[4], mk[4];
            json_leak_kinds(json_object_get(root, "summary"), mb, mk);
            snprintf(what, sizeof what, "%s %s %s", builds[i][0], builds[i][2], engines[e]);
            expect_kinds(&pr, what, mb, mk, vb, vk);
            json_decref(root);
        }
    }
    ck_assert_msg(pr.n == 0, "%d problems:\n%s", pr.n, pr.text);
}
END_TEST

/* ---- the gate ---- */

static int gate(const char *exe, char *const extra[], char **err)
{
    char *args[32];
    size_t n = 0;
    args[n++] = (char *)memprof_path();
    args[n++] = "-o";
    args[n++] = "/dev/null";
    for (size_t i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n++] = (char *)exe;
    args[n] = NULL;
    struct run_output o;
    ck_assert_int_eq(run_cmd(args, NULL, NULL, 120, &o), 0);
    if (err)
        *err = strdup(o.err);
    int status = o.status;
    run_output_free(&o);
    return status;
}

/* The README's CI line passes programs that leak nothing of their own. */
START_TEST(limit_leaks_0_passes_hello_worlds)
{
    static const char *const builds[][4] = {
        { "tests/fixtures/gate_hello.c", "gcc", "-O0 -g", "gate_hello" },
        { "tests/fixtures/threads.c", "gcc", "-O0 -g -pthread", "gate_threads" },
        { "tests/fixtures/gate_iostream.cpp", "g++", "-O0 -g", "gate_iostream" },
        /* static: glibc keeps its own blocks in RELRO data there (_dl_find_object_init) */
        { "tests/fixtures/gate_hello.c", "gcc", "-O0 -g -static", "gate_hello_static" },
        { "tests/fixtures/threads.c", "gcc", "-O0 -g -static -pthread", "gate_threads_static" },
        { "tests/fixtures/gate_iostream.cpp", "g++", "-O0 -g -static", "gate_iostream_static" },
    };
    for (size_t i = 0; i < sizeof builds / sizeof *builds; i++) {
        const char *exe = build_fixture(builds[i][0], builds[i][1], builds[i][2], builds[i][3]);
        ck_assert_ptr_nonnull(exe);
        char *err;
        char *plain[] = { "--limit-leaks", "0B", NULL };
        ck_assert_msg(gate(exe, plain, &err) == 0, "%s: %s", builds[i][0], err);
        free(err);
        char *bp[] = { "--limit-leaks", "0B", "--engine=breakpoint", NULL };
        ck_assert_msg(gate(exe, bp, &err) == 0, "%s breakpoint: %s", builds[i][0], err);
        free(err);
        /* every kind: the runtimes' own blocks are suppressed by default... */
        char *all[] = { "--limit-leaks", "0B", "--leak-kinds=all", NULL };
        ck_assert_msg(gate(exe, all, &err) == 0, "%s --leak-kinds=all: %s", builds[i][0], err);
        free(err);
        /* ...and without the built-in suppressions they are there */
        char *bare[] = { "--limit-leaks", "0B", "--leak-kinds=all", "--no-default-suppressions", NULL };
        ck_assert_msg(gate(exe, bare, &err) == 3, "%s without default suppressions passed", builds[i][0]);
        ck_assert_ptr_nonnull(strstr(err, "leaked memory (all kinds) "));
        free(err);
    }
}
END_TEST

/* The line of gate_one_leak.c that loses the block, from its annotation. */
static int lost_line(void)
{
    struct fixture_spec f;
    fixture_parse("gate_one_leak.c", &f);
    for (int i = 0; i < f.n_lines; i++)
        if (f.lines[i].has_leakkind && f.lines[i].kind_blocks[0] == 1)
            return f.lines[i].line;
    ck_abort_msg("gate_one_leak.c has no definitely lost line");
    return 0;
}

static const char *one_leak(void)
{
    static char path[4096];
    if (!path[0]) {
        const char *p = build_fixture("tests/fixtures/gate_one_leak.c", "gcc", "-O0 -g", "gate_one_leak");
        ck_assert_ptr_nonnull(p);
        snprintf(path, sizeof path, "%s", p);
    }
    return path;
}

START_TEST(limit_leaks_0_fails_a_lost_block_naming_its_line)
{
    char want[512];
    snprintf(want, sizeof want, "memprof: leaked memory (definite, indirect) 40 B exceeds --limit-leaks 0 B "
             "(tests/fixtures/gate_one_leak.c:%d leaked 40 B)\n", lost_line());
    for (int e = 0; e < 2; e++) {
        char engine[64], *err;
        snprintf(engine, sizeof engine, "--engine=%s", engines[e]);
        char *extra[] = { "--limit-leaks", "0B", engine, NULL };
        ck_assert_int_eq(gate(one_leak(), extra, &err), 3);
        ck_assert_str_eq(err, want);
        free(err);
    }
    char *err;
    char *limit40[] = { "--limit-leaks", "40B", NULL };
    ck_assert_int_eq(gate(one_leak(), limit40, &err), 0);
    free(err);
}
END_TEST

/* env -i and a replaced LD_PRELOAD take the agent away from the program:
 * the breakpoint engine profiles it instead, with the same numbers. */
START_TEST(an_image_without_the_agent_is_profiled_by_breakpoints)
{
    int status;
    char *direct_argv[] = { (char *)one_leak(), NULL };
    json_t *direct = run_memprof("fb_direct", NULL, direct_argv, &status, NULL);
    ck_assert_int_eq(status, 0);
    char preload[] = "LD_PRELOAD=libm.so.6";
    char *ways[][5] = { { "env", "-i", (char *)one_leak(), NULL }, { "env", preload, (char *)one_leak(), NULL } };
    for (int w = 0; w < 2; w++) {
        char tag[32], *err;
        snprintf(tag, sizeof tag, "fb_%d", w);
        /* env is an image of the tree too (its own heap, over 1 KiB): the program alone is profiled */
        char *extra[] = { "--follow-only", "gate_one_leak", "--limit-heap", "1KiB", "--limit-leaks", "0B", NULL };
        json_t *root = run_memprof(tag, extra, ways[w], &status, &err);
        ck_assert_msg(status == 3, "%s: status %d: %s", ways[w][1], status, err);
        ck_assert_msg(strstr(err, "leaked memory (definite, indirect) 40 B exceeds --limit-leaks 0 B") != NULL, "%s",
                      err);
        free(err);
        json_t *s = json_object_get(root, "summary");
        ck_assert(json_is_true(json_object_get(s, "heap_profiled")));
        ck_assert_str_eq(json_string_value(json_object_get(s, "engine")), "breakpoint");
        static const char *const same[] = { "alloc_calls", "allocated_bytes", "free_calls", "peak_heap_bytes",
                                            "leaked_bytes", "definitely_lost_bytes", "definitely_lost_blocks" };
        for (size_t i = 0; i < sizeof same / sizeof *same; i++)
            ck_assert_msg(summary_u64(root, same[i]) == summary_u64(direct, same[i]), "%s: %s %llu, direct %llu",
                          ways[w][1], same[i], (unsigned long long)summary_u64(root, same[i]),
                          (unsigned long long)summary_u64(direct, same[i]));
        char warnings[4096] = "";
        char *dump = json_dumps(json_object_get(root, "warnings"), 0);
        snprintf(warnings, sizeof warnings, "%s", dump);
        free(dump);
        ck_assert_msg(strstr(warnings, "cannot load in") && strstr(warnings, "breakpoint engine recorded its heap"),
                      "%s", warnings);
        json_decref(root);
    }
    json_decref(direct);
}
END_TEST

/* A static program without a symbol table: no engine finds its malloc.
 * The heap limit cannot pass, the report says the heap is missing. */
START_TEST(a_heap_nothing_measured_never_passes)
{
    const char *exe = build_fixture("tests/fixtures/gate_one_leak.c", "gcc", "-O0 -static -s", "gate_stripped");
    ck_assert_ptr_nonnull(exe);
    char exe_copy[4096];
    snprintf(exe_copy, sizeof exe_copy, "%s", exe);
    char *argv[] = { exe_copy, NULL };
    char *extra[] = { "--limit-heap", "1KiB", NULL };
    int status;
    char *err;
    json_t *root = run_memprof("unmeasured", extra, argv, &status, &err);
    ck_assert_int_eq(status, 3);
    ck_assert_msg(strstr(err, "memprof: --limit-heap cannot be checked: the heap was not profiled (") != NULL, "%s",
                  err);
    free(err);
    json_t *s = json_object_get(root, "summary");
    ck_assert(json_is_false(json_object_get(s, "heap_profiled")));
    ck_assert(json_is_string(json_object_get(s, "heap_note")));
    json_decref(root);
    char text[4096];
    snprintf(text, sizeof text, "%s/unmeasured.txt", test_tmp_dir());
    char *t = read_file(text, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_null(strstr(t, "Leaks: none"));
    ck_assert_ptr_nonnull(strstr(t, "heap               not profiled: "));
    free(t);
    /* --engine=none is the same */
    char *none[] = { "--engine=none", "--limit-leaks", "0B", NULL };
    ck_assert_int_eq(gate(one_leak(), none, &err), 3);
    ck_assert_ptr_nonnull(strstr(err, "--limit-leaks cannot be checked"));
    free(err);
}
END_TEST

/* ---- suppressions ---- */

static char *write_supp(const char *name, const char *text)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", test_tmp_dir(), name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

START_TEST(suppressions_take_a_stack_out_of_the_gate)
{
    static const char *const files[] = {
        "# LeakSanitizer format\nleak:lose_one\n",          /* a function */
        "\n  leak:gate_one_leak.c  \n",                       /* a source file */
        "leak:^lose_o*e$\n",                                  /* anchored glob */
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char name[32], *err;
        snprintf(name, sizeof name, "supp%zu.txt", i);
        char *path = write_supp(name, files[i]);
        char *extra[] = { "--limit-leaks", "0B", "--suppressions", path, NULL };
        int status;
        char *argv[] = { (char *)one_leak(), NULL };
        json_t *root = run_memprof(name, extra, argv, &status, &err);
        ck_assert_msg(status == 0, "%s: status %d: %s", files[i], status, err);
        free(err);
        /* the kinds still count the block; the stack says what took it out */
        ck_assert_int_eq(summary_u64(root, "definitely_lost_bytes"), 40);
        ck_assert_int_eq(summary_u64(root, "suppressed_bytes"), 40);
        ck_assert_int_eq(summary_u64(root, "suppressed_blocks"), 1);
        json_t *leak = json_array_get(json_object_get(root, "leaks"), 0);
        const char *rule = json_string_value(json_object_get(leak, "suppressed"));
        ck_assert_msg(rule && strncmp(rule, "leak:", 5) == 0 && strstr(rule, name), "%s", rule ? rule : "(none)");
        json_decref(root);
    }
    /* a pattern that matches nothing changes nothing */
    char *path = write_supp("supp_none.txt", "leak:no_such_function_anywhere\n");
    char *extra[] = { "--limit-leaks", "0B", "--suppressions", path, NULL };
    char *err;
    ck_assert_int_eq(gate(one_leak(), extra, &err), 3);
    free(err);
}
END_TEST

START_TEST(bad_suppression_files_and_kinds_are_usage_errors)
{
    static const struct { const char *text, *message; } bad[] = {
        { "race:foo\n", "supp_bad.txt:1: unknown suppression type 'race': memprof reads leak:PATTERN lines" },
        { "# fine\nleak:\n", "supp_bad.txt:2: leak: needs a pattern" },
        { "lose_one\n", "supp_bad.txt:1: expected leak:PATTERN (LeakSanitizer's suppression format)" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *path = write_supp("supp_bad.txt", bad[i].text);
        char *extra[] = { "--suppressions", path, NULL };
        char *err;
        ck_assert_int_eq(gate(one_leak(), extra, &err), 2);
        ck_assert_int_eq(count_lines(err), 1);
        ck_assert_msg(strstr(err, bad[i].message) != NULL, "%s", err);
        free(err);
    }
    char *missing[] = { "--suppressions", "/nonexistent/supp.txt", NULL };
    char *err;
    ck_assert_int_eq(gate(one_leak(), missing, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "memprof: cannot read suppressions file /nonexistent/supp.txt: "));
    free(err);
    static const char *const kinds[] = { "", "lost", "definite,", "all,bogus" };
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        char *extra[] = { "--leak-kinds", (char *)kinds[i], NULL };
        ck_assert_int_eq(gate(one_leak(), extra, &err), 2);
        ck_assert_ptr_nonnull(strstr(err, "--leak-kinds takes a comma list of definite, indirect, possible and "
                                          "reachable, or all"));
        free(err);
    }
}
END_TEST

/* memprof report renders the saved kinds and suppressions as the run did. */
START_TEST(saved_report_keeps_kinds_and_suppressions)
{
    char *path = write_supp("supp_report.txt", "leak:lose_one\n");
    char *extra[] = { "--stable", "--suppressions", path, NULL };
    char *argv[] = { (char *)one_leak(), NULL };
    int status;
    json_t *root = run_memprof("saved", extra, argv, &status, NULL);
    json_decref(root);
    char json[4096], text[4096], again[4096];
    snprintf(json, sizeof json, "%s/saved.json", test_tmp_dir());
    snprintf(text, sizeof text, "%s/saved.txt", test_tmp_dir());
    snprintf(again, sizeof again, "%s/saved_again.txt", test_tmp_dir());
    char *args[] = { (char *)memprof_path(), "report", json, "-o", again, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(args, NULL, NULL, 60, &o), 0);
    ck_assert_msg(o.status == 0, "%s", o.err);
    run_output_free(&o);
    char *t1 = read_file(text, NULL), *t2 = read_file(again, NULL);
    ck_assert_ptr_nonnull(t1);
    ck_assert_ptr_nonnull(t2);
    const char *l1 = strstr(t1, "\nLeaks: "), *l2 = strstr(t2, "\nLeaks: ");
    ck_assert_ptr_nonnull(l1);
    ck_assert_ptr_nonnull(l2);
    ck_assert_ptr_nonnull(strstr(l1, "definitely lost    40 B in 1 block, suppressed 40 B in 1 block"));
    ck_assert_ptr_nonnull(strstr(l1, "leak:lose_one ("));
    size_t len = (size_t)(strstr(l1, "\nRSS") ? strstr(l1, "\nFilename") - l1 : (long)strlen(l1));
    ck_assert_msg(strncmp(l1, l2, len) == 0, "run:\n%.*s\nreport:\n%.*s", (int)len, l1, (int)len, l2);
    free(t1);
    free(t2);
}
END_TEST

/* "1,276": the grouping every count and --stable size in a report uses. */
static void grouped(char *buf, size_t len, uint64_t v)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v), o = 0;
    for (int i = 0; i < n && (size_t)o + 2 < len; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

/* The HTML report (a CI artifact) shows the leaks as the gate counts them:
 * the four kinds from the fixture's @leakkinds, then only the lines holding
 * definitely or indirectly lost blocks, each with its @leakkind's bytes. */
START_TEST(html_report_lists_the_gate_kinds)
{
    struct fixture_spec f;
    fixture_parse("leak_kinds.c", &f);
    const char *exe = build_fixture("tests/fixtures/leak_kinds.c", f.builds[0][0], f.builds[0][1], "lk_html");
    ck_assert_ptr_nonnull(exe);
    char exe_copy[4096], html[4096];
    snprintf(exe_copy, sizeof exe_copy, "%s", exe);
    snprintf(html, sizeof html, "html=%s/lk_html.html", test_tmp_dir());
    char *extra[] = { "--stable", "--export", html, NULL };
    char *argv[] = { exe_copy, NULL };
    int status;
    json_decref(run_memprof("lk_html", extra, argv, &status, NULL));
    ck_assert_int_eq(status, 0);
    char *page = read_file(html + 5, NULL);
    ck_assert_ptr_nonnull(page);
    char *section = strstr(page, "<h2 id=\"leaks\">Leaks</h2>");
    ck_assert_ptr_nonnull(section);
    char *end = strstr(section + 1, "<h2");
    if (end)
        *end = '\0';
    /* the summary's line and the table of kinds */
    static const char *const titles[4] = { "definitely lost", "indirectly lost", "possibly lost", "still reachable" };
    uint64_t total_bytes = 0, total_blocks = 0;
    char want[512], a[32], b[32];
    for (int k = 0; k < 4; k++) {
        total_bytes += f.kind_bytes[k];
        total_blocks += f.kind_blocks[k];
        grouped(a, sizeof a, f.kind_bytes[k]);
        grouped(b, sizeof b, f.kind_blocks[k]);
        snprintf(want, sizeof want, "<tr><td>%s B</td><td>%s</td><td>", a, b);
        char *row = strstr(section, want);
        ck_assert_msg(row && strstr(row, titles[k]) && strstr(row, titles[k]) < strstr(row, "</tr>"),
                      "no row %s... %s in:\n%s", want, titles[k], section);
    }
    grouped(a, sizeof a, total_bytes);
    grouped(b, sizeof b, total_blocks);
    snprintf(want, sizeof want, "leaked at exit</td><td class=\"l\">%s B in %s blocks: ", a, b);
    ck_assert_msg(strstr(page, want) != NULL, "no '%s' in the summary", want);
    /* the lines: definite and indirect only */
    char *lines = strstr(strstr(section, "</table>"), "<table");
    ck_assert_ptr_nonnull(lines);
    int listed = 0;
    for (int i = 0; i < f.n_lines; i++) {
        const struct fixture_line *fl = &f.lines[i];
        if (!fl->has_leakkind)
            continue;
        char place[64];
        snprintf(place, sizeof place, "leak_kinds.c:%d (", fl->line);
        char *at = strstr(lines, place);
        uint64_t bytes = fl->kind_bytes[0] + fl->kind_bytes[1], blocks = fl->kind_blocks[0] + fl->kind_blocks[1];
        if (!blocks) {
            ck_assert_msg(at == NULL, "line %d holds no lost block but is listed:\n%s", fl->line, lines);
            continue;
        }
        ck_assert_msg(at != NULL, "line %d (lost blocks) is not listed:\n%s", fl->line, lines);
        char *row = at;
        while (row > lines && strncmp(row, "<tr>", 4) != 0)
            row--;
        grouped(a, sizeof a, bytes);
        grouped(b, sizeof b, blocks);
        snprintf(want, sizeof want, "<tr><td>%s B</td><td>%s</td><td>", a, b);
        ck_assert_msg(strncmp(row, want, strlen(want)) == 0, "line %d: want %s in:\n%.200s", fl->line, want, row);
        listed++;
    }
    ck_assert_int_gt(listed, 0);
    free(page);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("leaks");
    TCase *tc = tcase_create("kinds and gates");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, every_kind_as_memcheck_says_c);
    tcase_add_test(tc, every_kind_as_memcheck_says_cxx_heuristics);
    tcase_add_test(tc, pool_pieces_are_classed_not_their_arena);
    tcase_add_test(tc, older_fixtures_as_memcheck_says);
    tcase_add_test(tc, limit_leaks_0_passes_hello_worlds);
    tcase_add_test(tc, limit_leaks_0_fails_a_lost_block_naming_its_line);
    tcase_add_test(tc, an_image_without_the_agent_is_profiled_by_breakpoints);
    tcase_add_test(tc, a_heap_nothing_measured_never_passes);
    tcase_add_test(tc, suppressions_take_a_stack_out_of_the_gate);
    tcase_add_test(tc, bad_suppression_files_and_kinds_are_usage_errors);
    tcase_add_test(tc, saved_report_keeps_kinds_and_suppressions);
    tcase_add_test(tc, html_report_lists_the_gate_kinds);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
