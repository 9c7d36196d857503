/* memprof tests: the program's own allocator, whatever it is.  The same
 * fixtures (C and C++, threads, every form of operator new and delete) run
 * on glibc's malloc, jemalloc (libjemalloc2), tcmalloc
 * (libtcmalloc-minimal4) and mimalloc (libmimalloc2.0), each linked and
 * LD_PRELOADed, under both engines.  Every run must give the fixture's own
 * numbers (its annotations, tests/fixtures/README) line by line, adjusted
 * for what the allocator library brings into the process:
 *  - a DTV slot per object with thread-local storage (@dtv lines): the
 *    objects are counted from ldd and their PT_TLS headers;
 *  - libstdc++'s 72,704-byte emergency pool (README, section 3) when the
 *    allocator pulls libstdc++ into a C program.
 * valgrind (--soname-synonyms=somalloc=*NAME*) must agree with those totals
 * by itself; for tcmalloc it also counts tcmalloc's calls to its own entry
 * points before main, which memprof leaves out (see tcmalloc_self_calls).
 * owner.c checks that under memprof the blocks still come from the
 * allocator the program chose, jemalloc_api.c jemalloc's own API. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LIBDIR "/usr/lib/x86_64-linux-gnu"


struct allocator {
    const char *name;
    const char *lib;      /* NULL: glibc's malloc */
    const char *synonym;  /* valgrind's --soname-synonyms */
};

static const struct allocator allocators[] = {
    { "glibc", NULL, NULL },
    { "jemalloc", LIBDIR "/libjemalloc.so.2", "somalloc=*jemalloc*" },
    { "tcmalloc", LIBDIR "/libtcmalloc_minimal.so.4", "somalloc=*tcmalloc*" },
    { "mimalloc", LIBDIR "/libmimalloc.so.2", "somalloc=*mimalloc*" },
};
#define N_ALLOCATORS (sizeof allocators / sizeof *allocators)

/* tcmalloc 2.10's start-up (tcmalloc.cc, TCMallocGuard; MallocExtension::
 * Register) calls its own tc_malloc(1)/tc_free twice and allocates 16 and 8
 * bytes with operator new: valgrind, which replaces the functions
 * themselves, counts these 4 allocations (26 bytes) and 2 frees; memprof
 * leaves calls an allocator library makes to itself out. */
static const uint64_t tcmalloc_self_calls[3] = { 4, 2, 26 };

static void require_library(const struct allocator *a)
{
    ck_assert_msg(!a->lib || access(a->lib, R_OK) == 0, "%s is missing: run scripts/install-deps", a->lib);
}

/* ---- the expectation for one (fixture, allocator) ---- */

struct expected {
    uint64_t calls, bytes, frees;
    uint64_t unattributed_calls, unattributed_bytes;
    uint64_t dtv_extra;   /* bytes each DTV gains */
    uint64_t stops_beyond; /* breakpoint engine: stops allowed beyond one per call made outside the
                              fixture's lines (0: not checked; see loop_stops) */
};

static struct expected expect_for(const struct fixture_spec *f, struct process_objects base,
                                  struct process_objects with)
{
    struct expected x = { f->total_calls, f->total_bytes, f->total_frees, f->unattributed_calls,
                          f->unattributed_bytes, 16 * (uint64_t)(with.tls_modules - base.tls_modules), 0 };
    for (int i = 0; i < f->n_lines; i++)
        if (f->lines[i].has_dtv)
            x.bytes += f->lines[i].dtv_calls * x.dtv_extra;
    if (with.libstdcxx && !base.libstdcxx) {
        x.calls++;
        x.bytes += LIBSTDCXX_POOL;
        x.unattributed_calls++;
        x.unattributed_bytes += LIBSTDCXX_POOL;
    }
    return x;
}

/* ---- one run ---- */

struct variant {
    const struct allocator *a;
    const char *exe;
    const char *preload;  /* the library, when preloaded */
    const char *what;     /* "jemalloc linked" ... */
};

