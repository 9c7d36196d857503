/* memprof: the profile, the one place where events are aggregated.
 *
 * Engines feed it struct mp_event; it interns stacks, resolves each new stack
 * once through the resolver it was given (it knows nothing of ptrace or
 * DWARF), keeps the live-block table and per-line counters.  Writers only read
 * it.
 *
 * Two views of a line:
 *  - self: allocations whose *user line* (innermost frame that is not runtime)
 *    is this line; every allocation has exactly one, so the self counters of
 *    all lines add up to the totals.
 *  - inclusive: allocations made through this line (it or what it called);
 *    a line counts an allocation once even under recursion. */
#ifndef MEMPROF_PROFILE_H
#define MEMPROF_PROFILE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "memprof/event.h"
#include "memprof/frame.h"

struct mp_profile;

struct mp_line_stats {
    const char *file;        /* NULL without line info */
    int line;                /* 0 without line info */
    const char *function;
    const char *module;
    const char *func_file;   /* the function's definition, for per-function tables */
    int func_first_line, func_last_line;
    int is_runtime;          /* allocator or runtime code, or a system header (never a user line
                                unless a stack has no other) */
    /* self */
    uint64_t alloc_calls, allocated_bytes;
    uint64_t free_calls, freed_bytes;   /* of blocks allocated on this line */
    uint64_t live_bytes, live_blocks;   /* held now (at the end of the run: leaked) */
    uint64_t peak_bytes;                /* held when the heap reached its peak */
    uint64_t temporary_calls;           /* blocks freed before their thread allocated again */
    /* inclusive */
    uint64_t incl_calls, incl_bytes, incl_freed_bytes;
    uint64_t incl_live_bytes;           /* held now (at the end of the run: leaked) */
    uint64_t incl_max_live_bytes;       /* the most this line held at any moment */
    /* free sites: frees (and reallocs of a block) called on this line, the
     * innermost user frame of the call's return address, whoever allocated
     * the block; only the line that calls free, not its callers */
    uint64_t site_free_calls, site_freed_bytes;
    /* mapped memory (mmap, mremap, brk/sbrk: the program's anonymous private
     * mappings), self */
    uint64_t map_calls, mapped_bytes, unmapped_bytes;
    uint64_t mapped_live_bytes;         /* still mapped now (at the end: at exit) */
    /* what the line held (heap + mapped, and the mapped part) when heap +
     * mapped reached its peak */
    uint64_t peak_total_bytes, peak_total_mapped_bytes;
    /* mapped memory, inclusive */
    uint64_t incl_mapped_bytes, incl_mapped_live_bytes, incl_max_mapped_bytes;
};

/* memcheck's leak kinds of a block live at exit (or at detach), from the
 * reachability scan (capture/reach). */
enum mp_leak_kind {
    MP_LEAK_DEFINITE,   /* definitely lost: no pointer to it left */
    MP_LEAK_INDIRECT,   /* indirectly lost: only lost blocks point to it */
    MP_LEAK_POSSIBLE,   /* possibly lost: only pointers into its middle */
    MP_LEAK_REACHABLE,  /* still reachable */
    MP_LEAK_KINDS
};

struct mp_totals {
    uint64_t alloc_calls, allocated_bytes;
    uint64_t free_calls, freed_bytes;
    uint64_t live_bytes, live_blocks;   /* now; at the end of the run: leaked */
    uint64_t peak_heap_bytes;           /* high-water mark of live requested bytes */
    uint64_t unknown_frees;             /* frees of blocks never seen allocated */
    uint64_t reused_live_blocks;        /* allocations at an address still live */
    uint64_t truncated_stacks;          /* allocations whose stack was cut at MP_MAX_FRAMES */
    uint64_t distinct_stacks;
    uint64_t temporary_calls;           /* heaptrack's temporaries: freed before the
                                           allocating thread allocated again */
    uint32_t peak_stack;                /* stack of the allocation that reached the
                                           peak (mp_profile_stack), UINT32_MAX if none */
    /* frees of known blocks whose call site is no user line (the engine gave
     * none, or free was called from runtime code such as operator delete) */
    uint64_t unsited_free_calls, unsited_freed_bytes;
    /* The live blocks by leak kind (every one of them, suppressed or not),
     * when leaks_classified. */
    int leaks_classified;
    uint64_t leak_bytes[MP_LEAK_KINDS], leak_blocks[MP_LEAK_KINDS];
    /* mapped memory (see mp_line_stats) */
    uint64_t map_calls, mapped_bytes;   /* mmap/mremap/brk calls that mapped, their bytes */
    uint64_t unmap_calls, unmapped_bytes; /* munmap/brk calls that released mapped bytes */
    uint64_t mapped_live_bytes;         /* mapped now (at the end of the run: at exit) */
    uint64_t peak_mapped_bytes;         /* high-water mark of mapped bytes alone */
    uint64_t peak_total_bytes;          /* high-water mark of heap + mapped */
    uint64_t peak_total_mapped_bytes;   /* the mapped part of it */
    uint32_t peak_total_stack;          /* stack of the event that reached it, or UINT32_MAX */
};

