/* memprof tests: the breakpoint engine (--engine=breakpoint, and the
 * default for statically linked programs) end to end, plus unit tests of
 * emulate.c's flag-setting instructions.
 *
 * Every expected number comes from a fixture's source (its annotations,
 * grammar: tests/fixtures/README, the derivations in each file's header),
 * from valgrind, or - for the few blocks static glibc allocates before main,
 * whose sizes depend on the executable's path - from gdb stopping at each
 * allocator entry until main.  Nothing is taken from memprof's own output,
 * except where two of memprof's engines are compared with each other.
 *
 *  - annotated fixtures (basic.c, threads.c, bp_*.c) built dynamically
 *    (--engine=breakpoint) and with -static (no --engine: the report must
 *    say engine "breakpoint"): totals and every line exact;
 *  - agent and breakpoint engines on the same binaries: identical summary
 *    and per-line numbers, and totals equal to valgrind's;
 *  - fork, exec and posix_spawn children of a process under the engine;
 *  - mp_emu_decode/mp_emu_execute on test r,r and cmp byte [rip+d],imm8
 *    against the CPU's own flags. */
#define _GNU_SOURCE
#include "harness.h"

#include "capture/trap/emulate.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/user.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Annotations                                                                */
/* ------------------------------------------------------------------------ */

#define MAX_LINE 4096

/* fixture_parse, and the annotations this program cannot do without. */
static void parse_fixture(const char *name, struct fixture_spec *f)
{
    fixture_parse(name, f);
    ck_assert_msg(f->n_builds > 0 && f->has_total, "%s: needs @build and @total", name);
}

/* ------------------------------------------------------------------------ */
/* memprof's JSON report                                                      */
/* ------------------------------------------------------------------------ */

static json_t *load_json(const char *path)
{
    json_error_t e;
    json_t *root = json_load_file(path, 0, &e);
    ck_assert_msg(root != NULL, "%s: not JSON: %s (line %d)", path, e.text, e.line);
    return root;
}

static const char *summary_str(json_t *root, const char *key)
{
    json_t *v = json_object_get(json_object_get(root, "summary"), key);
    return json_is_string(v) ? json_string_value(v) : "(not a string)";
}

enum { F_CALLS, F_BYTES, F_FREES, F_FREED, F_PEAK, F_LEAKED, F_LEAKED_BLOCKS, F_TEMPORARY, N_FIELDS };
static const char *const line_fields[N_FIELDS] = { "alloc_calls", "allocated_bytes", "free_calls", "freed_bytes",
                                                   "peak_bytes", "leaked_bytes", "leaked_blocks", "temporary_calls" };

struct line_numbers {
    int seen;
    uint64_t v[N_FIELDS];
    uint64_t occurrences, incl_bytes; /* from the function tables */
};

/* The records of the fixture's lines, summed per line number (a line can
 * appear once per function, e.g. an inlined helper). */
