/* memprof: the supervisor's hooks for a session (supervisor thread): the
 * target starts, a process exits (held at its exit stop until the reader
 * has every record it wrote, so its stacks resolve while its memory still
 * exists) or ends, breakpoint traps and threads go to the engine of the
 * image whose memory they run in, attaching and detaching.  Following
 * children and exec is session_follow.c. */
#define _GNU_SOURCE
#include "base/count.h"
#include "session.h"
#include "capture/breakpoint/bpengine.h"
#include "capture/linemode/linemode.h"
#include "capture/python/py_remote.h"
#include "events/py_channel.h"
#include "events/ring_reader.h"
#include "supervise/procfs.h"
#include "supervise/supervisor.h"
#include "symbols/symbolizer.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static double now_s(const struct mp_session *s)
{
    return (double)(mp_monotonic_ns() - s->start_ns) / 1e9;
}

void mp_session_drop_engine(struct mp_session *s, struct mp_image *img)
{
    struct mp_bpengine *e = img->bp;
    if (!e)
        return;
    struct mp_bpengine_stats st;
    mp_bpengine_stats(e, &st);
    const char *w = mp_bpengine_warning(e);
    if (w)
        snprintf(img->bp_warning, sizeof img->bp_warning, "%s", w);
    img->bp_armed_or_trapped = st.armed || st.traps;
    img->bp_stops = st.traps;
    img->bp_was_armed = st.was_armed;
    img->had_bp = 1;
    img->bp_unreadable = st.unreadable;
    img->bp_abandoned = st.abandoned + st.skipped; /* skipped: passed through while memprof let go */
    char count[64];
    if (st.failed_reallocs)
        snprintf(img->bp_notes[0], sizeof img->bp_notes[0],
                 "%s counted as %s of %s block (the breakpoint engine records realloc's free before the call)",
                 MP_COUNT_NOUN(count, st.failed_reallocs, "failed realloc was", "failed reallocs were"),
                 mp_plural(st.failed_reallocs, "a free", "frees"), mp_plural(st.failed_reallocs, "its", "their"));
    if (st.plain_entries) /* attached only */
        snprintf(img->bp_notes[1], sizeof img->bp_notes[1],
                 "%s a plain breakpoint (%s first instructions could not be copied into a stub): had memprof been "
                 "killed, a thread stopped there could have crashed the process",
                 MP_COUNT_NOUN(count, st.plain_entries, "allocator entry kept", "allocator entries kept"),
                 mp_plural(st.plain_entries, "its", "their"));
    if (st.stepped)
        snprintf(img->bp_notes[2], sizeof img->bp_notes[2],
                 "%s single-stepped (an instruction memprof cannot emulate and no debug register left): other "
                 "threads may have passed that entry unseen meanwhile",
                 MP_COUNT_NOUN(count, st.stepped, "allocator entry was", "allocator entries were"));
    if (st.shapes_full) /* stacks it could not add to the fast entries' table */
        snprintf(img->bp_notes[3], sizeof img->bp_notes[3],
                 "the breakpoint engine's table of known stacks filled up (%s): calls from stacks not in "
                 "it stopped the program every time (slower; nothing was lost)",
                 MP_COUNT_NOUN(count, st.shapes, "stack", "stacks"));
    img->agent_bytes_bp = mp_bpengine_mapped_bytes(e);
    mp_bpengine_free(e);
    img->bp = NULL;
    if (img->stub_owner) {
        img->stub_owner = 0;
        s->stub_region_taken = 0;
    }
}

/* The target is forked and seized, not yet exec'd: only it may write. */
static void on_start(void *ctx, pid_t pid)
{
    struct mp_session *s = ctx;
    s->top_pid = pid;
    mp_ring_reader_set_target(s->ring, pid);
    s->start_ns = mp_monotonic_ns();
    mp_ring_reader_py_channel(s->ring)->start_ns = s->start_ns; /* Python line mode's clock */
    s->sampler = mp_rss_sampler_start(s->ring, s->opt->interval_ns, s->start_ns);
    mp_rss_sampler_add(s->sampler, pid);
    if (s->linemode)
        mp_linemode_set_start(s->linemode, s->start_ns);
}

/* The process's last thread is at its exit stop: read what only exists
 * now (VmHWM, the breakdown of its resident memory, its map: stacks the
 * reader has not resolved yet resolve against it after the process is
 * gone), then let it go on; its records reach the reader in their order. */
