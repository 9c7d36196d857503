/* memprof: line mode's events (MP_EV_LINE) and what they mean: the id an
 * event carries, and the map of functions and line points that gives the id
 * its source line.  Line mode's breakpoints (capture/linemode) produce them;
 * the line profile (profile/line_profile.c) aggregates them. */
#ifndef MEMPROF_LINE_EVENTS_H
#define MEMPROF_LINE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

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
    int end_line;            /* the last line it can have: the line before the next function
                                defined in its file (rows of other lines in its code belong to
                                code inlined from elsewhere; they get no breakpoint) */
};

struct mp_lm_point {
    uint64_t addr;           /* link-time address (add the load bias at run time) */
    uint32_t func;           /* index into funcs */
    int line;
    int entry;               /* the entry address of an out-of-line copy */
    int leave;               /* not a line: code of a function that is not profiled, around an
                                inlined copy of one that is: the copy's open lines in this frame
                                end here (func: MP_LM_NO_FUNC, line 0) */
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

/* What line mode's Mem usage and Increment measure (--metric). */
enum mp_lm_metric { MP_LM_METRIC_RSS = 0, MP_LM_METRIC_HEAP = 1 };

#endif
