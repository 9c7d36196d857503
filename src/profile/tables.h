/* memprof: the per-function table model (memory_profiler's layout) and the
 * ordering of lines, computed from the profile; shared by every writer. */
#ifndef MEMPROF_TABLES_H
#define MEMPROF_TABLES_H

#include <stddef.h>
#include <stdint.h>
#include "memprof/profile.h"

struct mp_table_row {
    int line;
    int has_data;               /* 0: the line did nothing (blank cells) */
    uint64_t mem_usage_bytes;   /* heap mode: the most the line held at once */
    int64_t increment_bytes;    /* heap mode: net bytes the line caused (allocated - freed) */
    uint64_t occurrences;       /* heap mode: allocator calls made through the line */
    uint64_t allocated_bytes;   /* inclusive bytes allocated through the line */
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

/* All functions with line info that allocated, biggest first, ties broken by
 * file, then function name.  Returns 0 or -1 on ENOMEM. */
int mp_tables_build(const struct mp_profile *p, struct mp_tables *out);
void mp_tables_free(struct mp_tables *t);

enum mp_line_order {
    MP_BY_ALLOCATED,  /* allocated_bytes, then alloc_calls */
    MP_BY_PEAK,       /* peak_bytes */
    MP_BY_LEAKED,     /* live_bytes (at the end: leaked), then live_blocks */
    MP_BY_TEMPORARY,  /* temporary_calls */
};

/* Indices of the lines whose chosen metric is nonzero, biggest first, ties
 * broken by file, line, function, module: a deterministic order.  Caller
 * frees; NULL with *n_out 0 on ENOMEM. */
size_t *mp_lines_sorted(const struct mp_profile *p, enum mp_line_order order, size_t *n_out);
static inline size_t *mp_lines_by_bytes(const struct mp_profile *p, size_t *n_out)
{
    return mp_lines_sorted(p, MP_BY_ALLOCATED, n_out);
}

/* Stacks still holding memory, by live bytes, then blocks, then their
 * innermost frame's place; caller frees. */
size_t *mp_stacks_by_live(const struct mp_profile *p, size_t *n_out);

#endif
