/* memprof tests: attaching never harms the process.  tests/fixtures/
 * attach_storm.c attaches memprof -p to tests/fixtures/torture_alloc.c (8
 * threads allocating, freeing and verifying their own blocks, a 2 kHz timer
 * signal interrupting them anywhere) over and over:
 *   - with --duration 0.2s,
 *   - with SIGINT or SIGTERM at a random moment, many during memprof's setup,
 *   - killing memprof with SIGKILL while it records,
 * and the process must keep every checksum, answer, and exit 0.  Also: no
 * page of the process is writable and executable while memprof is attached
 * (launched or attached).  The number of cycles is MEMPROF_STORM_CYCLES
 * (default 30; scripts/torture runs 200). */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int cycles(int dflt)
{
    const char *env = getenv("MEMPROF_STORM_CYCLES");
    int n = env ? atoi(env) : 0;
    return n > 0 ? n : dflt;
}

static void storm(const char *mode, int n)
{
    const char *target = build_fixture("tests/fixtures/torture_alloc.c", "gcc", "-O2 -g -pthread", "storm_target");
    ck_assert_ptr_nonnull(target);
    char target_path[4096];
    snprintf(target_path, sizeof target_path, "%s", target);
    const char *driver = build_fixture("tests/fixtures/attach_storm.c", "gcc", "-O2 -g", "storm_driver");
    ck_assert_ptr_nonnull(driver);
    char count[16];
    snprintf(count, sizeof count, "%d", n);
    char *argv[] = { (char *)driver, (char *)memprof_path(), target_path, (char *)mode, count, "8", NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60 + n * 8, &o), 0);
    ck_assert_msg(o.status == 0, "attach storm (%s, %d cycles) failed, status %d:\n%s%s", mode, n, o.status, o.out,
                  o.err);
    /* the SIGINT storm must have hit the setup at least once */
    if (strcmp(mode, "sigint") == 0 && n >= 20)
        ck_assert_msg(!strstr(o.out, "during_setup=0 "), "no SIGINT landed during the setup: %s", o.out);
    run_output_free(&o);
}

START_TEST(storm_duration) { storm("duration", cycles(30)); }
END_TEST
START_TEST(storm_sigint) { storm("sigint", cycles(30)); }
END_TEST
START_TEST(storm_sigkill) { storm("sigkill", cycles(30) / 5 > 3 ? cycles(30) / 5 : 3); }
END_TEST

/* Lines of /proc/PID/maps with write and execute permission ("rwx" or
 * "-wx"), in out. */
static int wx_mappings(pid_t pid, char *out, size_t size)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    int n = 0;
    size_t used = 0;
    out[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        char perms[8];
        if (sscanf(line, "%*s %7s", perms) == 1 && perms[1] == 'w' && perms[2] == 'x') {
            n++;
            used += (size_t)snprintf(out + used, used < size ? size - used : 0, "%s", line);
        }
    }
    fclose(f);
    return n;
}

/* Launched under the breakpoint engine: the process looks at its own maps
 * once the engine is armed (before main). */
START_TEST(no_wx_launched)
{
    char *argv[] = { (char *)memprof_path(), "--engine=breakpoint", "-o", "/dev/null", "/bin/sh", "-c",
                     "exec grep -c -E '^[^ ]+ .wx' /proc/self/maps", NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_msg(strcmp(o.out, "0\n") == 0, "writable+executable mappings in a launched process: %s\n%s", o.out,
                  o.err);
    ck_assert_msg(strstr(o.err, "no heap data") == NULL, "the engine did not arm: %s", o.err);
    run_output_free(&o);
}
END_TEST

/* Attached: look at the target's maps while memprof records. */
START_TEST(no_wx_attached)
{
    const char *target = build_fixture("tests/fixtures/torture_alloc.c", "gcc", "-O2 -g -pthread", "storm_target");
    ck_assert_ptr_nonnull(target);
    int in[2], out[2], err[2];
    ck_assert(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0);
    pid_t t = fork();
    if (t == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execl(target, target, "4", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    char buf[4096];
    ssize_t got = read(out[0], buf, sizeof buf - 1);
    ck_assert_msg(got > 0 && strncmp(buf, "ready", 5) == 0, "the target did not start");
    char before[4096], during[4096], pid[32];
    ck_assert_int_eq(wx_mappings(t, before, sizeof before), 0);
    snprintf(pid, sizeof pid, "%d", (int)t);
    pid_t m = fork();
    if (m == 0) {
        dup2(err[1], 2);
        execl(memprof_path(), memprof_path(), "-p", pid, "-o", "/dev/null", (char *)NULL);
        _exit(127);
    }
    close(err[1]);
    size_t len = 0;
    buf[0] = '\0';
    while (!strstr(buf, "attached to process") && len < sizeof buf - 1) {
        ssize_t r = read(err[0], buf + len, sizeof buf - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
    }
    ck_assert_msg(strstr(buf, "attached to process"), "memprof did not attach: %s", buf);
    int n = wx_mappings(t, during, sizeof during);
    /* memprof's mapping is there, read-write and read+execute in parts */
    char maps[64];
    snprintf(maps, sizeof maps, "grep -c memprof-ring /proc/%d/maps >/dev/null", (int)t);
    int mapped = system(maps) == 0;
    kill(m, SIGINT);
    int st;
    while (waitpid(m, &st, 0) < 0 && errno == EINTR)
        ;
    if (write(in[1], "exit\n", 5) != 5)
        kill(t, SIGKILL);
    while (waitpid(t, &st, 0) < 0 && errno == EINTR)
        ;
    ck_assert_msg(mapped, "memprof's stubs were not mapped in the attached process");
    ck_assert_msg(n == 0, "writable+executable mappings while attached:\n%s", during);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the target ended with status %#x", st);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("attach_storm");
    TCase *tc = tcase_create("storm");
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, storm_duration);
    tcase_add_test(tc, storm_sigint);
    tcase_add_test(tc, storm_sigkill);
    tcase_add_test(tc, no_wx_launched);
    tcase_add_test(tc, no_wx_attached);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
