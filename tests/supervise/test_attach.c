/* memprof tests: memprof -p PID, attaching to a running process and leaving
 * it running.
 *
 * The targets (tests/fixtures/attach_target.c, attach_threads.c) are driven
 * through pipes: they print "ready <pid>", then run a known workload for
 * each "go" and answer "done".  memprof is started with its stderr on a
 * pipe; the test waits for its "attached to process" line, drives the
 * workload, stops memprof (SIGINT, or --duration), and compares the JSON
 * report with the annotations of the fixture (numbers derived from its
 * source for one workload run; grammar: tests/fixtures/README).  The target
 * must then keep working and exit 0.  Every wait is bounded: a hang fails
 * the test. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE 4096

/* ------------------------------------------------------------------------ */
/* Processes on pipes                                                         */
/* ------------------------------------------------------------------------ */

struct line_reader {
    int fd;            /* -1 at end of input */
    char buf[8192];
    size_t len;
    char log[16384];   /* everything read, for failure messages */
    size_t log_len;
};

struct proc {
    pid_t pid;
    int in;                 /* its stdin, or -1 */
    struct line_reader out; /* its stdout, if piped */
    struct line_reader err; /* its stderr, if piped */
    int status;             /* waitpid status once reaped */
    int reaped;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* fork + exec argv with stdin, stdout and/or stderr on pipes (the others
 * inherited).  The child dies with the test (PR_SET_PDEATHSIG). */
static void spawn(struct proc *p, char *const argv[], int pipe_in, int pipe_out, int pipe_err)
{
    memset(p, 0, sizeof *p);
    p->in = p->out.fd = p->err.fd = -1;
    int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
    ck_assert(!pipe_in || pipe2(in, O_CLOEXEC) == 0);
    ck_assert(!pipe_out || pipe2(out, O_CLOEXEC) == 0);
    ck_assert(!pipe_err || pipe2(err, O_CLOEXEC) == 0);
    pid_t parent = getpid();
    p->pid = fork();
    ck_assert_int_ge(p->pid, 0);
    if (p->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        signal(SIGPIPE, SIG_DFL);
        if (pipe_in)
            dup2(in[0], 0);
        if (pipe_out)
            dup2(out[1], 1);
        if (pipe_err)
            dup2(err[1], 2);
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (pipe_in) {
        close(in[0]);
        p->in = in[1];
    }
    if (pipe_out) {
        close(out[1]);
        p->out.fd = out[0];
    }
    if (pipe_err) {
        close(err[1]);
        p->err.fd = err[0];
    }
}

/* The next line (without '\n') within timeout_s: 1; 0 at end of input;
 * -1 on timeout. */
static int next_line(struct line_reader *r, char *line, size_t size, double timeout_s)
{
    double deadline = now_s() + timeout_s;
    for (;;) {
        char *nl = memchr(r->buf, '\n', r->len);
        if (nl) {
            size_t n = (size_t)(nl - r->buf);
            snprintf(line, size, "%.*s", (int)n, r->buf);
            memmove(r->buf, nl + 1, r->len - n - 1);
            r->len -= n + 1;
            return 1;
        }
        if (r->fd < 0)
            return 0;
        double left = deadline - now_s();
        if (left <= 0)
            return -1;
        struct pollfd pfd = { r->fd, POLLIN, 0 };
        int rc = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            continue; /* the deadline check above ends it */
        if (r->len == sizeof r->buf)
            r->len = 0; /* a line longer than the buffer: drop it */
        ssize_t n = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
        if (n <= 0) {
            close(r->fd);
            r->fd = -1;
            if (r->len > 0) { /* a last line without '\n' */
                snprintf(line, size, "%.*s", (int)r->len, r->buf);
                r->len = 0;
                return 1;
            }
            return 0;
        }
        size_t keep = (size_t)n < sizeof r->log - r->log_len - 1 ? (size_t)n : sizeof r->log - r->log_len - 1;
        memcpy(r->log + r->log_len, r->buf + r->len, keep);
        r->log_len += keep;
        r->log[r->log_len] = '\0';
        r->len += (size_t)n;
    }
}

/* Reads lines until one contains `needle` (copied to line): 1, or 0 at the
 * end of input / on timeout. */
static int wait_for_line(struct line_reader *r, const char *needle, char *line, size_t size, double timeout_s)
{
    double deadline = now_s() + timeout_s;
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0 || next_line(r, line, size, left) != 1)
            return 0;
        if (strstr(line, needle))
            return 1;
    }
}

/* Collects the rest of the output (for messages) until end of input or the
 * timeout. */
static void drain(struct line_reader *r, double timeout_s)
{
    char line[4096];
    double deadline = now_s() + timeout_s;
    while (r->fd >= 0 && now_s() < deadline && next_line(r, line, sizeof line, deadline - now_s()) >= 0)
        ;
}

