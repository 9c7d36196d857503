/* memprof: the command.  Wires the pieces together: options -> a session
 * (session.h: the ring, one profile per program image of the process tree)
 * -> launch with the agent preloaded (or attach) -> the supervisor's loop
 * while the ring reader feeds the profiles -> sources -> writers (one
 * process, or the tree) -> CI limits -> exit with the target's status. */
#define _GNU_SOURCE
#include "capture/python/py_detect.h"
#include "capture/python/py_session.h"
#include "ci_limits.h"
#include "out_file.h"
#include "cli.h"
#include "cli_common.h"
#include "commands.h"
#include "formats.h"
#include "agent_check.h"
#include "leak_scan.h"
#include "profile/suppress.h"
#include "session.h"
#include "session_report.h"
#include "supervise/launch.h"
#include "profile/line_profile.h"
#include "report/report_lines.h"
#include "report/report_sources.h"
#include "capture/linemode/linemode.h"
#include "supervise/procfs.h"
#include "memprof/profile.h"
#include "memprof/report.h"
#include "events/ring.h"
#include "events/ring_reader.h"
#include "capture/sampler/rss_sampler.h"
#include "symbols/sources.h"
#include "supervise/supervisor.h"
#include "symbols/symbolizer.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

#ifdef MEMPROF_PKGLIBDIR
#define MEMPROF_AGENT_DIR MEMPROF_PKGLIBDIR
#else
#define MEMPROF_AGENT_DIR "/usr/local/lib/memprof"
#endif

static const char *find_agent(char *buf, size_t len)
{
    const char *env = getenv("MEMPROF_AGENT");
    if (env && *env)
        return access(env, R_OK) == 0 ? env : NULL;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return NULL;
    self[n] = '\0';
    const char *dir = dirname(self);
    snprintf(buf, len, "%s/libmemprof-agent.so", dir);
    if (access(buf, R_OK) == 0)
        return buf;
    snprintf(buf, len, "%s/../lib/memprof/libmemprof-agent.so", dir);
    if (access(buf, R_OK) == 0)
        return buf;
    snprintf(buf, len, "%s/libmemprof-agent.so", MEMPROF_AGENT_DIR); /* make install's PKGLIBDIR */
    if (access(buf, R_OK) == 0)
        return buf;
    return NULL;
}

/* environ plus LD_PRELOAD=agent (ahead of any existing one), the ring fd,
 * and the ring's path through /proc for processes that closed that fd. */
/* Slashes that make "/proc/PID" as long whatever PID is (/proc takes no
 * leading zeros): programs copy their environment (make keeps each variable,
 * shells export it), so a length that followed memprof's pid would change
 * their heap by a byte or two between runs, and --stable reports with it. */
static int pid_pad(int pid)
{
    int digits = 1;
    while (pid >= 10) {
        pid /= 10;
        digits++;
    }
    return digits < 10 ? 10 - digits : 0;
}

static char **target_environment(const char *agent, int ring_fd)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 4, sizeof *env);
    if (!env)
        return NULL;
    size_t o = 0;
    const char *old_preload = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "LD_PRELOAD=", 11) == 0)
            old_preload = environ[i] + 11;
        else if (strncmp(environ[i], "MEMPROF_RING_FD=", 16) != 0 && strncmp(environ[i], "MEMPROF_RING_PATH=", 18) != 0)
            env[o++] = environ[i];
    }
    if (asprintf(&env[o++], "LD_PRELOAD=%s%s%s", agent, old_preload && *old_preload ? ":" : "",
                 old_preload ? old_preload : "") < 0 ||
        asprintf(&env[o++], "MEMPROF_RING_FD=%d", ring_fd) < 0 ||
        asprintf(&env[o++], "MEMPROF_RING_PATH=/proc/%.*s%d/fd/%d", pid_pad((int)getpid()), "//////////",
                 (int)getpid(), ring_fd) < 0)
        return NULL;
    env[o] = NULL;
    return env;
}

static void free_environment(char **envp)
{
    if (envp == environ)
        return;
    for (size_t i = 0; envp[i]; i++)
        if (strncmp(envp[i], "LD_PRELOAD=", 11) == 0 || strncmp(envp[i], "MEMPROF_RING_FD=", 16) == 0 ||
            strncmp(envp[i], "MEMPROF_RING_PATH=", 18) == 0)
            free(envp[i]);
    free(envp);
}

#define MAX_EXPORTS 256

/* The text report (FILE or standard error), the JSON report and the
 * --svg/--export files, one process or a tree, each put in place only once
 * complete (out_file.h): a failure leaves every file not yet put in place
 * as it was.  0, or 1 after a line on stderr. */
