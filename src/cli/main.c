/* memprof: the command.  Wires the pieces together: options -> launch with the
 * agent preloaded -> supervisor loop while the ring reader feeds the profile ->
 * sources -> writers -> exit with the target's status. */
#define _GNU_SOURCE
#include "capture/breakpoint/bpengine.h"
#include "ci_limits.h"
#include "cli.h"
#include "cli_common.h"
#include "commands.h"
#include "formats.h"
#include "agent_check.h"
#include "leak_scan.h"
#include "profile/suppress.h"
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

struct session {
    struct mp_ring_reader *ring;
    struct mp_symbolizer *symbolizer;
    struct mp_profile *profile;
    struct mp_rss_sampler *sampler;
    struct mp_linemode *linemode;       /* --function: breakpoints (supervisor thread) */
    struct mp_line_profile *lines;      /* --function: their tables (reader thread) */
    struct mp_bpengine *bp;             /* the breakpoint engine (supervisor thread), or NULL */
    struct mp_rss_breakdown rss_at_exit;
    uint64_t sample_interval_ns;
    uint64_t start_ns;
    int reader_running;
    uint64_t events_lost;
    uint64_t profile_errors;
    int heap_engine;                    /* an engine records the heap (not --engine=none) */
    const char *engine;                 /* the current image's: "agent", "breakpoint" or "none" */
    const char *agent;                  /* the agent's path when it is the engine of choice, else NULL */
    struct mp_supervisor_hooks *hooks;  /* updated when an image changes engines */
    char fallback_note[512];            /* an image the agent could not reach, and why */
    int attached;                       /* memprof -p: blocks from before the attach are unknown */
    char sym_error[256];
    char leak_note[256];                /* why leak kinds are missing */
};

static void sink_event(void *ctx, const struct mp_event *ev)
{
    struct session *s = ctx;
    if (mp_profile_add(s->profile, ev) != 0)
        s->profile_errors++;
    if (s->lines && (ev->kind == MP_EV_LINE || ev->kind == MP_EV_SAMPLE))
        mp_line_profile_add(s->lines, ev, mp_profile_totals(s->profile)->live_bytes);
}

static void hint_event(void *ctx, uint64_t addr)
{
    struct session *s = ctx;
    mp_profile_prefetch(s->profile, addr);
}

static int resolve_frames(void *ctx, uint64_t pc, int is_return, struct mp_frame_info *out, int max)
{
    struct session *s = ctx;
    if (!s->symbolizer) {
        static char unknown_fn[] = "[unknown]";
        if (max < 1)
            return 0;
        memset(out, 0, sizeof *out);
        out->function = unknown_fn;
        out->module = unknown_fn;
        return 1;
    }
    return mp_symbolizer_resolve(s->symbolizer, pc, is_return, out, max);
}

static void stop_reader(struct session *s)
{
    if (s->reader_running) {
        mp_ring_reader_stop(s->ring, &s->events_lost);
        s->reader_running = 0;
    }
}

static void start_reader(struct session *s)
{
    if (!s->reader_running && mp_ring_reader_start(s->ring, sink_event, s) == 0)
        s->reader_running = 1;
}

/* The target exists and is traced but has not exec'd yet: only it may write. */
static void on_start(void *ctx, pid_t pid)
{
    struct session *s = ctx;
    mp_ring_reader_set_target(s->ring, pid);
    s->start_ns = mp_monotonic_ns();
    s->sampler = mp_rss_sampler_start(s->ring, pid, s->sample_interval_ns, s->start_ns);
    if (s->linemode)
        mp_linemode_set_start(s->linemode, s->start_ns);
}

static void on_trap_hooks(struct session *s);

/* The agent was the engine of choice: if it cannot load in this image
 * (environment cleared or LD_PRELOAD replaced, a static program), the
 * breakpoint engine records it instead; if it can again, the agent. */
static void choose_image_engine(struct session *s, pid_t pid)
{
    if (mp_agent_check_image(pid, s->agent, mp_ring_reader_fd(s->ring), s->fallback_note, sizeof s->fallback_note)) {
        mp_bpengine_free(s->bp);
        s->bp = NULL;
        s->engine = "agent";
        s->fallback_note[0] = '\0';
    } else {
        if (!s->bp)
            s->bp = mp_bpengine_new(s->ring);
        s->engine = s->bp ? "breakpoint" : "agent"; /* no memory: the heap goes unmeasured, and says so */
    }
    on_trap_hooks(s);
}