static void send_line(struct proc *p, const char *text)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%s\n", text);
    ck_assert_msg(write(p->in, buf, (size_t)n) == n, "writing \"%s\" to process %d: %s", text, (int)p->pid,
                  strerror(errno));
}

/* Reaps p within timeout_s: 1, or 0 if it is still running. */
static int wait_exit(struct proc *p, double timeout_s)
{
    if (p->reaped)
        return 1;
    double deadline = now_s() + timeout_s;
    for (;;) {
        pid_t r = waitpid(p->pid, &p->status, WNOHANG);
        if (r == p->pid) {
            p->reaped = 1;
            return 1;
        }
        if (r < 0 && errno != EINTR)
            return 0;
        if (now_s() >= deadline)
            return 0;
        usleep(10 * 1000); /* bounded polling */
    }
}

static void proc_close(struct proc *p)
{
    if (p->pid > 0 && !p->reaped) {
        kill(p->pid, SIGKILL);
        wait_exit(p, 10);
    }
    if (p->in >= 0)
        close(p->in);
    if (p->out.fd >= 0)
        close(p->out.fd);
    if (p->err.fd >= 0)
        close(p->err.fd);
    p->in = p->out.fd = p->err.fd = -1;
}

static const char *describe_status(int status, char *buf, size_t size)
{
    if (WIFEXITED(status))
        snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, size, "status %#x", status);
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Annotations and the JSON report                                           */
/* ------------------------------------------------------------------------ */

/* The attach fixtures are all about their @expect lines. */
static void parse_fixture(const char *name, struct fixture_spec *f)
{
    fixture_parse(name, f);
    ck_assert_int_gt(f->n_expect, 0);
}

/* The report of an attach window in which the fixture ran its annotated
 * workload `runs` times (0: nothing happened): totals, every @expect line
 * (times runs), no allocation on another line of the fixture, the frees of
 * blocks older than the attach. */
static void check_report(const char *json_path, const struct fixture_spec *f, uint64_t runs, uint64_t unknown_frees,
                         const char *what)
{
    json_error_t je;
    json_t *root = json_load_file(json_path, 0, &je);
    ck_assert_msg(root != NULL, "%s: %s is not JSON: %s", what, json_path, je.text);
    struct problems pr = { .len = 0 };
    json_t *engine = json_object_get(json_object_get(root, "summary"), "engine");
    if (!json_is_string(engine) || strcmp(json_string_value(engine), "breakpoint") != 0)
        problem(&pr, "summary.engine is not \"breakpoint\"");
    uint64_t calls = summary_u64(root, "alloc_calls"), bytes = summary_u64(root, "allocated_bytes"),
             frees = summary_u64(root, "free_calls"), freed = summary_u64(root, "freed_bytes");
    uint64_t want_freed = 0;
    for (int i = 0; i < f->n_lines; i++)
        want_freed += f->lines[i].freed_bytes;
    if (calls != runs * f->total_calls || bytes != runs * f->total_bytes || frees != runs * f->total_frees ||
        freed != runs * want_freed)
        problem(&pr, "totals %" PRIu64 " calls %" PRIu64 " bytes %" PRIu64 " frees %" PRIu64 " freed, expected %" PRIu64
                " %" PRIu64 " %" PRIu64 " %" PRIu64,
                calls, bytes, frees, freed, runs * f->total_calls, runs * f->total_bytes, runs * f->total_frees,
                runs * want_freed);
    /* a thread that exits while attached makes glibc free its tcache
     * (tcache_thread_shutdown), blocks the engine never saw allocated */
    int threads_exit = strstr(f->name, "threads") != NULL;
    if (threads_exit ? summary_u64(root, "unknown_frees") < unknown_frees
                     : summary_u64(root, "unknown_frees") != unknown_frees)
        problem(&pr, "unknown_frees %" PRIu64 ", expected %" PRIu64, summary_u64(root, "unknown_frees"),
                unknown_frees);
    if (summary_u64(root, "events_lost") != 0)
        problem(&pr, "events_lost %" PRIu64 ", expected 0", summary_u64(root, "events_lost"));

    static uint64_t by_line[MAX_LINE][4];
    memset(by_line, 0, sizeof by_line);
    json_t *lines = json_object_get(root, "lines");
    for (size_t i = 0; json_is_array(lines) && i < json_array_size(lines); i++) {
        json_t *l = json_array_get(lines, i);
        if (!fixture_file_is(json_string_value(json_object_get(l, "file")), f->name))
            continue;
        uint64_t ln = obj_u64(l, "line");
        if (ln == 0 || ln >= MAX_LINE)
            continue;
        by_line[ln][0] += obj_u64(l, "alloc_calls");
        by_line[ln][1] += obj_u64(l, "allocated_bytes");
        by_line[ln][2] += obj_u64(l, "free_calls");
        by_line[ln][3] += obj_u64(l, "freed_bytes");
    }
    for (int ln = 1; ln < MAX_LINE; ln++) {
        const struct fixture_line *e = fixture_line_at(f, ln);
        if (!e || !e->has_expect) {
            if (by_line[ln][0])
                problem(&pr, "line %d: %" PRIu64 " allocations, none expected", ln, by_line[ln][0]);
            continue;
        }
        if (by_line[ln][0] != runs * e->alloc_calls || by_line[ln][1] != runs * e->allocated_bytes ||
            by_line[ln][2] != runs * e->free_calls || by_line[ln][3] != runs * e->freed_bytes)
            problem(&pr, "line %d: calls=%" PRIu64 " bytes=%" PRIu64 " frees=%" PRIu64 " freed=%" PRIu64
                    ", expected %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64,
                    ln, by_line[ln][0], by_line[ln][1], by_line[ln][2], by_line[ln][3], runs * e->alloc_calls,
                    runs * e->allocated_bytes, runs * e->free_calls, runs * e->freed_bytes);
    }
    json_decref(root);
    ck_assert_msg(pr.n == 0, "%s: %d problem(s) in %s\n%s", what, pr.n, json_path, pr.text);
}

