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
#include "events/line_events.h"

struct mp_linemode;
struct mp_ring_reader;

/* Resolve the --function patterns ("NAME", "file.c:NAME", globs) against the
 * executable at `path`.  Returns 0 with *out set, or 2 with a one-line
 * message in err (unknown name with suggestions, no line information, a
 * function that lives in a shared library), or 1 (cannot read the file). */
int mp_linemode_resolve(const char *path, const char *const *patterns, size_t n_patterns,
                        struct mp_linemode **out, char *err, size_t errlen);
const struct mp_lm_map *mp_linemode_map(const struct mp_linemode *lm);

/* Line events go into this ring (memprof's own writer side), stamped with
 * the time since start_ns (mp_monotonic_ns when the target started: the
 * RSS sampler's clock). */
void mp_linemode_set_ring(struct mp_linemode *lm, struct mp_ring_reader *ring);
void mp_linemode_set_start(struct mp_linemode *lm, uint64_t start_ns);

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
struct mp_linemode_options {
    const char *const *functions;  /* --function, in order */
    size_t n_functions;
    enum mp_lm_metric metric;      /* --metric */
};

#endif
