/* memprof agent: the interposed C malloc family and the record-writing hot
 * path.
 *
 * Every exported function forwards to the allocator the program would have
 * used (agent_forward.c) and, when recording, writes MP_REC_ALLOC /
 * MP_REC_FREE records into the shared ring (see ring.h) with valgrind's
 * counting convention (see memprof/event.h).  Only the outermost allocator
 * call of a thread is recorded: agent_busy is set while the next allocator
 * runs, so libstdc++'s operator new calling malloc, or an allocator calling
 * itself, counts once.  A free reserves its slot before the memory is
 * released; an allocation reserves after the allocator returned, so
 * addresses stay consistent across threads.  While the process has one
 * thread, allocations of known stacks and frees go out in batches, many
 * events a record (agent_batch.c).
 *
 * The hot path takes no locks and makes no syscalls: one acquire load of the
 * agent state, a thread-local guard, libunwind's cached unw_backtrace
 * (under a fault guard: agent_unwind.c), one
 * fetch_add on the ring head, the slot's claim (ring.h, Holes) and a
 * release store on the slot.  Each record carries the cached pid, so one
 * ring serves a whole process tree. */
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
#include "events/ring_wait.h"

/* Frames unw_backtrace may report above the caller: libunwind's and ours. */
#define UNWIND_SKIP_SLACK 16

/* How long a writer tries to get a position the reader reaches (the
 * reader sets a head the target wrote over back within milliseconds)
 * before it drops its record. */
#define UNREACHABLE_BUDGET_NS (1000 * 1000 * 1000ull)

__thread uint32_t agent_tid;

static inline uint32_t current_tid(void)
{
    if (unlikely(agent_tid == 0))
        agent_tid = (uint32_t)syscall(SYS_gettid);
    return agent_tid;
}

/* ---- ring writer ------------------------------------------------------ */

/* Records this process dropped and has not reported yet (MP_REC_DROPS),
 * and whether the last writer that waited for a reachable position gave
 * up (then the next ones wait a 200th of the budget): the agent's own
 * memory, not the header's (ring.h, Trust). */
_Atomic uint64_t agent_drops_unreported;
static _Atomic int ring_unreachable;

/* Can the reader reach `pos`: not behind the tail it published, not
 * further ahead than writers can be (see ring.h, Trust). */
static inline int position_reachable(uint64_t pos, uint64_t tail)
{
    return pos < MP_RING_POS_LIMIT && pos - tail <= agent_ring_mask + 1 + MP_RING_MAX_WAITERS;
}

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* How long a writer sleeps at most for the reader to make room: it is
 * woken as soon as the reader has (ring_wait.h). */
#define WRITER_NAP_NS (200 * 1000)

static void back_off(unsigned attempt, struct mp_ring_record *slot, uint64_t pos)
{
    if (attempt < 64)
        __builtin_ia32_pause();
    else if (attempt < 96)
        sched_yield();
    else
        mp_ring_writer_sleep(agent_ring, &slot->seq, pos, WRITER_NAP_NS);
}

/* The slot at `pos` is not free for this lap, or `pos` is one no honest
 * writer gets.
 * - The ring is full (the slot holds a record of the previous lap that the
 *   reader has not consumed): wait (never drop): spin, yield, then sleep.
 * - The slot is exactly one lap ahead: memprof revoked it (it took this
 *   thread for dead and counted the record: ring.h, Holes), which it does
 *   only after a second at least; sooner than that, the position is one
 *   the reader had passed already (the target moved the head back): take
 *   a new one.
 * - A position the reader never reaches (the target moved the head far
 *   ahead, see position_reachable): take a new one once the reader has
 *   set the head back.  None within UNREACHABLE_BUDGET_NS: the record is
 *   dropped and counted (reported in an MP_REC_DROPS record).
 * NULL when the record must not be written (those cases, or memprof no
 * longer traces this process: nobody reads, the agent stops recording). */
#define REVOKE_MIN_NS (1000 * 1000 * 1000ull) /* ring_guard.c: UNCLAIMED_GRACE_NS */

