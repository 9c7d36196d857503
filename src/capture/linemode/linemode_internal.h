/* memprof: line mode internals shared by the resolution (linemode_resolve.c,
 * linemode_dwarf.c) and linemode.c (breakpoints). */
#ifndef MEMPROF_LINEMODE_INTERNAL_H
#define MEMPROF_LINEMODE_INTERNAL_H

#include "capture/trap/emulate.h"
#include "linemode.h"
#include "supervise/procfs.h"

#include <sys/types.h>

struct sym_string_pool;

/* A breakpoint site: one INT3 at a runtime address. */
struct lm_site {
    struct mp_emu emu;
    uint64_t addr;          /* runtime address; 0: empty slot */
    int32_t point;          /* index into points, or -1 (no line event here) */
    int32_t entry_func;     /* a frame starts here: function index, MP_LM_NO_FUNC
                               for an anchor; -1: not an entry */
    uint32_t exit_refs;     /* frames whose return address this is */
    uint8_t orig;           /* the byte under the INT3 */
    uint8_t inserted;       /* the INT3 is in the text now */
};

struct lm_frame {
    uint64_t sp;            /* stack pointer at the entry: where the return address is */
    uint64_t ret;           /* the return address (an exit site) */
    uint32_t func;          /* function index, MP_LM_NO_FUNC for an anchor */
};

struct lm_thread {
    pid_t tid;              /* 0: empty slot */
    struct lm_frame *frames;
    uint32_t depth, cap;
};

struct mp_linemode {
    struct sym_string_pool *strings;
    struct mp_lm_func *funcs;
    size_t n_funcs;
    struct mp_lm_point *points;
    size_t n_points;
    uint64_t *anchors;
    size_t n_anchors;
    struct mp_lm_map map;
    dev_t exe_dev;
    ino_t exe_ino;

    /* run time (supervisor thread only) */
    struct mp_ring_reader *ring;
    uint64_t start_ns;              /* the timeline's zero (mp_monotonic_ns) */
    pid_t pid;
    int mem_fd, task_fd;
    unsigned long task_nlink_base;  /* st_nlink of /proc/PID/task minus its threads */
    struct mp_statm statm;
    uint64_t bias;
    int armed;
    int no_emulation;               /* MEMPROF_LINEMODE_STEP set */
    struct lm_site *sites;          /* open addressing by addr */
    size_t n_site_slots, n_sites;
    struct lm_thread *threads;      /* open addressing by tid */
    size_t n_thread_slots, n_threads;
    struct mp_linemode_stats stats;
    char warning[256];
};

#endif
