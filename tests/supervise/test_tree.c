/* memprof tests: process trees end to end (tests/fixtures/tree.c): a fork
 * storm, vfork + exec, posix_spawn, a shell pipeline, an exec chain, a
 * double-forking daemon (waited for, or let go), a static child of a
 * dynamic parent, make -j2 over a generated project and make -j1 --stable,
 * --no-follow / --follow-only / --no-follow-exec, a setgid child, a child
 * killed while it allocates, per-process and total-RSS limits, and the
 * saved tree read again by memprof report and memprof diff.
 *
 * Expected numbers come from the fixture's source (its header says what
 * each mode allocates) and from valgrind --trace-children=yes (memcheck,
 * one log per pid), never from memprof's own output.  Children must be
 * unharmed: their output and exit statuses are checked too. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *tree_fixture(void)
{
    static char path[4096];
    if (!path[0]) {
        const char *p = build_fixture("tests/fixtures/tree.c", "gcc", "-O0 -g", "tree");
        ck_assert_ptr_nonnull(p);
        snprintf(path, sizeof path, "%s", p);
    }
    return path;
}

static const char *static_tree_fixture(void)
{
    static char path[4096];
    if (!path[0]) {
        const char *p = build_fixture("tests/fixtures/tree.c", "gcc", "-O0 -g -static", "tree_static");
        ck_assert_ptr_nonnull(p);
        snprintf(path, sizeof path, "%s", p);
    }
    return path;
}

/* ---- running memprof ---- */

struct tree_run {
    struct run_output o;
    json_t *root;        /* the JSON report */
    json_t *procs;       /* root.processes (schema 2), or NULL */
};

/* memprof --json TMP/TAG.json [args...]: the report parsed. */
static void run_tree(struct tree_run *r, const char *tag, char *const args[], int timeout_s)
{
    char json[4096];
    snprintf(json, sizeof json, "%s/%s.json", test_tmp_dir(), tag);
    unlink(json);
    char *argv[64];
    int k = 0;
    argv[k++] = (char *)memprof_path();
    argv[k++] = "--json";
    argv[k++] = json;
    for (int i = 0; args[i] && k < 62; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, timeout_s, &r->o), 0);
    json_error_t e;
    r->root = json_load_file(json, 0, &e);
    ck_assert_msg(r->root != NULL, "%s: no JSON report (status %d): %s\n%.3000s", tag, r->o.status, e.text, r->o.err);
    r->procs = json_object_get(r->root, "processes");
}

static void tree_run_free(struct tree_run *r)
{
    json_decref(r->root);
    run_output_free(&r->o);
}

static size_t n_procs(const struct tree_run *r)
{
    return r->procs ? json_array_size(r->procs) : 1;
}

static json_t *proc(const struct tree_run *r, size_t i)
{
    return r->procs ? json_array_get(r->procs, i) : (i == 0 ? r->root : NULL);
}

static const char *arg(json_t *p, size_t i)
{
    return json_string_value(json_array_get(json_object_get(p, "command"), i));
}

static const char *ended(json_t *p)
{
    return json_string_value(json_object_get(p, "ended"));
}

static long long exit_code(json_t *p)
{
    json_t *c = json_object_get(json_object_get(p, "exit"), "code");
    return json_is_integer(c) ? json_integer_value(c) : -1;
}

static long long link_of(json_t *p, const char *key)
{
    json_t *v = json_object_get(p, key);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

/* The first image whose argv[1] is `mode` and argv[2] `a2` (NULL: any). */
static json_t *find(const struct tree_run *r, const char *mode, const char *a2)
{
    for (size_t i = 0; i < n_procs(r); i++) {
        json_t *p = proc(r, i);
        const char *m = arg(p, 1), *x = arg(p, 2);
        if (m && strcmp(m, mode) == 0 && (!a2 || (x && strcmp(x, a2) == 0)))
            return p;
    }
    return NULL;
}

/* ---- what the fixture's source says ---- */

struct heap { uint64_t allocs, bytes, frees, leaked, leaked_blocks, peak; };

static struct heap leaf_numbers(uint64_t size)
{
    return (struct heap){ 3, size + size / 2 + 64, 1, size / 2 + 64, 2, size + size / 2 };
}

/* leaf(): malloc(SIZE / 2) is lost when `sink` takes malloc(64), which
 * stays reachable (memcheck says the same of each process, per pid) */
static void expect_leaf_kinds(struct problems *pr, json_t *p, const char *what, uint64_t size)
{
    uint64_t d = summary_u64(p, "definitely_lost_bytes"), db = summary_u64(p, "definitely_lost_blocks"),
             r = summary_u64(p, "still_reachable_bytes"), rb = summary_u64(p, "still_reachable_blocks");
    if (d != size / 2 || db != 1 || r != 64 || rb != 1)
        problem(pr, "%s: definitely lost %llu in %llu, still reachable %llu in %llu; want %llu in 1, 64 in 1", what,
                (unsigned long long)d, (unsigned long long)db, (unsigned long long)r, (unsigned long long)rb,
                (unsigned long long)(size / 2));
}

static void expect_heap(struct problems *pr, json_t *p, const char *what, struct heap want)
{
    if (!p) {
        problem(pr, "%s: no such image in the report", what);
        return;
    }
    struct heap got = { summary_u64(p, "alloc_calls"), summary_u64(p, "allocated_bytes"), summary_u64(p, "free_calls"),
                        summary_u64(p, "leaked_bytes"), summary_u64(p, "leaked_blocks"),
                        summary_u64(p, "peak_heap_bytes") };
    if (memcmp(&got, &want, sizeof got) != 0)
        problem(pr, "%s: allocs/bytes/frees/leaked/blocks/peak %llu/%llu/%llu/%llu/%llu/%llu, want "
                    "%llu/%llu/%llu/%llu/%llu/%llu", what, (unsigned long long)got.allocs,
                (unsigned long long)got.bytes, (unsigned long long)got.frees, (unsigned long long)got.leaked,
                (unsigned long long)got.leaked_blocks, (unsigned long long)got.peak,
                (unsigned long long)want.allocs, (unsigned long long)want.bytes, (unsigned long long)want.frees,
                (unsigned long long)want.leaked, (unsigned long long)want.leaked_blocks,
                (unsigned long long)want.peak);
    if (summary_u64(p, "events_lost") || summary_u64(p, "unknown_frees") || summary_u64(p, "reused_live_blocks"))
        problem(pr, "%s: events lost, unknown frees or reused blocks", what);
}

/* ---- valgrind --trace-children=yes, one log per pid ---- */

struct vg_proc {
    char command[512];
    unsigned long long allocs, frees, bytes, in_use, in_use_blocks;
};

/* Runs argv under memcheck following children; each pid's last image
 * (valgrind reuses a pid's log across execve).  Returns how many. */
static size_t valgrind_tree(const char *tag, char *const argv[], struct vg_proc *out, size_t max)
{
    char dir[4096], log[4200];
    snprintf(dir, sizeof dir, "%s/vg_%s", test_tmp_dir(), tag);
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(log, sizeof log, "--log-file=%s/vg.%%p", dir);
    char *vargv[64] = { "valgrind", "--trace-children=yes", "--run-libc-freeres=no", "--run-cxx-freeres=no", log };
    int k = 5;
    for (int i = 0; argv[i] && k < 63; i++)
        vargv[k++] = argv[i];
    vargv[k] = NULL;
    struct run_output o;
    ck_assert_int_eq(run_cmd(vargv, NULL, NULL, 600, &o), 0);
    run_output_free(&o);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        if (strncmp(e->d_name, "vg.", 3) != 0)
            continue;
        char path[8400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        char *text = read_file(path, NULL);
        ck_assert_ptr_nonnull(text);
        struct vg_proc *v = &out[n];
        memset(v, 0, sizeof *v);
        const char *c = strstr(text, "Command: ");
        if (c)
            sscanf(c + 9, "%511[^\n]", v->command);
        unsigned long long t[3], u[2];
        if (numbers_after(text, "total heap usage: ", t, 3) == 0 && numbers_after(text, "in use at exit: ", u, 2) == 0) {
            v->allocs = t[0], v->frees = t[1], v->bytes = t[2];
            v->in_use = u[0], v->in_use_blocks = u[1];
            n++;
        }
        free(text);
    }
    closedir(d);
    return n;
}

/* memprof's image and valgrind's log of the same process agree. */
static void expect_valgrind(struct problems *pr, json_t *p, const char *what, const struct vg_proc *v)
{
    if (!p || !v) {
        problem(pr, "%s: %s", what, p ? "no valgrind log" : "no image");
        return;
    }
    unsigned long long a = summary_u64(p, "alloc_calls"), f = summary_u64(p, "free_calls"),
                       b = summary_u64(p, "allocated_bytes"), l = summary_u64(p, "leaked_bytes"),
                       lb = summary_u64(p, "leaked_blocks");
    if (a != v->allocs || f != v->frees || b != v->bytes || l != v->in_use || lb != v->in_use_blocks)
        problem(pr, "%s: memprof %llu allocs, %llu frees, %llu bytes, %llu in %llu leaked; valgrind %llu, %llu, "
                    "%llu, %llu in %llu (%s)", what, a, f, b, l, lb, v->allocs, v->frees, v->bytes, v->in_use,
                v->in_use_blocks, v->command);
}

static const struct vg_proc *vg_by_command(const struct vg_proc *v, size_t n, const char *suffix)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(v[i].command), sl = strlen(suffix);
        if (len >= sl && strcmp(v[i].command + len - sl, suffix) == 0)
            return &v[i];
    }
    return NULL;
}