/* A new image: everything recorded so far belonged to the old one. */
static void on_exec(void *ctx, pid_t pid)
{
    struct session *s = ctx;
    if (s->agent)
        choose_image_engine(s, pid);
    /* Drain the ring into the old profile, which is then forgotten; before
     * the first exec the ring holds RSS samples of memprof's own forked
     * child, which go the same way. */
    start_reader(s);
    stop_reader(s);
    if (s->symbolizer)
        mp_symbolizer_reset(s->symbolizer);
    else
        s->symbolizer = mp_symbolizer_open(pid, s->sym_error, sizeof s->sym_error);
    mp_profile_reset(s->profile);
    mp_ring_reader_reset_agent_stats(s->ring);
    if (s->lines)
        mp_line_profile_reset(s->lines);
    s->events_lost = 0;
    start_reader(s);
    mp_rss_sampler_sample_now(s->sampler); /* the timeline starts with the new image */
    if (s->linemode)
        mp_linemode_arm(s->linemode, pid);
    if (s->bp)
        mp_bpengine_exec(s->bp, pid);
}

/* memprof -p: every thread of the running process is stopped. */
static void on_attach(void *ctx, pid_t pid, const pid_t *tids, size_t n)
{
    struct session *s = ctx;
    on_start(ctx, pid);
    s->symbolizer = mp_symbolizer_open(pid, s->sym_error, sizeof s->sym_error);
    start_reader(s);
    mp_bpengine_attach(s->bp, pid, tids, n);
    fprintf(stderr, "memprof: attached to process %d (%zu thread%s): Ctrl-C detaches and reports\n", (int)pid, n,
            n == 1 ? "" : "s");
}

/* Every thread of the process is stopped, its memory intact: class the
 * blocks it holds, once the ring has delivered everything up to now. */
static void classify_leaks(struct session *s, pid_t pid, const pid_t *tids, size_t n)
{
    if (!s->heap_engine)
        return;
    s->leak_note[0] = '\0';
    /* The process runs no more code (it is ending, or memprof detaches and
     * takes its last sample itself): the catching up and the scan below are
     * memprof's time, not the program's, and the timeline ends here. */
    mp_rss_sampler_hold(s->sampler, 1);
    if (s->reader_running && mp_ring_reader_sync(s->ring, 200 * 1000) != 0) {
        /* A thread killed while recording left a hole the reader waits at.
         * Every thread of the process is stopped for good: pass the hole
         * (counted lost) and deliver what follows it. */
        stop_reader(s);
        start_reader(s);
    }
    mp_classify_leaks(s->profile, pid, tids, n, s->attached, s->leak_note, sizeof s->leak_note);
}

static void on_exit_all(void *ctx, pid_t pid, const pid_t *tids, size_t n)
{
    classify_leaks(ctx, pid, tids, n);
}

static void on_detach(void *ctx, pid_t pid, const pid_t *tids, size_t n)
{
    struct session *s = ctx;
    mp_bpengine_detach(s->bp, tids, n);
    classify_leaks(s, pid, tids, n);
    mp_proc_rss_breakdown(pid, &s->rss_at_exit);
    mp_rss_sampler_sample_now(s->sampler);
}

/* A forked child must not inherit our breakpoints. */
static void on_fork(void *ctx, pid_t child)
{
    struct session *s = ctx;
    if (s->linemode)
        mp_linemode_clean_child(s->linemode, child);
    mp_bpengine_clean_child(s->bp, child);
}

/* A SIGTRAP: one of our breakpoints, or the program's own. */
static int on_trap(void *ctx, pid_t tid)
{
    struct session *s = ctx;
    if (s->linemode && mp_linemode_on_trap(s->linemode, tid))
        return 1;
    return mp_bpengine_on_trap(s->bp, tid);
}

static void on_thread_stop(void *ctx, pid_t tid)
{
    struct session *s = ctx;
    mp_bpengine_thread_stop(s->bp, tid);
}

static void on_thread_gone(void *ctx, pid_t tid)
{
    struct session *s = ctx;
    mp_bpengine_thread_gone(s->bp, tid);
}