__attribute__((noinline, cold)) static struct mp_ring_record *reserve_slow(uint64_t *pos_io)
{
    int saved_errno = errno;
    uint64_t pos = *pos_io;
    struct mp_ring_record *slot = &agent_records[pos & agent_ring_mask], *result = NULL;
    uint64_t reserved_ns = monotonic_ns(), unreachable_since = 0;
    atomic_fetch_add_explicit(&agent_ring->writer_waits, 1, memory_order_relaxed);
    mp_ring_wake_reader(agent_ring); /* full: an idle reader's nap ends now */
    for (unsigned attempt = 0;; attempt++) {
        uint64_t seq = atomic_load_explicit(&slot->seq, memory_order_acquire);
        if (seq == pos && pos < MP_RING_POS_LIMIT) {
            result = slot;
            break;
        }
        uint64_t tail = atomic_load_explicit(&agent_ring->tail, memory_order_acquire);
        int renew = 0;
        if (seq == pos + agent_ring_mask + 1) {
            if (monotonic_ns() - reserved_ns >= REVOKE_MIN_NS)
                break; /* revoked */
            renew = 1;
        } else if (!position_reachable(pos, tail)) {
            uint64_t head = atomic_load_explicit(&agent_ring->head, memory_order_acquire);
            renew = position_reachable(head, tail); /* set back by the reader */
            uint64_t now = monotonic_ns();
            if (!renew && !unreachable_since)
                unreachable_since = now;
            /* after a writer gave up, the next ones wait a few milliseconds only */
            uint64_t budget = atomic_load_explicit(&ring_unreachable, memory_order_relaxed)
                                  ? UNREACHABLE_BUDGET_NS / 200
                                  : UNREACHABLE_BUDGET_NS;
            if (!renew && now - unreachable_since > budget) {
                atomic_store_explicit(&ring_unreachable, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&agent_drops_unreported, 1, memory_order_relaxed);
                break;
            }
        }
        if (renew) {
            pos = atomic_fetch_add_explicit(&agent_ring->head, 1, memory_order_relaxed);
            slot = &agent_records[pos & agent_ring_mask];
            reserved_ns = monotonic_ns();
            unreachable_since = 0;
        }
        /* nobody reads any more: memprof let this process go (or died) */
        unsigned every = atomic_load_explicit(&agent_ring->closed, memory_order_relaxed) ? 255 : 4095;
        if ((attempt & every) == every && !agent_memprof_traces()) {
            atomic_store(&agent_state, AGENT_DISABLED);
            break;
        }
        if (!renew)
            back_off(attempt, slot, pos);
    }
    if (result) {
        atomic_store_explicit(&ring_unreachable, 0, memory_order_relaxed);
        *pos_io = pos;
    }
    errno = saved_errno;
    return result;
}

/* A slot for this thread's next record, claimed (ring.h, Holes); NULL when
 * the record must be dropped (see reserve_slow). */
static inline struct mp_ring_record *reserve_claimed(uint64_t *pos_out, uint32_t pid)
{
    uint64_t pos = atomic_fetch_add_explicit(&agent_ring->head, 1, memory_order_relaxed);
    struct mp_ring_record *slot = &agent_records[pos & agent_ring_mask];
    if (unlikely(atomic_load_explicit(&slot->seq, memory_order_acquire) != pos || pos >= MP_RING_POS_LIMIT) &&
        !(slot = reserve_slow(&pos)))
        return NULL;
    atomic_store_explicit(&slot->claim_pid, pid, memory_order_relaxed);
    atomic_store_explicit(&slot->claim, mp_ring_claim(pos, current_tid()), memory_order_release);
    /* The next position's slot, most likely this thread's next record:
     * fetched for writing now (the reader wrote it last, on the other
     * core), so the next record does not wait for it.  A hint only
     * (prefetchw: a no-op where the processor lacks it). */
    __asm__ volatile("prefetchw %0" ::"m"(*(const char *)&agent_records[(pos + 1) & agent_ring_mask]));
    *pos_out = pos;
    return slot;
}