/* Runs memprof OPTS... EXE [ARG] with lib (when not NULL) preloaded into
 * EXE.  As a user would (LD_PRELOAD=lib memprof ...: memprof passes it on
 * after its agent), unless memprof itself is built with ASan, which refuses
 * to start with a library preloaded before its runtime: then a shell adds
 * lib to the target's LD_PRELOAD (after the agent) and execs it, and memprof
 * profiles the new image (--follow-only: the shell's own image, which
 * allocated, is left out of the report). */
static int run_preloaded(char *const *opts, const char *exe, const char *arg, const char *lib, int timeout,
                         struct run_output *o)
{
    char *argv[24], env_preload[512], script[600];
    int n = 0, sanitized = strstr(memprof_path(), "build-san/") != NULL;
    argv[n++] = (char *)memprof_path();
    for (; *opts; opts++)
        argv[n++] = *opts;
    if (lib && sanitized) {
        snprintf(script, sizeof script, "LD_PRELOAD=\"${LD_PRELOAD:+$LD_PRELOAD:}%s\" exec \"$0\" \"$@\"", lib);
        argv[n++] = "--follow-only";
        argv[n++] = (char *)exe;
        argv[n++] = "/bin/sh";
        argv[n++] = "-c";
        argv[n++] = script;
    }
    argv[n++] = (char *)exe;
    if (arg)
        argv[n++] = (char *)arg;
    argv[n] = NULL;
    snprintf(env_preload, sizeof env_preload, "LD_PRELOAD=%s", lib ? lib : "");
    char *env[] = { env_preload, NULL };
    return run_cmd(argv, NULL, lib && !sanitized ? env : NULL, timeout, o);
}

static void check_memprof(const struct fixture_spec *f, const struct variant *v, const char *engine,
                          const struct expected *x, struct problems *pr)
{
    char json[4096];
    snprintf(json, sizeof json, "%s/alloc_%s.json", test_tmp_dir(), strrchr(v->exe, '/') + 1);
    char engine_opt[64];
    snprintf(engine_opt, sizeof engine_opt, "--engine=%s", engine);
    char *opts[] = { engine_opt, "--json", json, NULL };
    struct run_output o;
    ck_assert_int_eq(run_preloaded(opts, v->exe, NULL, v->preload, 300, &o), 0);
    if (o.status != 0) {
        problem(pr, "%s, %s: memprof exited %d\n%.300s", v->what, engine, o.status, o.err);
        run_output_free(&o);
        return;
    }
    run_output_free(&o);
    json_error_t err;
    json_t *root = json_load_file(json, 0, &err);
    ck_assert_msg(root != NULL, "%s: %s", json, err.text);
    uint64_t calls = summary_u64(root, "alloc_calls"), bytes = summary_u64(root, "allocated_bytes"),
             frees = summary_u64(root, "free_calls");
    if (calls != x->calls || bytes != x->bytes || frees != x->frees)
        problem(pr, "%s, %s: %" PRIu64 " calls %" PRIu64 " bytes %" PRIu64 " frees, expected %" PRIu64 " %" PRIu64
                    " %" PRIu64, v->what, engine, calls, bytes, frees, x->calls, x->bytes, x->frees);
    if (summary_u64(root, "events_lost"))
        problem(pr, "%s, %s: events lost", v->what, engine);
    uint64_t outside_calls = 0; /* allocator calls made outside the fixture's lines */
    /* glibc frees an exiting thread's cache with free: breakpoints see those
     * (the notes say so), no other combination has unknown frees */
    int tcache_frees = strcmp(engine, "breakpoint") == 0 && !v->a->lib && strstr(f->name, "threads");
    if (summary_u64(root, "unknown_frees") && !tcache_frees)
        problem(pr, "%s, %s: %" PRIu64 " unknown frees", v->what, engine, summary_u64(root, "unknown_frees"));
    uint64_t in_fixture_calls = 0, in_fixture_bytes = 0, in_fixture_frees = 0;
    uint64_t seen[FIXTURE_MAX_LINES][4];
    int seen_line[FIXTURE_MAX_LINES];
    int n_seen = 0;
    json_t *lines = json_object_get(root, "lines"), *l;
    size_t i;
    json_array_foreach(lines, i, l) {
        if (!fixture_file_is(json_string_value(json_object_get(l, "file")), f->name))
            continue;
        int ln = (int)obj_u64(l, "line");
        in_fixture_calls += obj_u64(l, "alloc_calls");
        in_fixture_bytes += obj_u64(l, "allocated_bytes");
        in_fixture_frees += obj_u64(l, "free_calls");
        const struct fixture_line *e = fixture_line_at(f, ln);
        if (!e || !e->has_expect) {
            if (obj_u64(l, "alloc_calls"))
                problem(pr, "%s, %s: line %d allocated, no @expect", v->what, engine, ln);
            continue;
        }
        ck_assert_int_lt(n_seen, FIXTURE_MAX_LINES);
        seen_line[n_seen] = ln;
        seen[n_seen][0] = obj_u64(l, "alloc_calls");
        seen[n_seen][1] = obj_u64(l, "allocated_bytes");
        seen[n_seen][2] = obj_u64(l, "free_calls");
        seen[n_seen][3] = obj_u64(l, "freed_bytes");
        n_seen++;
    }
    for (int k = 0; k < f->n_lines; k++) {
        const struct fixture_line *e = &f->lines[k];
        if (!e->has_expect)
            continue;
        uint64_t want[4] = { e->alloc_calls, e->allocated_bytes + (e->has_dtv ? e->dtv_calls * x->dtv_extra : 0),
                             e->free_calls, e->freed_bytes }, got[4] = { 0, 0, 0, 0 };
        for (int s = 0; s < n_seen; s++)
            if (seen_line[s] == e->line)
                memcpy(got, seen[s], sizeof got);
        if (memcmp(got, want, sizeof got) != 0)
            problem(pr, "%s, %s: line %d: %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 ", expected %" PRIu64 " %" PRIu64
                        " %" PRIu64 " %" PRIu64, v->what, engine, e->line, got[0], got[1], got[2], got[3], want[0],
                    want[1], want[2], want[3]);
    }
    if (calls - in_fixture_calls != x->unattributed_calls || bytes - in_fixture_bytes != x->unattributed_bytes)
        problem(pr, "%s, %s: outside the fixture %" PRIu64 " calls %" PRIu64 " bytes, expected %" PRIu64 " %" PRIu64,
                v->what, engine, calls - in_fixture_calls, bytes - in_fixture_bytes, x->unattributed_calls,
                x->unattributed_bytes);
    outside_calls = (calls - in_fixture_calls) + (frees - in_fixture_frees);
    uint64_t stops = x->stops_beyond && strcmp(engine, "breakpoint") == 0 ? summary_u64(root, "engine_stops") : 0;
    if (stops > x->stops_beyond + outside_calls)
        problem(pr, "%s, %s: %" PRIu64 " stops, expected at most %" PRIu64 " (%" PRIu64 " calls outside the loop)",
                v->what, engine, stops, x->stops_beyond + outside_calls, outside_calls);
    json_decref(root);
}