static int write_reports(const struct mp_options *opt, const struct mp_session_report *rep,
                         const struct mp_sources *src, const struct mp_report_options *ropt)
{
    struct mp_out_file text = { .f = stderr }, json = { 0 };
    static struct mp_out_file exports[MAX_EXPORTS];
    size_t n_open = 0, shown;
    int failed = 0, e = 0;
    const char *where = opt->output_path ? opt->output_path : "standard error";
    if (opt->output_path && mp_out_open(&text, opt->output_path) != 0)
        return 1;
    if (opt->json_path && mp_out_open(&json, opt->json_path) != 0)
        failed = 1;
    for (; !failed && n_open < opt->n_exports; n_open++)
        if (mp_out_open(&exports[n_open], opt->exports[n_open].path) != 0)
            failed = 1;
    if (failed) {
        mp_out_abort(&json);
        for (size_t i = 0; i < n_open; i++)
            mp_out_abort(&exports[i]);
        if (opt->output_path)
            mp_out_abort(&text);
        return 1;
    }
    if (mp_write_process_tree_format(text.f, MP_FMT_TABLE, &rep->tree, src, ropt, &shown) != 0) {
        failed = 1;
        e = errno;
    }
    if (!failed && json.f &&
        (mp_write_process_tree_format(json.f, MP_FMT_JSON, &rep->tree, src, ropt, &shown) != 0 ||
         mp_out_commit(&json) != 0)) {
        failed = 1;
        e = errno;
        where = opt->json_path;
    }
    for (size_t i = 0; !failed && i < opt->n_exports; i++) {
        enum mp_format f = (enum mp_format)opt->exports[i].format;
        if (mp_write_process_tree_format(exports[i].f, f, &rep->tree, src, ropt, &shown) != 0 ||
            mp_out_commit(&exports[i]) != 0) {
            failed = 1;
            e = errno;
            where = opt->exports[i].path;
        } else {
            mp_note_process_tree_format(f, &rep->tree, shown, ropt->process != 0);
        }
    }
    if (!failed && opt->output_path && mp_out_commit(&text) != 0) {
        failed = 1;
        e = errno;
    }
    if (failed) { /* what was not put in place yet is dropped: the old files stay */
        mp_out_abort(&json);
        for (size_t i = 0; i < opt->n_exports; i++)
            mp_out_abort(&exports[i]);
        if (opt->output_path)
            mp_out_abort(&text);
        fprintf(stderr, "memprof: writing the report to %s failed: %s\n", where, strerror(e));
    }
    return failed;
}