static inline void commit_slot(struct mp_ring_record *slot, uint64_t pos);
static inline void fill_stackless(struct mp_ring_record *slot, enum mp_rec_kind kind, const void *addr);

/* Reports the records dropped so far in an MP_REC_DROPS record (kept for
 * the next try if that one cannot be written either). */
void agent_report_drops(void)
{
    uint64_t n = atomic_exchange_explicit(&agent_drops_unreported, 0, memory_order_relaxed);
    uint32_t pid = *agent_pid_cell;
    if (!n || !agent_ring || atomic_load(&agent_state) != AGENT_ENABLED || pid == 0)
        return;
    uint64_t pos;
    struct mp_ring_record *slot = reserve_claimed(&pos, pid);
    if (!slot) {
        atomic_fetch_add_explicit(&agent_drops_unreported, n, memory_order_relaxed);
        return;
    }
    fill_stackless(slot, MP_REC_DROPS, NULL);
    slot->size = n;
    commit_slot(slot, pos);
}

static inline struct mp_ring_record *reserve_slot(uint64_t *pos_out)
{
    uint32_t pid = *agent_pid_cell;
    if (unlikely(pid == 0) && !(pid = agent_refresh_pid()))
        return NULL; /* a clone() child memprof does not follow */
    if (unlikely(atomic_load_explicit(&agent_drops_unreported, memory_order_relaxed) != 0))
        agent_report_drops();
    if (unlikely(agent_batch.words != 0)) /* the thread's earlier events go first (agent_batch.c) */
        agent_batch_flush();
    if (unlikely(atomic_load_explicit(&agent_batch_claimed, memory_order_relaxed) == pid) &&
        agent_batch.pid != pid)
        agent_batch_take_over(pid); /* and another thread's (agent_batch.c) */
    return reserve_claimed(pos_out, pid);
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
    slot->pid = *agent_pid_cell;
    slot->addr = (uint64_t)(uintptr_t)addr;
    slot->size = 0;
    slot->nframes = 0;
    slot->truncated = 0;
}

void agent_post_hello(void)
{
    uint64_t pos;
    struct mp_ring_record *slot = reserve_slot(&pos);
    if (!slot)
        return;
    fill_stackless(slot, MP_REC_HELLO, NULL);
    slot->size = MP_RING_BYTES(agent_ring_mask + 1);
    commit_slot(slot, pos);
}

/* ---- records ---------------------------------------------------------- */

_Static_assert(AGENT_STACK_IDS == MP_RING_STACK_IDS, "the reader takes every id the agent gives");
_Static_assert(AGENT_STACK_MAX_FRAMES == MP_MAX_FRAMES, "a named stack fits a record");

/* A record that names a stack (agent_stacks.c): addr = its id. */
static int post_stack(uint32_t id, const uint64_t *frames, uint32_t n, uint32_t truncated)
{
    uint64_t pos;
    struct mp_ring_record *slot = reserve_slot(&pos);
    if (unlikely(!slot))
        return 0;
    fill_stackless(slot, MP_REC_STACK, (const void *)(uintptr_t)id);
    slot->nframes = n;
    slot->truncated = truncated;
    memcpy(slot->frames, frames, (size_t)n * sizeof *frames);
    commit_slot(slot, pos);
    return 1;
}

/* An allocation whose stack the table knows (or learns now): an
 * MP_REC_ALLOC_ID record; a stack the table has no room for travels
 * whole in an MP_REC_ALLOC record. */