/* The hooks that breakpoints need, for what the session has now. */
static void on_trap_hooks(struct session *s)
{
    struct mp_supervisor_hooks *h = s->hooks;
    int breakpoints = s->linemode || s->bp;
    h->on_trap = breakpoints ? on_trap : NULL;
    h->on_fork = breakpoints ? on_fork : NULL;
    h->on_thread_stop = s->bp ? on_thread_stop : NULL;
    h->on_thread_gone = s->bp ? on_thread_gone : NULL;
    h->spin_us = s->bp ? 100 : 0; /* measured: 22 -> 18 us per malloc+free */
}

/* The address space still exists: let the reader catch up so new stacks
 * resolve against it (threads may still run, so nothing is skipped here). */
static void on_exit_event(void *ctx, pid_t pid)
{
    struct session *s = ctx;
    mp_proc_rss_breakdown(pid, &s->rss_at_exit);
    mp_rss_sampler_sample_now(s->sampler);
    /* the timeline ends here: catching up below is memprof's time, not the program's */
    mp_rss_sampler_hold(s->sampler, 1);
    if (s->reader_running)
        mp_ring_reader_sync(s->ring, 200 * 1000);
    mp_rss_sampler_hold(s->sampler, 0);
}

/* VmHWM, or the biggest statm sample if that is higher (the kernel keeps
 * the two counters separately and they can differ by a few pages). */
static uint64_t peak_rss(const struct mp_run_result *result, const struct mp_profile *p)
{
    const struct mp_sample *samples;
    size_t n = mp_profile_timeline(p, &samples);
    uint64_t peak = result->peak_rss_bytes;
    for (size_t i = 0; i < n; i++)
        if (samples[i].rss_bytes > peak)
            peak = samples[i].rss_bytes;
    return peak;
}

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

/* environ plus LD_PRELOAD=agent (ahead of any existing one) and the ring fd. */
static char **target_environment(const char *agent, int ring_fd)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 3, sizeof *env);
    if (!env)
        return NULL;
    size_t o = 0;
    const char *old_preload = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "LD_PRELOAD=", 11) == 0)
            old_preload = environ[i] + 11;
        else if (strncmp(environ[i], "MEMPROF_RING_FD=", 16) != 0)
            env[o++] = environ[i];
    }
    if (asprintf(&env[o++], "LD_PRELOAD=%s%s%s", agent, old_preload && *old_preload ? ":" : "",
                 old_preload ? old_preload : "") < 0 ||
        asprintf(&env[o++], "MEMPROF_RING_FD=%d", ring_fd) < 0)
        return NULL;
    env[o] = NULL;
    return env;
}

/* argv of a running process, from /proc/PID/cmdline ("[pid N]" if unreadable). */
static void process_command(pid_t pid, char *buf, size_t len, char **argv, size_t max)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "re");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    if (f)
        fclose(f);
    size_t argc = 0;
    if (n == 0)
        n = (size_t)snprintf(buf, len, "[pid %d]", (int)pid) + 1;
    buf[n < len ? n : len - 1] = '\0';
    for (size_t i = 0; i < n && argc + 1 < max; i += strlen(buf + i) + 1)
        argv[argc++] = buf + i;
    argv[argc] = NULL;
}