/* A Python line: a .py file, or Python code without a file ("<string>"). */
static inline int mp_line_is_python(const struct mp_line_stats *l)
{
    size_t len = l->file ? strlen(l->file) : 0;
    return len && (l->file[0] == '<' || (len > 3 && strcmp(l->file + len - 3, ".py") == 0));
}

/* The C program's main, where shown stacks end (what is above it is the C
 * library's start); a Python function named main is not it. */
static inline int mp_line_is_c_main(const struct mp_line_stats *l)
{
    return strcmp(l->function, "main") == 0 && !mp_line_is_python(l);
}

/* One interned call stack, resolved. */
struct mp_stack_info {
    uint32_t n_frames;            /* source-level frames, innermost first, runtime ones included */
    const uint32_t *frame_lines;  /* their line records (mp_profile_line) */
    uint32_t self_line;           /* the user line the stack's allocations are charged to */
    int no_user_frame;            /* every frame is the runtime's (self_line is then its innermost named one) */
    uint64_t alloc_calls, allocated_bytes;
    uint64_t live_bytes, live_blocks; /* held now (at the end of the run: leaked) */
    uint64_t peak_bytes, peak_blocks; /* held when the heap reached its peak */
    uint64_t temporary_calls;     /* blocks freed before their thread allocated again */
    uint64_t leak_bytes[MP_LEAK_KINDS], leak_blocks[MP_LEAK_KINDS]; /* live_* by kind, when classified */
    const char *suppressed;       /* the suppression that matched its stack, or NULL */
    /* the rest of a line's self counters, per stack: a line's are the sum
     * over the stacks charged to it (mp_profile_fold moves stacks) */
    uint64_t free_calls, freed_bytes;
    uint64_t map_calls, mapped_bytes, unmapped_bytes, mapped_live_bytes;
    uint64_t peak_total_heap_bytes, peak_total_mapped_bytes;
};

/* One thread, as the allocations it made and the frees it called. */
struct mp_thread_stats {
    uint32_t tid;                       /* the kernel's thread id (varies between runs) */
    uint64_t alloc_calls, allocated_bytes;
    uint64_t free_calls, freed_bytes;   /* frees it called, of blocks any thread allocated (0 when
                                           the engine does not say which thread freed: a FREE
                                           event with tid 0, as the breakpoint engine's) */
    uint64_t live_bytes, live_blocks;   /* blocks it allocated, held now (at the end: leaked) */
    uint64_t peak_bytes;                /* of its blocks, held when the heap reached its peak */
    uint64_t max_live_bytes;            /* the most its blocks held at one moment */
};

/* The size histogram: bucket 0 holds size 0, bucket k (1..64) sizes from
 * 2^(k-1) up to, not including, 2^k. */
#define MP_SIZE_BUCKETS 65
struct mp_size_bucket {
    uint64_t calls, bytes;
};
static inline unsigned mp_size_bucket_of(uint64_t size)
{
    return size ? 64u - (unsigned)__builtin_clzll(size) : 0u;
}

/* The largest single allocations: one entry per (size, stack), the
 * MP_LARGEST_KEPT largest sizes seen (a size equal to the smallest kept one
 * does not push it out).  An entry's counts are exact: a (size, stack) is
 * kept from its first allocation on or never. */
#define MP_LARGEST_KEPT 32
struct mp_largest {
    uint64_t size;
    uint32_t stack;
    uint64_t calls;                     /* allocations of exactly this size with this stack */
    uint64_t live_blocks;               /* of them, held now (at the end: leaked) */
};

/* One RSS sample with the heap level at the same point of the event stream. */
struct mp_sample {
    uint64_t time_ns;
    uint64_t rss_bytes;
    uint64_t heap_bytes;
    uint64_t alloc_calls, allocated_bytes; /* allocations so far (the rate is their slope) */
    uint64_t heap_max_bytes;  /* the most the heap held after the previous sample,
                                 up to this one (>= heap_bytes): a peak between
                                 two samples is not lost, and the first sample
                                 with the highest heap_max_bytes is where the
                                 heap peak happened */
};

struct mp_profile *mp_profile_new(mp_resolve_fn resolve, void *resolve_ctx);
void mp_profile_free(struct mp_profile *p);
/* Forget every event and stack (the target exec'd a new image). */
void mp_profile_reset(struct mp_profile *p);
/* Returns 0, or -1 when out of memory (the event is counted in totals only). */
int mp_profile_add(struct mp_profile *p, const struct mp_event *ev);
/* The target's code in [lo, hi) is gone (a library closed): stacks through
 * it keep their lines, but a return address there is new code from now on,
 * resolved again when it is next seen. */
void mp_profile_forget_code(struct mp_profile *p, uint64_t lo, uint64_t hi);

/* A hint that an event about this block address comes soon (the caller
 * looks a few events ahead): its table slot starts loading into the cache. */
void mp_profile_prefetch(const struct mp_profile *p, uint64_t addr);

const struct mp_totals *mp_profile_totals(const struct mp_profile *p);
size_t mp_profile_line_count(const struct mp_profile *p);
/* Line i.  Its inclusive counters are written when a line is read after
 * events (not at each event): a pointer kept across events shows them as
 * they were at the last read.  Not to be called while another thread adds
 * events to p. */
