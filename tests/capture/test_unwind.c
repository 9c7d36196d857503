/* memprof: tests of the remote unwinder (src/capture/breakpoint/remote_unwind.c).
 *
 * main() builds tests/fixtures/unwind_target.c with gcc -O2 -g, once with
 * -fomit-frame-pointer and once with -fno-omit-frame-pointer, plus its plugin
 * build.  Each test runs the fixture under ptrace, plants an INT3 at the
 * fixture's target_fn, and when the fixture hits it puts the thread back at
 * target_fn's first instruction (as the breakpoint engine does at malloc)
 * and unwinds.  The reference is the fixture's own backtrace() (libgcc's
 * unwinder) from inside target_fn, minus target_fn's frame.  Both unwinders
 * look return addresses up at pc-1; test_call_at_function_end fails if not. */
#define _GNU_SOURCE
#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "capture/breakpoint/remote_unwind.h"

#define FIXTURE "tests/fixtures/unwind_target.c"
#define MAX_FRAMES 1024

static char bin_omit[512], bin_fp[512], bin_plugin[512];
static const char *const variants[2] = { bin_omit, bin_fp };

struct traced {
    pid_t pid;
    FILE *out;               /* the fixture's stdout */
    int mem;                 /* its /proc/PID/mem */
    uint64_t target, start;  /* target_fn, _start */
    unsigned char orig;      /* the byte under the breakpoint */
    struct user_regs_struct regs; /* at target_fn's first instruction */
    struct mp_remote_unwinder *u;
    uint64_t ref[2][MAX_FRAMES]; /* per call of target_fn */
    int nref[2];
};

static void wait_stop(pid_t pid, int sig)
{
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSTOPPED(status) && WSTOPSIG(status) == sig,
                  "fixture: status 0x%x, expected a stop by signal %d", status, sig);
}

static uint64_t line_value(struct traced *t, const char *key)
{
    char text[256], name[32];
    unsigned long long v;
    ck_assert_msg(fgets(text, sizeof text, t->out) != NULL, "fixture output ended before %s", key);
    ck_assert_msg(sscanf(text, "%31s %lli", name, &v) == 2 && strcmp(name, key) == 0,
                  "expected \"%s ...\", got %s", key, text);
    return v;
}

static void next_hit(struct traced *t, int step_first);

/* Start binary with argv, stop it at target_fn's first instruction, with an
 * unwinder made before the fixture's mode ran (so before any dlopen). */
static void start_at_target(struct traced *t, const char *binary, const char *arg1, const char *arg2)
{
    int pfd[2];
    memset(t, 0, sizeof *t);
    ck_assert_int_eq(pipe(pfd), 0);
    t->pid = fork();
    ck_assert_int_ge(t->pid, 0);
    if (t->pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]), close(pfd[1]);
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
            _exit(126);
        execl(binary, binary, arg1, arg2, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    t->out = fdopen(pfd[0], "r");
    wait_stop(t->pid, SIGTRAP); /* the execve */
    ck_assert_int_eq(ptrace(PTRACE_SETOPTIONS, t->pid, NULL, (void *)(long)PTRACE_O_EXITKILL), 0);
    ck_assert_int_eq(ptrace(PTRACE_CONT, t->pid, NULL, NULL), 0);
    wait_stop(t->pid, SIGSTOP);
    t->target = line_value(t, "target");
    t->start = line_value(t, "start");
    line_value(t, "ready");

    char err[256] = "";
    t->u = mp_remote_unwinder_new(t->pid, err, sizeof err);
    ck_assert_msg(t->u != NULL, "mp_remote_unwinder_new: %s", err);

    char mem_path[64];
    snprintf(mem_path, sizeof mem_path, "/proc/%d/mem", (int)t->pid);
    t->mem = open(mem_path, O_RDWR);
    ck_assert_int_ge(t->mem, 0);
    ck_assert_int_eq(pread(t->mem, &t->orig, 1, (off_t)t->target), 1);
    next_hit(t, 0);
}

/* Breakpoint at target_fn, run to it (step over it first when the thread is
 * at it), stop there with rip back at target_fn and the byte restored. */
