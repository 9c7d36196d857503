/* memprof: the mapped-memory table: the program's own mappings that the
 * profile counts (address range -> the stack that mapped it), kept sorted
 * and disjoint.  Unmapping cuts ranges anywhere (a partial munmap leaves up
 * to two pieces, each still charged to its stack). */
#ifndef MEMPROF_REGIONS_H
#define MEMPROF_REGIONS_H

#include <stddef.h>
#include <stdint.h>

struct mp_region {
    uint64_t start, end;   /* [start, end) */
    uint32_t stack;
};

struct mp_regions {
    struct mp_region *r;   /* sorted by start, disjoint */
    size_t n, cap;
};

void mp_regions_init(struct mp_regions *t);
void mp_regions_free(struct mp_regions *t);
/* Adds [start, start + len) for `stack`; the range must be free (remove
 * first).  0, or -1 on ENOMEM. */
int mp_regions_add(struct mp_regions *t, uint64_t start, uint64_t len, uint32_t stack);
/* Removes whatever is counted in [start, start + len): gone(ctx, stack,
 * bytes) for each piece.  0, or -1 on ENOMEM (a split needed room; nothing
 * was removed then). */
int mp_regions_remove(struct mp_regions *t, uint64_t start, uint64_t len,
                      void (*gone)(void *ctx, uint32_t stack, uint64_t bytes), void *ctx);
/* Bytes counted in [start, start + len). */
uint64_t mp_regions_bytes_in(const struct mp_regions *t, uint64_t start, uint64_t len);

#endif