#define CHECK_PROBLEMS(pr) ck_assert_msg((pr).n == 0, "%d problem(s):\n%s", (pr).n, (pr).text)

/* ---- tests ---- */

#define STORM 200

START_TEST(fork_storm)
{
    char n[16];
    snprintf(n, sizeof n, "%d", STORM);
    char *args[] = { (char *)tree_fixture(), "storm", n, NULL };
    struct tree_run r;
    run_tree(&r, "tree_storm", args, 300);
    ck_assert_msg(r.o.status == 0, "status %d\n%.2000s", r.o.status, r.o.err);
    ck_assert_uint_eq(n_procs(&r), STORM + 1);
    struct problems pr = { .len = 0 };
    expect_heap(&pr, proc(&r, 0), "the parent", (struct heap){ 1, 1000, 1, 0, 0, 1000 });
    static struct vg_proc vg[STORM + 8];
    size_t nvg = valgrind_tree("storm", args, vg, sizeof vg / sizeof *vg);
    ck_assert_uint_eq(nvg, STORM + 1);
    for (int i = 0; i < STORM; i++) {
        json_t *p = proc(&r, (size_t)i + 1);
        char what[64];
        snprintf(what, sizeof what, "child %d", i);
        /* tree order is fork order: child i is image i + 2, forked by #1 */
        if (link_of(p, "id") != i + 2 || link_of(p, "parent") != 1 || !json_is_true(json_object_get(p, "forked")))
            problem(&pr, "%s: id %lld parent %lld", what, link_of(p, "id"), link_of(p, "parent"));
        if (exit_code(p) != i % 7)
            problem(&pr, "%s: exit %lld, its own is %d", what, exit_code(p), i % 7);
        uint64_t big = 100 * (uint64_t)(i + 1);
        expect_heap(&pr, p, what, (struct heap){ 4, big + 96, 3, big, 1, big + 96 });
        /* valgrind's log of the same child: the one with its byte count */
        const struct vg_proc *v = NULL;
        for (size_t k = 0; k < nvg; k++)
            if (vg[k].bytes == big + 96 && vg[k].allocs == 4)
                v = &vg[k];
        expect_valgrind(&pr, p, what, v);
    }
    CHECK_PROBLEMS(pr);
    tree_run_free(&r);

    /* following changes nothing of the parent's own numbers */
    char *alone[] = { "--no-follow", (char *)tree_fixture(), "storm", n, NULL };
    run_tree(&r, "tree_storm_alone", alone, 300);
    ck_assert_int_eq(r.o.status, 0);
    ck_assert_ptr_null(r.procs);
    ck_assert_int_eq(json_integer_value(json_object_get(r.root, "schema")), 1);
    expect_heap(&pr, r.root, "the parent, --no-follow", (struct heap){ 1, 1000, 1, 0, 0, 1000 });
    CHECK_PROBLEMS(pr);
    tree_run_free(&r);
}
END_TEST

START_TEST(vfork_exec_and_posix_spawn)
{
    struct problems pr = { .len = 0 };
    struct tree_run r;
    char *vf[] = { (char *)tree_fixture(), "vfork", "1000", NULL };
    run_tree(&r, "tree_vfork", vf, 120);
    ck_assert_msg(r.o.status == 0, "status %d\n%.2000s", r.o.status, r.o.err);
    ck_assert_str_eq(r.o.out, "leaf 1000\n"); /* the child's own output */
    ck_assert_uint_eq(n_procs(&r), 2);
    json_t *parent = proc(&r, 0), *leaf = proc(&r, 1);
    expect_heap(&pr, parent, "vfork parent", (struct heap){ 1, 111, 1, 0, 0, 111 });
    expect_heap(&pr, leaf, "vfork+exec child", leaf_numbers(1000));
    expect_leaf_kinds(&pr, leaf, "vfork+exec child", 1000);
    ck_assert_str_eq(arg(leaf, 1), "leaf");
    ck_assert_int_eq(exit_code(leaf), 3);
    ck_assert_int_eq(link_of(leaf, "parent"), 1);
    ck_assert(!json_is_true(json_object_get(leaf, "forked")));
    struct vg_proc vg[8];
    size_t nvg = valgrind_tree("vfork", vf, vg, 8);
    expect_valgrind(&pr, leaf, "vfork+exec child", vg_by_command(vg, nvg, "leaf 1000 3"));
    tree_run_free(&r);

    char *sp[] = { (char *)tree_fixture(), "spawn", "2000", NULL };
    run_tree(&r, "tree_spawn", sp, 120);
    ck_assert_msg(r.o.status == 0, "status %d\n%.2000s", r.o.status, r.o.err);
    ck_assert_str_eq(r.o.out, "leaf 2000\n");
    ck_assert_uint_eq(n_procs(&r), 2);
    expect_heap(&pr, proc(&r, 0), "spawn parent", (struct heap){ 1, 222, 1, 0, 0, 222 });
    expect_heap(&pr, proc(&r, 1), "posix_spawn child", leaf_numbers(2000));
    ck_assert_int_eq(exit_code(proc(&r, 1)), 4);
    nvg = valgrind_tree("spawn", sp, vg, 8);
    expect_valgrind(&pr, proc(&r, 1), "posix_spawn child", vg_by_command(vg, nvg, "leaf 2000 4"));
    CHECK_PROBLEMS(pr);
    tree_run_free(&r);
}
END_TEST