/* ------------------------------------------------------------------------ */
/* The attach session                                                        */
/* ------------------------------------------------------------------------ */

static const char *build(const char *name, int b, const struct fixture_spec *f)
{
    char tag[128], rel[256];
    snprintf(tag, sizeof tag, "attach_%.*s_%d", (int)(strlen(name) - 2), name, b);
    snprintf(rel, sizeof rel, "tests/fixtures/%s", name);
    const char *exe = build_fixture(rel, f->builds[b][0], f->builds[b][1], tag);
    ck_assert_ptr_nonnull(exe);
    return exe;
}

/* Starts the fixture and reads its "ready <pid>". */
static void start_target(struct proc *t, const char *exe)
{
    char *argv[] = { (char *)exe, NULL };
    spawn(t, argv, 1, 1, 0);
    char line[256];
    int rc = next_line(&t->out, line, sizeof line, 30);
    ck_assert_msg(rc == 1, "%s did not say ready (%s)", exe, rc == 0 ? "end of output" : "timeout");
    char want[64];
    snprintf(want, sizeof want, "ready %d", (int)t->pid);
    ck_assert_msg(strcmp(line, want) == 0, "%s said \"%s\", expected \"%s\"", exe, line, want);
}

/* Sends a command and waits for its answer. */
static void command(struct proc *t, const char *cmd, const char *answer, const char *when)
{
    send_line(t, cmd);
    char line[256];
    int rc = next_line(&t->out, line, sizeof line, 60);
    ck_assert_msg(rc == 1 && strcmp(line, answer) == 0, "%s: \"%s\" got %s%s%s (expected \"%s\")", when, cmd,
                  rc == 1 ? "\"" : rc == 0 ? "end of output" : "no answer within 60 s", rc == 1 ? line : "",
                  rc == 1 ? "\"" : "", answer);
}

/* memprof -p PID [extra...] --json JSON -o TEXT, stderr on a pipe; returns
 * once memprof said it attached (and checks the thread count). */
static void start_memprof(struct proc *m, pid_t target, const char *json, const char *text, const char *duration,
                          int threads)
{
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)target);
    char *argv[12];
    int k = 0;
    argv[k++] = (char *)memprof_path();
    argv[k++] = "-p";
    argv[k++] = pid;
    if (duration) {
        argv[k++] = "--duration";
        argv[k++] = (char *)duration;
    }
    argv[k++] = "--json";
    argv[k++] = (char *)json;
    argv[k++] = "-o";
    argv[k++] = (char *)text;
    argv[k] = NULL;
    unlink(json);
    spawn(m, argv, 0, 0, 1);
    char line[4096];
    int ok = wait_for_line(&m->err, "attached to process", line, sizeof line, 60);
    if (!ok) {
        drain(&m->err, 2);
        ck_abort_msg("memprof -p %d never said it attached; its stderr:\n%.3000s", (int)target, m->err.log);
    }
    char want[128];
    snprintf(want, sizeof want, "memprof: attached to process %d (%d thread%s): Ctrl-C detaches and reports",
             (int)target, threads, threads == 1 ? "" : "s");
    ck_assert_msg(strcmp(line, want) == 0, "memprof said \"%s\", expected \"%s\"", line, want);
}

/* Waits for memprof to finish; it must exit 0.  If it does not, and a
 * target is given, the target is made to run its workload once more (a
 * ptrace stop for memprof): memprof leaving then means it saw the signal
 * but slept on in waitpid until the next event of the target. */