const struct mp_line_stats *mp_profile_line(const struct mp_profile *p, size_t i);
size_t mp_profile_stack_count(const struct mp_profile *p);
const struct mp_stack_info *mp_profile_stack(const struct mp_profile *p, size_t i);
/* The RSS timeline, in time order.  Long runs keep at most about
 * MP_TIMELINE_MAX samples: neighbours are merged (keeping the larger values,
 * so the sample where the heap peaked is never lost). */
#define MP_TIMELINE_MAX 4096
size_t mp_profile_timeline(const struct mp_profile *p, const struct mp_sample **out);
/* Threads in the order they were first seen. */
size_t mp_profile_thread_count(const struct mp_profile *p);
const struct mp_thread_stats *mp_profile_thread(const struct mp_profile *p, size_t i);
/* MP_SIZE_BUCKETS buckets. */
const struct mp_size_bucket *mp_profile_size_histogram(const struct mp_profile *p);
/* The kept largest allocations, in no particular order. */
size_t mp_profile_largest(const struct mp_profile *p, const struct mp_largest **out);

/* ---- Leak kinds ---- */

struct mp_live_block {
    uint64_t addr, size;
    uint32_t stack;
};
/* Every live block, sorted by address, in an array the caller frees (NULL
 * when there is none or on ENOMEM: *n tells). */
struct mp_live_block *mp_profile_live_blocks(const struct mp_profile *p, size_t *n, int *failed);
/* The scan's verdict: kinds[i] (enum mp_leak_kind) for blocks[i], as given
 * by mp_profile_live_blocks; summed per stack and in the totals. */
void mp_profile_set_leak_kinds(struct mp_profile *p, const struct mp_live_block *blocks, const uint8_t *kinds,
                               size_t n);
/* Marks stack i as suppressed by `rule` (copied). */
void mp_profile_suppress_stack(struct mp_profile *p, size_t i, const char *rule);
/* ---- Allocation wrappers (massif's --alloc-fn) ----
 * After the run: stacks whose user line is in a wrapper (xmalloc,
 * jv_mem_alloc, g_malloc...) are charged to the wrapper's caller, and the
 * wrapper's lines leave the inclusive counters.  Wrappers are the functions
 * matching one of `globs` (fnmatch on the function name), and with `detect`
 * the functions found automatically: named like an allocator (alloc, dup in
 * the name), all of whose allocations come from one line of theirs, that
 * never lead to an allocation elsewhere, and that have a caller to charge. */
struct mp_folded {
    const char *function;
    int automatic;                /* found by detection, not by a glob */
    uint64_t calls;               /* allocator calls (and mappings) moved to callers */
};
/* 0, or -1 on ENOMEM (the profile is then unchanged). */
int mp_profile_fold(struct mp_profile *p, const char *const *globs, size_t n_globs, int detect);
/* The wrappers folded, by name. */
size_t mp_profile_folded(const struct mp_profile *p, const struct mp_folded **out);

/* ---- Restoring a saved profile (memprof report, memprof diff) ----
 * A profile made with mp_profile_new(NULL, NULL) is filled from a saved
 * report instead of events: the loader creates lines and stacks and sets
 * their counters itself. */

/* Interned copy of s, valid while p lives (NULL stays NULL). */
const char *mp_profile_intern(struct mp_profile *p, const char *s);
/* The line record with this key, created zeroed on first use; NULL on
 * ENOMEM.  The caller fills its counters; strings it stores must come from
 * mp_profile_intern.  `module` only matters when file is NULL. */
struct mp_line_stats *mp_profile_restore_line(struct mp_profile *p, const char *file, int line,
                                              const char *function, const char *module);
/* Index of a line record returned by mp_profile_restore_line. */
uint32_t mp_profile_line_index(const struct mp_profile *p, const struct mp_line_stats *l);
/* A stack of line indices (innermost first) with its counters; its index,
 * or UINT32_MAX on ENOMEM. */
uint32_t mp_profile_restore_stack(struct mp_profile *p, const uint32_t *frame_lines, uint32_t n_frames,
                                  const struct mp_stack_info *counters);
struct mp_totals *mp_profile_restore_totals(struct mp_profile *p);
int mp_profile_restore_sample(struct mp_profile *p, const struct mp_sample *s);
/* Appends a thread record (0, or -1 on ENOMEM). */
int mp_profile_restore_thread(struct mp_profile *p, const struct mp_thread_stats *t);
/* The histogram, writable (MP_SIZE_BUCKETS buckets). */
struct mp_size_bucket *mp_profile_restore_histogram(struct mp_profile *p);
/* Appends an entry of the largest list; -1 when MP_LARGEST_KEPT are there
 * already or its stack does not exist. */
int mp_profile_restore_largest(struct mp_profile *p, const struct mp_largest *e);
/* A folded wrapper, as a saved report lists it (the name is interned). */
int mp_profile_restore_folded(struct mp_profile *p, const struct mp_folded *f);

#endif
