/* memprof: the profile's private state, shared by its files: profile.c
 * (stacks, lines, events, the peak snapshots), profile_threads.c (per-thread
 * counters), profile_sizes.c (size histogram, largest allocations),
 * profile_free_sites.c (where frees were called), profile_leaks.c (leak
 * kinds and suppressions per stack), profile_mapped.c (mapped memory),
 * profile_fold.c (allocation wrappers) and profile_restore.c (rebuilding a
 * profile from a saved report).
 *
 * Everything here is O(distinct stacks + lines + threads + free sites +
 * buckets): nothing grows with the number of events but the live-block
 * table, which holds what is live. */
#ifndef MEMPROF_PROFILE_INTERNAL_H
#define MEMPROF_PROFILE_INTERNAL_H

#include "memprof/profile.h"
#include "blocktab.h"
#include "regions.h"
#include "base/hashidx.h"
#include "base/strtab.h"

struct stack {
    uint64_t hash;
    uint32_t nframes;
    uint32_t self_line;
    uint32_t n_incl;
    uint64_t unreleased;     /* bytes of its blocks freed since its lines' levels last
                                came down (struct incl_level) */
    uint64_t *frames;
    uint32_t *incl_lines;    /* distinct non-runtime lines (inclusive counters) */
    uint32_t *frame_lines;   /* every resolved frame, for printing the stack */
    struct mp_stack_info info;
};

/* A line's inclusive live bytes while events come, and the most it held:
 * the only inclusive counters an allocation must update per line (to keep
 * the maximum exact), apart from the line records so that a stack's lines
 * are a few adjacent words, not two cache lines each.  Calls, bytes and
 * freed bytes are the sums of the line's stacks' own counters, and are
 * written into the line records, with these two, when they are read
 * (mp_profile_sync_inclusive).
 *
 * A free of a stack of more than a few lines (RELEASE_AT_ONCE, profile.c)
 * does not bring its lines' levels down at once: its stack keeps
 * the bytes (stack.unreleased, the stack marked in dirty_unreleased), so
 * `live` may be too high, never too low.  An allocation that finds a line
 * above its maximum first brings every level down (a stack freed from N
 * times since costs one pass over its lines, not N), then compares again:
 * the maximum stays exact. */
struct incl_level {
    uint64_t live;
    uint64_t max;
};

struct thread {
    struct mp_thread_stats s;
    uint64_t last_addr;      /* the last block it allocated, for heaptrack's "temporary" */
    uint8_t remap_counted;   /* its last mremap's old range was counted (mapped memory) */
};

/* The place a free was called from: the line of the innermost user frame
 * of its return address (UINT32_MAX: runtime code, no user line). */
struct free_site {
    uint64_t pc;
    uint32_t line;
};

/* Things whose live bytes changed since the last peak snapshot: flushing
 * them when a new peak is reached keeps their peak_bytes exact at
 * amortised O(1) per event. */
struct dirty_set {
    uint8_t *flag;
    uint32_t *list;
    uint32_t n, cap;
};

struct mp_profile {
    mp_resolve_fn resolve;
    void *resolve_ctx;
    struct mp_strtab strings;

    struct stack *stacks;
    uint32_t n_stacks, cap_stacks;
    struct mp_hashidx stack_index;
    uint32_t memo_epoch;     /* high word of what it writes in mp_event.stack_memo: new
                                for each profile and whenever a stack's frames may no
                                longer name it (forgotten code), never 0 */

    struct mp_line_stats *lines;
    struct incl_level *incl;  /* per line, cap_lines of them */
    uint32_t n_lines, cap_lines;
    int incl_stale;           /* events came since the line records' inclusive counters were written */
    struct mp_hashidx line_index;

    struct mp_blocktab blocks;
    struct mp_regions regions;
    int has_mapped;          /* a mapping was seen: the heap + mapped peak is tracked apart */

    struct dirty_set dirty_lines, dirty_stacks, dirty_threads;
    struct dirty_set dirty_unreleased; /* stacks with unreleased bytes (struct incl_level) */
    /* stacks whose heap or mapped bytes changed since the heap + mapped
     * peak's last snapshot (kept once a mapping was seen) */
    struct dirty_set dirty_total;

