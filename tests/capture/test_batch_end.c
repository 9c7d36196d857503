/* memprof tests: a process that ends abruptly (killed from outside or by
 * itself, aborted, crashed) while events wait in its agent's batch
 * (src/capture/agent/agent_batch.c) still shows every one of them: memprof
 * reads the batch from the ring's pending table after the process is
 * gone (src/events/ring_pending.c).  tests/fixtures/agent_batch_end.c
 * makes KEPT allocations of 16 + i bytes (kept) and PAIRS malloc(8) +
 * free, then ends; the numbers expected are derived here from its source. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define KEPT 100 /* the fixture's */
#define PAIRS 30

static const char *fixture(void)
{
    const char *exe = build_fixture("tests/fixtures/agent_batch_end.c", "gcc", "-O0 -g", "agent_batch_end");
    ck_assert_ptr_nonnull(exe);
    return exe;
}

/* memprof's report of argv (a command run under memprof, or a shell
 * script that runs memprof --json JSON) as JSON. */
static json_t *report_of(char *const argv[], char *const env[], const char *json)
{
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, env, 120, &o), 0);
    json_error_t e;
    json_t *root = json_load_file(json, 0, &e);
    ck_assert_msg(root != NULL, "%s: not JSON (%s); memprof exited %d\n%.3000s", json, e.text, o.status, o.err);
    run_output_free(&o);
    return root;
}

/* One events() of the fixture's: exact totals, KEPT blocks live. */
static void check_events(json_t *proc, int times, const char *what)
{
    uint64_t kept_bytes = 0;
    for (uint64_t i = 0; i < KEPT; i++)
        kept_bytes += 16 + i;
    uint64_t t = (uint64_t)times;
    ck_assert_msg(summary_u64(proc, "alloc_calls") == t * (KEPT + PAIRS), "%s: %llu allocations", what,
                  (unsigned long long)summary_u64(proc, "alloc_calls"));
    ck_assert_uint_eq(summary_u64(proc, "free_calls"), t * PAIRS);
    ck_assert_uint_eq(summary_u64(proc, "allocated_bytes"), t * (kept_bytes + 8 * PAIRS));
    ck_assert_uint_eq(summary_u64(proc, "freed_bytes"), t * 8 * PAIRS);
    ck_assert_uint_eq(summary_u64(proc, "leaked_blocks"), t * KEPT);
    ck_assert_uint_eq(summary_u64(proc, "leaked_bytes"), t * kept_bytes);
    /* the kept blocks of the earlier events(), then this one's and one pair's block */
    ck_assert_uint_eq(summary_u64(proc, "peak_heap_bytes"), t * kept_bytes + 8);
    ck_assert_uint_eq(summary_u64(proc, "events_lost"), 0);
    ck_assert_uint_eq(summary_u64(proc, "unknown_frees"), 0);
    ck_assert_uint_eq(summary_u64(proc, "unsited_free_calls"), 0); /* each free says where it was called */
}

static void check_ending(const char *mode, char *const env[])
{
    char json[4096];
    snprintf(json, sizeof json, "%s/batch_end_%s.json", test_tmp_dir(), mode);
    unlink(json);
    char *argv[] = { (char *)memprof_path(), "--stable", "-o", "/dev/null", "--json", json, (char *)fixture(),
                     (char *)mode, NULL };
    json_t *root = report_of(argv, env, json);
    check_events(root, 1, mode);
    json_decref(root);
}

static char *const no_env[] = { NULL };

START_TEST(test_killed_by_itself)
{
    check_ending("kill9", no_env);
}
END_TEST

START_TEST(test_aborted)
{
    check_ending("abort", no_env);
}
END_TEST

START_TEST(test_crashed)
{
    check_ending("segv", no_env);
}
END_TEST

START_TEST(test_killed_unbatched)
{
    char *const off[] = { "MEMPROF_EVENT_BATCH=0", NULL };
    check_ending("kill9", off);
    char *const old_name[] = { "MEMPROF_FREE_BATCH=no", NULL };
    check_ending("segv", old_name);
}
END_TEST

