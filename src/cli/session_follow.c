/* memprof: following the process tree (supervisor thread): a new child gets
 * an image (a fork child's copy of its parent's program, with the parent's
 * engine) or, sharing its parent's memory (vfork, posix_spawn), a
 * placeholder until it execs; an exec starts a new image with the engine
 * its program needs: the agent when the preloaded agent and the ring's
 * variables are still in its environment, the breakpoint engine for static
 * programs (or when the environment lost them), nothing for setuid/setgid
 * programs and those --no-follow-exec names, which are let go. */
#define _GNU_SOURCE
#include "base/count.h"
#include "session.h"
#include "agent_check.h"
#include "capture/breakpoint/bpengine.h"
#include "capture/linemode/linemode.h"
#include "events/ring.h"
#include "events/ring_reader.h"
#include "supervise/launch.h"
#include "supervise/procfs.h"

#include <elf.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static double now_s(const struct mp_session *s)
{
    return (double)(mp_monotonic_ns() - s->start_ns) / 1e9;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int mp_follow_glob_match(const char *const *globs, size_t n, const char *path, char *const *argv)
{
    const char *names[4] = { path, path ? base_name(path) : NULL, argv ? argv[0] : NULL,
                             argv && argv[0] ? base_name(argv[0]) : NULL };
    for (size_t g = 0; g < n; g++)
        for (size_t i = 0; i < 4; i++)
            if (names[i] && *names[i] && fnmatch(globs[g], names[i], 0) == 0)
                return 1;
    return 0;
}

/* A breakpoint engine for the image, with the stub region when it is free. */
static void start_breakpoints(struct mp_session *s, struct mp_image *img, pid_t pid)
{
    img->engine = "breakpoint";
    img->bp = mp_bpengine_new(s->ring);
    if (img->bp)
        mp_bpengine_set_mmap(img->bp, s->opt->mmap);
    if (!img->bp) {
        snprintf(img->engine_note, sizeof img->engine_note, "memprof ran out of memory");
        img->engine = "none";
        return;
    }
    int stubs = !s->stub_region_taken;
    mp_bpengine_set_stubs(img->bp, stubs);
    if (stubs) {
        s->stub_region_taken = 1;
        img->stub_owner = 1;
    }
    mp_bpengine_exec(img->bp, pid);
}

/* The engine for the program process pid just exec'd. */
static void choose_engine(struct mp_session *s, struct mp_image *img, pid_t pid)
{
    char exe_link[64], exe[PATH_MAX];
    snprintf(exe_link, sizeof exe_link, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(exe_link, exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    enum mp_exe_kind kind = mp_exe_kind(exe_link);
    if (s->opt->engine == MP_ENGINE_NONE) {
        snprintf(img->engine_note, sizeof img->engine_note, "--engine=none was given");
    } else if (s->opt->engine == MP_ENGINE_BREAKPOINT || kind == MP_EXE_STATIC) {
        start_breakpoints(s, img, pid);
    } else if (mp_agent_check_image(pid, s->agent_path, mp_ring_reader_fd(s->ring), img->fallback_note,
                                    sizeof img->fallback_note)) {
        img->engine = "agent";
    } else {
        start_breakpoints(s, img, pid); /* the note says why */
    }
}

/* Process pid runs a setuid or setgid program: the loader ignores
 * LD_PRELOAD there (AT_SECURE), and under ptrace the kernel gives it its
 * privileges only when memprof may trace them.  Why it must run without
 * memprof, or NULL. */
static const char *privileged(pid_t pid)
{
    uint64_t secure = 0;
    if (mp_proc_auxv(pid, AT_SECURE, &secure) == 0 && secure)
        return "it runs a setuid or setgid program (AT_SECURE: the loader ignores LD_PRELOAD there); "
               "memprof let it run on unprofiled";
    char exe[64];
    struct stat st;
    snprintf(exe, sizeof exe, "/proc/%d/exe", (int)pid);
    if (stat(exe, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID)) && geteuid() != 0)
        return "it runs a setuid or setgid program, which the kernel starts without its privileges under "
               "ptrace unless memprof runs as root; memprof let it run on unprofiled";
    return NULL;
}

/* Debuggers and tracers trace their own children (PTRACE_TRACEME, or
 * attaching): followed by memprof, those children could not be traced
 * again, so a tracer's children are let go at once.  The tracer itself is
 * profiled. */
static int is_tracer(const char *exe, char *const *argv)
{
    static const char *const tracers[] = { "gdb", "gdb-multiarch", "gdbserver", "strace", "ltrace", "rr", "memprof",
                                           "heaptrack_gui", "lldb", "lldb-server" };
    const char *names[2] = { exe ? base_name(exe) : NULL, argv && argv[0] ? base_name(argv[0]) : NULL };
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; names[k] && i < sizeof tracers / sizeof *tracers; i++)
            if (strcmp(names[k], tracers[i]) == 0)
                return 1;
    return 0;
}

/* The target's first program: the engine chosen before the launch. */
static void first_image(struct mp_session *s, pid_t pid)
{
    struct mp_image *img = mp_session_new_image(s, pid, NULL, NULL);
    if (!img)
        return;
    img->command = mp_copy_command(s->opt->command);
    img->engine = s->top_engine;
    if (s->top_engine_note)
        snprintf(img->engine_note, sizeof img->engine_note, "%s", s->top_engine_note);
    img->quiet = s->opt->n_follow_only && !mp_follow_glob_match(s->opt->follow_only, s->opt->n_follow_only,
                                                                NULL, s->opt->command);
    char exe_link[64], exe[PATH_MAX];
    snprintf(exe_link, sizeof exe_link, "/proc/%d/exe", (int)pid);
    ssize_t len = readlink(exe_link, exe, sizeof exe - 1);
    exe[len > 0 ? len : 0] = '\0';
    img->tracer = is_tracer(exe, s->opt->command);
    mp_session_start_image(s, img);
    mp_rss_sampler_sample_now(s->sampler, pid); /* the timeline starts with the image */
    if (strcmp(s->top_engine, "breakpoint") == 0)
        start_breakpoints(s, img, pid);
    else if (strcmp(s->top_engine, "agent") == 0 && s->agent_path && !s->attach &&
             !mp_agent_check_image(pid, s->agent_path, mp_ring_reader_fd(s->ring), img->fallback_note,
                                   sizeof img->fallback_note))
        start_breakpoints(s, img, pid); /* the agent cannot load in it: the note says why */
    if (strcmp(img->engine, "agent") != 0 || img->quiet)
        mp_ring_reader_skip_pid(s->ring, pid, 1); /* a preloaded agent stays out */
    if (s->linemode) {
        s->line_image_seq = img->seq;
        mp_linemode_arm(s->linemode, pid);
    }
}

int mp_session_on_exec(void *ctx, pid_t pid, uint64_t order)
{
    struct mp_session *s = ctx;
    struct mp_image *old = mp_session_image_of(s, pid);
    if (pid == s->top_pid && !old) {
        first_image(s, pid);
        return 1;
    }
    struct mp_image *parent = old ? old->parent : NULL, *exec_of = old && !old->placeholder ? old : NULL;
    mp_ring_reader_take_pending(s->ring, pid); /* the old image's events not written yet: before its end */
    if (old) {
        old->end = MP_IMAGE_EXECED;
        old->end_s = now_s(s);
        mp_session_drop_engine(s, old);
        mp_session_post_end(s, old);
    }
    mp_ring_reader_skip_pid(s->ring, pid, 0); /* decided afresh for the new program */
    struct mp_image *img = mp_session_new_image(s, pid, parent, exec_of);
    if (!img)
        return 1;
    /* a vfork child's program takes its place among its siblings: its vfork's */
    img->order = old && old->placeholder ? old->order : order;
    img->command = mp_process_command(pid);
    char exe_link[64], exe[PATH_MAX];
    snprintf(exe_link, sizeof exe_link, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(exe_link, exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    const char *why = pid == s->top_pid ? NULL : privileged(pid);
    if (!why && pid != s->top_pid &&
        mp_follow_glob_match(s->opt->no_follow_exec, s->opt->n_no_follow_exec, exe, img->command))
        why = "--no-follow-exec names its program: memprof let it run on unprofiled";
    if (why) {
        int kept = mp_session_close_ring_in(s, pid) != 0; /* nothing of memprof's for it */
        snprintf(img->engine_note, sizeof img->engine_note, "%s%s", why,
                 kept ? " (memprof could not close its event ring's descriptor there)" : "");
        img->end = MP_IMAGE_UNFOLLOWED;
        img->end_s = img->start_s;
        s->unfollowed++;
        mp_rss_sampler_remove(s->sampler, pid);
        return 0;
    }
    img->quiet = s->opt->n_follow_only &&
                 !mp_follow_glob_match(s->opt->follow_only, s->opt->n_follow_only, exe, img->command);
    img->tracer = is_tracer(exe, img->command);
    mp_rss_sampler_add(s->sampler, pid);
    mp_session_start_image(s, img);
    mp_rss_sampler_sample_now(s->sampler, pid); /* the timeline starts with the image */
    if (img->quiet)
        img->engine = "none";
    else
        choose_engine(s, img, pid);
    if (strcmp(img->engine, "agent") != 0 && mp_ring_reader_skip_pid(s->ring, pid, 1) != 0 &&
        strcmp(img->engine, "breakpoint") == 0) {
        /* the agent would record it too: no breakpoints then */
        mp_session_drop_engine(s, img);
        img->had_bp = 0;
        img->engine = "agent";
    }
    return 1;
}

int mp_session_on_new_process(void *ctx, pid_t parent, pid_t child, int shares_memory, uint64_t order)
{
    struct mp_session *s = ctx;
    struct mp_image *pimg = mp_session_image_of(s, parent);
    if (pimg && pimg->placeholder)
        pimg = pimg->parent; /* a child of a vfork child before its exec */
    if (pimg && pimg->tracer) {
        pimg->children_let_go++;
        /* it traces its children itself; a vfork child in memory with our
         * breakpoints has to stay until it execs */
        return pimg->bp ? 0 : -1;
    }
    struct mp_image *img = mp_session_new_image(s, child, pimg, NULL);
    if (!img)
        return 1;
    img->order = order;
    if (shares_memory) {
        /* it runs in the parent's memory, and its records are the parent's,
         * until it execs: an image of its own only then */
        img->placeholder = 1;
        return 1;
    }
    img->forked = 1;
    img->command = mp_copy_command(pimg ? pimg->command : NULL);
    img->quiet = pimg && pimg->quiet;
    mp_rss_sampler_add(s->sampler, child);
    mp_session_start_image(s, img);
    if (img->quiet || !pimg) {
        img->engine = "none";
    } else if (pimg->bp) {
        img->engine = "breakpoint";
        img->bp = mp_bpengine_new(s->ring);
        if (img->bp)
            mp_bpengine_set_mmap(img->bp, s->opt->mmap);
        if (img->bp)
            mp_bpengine_start_forked(img->bp, child);
    } else {
        img->engine = pimg->engine;
        snprintf(img->engine_note, sizeof img->engine_note, "%s", pimg->engine_note);
    }
    return 1;
}

static void write_command(FILE *out, char *const *argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        fprintf(out, "%s%s", i ? " " : "", argv[i]);
}

int mp_session_on_top_end(void *ctx, size_t remaining)
{
    struct mp_session *s = ctx;
    fprintf(stderr, "memprof: ");
    write_command(stderr, s->opt->command);
    char n[64];
    MP_COUNT_NOUN(n, remaining, "process", "processes");
    if (s->opt->wait_children)
        fprintf(stderr, " ended; waiting for the %s it left running (Ctrl-C or --wait-children=no lets %s go on "
                        "without memprof)\n", n, mp_plural(remaining, "it", "them"));
    else
        fprintf(stderr, " ended; the %s it left running go%s on without memprof (--wait-children=no)\n", n,
                mp_plural(remaining, "es", ""));
    return s->opt->wait_children;
}