static void finish_memprof(struct proc *m, double timeout_s, const char *what, struct proc *poke, const char *cmd,
                           const char *answer)
{
    int done = wait_exit(m, timeout_s);
    drain(&m->err, done ? 5 : 0.1);
    if (!done) {
        int after_poke = 0;
        if (poke) {
            send_line(poke, cmd);
            char line[256];
            if (next_line(&poke->out, line, sizeof line, 10) != 1 || strcmp(line, answer) != 0)
                fprintf(stderr, "test_attach: the target did not answer \"%s\"\n", cmd);
            after_poke = wait_exit(m, 10);
            drain(&m->err, 1);
        }
        if (!after_poke) {
            kill(m->pid, SIGKILL);
            wait_exit(m, 10);
        }
        ck_abort_msg("%s: memprof did not exit within %.0f s%s; its stderr:\n%.3000s", what, timeout_s,
                     after_poke ? ", only when the target ran its workload again (a ptrace stop): the signal was "
                                  "missed while memprof waited for the target"
                                : "",
                     m->err.log);
    }
    char st[128];
    ck_assert_msg(WIFEXITED(m->status) && WEXITSTATUS(m->status) == 0, "%s: memprof ended with %s; its stderr:\n%.3000s",
                  what, describe_status(m->status, st, sizeof st), m->err.log);
}

static uint64_t tracer_of(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    uint64_t tracer = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "TracerPid: %" SCNu64, &tracer) == 1)
            break;
    fclose(f);
    return tracer;
}

/* After memprof left: the target is not traced any more, still works and
 * exits 0 when told. */
static void target_survives(struct proc *t, const char *cmd, const char *answer, const char *what)
{
    ck_assert_msg(tracer_of(t->pid) == 0, "%s: process %d is still traced after memprof exited", what, (int)t->pid);
    command(t, cmd, answer, what);
    command(t, cmd, answer, what);
    send_line(t, "exit");
    int done = wait_exit(t, 30);
    ck_assert_msg(done, "%s: the target did not exit within 30 s of \"exit\"", what);
    char st[128];
    ck_assert_msg(WIFEXITED(t->status) && WEXITSTATUS(t->status) == 0, "%s: the target ended with %s after the detach",
                  what, describe_status(t->status, st, sizeof st));
}