/* clone() without CLONE_VM makes a process as fork does, but glibc's atfork
 * handlers do not run in it: the agent still sees a new process (its pid
 * page is wiped in the child) and its numbers are its own, not its
 * parent's. */
START_TEST(clone_child_is_its_own_process)
{
    struct problems pr = { .len = 0 };
    struct tree_run r;
    char *cl[] = { (char *)tree_fixture(), "clone", "3000", NULL };
    run_tree(&r, "tree_clone", cl, 120);
    ck_assert_msg(r.o.status == 0, "status %d\n%.2000s", r.o.status, r.o.err);
    ck_assert_str_eq(r.o.out, "leaf 3000\n");
    ck_assert_uint_eq(n_procs(&r), 2);
    json_t *child = proc(&r, 1);
    expect_heap(&pr, proc(&r, 0), "clone parent", (struct heap){ 1, 444, 1, 0, 0, 444 });
    expect_heap(&pr, child, "clone child", leaf_numbers(3000));
    expect_leaf_kinds(&pr, child, "clone child", 3000);
    ck_assert(json_is_true(json_object_get(child, "forked")));
    ck_assert_int_eq(link_of(child, "parent"), 1);
    ck_assert_int_eq(exit_code(child), 8);
    CHECK_PROBLEMS(pr);
    tree_run_free(&r);
}
END_TEST

START_TEST(shell_pipeline)
{
    char script[8192];
    snprintf(script, sizeof script, "'%s' leaf 1000 7 | '%s' leaf 2000 5", tree_fixture(), tree_fixture());
    char *args[] = { "sh", "-c", script, NULL };
    struct tree_run r;
    run_tree(&r, "tree_pipe", args, 120);
    /* the pipeline's status is its last command's; the first one's output went into the pipe */
    ck_assert_msg(r.o.status == 5, "status %d\n%.2000s", r.o.status, r.o.err);
    ck_assert_str_eq(r.o.out, "leaf 2000\n");
    struct problems pr = { .len = 0 };
    json_t *a = find(&r, "leaf", "1000"), *b = find(&r, "leaf", "2000");
    expect_heap(&pr, a, "a", leaf_numbers(1000));
    expect_heap(&pr, b, "b", leaf_numbers(2000));
    ck_assert_int_eq(exit_code(a), 7);
    ck_assert_int_eq(exit_code(b), 5);
    ck_assert_str_eq(arg(proc(&r, 0), 0), "sh");
    struct vg_proc vg[16];
    size_t nvg = valgrind_tree("pipe", args, vg, 16);
    expect_valgrind(&pr, a, "a", vg_by_command(vg, nvg, "leaf 1000 7"));
    expect_valgrind(&pr, b, "b", vg_by_command(vg, nvg, "leaf 2000 5"));
    CHECK_PROBLEMS(pr);
    /* the text report names every command */
    ck_assert_ptr_nonnull(strstr(r.o.err, "Process tree: "));
    ck_assert_ptr_nonnull(strstr(r.o.err, "leaf 1000 7"));
    tree_run_free(&r);
}
END_TEST

START_TEST(exec_chain)
{
    char *args[] = { (char *)tree_fixture(), "chain", "3", NULL };
    struct tree_run r;
    run_tree(&r, "tree_chain", args, 120);
    ck_assert_int_eq(r.o.status, 0);
    ck_assert_uint_eq(n_procs(&r), 4);
    struct problems pr = { .len = 0 };
    for (int i = 0; i < 4; i++) {
        json_t *p = proc(&r, (size_t)i);
        char want[8], what[32];
        snprintf(want, sizeof want, "%d", 3 - i);
        snprintf(what, sizeof what, "chain %d", 3 - i);
        if (!arg(p, 2) || strcmp(arg(p, 2), want) != 0)
            problem(&pr, "image %d runs chain %s", i + 1, arg(p, 2) ? arg(p, 2) : "?");
        uint64_t bytes = 100 * (uint64_t)(3 - i) + 100;
        expect_heap(&pr, p, what, (struct heap){ 1, bytes, 0, bytes, 1, bytes });
        if (link_of(p, "exec_of") != (i ? i : 0))
            problem(&pr, "%s: exec_of %lld", what, link_of(p, "exec_of"));
        if (strcmp(ended(p), i < 3 ? "exec" : "exit") != 0)
            problem(&pr, "%s: ended %s", what, ended(p));
        if (json_integer_value(json_object_get(p, "pid")) != json_integer_value(json_object_get(proc(&r, 0), "pid")))
            problem(&pr, "%s: another pid", what);
    }
    struct vg_proc vg[4];
    size_t nvg = valgrind_tree("chain", args, vg, 4);
    expect_valgrind(&pr, proc(&r, 3), "chain 0", vg_by_command(vg, nvg, "chain 0"));
    CHECK_PROBLEMS(pr);
    ck_assert_ptr_nonnull(strstr(r.o.err, "exec #1"));
    tree_run_free(&r);
}
END_TEST

/* A program that closes every inherited fd (as daemons and some shells do)
 * and then execs: the new image's agent finds the ring through /proc. */
START_TEST(ring_found_after_fds_closed)
{
    char *args[] = { (char *)tree_fixture(), "closefds", "3000", NULL };
    struct tree_run r;
    run_tree(&r, "tree_closefds", args, 120);
    ck_assert_msg(r.o.status == 6, "status %d\n%.2000s", r.o.status, r.o.err);
    ck_assert_str_eq(r.o.out, "leaf 3000\n");
    ck_assert_uint_eq(n_procs(&r), 2);
    struct problems pr = { .len = 0 };
    expect_heap(&pr, proc(&r, 0), "closefds", (struct heap){ 1, 77, 0, 77, 1, 77 });
    expect_heap(&pr, proc(&r, 1), "leaf after closefds", leaf_numbers(3000));
    CHECK_PROBLEMS(pr);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(proc(&r, 1), "summary"), "engine")), "agent");
    tree_run_free(&r);
}
END_TEST

START_TEST(daemon_is_waited_for)
{
    char file[4096];
    snprintf(file, sizeof file, "%s/tree_daemon_wait", test_tmp_dir());
    unlink(file);
    char *args[] = { (char *)tree_fixture(), "daemon", file, "300", NULL };
    struct tree_run r;
    run_tree(&r, "tree_daemon", args, 120);
    ck_assert_int_eq(r.o.status, 0);
    char *done = read_file(file, NULL);
    ck_assert_msg(done && strcmp(done, "done\n") == 0, "the daemon did not finish before memprof: %s", done);
    free(done);
    ck_assert_ptr_nonnull(strstr(r.o.err, "waiting for the 1 process it left running"));
    ck_assert_uint_eq(n_procs(&r), 3);
    struct problems pr = { .len = 0 };
    json_t *grandchild = proc(&r, 2);
    expect_heap(&pr, grandchild, "the daemon", (struct heap){ 1, 4096, 1, 0, 0, 4096 });
    ck_assert_int_eq(link_of(grandchild, "parent"), 2);
    ck_assert_str_eq(ended(grandchild), "exit");
    CHECK_PROBLEMS(pr);
    tree_run_free(&r);
}
END_TEST