static void fixture_lines(json_t *root, const char *name, struct line_numbers *by_line)
{
    memset(by_line, 0, MAX_LINE * sizeof *by_line);
    json_t *lines = json_object_get(root, "lines");
    ck_assert(json_is_array(lines));
    for (size_t i = 0; i < json_array_size(lines); i++) {
        json_t *l = json_array_get(lines, i);
        if (!fixture_file_is(json_string_value(json_object_get(l, "file")), name))
            continue;
        uint64_t ln = obj_u64(l, "line");
        ck_assert_msg(ln > 0 && ln < MAX_LINE, "%s: line %" PRIu64, name, ln);
        by_line[ln].seen = 1;
        for (int k = 0; k < N_FIELDS; k++)
            by_line[ln].v[k] += obj_u64(l, line_fields[k]);
    }
    json_t *tables = json_object_get(root, "tables");
    for (size_t i = 0; json_is_array(tables) && i < json_array_size(tables); i++) {
        json_t *t = json_array_get(tables, i);
        if (!fixture_file_is(json_string_value(json_object_get(t, "file")), name))
            continue;
        json_t *rows = json_object_get(t, "rows");
        for (size_t k = 0; json_is_array(rows) && k < json_array_size(rows); k++) {
            json_t *r = json_array_get(rows, k);
            uint64_t ln = obj_u64(r, "line");
            if (ln == 0 || ln >= MAX_LINE)
                continue;
            uint64_t occ = obj_u64(r, "occurrences"), bytes = obj_u64(r, "allocated_bytes");
            if (occ > by_line[ln].occurrences)
                by_line[ln].occurrences = occ;
            if (bytes > by_line[ln].incl_bytes)
                by_line[ln].incl_bytes = bytes;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Running things                                                             */
/* ------------------------------------------------------------------------ */

/* memprof [--engine=ENGINE] --stable --tables 0 --json TMP/TAG.json -o
 * TMP/TAG.txt EXE: must exit 0 (every fixture exits 0 when all went well).
 * Returns the parsed JSON; on another status, NULL with a problem noted in
 * pr (or the test fails at once when pr is NULL). */
static json_t *run_memprof(const char *exe, const char *engine, const char *tag, struct problems *pr)
{
    char json[4096], text[4096], engine_opt[64];
    snprintf(json, sizeof json, "%s/%s.json", test_tmp_dir(), tag);
    snprintf(text, sizeof text, "%s/%s.txt", test_tmp_dir(), tag);
    unlink(json);
    char *argv[16];
    int k = 0;
    argv[k++] = (char *)memprof_path();
    if (engine) {
        snprintf(engine_opt, sizeof engine_opt, "--engine=%s", engine);
        argv[k++] = engine_opt;
    }
    argv[k++] = "--stable";
    argv[k++] = "--tables";
    argv[k++] = "0";
    argv[k++] = "--json";
    argv[k++] = json;
    argv[k++] = "-o";
    argv[k++] = text;
    argv[k++] = (char *)exe;
    argv[k] = NULL;
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 300, &o), 0);
    if (o.status != 0) {
        ck_assert_msg(pr != NULL, "%s (engine %s): memprof exited %d (the fixture's status, or a crash)\n%.3000s", tag,
                      engine ? engine : "auto", o.status, o.err);
        problem(pr, "%s (engine %s): memprof exited %d (the fixture's status, or a crash)\n%.3000s", tag,
                engine ? engine : "auto", o.status, o.err);
        run_output_free(&o);
        return NULL;
    }
    run_output_free(&o);
    /* a fixture with children gives a tree: its numbers are its first process's */
    json_t *root = load_json(json), *top = tree_process(root, 1);
    json_decref(root);
    return top;
}

/* ---- gdb: what a static program allocates before main ------------------- */

/* Stops at each malloc-family entry until main, counting like valgrind
 * (calls made inside another allocator call are not counted; aliases at
 * one address count once) and prints "PREMAIN calls bytes frees". */
static const char premain_py[] =
    "import gdb\n"
    "gdb.execute('set pagination off')\n"
    "gdb.execute('set confirm off')\n"
    "gdb.execute('set startup-with-shell off')\n"
    "NAMES = ['malloc', 'free', 'calloc', 'realloc', 'reallocarray', 'posix_memalign', 'aligned_alloc',\n"
    "         'memalign', 'valloc', 'pvalloc']\n"
    "INNER = set(NAMES) | set('__libc_' + n for n in NAMES)\n"
    "st = {'calls': 0, 'bytes': 0, 'frees': 0}\n"
    "seen = {}\n"
    "def reg(n):\n"
    "    return int(gdb.parse_and_eval('$' + n)) & 0xffffffffffffffff\n"
    "class Entry(gdb.Breakpoint):\n"
    "    def __init__(self, name):\n"
    "        super().__init__(name, internal=True)\n"
    "        self.fn = name\n"
    "    def stop(self):\n"
    "        if seen.setdefault(reg('pc'), self.fn) != self.fn:\n"
    "            return False\n"
    "        f = gdb.newest_frame().older()\n"
    "        while f is not None:\n"
    "            if (f.name() or '') in INNER:\n"
    "                return False\n"
    "            f = f.older()\n"
    "        a, b, c, fn = reg('rdi'), reg('rsi'), reg('rdx'), self.fn\n"
    "        if fn == 'free':\n"
    "            st['frees'] += a != 0\n"
    "        elif fn in ('realloc', 'reallocarray'):\n"
    "            n = b if fn == 'realloc' else b * c\n"
    "            st['frees'] += a != 0\n"
    "            if n:\n"
    "                st['calls'] += 1; st['bytes'] += n\n"
    "        elif fn == 'calloc':\n"
    "            st['calls'] += 1; st['bytes'] += a * b\n"
    "        elif fn in ('memalign', 'aligned_alloc'):\n"
    "            st['calls'] += 1; st['bytes'] += b\n"
    "        elif fn == 'posix_memalign':\n"
    "            st['calls'] += 1; st['bytes'] += c\n"
    "        else:\n"
    "            st['calls'] += 1; st['bytes'] += a\n"
    "        return False\n"
    "for n in NAMES:\n"
    "    Entry(n)\n"
    "gdb.Breakpoint('main', internal=True)\n"
    "gdb.execute('run')\n"
    "print('PREMAIN %d %d %d' % (st['calls'], st['bytes'], st['frees']))\n"
    "gdb.execute('kill')\n";

static int have_gdb(void)
{
    return system("gdb --version >/dev/null 2>&1") == 0;
}

static int premain_by_gdb(const char *exe, uint64_t *calls, uint64_t *bytes, uint64_t *frees)
{
    char script[4096];
    snprintf(script, sizeof script, "%s/bp_premain.py", test_tmp_dir());
    FILE *f = fopen(script, "w");
    ck_assert_ptr_nonnull(f);
    fputs(premain_py, f);
    fclose(f);
    char *argv[] = { "gdb", "-batch", "-nx", "-x", script, (char *)exe, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    unsigned long long v[3];
    int ok = numbers_after(o.out, "PREMAIN ", v, 3) == 0;
    ck_assert_msg(ok, "gdb could not count the allocations before main of %s:\n%.2000s\n%.2000s", exe, o.out, o.err);
    *calls = v[0];
    *bytes = v[1];
    *frees = v[2];
    run_output_free(&o);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* One annotated build under the breakpoint engine                           */
/* ------------------------------------------------------------------------ */

/* Builds tests/fixtures/NAME with COMPILER FLAGS and runs it under memprof:
 * --engine=breakpoint for a dynamic build, no --engine for a -static one
 * (the breakpoint engine is the default there).  Checks the engine, the
 * totals and every line against the annotations. */
static void check_build(const struct fixture_spec *f, const char *compiler, const char *flags, int b,
                        struct problems *all)
{
    char tag[256], rel[256];
    fixture_tag(tag, sizeof tag, "bp_", f->name, b);
    snprintf(rel, sizeof rel, "tests/fixtures/%s", f->name);
    const char *exe = build_fixture(rel, compiler, flags, tag);
    ck_assert_ptr_nonnull(exe);
    int is_static = strstr(flags, "-static") != NULL;
    json_t *root = run_memprof(exe, is_static ? NULL : "breakpoint", tag, all);
    if (!root)
        return;
    const char *name = f->name;
    struct problems pr = { .len = 0 };

    if (strcmp(summary_str(root, "engine"), "breakpoint") != 0)
        problem(&pr, "engine \"%s\", not breakpoint", summary_str(root, "engine"));
    if (summary_u64(root, "events_lost") != 0)
        problem(&pr, "%" PRIu64 " events lost", summary_u64(root, "events_lost"));
    /* A thread that exits makes glibc release its tcache with free
     * (tcache_thread_shutdown): breakpoints see those calls, of chunks the
     * program had freed already and of the cache itself, allocated inside
     * malloc.  How many is glibc's business, not the fixture's. */
    int threads_exit = strstr(name, "threads") != NULL;
    if (summary_u64(root, "unknown_frees") != 0 && !threads_exit)
        problem(&pr, "%" PRIu64 " frees of blocks never seen allocated (every block freed is the program's)",
                summary_u64(root, "unknown_frees"));
    if (summary_u64(root, "reused_live_blocks") != 0)
        problem(&pr, "%" PRIu64 " allocations returned a block that was still live",
                summary_u64(root, "reused_live_blocks"));

    /* Totals: the annotations; a static build adds what static glibc
     * allocates before main instead of the dynamic build's @premain. */
    uint64_t calls = f->total_calls, bytes = f->total_bytes, frees = f->total_frees;
    int check_totals = 1;
    if (is_static) {
        if (have_gdb()) {
            uint64_t pc, pb, pf;
            premain_by_gdb(exe, &pc, &pb, &pf);
            calls = calls - f->premain_calls + pc;
            bytes = bytes - f->premain_bytes + pb;
            frees = frees - f->premain_frees + pf;
        } else {
            fprintf(stderr, "test_bpengine: no gdb: the totals of static %s are not checked\n", name);
            check_totals = 0;
        }
    }
    uint64_t got_calls = summary_u64(root, "alloc_calls"), got_bytes = summary_u64(root, "allocated_bytes"),
             got_frees = summary_u64(root, "free_calls");
    if (check_totals && (got_calls != calls || got_bytes != bytes || got_frees != frees))
        problem(&pr, "totals %" PRIu64 " calls %" PRIu64 " bytes %" PRIu64 " frees, expected %" PRIu64 " %" PRIu64
                " %" PRIu64 "%s",
                got_calls, got_bytes, got_frees, calls, bytes, frees,
                is_static ? " (annotations + gdb's count before main)" : "");

    /* Lines: every @expect exactly, no allocation on a line without one. */
    static struct line_numbers by_line[MAX_LINE];
    fixture_lines(root, name, by_line);
    uint64_t attributed_calls = 0, attributed_bytes = 0;
    for (int ln = 1; ln < MAX_LINE; ln++) {
        const struct line_numbers *ob = &by_line[ln];
        const struct fixture_line *e = fixture_line_at(f, ln);
        attributed_calls += ob->v[F_CALLS];
        attributed_bytes += ob->v[F_BYTES];
        if (ob->v[F_CALLS] && !(e && e->has_expect))
            problem(&pr, "line %d has %" PRIu64 " allocations (%" PRIu64 " bytes), no @expect", ln, ob->v[F_CALLS],
                    ob->v[F_BYTES]);
        if (!e)
            continue;
        if (e->has_expect &&
            (ob->v[F_CALLS] != e->alloc_calls || ob->v[F_BYTES] != e->allocated_bytes ||
             ob->v[F_FREES] != e->free_calls || ob->v[F_FREED] != e->freed_bytes))
            problem(&pr, "line %d: calls=%" PRIu64 " bytes=%" PRIu64 " frees=%" PRIu64 " freed=%" PRIu64
                    ", expected %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64,
                    ln, ob->v[F_CALLS], ob->v[F_BYTES], ob->v[F_FREES], ob->v[F_FREED], e->alloc_calls,
                    e->allocated_bytes, e->free_calls, e->freed_bytes);
        if (e->has_incl && (ob->occurrences != e->occurrences || ob->incl_bytes != e->incl_bytes))
            problem(&pr, "line %d inclusive: occurrences=%" PRIu64 " bytes=%" PRIu64 ", expected %" PRIu64
                    " %" PRIu64,
                    ln, ob->occurrences, ob->incl_bytes, e->occurrences, e->incl_bytes);
    }
    if (!is_static && (got_calls - attributed_calls != f->unattributed_calls ||
                       got_bytes - attributed_bytes != f->unattributed_bytes))
        problem(&pr, "%" PRIu64 " calls (%" PRIu64 " bytes) outside the fixture's lines, expected %" PRIu64
                " (%" PRIu64 ")",
                got_calls - attributed_calls, got_bytes - attributed_bytes, f->unattributed_calls,
                f->unattributed_bytes);
    json_decref(root);
    if (pr.n)
        problem(all, "%s [%s %s, %s]: %d problem(s); report in %s/%s.txt\n%s", name, compiler, flags,
                is_static ? "static, no --engine" : "--engine=breakpoint", pr.n, test_tmp_dir(), tag, pr.text);
}

/* Every @build of the fixture, plus the extra builds given (NULL-ended
 * pairs of compiler and flags); fails with the problems of all builds. */
static void check_fixture(const char *name, const char *const *extra)
{
    static struct fixture_spec f;
    parse_fixture(name, &f);
    struct problems all = { .len = 0 };
    int b = 0;
    for (; b < f.n_builds; b++)
        check_build(&f, f.builds[b][0], f.builds[b][1], b, &all);
    for (int i = 0; extra && extra[i]; i += 2, b++)
        check_build(&f, extra[i], extra[i + 1], b, &all);
    ck_assert_msg(all.n == 0, "%d of %d builds failed\n%s", all.n, b, all.text);
}

START_TEST(static_basic_c)
{
    /* only the static build here; the dynamic ones are in dynamic_basic_c */
    static struct fixture_spec f;
    parse_fixture("basic.c", &f);
    struct problems all = { .len = 0 };
    check_build(&f, "gcc", "-O0 -g -static", 10, &all);
    ck_assert_msg(all.n == 0, "%s", all.text);
}
END_TEST

START_TEST(dynamic_basic_c) { check_fixture("basic.c", NULL); }
END_TEST

START_TEST(threads_c)
{
    static const char *const extra[] = { "gcc", "-O0 -g -pthread -static", NULL };
    check_fixture("threads.c", extra);
}
END_TEST

START_TEST(bp_threads_c) { check_fixture("bp_threads.c", NULL); }
END_TEST
START_TEST(bp_calls_c) { check_fixture("bp_calls.c", NULL); }
END_TEST
START_TEST(bp_cxx_global_cpp) { check_fixture("bp_cxx_global.cpp", NULL); }
END_TEST
START_TEST(bp_fork_c) { check_fixture("bp_fork.c", NULL); }
END_TEST
START_TEST(bp_loop_c) { check_fixture("bp_loop.c", NULL); }
END_TEST

/* ------------------------------------------------------------------------ */
/* Stops: one per distinct stack, not one per call                          */
/* ------------------------------------------------------------------------ */

/* A loop fixture's stops.  It makes loop_calls allocator calls
 * (loop_allocs of them allocations) from at most `stacks` distinct call
 * stacks, and `per_call` more stops it cannot avoid (a throw inside a
 * recorded call stops once).  summary.engine_stops (null with --stable, so
 * this run is without) must be at most one per distinct stack, plus
 * per_call, plus one per call made outside the loop (static glibc's before
 * main, whose stacks are all different), plus 6 for the loader's
 * breakpoint and arming.  At -O0 every frame is rbp-based: no stack can be
 * matched, so each of the loop's allocations stops (the frees of glibc's
 * free never do: its stub records them).  MEMPROF_BP_FAST=0 turns the fast
 * entries off: every allocation stops, and the totals are the same. */
struct loop_case {
    const char *name, *compiler;
    uint64_t loop_allocs, loop_calls, stacks, per_call;
    const char *static_line; /* text of a line whose numbers a static build changes (or NULL) */
};

static void check_stops(const struct loop_case *c, const char *flags, const char *tag, int fast)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/%s", c->name);
    const char *exe = build_fixture(rel, c->compiler, flags, tag);
    ck_assert_ptr_nonnull(exe);
    char json[4096];
    snprintf(json, sizeof json, "%s/%s.json", test_tmp_dir(), tag);
    unlink(json);
    char *argv[] = { (char *)memprof_path(), "--engine=breakpoint", "-o", "/dev/null", "--json", json, (char *)exe,
                     NULL };
    char *env[] = { fast ? "MEMPROF_BP_FAST=1" : "MEMPROF_BP_FAST=0", NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, env, 300, &o), 0);
    ck_assert_msg(o.status == 0, "%s: memprof exited %d\n%.3000s", tag, o.status, o.err);
    run_output_free(&o);
    json_t *root = load_json(json);
    uint64_t allocs = summary_u64(root, "alloc_calls"), calls = allocs + summary_u64(root, "free_calls"),
             stops = summary_u64(root, "engine_stops");
    ck_assert_msg(allocs >= c->loop_allocs && calls >= c->loop_calls, "%s: %" PRIu64 " allocator calls", tag, calls);
    ck_assert_msg(summary_u64(root, "events_lost") == 0, "%s: events lost", tag);
    ck_assert_msg(summary_u64(root, "unknown_frees") == 0, "%s: unknown frees", tag);
    uint64_t bound = c->stacks + c->per_call + (calls - c->loop_calls) + 6;
    int rbp_frames = strstr(flags, "-O0") != NULL;
    if (fast && !rbp_frames)
        ck_assert_msg(stops <= bound,
                      "%s: %" PRIu64 " stops for %" PRIu64 " allocations (%" PRIu64 " calls): expected at most %"
                      PRIu64, tag, stops, allocs, calls, bound);
    else
        ck_assert_msg(stops >= c->loop_allocs, "%s: %" PRIu64 " stops for %" PRIu64 " allocations: every one must stop",
                      tag, stops, allocs);
    /* and every line exactly as annotated, whether its calls stopped or not */
    static struct fixture_spec f;
    parse_fixture(c->name, &f);
    static struct line_numbers by_line[MAX_LINE];
    fixture_lines(root, c->name, by_line);
    int varies = strstr(flags, "-static") && c->static_line ? fixture_source_line(c->name, c->static_line) : 0;
    for (int i = 0; i < f.n_lines; i++) {
        const struct fixture_line *e = &f.lines[i];
        const struct line_numbers *ob = &by_line[e->line];
        if (!e->has_expect || e->line == varies)
            continue;
        ck_assert_msg(ob->v[F_CALLS] == e->alloc_calls && ob->v[F_BYTES] == e->allocated_bytes &&
                          ob->v[F_FREES] == e->free_calls && ob->v[F_FREED] == e->freed_bytes,
                      "%s: line %d: calls=%" PRIu64 " bytes=%" PRIu64 " frees=%" PRIu64 " freed=%" PRIu64
                      ", expected %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64,
                      tag, e->line, ob->v[F_CALLS], ob->v[F_BYTES], ob->v[F_FREES], ob->v[F_FREED], e->alloc_calls,
                      e->allocated_bytes, e->free_calls, e->freed_bytes);
    }
    json_decref(root);
}

/* bp_loop.c: 40000 allocations and 40000 frees from 4 stacks, and a
 * reallocarray that overflows from a fifth (its header). */
static const struct loop_case bp_loop = { "bp_loop.c", "gcc", 40000, 80000, 5, 0, NULL };

START_TEST(stops_per_stack)
{
    check_stops(&bp_loop, "-O2 -g", "bp_stops_o2", 1);
    check_stops(&bp_loop, "-O2 -g -static", "bp_stops_static", 1);
    check_stops(&bp_loop, "-O0 -g", "bp_stops_o0", 1);
    check_stops(&bp_loop, "-O2 -g", "bp_stops_off", 0);
}
END_TEST

/* bp_new_loop.cpp (its header): 20000 operator new calls from 4 stacks,
 * each block deleted, and 200 news that throw bad_alloc from a fifth
 * (each an allocation, the exception object, and its free): 40400 calls.
 * Their distinct stacks: the 5 new lines, the new forms libstdc++'s calls
 * inside them (the nothrow new calls the plain one), the mallocs inside
 * those, and the throw's own (__cxa_allocate_exception's malloc, malloc's
 * mmap, brk and sbrk when it fails): at most 30.  Each throw inside a new
 * stops once (__cxa_throw), so that the new's return address is its own
 * again before the exception unwinds through it.  (A static build's first
 * throw also makes libgcc's unwinder malloc its tables, charged to the
 * throwing line: its numbers are not compared there.) */
static const struct loop_case bp_new_loop = { "bp_new_loop.cpp", "g++", 20200, 40400, 30, 200, "new char[huge]" };

START_TEST(stops_per_stack_cxx)
{
    check_stops(&bp_new_loop, "-O2 -g -std=c++17", "bp_new_stops_o2", 1);
    check_stops(&bp_new_loop, "-O2 -g -std=c++17 -static", "bp_new_stops_static", 1);
    check_stops(&bp_new_loop, "-O0 -g -std=c++17", "bp_new_stops_o0", 1);
    check_stops(&bp_new_loop, "-O2 -g -std=c++17", "bp_new_stops_off", 0);
}
END_TEST

START_TEST(bp_new_loop_cpp) { check_fixture("bp_new_loop.cpp", NULL); }
END_TEST

/* bp_mmap_args.c checks that mmap and mremap get the arguments it passed
 * (the sixth and fifth in r9 and r8, which the entry stubs must keep):
 * exit 0 natively and under the engine, dynamic and static. */
START_TEST(mapping_calls_keep_their_arguments)
{
    static const char *const flags[] = { "-O2 -g", "-O2 -g -static" };
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
        char tag[64];
        snprintf(tag, sizeof tag, "bp_mmap_args_%zu", i);
        const char *exe = build_fixture("tests/fixtures/bp_mmap_args.c", "gcc", flags[i], tag);
        ck_assert_ptr_nonnull(exe);
        char *native[] = { (char *)exe, NULL };
        char *argv[] = { (char *)memprof_path(), "--engine=breakpoint", "-o", "/dev/null", (char *)exe, NULL };
        struct run_output o;
        ck_assert_int_eq(run_cmd(native, NULL, NULL, 60, &o), 0);
        ck_assert_msg(o.status == 0, "%s natively: status %d", tag, o.status);
        run_output_free(&o);
        ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
        ck_assert_msg(o.status == 0, "%s under the breakpoint engine: status %d\n%.2000s", tag, o.status, o.err);
        run_output_free(&o);
    }
}
END_TEST

