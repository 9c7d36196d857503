/* memprof: the ring reader's private state, shared by ring_reader.c (the
 * memfd, the reader thread, memprof's own records, control messages) and
 * ring_guard.c (what the reader does about slots that are not committed:
 * dead writers, writers that never finish, and damage done by the target).
 *
 * Everything here is memprof's own memory: the capacity, the records'
 * address and the tail are never read back from the shared header (see
 * ring.h, Trust). */
#ifndef MEMPROF_RING_READER_INTERNAL_H
#define MEMPROF_RING_READER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ring.h"
#include "ring_reader.h"

#define MP_READER_WRITER_PIDS 16
#define MP_READER_HOLE_THREADS 512

struct control {
    uint64_t stamp;               /* the ring head when it was posted */
    void *message;
    struct mp_ring_record *batch; /* else: a dead process's pending batch, delivered here (ring_pending.c) */
    struct control *next;
};

struct mp_ring_reader {
    int fd;
    struct mp_ring_header *header;
    struct mp_ring_record *records; /* header + MP_RING_HEADER_BYTES: memprof's own pointer */
    size_t map_bytes;
    uint64_t capacity;            /* memprof's own copy (the header's may be anything) */
    uint64_t mask;                /* capacity - 1 */
    uint64_t tail;                /* next position to read; only the reader touches it */
    _Atomic uint64_t published_tail; /* tail, for memprof's other threads */
    pthread_t thread;
    int thread_running;
    _Atomic int stop_requested;
    mp_event_sink sink;
    mp_event_hint hint;
    void *sink_ctx;
    struct mp_ring_record scratch; /* copy of the record being delivered */
    struct mp_ring_stacks *stacks; /* the stacks the agents named (ring_stacks.c) */
    void *extra;                  /* mp_ring_reader_extra's part of the memfd, mapped here */
    size_t extra_bytes;
    _Atomic uint64_t dropped_samples, dropped_lines, dropped_heap; /* memprof's own records the ring had no room for */
    _Atomic uint64_t revoked;     /* slots of dead writers revoked while running */
    _Atomic int32_t frozen_pid;   /* its writers are stopped for good (mp_ring_reader_freeze_pid) */
    /* What memprof wrote into the header, in its own memory: the header's
     * copy is written again from it when the target wrote over it (an
     * agent attaching later, in an exec'd program or a fork child, reads
     * it).  Under own_lock (memprof's threads set it, the reader checks). */
    pthread_mutex_t own_lock;
    struct {
        int32_t target_pid, tree_tracer;
        uint32_t options, closed;
        int32_t skip_pids[MP_RING_SKIP_SLOTS];
    } own;
    /* the target's damage (ring.h, Trust) */
    _Atomic uint64_t damaged_records; /* records dropped because of it */
    _Atomic uint64_t damage_seen;     /* repairs made (head reset, slots, bad records) */
    _Atomic uint64_t unwind_faults;   /* stacks the agents ended at a fault (MP_REC_TRUNC_FAULT) */
    _Atomic uint64_t slots_repaired;  /* slots whose sequence number the target wrote over: a
                                         record in one then is lost, uncounted */
    /* the hole at tail, if any (ring_guard.c) */
    int stuck;
    uint64_t stuck_pos, stuck_head, stuck_since_ns, next_hole_check_ns, last_check_ns;
    uint64_t stuck_running_ns;    /* time its claiming thread was seen running */
    uint64_t stuck_writer_run_ns; /* its CPU time at the last look (UINT64_MAX: none yet) */
    /* Whose threads may hold a slot reserved and not yet claimed: the
     * processes whose records the reader took lately (ring_guard.c), and
     * the threads of those processes when such a hole's grace had passed,
     * with the time each had run by then. */
    uint32_t writer_pids[MP_READER_WRITER_PIDS];
    uint32_t last_writer_pid;
    unsigned next_writer_slot;
    int hole_baseline;            /* hole_threads taken for the hole at stuck_pos */
    size_t n_hole_threads;
    struct { uint32_t pid, tid; uint64_t run_ns; } hole_threads[MP_READER_HOLE_THREADS];
    uint64_t next_writers_check_ns;
    int repaired;                 /* repaired_pos: the last slot whose sequence number was repaired */
    uint64_t repaired_pos;
    /* control messages, in stamp order */
    pthread_mutex_t ctl_lock;
    struct control *ctl_head, *ctl_tail;
    _Atomic uint64_t ctl_next_stamp; /* stamp of ctl_head, UINT64_MAX when empty */
    uint64_t ctl_posted;             /* tickets given (under ctl_lock) */
    _Atomic uint64_t ctl_done;       /* messages handed to the sink */
    mp_control_sink control_sink;
    mp_ring_waiter waiter;        /* called while the supervisor thread waits (see ring_reader.h) */
    void *waiter_ctx;
    /* The Python code description being assembled from MP_REC_PYCODE chunks. */
    uint8_t *pycode;
    uint64_t pycode_id;
    uint32_t pycode_len, pycode_have, pycode_next_chunk;
    uint64_t pycode_broken;       /* descriptions that arrived incomplete (a writer died) */
};