static void paths_for(const char *tag, char *json, char *text, size_t size)
{
    snprintf(json, size, "%s/%s.json", test_tmp_dir(), tag);
    snprintf(text, size, "%s/%s.txt", test_tmp_dir(), tag);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                      */
/* ------------------------------------------------------------------------ */

/* Ctrl-C: attach, one workload run, SIGINT; memprof exits 0 with the run's
 * exact numbers (one free of a block older than the attach); the target
 * lives on. */
static void ctrl_c(int b)
{
    static struct fixture_spec f;
    parse_fixture("attach_target.c", &f);
    ck_assert_int_lt(b, f.n_builds);
    const char *exe = build("attach_target.c", b, &f);
    char what[256], tag[64], json[4096], text[4096];
    snprintf(what, sizeof what, "attach_target.c [%s]", f.builds[b][1]);
    snprintf(tag, sizeof tag, "attach_ctrl_c_%d", b);
    paths_for(tag, json, text, sizeof json);

    struct proc t, m;
    start_target(&t, exe);
    start_memprof(&m, t.pid, json, text, NULL, 1);
    command(&t, "go", "done", what);
    kill(m.pid, SIGINT);
    finish_memprof(&m, 20, what, &t, "go", "done");
    check_report(json, &f, 1, 1, what);
    target_survives(&t, "go", "done", what);
    proc_close(&m);
    proc_close(&t);
}

static void check_detach_wording(const char *text_path, const char *what);

/* Leak kinds at detach: memprof knows only the blocks of the attach window,
 * so heap memory outside them counts as a root (attach_leaks.c); the leaks
 * section by kind says "live", never "leaked", of a process that runs on. */
START_TEST(attach_leak_kinds_at_detach)
{
    static struct fixture_spec f;
    fixture_parse("attach_leaks.c", &f);
    ck_assert(f.has_leakkinds);
    const char *exe = build("attach_leaks.c", 0, &f);
    char json[4096], text[4096];
    paths_for("attach_leaks", json, text, sizeof json);
    struct proc t, m;
    start_target(&t, exe);
    start_memprof(&m, t.pid, json, text, NULL, 1);
    command(&t, "go", "done", "attach_leaks.c");
    kill(m.pid, SIGINT);
    finish_memprof(&m, 20, "attach_leaks.c", &t, "go", "done");
    json_error_t je;
    json_t *root = json_load_file(json, 0, &je);
    ck_assert_msg(root != NULL, "%s: %s", json, je.text);
    uint64_t bytes[4], blocks[4];
    json_leak_kinds(json_object_get(root, "summary"), bytes, blocks);
    for (int k = 0; k < 4; k++)
        ck_assert_msg(bytes[k] == f.kind_bytes[k] && blocks[k] == f.kind_blocks[k],
                      "kind %d: %" PRIu64 " bytes in %" PRIu64 " blocks, expected %" PRIu64 " in %" PRIu64, k,
                      bytes[k], blocks[k], f.kind_bytes[k], f.kind_blocks[k]);
    json_decref(root);
    char *report = read_file(text, NULL);
    ck_assert_ptr_nonnull(report);
    ck_assert_ptr_nonnull(strstr(report, "\nLive at detach: 96 B in 3 blocks allocated while attached, by memcheck's "
                                         "kinds\n"));
    free(report);
    check_detach_wording(text, "leak kinds at detach");
    target_survives(&t, "go", "done", "attach_leaks.c");
    proc_close(&m);
    proc_close(&t);
}
END_TEST

START_TEST(attach_ctrl_c_dynamic) { ctrl_c(0); }
END_TEST
START_TEST(attach_ctrl_c_static) { ctrl_c(1); }
END_TEST

/* Attach twice in a row to the same process: the second session sees only
 * its own window, and the first left nothing behind. */
START_TEST(attach_twice)
{
    static struct fixture_spec f;
    parse_fixture("attach_target.c", &f);
    const char *exe = build("attach_target.c", 0, &f);
    struct proc t, m;
    start_target(&t, exe);
    for (int session = 0; session < 2; session++) {
        char what[128], tag[64], json[4096], text[4096];
        snprintf(what, sizeof what, "attach_target.c, session %d", session + 1);
        snprintf(tag, sizeof tag, "attach_twice_%d", session);
        paths_for(tag, json, text, sizeof json);
        command(&t, "go", "done", what); /* unrecorded runs between the sessions */
        start_memprof(&m, t.pid, json, text, NULL, 1);
        command(&t, "go", "done", what);
        command(&t, "go", "done", what);
        kill(m.pid, SIGTERM);
        finish_memprof(&m, 20, what, &t, "go", "done");
        /* two recorded runs.  Each run frees one of the 4 old blocks while
         * there is one: runs 1-4 of the process free them, so session 1
         * (runs 2 and 3) sees 2 unknown frees, session 2 (runs 5, 6) none */
        check_report(json, &f, 2, session == 0 ? 2 : 0, what);
        proc_close(&m);
    }
    target_survives(&t, "go", "done", "attach_target.c after two sessions");
    proc_close(&t);
}
END_TEST

/* --duration: memprof leaves by itself. */
/* The process runs on after memprof -p: every section says "at detach",
 * none "at exit" or "leaked". */
static void check_detach_wording(const char *text_path, const char *what)
{
    char *text = read_file(text_path, NULL);
    ck_assert_msg(text != NULL, "%s: no text report at %s", what, text_path);
    ck_assert_msg(strstr(text, "  live at detach ") != NULL, "%s: summary without 'live at detach':\n%s", what, text);
    ck_assert_msg(strstr(text, "RSS at detach: ") != NULL, "%s: no 'RSS at detach':\n%s", what, text);
    if (strstr(text, "Top lines"))
        ck_assert_msg(strstr(text, " live at detach   line\n") != NULL, "%s: Top lines header:\n%s", what, text);
    static const char *const wrong[] = { "at exit", "leaked", "Leaks:" };
    for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++)
        ck_assert_msg(strstr(text, wrong[i]) == NULL, "%s: '%s' in a report of a process that runs on:\n%s", what,
                      wrong[i], text);
    free(text);
}

START_TEST(attach_duration)
{
    static struct fixture_spec f;
    parse_fixture("attach_target.c", &f);
    const char *exe = build("attach_target.c", 0, &f);
    char json[4096], text[4096];
    paths_for("attach_duration", json, text, sizeof json);
    struct proc t, m;
    start_target(&t, exe);
    double started = now_s();
    start_memprof(&m, t.pid, json, text, "1s", 1);
    finish_memprof(&m, 20, "--duration 1s", &t, "go", "done");
    double took = now_s() - started;
    ck_assert_msg(took >= 0.95, "--duration 1s: memprof left after %.2f s", took);
    check_report(json, &f, 0, 0, "--duration 1s on an idle process");
    check_detach_wording(text, "--duration 1s on an idle process");
    /* The saved report says so too, and its timeline marks the detach. */
    char *saved = read_file(json, NULL), want[128], svg[4200];
    snprintf(want, sizeof want, "\"attach\": {\"pid\": %d, \"detached\": true}", (int)t.pid);
    ck_assert_msg(strstr(saved, want) != NULL, "no '%s' in %s", want, json);
    free(saved);
    snprintf(svg, sizeof svg, "%s.svg", json);
    char *plot[] = { (char *)memprof_path(), "plot", json, "-o", svg, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(plot, NULL, NULL, 60, &o), 0);
    ck_assert_msg(o.status == 0, "memprof plot: %s", o.err);
    run_output_free(&o);
    char *picture = read_file(svg, NULL);
    ck_assert_msg(strstr(picture, "class=\"exit-label\"") && strstr(picture, ">detached</text>"),
                  "the timeline does not mark the detach");
    free(picture);
    target_survives(&t, "go", "done", "after --duration");
    proc_close(&m);
    proc_close(&t);
}
END_TEST