START_TEST(daemon_is_let_go)
{
    char file[4096];
    snprintf(file, sizeof file, "%s/tree_daemon_go", test_tmp_dir());
    unlink(file);
    char *args[] = { "--wait-children=no", (char *)tree_fixture(), "daemon", file, "4000", NULL };
    struct tree_run r;
    run_tree(&r, "tree_daemon_go", args, 120);
    ck_assert_int_eq(r.o.status, 0);
    ck_assert_msg(access(file, F_OK) != 0, "memprof waited for the daemon");
    ck_assert_ptr_nonnull(strstr(r.o.err, "on without memprof (--wait-children=no)"));
    json_t *grandchild = proc(&r, 2);
    ck_assert_str_eq(ended(grandchild), "let go");
    /* unharmed: it does its work after memprof is gone */
    char *done = NULL;
    for (int i = 0; i < 300 && !done; i++) {
        usleep(50 * 1000);
        done = read_file(file, NULL);
        if (done && strcmp(done, "done\n") != 0) {
            free(done);
            done = NULL;
        }
    }
    ck_assert_msg(done != NULL, "the daemon memprof let go never finished");
    free(done);
    tree_run_free(&r);
}
END_TEST

/* Runs memprof with ARGS (its stdout and stderr into OUT and ERR), waits
 * until the file IN (OUT or ERR) says MARKER, then DELAY seconds, then sends
 * memprof one SIGTERM, as a CI job's timeout would; o->status is memprof's
 * exit status.  (No fixed timeout: on a loaded machine memprof may take
 * seconds to get there.) */
static void term_after(char *const args[], const char *out, const char *err, const char *in, const char *marker,
                       const char *delay, struct run_output *o)
{
    char *argv[64] = { "sh", "-c",
                       "out=$1 err=$2 in=$3 marker=$4 delay=$5; shift 5\n"
                       "\"$@\" >\"$out\" 2>\"$err\" &\n"
                       "m=$!; i=0\n"
                       "until grep -q -- \"$marker\" \"$in\" 2>/dev/null; do\n"
                       "  i=$((i + 1)); [ $i -gt 2400 ] && break; sleep 0.05\n"
                       "done\n"
                       "sleep \"$delay\"; kill -TERM $m; wait $m",
                       "sh", (char *)out, (char *)err, (char *)in, (char *)marker, (char *)delay,
                       (char *)memprof_path() };
    size_t n = 10;
    for (size_t i = 0; args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 180, o), 0);
}

/* Waiting for a daemon, memprof takes SIGTERM (a CI timeout) as "stop
 * waiting": it lets the daemon go, writes the report, and the daemon runs
 * on. */
START_TEST(sigterm_stops_waiting)
{
    char file[4096], json[4200], out[4200], err[4200];
    snprintf(file, sizeof file, "%s/tree_daemon_term", test_tmp_dir());
    snprintf(json, sizeof json, "%s/tree_daemon_term.json", test_tmp_dir());
    snprintf(out, sizeof out, "%s/tree_daemon_term.out", test_tmp_dir());
    snprintf(err, sizeof err, "%s/tree_daemon_term.err", test_tmp_dir());
    unlink(file);
    unlink(json);
    unlink(err);
    char *args[] = { "--json", json, (char *)tree_fixture(), "daemon", file, "8000", NULL };
    struct run_output o;
    term_after(args, out, err, err, "waiting for the 1 process it left running", "0", &o);
    char *said = read_file(err, NULL);
    ck_assert_ptr_nonnull(said);
    ck_assert_msg(o.status == 0, "status %d (the program's 0 expected)\n%.2000s", o.status, said);
    ck_assert_ptr_nonnull(strstr(said, "waiting for the 1 process it left running"));
    free(said);
    ck_assert_msg(access(file, F_OK) != 0, "the daemon was done before memprof was told to stop waiting");
    json_error_t e;
    json_t *root = json_load_file(json, 0, &e);
    ck_assert_msg(root != NULL, "no report after SIGTERM: %s", e.text);
    json_t *daemon = json_array_get(json_object_get(root, "processes"), 2);
    ck_assert_str_eq(json_string_value(json_object_get(daemon, "ended")), "let go");
    json_decref(root);
    run_output_free(&o);
    char *done = NULL;
    for (int i = 0; i < 600 && !done; i++) {
        usleep(50 * 1000);
        done = read_file(file, NULL);
    }
    ck_assert_msg(done && strcmp(done, "done\n") == 0, "the daemon memprof let go did not finish its work");
    free(done);
}
END_TEST

/* The same SIGTERM while memprof holds the program at its exit (scanning
 * its 300,000 live blocks for leaks) also means "stop waiting": it came
 * after the program's end, which only memprof knew; it was forwarded to the
 * exiting program and lost, and memprof waited for the daemon.  The signal
 * is sent once the program (tree exitterm, SIGTERM ignored) is in a tracing
 * stop after saying "exiting": its exit stop.  Its daemon runs until the
 * test creates FILE, after memprof ended or a minute went by. */
START_TEST(sigterm_during_exit_stops_waiting)
{
    char file[4096], out[4200], err[4200];
    snprintf(file, sizeof file, "%s/tree_exitterm", test_tmp_dir());
    snprintf(out, sizeof out, "%s/tree_exitterm.out", test_tmp_dir());
    snprintf(err, sizeof err, "%s/tree_exitterm.err", test_tmp_dir());
    unlink(file);
    unlink(out);
    char *argv[] = { "sh", "-c",
                     "out=$1 err=$2 release=$3; shift 3\n"
                     "\"$@\" >\"$out\" 2>\"$err\" &\n"
                     "m=$!; i=0; p=\n"
                     "while [ -z \"$p\" ] && [ $i -lt 2400 ]; do\n"
                     "  p=$(sed -n 's/^exiting //p' \"$out\"); i=$((i + 1)); sleep 0.05\n"
                     "done\n"
                     "while [ -n \"$p\" ] && [ \"$(cut -d' ' -f3 /proc/$p/stat 2>/dev/null)\" != t ] && [ $i -lt 4800 ]; do\n"
                     "  i=$((i + 1)); sleep 0.01\n"
                     "done\n"
                     "kill -TERM $m; i=0\n"
                     "while kill -0 $m 2>/dev/null && [ $i -lt 1200 ]; do i=$((i + 1)); sleep 0.05; done\n"
                     "kill -0 $m 2>/dev/null && echo 'memprof still waits'\n"
                     ": >\"$release\"; wait $m",
                     "sh", out, err, file, (char *)memprof_path(), "-o", "/dev/null", (char *)tree_fixture(),
                     "exitterm", file, "300000", NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 240, &o), 0);
    char *said = read_file(err, NULL);
    ck_assert_ptr_nonnull(said);
    ck_assert_msg(o.status == 0, "status %d (the program's 0 expected)\n%.2000s", o.status, said);
    ck_assert_msg(strstr(said, "waiting for the 1 process it left running") != NULL, "%.2000s", said);
    ck_assert_msg(strstr(o.out, "memprof still waits") == NULL, "memprof waited for the daemon after a SIGTERM "
                  "during the program's exit\n%.2000s", said);
    free(said);
    run_output_free(&o);
}
END_TEST