static inline struct mp_ring_record *mp_reader_slot(const struct mp_ring_reader *r, uint64_t pos)
{
    return &r->records[pos & r->mask];
}

/* Is `head` (read from the shared header) a position writers can hold? */
static inline int mp_reader_head_plausible(const struct mp_ring_reader *r, uint64_t head, uint64_t tail)
{
    return head - tail <= r->capacity + MP_RING_MAX_WAITERS;
}

void mp_reader_sleep_us(long us);
/* While a supervisor thread waits for the ring: every millisecond, lets the
 * waiter release what may hold the reader up (ring_own_records.c). */
void mp_reader_waiting(struct mp_ring_reader *r, long waited_us, int supervisor);
uint64_t mp_reader_now_ns(void);

/* ---- ring_guard.c ---- */

/* The record at tail is not committed and head (the shared head, read
 * now) says what writers reserved.  Repairs what the target damaged (a
 * head it moved, a sequence number that cannot be there), revokes the
 * slot of a writer that died or never finishes, and a run of positions
 * reserved and never claimed.  1 when it changed something (look again). */
int mp_reader_guard(struct mp_ring_reader *r, uint64_t head);
/* The header's fixed words (magic, version, sizes, capacity, the pids,
 * options, the skip table, closed) as memprof wrote them: written again,
 * and counted as damage, when the target changed them.  1 if it had. */
int mp_reader_check_header(struct mp_ring_reader *r);
/* The record just taken came from process pid (cheap when it is the last
 * one's): remembered as a process that writes to the ring. */
void mp_reader_note_writer_slow(struct mp_ring_reader *r, uint32_t pid);
static inline void mp_reader_note_writer(struct mp_ring_reader *r, uint32_t pid)
{
    if (pid != r->last_writer_pid)
        mp_reader_note_writer_slow(r, pid);
}
/* The final drain's bound: head if plausible, else tail + capacity
 * (counted as damage). */
uint64_t mp_reader_drain_end(struct mp_ring_reader *r, uint64_t head);
/* The target damaged the ring: `records` records dropped because of it
 * (0: a repair that lost none).  Counted apart from the writers that died
 * (MP_EV_LOST): the report says the target damaged the ring. */
void mp_reader_count_damage(struct mp_ring_reader *r, uint64_t records);

/* Queues a control in the stream's current place: the session's message,
 * or (message NULL) a batch record to deliver there (ring_pending.c). */
uint64_t mp_reader_post(struct mp_ring_reader *r, void *message, struct mp_ring_record *batch);
/* Hands the events of an MP_REC_BATCH record (copied, nframes bounded) to
 * the sink, in order. */
void mp_reader_deliver_batch(struct mp_ring_reader *r, const struct mp_ring_record *rec);
/* At stop: the batches of processes that are gone and were not taken
 * (ring_pending.c). */
void mp_reader_take_dead_pending(struct mp_ring_reader *r);

#endif