/* A SIGTRAP the program sent its own thread while blocking it stays
 * pending for good: the detach must not wait for its delivery (memprof
 * waited forever in mp_wait_all_stopped before). */
START_TEST(attach_blocked_trap)
{
    static struct fixture_spec f;
    parse_fixture("attach_target.c", &f);
    const char *exe = build("attach_target.c", 0, &f);
    char json[4096], text[4096];
    paths_for("attach_blocked_trap", json, text, sizeof json);
    struct proc t, m;
    start_target(&t, exe);
    command(&t, "trap", "pending", "a blocked SIGTRAP");
    start_memprof(&m, t.pid, json, text, "1s", 1);
    finish_memprof(&m, 20, "--duration 1s with a blocked SIGTRAP pending", &t, "go", "done");
    check_report(json, &f, 0, 0, "--duration 1s with a blocked SIGTRAP pending");
    target_survives(&t, "go", "done", "after a detach with a blocked SIGTRAP pending");
    proc_close(&m);
    proc_close(&t);
}
END_TEST

/* Threads: three workers that exist before the attach, one thread started
 * during it. */
static void threads(int b)
{
    static struct fixture_spec f;
    parse_fixture("attach_threads.c", &f);
    ck_assert_int_lt(b, f.n_builds);
    const char *exe = build("attach_threads.c", b, &f);
    char what[256], tag[64], json[4096], text[4096];
    snprintf(what, sizeof what, "attach_threads.c [%s]", f.builds[b][1]);
    snprintf(tag, sizeof tag, "attach_threads_%d", b);
    paths_for(tag, json, text, sizeof json);
    struct proc t, m;
    start_target(&t, exe);
    start_memprof(&m, t.pid, json, text, NULL, 4); /* main + 3 workers */
    command(&t, "go", "done", what);
    command(&t, "spawn", "spawned", what);
    kill(m.pid, SIGINT);
    finish_memprof(&m, 20, what, &t, "go", "done");
    check_report(json, &f, 1, 0, what);
    check_detach_wording(text, what);
    target_survives(&t, "go", "done", what);
    proc_close(&m);
    proc_close(&t);
}

START_TEST(attach_threads_dynamic) { threads(0); }
END_TEST
START_TEST(attach_threads_static) { threads(1); }
END_TEST

/* Mappings of memprof's ring (the stubs' memory) left in process pid. */
static int ring_mappings_in(pid_t pid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    ck_assert_ptr_nonnull(f);
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, "memprof-ring") != NULL;
    fclose(f);
    return n;
}

/* A busy process (tests/fixtures/attach_busy.c: 4 workers allocating and
 * checking their blocks without a pause, a 1 kHz timer signal landing
 * anywhere, memprof's stubs included): memprof -p attaches and leaves again
 * and again, by SIGINT or SIGTERM, some cycles right after the attach, at a
 * random moment, some after a burst of known calls.  The shipped default:
 * fast entries on, so threads are caught inside the stubs at the detach
 * (waiting for room in the ring, say) and the timer's handler is often to
 * return into them.  Each burst's two lines are exact (numbers from the
 * fixture's header: 4 workers x 4000 rounds) and came mostly without a
 * stop (fewer stops than half the burst's 32,000 allocating calls, each of
 * which stops without fast entries).  No mapping of memprof's is left after
 * any detach.  The target checks its memory after each cycle and exits 0. */