static void next_hit(struct traced *t, int step_first)
{
    unsigned char int3 = 0xcc;
    if (step_first) {
        ck_assert_int_eq(ptrace(PTRACE_SINGLESTEP, t->pid, NULL, NULL), 0);
        wait_stop(t->pid, SIGTRAP);
    }
    ck_assert_int_eq(pwrite(t->mem, &int3, 1, (off_t)t->target), 1);
    ck_assert_int_eq(ptrace(PTRACE_CONT, t->pid, NULL, NULL), 0); /* a SIGSTOP suppressed */
    wait_stop(t->pid, SIGTRAP);
    ck_assert_int_eq(pwrite(t->mem, &t->orig, 1, (off_t)t->target), 1);
    ck_assert_int_eq(ptrace(PTRACE_GETREGS, t->pid, NULL, &t->regs), 0);
    ck_assert_uint_eq(t->regs.rip, t->target + 1);
    t->regs.rip = t->target;
    ck_assert_int_eq(ptrace(PTRACE_SETREGS, t->pid, NULL, &t->regs), 0);
}

static int unwind(struct traced *t, uint64_t *frames, int max, uint32_t *truncated)
{
    *truncated = 0xdead;
    return mp_remote_unwind_at_entry(t->u, t->regs.rsp, t->regs.rbp, frames, max, truncated);
}