static void free_session(struct session *s, char **envp)
{
    mp_line_profile_free(s->lines);
    mp_linemode_free(s->linemode);
    mp_bpengine_free(s->bp);
    mp_profile_free(s->profile);
    if (s->symbolizer)
        mp_symbolizer_close(s->symbolizer);
    mp_ring_reader_destroy(s->ring);
    if (envp != environ) {
        for (size_t i = 0; envp[i]; i++)
            if (strncmp(envp[i], "LD_PRELOAD=", 11) == 0 || strncmp(envp[i], "MEMPROF_RING_FD=", 16) == 0)
                free(envp[i]);
        free(envp);
    }
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
    FILE *text_out = stderr, *json_out = NULL;
    if (opt.output_path && !(text_out = mp_cli_open_output(opt.output_path)))
        return 1;
    if (opt.json_path && !(json_out = mp_cli_open_output(opt.json_path)))
        return 1;
    /* --svg, --export: opened now, so a bad path fails before the run */
    static FILE *export_out[256];
    if (opt.n_exports > sizeof export_out / sizeof *export_out) {
        fprintf(stderr, "memprof: at most %zu --svg and --export files\n", sizeof export_out / sizeof *export_out);
        return 2;
    }
    for (size_t i = 0; i < opt.n_exports; i++)
        if (!(export_out[i] = mp_cli_open_output(opt.exports[i].path)))
            return 1;

    struct session s;
    memset(&s, 0, sizeof s);
    const struct mp_linemode_options *lmo = &opt.linemode;
    if (lmo->n_functions) {
        /* before anything runs: a bad name is a usage error */
        rc = mp_linemode_resolve(path, lmo->functions, lmo->n_functions, &s.linemode, err, sizeof err);
        if (rc) {
            fprintf(stderr, "%s\n", err);
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
    char agent_buf[PATH_MAX];
    char **envp = environ;
    /* The ring carries the RSS samples even when no agent writes into it. */
    s.sample_interval_ns = opt.interval_ns;
    s.ring = mp_ring_reader_create(MP_RING_DEFAULT_CAPACITY, err, sizeof err);
    if (!s.ring) {
        fprintf(stderr, "memprof: cannot set up the event ring: %s\n", err);
        return 1;
    }
    mp_ring_reader_set_options(s.ring, opt.mmap ? MP_RING_OPT_MMAP : 0);
    if (strcmp(engine, "agent") == 0) {
        const char *agent = find_agent(agent_buf, sizeof agent_buf);
        if (!agent) {
            fprintf(stderr, "memprof: cannot find libmemprof-agent.so beside memprof, in ../lib/memprof or in "
                    "%s: reinstall memprof or point MEMPROF_AGENT at it\n", MEMPROF_AGENT_DIR);
            return 1;
        }
        envp = target_environment(agent, mp_ring_reader_fd(s.ring));
        s.agent = agent;
        if (!envp) {
            fprintf(stderr, "memprof: out of memory\n");
            return 1;
        }
    } else if (strcmp(engine, "breakpoint") == 0 && !(s.bp = mp_bpengine_new(s.ring))) {
        fprintf(stderr, "memprof: out of memory\n");
        return 1;
    }
    if (s.bp)
        mp_bpengine_set_mmap(s.bp, opt.mmap);
    s.profile = mp_profile_new(resolve_frames, &s);
    if (!s.profile) {
        fprintf(stderr, "memprof: out of memory\n");
        return 1;
    }
    mp_ring_reader_set_hint(s.ring, hint_event);
    if (s.linemode) {
        mp_linemode_set_ring(s.linemode, s.ring);
        s.lines = mp_line_profile_new(mp_linemode_map(s.linemode));
        if (!s.lines) {
            fprintf(stderr, "memprof: out of memory\n");
            return 1;
        }
    }

    s.heap_engine = strcmp(engine, "none") != 0;
    s.attached = attach;
    struct mp_launch launch = { path, opt.command, envp };
    struct mp_supervisor_hooks hooks = {
        .ctx = &s, .on_start = on_start, .on_exec = on_exec, .on_exit = on_exit_event, .on_exit_all = on_exit_all,
        .on_attach = on_attach, .on_detach = on_detach,
    };
    s.hooks = &hooks;
    s.engine = engine;
    on_trap_hooks(&s);
    struct mp_run_result result;
    if (attach)
        rc = mp_supervise_attach(opt.attach_pid, opt.duration_s, &hooks, &result, err, sizeof err);
    else
        rc = mp_supervise(&launch, &hooks, &result, err, sizeof err);
    mp_rss_sampler_stop(s.sampler);
    stop_reader(&s);
    if (s.lines)
        mp_line_profile_finish(s.lines, mp_profile_totals(s.profile)->live_bytes);
    if (mp_profile_fold(s.profile, opt.alloc_fns, opt.n_alloc_fns, opt.auto_alloc_fn) != 0)
        s.profile_errors++;
    if (rc) {
        fprintf(stderr, "%s\n", err);
        free_session(&s, envp);
        mp_options_free(&opt);
        return rc;
    }

    const char *warnings[64];
    size_t n_warnings = 0;
    if (s.sym_error[0])
        warnings[n_warnings++] = s.sym_error;
    /* A heap nothing measured must not pass for an empty one (heap_profiled: false, limits fail). */
    engine = s.engine;
    if (!engine_note && strcmp(engine, "agent") == 0 && mp_ring_reader_agent_inits(s.ring) == 0)
        engine_note = "memprof's agent never started in the program (it lost LD_PRELOAD or memprof's descriptor, "
                      "or could not be loaded)";
    if (s.fallback_note[0])
        warnings[n_warnings++] = s.fallback_note;
    if (s.profile_errors)
        warnings[n_warnings++] = "memprof ran out of memory while aggregating: some events are missing";
    if (s.leak_note[0])
        warnings[n_warnings++] = s.leak_note;
    uint64_t dropped_samples, dropped_lines;
    mp_ring_reader_dropped(s.ring, &dropped_samples, &dropped_lines);
    char dropped_note[160];
    if (opt.stable)
        dropped_samples = 0; /* RSS is not part of a --stable report */
    if (dropped_samples || dropped_lines) {
        snprintf(dropped_note, sizeof dropped_note,
                 "%" PRIu64 " RSS samples and %" PRIu64 " line events were dropped: the event ring stayed full",
                 dropped_samples, dropped_lines);
        warnings[n_warnings++] = dropped_note;
    }
    if (s.symbolizer) {
        const char *const *sw;
        size_t n = mp_symbolizer_warnings(s.symbolizer, &sw);
        for (size_t i = 0; i < n && n_warnings < sizeof warnings / sizeof *warnings; i++)
            warnings[n_warnings++] = sw[i];
    }

    char bp_note[3][256];
    uint64_t bp_lost = 0;
    if (s.bp) {
        struct mp_bpengine_stats bst;
        mp_bpengine_stats(s.bp, &bst);
        const size_t max_warnings = sizeof warnings / sizeof *warnings;
        const char *w = mp_bpengine_warning(s.bp);
        if (!bst.was_armed && !engine_note)
            engine_note = w ? w : "the breakpoint engine never found the allocator in the program";
        else if (w && n_warnings < max_warnings)
            warnings[n_warnings++] = w;
        bp_lost = bst.unreadable + bst.abandoned + mp_ring_reader_dropped_heap(s.ring);
        if (bst.failed_reallocs && n_warnings < max_warnings) {
            snprintf(bp_note[0], sizeof bp_note[0],
                     "%llu failed reallocs were counted as frees of their block (the breakpoint engine records "
                     "realloc's free before the call)", (unsigned long long)bst.failed_reallocs);
            warnings[n_warnings++] = bp_note[0];
        }
        if (bst.stepped && n_warnings < max_warnings) {
            snprintf(bp_note[2], sizeof bp_note[2],
                     "%llu allocator entries were single-stepped (an instruction memprof cannot emulate and no "
                     "debug register left): other threads may have passed that entry unseen meanwhile",
                     (unsigned long long)bst.stepped);
            warnings[n_warnings++] = bp_note[2];
        }
        if (bp_lost && n_warnings < max_warnings) {
            snprintf(bp_note[1], sizeof bp_note[1],
                     "%llu allocator calls were not recorded: %llu unreadable stacks, %llu calls left without a "
                     "return (longjmp, thread exit, or still running at detach)",
                     (unsigned long long)bp_lost, (unsigned long long)bst.unreadable,
                     (unsigned long long)bst.abandoned);
            warnings[n_warnings++] = bp_note[1];
        }
    }
    /* --alloc-fn globs that folded nothing: a typo, or a function that never allocated */
    char fold_note[8][256];
    const struct mp_folded *folded;
    size_t n_folded = mp_profile_folded(s.profile, &folded);
    for (size_t g = 0, k = 0; g < opt.n_alloc_fns && k < 8; g++) {
        size_t f = 0;
        while (f < n_folded && (folded[f].automatic || fnmatch(opt.alloc_fns[g], folded[f].function, 0) != 0))
            f++;
        if (f == n_folded && n_warnings < sizeof warnings / sizeof *warnings) {
            snprintf(fold_note[k], sizeof fold_note[k], "--alloc-fn '%s' matched no function that allocated",
                     opt.alloc_fns[g]);
            warnings[n_warnings++] = fold_note[k++];
        }
    }
    char lm_note[256];
    if (s.linemode) {
        struct mp_linemode_stats lst;
        mp_linemode_stats(s.linemode, &lst);
        const char *w = mp_linemode_warning(s.linemode);
        const size_t max_warnings = sizeof warnings / sizeof *warnings;
        if (w && n_warnings < max_warnings)
            warnings[n_warnings++] = w;
        else if (!lst.armed && n_warnings < max_warnings)
            warnings[n_warnings++] = "line mode found no image of the program to put its breakpoints in";
        if (lmo->metric == MP_LM_METRIC_HEAP && engine_note && n_warnings < max_warnings)
            warnings[n_warnings++] = "--metric=heap needs the heap engine: the --function tables show a heap of 0";
        if (lst.steps_with_threads && n_warnings < max_warnings) {
            snprintf(lm_note, sizeof lm_note,
                     "line mode stepped over %llu breakpoints while other threads ran: they may have run "
                     "those lines unseen (Occurrences can be low by up to that many)",
                     (unsigned long long)lst.steps_with_threads);
            warnings[n_warnings++] = lm_note;
        }
        if (lst.lost_stops && n_warnings < max_warnings)
            warnings[n_warnings++] = "a thread exited or was stopped by job control while line mode stepped it "
                                     "over a breakpoint: that stop was not passed on";
    }

    mp_suppressions_apply(suppressions, s.profile);
    mp_suppressions_free(suppressions);
    suppressions = NULL;
    struct mp_sources *src = mp_sources_new();
    int every_table = json_out != NULL; /* the JSON report keeps every table's source lines */
    for (size_t i = 0; i < opt.n_exports; i++)
        every_table |= opt.exports[i].format == MP_FMT_JSON;
    mp_report_load_sources(src, s.profile, every_table ? 0 : opt.max_tables);
    if (src && s.lines)
        mp_line_profile_load_sources(s.lines, src);
    char cwd[PATH_MAX];
    char *attach_command[64];
    char attach_cmdline[4096];
    if (attach)
        process_command(opt.attach_pid, attach_cmdline, sizeof attach_cmdline, attach_command,
                        sizeof attach_command / sizeof *attach_command);
    struct mp_report_run run = {
        .command = attach ? attach_command : opt.command,
        .attached_pid = attach ? opt.attach_pid : 0,
        .detached = result.detached,
        .exited = result.exited,
        .exit_code = result.exit_code,
        .signal = result.signal,
        .peak_rss_bytes = peak_rss(&result, s.profile),
        .wall_seconds = result.wall_seconds,
        .engine = engine,
        .engine_note = engine_note,
        .mapped_profiled = opt.mmap,
        .events_lost = s.events_lost + bp_lost,
        .agent_bytes = mp_ring_reader_agent_bytes(s.ring) + mp_bpengine_mapped_bytes(s.bp),
        .rss_at_exit = s.rss_at_exit,
        .warnings = warnings,
        .n_warnings = n_warnings,
    };
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
    };
    if (result.signal)
        fprintf(stderr, "memprof: %s was killed by signal %d (%s)\n", run.command[0] ? run.command[0] : "the target",
                result.signal, strsignal(result.signal));
    run.line_profile = s.lines;
    struct mp_function_spans *spans = s.lines ? mp_line_profile_function_spans(s.lines, &run.n_function_spans) : NULL;
    run.function_spans = spans;
    ropt.line_metric = lmo->metric;
    int write_failed = mp_write_text(text_out, s.profile, &run, src, &ropt) != 0;
    if (json_out) {
        write_failed |= mp_write_json(json_out, s.profile, &run, src, &ropt) != 0;
        write_failed |= mp_cli_close_output(json_out) != 0;
    }
    for (size_t i = 0; i < opt.n_exports; i++) {
        int failed = mp_write_format(export_out[i], (enum mp_format)opt.exports[i].format, s.profile, &run, src,
                                     &ropt) != 0;
        failed |= mp_cli_close_output(export_out[i]) != 0;
        if (failed)
            fprintf(stderr, "memprof: writing %s failed: %s\n", opt.exports[i].path, strerror(errno));
        write_failed |= failed;
    }
    if (text_out != stderr)
        write_failed |= mp_cli_close_output(text_out) != 0;
    if (write_failed)
        fprintf(stderr, "memprof: writing the report failed: %s\n", strerror(errno));

    char callers_err[512];
    if (opt.n_callers && !run.engine_note && mp_unmatched_callers(s.profile, &ropt, callers_err, sizeof callers_err))
        fprintf(stderr, "memprof: %s\n", callers_err);

    struct mp_limits limits = { opt.limit_heap, opt.limit_rss, opt.limit_leaks, opt.leak_kinds };
    int limits_broken = mp_check_limits(stderr, &limits, s.profile, &run, &ropt);

    free(spans);
    mp_sources_free(src);
    free_session(&s, envp);
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