static int on_exit_stop(void *ctx, pid_t pid)
{
    struct mp_session *s = ctx;
    mp_ring_reader_take_pending(s->ring, pid); /* events its agent had not written (killed, crashed) */
    struct mp_image *img = mp_session_image_of(s, pid);
    if (!img || img->placeholder)
        return 0;
    uint64_t hwm = mp_proc_vmhwm(pid);
    if (hwm > img->vmhwm)
        img->vmhwm = hwm;
    mp_proc_rss_breakdown(pid, &img->rss_at_exit);
    mp_rss_sampler_sample_now(s->sampler, pid);
    /* its timeline ends here: what follows is memprof's wait, not the program */
    mp_rss_sampler_remove(s->sampler, pid);
    if (!atomic_load_explicit(&img->maps_saved, memory_order_relaxed) && (img->saved_maps = mp_proc_read(pid, "maps")))
        atomic_store_explicit(&img->maps_saved, 1, memory_order_release);
    img->exiting_ticket = mp_session_post_exiting(s, img);
    return 0;
}

/* Every thread of the ending process is stopped, its memory intact (after
 * on_exit_stop): class the blocks it holds. */
static void on_exit_all(void *ctx, pid_t pid, const pid_t *tids, size_t n)
{
    struct mp_session *s = ctx;
    struct mp_image *img = mp_session_image_of(s, pid);
    if (img && !img->placeholder)
        mp_session_classify_leaks(s, img, tids, n, img->exiting_ticket);
}

/* (No hold: the scan of its memory runs in on_exit_all, while the exit gate
 * holds every thread; nothing else needs the process stopped longer.) */
static int exit_release(void *ctx, pid_t pid)
{
    struct mp_session *s = ctx;
    struct mp_image *img = mp_session_image_of(s, pid);
    return !img || mp_ring_reader_control_done(s->ring, img->exiting_ticket);
}

/* A followed process other than the target ended. */
static void on_process_end(void *ctx, pid_t pid, int status)
{
    struct mp_session *s = ctx;
    mp_rss_sampler_remove(s->sampler, pid);
    mp_ring_reader_take_pending(s->ring, pid); /* before its end: what its agent had not written */
    struct mp_image *img = mp_session_image_of(s, pid);
    if (!img)
        return;
    if (img->end == MP_IMAGE_RUNNING) {
        img->end = MP_IMAGE_EXITED;
        if (WIFEXITED(status))
            img->exit_code = WEXITSTATUS(status);
        else
            img->signal = WTERMSIG(status);
        img->end_s = now_s(s);
    }
    mp_session_drop_engine(s, img);
    mp_ring_reader_skip_pid(s->ring, pid, 0);
    mp_session_post_end(s, img);
}

/* A SIGTRAP: one of our breakpoints, or the program's own. */
static int on_trap(void *ctx, pid_t pid, pid_t tid)
{
    struct mp_session *s = ctx;
    struct mp_image *img = mp_session_image_of(s, pid);
    if (s->linemode && pid == s->top_pid && img && img->seq == s->line_image_seq &&
        mp_linemode_on_trap(s->linemode, tid))
        return 1;
    return img && img->bp ? mp_bpengine_on_trap(img->bp, tid) : 0;
}

/* A forked child must not inherit the breakpoints of its parent's image. */
static void on_fork(void *ctx, pid_t parent, pid_t child)
{
    struct mp_session *s = ctx;
    struct mp_image *img = mp_session_image_of(s, parent);
    if (s->linemode && parent == s->top_pid)
        mp_linemode_clean_child(s->linemode, child);
    if (img && img->bp)
        mp_bpengine_clean_child(img->bp, child);
}

static void on_thread_stop(void *ctx, pid_t pid, pid_t tid)
{
    struct mp_session *s = ctx;
    struct mp_image *img = mp_session_image_of(s, pid);
    if (img && img->bp)
        mp_bpengine_thread_stop(img->bp, tid);
}

static void on_thread_gone(void *ctx, pid_t pid, pid_t tid)
{
    struct mp_session *s = ctx;
    struct mp_image *img = mp_session_image_of(s, pid);
    if (img && img->bp)
        mp_bpengine_thread_gone(img->bp, tid);
}