/* The static child has no agent: the breakpoint engine, with the numbers
 * of its lines exact (the static libc allocates at start-up on lines of
 * its own). */
START_TEST(static_child_of_dynamic_parent)
{
    char *args[] = { (char *)tree_fixture(), "spawn", "3000", (char *)static_tree_fixture(), NULL };
    struct tree_run r;
    run_tree(&r, "tree_static", args, 180);
    ck_assert_msg(r.o.status == 0, "status %d\n%.2000s", r.o.status, r.o.err);
    ck_assert_str_eq(r.o.out, "leaf 3000\n");
    json_t *child = proc(&r, 1);
    ck_assert_ptr_nonnull(child);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(child, "summary"), "engine")), "breakpoint");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(proc(&r, 0), "summary"), "engine")), "agent");
    json_t *lines = json_object_get(child, "lines");
    uint64_t calls = 0, bytes = 0;
    for (size_t i = 0; i < json_array_size(lines); i++) {
        json_t *l = json_array_get(lines, i);
        const char *f = json_string_value(json_object_get(l, "file"));
        const char *fn = json_string_value(json_object_get(l, "function"));
        if (f && fixture_file_is(f, "tree.c") && fn && strcmp(fn, "leaf") == 0) {
            calls += obj_u64(l, "alloc_calls");
            bytes += obj_u64(l, "allocated_bytes");
        }
    }
    ck_assert_uint_eq(calls, leaf_numbers(3000).allocs);
    ck_assert_uint_eq(bytes, leaf_numbers(3000).bytes);
    ck_assert_int_eq(exit_code(child), 4);
    tree_run_free(&r);
}
END_TEST

/* ---- make ---- */

/* A small project: three C files and a program, then two runs of the tree
 * fixture's leaf as recipes.  Returns its directory. */
static const char *make_project(const char *name)
{
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", test_tmp_dir(), name);
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    static const char *const files[][2] = {
        { "a.c", "int a(void) { return 1; }\n" },
        { "b.c", "int b(void) { return 2; }\n" },
        { "main.c", "#include <stdio.h>\nint a(void);\nint b(void);\n"
                    "int main(void) { printf(\"%d\\n\", a() + b()); return 0; }\n" },
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, files[i][0]);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(files[i][1], f);
        fclose(f);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/Makefile", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    /* -pipe and no linker plugin: no temporary files, whose random names
     * would make the tree's command lines differ from run to run */
    fprintf(f, "all: prog leaf1.txt leaf2.txt\n"
               "prog: a.o b.o main.o\n\tgcc -fno-use-linker-plugin -o $@ a.o b.o main.o\n"
               "%%.o: %%.c\n\tgcc -pipe -O0 -c -o $@ $<\n"
               "leaf1.txt:\n\t'%s' leaf 1000 0 > $@\n"
               "leaf2.txt:\n\t'%s' leaf 5000 0 > $@\n"
               "clean:\n\trm -f prog *.o leaf1.txt leaf2.txt\n",
            tree_fixture(), tree_fixture());
    fclose(f);
    return dir;
}

START_TEST(make_j2_project)
{
    const char *dir = make_project("tree_make");
    char *args[] = { "make", "-s", "-j2", "-C", (char *)dir, NULL };
    struct tree_run r;
    run_tree(&r, "tree_make", args, 300);
    ck_assert_msg(r.o.status == 0, "status %d\n%.3000s", r.o.status, r.o.err);
    /* what make built works, and the recipes' output is theirs */
    char prog[4200], out[4200];
    snprintf(prog, sizeof prog, "%s/prog", dir);
    struct run_output o;
    char *run[] = { prog, NULL };
    ck_assert_int_eq(run_cmd(run, NULL, NULL, 30, &o), 0);
    ck_assert_str_eq(o.out, "3\n");
    run_output_free(&o);
    snprintf(out, sizeof out, "%s/leaf2.txt", dir);
    char *text = read_file(out, NULL);
    ck_assert_str_eq(text, "leaf 5000\n");
    free(text);
    /* every image ended well; the compilers are there */
    int cc1 = 0, as = 0;
    struct problems pr = { .len = 0 };
    for (size_t i = 0; i < n_procs(&r); i++) {
        json_t *p = proc(&r, i);
        const char *e = ended(p), *a0 = arg(p, 0);
        if (!(strcmp(e, "exec") == 0 || (strcmp(e, "exit") == 0 && exit_code(p) == 0)))
            problem(&pr, "#%zu %s ended %s %lld", i + 1, a0, e, exit_code(p));
        cc1 += a0 && strstr(a0, "cc1") != NULL;
        as += a0 && strcmp(strrchr(a0, '/') ? strrchr(a0, '/') + 1 : a0, "as") == 0;
        if (summary_u64(p, "events_lost"))
            problem(&pr, "#%zu %s lost events", i + 1, a0);
    }
    ck_assert_int_eq(cc1, 3);
    ck_assert_int_eq(as, 3);
    json_t *l1 = find(&r, "leaf", "1000"), *l2 = find(&r, "leaf", "5000");
    expect_heap(&pr, l1, "leaf 1000", leaf_numbers(1000));
    expect_heap(&pr, l2, "leaf 5000", leaf_numbers(5000));
    /* valgrind on the same two recipes */
    struct vg_proc vg[2];
    char *a1[] = { (char *)tree_fixture(), "leaf", "1000", "0", NULL };
    char *a2[] = { (char *)tree_fixture(), "leaf", "5000", "0", NULL };
    expect_valgrind(&pr, l1, "leaf 1000", valgrind_tree("make_l1", a1, &vg[0], 1) ? &vg[0] : NULL);
    expect_valgrind(&pr, l2, "leaf 5000", valgrind_tree("make_l2", a2, &vg[1], 1) ? &vg[1] : NULL);
    CHECK_PROBLEMS(pr);
    tree_run_free(&r);
}
END_TEST

/* A deterministic tree (make -j1) gives the same --stable report twice.
 * cc1 keys hash tables by address: how often they grow depends on where
 * ASLR put things (one calloc more or less; valgrind, which places things
 * the same way every time, always sees the same).  setarch -R makes the
 * tree deterministic, as the man page advises. */
START_TEST(make_j1_stable_is_byte_identical)
{
    const char *dir = make_project("tree_make_stable");
    char *texts[2];
    for (int i = 0; i < 2; i++) {
        char cmd[8192], report[4200];
        snprintf(cmd, sizeof cmd, "make -s -C '%s' clean", dir);
        ck_assert_int_eq(system(cmd), 0);
        snprintf(report, sizeof report, "%s/../tree_stable_%d.txt", dir, i);
        char *argv[] = { "setarch", "-R", (char *)memprof_path(), "--stable", "--top-processes", "0", "-o", report,
                         "make", "-s", "-j1", "-C", (char *)dir, NULL };
        struct run_output o;
        ck_assert_int_eq(run_cmd(argv, NULL, NULL, 300, &o), 0);
        ck_assert_msg(o.status == 0, "status %d\n%.3000s", o.status, o.err);
        run_output_free(&o);
        texts[i] = read_file(report, NULL);
        ck_assert_ptr_nonnull(texts[i]);
    }
    ck_assert_ptr_nonnull(strstr(texts[0], "Process tree: "));
    for (const char *h = texts[0]; (h = strstr(h, "\n=== Process #")); h++) { /* no pids in the sections */
        const char *eol = strchr(h + 1, '\n'), *pid = strstr(h, "(pid ");
        ck_assert_msg(!pid || pid > eol, "a pid in a --stable report: %.80s", h + 1);
    }
    ck_assert_msg(strcmp(texts[0], texts[1]) == 0, "two --stable reports of make -j1 differ");
    free(texts[0]);
    free(texts[1]);
}
END_TEST