/* SIGKILL from outside: a shell kills the fixture once it has written its
 * pid (after its events, while it waits). */
START_TEST(test_killed_from_outside)
{
    char json[1024], pidfile[1024], script[8192];
    snprintf(json, sizeof json, "%s/batch_end_outside.json", test_tmp_dir());
    snprintf(pidfile, sizeof pidfile, "%s/batch_end_outside.pid", test_tmp_dir());
    unlink(json);
    unlink(pidfile);
    snprintf(script, sizeof script,
             "'%s' --stable -o /dev/null --json '%s' '%s' outside '%s' & m=$!; "
             "i=0; while [ ! -s '%s' ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; "
             "kill -9 \"$(cat '%s')\"; wait $m; exit 0",
             memprof_path(), json, fixture(), pidfile, pidfile, pidfile);
    char *argv[] = { "/bin/sh", "-c", script, NULL };
    json_t *root = report_of(argv, no_env, json);
    check_events(root, 1, "outside");
    json_decref(root);
}
END_TEST

/* A process tree: the parent's events(), a forked child's events(), the
 * child's exec'd image's events() ending in SIGKILL, then the parent's
 * second events() and exit: each process's own numbers. */
START_TEST(test_tree_keeps_exact_totals)
{
    char json[4096];
    snprintf(json, sizeof json, "%s/batch_end_tree.json", test_tmp_dir());
    unlink(json);
    char *argv[] = { (char *)memprof_path(), "--stable", "-o", "/dev/null", "--json", json, (char *)fixture(),
                     "tree", NULL };
    json_t *root = report_of(argv, no_env, json);
    json_t *parent = tree_process(root, 1), *child = tree_process(root, 2), *image = tree_process(root, 3);
    ck_assert_ptr_nonnull(parent);
    ck_assert_ptr_nonnull(child);
    ck_assert_ptr_nonnull(image);
    ck_assert_ptr_null(tree_process(root, 4));
    check_events(parent, 2, "parent");
    check_events(child, 1, "forked child"); /* its own: the blocks it inherited are the parent's */
    check_events(image, 1, "exec'd image");
    json_decref(parent);
    json_decref(child);
    json_decref(image);
    json_decref(root);
}
END_TEST

/* A child the target leaves running when it exits is let go
 * (--wait-children=no): what it made until then, batched or not, is its
 * profile. */
START_TEST(test_let_go_child_keeps_its_events)
{
    char json[1024], pidfile[1024];
    snprintf(json, sizeof json, "%s/batch_end_letgo.json", test_tmp_dir());
    snprintf(pidfile, sizeof pidfile, "%s/batch_end_letgo.pid", test_tmp_dir());
    unlink(json);
    unlink(pidfile);
    char *argv[] = { (char *)memprof_path(), "--stable", "--wait-children=no", "-o", "/dev/null", "--json", json,
                     (char *)fixture(), "letgo", pidfile, NULL };
    json_t *root = report_of(argv, no_env, json);
    size_t len;
    char *pid_text = read_file(pidfile, &len);
    ck_assert_ptr_nonnull(pid_text);
    pid_t child = (pid_t)atoi(pid_text);
    free(pid_text);
    ck_assert_int_gt(child, 1);
    kill(child, SIGKILL);
    json_t *parent = tree_process(root, 1), *kid = tree_process(root, 2);
    ck_assert_ptr_nonnull(parent);
    ck_assert_ptr_nonnull(kid);
    check_events(parent, 1, "parent");
    check_events(kid, 1, "let-go child");
    json_decref(parent);
    json_decref(kid);
    json_decref(root);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("batch_end");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_killed_by_itself);
    tcase_add_test(tc, test_aborted);
    tcase_add_test(tc, test_crashed);
    tcase_add_test(tc, test_killed_unbatched);
    tcase_add_test(tc, test_killed_from_outside);
    tcase_add_test(tc, test_tree_keeps_exact_totals);
    tcase_add_test(tc, test_let_go_child_keeps_its_events);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