/* bp_shapes_full.c allocates from 2^14 distinct stacks of about 33 frames
 * (its header): more than the 1 MiB table of known stacks holds.  The
 * totals stay exact (16384 mallocs of 16 bytes, each freed: the fixture's
 * arithmetic, and valgrind's), nothing is lost, every allocation stops
 * (no stack repeats), and the report says the table filled up. */
START_TEST(shapes_full)
{
    check_fixture("bp_shapes_full.c", NULL);
    const char *exe = build_fixture("tests/fixtures/bp_shapes_full.c", "gcc", "-O2 -g", "bp_shapes_full_o2");
    ck_assert_ptr_nonnull(exe);
    char json[4096];
    snprintf(json, sizeof json, "%s/bp_shapes_full.json", test_tmp_dir());
    unlink(json);
    char *argv[] = { (char *)memprof_path(), "--engine=breakpoint", "-o", "/dev/null", "--json", json, (char *)exe,
                     NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 300, &o), 0);
    ck_assert_msg(o.status == 0, "memprof exited %d\n%.3000s", o.status, o.err);
    run_output_free(&o);
    json_t *root = load_json(json);
    ck_assert_uint_eq(summary_u64(root, "alloc_calls"), 16384);
    ck_assert_uint_eq(summary_u64(root, "allocated_bytes"), 16384 * 16);
    ck_assert_uint_eq(summary_u64(root, "free_calls"), 16384);
    ck_assert_uint_eq(summary_u64(root, "events_lost"), 0);
    ck_assert_uint_ge(summary_u64(root, "engine_stops"), 16384);
    char *warnings = json_dumps(json_object_get(root, "warnings"), 0);
    ck_assert_ptr_nonnull(warnings);
    ck_assert_msg(strstr(warnings, "table of known stacks filled up") != NULL, "no note of the full table: %s",
                  warnings);
    free(warnings);
    json_decref(root);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Both engines on one binary, and valgrind                                  */