/* ---- what is followed ---- */

START_TEST(follow_options)
{
    char script[8192];
    snprintf(script, sizeof script, "'%s' leaf 1000 0; true", tree_fixture());
    struct tree_run r;
    /* --follow-only: only the leaf is profiled; alone, it is a one-process report */
    char *only[] = { "--follow-only", "*/tree", "sh", "-c", script, NULL };
    run_tree(&r, "tree_only", only, 120);
    ck_assert_int_eq(r.o.status, 0);
    ck_assert_str_eq(r.o.out, "leaf 1000\n");
    ck_assert_ptr_null(r.procs);
    struct problems pr = { .len = 0 };
    expect_heap(&pr, r.root, "leaf, --follow-only", leaf_numbers(1000));
    CHECK_PROBLEMS(pr);
    tree_run_free(&r);
    /* --no-follow-exec: the leaf runs on without memprof, and says so */
    char *skip[] = { "--no-follow-exec", "tree", "sh", "-c", script, NULL };
    run_tree(&r, "tree_skip", skip, 120);
    ck_assert_int_eq(r.o.status, 0);
    ck_assert_str_eq(r.o.out, "leaf 1000\n");
    json_t *leaf = find(&r, "leaf", "1000");
    ck_assert_ptr_nonnull(leaf);
    ck_assert_str_eq(ended(leaf), "not followed");
    ck_assert_ptr_nonnull(strstr(r.o.err, "--no-follow-exec names its program"));
    tree_run_free(&r);
    /* --no-follow: the shell alone, in the one-process format */
    char *none[] = { "--no-follow", "sh", "-c", script, NULL };
    run_tree(&r, "tree_none", none, 120);
    ck_assert_int_eq(r.o.status, 0);
    ck_assert_str_eq(r.o.out, "leaf 1000\n");
    ck_assert_ptr_null(r.procs);
    ck_assert_str_eq(arg(r.root, 0), "sh");
    tree_run_free(&r);
}
END_TEST

/* A debugger or tracer traces its own children: memprof lets them go at
 * once (followed, they could not be traced again), says so, and profiles
 * the tracer. */
START_TEST(tracers_trace_their_children)
{
    if (access("/usr/bin/strace", X_OK) != 0)
        return;
    char trace[4200];
    snprintf(trace, sizeof trace, "%s/tree_strace.out", test_tmp_dir());
    char *args[] = { "strace", "-f", "-o", trace, (char *)tree_fixture(), "leaf", "1000", "5", NULL };
    struct tree_run r;
    run_tree(&r, "tree_strace", args, 120);
    ck_assert_msg(r.o.status == 5, "status %d\n%.2000s", r.o.status, r.o.err); /* strace's is its child's */
    ck_assert_str_eq(r.o.out, "leaf 1000\n");
    char *t = read_file(trace, NULL);
    ck_assert_msg(t && strstr(t, "execve(") && strstr(t, "exited with 5"), "strace did not trace its child");
    free(t);
    ck_assert_ptr_null(r.procs); /* strace alone */
    ck_assert_ptr_nonnull(strstr(r.o.err, " let go at once, not followed: a debugger or tracer traces its own"));
    tree_run_free(&r);
}
END_TEST

/* A setgid program: the loader ignores LD_PRELOAD in it (AT_SECURE), so
 * memprof lets it run unprofiled and says so; it runs as it would. */
START_TEST(setgid_child_runs_unprofiled)
{
    if (geteuid() != 0)
        return; /* needs root to hand the copy to another group */
    char copy[4200];
    snprintf(copy, sizeof copy, "%s/tree_setgid", test_tmp_dir());
    char cmd[8600];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", tree_fixture(), copy);
    ck_assert_int_eq(system(cmd), 0);
    struct group *g = getgrnam("nogroup");
    gid_t gid = g ? g->gr_gid : 65534;
    ck_assert_int_eq(chown(copy, 0, gid), 0);
    ck_assert_int_eq(chmod(copy, 02755), 0);
    char *args[] = { (char *)tree_fixture(), "spawn", "1000", copy, NULL };
    struct tree_run r;
    run_tree(&r, "tree_setgid", args, 120);
    ck_assert_msg(r.o.status == 0, "status %d\n%.2000s", r.o.status, r.o.err);
    ck_assert_str_eq(r.o.out, "leaf 1000\n");
    json_t *child = proc(&r, 1);
    ck_assert_ptr_nonnull(child);
    ck_assert_str_eq(ended(child), "not followed");
    ck_assert_ptr_nonnull(strstr(r.o.err, "setuid or setgid program"));
    tree_run_free(&r);
}
END_TEST

/* A setuid program memprof lets go keeps nothing of memprof's: the
 * loader does not preload the agent into it (so the agent cannot close
 * the ring's descriptor there, as it does in other programs memprof does
 * not profile), and memprof closes it at the exec stop.  The fixture
 * counts its descriptors that are the ring: 0, as natively (1 before). */
START_TEST(setuid_child_keeps_no_ring_descriptor)
{
    if (geteuid() != 0)
        return; /* needs root to hand the copy to another user */
    const char *built = build_fixture("tests/fixtures/ring_fds.c", "gcc", "-O0 -g", "ring_fds");
    ck_assert_ptr_nonnull(built);
    char copy[4200], cmd[8600];
    snprintf(copy, sizeof copy, "%s/ring_fds_setuid", test_tmp_dir());
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", built, copy);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(chown(copy, 65534, 65534), 0); /* nobody's: running it changes the euid */
    ck_assert_int_eq(chmod(copy, 04755), 0);
    struct run_output native;
    char *nargv[] = { copy, NULL };
    ck_assert_int_eq(run_cmd(nargv, NULL, NULL, 30, &native), 0);
    ck_assert_str_eq(native.out, "ring descriptors 0\n");
    /* sh runs it in a child of its own ("; true": not exec'd in its place) */
    char script[4300];
    snprintf(script, sizeof script, "'%s'; true", copy);
    char *args[] = { "/bin/sh", "-c", script, NULL };
    struct tree_run r;
    run_tree(&r, "ring_fds_setuid", args, 60);
    ck_assert_msg(r.o.status == 0, "status %d\n%.2000s", r.o.status, r.o.err);
    ck_assert_str_eq(r.o.out, native.out);
    json_t *child = proc(&r, 1);
    ck_assert_ptr_nonnull(child);
    ck_assert_str_eq(ended(child), "not followed");
    ck_assert_ptr_nonnull(strstr(r.o.err, "setuid or setgid program"));
    ck_assert_ptr_null(strstr(r.o.err, "could not close"));
    tree_run_free(&r);
    run_output_free(&native);
}
END_TEST