/* memprof -p: every thread of the running process is stopped. */
static void on_attach(void *ctx, pid_t pid, const pid_t *tids, size_t n)
{
    struct mp_session *s = ctx;
    on_start(ctx, pid);
    struct mp_image *img = mp_session_new_image(s, pid, NULL, NULL);
    if (!img)
        return;
    img->command = mp_process_command(pid);
    img->engine = "breakpoint";
    /* CPython: its Python frames, read from outside (the layout from the
     * interpreter's debug information: a symbolizer of its own, for now) */
    char sym_err[256];
    struct mp_symbolizer *sym = mp_symbolizer_open(pid, sym_err, sizeof sym_err);
    s->python_remote = mp_py_remote_open(pid, s->python, sym);
    if (sym)
        mp_symbolizer_close(sym);
    if (s->python_remote)
        s->python_notes_seq = img->seq;
    mp_session_start_image(s, img);
    img->bp = mp_bpengine_new(s->ring);
    if (img->bp) {
        mp_bpengine_set_mmap(img->bp, s->opt->mmap);
        mp_bpengine_set_python(img->bp, s->python_remote);
    }
    if (img->bp) {
        img->stub_owner = 1;
        s->stub_region_taken = 1;
        mp_bpengine_attach(img->bp, pid, tids, n);
    }
    fprintf(stderr, "memprof: attached to process %d (%zu thread%s): Ctrl-C detaches and reports\n", (int)pid, n,
            mp_plural(n, "", "s"));
}

/* memprof -p: the detach begins; allocator calls from now on are not
 * recorded (their threads are being stopped, see bpengine.h). */
static void on_leaving(void *ctx, pid_t pid)
{
    struct mp_session *s = ctx;
    struct mp_image *img = mp_session_image_of(s, pid);
    if (img && img->bp)
        mp_bpengine_leaving(img->bp);
}

/* About to let process pid go (memprof -p, or a process the target left
 * running): restore it, read what only exists while it is ours. */
static void on_detach(void *ctx, pid_t pid, const pid_t *tids, size_t n)
{
    struct mp_session *s = ctx;
    struct mp_image *img = mp_session_image_of(s, pid);
    if (!img)
        return;
    if (img->bp)
        mp_bpengine_detach(img->bp, tids, n);
    if (s->attach) /* what it holds at the detach, by kind (a let-go child's are not classed) */
        mp_session_classify_leaks(s, img, tids, n, mp_session_post_mark(s, img));
    mp_proc_rss_breakdown(pid, &img->rss_at_exit);
    mp_rss_sampler_sample_now(s->sampler, pid);
    uint64_t hwm = mp_proc_vmhwm(pid);
    if (hwm > img->vmhwm)
        img->vmhwm = hwm;
    if (pid != s->top_pid) {
        /* its events its agent has not written yet, read while it is
         * stopped (a batching process has one thread: none stopped, it
         * runs and writes them itself) */
        if (n != 0)
            mp_ring_reader_copy_pending(s->ring, pid);
        mp_rss_sampler_remove(s->sampler, pid);
        img->end = MP_IMAGE_LET_GO;
        img->end_s = now_s(s);
        s->let_go++;
        mp_session_drop_engine(s, img);
        mp_session_post_end(s, img);
    }
}

void mp_session_hooks(struct mp_session *s, struct mp_supervisor_hooks *h)
{
    memset(h, 0, sizeof *h);
    h->ctx = s;
    h->on_start = on_start;
    h->on_exec = mp_session_on_exec;
    h->on_exit = on_exit_stop;
    h->exit_release = exit_release;
    h->on_trap = on_trap; /* any image may get breakpoints (the agent cannot load in it) */
    h->on_fork = on_fork;
    h->on_new_process = s->opt->follow ? mp_session_on_new_process : NULL;
    h->on_process_end = on_process_end;
    h->on_top_end = mp_session_on_top_end;
    h->on_thread_stop = on_thread_stop;
    h->on_thread_gone = on_thread_gone;
    h->on_attach = on_attach;
    h->on_leaving = on_leaving;
    h->on_detach = on_detach;
    h->on_exit_all = on_exit_all;
    /* measured: 22 -> 18 us per malloc+free under the breakpoint engine */
    h->spin_us = strcmp(s->top_engine ? s->top_engine : "", "breakpoint") == 0 ? 100 : 0;
}
