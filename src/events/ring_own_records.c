/* memprof: memprof's own records in the shared-memory ring.
 *
 * The supervisor's and the RSS sampler's records (RSS samples, line
 * events, the breakpoint engine's heap records, module-map notices) go
 * through the same slots as the agents', so the reader sees them in order
 * with the heap changes; and the counts of those the ring had no room
 * for.  The reader's side is ring_reader.c. */
#define _GNU_SOURCE
#include "ring_reader_internal.h"

#include <stdatomic.h>
#include <string.h>

#include "ring.h"

#define sleep_us mp_reader_sleep_us

/* memprof's own records (samples, line events) go through the same slots
 * as the agent's, so the reader sees them in order with the heap changes.
 * Unlike the agent, memprof's threads must never block on the ring (the
 * supervisor holds the target in ptrace stops, and a writer killed
 * mid-record leaves a hole the reader only passes at stop): a slot is taken
 * with compare-and-swap only when it is free, and after `wait_us` of a full
 * ring the record is dropped and counted.  0 posted, -1 dropped. */
/* While the supervisor thread waits for the ring: every millisecond, let
 * the waiter release what may hold the reader up. */
void mp_reader_waiting(struct mp_ring_reader *r, long waited_us, int supervisor)
{
    if (supervisor && r->waiter && waited_us % 1000 == 0)
        r->waiter(r->waiter_ctx);
}

static int post_record(struct mp_ring_reader *r, const struct mp_event *ev, uint32_t kind, long wait_us,
                       const _Atomic int *cancel, int supervisor)
{
    struct mp_ring_header *h = r->header;
    long waited = 0;
    /* bounded: the target may move the head or the slots all the time */
    for (unsigned tries = 0; tries < 100000; tries++) {
        uint64_t pos = atomic_load_explicit(&h->head, memory_order_acquire);
        struct mp_ring_record *slot = mp_reader_slot(r, pos);
        if (atomic_load_explicit(&slot->seq, memory_order_acquire) == pos) {
            if (!atomic_compare_exchange_weak_explicit(&h->head, &pos, pos + 1, memory_order_acq_rel,
                                                       memory_order_relaxed))
                continue; /* another writer took it first */
            atomic_store_explicit(&slot->claim_pid, ev->pid, memory_order_relaxed);
            atomic_store_explicit(&slot->claim, mp_ring_claim(pos, ev->tid), memory_order_release);
            slot->kind = kind;
            slot->tid = ev->tid;
            slot->pid = ev->pid;
            slot->addr = ev->addr;
            slot->size = ev->size;
            slot->nframes = ev->nframes;
            slot->truncated = ev->nframes ? ev->truncated : ev->flags;
            if (ev->nframes)
                memcpy(slot->frames, ev->frames, ev->nframes * sizeof *ev->frames);
            atomic_store_explicit(&slot->seq, pos + 1, memory_order_release);
            return 0;
        }
        if (atomic_load_explicit(&h->head, memory_order_acquire) != pos)
            continue; /* the head moved on: look again */
        if (waited >= wait_us || (cancel && atomic_load(cancel)))
            return -1;
        sleep_us(50);
        waited += 50;
        mp_reader_waiting(r, waited, supervisor);
    }
    return -1;
}

int mp_ring_reader_post_sample(struct mp_ring_reader *r, pid_t pid, uint64_t time_ns, uint64_t rss_bytes,
                               long wait_us, const _Atomic int *cancel)
{
    struct mp_event ev = { .pid = (uint32_t)pid, .addr = time_ns, .size = rss_bytes };
    if (post_record(r, &ev, MP_REC_SAMPLE, wait_us, cancel, 0) == 0)
        return 0;
    atomic_fetch_add(&r->dropped_samples, 1);
    return -1;
}