START_TEST(attach_busy_detach)
{
    const char *name = "attach_busy.c";
    const char *exe = build_fixture("tests/fixtures/attach_busy.c", "gcc", "-O2 -g -pthread", "attach_busy");
    ck_assert_ptr_nonnull(exe);
    int malloc_line = fixture_source_line(name, "burst: the malloc line"),
        calloc_line = fixture_source_line(name, "burst: the calloc line");
    ck_assert(malloc_line > 0 && calloc_line > 0);
    /* per burst: {calls, bytes, frees, freed} of each line (the fixture's header) */
    const uint64_t want[2][4] = { { 16000, 1152000, 16000, 1152000 }, { 16000, 1600000, 16000, 1600000 } };
    const int lines[2] = { malloc_line, calloc_line };
    char json[4096], text[4096];
    paths_for("attach_busy", json, text, sizeof json);
    struct proc t, m;
    start_target(&t, exe);
    unsigned seed = (unsigned)getpid();
    for (int cycle = 0; cycle < 12; cycle++) {
        char what[128];
        int burst = cycle % 3 == 0;
        snprintf(what, sizeof what, "attach_busy.c, cycle %d (%s)", cycle, burst ? "burst" : "random detach");
        start_memprof(&m, t.pid, json, text, NULL, 5); /* main + 4 workers */
        if (burst)
            command(&t, "burst", "burst done", what);
        else
            usleep((useconds_t)(rand_r(&seed) % 150000));
        kill(m.pid, cycle % 2 ? SIGTERM : SIGINT);
        finish_memprof(&m, 60, what, NULL, NULL, NULL);
        proc_close(&m);
        command(&t, "check", "ok", what);
        ck_assert_msg(ring_mappings_in(t.pid) == 0, "%s: memprof's ring is still mapped in the target", what);
        if (!burst)
            continue;
        json_error_t je;
        json_t *root = json_load_file(json, 0, &je);
        ck_assert_msg(root != NULL, "%s: %s is not JSON: %s", what, json, je.text);
        struct problems pr = { .len = 0 };
        uint64_t got[2][4] = { { 0 } };
        json_t *ls = json_object_get(root, "lines");
        for (size_t i = 0; json_is_array(ls) && i < json_array_size(ls); i++) {
            json_t *l = json_array_get(ls, i);
            if (!fixture_file_is(json_string_value(json_object_get(l, "file")), name))
                continue;
            for (int k = 0; k < 2; k++)
                if (obj_u64(l, "line") == (uint64_t)lines[k]) {
                    got[k][0] += obj_u64(l, "alloc_calls");
                    got[k][1] += obj_u64(l, "allocated_bytes");
                    got[k][2] += obj_u64(l, "free_calls");
                    got[k][3] += obj_u64(l, "freed_bytes");
                }
        }
        for (int k = 0; k < 2; k++)
            if (memcmp(got[k], want[k], sizeof want[k]) != 0)
                problem(&pr, "line %d: calls=%" PRIu64 " bytes=%" PRIu64 " frees=%" PRIu64 " freed=%" PRIu64
                        ", expected %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64, lines[k], got[k][0], got[k][1],
                        got[k][2], got[k][3], want[k][0], want[k][1], want[k][2], want[k][3]);
        /* a call still running at detach is lost, and said so: at most one per thread */
        if (summary_u64(root, "events_lost") > 5)
            problem(&pr, "events_lost %" PRIu64 ", at most 5 expected (one open call per thread)",
                    summary_u64(root, "events_lost"));
        if (summary_u64(root, "engine_stops") >= 16000)
            problem(&pr, "engine_stops %" PRIu64 ": the fast entries recorded less than half the burst",
                    summary_u64(root, "engine_stops"));
        json_decref(root);
        ck_assert_msg(pr.n == 0, "%s: %d problem(s) in %s\n%s", what, pr.n, json, pr.text);
    }
    target_survives(&t, "check", "ok", "attach_busy.c after 12 attaches");
    proc_close(&t);
}
END_TEST

/* The target exits while memprof is attached: memprof reports and exits 0. */
START_TEST(attach_target_exits)
{
    static struct fixture_spec f;
    parse_fixture("attach_target.c", &f);
    const char *exe = build("attach_target.c", 0, &f);
    char json[4096], text[4096];
    paths_for("attach_exits", json, text, sizeof json);
    struct proc t, m;
    start_target(&t, exe);
    start_memprof(&m, t.pid, json, text, NULL, 1);
    command(&t, "go", "done", "attach_target.c exiting under memprof");
    send_line(&t, "exit");
    finish_memprof(&m, 60, "attach_target.c exiting under memprof", NULL, NULL, NULL);
    ck_assert(wait_exit(&t, 30));
    char st[128];
    ck_assert_msg(WIFEXITED(t.status) && WEXITSTATUS(t.status) == 0, "the target ended with %s",
                  describe_status(t.status, st, sizeof st));
    /* "exit" frees the 3 blocks the run kept (known: +3 frees, +3000
     * bytes) and the 3 old blocks left (unknown) */
    json_error_t je;
    json_t *root = json_load_file(json, 0, &je);
    ck_assert_msg(root != NULL, "%s: %s", json, je.text);
    uint64_t calls = summary_u64(root, "alloc_calls"), frees = summary_u64(root, "free_calls"),
             freed = summary_u64(root, "freed_bytes"), unknown = summary_u64(root, "unknown_frees");
    json_decref(root);
    uint64_t run_freed = 0;
    for (int i = 0; i < f.n_lines; i++)
        run_freed += f.lines[i].freed_bytes;
    ck_assert_msg(calls == f.total_calls && frees == f.total_frees + 3 && freed == run_freed + 3000 && unknown == 4,
                  "%" PRIu64 " calls %" PRIu64 " frees %" PRIu64 " freed %" PRIu64 " unknown, expected %" PRIu64
                  " %" PRIu64 " %" PRIu64 " 4",
                  calls, frees, freed, unknown, f.total_calls, f.total_frees + 3, run_freed + 3000);
    proc_close(&m);
    proc_close(&t);
}
END_TEST

