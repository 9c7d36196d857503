/* memprof: one profiling session: the event ring, the supervisor's hooks,
 * and one profile per program image of every process memprof follows.
 *
 * An image is what one process ran between two of its execve calls: the
 * program memprof launched, a child's copy of its parent's program after
 * fork, the program a process exec'd.  Each has its own profile (block
 * addresses are per process), symbolizer and, for static programs, its own
 * breakpoint engine.
 *
 * Threads: the supervisor (memprof's main thread) creates images and
 * decides engines; the ring's reader thread fills their profiles.  What the
 * supervisor learns about a process (a new image, an exit) reaches the
 * reader as a control message in its place in the event stream
 * (events/ring_reader.h), so every record lands in the image that wrote
 * it.  Each field of an image has one writer; the command reads them all
 * after both threads are done. */
#ifndef MEMPROF_SESSION_H
#define MEMPROF_SESSION_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "cli.h"
#include "memprof/run.h"
#include "capture/sampler/rss_sampler.h"
#include "supervise/supervisor.h"

struct mp_profile;
struct mp_symbolizer;
struct mp_sym_share;
struct mp_bpengine;
struct mp_ring_reader;
struct mp_linemode;
struct mp_line_profile;
struct mp_py_session;
struct mp_py_remote;

enum mp_image_end {
    MP_IMAGE_RUNNING,   /* not ended (yet) */
    MP_IMAGE_EXITED,    /* exited or killed: exit_code / signal */
    MP_IMAGE_EXECED,    /* replaced by execve: the next image of the same pid */
    MP_IMAGE_LET_GO,    /* detached while running (--wait-children=no, Ctrl-C while waiting) */
    MP_IMAGE_UNFOLLOWED,/* detached at its exec: not profiled (engine_note says why) */
};

struct mp_image {
    struct mp_session *session;
    unsigned seq;                 /* creation order */
    uint64_t order;               /* when its fork or exec happened (siblings are shown in this order) */
    pid_t pid;
    struct mp_image *parent;      /* the image that forked the process (NULL: the first image) */
    struct mp_image *exec_of;     /* the image it replaced (same pid) */
    char **command;               /* argv, NULL-terminated (owned) */
    int forked;                   /* a fork child's copy of its parent's program */
    int placeholder;              /* a vfork child before its exec: it runs in its parent's
                                     memory and has no program of its own (never shown) */
    int quiet;                    /* followed but not profiled (--follow-only): not shown */
    char fallback_note[512];      /* the agent could not load in it, and why: breakpoints instead */
    int tracer;                   /* a debugger or tracer: its children are its own to trace */
    size_t children_let_go;       /* (supervisor thread) how many of them it had */
    const char *engine;           /* "agent", "breakpoint", "none" */
    char engine_note[320];        /* why the heap is not profiled ("" when it is) */
    /* supervisor thread */
    struct mp_bpengine *bp;
    int stub_owner;               /* bp has the ring's stub region */
    enum mp_image_end end;
    int exit_code, signal;
    uint64_t vmhwm;
    double start_s, end_s;        /* seconds since the launch */
    struct mp_rss_breakdown rss_at_exit;
    uint64_t exiting_ticket;      /* the control posted at its exit stop */
    char *saved_maps;             /* /proc/PID/maps at its exit stop, for stacks resolved after it */
    _Atomic int maps_saved;       /* saved_maps is written (release) */
    char bp_notes[4][256];        /* the breakpoint engine's notes, kept when it is freed */
    char bp_warning[640];
    uint64_t bp_unreadable, bp_abandoned; /* calls the breakpoint engine could not record */
    uint64_t agent_bytes_bp;      /* the breakpoint engine's mapping in the process */
    int bp_armed_or_trapped;      /* then bp_stops is known */
    uint64_t bp_stops;            /* times the engine stopped a thread of the process */
    int bp_was_armed;             /* its allocator was found, at some point */
    char leak_note[256];          /* why its leak kinds are missing */
    int had_bp;                   /* it had a breakpoint engine */
    /* reader thread */
    struct mp_profile *profile;
    struct mp_sym_share *sym;     /* its symbolizer, or its parent's (a fork copies the
                                     address space: the same modules at the same places) */
    struct mp_symbolizer *own_sym;/* a borrowed symbolizer did not know a PC: its own */
    int sym_tried, own_sym_tried;
    int reader_done;              /* its exit stop or end reached the reader */
    char **sym_warnings;          /* copied when the symbolizer is closed */
    size_t n_sym_warnings;
    char sym_error[256];
    int agent_started;
    uint64_t agent_bytes;
    uint64_t events_lost;
    uint64_t profile_errors;
    /* its timeline's RSS readings (session_timeline.c) */
    uint64_t timeline_trap_ns;    /* the last line mode trap's reading: its time */
    uint64_t timeline_high_rss;   /* the highest RSS on the timeline */
    int timeline_had_trap;
};