/* Let the fixture run on: read its reference stack, check it exited 0. */
static void finish(struct traced *t)
{
    ck_assert_int_eq(ptrace(PTRACE_DETACH, t->pid, NULL, NULL), 0);
    close(t->mem);
    char text[256];
    for (int call = 0; call < 2 && fgets(text, sizeof text, t->out) != NULL;) {
        unsigned long long v;
        if (strncmp(text, "end", 3) == 0) {
            call++;
            continue;
        }
        ck_assert_msg(sscanf(text, "frame %lli", &v) == 1, "unexpected fixture line %s", text);
        ck_assert_int_lt(t->nref[call], MAX_FRAMES);
        t->ref[call][t->nref[call]++] = v;
    }
    int status;
    ck_assert_int_eq(waitpid(t->pid, &status, 0), t->pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fixture status 0x%x", status);
    fclose(t->out);
    mp_remote_unwinder_free(t->u);
}

static void assert_frames_eq(const uint64_t *got, int n, const uint64_t *want, int nwant)
{
    for (int i = 0; i < n && i < nwant; i++)
        ck_assert_msg(got[i] == want[i], "frame %d: got 0x%" PRIx64 ", expected 0x%" PRIx64, i,
                      got[i], want[i]);
    ck_assert_int_eq(n, nwant);
}

/* The whole stack: equal to the reference of call 0, ending in _start. */
static void check_full(struct traced *t, const uint64_t *frames, int n, uint32_t truncated,
                       int min_depth)
{
    ck_assert_uint_eq(truncated, 0);
    assert_frames_eq(frames, n, t->ref[0], t->nref[0]);
    ck_assert_int_ge(n, min_depth);
    ck_assert_msg(frames[n - 1] > t->start && frames[n - 1] < t->start + 64,
                  "last frame 0x%" PRIx64 " is not in _start (0x%" PRIx64 ")", frames[n - 1],
                  t->start);
}

START_TEST(test_chain)
{
    struct traced t;
    uint64_t frames[MAX_FRAMES], again[MAX_FRAMES];
    uint32_t truncated, truncated2;
    start_at_target(&t, variants[_i], "chain", NULL);
    int n = unwind(&t, frames, MAX_FRAMES, &truncated);
    int n2 = unwind(&t, again, MAX_FRAMES, &truncated2); /* from the cached rules */
    mp_remote_unwinder_refresh(t.u);
    uint64_t fresh[MAX_FRAMES];
    uint32_t truncated3;
    int n3 = unwind(&t, fresh, MAX_FRAMES, &truncated3);
    finish(&t);
    /* c, b, a, main, __libc_start_call_main, __libc_start_main, _start */
    check_full(&t, frames, n, truncated, 7);
    check_full(&t, again, n2, truncated2, 7);
    check_full(&t, fresh, n3, truncated3, 7);
}
END_TEST

START_TEST(test_truncation)
{
    struct traced t;
    uint64_t full[MAX_FRAMES], part[MAX_FRAMES];
    uint32_t truncated;
    start_at_target(&t, variants[_i], "chain", NULL);
    int n = unwind(&t, full, MAX_FRAMES, &truncated);
    ck_assert_int_gt(n, 3);
    ck_assert_uint_eq(truncated, 0);
    for (int max = 1; max < n; max++) {
        ck_assert_int_eq(unwind(&t, part, max, &truncated), max);
        ck_assert_uint_eq(truncated, 1);
        assert_frames_eq(part, max, full, max);
    }
    ck_assert_int_eq(unwind(&t, part, n, &truncated), n); /* exactly deep enough */
    ck_assert_uint_eq(truncated, 0);
    /* [rsp] unreadable: nothing */
    ck_assert_int_eq(mp_remote_unwind_at_entry(t.u, 8, 0, part, MAX_FRAMES, &truncated), 0);
    ck_assert_uint_eq(truncated, 0);
    finish(&t);
    assert_frames_eq(full, n, t.ref[0], t.nref[0]);
}
END_TEST

START_TEST(test_deep_recursion)
{
    struct traced t;
    uint64_t frames[MAX_FRAMES], part[48];
    uint32_t truncated, truncated_full;
    start_at_target(&t, variants[_i], "deep", "200");
    int n48 = unwind(&t, part, 48, &truncated);
    int n = unwind(&t, frames, MAX_FRAMES, &truncated_full);
    finish(&t);
    ck_assert_int_eq(n48, 48);
    ck_assert_uint_eq(truncated, 1);
    assert_frames_eq(part, 48, t.ref[0], 48);
    check_full(&t, frames, n, truncated_full, 201 + 4);
}
END_TEST

START_TEST(test_dlopened_module)
{
    struct traced t;
    uint64_t frames[MAX_FRAMES];
    uint32_t truncated;
    /* The unwinder is made before the fixture dlopens the plugin: the
     * plugin's return address is found by rescanning the modules. */
    start_at_target(&t, variants[_i], "plugin", bin_plugin);
    int n = unwind(&t, frames, MAX_FRAMES, &truncated);
    finish(&t);
    check_full(&t, frames, n, truncated, 8);
}
END_TEST

START_TEST(test_second_stop_reads_fresh_stack)
{
    struct traced t;
    uint64_t first[MAX_FRAMES], second[MAX_FRAMES];
    uint32_t truncated1, truncated2;
    start_at_target(&t, variants[_i], "twice", NULL);
    int n1 = unwind(&t, first, MAX_FRAMES, &truncated1);
    uint64_t rsp1 = t.regs.rsp;
    next_hit(&t, 1);
    ck_assert_uint_gt(t.regs.rsp, rsp1); /* shallower: inside the first window */
    int n2 = unwind(&t, second, MAX_FRAMES, &truncated2);
    finish(&t);
    check_full(&t, first, n1, truncated1, 4 + 4);
    ck_assert_uint_eq(truncated2, 0);
    assert_frames_eq(second, n2, t.ref[1], t.nref[1]);
}
END_TEST

START_TEST(test_call_at_function_end)
{
    struct traced t;
    uint64_t frames[MAX_FRAMES];
    uint32_t truncated;
    start_at_target(&t, variants[_i], "noreturn", NULL);
    int n = unwind(&t, frames, MAX_FRAMES, &truncated);
    finish(&t);
    /* chain_noreturn, main, __libc_start_call_main, __libc_start_main, _start */
    check_full(&t, frames, n, truncated, 5);
}
END_TEST

static Suite *unwind_suite(void)
{
    Suite *suite = suite_create("remote_unwind");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_chain, 0, 2);
    tcase_add_loop_test(tc, test_truncation, 0, 2);
    tcase_add_loop_test(tc, test_deep_recursion, 0, 2);
    tcase_add_loop_test(tc, test_dlopened_module, 0, 2);
    tcase_add_loop_test(tc, test_call_at_function_end, 0, 2);
    tcase_add_loop_test(tc, test_second_stop_reads_fresh_stack, 0, 2);
    suite_add_tcase(suite, tc);
    return suite;
}

static int build(char *dst, size_t len, const char *flags, const char *outname)
{
    const char *path = build_fixture(FIXTURE, "gcc", flags, outname);
    if (path == NULL)
        return -1;
    snprintf(dst, len, "%s", path);
    return 0;
}

int main(void)
{
    unsetenv("DEBUGINFOD_URLS"); /* hermetic: no debug info downloads */
    if (build(bin_omit, sizeof bin_omit, "-O2 -g -fomit-frame-pointer", "unwind_target_omitfp") != 0
        || build(bin_fp, sizeof bin_fp, "-O2 -g -fno-omit-frame-pointer", "unwind_target_fp") != 0
        || build(bin_plugin, sizeof bin_plugin, "-O2 -g -shared -fPIC -DUNWIND_PLUGIN",
                 "unwind_plugin.so") != 0) {
        fprintf(stderr, "test_unwind: cannot build the fixtures\n");
        return EXIT_FAILURE;
    }
    return run_suite(unwind_suite());
}
