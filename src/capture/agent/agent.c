/* memprof agent: the interposed malloc family and the record-writing hot path.
 *
 * Every exported function forwards to glibc's real allocator (__libc_malloc
 * and friends, so no dlsym bootstrap is needed) and, when recording, writes
 * MP_REC_ALLOC / MP_REC_FREE records into the shared ring (see ring.h) with
 * valgrind's counting convention (see memprof/event.h).  A free reserves its
 * slot before the memory is released; an allocation reserves after the
 * allocator returned, so addresses stay consistent across threads.
 *
 * The hot path takes no locks and makes no syscalls: one acquire load of the
 * agent state, a thread-local guard, libunwind's cached unw_backtrace, one
 * fetch_add on the ring head and a release store on the slot. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "agent_internal.h"

#define EXPORT __attribute__((visibility("default")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* glibc 2.36 exports its allocator under these names too. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

/* Frames unw_backtrace may report above the caller: libunwind's and ours. */
#define UNWIND_SKIP_SLACK 16

static __thread uint32_t cached_tid __attribute__((tls_model("initial-exec")));

static inline uint32_t current_tid(void)
{
    if (unlikely(cached_tid == 0))
        cached_tid = (uint32_t)syscall(SYS_gettid);
    return cached_tid;
}

/* Nonzero when this call must be recorded; initialises the agent on the
 * first call.  When it returns nonzero the caller must set agent_busy. */
static inline int should_record(void)
{
    int state = atomic_load_explicit(&agent_state, memory_order_acquire);
    if (likely(state == AGENT_ENABLED))
        return !agent_busy;
    if (state == AGENT_UNINIT && !agent_busy) {
        agent_init();
        return atomic_load_explicit(&agent_state, memory_order_acquire) == AGENT_ENABLED;
    }
    return 0;
}

/* ---- ring writer ------------------------------------------------------ */

/* The ring is full: the slot still holds a record of the previous lap that
 * the reader has not consumed.  Wait (never drop): spin, yield, then sleep. */
__attribute__((noinline, cold)) static void wait_for_free_slot(struct mp_ring_record *slot,
                                                               uint64_t pos)
{
    int saved_errno = errno;
    atomic_fetch_add_explicit(&agent_ring->writer_waits, 1, memory_order_relaxed);
    for (unsigned attempt = 0;; attempt++) {
        if (atomic_load_explicit(&slot->seq, memory_order_acquire) == pos)
            break;
        if (attempt < 64) {
            __builtin_ia32_pause();
        } else if (attempt < 96) {
            sched_yield();
        } else {
            /* Raw syscall: not a cancellation point, so a cancelled thread
             * can never die holding a reserved slot. */
            struct timespec nap = {0, 20 * 1000};
            syscall(SYS_nanosleep, &nap, NULL);
        }
    }
    errno = saved_errno;
}

static inline struct mp_ring_record *reserve_slot(uint64_t *pos_out)
{
    uint64_t pos = atomic_fetch_add_explicit(&agent_ring->head, 1, memory_order_relaxed);
    struct mp_ring_record *slot = &agent_records[pos & agent_ring_mask];
    if (unlikely(atomic_load_explicit(&slot->seq, memory_order_acquire) != pos))
        wait_for_free_slot(slot, pos);
    *pos_out = pos;
    return slot;
}

static inline void commit_slot(struct mp_ring_record *slot, uint64_t pos)
{
    atomic_store_explicit(&slot->seq, pos + 1, memory_order_release);
}

static inline void fill_stackless(struct mp_ring_record *slot, enum mp_rec_kind kind,
                                  const void *addr)
{
    slot->kind = kind;
    slot->tid = current_tid();
    slot->addr = (uint64_t)(uintptr_t)addr;
    slot->size = 0;
    slot->nframes = 0;
    slot->truncated = 0;
}

/* ---- records ---------------------------------------------------------- */

static inline int pc_in(const struct agent_text_range *ranges, int count, uintptr_t pc)
{
    for (int i = 0; i < count; i++)
        if (pc >= ranges[i].lo && pc < ranges[i].hi)
            return 1;
    return 0;
}

/* Captures the caller's stack and writes an ALLOC record.  noinline keeps
 * the unwind buffer off the stack frames of the exported functions. */
__attribute__((noinline)) static void record_alloc(const void *addr, size_t size)
{
    int saved_errno = errno;
    void *pcs[MP_MAX_FRAMES + UNWIND_SKIP_SLACK + 1];
    int n = unw_backtrace(pcs, (int)(sizeof pcs / sizeof pcs[0]));
    int skip = 0;
    while (skip < n && pc_in(agent_unwinder_text, agent_unwinder_text_count,
                             (uintptr_t)pcs[skip]))
        skip++;
    while (skip < n && pc_in(agent_own_text, agent_own_text_count, (uintptr_t)pcs[skip]))
        skip++;
    int nframes = n - skip;
    uint32_t truncated = 0;
    if (nframes > MP_MAX_FRAMES) {
        nframes = MP_MAX_FRAMES;
        truncated = 1;
    }

    uint64_t pos;
    struct mp_ring_record *slot = reserve_slot(&pos);
    slot->kind = MP_REC_ALLOC;
    slot->tid = current_tid();
    slot->addr = (uint64_t)(uintptr_t)addr;
    slot->size = size;
    slot->nframes = (uint32_t)nframes;
    slot->truncated = truncated;
    memcpy(slot->frames, pcs + skip, (size_t)nframes * sizeof(uint64_t));
    commit_slot(slot, pos);
    errno = saved_errno;
}