    struct thread *threads;
    uint32_t n_threads, cap_threads;
    struct mp_hashidx thread_index;
    uint32_t last_thread;    /* index of the thread looked up last (a cache), or UINT32_MAX */

    struct free_site *free_sites;
    uint32_t n_free_sites, cap_free_sites;
    uint32_t last_free_site; /* the one looked up last (a cache) */
    struct mp_hashidx free_site_index;

    struct mp_size_bucket sizes[MP_SIZE_BUCKETS];
    struct mp_largest largest[MP_LARGEST_KEPT];
    uint8_t largest_index[4 * MP_LARGEST_KEPT]; /* (size, stack) -> entry + 1, 0: none
                                                    (open addressing, profile_sizes.c) */
    uint32_t n_largest;
    uint32_t largest_min;    /* index of the smallest kept entry, when the list is full */

    struct mp_sample *timeline;
    size_t n_samples;
    uint64_t heap_max_since_sample; /* the most live bytes an allocation since the
                                       last sample left */

    struct mp_folded *folded;
    size_t n_folded;

    struct mp_totals totals;
};

/* profile.c */
void *mp_profile_grow(void *array, uint32_t *cap, size_t elem);
/* Makes room for indices below cap (the set grows with its array); -1 on ENOMEM. */
int mp_dirty_reserve(struct dirty_set *d, uint32_t cap);
static inline void mp_dirty_mark(struct dirty_set *d, uint32_t i)
{
    if (!d->flag[i]) {
        d->flag[i] = 1;
        d->list[d->n++] = i;
    }
}
void mp_dirty_free(struct dirty_set *d);
/* The stack's live heap or mapped bytes changed. */
static inline void mp_profile_mark_stack(struct mp_profile *p, uint32_t sid)
{
    mp_dirty_mark(&p->dirty_stacks, sid);
    if (__builtin_expect(p->has_mapped, 0))
        mp_dirty_mark(&p->dirty_total, sid);
}
/* The stack of these frames, interned (resolved on first sight); UINT32_MAX on ENOMEM. */
uint32_t mp_profile_intern_stack(struct mp_profile *p, const uint64_t *frames, uint32_t n);
/* A new heap + mapped peak: every stack changed since the last one records
 * what it holds now, and so does its line. */
void mp_profile_snapshot_total(struct mp_profile *p);
/* Writes the inclusive counters of every line record from the stacks and
 * the levels (struct incl_level), if events came since the last time. */
void mp_profile_sync_inclusive(struct mp_profile *p);
/* The line record for a resolved frame, created on first sight; UINT32_MAX on ENOMEM. */
uint32_t mp_profile_line_for_frame(struct mp_profile *p, const struct mp_frame_info *f);
/* Appends a timeline sample (merging neighbours past 2 * MP_TIMELINE_MAX). */
int mp_profile_add_sample(struct mp_profile *p, const struct mp_sample *sample);

/* profile_threads.c */
/* The thread's record, created on first sight (NULL: ENOMEM). */
struct thread *mp_profile_thread_find(struct mp_profile *p, uint32_t tid);
/* The same, the thread looked up last first (events come in runs of one thread). */
static inline struct thread *mp_profile_thread_slot(struct mp_profile *p, uint32_t tid)
{
    if (p->last_thread != UINT32_MAX && p->threads[p->last_thread].s.tid == tid)
        return &p->threads[p->last_thread];
    return mp_profile_thread_find(p, tid);
}
void mp_profile_threads_free(struct mp_profile *p);

/* profile_sizes.c */
void mp_profile_sizes_alloc(struct mp_profile *p, uint32_t stack, uint64_t size);
/* A block of this stack and size is no longer live. */
void mp_profile_sizes_release(struct mp_profile *p, uint32_t stack, uint64_t size);

/* profile_free_sites.c */
/* The line a free called from `pc` (a return address) is charged to, or
 * UINT32_MAX when none (runtime code, ENOMEM). */
uint32_t mp_profile_free_site_line(struct mp_profile *p, uint64_t pc);
void mp_profile_free_sites_free(struct mp_profile *p);
/* The code in (lo, hi] is gone: its return addresses are new code from now on. */
void mp_profile_free_sites_forget(struct mp_profile *p, uint64_t lo, uint64_t hi);

/* profile_mapped.c */
int mp_profile_add_mapped(struct mp_profile *p, const struct mp_event *ev);

#endif