struct mp_session {
    const struct mp_options *opt;
    struct mp_ring_reader *ring;
    struct mp_rss_sampler *sampler;
    struct mp_linemode *linemode;   /* --function: the first image of the target only */
    struct mp_line_profile *lines;
    /* CPython (capture/python): one interpreter of the tree at a time has the
     * ring's Python channel, and Python frames (reader thread) */
    struct mp_py_session *python;
    int python_lines;               /* --function names Python functions: the tables are
                                       about the first image that had the channel */
    struct mp_image *python_image;  /* the image that has the channel, or NULL */
    unsigned python_notes_seq;      /* the first image that had it ((unsigned)-1: none) */
    struct mp_py_remote *python_remote; /* memprof -p on CPython: its frames, read from outside */
    pid_t top_pid;
    unsigned line_image_seq;        /* the image line mode's tables are about */
    uint64_t start_ns;
    int attach;                     /* memprof -p */
    const char *top_engine;         /* the engine chosen for the target before the launch */
    const char *top_engine_note;
    const char *agent_path;         /* the agent to find in LD_PRELOAD of exec'd children */
    int reader_running;
    uint64_t events_lost;           /* of the stop's final drain, not of one process */
    uint64_t lost_unknown;          /* lost events whose process is unknown */
    uint64_t foreign_events;        /* records of processes memprof does not follow */
    /* all images, in creation order (supervisor thread appends; the command reads at the end) */
    struct mp_image **images;
    size_t n_images, cap_images;
    /* pid -> current image: one map per thread */
    struct pid_map { pid_t *pids; struct mp_image **imgs; size_t cap, n; } sup_map, reader_map;
    struct mp_image *last_hint;     /* reader: the image of the last hint */
    struct mp_sym_cache *frames;    /* reader: frames every image's symbolizer shares */
    int stub_region_taken;
    size_t unfollowed;              /* processes let go at their exec (setuid, --no-follow-exec) */
    size_t let_go;                  /* processes let go while running */
    struct mp_rss_total_peak total_peak; /* the highest sum of one sampling round */
};

/* Sets the session up (ring, sampler thread not yet).  0, or -1 with a
 * one-line message in err. */
int mp_session_init(struct mp_session *s, const struct mp_options *opt, char *err, size_t errlen);
/* The supervisor's hooks for this session. */
void mp_session_hooks(struct mp_session *s, struct mp_supervisor_hooks *hooks);
/* After the supervisor returned: stop the sampler and the reader, close what
 * is left open, record how the target ended. */
void mp_session_finish(struct mp_session *s, const struct mp_run_result *result);
void mp_session_free(struct mp_session *s);

/* ---- session_follow.c: which processes are followed, with which engine ---- */

/* Following the tree (hooks). */
int mp_session_on_new_process(void *ctx, pid_t parent, pid_t child, int shares_memory, uint64_t order);
int mp_session_on_exec(void *ctx, pid_t pid, uint64_t order);
/* Process pid, stopped at the exec of a program memprof lets go: closes
 * the ring's descriptors in it (session_letgo.c).  0, or -1 if one could
 * not be closed. */
int mp_session_close_ring_in(struct mp_session *s, pid_t pid);
int mp_session_on_top_end(void *ctx, size_t remaining);
/* Does the program path / argv[0] match one of the globs? */
int mp_follow_glob_match(const char *const *globs, size_t n, const char *path, char *const *argv);

/* ---- session.c internals used by session_follow.c ---- */

struct mp_image *mp_session_new_image(struct mp_session *s, pid_t pid, struct mp_image *parent,
                                      struct mp_image *exec_of);
struct mp_image *mp_session_image_of(struct mp_session *s, pid_t pid); /* supervisor's map */
void mp_session_start_image(struct mp_session *s, struct mp_image *img); /* post it to the reader */
/* Control messages: the image's exit stop (a ticket for mp_ring_reader_control_done), its end. */
uint64_t mp_session_post_exiting(struct mp_session *s, struct mp_image *img);
void mp_session_post_end(struct mp_session *s, struct mp_image *img);
/* A control that only marks a place: its ticket is done when the reader
 * has delivered every record before it. */
uint64_t mp_session_post_mark(struct mp_session *s, struct mp_image *img);

/* ---- session_leaks.c ---- */

/* Classes the blocks img's process holds as memcheck would (leak_scan.h),
 * its threads tids[] all stopped, once the reader has passed `ticket`
 * (img->leak_note says why when it could not). */
void mp_session_classify_leaks(struct mp_session *s, struct mp_image *img, const pid_t *tids, size_t n,
                               uint64_t ticket);
/* The image's breakpoint engine is done: keep its notes, free it, give the
 * stub region back. */
void mp_session_drop_engine(struct mp_session *s, struct mp_image *img);
/* Reads /proc/PID/cmdline into a new argv; NULL on failure. */
char **mp_process_command(pid_t pid);
char **mp_copy_command(char *const *argv);

#endif