/* A FREE record carries one frame: where free (or realloc) was called
 * from, so the report can show the line that released the memory. */
static inline void fill_free(struct mp_ring_record *slot, const void *addr, const void *site)
{
    fill_stackless(slot, MP_REC_FREE, addr);
    slot->nframes = 1;
    slot->frames[0] = (uint64_t)(uintptr_t)site;
}

static inline void record_free(const void *addr, const void *site)
{
    uint64_t pos;
    struct mp_ring_record *slot = reserve_slot(&pos);
    fill_free(slot, addr, site);
    commit_slot(slot, pos);
}

/* realloc of a live block: FREE(old) goes into a slot reserved before the
 * real realloc runs, ALLOC(result) into one reserved after. */
static void *realloc_recorded(void *old, size_t size, const void *site)
{
    if (old == NULL) {
        void *fresh = __libc_realloc(NULL, size);
        if (fresh != NULL)
            record_alloc(fresh, size);
        return fresh;
    }
    uint64_t free_pos;
    struct mp_ring_record *free_slot = reserve_slot(&free_pos);
    void *result = __libc_realloc(old, size);
    /* glibc: realloc(p, 0) frees p and returns NULL.  Otherwise NULL means
     * failure and p lives on. */
    int old_released = size == 0 || result != NULL;
    if (old_released)
        fill_free(free_slot, old, site);
    else
        fill_stackless(free_slot, MP_REC_NOP, NULL);
    commit_slot(free_slot, free_pos);
    if (result != NULL)
        record_alloc(result, size);
    return result;
}

/* ---- interposed functions --------------------------------------------- */

EXPORT void *malloc(size_t size)
{
    if (!should_record())
        return __libc_malloc(size);
    agent_busy = 1;
    void *p = __libc_malloc(size);
    if (likely(p != NULL))
        record_alloc(p, size);
    agent_busy = 0;
    return p;
}

EXPORT void free(void *ptr)
{
    if (ptr == NULL)
        return;
    if (!should_record()) {
        __libc_free(ptr);
        return;
    }
    agent_busy = 1;
    record_free(ptr, __builtin_return_address(0));
    __libc_free(ptr);
    agent_busy = 0;
}

EXPORT void *calloc(size_t n, size_t size)
{
    if (!should_record())
        return __libc_calloc(n, size);
    agent_busy = 1;
    void *p = __libc_calloc(n, size);
    size_t recorded = n * size; /* success implies no overflow */
    if (unlikely(size == 16 && n > agent_tls_modules) &&
        pc_in(agent_loader_text, agent_loader_text_count, (uintptr_t)__builtin_return_address(0)))
        recorded = (n - agent_tls_modules) * size; /* a DTV: see agent_internal.h */
    if (p != NULL)
        record_alloc(p, recorded);
    agent_busy = 0;
    return p;
}

/* site: the caller's return address, for the FREE of the old block. */
static inline void *realloc_entry(void *ptr, size_t size, const void *site)
{
    if (!should_record())
        return __libc_realloc(ptr, size);
    agent_busy = 1;
    void *p = realloc_recorded(ptr, size, site);
    agent_busy = 0;
    return p;
}

EXPORT void *realloc(void *ptr, size_t size)
{
    return realloc_entry(ptr, size, __builtin_return_address(0));
}

EXPORT void *reallocarray(void *ptr, size_t n, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        errno = ENOMEM; /* as glibc: ptr is left untouched */
        return NULL;
    }
    return realloc_entry(ptr, bytes, __builtin_return_address(0));
}

static inline void *memalign_recorded(size_t alignment, size_t size)
{
    if (!should_record())
        return __libc_memalign(alignment, size);
    agent_busy = 1;
    void *p = __libc_memalign(alignment, size);
    if (p != NULL)
        record_alloc(p, size);
    agent_busy = 0;
    return p;
}

EXPORT void *memalign(size_t alignment, size_t size)
{
    return memalign_recorded(alignment, size);
}

/* glibc 2.36's aligned_alloc is an alias of memalign (no alignment check). */
EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
    return memalign_recorded(alignment, size);
}

EXPORT int posix_memalign(void **memptr, size_t alignment, size_t size)
{
    /* glibc: a power-of-two multiple of sizeof(void *), else EINVAL (memptr
     * untouched); ENOMEM when the allocation fails. */
    if (alignment % sizeof(void *) != 0 || alignment == 0 ||
        ((alignment / sizeof(void *)) & (alignment / sizeof(void *) - 1)) != 0)
        return EINVAL;
    void *p = memalign_recorded(alignment, size);
    if (p == NULL)
        return ENOMEM;
    *memptr = p;
    return 0;
}

EXPORT void *valloc(size_t size)
{
    if (!should_record())
        return __libc_valloc(size);
    agent_busy = 1;
    void *p = __libc_valloc(size);
    if (p != NULL)
        record_alloc(p, size);
    agent_busy = 0;
    return p;
}

EXPORT void *pvalloc(size_t size)
{
    if (!should_record())
        return __libc_pvalloc(size);
    agent_busy = 1;
    void *p = __libc_pvalloc(size);
    if (p != NULL)
        record_alloc(p, size);
    agent_busy = 0;
    return p;
}
