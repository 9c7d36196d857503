/* memprof tests: frees written in batches by the agent
 * (src/capture/agent/agent_batch.c, with the allocations of known stacks).  tests/fixtures/agent_free_runs.c
 * makes runs of frees of every length from 1 to 100 around each point
 * where a batch must go out (the next allocation, realloc, a free in a
 * signal handler, fork, exit and _exit, a large block, a second thread);
 * the totals, the peak and the leaks expected are derived here from its
 * source (with two threads, whose creation allocates too, they are
 * valgrind's "total heap usage"). */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <unistd.h>

#define RUNS 100 /* the fixture's */

struct expected {
    uint64_t allocs, bytes, peak;
};

/* The fixture's runs(): L blocks of 8 + i bytes, freed in a run, then one
 * of L bytes kept, for L = 1..RUNS; the kept ones freed at the end.  The
 * peak is just before the last run of frees: the kept blocks of 1..RUNS-1
 * and the RUNS blocks of 8 + i (had a batch gone out after the block kept
 * next, the kept block of RUNS would count too). */
static struct expected runs_expected(void)
{
    struct expected e = {0, 0, 0};
    uint64_t kept = 0;
    for (uint64_t len = 1; len <= RUNS; len++) {
        uint64_t run = 0;
        for (uint64_t i = 0; i < len; i++)
            run += 8 + i;
        e.allocs += len + 1;
        e.bytes += run + len;
        if (kept + run > e.peak)
            e.peak = kept + run;
        kept += len;
    }
    return e;
}

static json_t *run_memprof(const char *exe, const char *tag, int *status)
{
    char json[4096];
    snprintf(json, sizeof json, "%s/%s.json", test_tmp_dir(), tag);
    unlink(json);
    char *argv[] = { (char *)memprof_path(), "--stable", "-o", "/dev/null", "--json", json, (char *)exe, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    *status = o.status;
    ck_assert_msg(o.status == 0, "%s: memprof exited %d\n%.3000s", tag, o.status, o.err);
    run_output_free(&o);
    json_error_t e;
    json_t *root = json_load_file(json, 0, &e);
    ck_assert_msg(root != NULL, "%s: not JSON: %s", json, e.text);
    json_t *top = tree_process(root, 1); /* the fixture forks: its own process is the first */
    json_decref(root);
    ck_assert_ptr_nonnull(top);
    return top;
}

static const char *build(const char *mode)
{
    char name[64];
    snprintf(name, sizeof name, "agent_free_runs_%s", mode);
    const char *exe = build_fixture("tests/fixtures/agent_free_runs.c", "gcc", "-O0 -g -pthread", name);
    ck_assert_ptr_nonnull(exe);
    return exe;
}

static void check_ending(const char *mode)
{
    const char *exe = build(mode);
    /* runs(); with_realloc(): 100, 200, 300, 100; in_handler(): 50, 60,
     * 70; fork_after_free(): 40; last_run(): 10 x 24; every block freed */
    struct expected e = runs_expected();
    e.allocs += 4 + 3 + 1 + 10;
    e.bytes += 700 + 180 + 40 + 240;
    /* (valgrind's summary here would be the forked child's, which exits
     * first: 10 allocations fewer, last_run's) */
    int status;
    json_t *top = run_memprof(exe, mode, &status);
    ck_assert_uint_eq(summary_u64(top, "alloc_calls"), e.allocs);
    ck_assert_uint_eq(summary_u64(top, "free_calls"), e.allocs);
    ck_assert_uint_eq(summary_u64(top, "allocated_bytes"), e.bytes);
    ck_assert_uint_eq(summary_u64(top, "freed_bytes"), e.bytes);
    ck_assert_uint_eq(summary_u64(top, "peak_heap_bytes"), e.peak);
    ck_assert_uint_eq(summary_u64(top, "leaked_bytes"), 0); /* the last run went out before the end */
    ck_assert_uint_eq(summary_u64(top, "unknown_frees"), 0);
    ck_assert_uint_eq(summary_u64(top, "events_lost"), 0);
    ck_assert_uint_eq(summary_u64(top, "unsited_free_calls"), 0); /* each free says where it was called */
    json_decref(top);
}

START_TEST(test_runs_then_exit)
{
    check_ending("exit");
}
END_TEST

START_TEST(test_runs_then__exit)
{
    check_ending("_exit");
}
END_TEST

START_TEST(test_large_block_released_at_once)
{
    /* the fixture checks with mallinfo2 that the 1 MiB block's mapping
     * went at its free (it exits 1 otherwise) */
    const char *exe = build("large");
    int status;
    json_t *top = run_memprof(exe, "large", &status);
    ck_assert_uint_eq(summary_u64(top, "alloc_calls"), 2);
    ck_assert_uint_eq(summary_u64(top, "allocated_bytes"), 32 + (1 << 20));
    ck_assert_uint_eq(summary_u64(top, "peak_heap_bytes"), 32 + (1 << 20));
    ck_assert_uint_eq(summary_u64(top, "leaked_bytes"), 0);
    json_decref(top);
}
END_TEST

/* A small freed block is released at its free, batched or not
 * (MEMPROF_EVENT_BATCH=0, or its older name MEMPROF_FREE_BATCH), as
 * natively: the batch holds the free's record, not the block (the
 * fixture's own mallinfo2 reading says which). */
static void check_held(char *const env[], const char *expected)
{
    const char *exe = build("held");
    char *argv[] = { (char *)memprof_path(), "-o", "/dev/null", (char *)exe, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, env, 60, &o), 0);
    ck_assert_msg(o.status == 0, "memprof exited %d\n%.3000s", o.status, o.err);
    ck_assert_str_eq(o.out, expected);
    run_output_free(&o);
}

START_TEST(test_small_block_released_at_its_free)
{
    char *const native[] = { NULL };
    char *argv[] = { (char *)build("held"), NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, native, 60, &o), 0);
    ck_assert_str_eq(o.out, "released\n"); /* glibc alone releases it at once */
    run_output_free(&o);
    check_held(native, "released\n");
    char *const off[] = { "MEMPROF_EVENT_BATCH=0", NULL };
    check_held(off, "released\n");
    char *const old_name[] = { "MEMPROF_FREE_BATCH=off", NULL };
    check_held(old_name, "released\n");
}
END_TEST

START_TEST(test_threads_hand_blocks_over)
{
    /* pthread_create's own allocations (the new thread's DTV) too: the
     * totals are valgrind's */
    const char *exe = build("threads");
    uint64_t va, vf, vb;
    valgrind_totals(exe, 1, &va, &vf, &vb);
    struct expected e = runs_expected();
    ck_assert_uint_ge(va, 2 * e.allocs + 2 * 1000);
    int status;
    json_t *top = run_memprof(exe, "threads", &status);
    ck_assert_uint_eq(summary_u64(top, "alloc_calls"), va);
    ck_assert_uint_eq(summary_u64(top, "free_calls"), vf);
    ck_assert_uint_eq(summary_u64(top, "allocated_bytes"), vb);
    ck_assert_uint_eq(summary_u64(top, "unknown_frees"), 0);
    ck_assert_uint_eq(summary_u64(top, "events_lost"), 0);
    json_decref(top);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("free_batch");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_runs_then_exit);
    tcase_add_test(tc, test_runs_then__exit);
    tcase_add_test(tc, test_large_block_released_at_once);
    tcase_add_test(tc, test_threads_hand_blocks_over);
    tcase_add_test(tc, test_small_block_released_at_its_free);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
