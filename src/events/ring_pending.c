/* memprof: the pending batches of processes that can no longer run.
 *
 * A single-threaded process's agent keeps the events it has not written
 * yet in an area of the ring's pending table (ring.h, struct
 * mp_ring_pending; src/capture/agent/agent_batch.c), so they outlive the
 * process.  When the process can no longer run (its exit stop, its end,
 * its exec: the supervisor calls mp_ring_reader_take_pending), its area
 * is copied once, given back to the table, and, unless the ring holds its
 * words (a record at the area's pos was committed), queued as a batch
 * record in the stream's current place: after every record the process
 * wrote, before the session's news of its end.  A process let go runs
 * on with its area: its events so far are copied the same way while it
 * is stopped (mp_ring_reader_copy_pending).  At stop, the areas of
 * processes that are gone and were not taken (an end memprof did not see)
 * are delivered last.  The areas are the target's memory: only the copy
 * is read, words bounded, and the entries are checked as a record's are
 * (mp_reader_deliver_batch). */
#define _GNU_SOURCE
#include "ring_reader_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

/* The area's events the ring does not hold, as a batch record (NULL:
 * none); the area is free again unless keep (its process runs on). */
static struct mp_ring_record *take_area(struct mp_ring_reader *r, struct mp_ring_pending *area, uint32_t pid,
                                        int keep)
{
    volatile struct mp_ring_pending *shared = area;
    uint32_t words = atomic_load_explicit(&area->words, memory_order_acquire);
    uint64_t pos = atomic_load_explicit(&area->pos, memory_order_acquire);
    uint32_t tid = shared->tid;
    struct mp_ring_record *copy = NULL;
    /* pos set: the words went into the slot at pos - 1; still seq == pos
     * - 1 there, it was never committed (the reader will count it lost),
     * unless its process runs on (keep: it commits it).  POSTING: it was
     * getting a slot: one that runs on writes them itself; a dead one
     * never did (a slot it had but not noted yet is a hole, counted lost
     * too: over-counted, never missing) */
    int posting = pos == MP_RING_PENDING_POSTING;
    int in_ring = pos != 0 && (keep || (!posting && atomic_load_explicit(&mp_reader_slot(r, pos - 1)->seq,
                                                                        memory_order_acquire) != pos - 1));
    if (words != 0 && words <= MP_MAX_FRAMES && !in_ring && (copy = calloc(1, sizeof *copy)) != NULL) {
        copy->kind = MP_REC_BATCH;
        copy->pid = pid;
        copy->tid = tid;
        copy->nframes = words;
        for (uint32_t i = 0; i < words; i++)
            copy->frames[i] = shared->word[i];
    }
    if (keep)
        return copy;
    atomic_store_explicit(&area->words, 0, memory_order_relaxed);
    atomic_store_explicit(&area->pos, 0, memory_order_relaxed);
    atomic_store_explicit(&area->owner, 0, memory_order_release);
    return copy;
}

static void take_pending(struct mp_ring_reader *r, pid_t pid, int keep)
{
    if (pid <= 0)
        return;
    for (uint32_t i = 0; i < MP_RING_PENDING_AREAS; i++) {
        struct mp_ring_pending *area = mp_ring_pending_area(r->header, i);
        if (atomic_load_explicit(&area->owner, memory_order_acquire) != (uint32_t)pid)
            continue;
        struct mp_ring_record *batch = take_area(r, area, (uint32_t)pid, keep);
        if (batch)
            mp_reader_post(r, NULL, batch);
    }
}

void mp_ring_reader_take_pending(struct mp_ring_reader *r, pid_t pid)
{
    take_pending(r, pid, 0);
}

void mp_ring_reader_copy_pending(struct mp_ring_reader *r, pid_t pid)
{
    take_pending(r, pid, 1);
}

void mp_reader_take_dead_pending(struct mp_ring_reader *r)
{
    for (uint32_t i = 0; i < MP_RING_PENDING_AREAS; i++) {
        struct mp_ring_pending *area = mp_ring_pending_area(r->header, i);
        uint32_t owner = atomic_load_explicit(&area->owner, memory_order_acquire);
        if (owner == 0 || owner > (1u << 22))
            continue; /* free, or above pid_max: no process's (the target wrote it) */
        if (kill((pid_t)owner, 0) == 0 || errno != ESRCH)
            continue; /* still running (let go): it writes them itself */
        struct mp_ring_record *batch = take_area(r, area, owner, 0);
        if (batch && r->sink)
            mp_reader_deliver_batch(r, batch);
        free(batch);
    }
}