__attribute__((noinline)) static void record_alloc_id(void *const *pcs, uint32_t n, uint32_t truncated,
                                                      const void *addr, size_t size, int skip)
{
    const uint64_t *frames = (const uint64_t *)pcs;
    uint32_t pid = *agent_pid_cell;
    /* the very frames of this thread's last allocation: its id */
    uint32_t id = truncated & MP_REC_TRUNC_FAULT ? 0 : agent_fast_same_stack(pid);
    if (id == 0) {
        struct agent_stack_claim claim;
        uint64_t fold;
        uint64_t hash = truncated == 0 && agent_fast_stack_fold(skip, (int)n, &fold)
                            ? agent_stack_hash_end(fold, n, truncated) /* the walk kept it */
                            : agent_stack_hash(frames, n, truncated);
        id = agent_stacks_find(agent_stack_table, frames, n, truncated, hash, &claim);
        if (id == 0 && claim.entry) {
            if (!post_stack(claim.entry->id, frames, n, truncated)) {
                agent_stacks_abandon(&claim);
                return; /* the ring takes nothing from this thread now (reserve_slot) */
            }
            id = claim.entry->id;
            agent_stacks_publish(&claim);
        }
        if (id != 0 && !(truncated & MP_REC_TRUNC_FAULT))
            agent_fast_note_stack(id, pid);
    }
    if (id != 0 && likely(agent_batch_alloc(addr, size, id, pid)))
        return; /* in the batch (agent_batch.c) */
    uint64_t pos;
    struct mp_ring_record *slot = reserve_slot(&pos);
    if (unlikely(!slot))
        return;
    fill_stackless(slot, id ? MP_REC_ALLOC_ID : MP_REC_ALLOC, addr);
    slot->size = size;
    if (id) {
        slot->stack_id = id;
    } else {
        slot->nframes = n;
        slot->truncated = truncated;
        memcpy(slot->frames, frames, (size_t)n * sizeof *frames);
    }
    commit_slot(slot, pos);
}

#define pc_in agent_pc_in

/* Captures the caller's stack and writes an ALLOC (or MAP...) record.
 * noinline keeps the unwind buffer off the stack frames of the exported
 * functions. */
__attribute__((noinline)) void agent_record_stack(uint32_t kind, const void *addr, size_t size)
{
    if (unlikely(agent_py_frames_on)) {
        agent_py_record_stack(kind, addr, size); /* Python frames: agent_pyframes.c */
        return;
    }
    int saved_errno = errno;
    void *pcs[MP_MAX_FRAMES + UNWIND_SKIP_SLACK + 1];
    int faulted = 0;
    int n = agent_backtrace(pcs, (int)(sizeof pcs / sizeof pcs[0]), &faulted);
    int skip = 0;
    while (skip < n && pc_in(agent_unwinder_text, agent_unwinder_text_count,
                             (uintptr_t)pcs[skip]))
        skip++;
    while (skip < n && pc_in(agent_own_text, agent_own_text_count, (uintptr_t)pcs[skip]))
        skip++;
    int nframes = n - skip;
    uint32_t truncated = faulted ? MP_REC_TRUNC_FAULT : 0;
    if (nframes > MP_MAX_FRAMES) {
        nframes = MP_MAX_FRAMES;
        truncated |= 1;
    }

    if (likely(kind == MP_REC_ALLOC && agent_stack_table != NULL)) {
        record_alloc_id(pcs + skip, (uint32_t)nframes, truncated, addr, size, skip);
        errno = saved_errno;
        return;
    }
    uint64_t pos;
    struct mp_ring_record *slot = reserve_slot(&pos);
    if (unlikely(!slot)) {
        errno = saved_errno;
        return;
    }
    slot->kind = kind;
    slot->tid = current_tid();
    slot->pid = *agent_pid_cell;
    slot->addr = (uint64_t)(uintptr_t)addr;
    slot->size = size;
    slot->nframes = (uint32_t)nframes;
    slot->truncated = truncated;
    memcpy(slot->frames, pcs + skip, (size_t)nframes * sizeof(uint64_t));
    commit_slot(slot, pos);
    errno = saved_errno;
}

/* A FREE record carries one frame: where free (or realloc, or delete) was
 * called from, so the report can show the line that released the memory. */
static inline void fill_free(struct mp_ring_record *slot, const void *addr, const void *site)
{
    fill_stackless(slot, MP_REC_FREE, addr);
    slot->nframes = 1;
    slot->frames[0] = (uint64_t)(uintptr_t)site;
}