/* valgrind's totals for the variant: must equal the expectation (tcmalloc:
 * plus its own start-up calls). */
static void check_valgrind(const struct variant *v, const struct expected *x, struct problems *pr)
{
    char synonym[128], env_preload[512];
    snprintf(synonym, sizeof synonym, "--soname-synonyms=%s", v->a->synonym);
    snprintf(env_preload, sizeof env_preload, "LD_PRELOAD=%s", v->preload);
    char *env[] = { env_preload, NULL };
    char *argv[] = { "valgrind", synonym, "--run-libc-freeres=no", "--run-cxx-freeres=no", (char *)v->exe, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, v->preload ? env : NULL, 300, &o), 0);
    unsigned long long n[3];
    ck_assert_msg(numbers_after(o.err, "total heap usage: ", n, 3) == 0, "%s: no valgrind summary:\n%.2000s", v->what,
                  o.err);
    run_output_free(&o);
    uint64_t self[3] = { 0, 0, 0 };
    if (strcmp(v->a->name, "tcmalloc") == 0)
        memcpy(self, tcmalloc_self_calls, sizeof self);
    if (n[0] != x->calls + self[0] || n[1] != x->frees + self[1] || n[2] != x->bytes + self[2])
        problem(pr, "%s, valgrind: %llu allocs %llu frees %llu bytes, expected %" PRIu64 " %" PRIu64 " %" PRIu64,
                v->what, n[0], n[1], n[2], x->calls + self[0], x->frees + self[1], x->bytes + self[2]);
}