int mp_ring_reader_reserve(struct mp_ring_reader *r, pid_t pid, pid_t tid, uint64_t *pos)
{
    struct mp_ring_header *h = r->header;
    uint64_t p = atomic_fetch_add_explicit(&h->head, 1, memory_order_acq_rel);
    struct mp_ring_record *slot = mp_reader_slot(r, p);
    uint64_t tail = atomic_load_explicit(&r->published_tail, memory_order_acquire);
    for (long waited = 0; atomic_load_explicit(&slot->seq, memory_order_acquire) != p; waited += 50) {
        /* the reader is gone (nothing will free it), or the target moved the head */
        if (waited > 10 * 1000 * 1000 || !mp_reader_head_plausible(r, p, tail)) {
            atomic_fetch_add(&r->dropped_heap, 1);
            return -1;
        }
        sleep_us(50);
        mp_reader_waiting(r, waited + 50, 1);
    }
    /* claimed for the target's thread: the reader waits for it while it lives */
    atomic_store_explicit(&slot->claim_pid, (uint32_t)pid, memory_order_relaxed);
    atomic_store_explicit(&slot->claim, mp_ring_claim(p, (uint32_t)tid), memory_order_release);
    *pos = p;
    return 0;
}

void mp_ring_reader_commit_reserved(struct mp_ring_reader *r, uint64_t pos, const struct mp_event *ev)
{
    struct mp_ring_record *slot = mp_reader_slot(r, pos);
    slot->kind = ev ? mp_ring_kind_of(ev->kind) : MP_REC_NOP;
    slot->tid = ev ? ev->tid : 0;
    slot->pid = atomic_load_explicit(&slot->claim_pid, memory_order_relaxed);
    slot->addr = ev ? ev->addr : 0;
    slot->size = ev ? ev->size : 0;
    slot->nframes = 0;
    slot->truncated = ev ? ev->flags : 0;
    atomic_store_explicit(&slot->seq, pos + 1, memory_order_release);
}

uint32_t mp_ring_kind_of(enum mp_event_kind kind)
{
    switch (kind) {
    case MP_EV_ALLOC: return MP_REC_ALLOC;
    case MP_EV_FREE: return MP_REC_FREE;
    case MP_EV_MAP: return MP_REC_MAP;
    case MP_EV_UNMAP: return MP_REC_UNMAP;
    case MP_EV_REMAP_FROM: return MP_REC_REMAP_FROM;
    case MP_EV_REMAP_TO: return MP_REC_REMAP_TO;
    default: return MP_REC_NOP;
    }
}

int mp_ring_reader_post_heap(struct mp_ring_reader *r, const struct mp_event *ev)
{
    uint32_t kind = mp_ring_kind_of(ev->kind);
    if (ev->nframes <= MP_MAX_FRAMES && post_record(r, ev, kind, 10 * 1000 * 1000, NULL, 1) == 0)
        return 0;
    atomic_fetch_add(&r->dropped_heap, 1);
    return -1;
}

uint64_t mp_ring_reader_dropped_heap(const struct mp_ring_reader *r)
{
    return atomic_load(&r->dropped_heap);
}

int mp_ring_reader_post_line(struct mp_ring_reader *r, pid_t pid, uint32_t tid, uint64_t line_event,
                             uint64_t rss_bytes, uint64_t time_ns)
{
    struct mp_event ev = { .tid = tid, .pid = (uint32_t)pid, .addr = line_event, .size = rss_bytes, .nframes = 1,
                           .frames = &time_ns };
    if (post_record(r, &ev, MP_REC_LINE, 100 * 1000, NULL, 1) == 0)
        return 0;
    atomic_fetch_add(&r->dropped_lines, 1);
    return -1;
}

int mp_ring_reader_post_modmap(struct mp_ring_reader *r, pid_t pid, uint32_t tid)
{
    struct mp_event ev = { .tid = tid, .pid = (uint32_t)pid };
    return post_record(r, &ev, MP_REC_MODMAP, 10 * 1000 * 1000, NULL, 1);
}

void mp_ring_reader_dropped(const struct mp_ring_reader *r, uint64_t *samples, uint64_t *lines)
{
    *samples = atomic_load(&r->dropped_samples);
    *lines = atomic_load(&r->dropped_lines);
}