void agent_record_free(const void *addr, const void *site)
{
    if (likely(agent_batch_free(addr, site)))
        return; /* in the batch (agent_batch.c) */
    /* before the slot is reserved: reading Python frames may describe a
     * code object, which takes slots of its own */
    site = agent_free_site(site);
    uint64_t pos;
    struct mp_ring_record *slot = reserve_slot(&pos);
    if (unlikely(!slot))
        return;
    fill_free(slot, addr, site);
    commit_slot(slot, pos);
}

/* The batch's record: the area says which position holds its words
 * while the slot is committed, so memprof, reading the area of a process
 * that died meanwhile, knows whether the ring has them (ring.h). */
void agent_post_batch(struct mp_ring_pending *area, const uint64_t *words, uint32_t n)
{
    uint64_t pos;
    /* posting: a memprof that lets the process go while it waits for a
     * slot leaves the words to it (ring_pending.c) */
    atomic_store_explicit(&area->pos, MP_RING_PENDING_POSTING, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
    struct mp_ring_record *slot = reserve_slot(&pos);
    if (unlikely(!slot)) {
        atomic_store_explicit(&area->pos, 0, memory_order_relaxed);
        return;
    }
    fill_stackless(slot, MP_REC_BATCH, NULL);
    slot->nframes = n;
    memcpy(slot->frames, words, (size_t)n * sizeof *words);
    atomic_store_explicit(&area->pos, pos + 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
    commit_slot(slot, pos);
    atomic_signal_fence(memory_order_seq_cst);
    atomic_store_explicit(&area->words, 0, memory_order_relaxed);
    atomic_store_explicit(&area->pos, 0, memory_order_relaxed);
}

uint64_t agent_reserve(void)
{
    uint64_t pos;
    return reserve_slot(&pos) ? pos : AGENT_NO_SLOT;
}

void agent_commit_free(uint64_t pos, const void *addr, const void *site)
{
    if (unlikely(pos == AGENT_NO_SLOT))
        return;
    struct mp_ring_record *slot = &agent_records[pos & agent_ring_mask];
    if (addr)
        fill_free(slot, addr, site);
    else
        fill_stackless(slot, MP_REC_NOP, NULL);
    commit_slot(slot, pos);
}

void agent_commit_range(uint64_t pos, uint32_t kind, const void *addr, uint64_t size, uint32_t flags)
{
    if (unlikely(pos == AGENT_NO_SLOT))
        return;
    struct mp_ring_record *slot = &agent_records[pos & agent_ring_mask];
    fill_stackless(slot, kind, addr);
    slot->size = size;
    slot->truncated = flags;
    commit_slot(slot, pos);
}

struct mp_ring_record *agent_reserve_slot(uint64_t *pos)
{
    struct mp_ring_record *slot = reserve_slot(pos);
    if (slot) {
        slot->tid = current_tid();
        slot->pid = *agent_pid_cell;
    }
    return slot;
}

void agent_commit_slot(struct mp_ring_record *slot, uint64_t pos)
{
    commit_slot(slot, pos);
}

/* ---- interposed functions --------------------------------------------- */

/* malloc inside a recorded operator new: see AGENT_BUSY_IN_NEW. */
__attribute__((noinline, cold)) static void *malloc_in_new(size_t size)
{
    void *p = next_malloc(size);
    agent_new_inner = p;
    agent_new_inner_size = size;
    return p;
}

EXPORT void *malloc(size_t size)
{
    if (!should_record()) {
        if (unlikely(agent_busy == AGENT_BUSY_IN_NEW))
            return malloc_in_new(size);
        return next_malloc(size);
    }
    agent_busy = 1;
    void *p = next_malloc(size);
    if (likely(p != NULL))
        agent_record_alloc(p, size);
    agent_busy = 0;
    return p;
}

EXPORT void free(void *ptr)
{
    if (ptr == NULL)
        return;
    if (!should_record()) {
        agent_batch_flush_waiting(); /* no longer recorded: what waits goes now */
        next_free(ptr);
        return;
    }
    agent_busy = 1;
    if (likely(!agent_is_boot(ptr)))
        agent_record_free(ptr, __builtin_return_address(0)); /* before the block is released */
    next_free(ptr);
    agent_busy = 0;
}

EXPORT void *calloc(size_t n, size_t size)
{
    if (!should_record())
        return agent_next.calloc(n, size);
    int dtv = unlikely(size == 16 && n > agent_tls_modules) &&
              pc_in(agent_loader_text, agent_loader_text_count, (uintptr_t)__builtin_return_address(0));
    if (unlikely(dtv)) /* a thread is being created: nothing may wait in a batch (agent_batch.c) */
        agent_batch_stop();
    agent_busy = 1;
    void *p = agent_next.calloc(n, size);
    size_t recorded = n * size; /* success implies no overflow */
    if (unlikely(dtv))
        recorded = (n - agent_tls_modules) * size; /* a DTV: see agent_internal.h */
    if (p != NULL)
        agent_record_alloc(p, recorded);
    agent_busy = 0;
    return p;
}

/* A block from the bootstrap arena moves to the real allocator: never
 * recorded (only dlsym's own blocks live there). */
static void *realloc_boot(void *old, size_t size)
{
    void *p = next_malloc(size);
    if (p) {
        size_t have = agent_boot_size(old);
        memcpy(p, old, have < size ? have : size);
    }
    return p;
}

/* realloc of a live block: FREE(old) goes into a slot reserved before the
 * real realloc runs, ALLOC(result) into one reserved after.  site: the
 * caller's return address, for the FREE of the old block. */
static inline void *realloc_entry(void *ptr, size_t size, const void *site)
{
    if (unlikely(agent_is_boot(ptr)))
        return realloc_boot(ptr, size);
    if (!should_record())
        return agent_next.realloc(ptr, size);
    agent_busy = 1;
    void *result;
    if (ptr == NULL) {
        result = agent_next.realloc(NULL, size);
    } else if (agent_batch_open(*agent_pid_cell) && !agent_py_frames_on) {
        /* one thread: the FREE goes into the batch after the call, in
         * order before the ALLOC (agent_batch.c) */
        result = agent_next.realloc(ptr, size);
        if (size == 0 || result != NULL)
            agent_record_free(ptr, site);
    } else {
        site = agent_free_site(site); /* before the slot is reserved */
        uint64_t free_pos = agent_reserve();
        result = agent_next.realloc(ptr, size);
        /* glibc, jemalloc, tcmalloc: realloc(p, 0) frees p and may return
         * NULL.  Otherwise NULL means failure and p lives on. */
        agent_commit_free(free_pos, size == 0 || result != NULL ? ptr : NULL, site);
    }
    if (result != NULL)
        agent_record_alloc(result, size);
    agent_busy = 0;
    return result;
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

/* The aligned family: one allocation of the requested size each. */
#define RECORDED_CALL(call, size)                \
    do {                                         \
        if (!should_record())                    \
            return call;                         \
        agent_busy = 1;                          \
        void *p_ = call;                         \
        if (p_ != NULL)                          \
            agent_record_alloc(p_, size);        \
        agent_busy = 0;                          \
        return p_;                               \
    } while (0)

EXPORT void *memalign(size_t alignment, size_t size)
{
    RECORDED_CALL(agent_next.memalign(alignment, size), size);
}

EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
    RECORDED_CALL(agent_next.aligned_alloc(alignment, size), size);
}

EXPORT void *valloc(size_t size)
{
    RECORDED_CALL(agent_next.valloc(size), size);
}

EXPORT void *pvalloc(size_t size)
{
    RECORDED_CALL(agent_next.pvalloc(size), size);
}

EXPORT int posix_memalign(void **memptr, size_t alignment, size_t size)
{
    if (!should_record())
        return agent_next.posix_memalign(memptr, alignment, size);
    agent_busy = 1;
    int rc = agent_next.posix_memalign(memptr, alignment, size);
    if (rc == 0)
        agent_record_alloc(*memptr, size);
    agent_busy = 0;
    return rc;
}

EXPORT size_t malloc_usable_size(void *ptr)
{
    if (unlikely(agent_is_boot(ptr)))
        return agent_boot_size(ptr);
    return ptr ? agent_next.malloc_usable_size(ptr) : 0;
}