int main(int argc, char **argv)
{
    /* Subcommands that read saved reports; to profile a program called
     * "report", "plot" or "diff", give its path (./report). */
    if (argc >= 2 && strcmp(argv[1], "report") == 0)
        return mp_cmd_report(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "diff") == 0)
        return mp_cmd_diff(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "plot") == 0)
        return mp_cmd_plot(argc - 1, argv + 1);
    static struct mp_options opt; /* static: reachable until exit, whatever path returns */
    switch (mp_parse_options(argc, argv, &opt)) {
    case MP_CLI_EXIT_OK: return 0;
    case MP_CLI_USAGE_ERROR: return 2;
    case MP_CLI_RUN: break;
    }
    char path[PATH_MAX] = "", err[512];
    int rc = 0, attach = opt.attach_pid != 0;
    if (!attach && (rc = mp_find_program(opt.command[0], path, sizeof path, err, sizeof err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return rc;
    }
    static struct mp_suppressions *suppressions; /* static: reachable on early returns */
    suppressions = mp_load_suppressions(
        opt.suppression_files, opt.n_suppression_files, opt.no_default_suppressions, err, sizeof err);
    if (!suppressions) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    /* the report files are made at the end, whole (out_file.h): here only
     * whether they can be, so that a bad path fails before the run */
    if ((opt.output_path && mp_out_check(opt.output_path) != 0) || (opt.json_path && mp_out_check(opt.json_path) != 0))
        return 1;
    /* --svg, --export: the same */
    if (opt.n_exports > MAX_EXPORTS) {
        fprintf(stderr, "memprof: at most %d --svg and --export files\n", MAX_EXPORTS);
        return 2;
    }
    for (size_t i = 0; i < opt.n_exports; i++)
        if (mp_out_check(opt.exports[i].path) != 0)
            return 1;

    struct mp_linemode *linemode = NULL;
    const struct mp_linemode_options *lmo = &opt.linemode;
    const char **native_functions = NULL, **python_functions = NULL;
    size_t n_native = 0, n_python = 0;
    if (lmo->n_functions) {
        /* before anything runs: a bad name is a usage error */
        native_functions = calloc(lmo->n_functions, sizeof *native_functions);
        python_functions = calloc(lmo->n_functions, sizeof *python_functions);
        rc = !native_functions || !python_functions ? 1
             : mp_py_split_functions(path, lmo->functions, lmo->n_functions, native_functions, &n_native,
                                     python_functions, &n_python, err, sizeof err);
        if (rc == 0 && n_native)
            rc = mp_linemode_resolve(path, native_functions, n_native, &linemode, err, sizeof err);
        free(native_functions);
        if (rc) {
            fprintf(stderr, "%s\n", rc == 1 && !python_functions ? "memprof: out of memory" : err);
            free(python_functions);
            return rc;
        }
    }
    const char *engine = "agent", *engine_note = NULL;
    enum mp_exe_kind kind = attach ? MP_EXE_DYNAMIC : mp_exe_kind(path);
    if (attach || opt.engine == MP_ENGINE_BREAKPOINT) {
        engine = "breakpoint";
    } else if (opt.engine == MP_ENGINE_NONE) {
        engine = "none";
        engine_note = "--engine=none was given";
    } else if (kind == MP_EXE_STATIC && opt.engine == MP_ENGINE_AGENT) {
        fprintf(stderr, "memprof: %s is statically linked, so the agent cannot be preloaded: use "
                        "--engine=breakpoint (the default for static programs)\n", opt.command[0]);
        return 2;
    } else if (kind == MP_EXE_STATIC) {
        engine = "breakpoint";
    }
    /* The ring carries the RSS samples even when no agent writes into it. */
    static struct mp_session s; /* static: LeakSanitizer sees what it holds on every path */
    if (mp_session_init(&s, &opt, err, sizeof err) != 0) {
        fprintf(stderr, "memprof: cannot set up the event ring: %s\n", err);
        return 1;
    }
    /* MEMPROF_EVENT_BATCH=0 (or its older name MEMPROF_FREE_BATCH=0):
     * every event written at its call, as line mode needs anyway (man
     * page, HOW IT WORKS) */
    const char *batch = getenv("MEMPROF_EVENT_BATCH");
    if (!batch)
        batch = getenv("MEMPROF_FREE_BATCH");
    int no_batch = linemode || (batch && (strcmp(batch, "0") == 0 || strcmp(batch, "off") == 0 ||
                                           strcmp(batch, "no") == 0));
    mp_ring_reader_set_options(s.ring, (opt.mmap ? MP_RING_OPT_MMAP : 0) | (no_batch ? MP_RING_OPT_NO_BATCH : 0));
    s.attach = attach;
    s.top_engine = engine;
    s.top_engine_note = engine_note;
    s.linemode = linemode;
    char agent_buf[PATH_MAX];
    char **envp = environ;
    const char *agent = find_agent(agent_buf, sizeof agent_buf);
    s.agent_path = agent;
    /* children of a static program may be dynamic: they get the agent too */
    if (strcmp(engine, "agent") == 0 || (opt.follow && !attach && agent && opt.engine == MP_ENGINE_AUTO)) {
        if (!agent) {
            fprintf(stderr, "memprof: cannot find libmemprof-agent.so beside memprof, in ../lib/memprof or in "
                    "%s: reinstall memprof or point MEMPROF_AGENT at it\n", MEMPROF_AGENT_DIR);
            mp_session_free(&s);
            return 1;
        }
        envp = target_environment(agent, mp_ring_reader_fd(s.ring));
        if (!envp) {
            fprintf(stderr, "memprof: out of memory\n");
            mp_session_free(&s);
            return 1;
        }
    }
    if (opt.follow && !attach)
        mp_ring_reader_set_tree_tracer(s.ring, getpid());
    if (s.linemode) {
        mp_linemode_set_ring(s.linemode, s.ring);
        s.lines = mp_line_profile_new(mp_linemode_map(s.linemode));
        if (!s.lines) {
            fprintf(stderr, "memprof: out of memory\n");
            mp_session_free(&s);
            free(python_functions);
            return 1;
        }
    }
    /* CPython: its layout, code objects and line mode (capture/python) */
    s.python = mp_py_session_new(mp_ring_reader_py_channel(s.ring));
    if (s.python && n_python) {
        s.python_lines = 1;
        if (mp_py_session_set_patterns(s.python, python_functions, n_python, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            mp_session_free(&s);
            free(python_functions);
            return 2;
        }
        s.lines = mp_line_profile_new(mp_py_session_map(s.python));
    }
    free(python_functions);
    if (!s.python || (n_python && !s.lines)) {
        fprintf(stderr, "memprof: out of memory\n");
        mp_session_free(&s);
        return 1;
    }

    struct mp_launch launch = { path, opt.command, envp, opt.stable };
    struct mp_supervisor_hooks hooks;
    mp_session_hooks(&s, &hooks);
    struct mp_run_result result;
    if (attach)
        rc = mp_supervise_attach(opt.attach_pid, opt.duration_s, &hooks, &result, err, sizeof err);
    else
        rc = mp_supervise(&launch, &hooks, &result, err, sizeof err);
    mp_session_finish(&s, &result);
    /* allocation wrappers folded into their callers, in every image */
    for (size_t i = 0; i < s.n_images; i++)
        if (s.images[i]->profile &&
            mp_profile_fold(s.images[i]->profile, opt.alloc_fns, opt.n_alloc_fns, opt.auto_alloc_fn) != 0)
            s.images[i]->profile_errors++;
    struct mp_session_report rep;
    if (rc == 0 && mp_session_report_build(&s, &result, &rep) != 0) {
        snprintf(err, sizeof err, "memprof: the target ran no program memprof could profile");
        rc = 1;
    }
    if (rc) {
        fprintf(stderr, "%s\n", err);
        mp_session_free(&s);
        free_environment(envp);
        mp_options_free(&opt);
        return rc;
    }

    /* suppressed leaks: every image's counts without them */
    for (size_t i = 0; i < rep.tree.n; i++)
        mp_suppressions_apply(suppressions, rep.images[i]->profile);
    mp_suppressions_free(suppressions);
    suppressions = NULL;
    struct mp_sources *src = mp_sources_new();
    /* the tables' lines of every image (a tree's text shows some of them); the
     * JSON report keeps every table's source lines */
    int every_table = opt.json_path != NULL;
    for (size_t i = 0; i < opt.n_exports; i++)
        every_table |= opt.exports[i].format == MP_FMT_JSON;
    for (size_t i = 0; i < rep.tree.n; i++)
        mp_report_load_sources(src, rep.tree.procs[i].profile, every_table ? 0 : opt.max_tables);
    if (src && s.lines)
        mp_line_profile_load_sources(s.lines, src);
    char cwd[PATH_MAX];
    struct mp_report_options ropt = {
        .cwd = getcwd(cwd, sizeof cwd),
        .precision = opt.stable ? MP_PRECISION_EXACT : opt.precision, /* --stable: exact bytes everywhere */
        .top_lines = opt.top_lines,
        .max_tables = opt.max_tables,
        .stable = opt.stable,
        .show = opt.show,
        .callers = opt.callers,
        .n_callers = opt.n_callers,
        .weight = opt.weight,
        .frames = opt.frames,
        .leak_kinds = opt.leak_kinds,
        .line_metric = lmo->metric,
        .top_processes = opt.top_processes,
        .process = opt.process,
    };
    char process_err[256];
    if (mp_check_process(&rep.tree, ropt.process, process_err, sizeof process_err)) {
        /* the run is done: draw the default image rather than nothing */
        fprintf(stderr, "memprof: %s; the pictures show the default image\n", process_err);
        ropt.process = 0;
    }
    if (result.signal) {
        char *const *command = rep.tree.procs[rep.tree.top_last].run->command;
        fprintf(stderr, "memprof: %s was killed by signal %d (%s)\n", command && command[0] ? command[0] : "the target",
                result.signal, strsignal(result.signal));
    }
    int write_failed = write_reports(&opt, &rep, src, &ropt);

    char callers_err[512];
    if (opt.n_callers && mp_cli_unmatched_callers(&rep.tree, &ropt, callers_err, sizeof callers_err))
        fprintf(stderr, "memprof: %s\n", callers_err);

    struct mp_limits limits = { .heap = opt.limit_heap, .rss = opt.limit_rss, .leaks = opt.limit_leaks,
                                .leak_kinds = opt.leak_kinds, .total_rss = opt.limit_total_rss };
    int limits_broken = rep.tree.n == 1 ? mp_check_limits(stderr, &limits, rep.tree.procs[0].profile,
                                                          rep.tree.procs[0].run, &ropt)
                                        : mp_check_process_tree_limits(stderr, &limits, &rep.tree, &ropt);
    limits_broken += mp_check_total_rss(stderr, &limits, &rep.tree, s.total_peak.bytes, &ropt);

    mp_sources_free(src);
    mp_session_report_free(&rep);
    mp_session_free(&s);
    free_environment(envp);
    mp_options_free(&opt);
    if (write_failed)
        return 1; /* CI must not take a missing report for a pass */
    if (limits_broken)
        return opt.limit_status;
    if (attach)
        return 0; /* the process is not memprof's child: its status is its parent's business */
    if (result.signal)
        return 128 + result.signal;
    return result.exit_code;
}