/* ------------------------------------------------------------------------ */

static const char *const summary_fields[] = { "alloc_calls",     "allocated_bytes", "free_calls",   "freed_bytes",
                                              "peak_heap_bytes", "leaked_bytes",    "leaked_blocks" };

/* `deterministic_peak`: 0 for multi-threaded fixtures, whose peak depends
 * on the schedule (their peak numbers are not compared). */
static void engines_agree(const char *rel, const char *compiler, const char *flags, const char *tag,
                          int deterministic_peak)
{
    const char *name = strrchr(rel, '/') + 1;
    const char *exe = build_fixture(rel, compiler, flags, tag);
    ck_assert_ptr_nonnull(exe);
    char tag_a[256], tag_b[256];
    snprintf(tag_a, sizeof tag_a, "%s_agent", tag);
    snprintf(tag_b, sizeof tag_b, "%s_breakpoint", tag);
    json_t *a = run_memprof(exe, "agent", tag_a, NULL);
    json_t *b = run_memprof(exe, "breakpoint", tag_b, NULL);
    ck_assert_str_eq(summary_str(a, "engine"), "agent");
    ck_assert_str_eq(summary_str(b, "engine"), "breakpoint");
    struct problems pr = { .len = 0 };
    for (size_t i = 0; i < sizeof summary_fields / sizeof *summary_fields; i++) {
        if (!deterministic_peak && strcmp(summary_fields[i], "peak_heap_bytes") == 0)
            continue;
        uint64_t va = summary_u64(a, summary_fields[i]), vb = summary_u64(b, summary_fields[i]);
        if (va != vb)
            problem(&pr, "summary.%s: agent %" PRIu64 ", breakpoint %" PRIu64, summary_fields[i], va, vb);
    }
    static const char *const must_be_zero[] = { "events_lost", "unknown_frees", "reused_live_blocks" };
    for (size_t i = 0; i < sizeof must_be_zero / sizeof *must_be_zero; i++) {
        uint64_t va = summary_u64(a, must_be_zero[i]), vb = summary_u64(b, must_be_zero[i]);
        if (strcmp(must_be_zero[i], "unknown_frees") == 0 && strstr(name, "threads"))
            vb = 0; /* glibc's tcache release at thread exit: see check_build */
        if (va != 0 || vb != 0)
            problem(&pr, "summary.%s: agent %" PRIu64 ", breakpoint %" PRIu64 " (both must be 0)", must_be_zero[i],
                    va, vb);
    }
    static struct line_numbers la[MAX_LINE], lb[MAX_LINE];
    fixture_lines(a, name, la);
    fixture_lines(b, name, lb);
    int compared = 0;
    for (int ln = 1; ln < MAX_LINE; ln++) {
        if (la[ln].seen != lb[ln].seen)
            problem(&pr, "line %d is in the %s report only", ln, la[ln].seen ? "agent's" : "breakpoint engine's");
        compared += la[ln].seen;
        for (int k = 0; k < N_FIELDS; k++) {
            if (!deterministic_peak && k == F_PEAK)
                continue;
            if (la[ln].v[k] != lb[ln].v[k])
                problem(&pr, "line %d %s: agent %" PRIu64 ", breakpoint %" PRIu64, ln, line_fields[k], la[ln].v[k],
                        lb[ln].v[k]);
        }
    }
    if (compared == 0)
        problem(&pr, "no line of %s in the reports", name);

    uint64_t allocs, frees, bytes;
    valgrind_totals(exe, 1, &allocs, &frees, &bytes);
    static const char *const engines[] = { "agent", "breakpoint" };
    json_t *reports[] = { a, b };
    for (int i = 0; i < 2; i++) {
        uint64_t c = summary_u64(reports[i], "alloc_calls"), by = summary_u64(reports[i], "allocated_bytes"),
                 fr = summary_u64(reports[i], "free_calls");
        if (c != allocs || fr != frees || by != bytes)
            problem(&pr, "%s engine: %" PRIu64 " allocs %" PRIu64 " frees %" PRIu64 " bytes, valgrind %" PRIu64
                    " %" PRIu64 " %" PRIu64,
                    engines[i], c, fr, by, allocs, frees, bytes);
    }
    json_decref(a);
    json_decref(b);
    ck_assert_msg(pr.n == 0, "%s (%s %s %s): %d problem(s); reports in %s/%s_{agent,breakpoint}.txt\n%s", tag,
                  compiler, flags, rel, pr.n, test_tmp_dir(), tag, pr.text);
}

START_TEST(engines_agree_bp_calls)
{
    engines_agree("tests/fixtures/bp_calls.c", "gcc", "-O0 -g", "bpeq_calls_o0", 1);
    engines_agree("tests/fixtures/bp_calls.c", "gcc", "-O2 -g", "bpeq_calls_o2", 1);
}
END_TEST

START_TEST(engines_agree_basic)
{
    /* valgrind 3.19 aborts on pvalloc */
    engines_agree("tests/fixtures/basic.c", "gcc", "-O2 -g -DBASIC_NO_PVALLOC", "bpeq_basic_o2", 1);
}
END_TEST

START_TEST(engines_agree_cxx)
{
    engines_agree("tests/fixtures/cxx.cpp", "g++", "-O2 -g", "bpeq_cxx_o2", 1);
    engines_agree("tests/fixtures/bp_cxx_global.cpp", "g++", "-O0 -g", "bpeq_cxx_global", 1);
    /* without its throws (valgrind's operator new cannot throw): the fast entries' news and deletes */
    engines_agree("tests/fixtures/bp_new_loop.cpp", "g++", "-O2 -g -std=c++17 -DBP_NEW_LOOP_THROWS=0",
                  "bpeq_new_loop", 1);
}
END_TEST

