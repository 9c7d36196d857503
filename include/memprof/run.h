/* memprof: how a run went, as the supervisor and the engines saw it: the
 * facts the writers print beside the profile.  Filled by the command
 * (src/cli/main.c) from the supervisor, /proc and the engines, or by the
 * JSON loader from a saved report. */
#ifndef MEMPROF_RUN_H
#define MEMPROF_RUN_H

#include <stddef.h>
#include <stdint.h>

struct mp_line_profile;

/* What the target's resident memory was made of when it exited (from
 * /proc/PID/smaps), to explain the gap between peak RSS and peak heap. */
struct mp_rss_breakdown {
    int valid;
    uint64_t total;
    uint64_t heap;        /* [heap] (brk) and anonymous read-write mappings: malloc's arenas,
                             large blocks, free memory the allocator keeps */
    uint64_t stacks;      /* [stack] and thread stacks (anonymous, behind a guard page) */
    uint64_t code;        /* executable mappings of files, the vdso */
    uint64_t file_data;   /* other file-backed mappings (data, rodata, mapped files) */
    uint64_t shared;      /* shared anonymous memory and memfds (memprof's ring is one) */
};

/* Line mode (--function): when one chosen function ran, in the timeline's
 * clock (nanoseconds since the target started): mprof's brackets. */
struct mp_span {
    uint64_t start_ns, end_ns;
};

struct mp_function_spans {
    const char *function;
    const char *file;            /* its definition (absolute, or as the report shows it) */
    const struct mp_span *spans; /* in time order, not overlapping */
    size_t n_spans;
    uint64_t calls;              /* calls seen (spans of calls close together are merged) */
};

/* How the run went, as the supervisor and the engine saw it. */
struct mp_report_run {
    char *const *command;        /* argv as the user gave it, NULL-terminated */
    int exited, exit_code;       /* exited normally with exit_code */
    int signal;                  /* or killed by this signal */
    uint64_t peak_rss_bytes;     /* VmHWM */
    double wall_seconds;
    int attached_pid;            /* memprof -p: the process attached to, else 0 */
    int detached;                /* memprof -p: it was left running */
    const char *engine;          /* "agent", "breakpoint" or "none" */
    const char *engine_note;     /* why heap data is missing, or NULL */
    int mapped_profiled;         /* mapped memory was recorded (not --no-mmap) */
    uint64_t events_lost;        /* records the engine could not deliver */
    uint64_t agent_bytes;        /* the agent's own memory inside the target */
    int has_engine_stops;        /* the breakpoint engine ran: engine_stops is known */
    uint64_t engine_stops;       /* times it stopped a thread of the target (the rest of the
                                    calls were recorded inside the target without a stop) */
    struct mp_rss_breakdown rss_at_exit;
    const struct mp_line_profile *line_profile; /* line mode's tables (--function), or NULL */
    const struct mp_function_spans *function_spans; /* line mode: when each function ran */
    size_t n_function_spans;
    const char *const *warnings; /* one sentence each */
    size_t n_warnings;
    /* One program image of a process tree (a tree report); all 0 in a
     * single-process report.  Images are numbered in tree order from 1. */
    int tree_id;
    int tree_parent;             /* the image that forked this process, 0: none */
    int tree_exec_of;            /* the image this one replaced with execve, 0: none */
    int tree_depth;              /* 0 for the first image */
    int pid;
    int forked;                  /* a fork child running its parent's program */
    int execed;                  /* it ended by execve (the next image is the same process) */
    int let_go;                  /* memprof let it go while it ran (--wait-children=no) */
    int unfollowed;              /* let go at its execve, not profiled (engine_note says why) */
    double start_seconds;        /* since the launch */
};

#endif