/* Every allocator, linked and preloaded, both engines; valgrind on the
 * first build. */
static void check_fixture(const char *name)
{
    static struct fixture_spec f;
    fixture_parse(name, &f);
    static struct problems pr;
    memset(&pr, 0, sizeof pr);
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/%s", name);
    for (int b = 0; b < f.n_builds; b++) {
        char tag[160];
        fixture_tag(tag, sizeof tag, "alloc_glibc_", name, b);
        char glibc_exe[4096];
        const char *built = build_fixture(rel, f.builds[b][0], f.builds[b][1], tag);
        ck_assert_ptr_nonnull(built);
        snprintf(glibc_exe, sizeof glibc_exe, "%s", built);
        struct process_objects base = objects_of(glibc_exe, NULL);
        for (size_t ai = 0; ai < N_ALLOCATORS; ai++) {
            const struct allocator *a = &allocators[ai];
            require_library(a);
            for (int preload = 0; preload < (a->lib ? 2 : 1); preload++) {
                char exe[4096], what[600];
                if (a->lib && !preload) {
                    char ltag[192];
                    snprintf(ltag, sizeof ltag, "alloc_%s_%s", a->name, tag + strlen("alloc_glibc_"));
                    built = build_fixture_with(rel, f.builds[b][0], f.builds[b][1], a->lib, ltag);
                    ck_assert_ptr_nonnull(built);
                    snprintf(exe, sizeof exe, "%s", built);
                } else {
                    snprintf(exe, sizeof exe, "%s", glibc_exe);
                }
                snprintf(what, sizeof what, "%s [%s %s], %s %s", name, f.builds[b][0], f.builds[b][1], a->name,
                         !a->lib ? "" : preload ? "preloaded" : "linked");
                struct variant v = { a, exe, preload ? a->lib : NULL, what };
                struct expected x = expect_for(&f, base, objects_of(exe, v.preload));
                check_memprof(&f, &v, "agent", &x, &pr);
                check_memprof(&f, &v, "breakpoint", &x, &pr);
                if (b == 0 && a->lib)
                    check_valgrind(&v, &x, &pr);
            }
        }
    }
    ck_assert_msg(pr.n == 0, "%d problem(s):\n%s", pr.n, pr.text);
}

START_TEST(threads_c) { check_fixture("threads.c"); }
END_TEST
START_TEST(cxx_cpp) { check_fixture("cxx.cpp"); }
END_TEST
START_TEST(alloc_forms_cpp) { check_fixture("alloc_forms.cpp"); }
END_TEST

/* A throwing operator new unwinds through the agent: recording goes on
 * (both engines; the fixture's numbers). */
START_TEST(new_throws_cpp)
{
    static struct fixture_spec f;
    fixture_parse("new_throws.cpp", &f);
    static struct problems pr;
    memset(&pr, 0, sizeof pr);
    for (int b = 0; b < f.n_builds; b++) {
        char tag[160], what[256];
        fixture_tag(tag, sizeof tag, "alloc_", "new_throws.cpp", b);
        const char *exe = build_fixture("tests/fixtures/new_throws.cpp", f.builds[b][0], f.builds[b][1], tag);
        ck_assert_ptr_nonnull(exe);
        snprintf(what, sizeof what, "new_throws.cpp [%s]", f.builds[b][1]);
        struct variant v = { &allocators[0], exe, NULL, what };
        struct expected x = { f.total_calls, f.total_bytes, f.total_frees, f.unattributed_calls, f.unattributed_bytes, 0, 0 };
        check_memprof(&f, &v, "agent", &x, &pr);
        check_memprof(&f, &v, "breakpoint", &x, &pr);
    }
    ck_assert_msg(pr.n == 0, "%d problem(s):\n%s", pr.n, pr.text);
}
END_TEST

/* A fixture that uses jemalloc's own API, linked with it (its prototypes
 * resolve against jemalloc): every build runs natively (exit 0), then under
 * both engines; stops_beyond: see struct expected (0: not checked). */
