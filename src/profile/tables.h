/* memprof: the per-function table model (memory_profiler's layout) and the
 * ordering of lines, computed from the profile; shared by every writer. */
#ifndef MEMPROF_TABLES_H
#define MEMPROF_TABLES_H

#include <stddef.h>
#include <stdint.h>
#include "memprof/profile.h"

struct mp_table_row {
    int line;
    int has_data;               /* 0: the line neither allocated nor freed (blank cells) */
    uint64_t mem_usage_bytes;   /* the most the line's allocations held at once ("Max held") */
    int64_t increment_bytes;    /* of the bytes allocated through the line, those never freed
                                   (JSON's increment_bytes; whoever freed them) */
    uint64_t occurrences;       /* allocator calls made through the line ("Alloc calls") */
    uint64_t allocated_bytes;   /* bytes allocated through the line ("Allocated") */
    uint64_t site_free_calls;   /* frees called on the line itself */
    uint64_t site_freed_bytes;  /* their bytes ("Freed") */
    int64_t net_bytes;          /* allocated_bytes - site_freed_bytes ("Net") */
    /* mapped memory, inclusive: the most the line held mapped at once, what
     * it left mapped, all it mapped */
    uint64_t mapped_usage_bytes;
    int64_t mapped_increment_bytes;
    uint64_t mapped_bytes;
};

struct mp_table {
    const char *file;
    const char *function;
    int first_line, last_line;
    uint64_t bytes;             /* the function's inclusive bytes (its biggest row) */
    struct mp_table_row *rows;  /* one per source line first_line..last_line */
    size_t n_rows;
};

struct mp_tables {
    struct mp_table *tables;
    size_t n;
};

/* Does the line belong in a table (it allocated, or called free)?  Its
 * function's source file is then worth reading. */
static inline int mp_line_has_table_data(const struct mp_line_stats *l)
{
    return l->incl_calls > 0 || l->site_free_calls > 0 || l->incl_mapped_bytes > 0;
}

/* Lines that belong in a table: line info, in the function's own file and
 * within its known extent (optimised code sometimes maps a PC inside an
 * inlined function to its caller's line: that line stays in "Top lines" but
 * must not stretch the inlined function's table). */
int mp_line_tabulable(const struct mp_line_stats *l);

/* All functions with line info that allocated or freed, biggest first (by
 * the largest Allocated of their rows), ties broken by file, then function
 * name.  Returns 0 or -1 on ENOMEM. */
int mp_tables_build(const struct mp_profile *p, struct mp_tables *out);
void mp_tables_free(struct mp_tables *t);

enum mp_line_order {
    MP_BY_ALLOCATED,  /* allocated_bytes + mapped_bytes, then alloc_calls + map_calls */
    MP_BY_PEAK,       /* peak_bytes */
    MP_BY_LEAKED,     /* live_bytes (at the end: leaked), then live_blocks */
    MP_BY_TEMPORARY,  /* temporary_calls */
    MP_BY_PEAK_TOTAL, /* peak_total_bytes (heap + mapped at their peak) */
    MP_BY_MAPPED_LIVE,/* mapped_live_bytes */
};

/* Indices of the lines whose chosen metric is nonzero, biggest first, ties
 * broken by file, line, function, module: a deterministic order.  Caller
 * frees; NULL with *n_out 0 on ENOMEM. */
size_t *mp_lines_sorted(const struct mp_profile *p, enum mp_line_order order, size_t *n_out);
static inline size_t *mp_lines_by_bytes(const struct mp_profile *p, size_t *n_out)
{
    return mp_lines_sorted(p, MP_BY_ALLOCATED, n_out);
}

/* Orders by place (file, line, function, module) / by frames, innermost
 * first: the ties of every sorted list. */
int mp_line_cmp_place(const struct mp_line_stats *x, const struct mp_line_stats *y);
int mp_stack_cmp_frames(const struct mp_profile *p, const struct mp_stack_info *x, const struct mp_stack_info *y);

/* Stacks still holding memory, by live bytes, then blocks, then their
 * innermost frame's place; caller frees. */
size_t *mp_stacks_by_live(const struct mp_profile *p, size_t *n_out);

/* The kept largest allocations in report order: by size, then calls (both
 * biggest first), then stack index.  Fills out; returns how many. */
size_t mp_largest_sorted(const struct mp_profile *p, struct mp_largest out[MP_LARGEST_KEPT]);

#endif