/* ---- errors ---- */

static void run_memprof_args(char *const args[], struct run_output *o)
{
    char *argv[16];
    int k = 0;
    argv[k++] = (char *)memprof_path();
    for (int i = 0; args[i] && k < 15; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, o), 0);
}

START_TEST(attach_no_such_process)
{
    errno = 0;
    ck_assert_msg(kill(999999, 0) != 0 && errno == ESRCH, "there is a process 999999 here");
    struct run_output o;
    run_memprof_args((char *[]){ "-p", "999999", NULL }, &o);
    ck_assert_msg(o.status == 1, "-p 999999: status %d\n%s", o.status, o.err);
    ck_assert_msg(strncmp(o.err, "memprof: no process with pid", 28) == 0 && count_lines(o.err) == 1,
                  "-p 999999: stderr should be one line starting \"memprof: no process with pid\"%s:\n%.3000s",
                  strstr(o.err, "LeakSanitizer") ? " (here LeakSanitizer adds that memprof leaks on this error path)"
                                                 : "",
                  o.err);
    run_output_free(&o);
}
END_TEST

START_TEST(attach_usage_errors)
{
    static const char *const cases[][4] = {
        { "-p", "0", NULL },
        { "-p", "abc", NULL },
        { "-p", "-5", NULL },
        { "-p", "", NULL },
        { "-p", "1", "/bin/true", NULL },        /* a program and a pid */
        { "--duration", "1s", "/bin/true", NULL }, /* --duration without -p */
        { "-p", "1", "--duration", "never" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *args[5] = { 0 };
        for (int k = 0; k < 4 && cases[i][k]; k++)
            args[k] = (char *)cases[i][k];
        struct run_output o;
        run_memprof_args(args, &o);
        ck_assert_msg(o.status == 2, "memprof %s %s %s: status %d, expected 2 (usage)\n%s", args[0], args[1],
                      args[2] ? args[2] : "", o.status, o.err);
        ck_assert_msg(strstr(o.err, "usage: memprof") != NULL, "memprof %s %s: no usage line:\n%s", args[0], args[1],
                      o.err);
        run_output_free(&o);
    }
}
END_TEST

START_TEST(attach_already_traced)
{
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        alarm(120);
        for (;;)
            pause();
    }
    ck_assert_msg(ptrace(PTRACE_SEIZE, child, 0, 0) == 0, "PTRACE_SEIZE %d: %s", (int)child, strerror(errno));
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)child);
    struct run_output o;
    run_memprof_args((char *[]){ "-p", pid, NULL }, &o);
    char want[128];
    snprintf(want, sizeof want, "memprof: process %d is already traced by process %d (", (int)child, (int)getpid());
    int status_ok = o.status == 1, text_ok = strstr(o.err, want) != NULL;
    char err[4096];
    snprintf(err, sizeof err, "%s", o.err);
    run_output_free(&o);
    /* still ours, still alive */
    uint64_t tracer = tracer_of(child);
    kill(child, SIGKILL);
    int st;
    while (waitpid(child, &st, 0) < 0 && errno == EINTR)
        ;
    ck_assert_msg(status_ok && text_ok, "memprof -p of a traced process: expected status 1 and \"%s...\", got:\n%s",
                  want, err);
    ck_assert_uint_eq(tracer, (uint64_t)getpid());
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("attach");
    TCase *tc = tcase_create("attach");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, attach_ctrl_c_dynamic);
    tcase_add_test(tc, attach_leak_kinds_at_detach);
    tcase_add_test(tc, attach_ctrl_c_static);
    tcase_add_test(tc, attach_twice);
    tcase_add_test(tc, attach_duration);
    tcase_add_test(tc, attach_blocked_trap);
    tcase_add_test(tc, attach_threads_dynamic);
    tcase_add_test(tc, attach_threads_static);
    tcase_add_test(tc, attach_target_exits);
    tcase_add_test(tc, attach_busy_detach);
    suite_add_tcase(s, tc);
    TCase *err = tcase_create("errors");
    tcase_set_timeout(err, 120);
    tcase_add_test(err, attach_no_such_process);
    tcase_add_test(err, attach_usage_errors);
    tcase_add_test(err, attach_already_traced);
    suite_add_tcase(s, err);
    return run_suite(s);
}