static void check_jemalloc_fixture(const char *name, uint64_t stops_beyond)
{
    static struct fixture_spec f;
    fixture_parse(name, &f);
    static struct problems pr;
    memset(&pr, 0, sizeof pr);
    const struct allocator *je = &allocators[1];
    require_library(je);
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/%s", name);
    for (int b = 0; b < f.n_builds; b++) {
        char tag[160], what[256];
        fixture_tag(tag, sizeof tag, "alloc_", name, b);
        const char *exe = build_fixture_with(rel, f.builds[b][0], f.builds[b][1], je->lib, tag);
        ck_assert_ptr_nonnull(exe);
        char *argv[] = { (char *)exe, NULL };
        struct run_output o;
        ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
        ck_assert_msg(o.status == 0, "%s natively: status %d", exe, o.status);
        run_output_free(&o);
        snprintf(what, sizeof what, "%s [%s]", name, f.builds[b][1]);
        struct variant v = { je, exe, NULL, what };
        struct expected x = { f.total_calls, f.total_bytes, f.total_frees, f.unattributed_calls, f.unattributed_bytes, 0,
                              stops_beyond };
        check_memprof(&f, &v, "agent", &x, &pr);
        check_memprof(&f, &v, "breakpoint", &x, &pr);
    }
    ck_assert_msg(pr.n == 0, "%d problem(s):\n%s", pr.n, pr.text);
}

START_TEST(jemalloc_api_c) { check_jemalloc_fixture("jemalloc_api.c", 0); }
END_TEST

/* The breakpoint engine's fast entries on each allocator: a loop fixture's
 * calls stop at most once per distinct stack.  Its own lines' calls are
 * all in its loops; the stops allowed beyond one per call made elsewhere
 * (before main, at exit: a few, each from a stack of its own) are
 * `stacks` (its header), plus `per_call`, plus 20 for the loader's
 * breakpoint, arming and the allocator library's calls to itself (left
 * out, but each stops once). */
static uint64_t loop_stops(uint64_t stacks, uint64_t per_call)
{
    return stacks + per_call + 20;
}

/* bp_new_loop.cpp (operator new and delete in loops, then news that throw)
 * on every allocator, preloaded, both engines: its own numbers, and under
 * the breakpoint engine at most its 30 stacks' stops, and 5 per throw:
 * each throw inside a recorded new stops once (test_bpengine.c), and
 * tcmalloc asks the system for the impossible block (mmap, sbrk twice,
 * brk) from frames based on rbp, which the fast entries never match.
 * mimalloc's operator new cannot throw (it aborts, natively too): there
 * the fixture is built without its throws (-DBP_NEW_LOOP_THROWS=0), and
 * the numbers are the annotations less the throwing line's. */
START_TEST(bp_new_loop_cpp)
{
    static struct fixture_spec full, none;
    fixture_parse("bp_new_loop.cpp", &full);
    none = full;
    int throw_line = fixture_source_line("bp_new_loop.cpp", "new char[huge]");
    ck_assert_int_gt(throw_line, 0);
    const struct fixture_line *t = fixture_line_at(&full, throw_line);
    ck_assert_ptr_nonnull(t);
    none.total_calls -= t->alloc_calls;
    none.total_bytes -= t->allocated_bytes;
    none.total_frees -= t->free_calls;
    for (int i = 0; i < none.n_lines; i++)
        if (none.lines[i].line == throw_line)
            none.lines[i].alloc_calls = none.lines[i].allocated_bytes = none.lines[i].free_calls =
                none.lines[i].freed_bytes = 0;
    static struct problems pr;
    memset(&pr, 0, sizeof pr);
    const char *flags = "-O2 -g -std=c++17", *flags_none = "-O2 -g -std=c++17 -DBP_NEW_LOOP_THROWS=0";
    char with_throws[4096], without[4096];
    const char *built = build_fixture("tests/fixtures/bp_new_loop.cpp", "g++", flags, "alloc_bp_new_loop");
    ck_assert_ptr_nonnull(built);
    snprintf(with_throws, sizeof with_throws, "%s", built);
    built = build_fixture("tests/fixtures/bp_new_loop.cpp", "g++", flags_none, "alloc_bp_new_loop_nothrows");
    ck_assert_ptr_nonnull(built);
    snprintf(without, sizeof without, "%s", built);
    struct process_objects base = objects_of(with_throws, NULL);
    for (size_t ai = 0; ai < N_ALLOCATORS; ai++) {
        const struct allocator *a = &allocators[ai];
        require_library(a);
        for (int throws = 0; throws < 2; throws++) {
            if (throws && strcmp(a->name, "mimalloc") == 0)
                continue;
            const struct fixture_spec *f = throws ? &full : &none;
            const char *exe = throws ? with_throws : without;
            char what[600];
            snprintf(what, sizeof what, "bp_new_loop.cpp [%s], %s%s", throws ? flags : flags_none, a->name,
                     a->lib ? " preloaded" : "");
            struct variant v = { a, exe, a->lib, what };
            struct expected x = expect_for(f, base, objects_of(exe, v.preload));
            x.stops_beyond = loop_stops(30, throws ? 5 * t->alloc_calls : 0);
            check_memprof(f, &v, "agent", &x, &pr);
            check_memprof(f, &v, "breakpoint", &x, &pr);
        }
    }
    ck_assert_msg(pr.n == 0, "%d problem(s):\n%s", pr.n, pr.text);
}
END_TEST