/* A child killed while it allocates: no hang, the rest exact. */
START_TEST(killed_child_does_not_hang)
{
    char *args[] = { (char *)tree_fixture(), "killer", NULL };
    struct tree_run r;
    run_tree(&r, "tree_killer", args, 120);
    ck_assert_msg(r.o.status == 0, "status %d\n%.2000s", r.o.status, r.o.err);
    ck_assert_uint_eq(n_procs(&r), 2);
    json_t *child = proc(&r, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(child, "exit"), "signal")), 9);
    /* it allocated and freed 48 bytes at a time: at most the block of the moment it died */
    ck_assert_uint_le(summary_u64(child, "leaked_bytes"), 48);
    ck_assert_uint_le(summary_u64(child, "alloc_calls") - summary_u64(child, "free_calls"), 1);
    ck_assert_uint_gt(summary_u64(child, "alloc_calls"), 100);
    tree_run_free(&r);
}
END_TEST

/* ---- limits ---- */

START_TEST(limits_name_the_process)
{
    char *args[] = { "--limit-heap", "1000", (char *)tree_fixture(), "vfork", "1000", NULL };
    struct tree_run r;
    run_tree(&r, "tree_limit", args, 120);
    ck_assert_int_eq(r.o.status, 3);
    /* the leaf's peak is 1500 bytes; the parent's 111 */
    ck_assert_ptr_nonnull(strstr(r.o.err, "memprof: peak heap 1.5 KiB in #2 "));
    ck_assert_ptr_nonnull(strstr(r.o.err, " leaf 1000 3 (pid "));
    ck_assert_ptr_nonnull(strstr(r.o.err, "exceeds --limit-heap 1000 B"));
    ck_assert_int_eq(count_lines(strstr(r.o.err, "memprof: peak heap")), 1);
    tree_run_free(&r);

    char *total[] = { "--limit-total-rss", "1KiB", (char *)tree_fixture(), "vfork", "1000", NULL };
    run_tree(&r, "tree_total", total, 120);
    ck_assert_int_eq(r.o.status, 3);
    ck_assert_ptr_nonnull(strstr(r.o.err, "memprof: total RSS "));
    ck_assert_ptr_nonnull(strstr(r.o.err, "exceeds --limit-total-rss 1.0 KiB"));
    tree_run_free(&r);
    char *fine[] = { "--limit-total-rss", "1TiB", "--limit-heap", "2000", (char *)tree_fixture(), "vfork", "1000",
                     NULL };
    run_tree(&r, "tree_total_ok", fine, 120);
    ck_assert_int_eq(r.o.status, 0);
    tree_run_free(&r);
}
END_TEST

/* ---- the saved tree ---- */

