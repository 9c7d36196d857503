/* memprof: line mode (--function NAME), memory_profiler's @profile for
 * native functions.
 *
 * Three parts:
 *  - resolution (linemode_resolve.c, linemode_dwarf.c, linemode_unmatched.c),
 *    before launch, from the executable file:
 *    the chosen functions, and every is_stmt line-table address of each of
 *    their copies (out of line and inlined), mapped to (function, line);
 *  - breakpoints (linemode.c), in the supervisor thread: INT3 on each of
 *    those addresses, armed at the exec stop; each hit posts a line event
 *    into the ring (mp_ring_reader_post_line) with the RSS of that moment,
 *    so the reader sees it in order with the agent's allocation records;
 *  - aggregation and tables (line_profile.c, report_lines.c), on the reader
 *    thread and in the writers.
 *
 * Frames.  The breakpoint side keeps a shadow stack per thread: a frame is
 * pushed at a function's entry address (keyed by the stack pointer there,
 * the address of the return address) and popped when the return address is
 * reached (a temporary INT3 on it, shared by every frame waiting there) or
 * when the thread is seen running with a stack pointer above the frame
 * (longjmp, C++ exceptions, a missed return).  Every event carries the depth
 * of that stack, so the aggregation closes the lines of frames that are
 * gone and charges a call line with what its callee did (memory_profiler's
 * inclusive increments).  An inlined copy has no entry or return of its
 * own: the out-of-line function containing it gets a frame-only entry
 * breakpoint ("anchor") so its return still closes the copy's last line. */
#ifndef MEMPROF_LINEMODE_H
#define MEMPROF_LINEMODE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- The line-event id carried in struct mp_event.addr (MP_EV_LINE) ----
 *   bits 0-31   point index (LINE, ENTRY) or function index (EXIT;
 *               MP_LM_NO_FUNC for an anchor frame)
 *   bits 32-61  shadow-stack depth of the thread after the event
 *   bits 62-63  kind */
enum mp_lm_event_kind {
    MP_LM_EV_LINE = 0,  /* a line starts inside the current frame */
    MP_LM_EV_ENTRY = 1, /* a function's entry address: a new frame starts (at `depth`) */
    MP_LM_EV_EXIT = 2,  /* the frame above `depth` returned */
};
#define MP_LM_NO_FUNC 0xffffffffu
#define MP_LM_DEPTH_MAX 0x3fffffffu

static inline uint64_t mp_lm_event_id(enum mp_lm_event_kind kind, uint32_t depth, uint32_t index)
{
    return ((uint64_t)kind << 62) | ((uint64_t)(depth & MP_LM_DEPTH_MAX) << 32) | index;
}
static inline enum mp_lm_event_kind mp_lm_event_kind(uint64_t id) { return (enum mp_lm_event_kind)(id >> 62); }
static inline uint32_t mp_lm_event_depth(uint64_t id) { return (uint32_t)(id >> 32) & MP_LM_DEPTH_MAX; }
static inline uint32_t mp_lm_event_index(uint64_t id) { return (uint32_t)id; }

/* ---- What resolution found (immutable once resolved) ---- */

struct mp_lm_func {
    const char *name;        /* the function's name (DW_AT_name) */
    const char *file;        /* its definition file: absolute, normalised */
    int first_line;          /* its declaration line (the table starts there) */
    int last_line;           /* the last line with a breakpoint */
};

struct mp_lm_point {
    uint64_t addr;           /* link-time address (add the load bias at run time) */
    uint32_t func;           /* index into funcs */
    int line;
    int entry;               /* the entry address of an out-of-line copy */
};

struct mp_lm_map {
    const struct mp_lm_func *funcs;
    size_t n_funcs;
    const struct mp_lm_point *points;   /* sorted by address, one per address */
    size_t n_points;
    const uint64_t *anchors;            /* frame-only entry addresses, sorted */
    size_t n_anchors;
    uint64_t elf_entry;                 /* e_entry, to find the load bias (AT_ENTRY - e_entry) */
};

struct mp_linemode;
struct mp_ring_reader;

/* Resolve the --function patterns ("NAME", "file.c:NAME", globs) against the
 * executable at `path`.  Returns 0 with *out set, or 2 with a one-line
 * message in err (unknown name with suggestions, no line information, a
 * function that lives in a shared library), or 1 (cannot read the file). */
int mp_linemode_resolve(const char *path, const char *const *patterns, size_t n_patterns,
                        struct mp_linemode **out, char *err, size_t errlen);
const struct mp_lm_map *mp_linemode_map(const struct mp_linemode *lm);

/* Line events go into this ring (memprof's own writer side). */
void mp_linemode_set_ring(struct mp_linemode *lm, struct mp_ring_reader *ring);

/* The supervisor's on_exec: the target (stopped) has a new image.  When it
 * is the resolved executable, insert the breakpoints; otherwise (the
 * program exec'd something else) line mode stays off.  0, or -1 with a
 * message (kept for mp_linemode_warning). */
int mp_linemode_arm(struct mp_linemode *lm, pid_t pid);

/* The supervisor's on_trap: 1 when the SIGTRAP was one of our breakpoints
 * (the thread was stepped over it and resumed), 0 otherwise. */
int mp_linemode_on_trap(struct mp_linemode *lm, pid_t tid);

/* The supervisor's on_fork: a forked child (its own copy of the text,
 * stopped before running) gets the original bytes back under every INT3.
 * 0, or -1 if some could not be written. */
int mp_linemode_clean_child(struct mp_linemode *lm, pid_t child);

struct mp_linemode_stats {
    uint64_t traps;              /* breakpoint hits handled */
    uint64_t line_events;        /* line events posted (entries included) */
    uint64_t exit_events;
    uint64_t steps_with_threads; /* step-overs while other threads could run past
                                    the lifted breakpoint (at most this many events
                                    missed) */
    uint64_t lost_stops;         /* a thread exited or group-stopped during a step */
    uint64_t emulated;           /* hits whose instruction memprof carried out itself
                                    (no single-step: nothing can pass unseen) */
    int armed;                   /* breakpoints were inserted */
};
void mp_linemode_stats(const struct mp_linemode *lm, struct mp_linemode_stats *out);
/* A sentence about what went wrong while arming, or NULL. */
const char *mp_linemode_warning(const struct mp_linemode *lm);

void mp_linemode_free(struct mp_linemode *lm);

/* ---- Options (struct mp_options.linemode, parsed by cli.c) ---- */
enum mp_lm_metric { MP_LM_METRIC_RSS = 0, MP_LM_METRIC_HEAP = 1 };
struct mp_linemode_options {
    const char *const *functions;  /* --function, in order */
    size_t n_functions;
    enum mp_lm_metric metric;      /* --metric */
};

#endif