/* bp_jemalloc_loop.c: jemalloc's own API in a loop (linked), both engines:
 * its numbers; the breakpoint engine stops at most once for each of its
 * stacks (6 calls in the loop, free and the calls inside sdallocx and
 * dallocx: at most 12). */
START_TEST(bp_jemalloc_loop_c) { check_jemalloc_fixture("bp_jemalloc_loop.c", loop_stops(12, 0)); }
END_TEST

/* The blocks come from the allocator the program chose, under memprof too
 * (the agent used to hand every call to glibc). */
START_TEST(blocks_stay_with_their_allocator)
{
    static struct problems pr;
    memset(&pr, 0, sizeof pr);
    for (size_t ai = 1; ai < N_ALLOCATORS; ai++) {
        const struct allocator *a = &allocators[ai];
        require_library(a);
        char tag[64];
        snprintf(tag, sizeof tag, "alloc_owner_%s", a->name);
        const char *linked = build_fixture_with("tests/fixtures/owner.c", "gcc", "-O0 -g", a->lib, tag);
        ck_assert_ptr_nonnull(linked);
        char linked_exe[4096];
        snprintf(linked_exe, sizeof linked_exe, "%s", linked);
        const char *plain = build_fixture("tests/fixtures/owner.c", "gcc", "-O0 -g", "alloc_owner");
        ck_assert_ptr_nonnull(plain);
        for (int preload = 0; preload < 2; preload++) {
            const char *exe = preload ? plain : linked_exe;
            char env_preload[512];
            snprintf(env_preload, sizeof env_preload, "LD_PRELOAD=%s", a->lib);
            char *env[] = { env_preload, NULL };
            static const char *const how[] = { NULL, "--engine=agent", "--engine=breakpoint" };
            for (int h = 0; h < 3; h++) {
                char *opts[] = { (char *)how[h], "-o", "/dev/null", NULL };
                char *native[] = { (char *)exe, (char *)a->name, NULL };
                struct run_output o;
                if (h)
                    ck_assert_int_eq(run_preloaded(opts, exe, a->name, preload ? a->lib : NULL, 120, &o), 0);
                else
                    ck_assert_int_eq(run_cmd(native, NULL, preload ? env : NULL, 120, &o), 0);
                if (o.status != 0)
                    problem(&pr, "owner %s (%s, %s): status %d\n%.800s", a->name, preload ? "preloaded" : "linked",
                            h ? how[h] : "natively", o.status, o.err);
                run_output_free(&o);
            }
        }
    }
    ck_assert_msg(pr.n == 0, "%d problem(s):\n%s", pr.n, pr.text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("allocators");
    TCase *tc = tcase_create("allocators");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, blocks_stay_with_their_allocator);
    tcase_add_test(tc, jemalloc_api_c);
    tcase_add_test(tc, new_throws_cpp);
    tcase_add_test(tc, threads_c);
    tcase_add_test(tc, cxx_cpp);
    tcase_add_test(tc, alloc_forms_cpp);
    tcase_add_test(tc, bp_new_loop_cpp);
    tcase_add_test(tc, bp_jemalloc_loop_c);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