START_TEST(report_and_diff_read_trees)
{
    char old_json[4200], new_json[4200];
    snprintf(old_json, sizeof old_json, "%s/tree_old.json", test_tmp_dir());
    snprintf(new_json, sizeof new_json, "%s/tree_new.json", test_tmp_dir());
    char *a[] = { (char *)memprof_path(), "--stable", "--json", old_json, (char *)tree_fixture(), "storm", "3", NULL };
    char *b[] = { (char *)memprof_path(), "--stable", "--json", new_json, (char *)tree_fixture(), "storm", "4", NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(a, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 0);
    char *text = strdup(o.err);
    run_output_free(&o);
    ck_assert_int_eq(run_cmd(b, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 0);
    run_output_free(&o);
    /* memprof report writes the same JSON again, and the same text */
    char *rj[] = { (char *)memprof_path(), "report", "--format=json", old_json, NULL };
    ck_assert_int_eq(run_cmd(rj, NULL, NULL, 60, &o), 0);
    char *saved = read_file(old_json, NULL);
    ck_assert_msg(strcmp(o.out, saved) == 0, "the tree does not round-trip");
    free(saved);
    run_output_free(&o);
    char *rt[] = { (char *)memprof_path(), "report", old_json, NULL };
    ck_assert_int_eq(run_cmd(rt, NULL, NULL, 60, &o), 0);
    ck_assert_str_eq(o.out, text);
    free(text);
    run_output_free(&o);
    /* memprof diff pairs the images: the storm's 4th child is new */
    char *d[] = { (char *)memprof_path(), "diff", "--limit-increase", "10", old_json, new_json, NULL };
    ck_assert_int_eq(run_cmd(d, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 3); /* the whole tree allocated more */
    ck_assert_ptr_nonnull(strstr(o.out, "4 paired"));
    ck_assert_ptr_nonnull(strstr(o.out, "    -    #5  496 B (new)"));
    ck_assert_ptr_nonnull(strstr(o.err, "allocated bytes of the whole tree grew"));
    run_output_free(&o);
}
END_TEST

/* ---- pictures and exports of a tree ---- */

/* The bytes of the folded lines whose first frame is `first`. */
static uint64_t folded_bytes(const char *folded, const char *first)
{
    uint64_t sum = 0;
    size_t n = strlen(first);
    for (const char *l = folded; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
        const char *end = strchr(l, '\n'), *sp = end ? end : l + strlen(l);
        while (sp > l && sp[-1] != ' ')
            sp--;
        if (strncmp(l, first, n) == 0 && l[n] == ';')
            sum += strtoull(sp, NULL, 10);
    }
    return sum;
}

/* Folded stacks hold every image; a one-process picture draws the image
 * with the highest peak heap and says so; memprof plot draws the same. */
/* A chain of shell wrappers that exec the program (pyenv's shims, in
 * small): WRAPPERS scripts, each running $(dirname "$0") (dash forks and
 * the child execs dirname) and then exec'ing the next; the last execs
 * "tree leaf 4194304 0".  Images, from the scripts: 3 per wrapper (the
 * shell, the fork, dirname) and the leaf.  The leaf's peak heap is 6 MiB
 * (4194304 + 2097152, leaf_numbers); a shell's or dirname's is some
 * kilobytes, under 1% of it: those rows are folded into one line, they get
 * no section, and the leaf's section comes first. */
#define WRAPPERS 3
#define WRAPPED_SIZE 4194304

static void write_wrappers(char dir[4096])
{
    snprintf(dir, 4096, "%s/wrappers", test_tmp_dir());
    mkdir(dir, 0755);
    for (int i = 1; i <= WRAPPERS; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/w%d.sh", dir, i);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "#!/bin/sh\nd=$(dirname \"$0\")\n");
        if (i < WRAPPERS)
            fprintf(f, "exec \"$d/w%d.sh\" \"$@\"\n", i + 1);
        else
            fprintf(f, "exec %s leaf %d 0\n", tree_fixture(), WRAPPED_SIZE);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(chmod(path, 0755), 0);
    }
}

/* The "=== Process #N" numbers of text's sections, in order; how many. */
static size_t section_ids(const char *text, int *ids, size_t max)
{
    size_t n = 0;
    for (const char *h = text; n < max && (h = strstr(h, "\n=== Process #")); h++)
        ids[n++] = atoi(h + strlen("\n=== Process #"));
    return n;
}

static uint64_t peak_heap_of(struct tree_run *r, int id)
{
    return summary_u64(proc(r, (size_t)id - 1), "peak_heap_bytes");
}

START_TEST(wrapper_chain_ranked)
{
    char dir[4096], w1[4200], report[4200];
    write_wrappers(dir);
    snprintf(w1, sizeof w1, "%s/w1.sh", dir);
    snprintf(report, sizeof report, "%s/tree_wrappers.txt", test_tmp_dir());
    const size_t images = 3 * WRAPPERS + 1;

    char *args[] = { "--stable", "-o", report, w1, NULL };
    struct tree_run r;
    run_tree(&r, "tree_wrappers", args, 120);
    ck_assert_msg(r.o.status == 0, "status %d\n%.2000s", r.o.status, r.o.err);
    ck_assert_uint_eq(n_procs(&r), images);
    struct problems pr = { .len = 0 };
    expect_heap(&pr, proc(&r, images - 1), "the wrapped program", leaf_numbers(WRAPPED_SIZE));
    CHECK_PROBLEMS(pr);
    char *text = read_file(report, NULL);
    ck_assert_ptr_nonnull(text);
    /* the table: the target's row, the leaf's, and one line for the rest */
    char want[256];
    snprintf(want, sizeof want, "\n  (%zu more images not listed: ", images - 2);
    ck_assert_msg(strstr(text, want) != NULL, "no '%s' in\n%.3000s", want + 1, text);
    ck_assert_msg(strstr(text, "\n    1  -  ") != NULL, "the target's row is not listed\n%.3000s", text);
    snprintf(want, sizeof want, "\n   %zu  exec #%zu ", images, images - 3); /* the last wrapper's shell */
    ck_assert_msg(strstr(text, want) != NULL, "the leaf's row is not listed\n%.3000s", text);
    ck_assert_ptr_null(strstr(text, "\n    2  fork #1 "));
    /* one section, the leaf's, with its exact peak */
    int ids[64];
    ck_assert_uint_eq(section_ids(text, ids, 64), 1);
    ck_assert_int_eq(ids[0], (int)images);
    ck_assert_ptr_nonnull(strstr(text, "peak heap          6,291,456 B"));
    snprintf(want, sizeof want, "\n(%zu more images without a section: the 1 shown", images - 1);
    ck_assert_msg(strstr(text, want) != NULL, "no '%s' in\n%.3000s", want + 1, text);
    free(text);
    tree_run_free(&r);

    /* --top-processes=0: every row and every section, biggest peak heap
     * first, ties by number */
    char *all_args[] = { "--stable", "--top-processes", "0", "-o", report, w1, NULL };
    run_tree(&r, "tree_wrappers_all", all_args, 120);
    ck_assert_int_eq(r.o.status, 0);
    text = read_file(report, NULL);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_null(strstr(text, "more images not listed"));
    ck_assert_ptr_nonnull(strstr(text, "\n    2  fork #1 "));
    size_t n = section_ids(text, ids, 64);
    ck_assert_uint_eq(n, images);
    ck_assert_int_eq(ids[0], (int)images);
    for (size_t i = 1; i < n; i++) {
        uint64_t a = peak_heap_of(&r, ids[i - 1]), b = peak_heap_of(&r, ids[i]);
        ck_assert_msg(a > b || (a == b && ids[i - 1] < ids[i]), "section #%d (%llu B) before #%d (%llu B)",
                      ids[i - 1], (unsigned long long)a, ids[i], (unsigned long long)b);
    }
    free(text);
    tree_run_free(&r);
}
END_TEST

START_TEST(pictures_of_a_tree)
{
    char folded[4200], svg[4200], flame[4200], plotted[4200];
    snprintf(folded, sizeof folded, "%s/tree_pic.folded", test_tmp_dir());
    snprintf(svg, sizeof svg, "%s/tree_pic.svg", test_tmp_dir());
    snprintf(flame, sizeof flame, "%s/tree_pic_flame.svg", test_tmp_dir());
    snprintf(plotted, sizeof plotted, "%s/tree_pic_plot.svg", test_tmp_dir());
    char exp_folded[4300], exp_flame[4300];
    snprintf(exp_folded, sizeof exp_folded, "folded=%s", folded);
    snprintf(exp_flame, sizeof exp_flame, "flamegraph=%s", flame);
    char *args[] = { "--export", exp_folded, "--svg", svg, "--export", exp_flame, (char *)tree_fixture(), "vfork",
                     "1000", NULL };
    struct tree_run r;
    run_tree(&r, "tree_pic", args, 120);
    ck_assert_msg(r.o.status == 0, "status %d\n%.2000s", r.o.status, r.o.err);
    /* from tree.c: the parent mallocs 111; the leaf 1000 + 500 + 64, its peak 1500 */
    char *text = read_file(folded, NULL);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(folded_bytes(text, "#1 tree"), 111);
    ck_assert_uint_eq(folded_bytes(text, "#2 tree"), 1000 + 500 + 64);
    free(text);
    ck_assert_ptr_nonnull(strstr(r.o.err, "memprof: the svg output shows one process of the tree, #2 "));
    ck_assert_ptr_nonnull(strstr(r.o.err, "memprof: the flamegraph output shows one process of the tree, #2 "));
    ck_assert_ptr_null(strstr(r.o.err, "the folded output shows"));
    text = read_file(flame, NULL);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(strstr(text, "leaf"));
    free(text);
    /* memprof plot of the saved tree: the same picture, the same note */
    char json[4200];
    snprintf(json, sizeof json, "%s/tree_pic.json", test_tmp_dir());
    char *plot[] = { (char *)memprof_path(), "plot", json, "-o", plotted, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(plot, NULL, NULL, 60, &o), 0);
    ck_assert_msg(o.status == 0, "plot: %s", o.err);
    ck_assert_ptr_nonnull(strstr(o.err, "memprof: the svg output shows one process of the tree, #2 "));
    run_output_free(&o);
    size_t n1, n2;
    char *a = read_file(svg, &n1), *b = read_file(plotted, &n2);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_msg(n1 == n2 && memcmp(a, b, n1) == 0, "memprof plot of the tree differs from --svg");
    free(a);
    free(b);
    tree_run_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tree");
    TCase *tc = tcase_create("tree");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, fork_storm);
    tcase_add_test(tc, vfork_exec_and_posix_spawn);
    tcase_add_test(tc, clone_child_is_its_own_process);
    tcase_add_test(tc, shell_pipeline);
    tcase_add_test(tc, exec_chain);
    tcase_add_test(tc, ring_found_after_fds_closed);
    tcase_add_test(tc, daemon_is_waited_for);
    tcase_add_test(tc, daemon_is_let_go);
    tcase_add_test(tc, sigterm_stops_waiting);
    tcase_add_test(tc, sigterm_during_exit_stops_waiting);
    tcase_add_test(tc, static_child_of_dynamic_parent);
    tcase_add_test(tc, make_j2_project);
    tcase_add_test(tc, make_j1_stable_is_byte_identical);
    tcase_add_test(tc, follow_options);
    tcase_add_test(tc, setgid_child_runs_unprofiled);
    tcase_add_test(tc, setuid_child_keeps_no_ring_descriptor);
    tcase_add_test(tc, tracers_trace_their_children);
    tcase_add_test(tc, killed_child_does_not_hang);
    tcase_add_test(tc, limits_name_the_process);
    tcase_add_test(tc, report_and_diff_read_trees);
    tcase_add_test(tc, pictures_of_a_tree);
    tcase_add_test(tc, wrapper_chain_ranked);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
