/* memprof: Check tests for Python processes memprof does not launch with
 * Debian's stock interpreter: memprof -p on a running Python program (the
 * breakpoint engine, Python frames read from outside), and the other
 * interpreters this machine may have (pyenv builds: 3.11 and 3.12 give the
 * same exact lines, other versions a note), a C program that embeds
 * Debian's libpython3.11.so, and the interpreters of a process tree (one
 * has Python frames at a time; the others' bytes are still seen). */
#define _GNU_SOURCE
#include <check.h>
#include <glob.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "py_harness.h"

/* memprof -p on a running Python program: its Python lines, the note on
 * what the breakpoint engine cannot see, and the program runs on. */
START_TEST(attach_running)
{
    const char *fixture = repo_path("tests/fixtures/python/py_attach.py");
    int out[2];
    ck_assert_int_eq(pipe(out), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execl(PYTHON, PYTHON, fixture, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char ready[16] = "";
    ck_assert_int_gt(read(out[0], ready, sizeof ready - 1), 0);
    ck_assert_msg(strncmp(ready, "ready", 5) == 0, "fixture said %s", ready);
    char pidtext[16], json[PATH_MAX + 16];
    snprintf(pidtext, sizeof pidtext, "%d", (int)pid);
    snprintf(json, sizeof json, "%s/attach.json", test_tmp_dir());
    char *argv[] = { (char *)memprof_path(), "-p", pidtext, "--duration", "2s", "--json", json, "-o", "/dev/null", NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    int alive = kill(pid, 0) == 0;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(out[0]);
    ck_assert_msg(o.status == 0, "memprof -p: %d: %s", o.status, o.err);
    run_output_free(&o);
    ck_assert_msg(alive, "the program did not survive the detach");
    json_error_t jerr;
    json_t *root = json_load_file(json, 0, &jerr);
    ck_assert_ptr_nonnull(root);
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_attach.py", &f);
    json_t *l = line_entry(root, f.path, f.lines[0].line);
    ck_assert_msg(l != NULL, "no %s:%d in the report", f.path, f.lines[0].line);
    uint64_t calls = obj_u64(l, "alloc_calls"), bytes = obj_u64(l, "allocated_bytes");
    /* one buffer a turn, about a millisecond each: some hundreds in 2 s */
    ck_assert_msg(calls >= 50 && bytes >= calls * 100001 && bytes <= calls * 200000,
                  "%llu calls, %llu bytes: not buffers of 100001..200000 bytes", (unsigned long long)calls,
                  (unsigned long long)bytes);
    char w[2048];
    ck_assert_msg(strstr(warnings_text(root, w, sizeof w), "not the small objects of its own allocator"), "%s", w);
    json_decref(root);
}
END_TEST

/* Other interpreters when this machine has some (pyenv builds: libpython
 * shared, with debug information): 3.11 and 3.12 give the same exact lines;
 * any other version a note, native frames and no crash. */
START_TEST(other_interpreters)
{
    glob_t g;
    if (glob("/root/.pyenv/versions/3.*/bin/python3.[0-9]*", 0, NULL, &g) != 0) {
        printf("  no other interpreter here: skipped\n");
        return;
    }
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_alloc.py", &f);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *python = g.gl_pathv[i];
        const char *base = strrchr(python, '/') + 1; /* python3.N or python3.NN only */
        if (strspn(base + 8, "0123456789") != strlen(base + 8) || access(python, X_OK) != 0)
            continue;
        char json[PATH_MAX + 32];
        snprintf(json, sizeof json, "%s/other-%zu.json", test_tmp_dir(), i);
        char *argv[] = { (char *)memprof_path(), "--json", json, "-o", "/dev/null", (char *)python, f.path, NULL };
        struct run_output o;
        ck_assert_int_eq(run_cmd(argv, NULL, NULL, 300, &o), 0);
        ck_assert_msg(o.status == 0, "%s: status %d: %s", python, o.status, o.err);
        run_output_free(&o);
        json_error_t jerr;
        json_t *root = json_load_file(json, 0, &jerr);
        ck_assert_ptr_nonnull(root);
        char w[4096];
        warnings_text(root, w, sizeof w);
        const char *minor = strstr(strrchr(python, '/'), "python3.");
        int known = minor && (strncmp(minor, "python3.11", 10) == 0 || strncmp(minor, "python3.12", 10) == 0);
        if (known) {
            struct problems p = { 0 };
            check_annotations(root, &f, &p);
            ck_assert_msg(p.n == 0, "%s:\n%s", python, p.text);
        } else {
            ck_assert_msg(strstr(w, "memprof reads the Python frames of 3.11 and 3.12 only") != NULL, "%s: %s", python, w);
        }
        printf("  %s: %s\n", python, known ? "exact lines" : "native frames and a note");
        json_decref(root);
    }
    globfree(&g);
}
END_TEST

/* A C program embedding the interpreter (libpython3.11.so, not the
 * executable, is CPython): the fixture's Python lines are as exact as under
 * python3, and the program's own malloc keeps its C line. */
START_TEST(embedded_interpreter)
{
    if (access("/usr/bin/python3-config", X_OK) != 0) {
        printf("  no python3-config (libpython3-dev): skipped\n");
        return;
    }
    char exe[PATH_MAX], cmd[3 * PATH_MAX];
    snprintf(exe, sizeof exe, "%s/py_embed", test_tmp_dir());
    snprintf(cmd, sizeof cmd,
             "gcc -g $(/usr/bin/python3-config --embed --cflags) -o '%s' '%s' -Wl,--no-as-needed "
             "$(/usr/bin/python3-config --embed --ldflags)",
             exe, repo_path("tests/fixtures/python/py_embed.c"));
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_alloc.py", &f);
    char json[PATH_MAX + 16];
    snprintf(json, sizeof json, "%s/embed.json", test_tmp_dir());
    char *argv[] = { (char *)memprof_path(), "--json", json, "-o", "/dev/null", exe, f.path, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 300, &o), 0);
    ck_assert_msg(o.status == 0, "memprof py_embed: status %d: %s", o.status, o.err);
    run_output_free(&o);
    json_error_t jerr;
    json_t *root = json_load_file(json, 0, &jerr);
    ck_assert_ptr_nonnull(root);
    struct problems p = { 0 };
    check_annotations(root, &f, &p);
    char *text = read_file(repo_path("tests/fixtures/python/py_embed.c"), NULL);
    ck_assert_ptr_nonnull(text);
    char *mark = strstr(text, "/* own block");
    ck_assert_ptr_nonnull(mark);
    int own = 1;
    for (char *q = text; q < mark; q++)
        own += *q == '\n';
    json_t *l = line_entry(root, "py_embed.c", own);
    free(text);
    if (!l || obj_u64(l, "alloc_calls") != 1 || obj_u64(l, "allocated_bytes") != 123457)
        problem(&p, "py_embed.c:%d: %llu calls, %llu bytes; the source says 1, 123457", own,
                l ? (unsigned long long)obj_u64(l, "alloc_calls") : 0ULL,
                l ? (unsigned long long)obj_u64(l, "allocated_bytes") : 0ULL);
    ck_assert_msg(p.n == 0, "%s", p.text);
    json_decref(root);
}
END_TEST

/* The process's line with exactly `bytes` allocated, and whether any of its
 * allocations was charged to a Python line. */
static int has_line_of(json_t *proc, uint64_t bytes, int *python_lines)
{
    int found = 0;
    size_t i;
    json_t *l;
    *python_lines = 0;
    json_array_foreach(json_object_get(proc, "lines"), i, l)
    {
        const char *file = json_string_value(json_object_get(l, "file"));
        size_t len = file ? strlen(file) : 0;
        if (obj_u64(l, "alloc_calls") && len > 3 && strcmp(file + len - 3, ".py") == 0)
            *python_lines = 1;
        found |= obj_u64(l, "allocated_bytes") == bytes;
    }
    return found;
}

/* One interpreter of a process tree at a time has the Python channel: the
 * program (its line exact), not the interpreter it runs meanwhile nor its
 * forked copy, whose bytes are seen with native frames; a note counts them.
 * Sizes from py_tree.py's source. */
START_TEST(process_tree)
{
    struct py_fixture f;
    load_fixture("tests/fixtures/python/py_tree.py", &f);
    struct run_output o;
    json_t *root = py_profile(NULL, f.path, NULL, &o);
    run_output_free(&o);
    struct problems p = { 0 };
    json_t *procs = json_object_get(root, "processes");
    ck_assert_msg(json_array_size(procs) == 3, "%zu processes, 3 expected", json_array_size(procs));
    int seen_parent = 0, seen_exec = 0, seen_fork = 0;
    size_t i;
    json_t *proc;
    json_array_foreach(procs, i, proc)
    {
        json_t *cmd = json_object_get(proc, "command");
        int is_c = json_array_size(cmd) > 1 && strcmp(json_string_value(json_array_get(cmd, 1)), "-c") == 0;
        int forked = json_is_true(json_object_get(proc, "forked")), python_lines;
        if (!is_c && !forked) {
            seen_parent = 1;
            check_annotations(proc, &f, &p);
            char w[4096];
            warnings_text(proc, w, sizeof w);
            if (!strstr(w, "2 Python interpreters of the process tree had native frames only"))
                problem(&p, "the program's notes: %s", w);
        } else if (is_c) {
            seen_exec = 1;
            if (!has_line_of(proc, 2000001, &python_lines) || python_lines)
                problem(&p, "python3 -c: its 2,000,001-byte buffer %s, Python lines %d",
                        has_line_of(proc, 2000001, &python_lines) ? "seen" : "not seen", python_lines);
        } else {
            seen_fork = 1;
            if (!has_line_of(proc, 1000001, &python_lines) || python_lines)
                problem(&p, "the forked copy: its 1,000,001-byte buffer %s, Python lines %d",
                        has_line_of(proc, 1000001, &python_lines) ? "seen" : "not seen", python_lines);
        }
    }
    if (!seen_parent || !seen_exec || !seen_fork)
        problem(&p, "processes: program %d, python3 -c %d, forked copy %d", seen_parent, seen_exec, seen_fork);
    ck_assert_msg(p.n == 0, "%s", p.text);
    json_decref(root);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("python_attach");
    TCase *tc = tcase_create("attach");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, attach_running);
    tcase_add_test(tc, other_interpreters);
    tcase_add_test(tc, embedded_interpreter);
    tcase_add_test(tc, process_tree);
    suite_add_tcase(s, tc);
    return py_run_suite(s);
}
