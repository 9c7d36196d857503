/* memprof: waiting on the ring without sleeping blind.
 *
 * A writer that finds the ring full (ring.h) spins a little, yields, and
 * then sleeps on a futex in the ring's header (writers_wake) after saying
 * so (the writers_asleep flag); the reader, each time it publishes its tail (room
 * made), wakes the sleeping writers at once instead of letting each sleep
 * out a fixed nap.  The reader, idle, sleeps on its own futex word
 * (reader_asleep); a writer that finds the ring full wakes it, so a ring
 * does not stay full for the rest of an idle reader's nap.
 *
 * The words are shared memory the target can write: they are hints.
 * Every wait has a timeout (a wake-up lost to a scribbled word costs that
 * timeout, never a hang), the reader takes nothing from them but whether
 * to make one wake-up system call, and a reader whose nap ended early
 * without a record to read takes its next nap plainly (a target cannot
 * make it spin).
 * The ring is a MAP_SHARED memfd in both processes: the futexes are
 * shared ones (not FUTEX_PRIVATE_FLAG).  Raw system calls: not
 * cancellation points, so a cancelled writer never dies holding a slot. */
#ifndef MEMPROF_RING_WAIT_H
#define MEMPROF_RING_WAIT_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "events/ring.h"

static inline long mp_ring_futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *timeout)
{
    return syscall(SYS_futex, (uint32_t *)word, op, val, timeout, NULL, 0);
}

/* Writer: the reader sleeps idle while the ring is full: wake it. */
static inline void mp_ring_wake_reader(struct mp_ring_header *h)
{
    if (atomic_load_explicit(&h->reader_asleep, memory_order_relaxed) != 0 &&
        atomic_exchange_explicit(&h->reader_asleep, 0, memory_order_seq_cst) != 0)
        mp_ring_futex(&h->reader_asleep, FUTEX_WAKE, 1, NULL);
}

/* Writer: sleep until the reader makes room (or timeout_ns passed), unless
 * the slot at pos is free already.  writers_asleep is a flag, not a count:
 * each sleeper sets it, the reader takes it back (an exchange) and wakes
 * them all.  So nothing a writer must undo after its sleep: one that
 * siglongjmps out of it, or a target that writes the word, costs the
 * reader one wake-up call, not one at every tail it publishes. */
static inline void mp_ring_writer_sleep(struct mp_ring_header *h, _Atomic uint64_t *slot_seq, uint64_t pos,
                                        long timeout_ns)
{
    uint32_t wake = atomic_load_explicit(&h->writers_wake, memory_order_acquire);
    atomic_store_explicit(&h->writers_asleep, 1, memory_order_seq_cst);
    mp_ring_wake_reader(h);
    if (atomic_load_explicit(slot_seq, memory_order_seq_cst) != pos) {
        struct timespec nap = {timeout_ns / 1000000000L, timeout_ns % 1000000000L};
        mp_ring_futex(&h->writers_wake, FUTEX_WAIT, wake, &nap);
    }
}

/* Reader, after it published its tail: wake the writers that sleep (the
 * flag taken back first: one that sets it again after this sees the room
 * made, or a new writers_wake, before it sleeps). */
static inline void mp_ring_wake_writers(struct mp_ring_header *h)
{
    atomic_thread_fence(memory_order_seq_cst); /* the slots freed before the flag is read */
    if (atomic_load_explicit(&h->writers_asleep, memory_order_relaxed) != 0 &&
        atomic_exchange_explicit(&h->writers_asleep, 0, memory_order_seq_cst) != 0) {
        atomic_fetch_add_explicit(&h->writers_wake, 1, memory_order_release);
        mp_ring_futex(&h->writers_wake, FUTEX_WAKE, INT_MAX, NULL);
    }
}

/* Reader, idle: sleep up to us microseconds or until a writer wakes it.
 * 0 when the time was up, 1 when it came back early (woken, or the word
 * was not what it stored). */
static inline int mp_ring_reader_nap(struct mp_ring_header *h, long us)
{
    atomic_store_explicit(&h->reader_asleep, 1, memory_order_seq_cst);
    struct timespec nap = {us / 1000000, (us % 1000000) * 1000};
    long rc = mp_ring_futex(&h->reader_asleep, FUTEX_WAIT, 1, &nap);
    int timed_out = rc != 0 && errno == ETIMEDOUT;
    atomic_store_explicit(&h->reader_asleep, 0, memory_order_relaxed);
    return !timed_out;
}

#endif
