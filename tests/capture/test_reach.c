/* memprof tests: the reachability scan alone (capture/reach): a stopped
 * process (tests/fixtures/reach_target.c) built to hold blocks of known
 * kinds, given to mp_reach_classify as the profile would give them; the
 * expected kinds are the fixture's own, from memcheck's rules. */
#define _GNU_SOURCE
#include "harness.h"
#include "capture/reach/reach.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_BLOCKS 32

struct target {
    pid_t pid;
    struct mp_reach_block blocks[MAX_BLOCKS];
    char kinds[MAX_BLOCKS][16];
    size_t n;
    struct mp_reach_block unlisted;
};

/* Runs the fixture under ptrace until it stops itself; reads its blocks. */
static void start(struct target *t)
{
    const char *exe = build_fixture("tests/fixtures/reach_target.c", "gcc", "-O0 -g", "reach_target");
    ck_assert_ptr_nonnull(exe);
    int out[2];
    ck_assert_int_eq(pipe(out), 0);
    memset(t, 0, sizeof *t);
    t->pid = fork();
    ck_assert_int_ge(t->pid, 0);
    if (t->pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        execl(exe, exe, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    int status;
    ck_assert_int_eq(waitpid(t->pid, &status, 0), t->pid); /* the exec's SIGTRAP */
    ck_assert(WIFSTOPPED(status));
    ptrace(PTRACE_CONT, t->pid, 0, 0);
    FILE *f = fdopen(out[0], "r");
    char line[256];
    while (fgets(line, sizeof line, f) && strcmp(line, "stop\n") != 0) {
        unsigned long long addr, size;
        char kind[16];
        ck_assert_int_eq(sscanf(line, "block %llx %llu %15s", &addr, &size, kind), 3);
        if (strcmp(kind, "unlisted") == 0) {
            t->unlisted = (struct mp_reach_block){ addr, size };
            continue;
        }
        ck_assert_uint_lt(t->n, MAX_BLOCKS);
        t->blocks[t->n] = (struct mp_reach_block){ addr, size };
        snprintf(t->kinds[t->n], sizeof t->kinds[t->n], "%s", kind);
        t->n++;
    }
    fclose(f);
    ck_assert_int_eq(waitpid(t->pid, &status, 0), t->pid);
    ck_assert_msg(WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP, "the fixture did not stop itself");
    /* sort blocks and their kinds together */
    for (size_t i = 1; i < t->n; i++)
        for (size_t j = i; j > 0 && t->blocks[j].addr < t->blocks[j - 1].addr; j--) {
            struct mp_reach_block b = t->blocks[j];
            t->blocks[j] = t->blocks[j - 1];
            t->blocks[j - 1] = b;
            char k[16];
            memcpy(k, t->kinds[j], sizeof k);
            memcpy(t->kinds[j], t->kinds[j - 1], sizeof k);
            memcpy(t->kinds[j - 1], k, sizeof k);
        }
}

static void finish(struct target *t)
{
    kill(t->pid, SIGKILL);
    waitpid(t->pid, NULL, 0);
}

static const char *kind_name(int k)
{
    static const char *const names[] = { "definite", "indirect", "possible", "reachable" };
    return k >= 0 && k < 4 ? names[k] : "?";
}

START_TEST(every_shape_gets_memchecks_kind)
{
    struct target t;
    start(&t);
    ck_assert_uint_eq(t.n, 13);
    uint8_t kinds[MAX_BLOCKS];
    struct mp_reach_stats st;
    char err[256];
    struct mp_reach_options opt = { 0 };
    ck_assert_int_eq(mp_reach_classify(t.pid, &t.pid, 1, t.blocks, t.n, &opt, kinds, &st, err, sizeof err), 0);
    struct problems pr = { .len = 0 };
    for (size_t i = 0; i < t.n; i++)
        if (strcmp(kind_name(kinds[i]), t.kinds[i]) != 0)
            problem(&pr, "block %#llx (%llu bytes): %s, expected %s\n", (unsigned long long)t.blocks[i].addr,
                    (unsigned long long)t.blocks[i].size, kind_name(kinds[i]), t.kinds[i]);
    /* the 256 MiB mapping was not read, only its one touched page */
    if (st.root_bytes > (64u << 20))
        problem(&pr, "%llu bytes of roots read: untouched pages were read\n", (unsigned long long)st.root_bytes);
    if (st.heap_bytes < (6u << 20))
        problem(&pr, "%llu bytes of blocks read: less than the big block\n", (unsigned long long)st.heap_bytes);
    finish(&t);
    ck_assert_msg(pr.n == 0, "%d problems:\n%s", pr.n, pr.text);
}
END_TEST

/* Attached late: a block pointed to only from a block memprof never saw
 * (but that is live) must not be called lost. */
START_TEST(heap_outside_the_blocks_is_a_root_when_asked)
{
    struct target t;
    start(&t);
    uint8_t kinds[MAX_BLOCKS];
    char err[256];
    struct mp_reach_options opt = { .heap_gaps_are_roots = 1 };
    ck_assert_int_eq(mp_reach_classify(t.pid, &t.pid, 1, t.blocks, t.n, &opt, kinds, NULL, err, sizeof err), 0);
    for (size_t i = 0; i < t.n; i++) {
        const char *want = t.kinds[i];
        if (t.blocks[i].size == 56) /* "behind": only the unlisted block points to it */
            want = "reachable";
        ck_assert_msg(strcmp(kind_name(kinds[i]), want) == 0, "block of %llu bytes: %s, expected %s",
                      (unsigned long long)t.blocks[i].size, kind_name(kinds[i]), want);
    }
    finish(&t);
}
END_TEST

START_TEST(bad_input_is_refused)
{
    struct target t;
    start(&t);
    uint8_t kinds[MAX_BLOCKS];
    char err[256] = "";
    struct mp_reach_block swapped[2] = { t.blocks[1], t.blocks[0] };
    ck_assert_int_eq(mp_reach_classify(t.pid, &t.pid, 1, swapped, 2, NULL, kinds, NULL, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "not sorted"));
    struct mp_reach_block overlap[2] = { { t.blocks[0].addr, 64 }, { t.blocks[0].addr + 8, 8 } };
    ck_assert_int_eq(mp_reach_classify(t.pid, &t.pid, 1, overlap, 2, NULL, kinds, NULL, err, sizeof err), -1);
    /* no blocks: nothing to do */
    ck_assert_int_eq(mp_reach_classify(t.pid, &t.pid, 1, NULL, 0, NULL, kinds, NULL, err, sizeof err), 0);
    finish(&t);
    /* a process that is gone */
    ck_assert_int_eq(mp_reach_classify(t.pid, &t.pid, 1, t.blocks, t.n, NULL, kinds, NULL, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot read /proc/"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reach");
    TCase *tc = tcase_create("reachability");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_shape_gets_memchecks_kind);
    tcase_add_test(tc, heap_outside_the_blocks_is_a_root_when_asked);
    tcase_add_test(tc, bad_input_is_refused);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