START_TEST(engines_agree_threads)
{
    engines_agree("tests/fixtures/bp_threads.c", "gcc", "-O2 -g", "bpeq_threads", 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* emulate.c: test r, r and cmp byte [rip + disp], imm8 against the CPU       */
/* ------------------------------------------------------------------------ */

#define CF ((uint64_t)0x1)
#define PF ((uint64_t)0x4)
#define ZF ((uint64_t)0x40)
#define SF ((uint64_t)0x80)
#define OF ((uint64_t)0x800)
#define COMPARED (CF | PF | ZF | SF | OF)
#define ARITH ((uint64_t)0x8d5) /* CF PF AF ZF SF OF */

/* The flags after the real instruction.  pushfq writes below rsp: step over
 * the red zone first (this function's caller may keep data there). */
static uint64_t cpu_test64(uint64_t a, uint64_t b)
{
    uint64_t f;
    __asm__ volatile("lea -128(%%rsp), %%rsp\n\t"
                     "testq %2, %1\n\t"
                     "pushfq\n\t"
                     "popq %0\n\t"
                     "lea 128(%%rsp), %%rsp"
                     : "=&r"(f)
                     : "r"(a), "r"(b)
                     : "cc");
    return f;
}

static uint64_t cpu_test32(uint64_t a, uint64_t b)
{
    uint64_t f;
    __asm__ volatile("lea -128(%%rsp), %%rsp\n\t"
                     "testl %k2, %k1\n\t"
                     "pushfq\n\t"
                     "popq %0\n\t"
                     "lea 128(%%rsp), %%rsp"
                     : "=&r"(f)
                     : "r"(a), "r"(b)
                     : "cc");
    return f;
}

/* cmp byte [mem], imm: flags of mem - imm (the register form computes the
 * same flags as the immediate one). */
static uint64_t cpu_cmp8(const volatile uint8_t *mem, uint8_t imm)
{
    uint64_t f;
    __asm__ volatile("lea -128(%%rsp), %%rsp\n\t"
                     "cmpb %b2, (%1)\n\t"
                     "pushfq\n\t"
                     "popq %0\n\t"
                     "lea 128(%%rsp), %%rsp"
                     : "=&r"(f)
                     : "r"(mem), "q"(imm)
                     : "cc", "memory");
    return f;
}

static const uint64_t interesting[] = {
    0,
    1,
    2,
    3,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0xffff,
    0x7fffffff,
    0x80000000,
    0xffffffff,
    0x100000000ull,
    0x180000000ull,
    0x100000080ull,
    0x7fffffffffffffffull,
    0x8000000000000000ull,
    0xffffffff00000000ull,
    0xfffffffffffffffeull,
    0xffffffffffffffffull, /* -1 */
    (uint64_t)-128,
    0x123456789abcdef0ull,
    0x00000000deadbeefull,
};
#define N_INTERESTING (sizeof interesting / sizeof *interesting)

static unsigned long long *reg_of(struct user_regs_struct *r, int n)
{
    switch (n) {
    case 0: return &r->rax;
    case 6: return &r->rsi;
    case 7: return &r->rdi;
    case 8: return &r->r8;
    case 9: return &r->r9;
    case 1: return &r->rcx;
    default: ck_abort_msg("register %d", n); return NULL;
    }
}

struct test_form {
    uint8_t code[4];
    int len;
    int width;      /* 8 or 4 bytes */
    int rm, reg;    /* x86 register numbers of the two operands */
    const char *text;
};

static const struct test_form test_forms[] = {
    { { 0x48, 0x85, 0xff }, 3, 8, 7, 7, "test rdi,rdi" },
    { { 0x85, 0xc0 }, 2, 4, 0, 0, "test eax,eax" },
    { { 0x48, 0x85, 0xf7 }, 3, 8, 7, 6, "test rdi,rsi" },
    { { 0x4d, 0x85, 0xc0 }, 3, 8, 8, 8, "test r8,r8" },
    { { 0x45, 0x85, 0xc8 }, 3, 4, 8, 9, "test r8d,r9d" },
};

/* Runs one decoded instruction on a register set whose arithmetic flags
 * start all set or all clear; checks what must not change. */
static uint64_t emulate_once(const struct mp_emu *e, struct user_regs_struct *regs, int mem_fd, int len,
                             const char *what)
{
    struct user_regs_struct before = *regs;
    ck_assert_msg(mp_emu_execute(e, regs, mem_fd) == 0, "%s: not carried out", what);
    ck_assert_msg(regs->rip == before.rip + (uint64_t)len, "%s: rip moved by %lld", what,
                  (long long)(regs->rip - before.rip));
    ck_assert_msg((regs->eflags & ~ARITH) == (before.eflags & ~ARITH), "%s: non-arithmetic flags changed: %#llx -> %#llx",
                  what, before.eflags, regs->eflags);
    struct user_regs_struct a = *regs, b = before;
    a.rip = b.rip = 0;
    a.eflags = b.eflags = 0;
    ck_assert_msg(memcmp(&a, &b, sizeof a) == 0, "%s: a register other than rip and eflags changed", what);
    return regs->eflags;
}

START_TEST(emulate_test_rr)
{
    int mem_fd = open("/proc/self/mem", O_RDWR);
    ck_assert_int_ge(mem_fd, 0);
    for (size_t fi = 0; fi < sizeof test_forms / sizeof *test_forms; fi++) {
        const struct test_form *t = &test_forms[fi];
        uint8_t bytes[16];
        memset(bytes, 0x90, sizeof bytes);
        memcpy(bytes, t->code, (size_t)t->len);
        struct mp_emu e;
        mp_emu_decode(bytes, &e);
        ck_assert_msg(e.kind != 0, "%s: not decoded as emulatable", t->text);
        ck_assert_msg(e.len == t->len, "%s: length %d, expected %d", t->text, e.len, t->len);
        for (size_t i = 0; i < N_INTERESTING; i++)
            for (size_t j = 0; j < N_INTERESTING; j++) {
                uint64_t a = interesting[i], b = t->rm == t->reg ? a : interesting[j];
                if (t->rm == t->reg && j > 0)
                    break;
                uint64_t want = t->width == 8 ? cpu_test64(a, b) : cpu_test32(a, b);
                for (int start = 0; start < 2; start++) {
                    struct user_regs_struct regs;
                    memset(&regs, 0, sizeof regs);
                    regs.rip = 0x401000;
                    regs.rsp = 0x7ffff000;
                    regs.eflags = 0x202 | (start ? ARITH : 0);
                    *reg_of(&regs, t->rm) = a;
                    *reg_of(&regs, t->reg) = b;
                    char what[128];
                    snprintf(what, sizeof what, "%s with %#" PRIx64 ", %#" PRIx64, t->text, a, b);
                    uint64_t got = emulate_once(&e, &regs, mem_fd, t->len, what);
                    ck_assert_msg((got & COMPARED) == (want & COMPARED),
                                  "%s (flags before %#" PRIx64 "): CF PF ZF SF OF %#" PRIx64 ", the CPU says %#" PRIx64, what,
                                  (uint64_t)0x202 | (start ? ARITH : 0), got & COMPARED, want & COMPARED);
                    ck_assert_uint_eq(*reg_of(&regs, t->rm), a);
                    ck_assert_uint_eq(*reg_of(&regs, t->reg), b);
                }
            }
    }
    close(mem_fd);
}
END_TEST

START_TEST(emulate_cmp_m8)
{
    int mem_fd = open("/proc/self/mem", O_RDWR);
    ck_assert_int_ge(mem_fd, 0);
    static const uint8_t values[] = { 0, 1, 2, 0x0f, 0x10, 0x7e, 0x7f, 0x80, 0x81, 0xc0, 0xfe, 0xff };
    static const int32_t disps[] = { 0x1234, -0x40, 0, 0x7ffff000 };
    volatile uint8_t cell = 0;
    for (size_t d = 0; d < sizeof disps / sizeof *disps; d++) {
        int32_t disp = disps[d];
        uint8_t bytes[16];
        memset(bytes, 0x90, sizeof bytes);
        bytes[0] = 0x80;
        bytes[1] = 0x3d;
        memcpy(bytes + 2, &disp, 4);
        for (size_t i = 0; i < sizeof values; i++)
            for (size_t j = 0; j < sizeof values; j++) {
                uint8_t m = values[i], imm = values[j];
                bytes[6] = imm;
                struct mp_emu e;
                mp_emu_decode(bytes, &e);
                ck_assert_msg(e.kind != 0 && e.len == 7, "cmp byte [rip%+d], %#x: kind %d length %d", disp, imm,
                              e.kind, e.len);
                cell = m;
                uint64_t want = cpu_cmp8(&cell, imm);
                for (int start = 0; start < 2; start++) {
                    struct user_regs_struct regs;
                    memset(&regs, 0, sizeof regs);
                    /* rip + 7 + disp = &cell */
                    regs.rip = (uint64_t)(uintptr_t)&cell - 7 - (uint64_t)(int64_t)disp;
                    regs.rsp = 0x7ffff000;
                    regs.eflags = 0x202 | (start ? ARITH : 0);
                    char what[128];
                    snprintf(what, sizeof what, "cmp byte [rip%+d] (= %#x), %#x", disp, m, imm);
                    uint64_t got = emulate_once(&e, &regs, mem_fd, 7, what);
                    ck_assert_msg((got & COMPARED) == (want & COMPARED),
                                  "%s (flags before %#" PRIx64 "): CF PF ZF SF OF %#" PRIx64 ", the CPU says %#" PRIx64, what,
                                  (uint64_t)0x202 | (start ? ARITH : 0), got & COMPARED, want & COMPARED);
                    ck_assert_uint_eq(cell, m); /* a compare writes nothing */
                }
            }
    }
    /* an operand that cannot be read: not carried out, registers untouched */
    uint8_t bytes[16] = { 0x80, 0x3d, 0, 0, 0, 0, 0x01, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90 };
    struct mp_emu e;
    mp_emu_decode(bytes, &e);
    struct user_regs_struct regs;
    memset(&regs, 0, sizeof regs);
    regs.rip = 0x10 - 7; /* the byte at address 16: nothing is mapped there */
    regs.eflags = 0x202;
    struct user_regs_struct before = regs;
    ck_assert_int_eq(mp_emu_execute(&e, &regs, mem_fd), -1);
    ck_assert(memcmp(&regs, &before, sizeof regs) == 0);
    close(mem_fd);
}
END_TEST

/* The entries' first instructions copied into an attached process's stubs
 * (mp_emu_relocate_run): glibc 2.36's entries as gdb disassembles them
 * (malloc: push r12; push rbp; push rbx; mov rbx,rdi; calloc: push r13;
 * mov rax,rdi; realloc: three pushes; reallocarray: mov rax,rsi; mul rdx;
 * memalign: cmp byte [rip+X],0; the loader's _dl_debug_state: ret and
 * padding) cover at least 5 bytes in whole instructions, end with a jump
 * back to the first byte not copied, and are copied as they are except the
 * rip-relative compare, whose rewrite sets the flags as the original does
 * (run here against the CPU). */
START_TEST(relocate_entry_runs)
{
    static const struct {
        const char *what;
        uint8_t code[16];
        size_t displaced;
        int verbatim;
    } runs[] = {
        { "malloc", { 0x41, 0x54, 0x55, 0x53, 0x48, 0x89, 0xfb, 0x48, 0x83, 0xec, 0x10 }, 7, 1 },
        { "calloc", { 0x41, 0x55, 0x48, 0x89, 0xf8, 0x41, 0x54, 0x55 }, 5, 1 },
        { "realloc", { 0x41, 0x57, 0x41, 0x56, 0x41, 0x55, 0x41, 0x54 }, 6, 1 },
        { "reallocarray", { 0x48, 0x89, 0xf0, 0x48, 0xf7, 0xe2, 0x48, 0x89, 0xc6 }, 6, 1 },
        { "memalign", { 0x80, 0x3d, 0x71, 0x0e, 0x14, 0x00, 0x00, 0x74, 0x07, 0xe9 }, 7, 0 },
        { "_dl_debug_state", { 0xc3, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 }, 5, 1 },
        /* mov r10d, ecx; test r9d, 0xfff (glibc's mmap) */
        { "mmap", { 0x41, 0x89, 0xca, 0x41, 0xf7, 0xc1, 0xff, 0x0f, 0x00, 0x00, 0x75, 0x14 }, 10, 1 },
        /* mov r8, rdi; cmp rsi, 0x1000 (jemalloc's sdallocx) */
        { "sdallocx", { 0x49, 0x89, 0xf8, 0x48, 0x81, 0xfe, 0x00, 0x10, 0x00, 0x00, 0x77, 0x0c }, 10, 1 },
        /* push r12; mov r12, [rip + d] (glibc's sbrk): the load rewritten */
        { "sbrk", { 0x41, 0x54, 0x4c, 0x8b, 0x25, 0xa7, 0x51, 0x0d, 0x00, 0x80, 0x3d }, 9, 0 },
        /* test rdi, rdi; je +0x13 (jemalloc's sized delete): the jump rewritten */
        { "sized delete", { 0x48, 0x85, 0xff, 0x74, 0x13, 0x48, 0x83, 0xec, 0x08 }, 5, 0 },
    };
    const uint64_t addr = 0x7f0000098930ull;
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
        uint8_t out[48];
        size_t displaced = 0;
        int verbatim = -1;
        int n = mp_emu_relocate_run(runs[i].code, sizeof runs[i].code, addr, 5, out, sizeof out, &displaced, &verbatim);
        ck_assert_msg(n > 14, "%s: not copied", runs[i].what);
        ck_assert_msg(displaced == runs[i].displaced, "%s: %zu bytes displaced, expected %zu", runs[i].what, displaced,
                      runs[i].displaced);
        ck_assert_msg(verbatim == runs[i].verbatim, "%s: verbatim %d", runs[i].what, verbatim);
        uint64_t back;
        memcpy(&back, out + n - 8, 8);
        ck_assert_msg(out[n - 14] == 0xff && out[n - 13] == 0x25 && back == addr + displaced,
                      "%s: does not end with a jump back to +%zu", runs[i].what, displaced);
        if (verbatim && runs[i].code[0] != 0xc3)
            ck_assert_msg(memcmp(out, runs[i].code, displaced) == 0, "%s: not copied as is", runs[i].what);
    }
    /* an instruction it cannot copy among the first 5 bytes: none */
    static const uint8_t lea_rip[16] = { 0x48, 0x8d, 0x05, 0x10, 0x00, 0x00, 0x00 };
    uint8_t out[48];
    size_t displaced;
    int verbatim;
    ck_assert_int_eq(mp_emu_relocate_run(lea_rip, sizeof lea_rip, addr, 5, out, sizeof out, &displaced, &verbatim), -1);
    /* je +0x13 after the test: jne over an absolute jump to addr + 5 + 0x13 */
    static const uint8_t sized_delete[16] = { 0x48, 0x85, 0xff, 0x74, 0x13, 0x48, 0x83, 0xec, 0x08 };
    ck_assert_int_gt(mp_emu_relocate_run(sized_delete, sizeof sized_delete, addr, 5, out, sizeof out, &displaced,
                                         &verbatim), 14);
    uint64_t target;
    memcpy(&target, out + 3 + 2 + 6, 8);
    ck_assert_msg(memcmp(out, sized_delete, 3) == 0 && out[3] == 0x75 && out[4] == 14 && out[5] == 0xff &&
                      out[6] == 0x25 && target == addr + 5 + 0x13,
                  "je not rewritten as jne over a jump to its target");
    /* a jump on (mimalloc's nothrow new: jmp mi_new_nothrow@plt): an
     * absolute jump to its target, nothing after it */
    static const uint8_t jump_on[16] = { 0xe9, 0xdb, 0x43, 0xff, 0xff, 0x66, 0x2e, 0x0f };
    ck_assert_int_eq(mp_emu_relocate_run(jump_on, sizeof jump_on, addr, 5, out, sizeof out, &displaced, &verbatim), 14);
    memcpy(&target, out + 6, 8);
    ck_assert_msg(displaced == 5 && !verbatim && out[0] == 0xff && out[1] == 0x25 && target == addr + 5 - 0xbc25,
                  "jmp rel32 not relocated: %zu displaced, target %#" PRIx64, displaced, target);
    /* a conditional jump into the bytes the copy replaces: none */
    static const uint8_t jump_back[16] = { 0x48, 0x85, 0xff, 0x74, 0xfc, 0x90, 0x90 };
    ck_assert_int_eq(mp_emu_relocate_run(jump_back, sizeof jump_back, addr, 5, out, sizeof out, &displaced, &verbatim),
                     -1);

    /* the rewritten compare, run: cmp byte [rip+d], imm as push rax; movabs
     * rax, target; cmp byte [rax], imm; pop rax; then a ret instead of the
     * jump back */
    uint8_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert(page != MAP_FAILED);
    volatile uint8_t *cell = page + 3000; /* within the compare's rel32 reach */
    static const uint8_t values[] = { 0, 1, 0x7f, 0x80, 0xff };
    for (size_t v = 0; v < sizeof values; v++)
        for (size_t w = 0; w < sizeof values; w++) {
            uint8_t cmp[16] = { 0x80, 0x3d, 0, 0, 0, 0, values[w] };
            /* the original at `at`: rip + 7 + disp = &cell */
            uint64_t at = (uint64_t)(uintptr_t)page + 2048;
            int32_t disp = (int32_t)((int64_t)(uintptr_t)cell - (int64_t)(at + 7));
            memcpy(cmp + 2, &disp, 4);
            int n = mp_emu_relocate_run(cmp, sizeof cmp, at, 5, page, 64, &displaced, &verbatim);
            ck_assert_int_gt(n, 14);
            page[n - 14] = 0xc3; /* ret instead of the jump back */
            *cell = values[v];
            uint64_t rax = 0x1122334455667788ull, f;
            __asm__ volatile("lea -128(%%rsp), %%rsp\n\t"
                             "call *%2\n\t"
                             "pushfq\n\t"
                             "popq %1\n\t"
                             "lea 128(%%rsp), %%rsp"
                             : "+a"(rax), "=&r"(f)
                             : "r"(page)
                             : "cc", "memory");
            uint64_t want = cpu_cmp8(cell, values[w]);
            ck_assert_msg((f & COMPARED) == (want & COMPARED), "cmp %#x, %#x: flags %#" PRIx64 ", the CPU says %#" PRIx64,
                          values[v], values[w], f & COMPARED, want & COMPARED);
            ck_assert_msg(rax == 0x1122334455667788ull, "rax not kept");
        }

    /* the rewritten rip-relative loads, run: movabs reg, target; mov reg,
     * [reg] (r12 and r13 as a base need a SIB byte and a displacement) */
    static const struct {
        uint8_t code[3];
        int reg; /* 0 rax, 12 r12, 13 r13 (32 bits) */
    } loads[] = { { { 0x48, 0x8b, 0x05 }, 0 }, { { 0x4c, 0x8b, 0x25 }, 12 }, { { 0x44, 0x8b, 0x2d }, 13 } };
    volatile uint64_t *word = (volatile uint64_t *)(void *)(page + 3072);
    *word = 0x8877665544332211ull;
    for (size_t i = 0; i < sizeof loads / sizeof *loads; i++) {
        uint64_t at = (uint64_t)(uintptr_t)page + 2048;
        uint8_t load[16] = { loads[i].code[0], loads[i].code[1], loads[i].code[2], 0, 0, 0, 0, 0x90, 0x90 };
        int32_t disp = (int32_t)((int64_t)(uintptr_t)word - (int64_t)(at + 7));
        memcpy(load + 3, &disp, 4);
        int n = mp_emu_relocate_run(load, sizeof load, at, 5, page, 64, &displaced, &verbatim);
        ck_assert_int_gt(n, 14);
        ck_assert(displaced == 7 && !verbatim);
        page[n - 14] = 0xc3;
        uint64_t got = 0;
        if (loads[i].reg == 0)
            __asm__ volatile("lea -128(%%rsp), %%rsp\n\tcall *%1\n\tlea 128(%%rsp), %%rsp"
                             : "=a"(got) : "r"(page) : "memory");
        else if (loads[i].reg == 12)
            __asm__ volatile("lea -128(%%rsp), %%rsp\n\tcall *%1\n\tlea 128(%%rsp), %%rsp\n\tmov %%r12, %0"
                             : "=r"(got) : "r"(page) : "r12", "memory");
        else
            __asm__ volatile("lea -128(%%rsp), %%rsp\n\tmov $-1, %%r13\n\tcall *%1\n\tlea 128(%%rsp), %%rsp\n\t"
                             "mov %%r13, %0"
                             : "=r"(got) : "r"(page) : "r13", "memory");
        uint64_t want = loads[i].reg == 13 ? 0x44332211ull : 0x8877665544332211ull;
        ck_assert_msg(got == want, "load %zu: %#" PRIx64 ", expected %#" PRIx64, i, got, want);
    }
    munmap(page, 4096);
}
END_TEST

/* add/sub/cmp r, imm and xor r, r: the entries of jemalloc's malloc (cmp
 * rdi, 0x1000), mimalloc's malloc_usable_size (sub rsp, 0x18), jemalloc's
 * rallocx (xor ecx, ecx).  The CPU computes the same flags for the register
 * form with the sign-extended immediate in a register. */
static uint64_t cpu_alu(int op, int width, uint64_t a, uint64_t b, uint64_t *result)
{
    uint64_t f, r = a;
#define ALU(insn, reg_a, reg_b)                                                    \
    __asm__ volatile("lea -128(%%rsp), %%rsp\n\t" insn " " reg_b ", " reg_a "\n\t" \
                     "pushfq\n\t"                                                  \
                     "popq %0\n\t"                                                 \
                     "lea 128(%%rsp), %%rsp"                                       \
                     : "=&r"(f), "+r"(r)                                           \
                     : "r"(b)                                                      \
                     : "cc")
    if (width == 8) {
        if (op == 0) ALU("addq", "%1", "%2");
        else if (op == 5) ALU("subq", "%1", "%2");
        else if (op == 7) ALU("cmpq", "%1", "%2");
        else ALU("xorq", "%1", "%2");
    } else {
        if (op == 0) ALU("addl", "%k1", "%k2");
        else if (op == 5) ALU("subl", "%k1", "%k2");
        else if (op == 7) ALU("cmpl", "%k1", "%k2");
        else ALU("xorl", "%k1", "%k2");
    }
#undef ALU
    *result = width == 4 && op != 7 ? (uint32_t)r : r;
    return f;
}

START_TEST(emulate_alu_imm)
{
    static const struct {
        uint8_t code[3];  /* prefix, opcode, modrm; the immediate follows */
        int n, imm_bytes, op, width, reg;
        const char *text;
    } forms[] = {
        { { 0x48, 0x81, 0xff }, 3, 4, 7, 8, 7, "cmp rdi, imm32" },
        { { 0x48, 0x83, 0xff }, 3, 1, 7, 8, 7, "cmp rdi, imm8" },
        { { 0x48, 0x83, 0xef }, 3, 1, 5, 8, 7, "sub rdi, imm8" },
        { { 0x48, 0x81, 0xc7 }, 3, 4, 0, 8, 7, "add rdi, imm32" },
        { { 0x49, 0x83, 0xe8 }, 3, 1, 5, 8, 8, "sub r8, imm8" },
        { { 0x81, 0xfe }, 2, 4, 7, 4, 6, "cmp esi, imm32" },
        { { 0x83, 0xc0 }, 2, 1, 0, 4, 0, "add eax, imm8" },
    };
    static const int64_t imms[] = { 0, 1, -1, 0x7f, -128, 0x1000, 0x7fffffff, -0x80000000LL, 0x12345678 };
    int mem_fd = open("/proc/self/mem", O_RDWR);
    ck_assert_int_ge(mem_fd, 0);
    for (size_t fi = 0; fi < sizeof forms / sizeof *forms; fi++)
        for (size_t k = 0; k < sizeof imms / sizeof *imms; k++) {
            int64_t imm = imms[k];
            if (forms[fi].imm_bytes == 1 && (imm < -128 || imm > 127))
                continue;
            uint8_t bytes[16];
            memset(bytes, 0x90, sizeof bytes);
            memcpy(bytes, forms[fi].code, (size_t)forms[fi].n);
            int32_t imm32 = (int32_t)imm;
            memcpy(bytes + forms[fi].n, &imm32, (size_t)forms[fi].imm_bytes);
            int len = forms[fi].n + forms[fi].imm_bytes;
            struct mp_emu e;
            mp_emu_decode(bytes, &e);
            ck_assert_msg(e.kind != 0 && e.len == len, "%s %lld: kind %d length %d", forms[fi].text, (long long)imm,
                          e.kind, e.len);
            for (size_t i = 0; i < N_INTERESTING; i++) {
                uint64_t a = interesting[i], want_r;
                uint64_t want = cpu_alu(forms[fi].op, forms[fi].width, a, (uint64_t)imm, &want_r);
                struct user_regs_struct regs;
                memset(&regs, 0, sizeof regs);
                regs.rip = 0x401000;
                regs.rsp = 0x7ffff000;
                regs.eflags = 0x202;
                *reg_of(&regs, forms[fi].reg) = a;
                struct user_regs_struct before = regs;
                ck_assert_int_eq(mp_emu_execute(&e, &regs, mem_fd), 0);
                ck_assert_uint_eq(regs.rip, before.rip + (uint64_t)len);
                ck_assert_msg((regs.eflags & COMPARED) == (want & COMPARED),
                              "%s %lld on %#" PRIx64 ": CF PF ZF SF OF %#llx, the CPU says %#" PRIx64, forms[fi].text,
                              (long long)imm, a, regs.eflags & COMPARED, want & COMPARED);
                ck_assert_msg(*reg_of(&regs, forms[fi].reg) == want_r, "%s %lld on %#" PRIx64 ": %#llx, the CPU says %#" PRIx64,
                              forms[fi].text, (long long)imm, a, *reg_of(&regs, forms[fi].reg), want_r);
            }
        }
    /* xor r, r (and xor of two registers) */
    static const struct {
        uint8_t code[3];
        int len, width, dst, src;
        const char *text;
    } xors[] = {
        { { 0x31, 0xc0 }, 2, 4, 0, 0, "xor eax,eax" },
        { { 0x48, 0x31, 0xf7 }, 3, 8, 7, 6, "xor rdi,rsi" },
        { { 0x45, 0x31, 0xc9 }, 3, 4, 9, 9, "xor r9d,r9d" },
        { { 0x48, 0x33, 0xfe }, 3, 8, 7, 6, "xor rdi,rsi (33 /r)" },
    };
    for (size_t fi = 0; fi < sizeof xors / sizeof *xors; fi++)
        for (size_t i = 0; i < N_INTERESTING; i++) {
            uint8_t bytes[16];
            memset(bytes, 0x90, sizeof bytes);
            memcpy(bytes, xors[fi].code, (size_t)xors[fi].len);
            struct mp_emu e;
            mp_emu_decode(bytes, &e);
            ck_assert_msg(e.kind != 0 && e.len == xors[fi].len, "%s not decoded", xors[fi].text);
            uint64_t a = interesting[i], b = xors[fi].dst == xors[fi].src ? a : interesting[(i + 3) % N_INTERESTING];
            uint64_t want_r, want = cpu_alu(1, xors[fi].width, a, b, &want_r);
            struct user_regs_struct regs;
            memset(&regs, 0, sizeof regs);
            regs.rip = 0x401000;
            regs.eflags = 0x202 | ARITH;
            *reg_of(&regs, xors[fi].src) = b;
            *reg_of(&regs, xors[fi].dst) = a;
            ck_assert_int_eq(mp_emu_execute(&e, &regs, mem_fd), 0);
            ck_assert_msg((regs.eflags & COMPARED) == (want & COMPARED), "%s on %#" PRIx64 ": flags %#llx, CPU %#" PRIx64,
                          xors[fi].text, a, regs.eflags & COMPARED, want & COMPARED);
            ck_assert_uint_eq(*reg_of(&regs, xors[fi].dst), want_r);
        }
    close(mem_fd);
}
END_TEST

/* mov r64, [rip + disp]: tcmalloc's and mimalloc's malloc start by loading
 * a global.  An aligned global is read; a misaligned one is stepped. */
START_TEST(emulate_rip_load)
{
    static volatile uint64_t global[2] = { 0x1122334455667788ull, 0 };
    int mem_fd = open("/proc/self/mem", O_RDWR);
    ck_assert_int_ge(mem_fd, 0);
    for (int misaligned = 0; misaligned < 2; misaligned++) {
        int32_t disp = 0x100;
        uint8_t bytes[16] = { 0x48, 0x8b, 0x05 }; /* mov rax, [rip + disp] */
        memset(bytes + 7, 0x90, 9);
        memcpy(bytes + 3, &disp, 4);
        struct mp_emu e;
        mp_emu_decode(bytes, &e);
        ck_assert(e.kind != 0 && e.len == 7);
        struct user_regs_struct regs;
        memset(&regs, 0, sizeof regs);
        regs.rip = (uint64_t)(uintptr_t)global + (uint64_t)misaligned - 7 - (uint64_t)disp;
        regs.rsp = 0x7ffff000; /* far from the global: not a stack read */
        if (misaligned) {
            ck_assert_int_eq(mp_emu_execute(&e, &regs, mem_fd), -1);
        } else {
            ck_assert_int_eq(mp_emu_execute(&e, &regs, mem_fd), 0);
            ck_assert_uint_eq(regs.rax, global[0]);
        }
    }
    close(mem_fd);
}
END_TEST

/* Look-alikes of the two forms that set the flags differently (8 and 16
 * bits, a memory operand, another ALU operation): stepped, not emulated. */
START_TEST(emulate_lookalikes_are_stepped)
{
    static const struct {
        uint8_t code[12];
        const char *text;
    } forms[] = {
        { { 0x84, 0xc0 }, "test al,al" },
        { { 0x66, 0x85, 0xc0 }, "test ax,ax" },
        { { 0x48, 0x85, 0x04, 0x24 }, "test [rsp],rax" },
        { { 0x85, 0x45, 0x08 }, "test [rbp+8],eax" },
        { { 0x80, 0x05, 0x10, 0, 0, 0, 0x01 }, "add byte [rip+0x10],1" },
        { { 0x80, 0x35, 0x10, 0, 0, 0, 0x01 }, "xor byte [rip+0x10],1" },
        { { 0x80, 0x7d, 0x00, 0x05 }, "cmp byte [rbp+0],5" },
        { { 0x81, 0x3d, 0x10, 0, 0, 0, 1, 0, 0, 0 }, "cmp dword [rip+0x10],1" },
        { { 0x83, 0x3d, 0x10, 0, 0, 0, 0x01 }, "cmp dword [rip+0x10],byte 1" },
    };
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        uint8_t bytes[16];
        memset(bytes, 0x90, sizeof bytes);
        memcpy(bytes, forms[i].code, sizeof forms[i].code);
        struct mp_emu e;
        mp_emu_decode(bytes, &e);
        ck_assert_msg(e.kind == 0, "%s: decoded as emulatable (kind %d, length %d)", forms[i].text, e.kind, e.len);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bpengine");
    TCase *tc = tcase_create("fixtures");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, static_basic_c);
    tcase_add_test(tc, dynamic_basic_c);
    tcase_add_test(tc, threads_c);
    tcase_add_test(tc, bp_threads_c);
    tcase_add_test(tc, bp_calls_c);
    tcase_add_test(tc, bp_cxx_global_cpp);
    tcase_add_test(tc, bp_fork_c);
    tcase_add_test(tc, bp_loop_c);
    tcase_add_test(tc, stops_per_stack);
    tcase_add_test(tc, stops_per_stack_cxx);
    tcase_add_test(tc, bp_new_loop_cpp);
    tcase_add_test(tc, mapping_calls_keep_their_arguments);
    tcase_add_test(tc, shapes_full);
    suite_add_tcase(s, tc);
    TCase *eq = tcase_create("engines");
    tcase_set_timeout(eq, 900);
    tcase_add_test(eq, engines_agree_bp_calls);
    tcase_add_test(eq, engines_agree_basic);
    tcase_add_test(eq, engines_agree_cxx);
    tcase_add_test(eq, engines_agree_threads);
    suite_add_tcase(s, eq);
    TCase *emu = tcase_create("emulate");
    tcase_add_test(emu, emulate_test_rr);
    tcase_add_test(emu, emulate_cmp_m8);
    tcase_add_test(emu, relocate_entry_runs);
    tcase_add_test(emu, emulate_alu_imm);
    tcase_add_test(emu, emulate_rip_load);
    tcase_add_test(emu, emulate_lookalikes_are_stepped);
    suite_add_tcase(s, emu);
    return run_suite(s);
}
