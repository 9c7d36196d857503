/* memprof tests: nothing of memprof's reaches programs it does not profile
 * (issue 12 item 7, the ring's part).  A program profiled with --no-follow
 * starts a daemon (tests/fixtures/daemon_env.c) by fork + setsid + fork +
 * exec, or by posix_spawn, and exits; the daemon writes its environment
 * and its open descriptors to files.  Neither may hold the ring's memfd,
 * MEMPROF_RING_FD, MEMPROF_RING_PATH or the agent in LD_PRELOAD; the
 * user's own LD_PRELOAD entry stays. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define USER_PRELOAD "/lib/x86_64-linux-gnu/libm.so.6"

static void check_daemon(const char *how)
{
    const char *exe = build_fixture("tests/fixtures/daemon_env.c", "gcc", "-O0 -g", "daemon_env");
    ck_assert_ptr_nonnull(exe);
    char out[512], file[600];
    snprintf(out, sizeof out, "%s/daemon_%s", test_tmp_dir(), how);
    const char *suffixes[] = {".env", ".fd", ".done"};
    for (int i = 0; i < 3; i++) {
        snprintf(file, sizeof file, "%s%s", out, suffixes[i]);
        unlink(file);
    }
    char *argv[] = {(char *)memprof_path(), "--no-follow", "-o", "/dev/null", (char *)exe, out, (char *)how, NULL};
    /* the user's LD_PRELOAD reaches memprof too: an ASan-built memprof
     * would refuse a library preloaded before its runtime (libm is harmless) */
    char *env[] = {"LD_PRELOAD=" USER_PRELOAD, "ASAN_OPTIONS=verify_asan_link_order=0", NULL};
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, env, 60, &o), 0);
    ck_assert_msg(o.status == 0, "%s: memprof exited %d\n%.2000s", how, o.status, o.err);
    snprintf(file, sizeof file, "%s.done", out);
    for (int i = 0; i < 200 && access(file, F_OK) != 0; i++)
        usleep(50 * 1000);
    ck_assert_msg(access(file, F_OK) == 0, "%s: the daemon never finished", how);

    size_t len;
    snprintf(file, sizeof file, "%s.env", out);
    char *envs = read_file(file, &len);
    ck_assert_ptr_nonnull(envs);
    ck_assert_msg(!strstr(envs, "MEMPROF_RING_FD="), "%s: the daemon has MEMPROF_RING_FD:\n%s", how, envs);
    ck_assert_msg(!strstr(envs, "MEMPROF_RING_PATH="), "%s: the daemon has MEMPROF_RING_PATH:\n%s", how, envs);
    for (const char *line = envs; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, "LD_PRELOAD=", 11) == 0) {
            const char *end = strchr(line, '\n');
            ck_assert_msg(!memmem(line, end ? (size_t)(end - line) : strlen(line), "libmemprof-agent", 16),
                          "%s: the daemon preloads the agent:\n%s", how, envs);
        }
    ck_assert_msg(strstr(envs, "\nLD_PRELOAD=" USER_PRELOAD "\n") || strncmp(envs, "LD_PRELOAD=" USER_PRELOAD "\n", 38) == 0,
                  "%s: the user's LD_PRELOAD is gone:\n%s", how, envs);
    snprintf(file, sizeof file, "%s.fd", out);
    char *fds = read_file(file, &len);
    ck_assert_ptr_nonnull(fds);
    ck_assert_msg(!strstr(fds, "memprof-ring"), "%s: the daemon holds the ring:\n%s", how, fds);
    free(envs);
    free(fds);
    run_output_free(&o);
}

START_TEST(daemon_by_fork) { check_daemon("fork"); }
END_TEST
START_TEST(daemon_by_posix_spawn) { check_daemon("spawn"); }
END_TEST

int main(void)
{
    Suite *s = suite_create("hygiene");
    TCase *tc = tcase_create("hygiene");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, daemon_by_fork);
    tcase_add_test(tc, daemon_by_posix_spawn);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
