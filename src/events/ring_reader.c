/* memprof: the supervisor's side of the shared-memory ring.
 *
 * Owns the memfd (created here, inherited by the target), the header
 * initialisation, and the single reader: a background thread that consumes
 * committed slots in position order (Vyukov bounded queue, see ring.h),
 * hands each slot back to the writers as soon as it is copied, and then calls
 * the sink.  Slots whose writer died between reserving and committing are
 * revoked while it runs (ring.h, Holes); the final drain at stop skips any
 * left.  Control messages (the supervisor's news about processes) are
 * queued with the ring position they were posted at and handed over in
 * that place of the stream. */
#define _GNU_SOURCE
#include "ring_reader_internal.h"
#include "events/ring_wait.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"
#include "ring_stacks.h"

#define IDLE_SLEEP_MIN_US 50
#define IDLE_SLEEP_MAX_US 2000
/* At stop, how long uncommitted slots (all together) get to commit before
 * they are declared lost.  Only matters if a writer is unexpectedly alive. */
#define STOP_GRACE_US 2000
#define MAX_CAPACITY (1ULL << 24)
/* Yields allowed while a writer holds the slot at tail, before sleeping. */
#define BUSY_POLLS_MAX 1000

#define sleep_us mp_reader_sleep_us

struct mp_ring_reader *mp_ring_reader_create(uint64_t capacity, char *err, size_t errlen)
{
    if (capacity == 0 || (capacity & (capacity - 1)) != 0 || capacity > MAX_CAPACITY) {
        snprintf(err, errlen, "ring capacity %llu is not a power of two in [1, %llu]",
                 (unsigned long long)capacity, (unsigned long long)MAX_CAPACITY);
        return NULL;
    }
    struct mp_ring_reader *r = calloc(1, sizeof *r);
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->stacks = mp_ring_stacks_new();
    if (r->stacks == NULL) {
        snprintf(err, errlen, "out of memory");
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->ctl_lock, NULL);
    pthread_mutex_init(&r->own_lock, NULL);
    atomic_init(&r->ctl_next_stamp, UINT64_MAX);
    r->map_bytes = MP_RING_BYTES(capacity);
    r->capacity = capacity;
    r->mask = capacity - 1;
    /* no MFD_CLOEXEC: the target inherits it.  Sealed against shrinking
     * (below): memprof's mapping must never lose its pages (SIGBUS). */
    r->fd = memfd_create("memprof-ring", MFD_ALLOW_SEALING);
    if (r->fd < 0) {
        snprintf(err, errlen, "memfd_create: %s", strerror(errno));
        mp_ring_stacks_free(r->stacks);
        free(r);
        return NULL;
    }
    if (ftruncate(r->fd, (off_t)r->map_bytes) != 0) {
        snprintf(err, errlen, "ftruncate ring to %zu bytes: %s", r->map_bytes, strerror(errno));
        close(r->fd);
        mp_ring_stacks_free(r->stacks);
        free(r);
        return NULL;
    }
    if (fcntl(r->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
        snprintf(err, errlen, "sealing the ring's memfd: %s", strerror(errno));
        close(r->fd);
        mp_ring_stacks_free(r->stacks);
        free(r);
        return NULL;
    }
    void *map = mmap(NULL, r->map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
    if (map == MAP_FAILED) {
        snprintf(err, errlen, "mmap ring: %s", strerror(errno));
        close(r->fd);
        mp_ring_stacks_free(r->stacks);
        free(r);
        return NULL;
    }
    struct mp_ring_header *h = map;
    r->records = (struct mp_ring_record *)((char *)map + MP_RING_HEADER_BYTES);
    h->version = MP_RING_VERSION;
    h->record_size = sizeof(struct mp_ring_record);
    h->capacity = capacity;
    atomic_init(&h->target_pid, 0);
    atomic_init(&h->tree_tracer, 0);
    atomic_init(&h->closed, 0);
    for (int i = 0; i < MP_RING_SKIP_SLOTS; i++)
        atomic_init(&h->skip_pids[i], 0);
    atomic_init(&h->agent_inits, 0);
    atomic_init(&h->agent_bytes, 0);
    atomic_init(&h->writer_waits, 0);
    atomic_init(&h->options, 0);
    atomic_init(&h->head, 0);
    atomic_init(&h->tail, 0);
    for (uint64_t pos = 0; pos < capacity; pos++) {
        atomic_init(&r->records[pos].seq, pos);
        atomic_init(&r->records[pos].claim, mp_ring_claim(pos + 1, 0)); /* no claim for lap 0 */
    }
    /* Magic last: a header with the magic is complete. */
    atomic_thread_fence(memory_order_release);
    h->magic = MP_RING_MAGIC;
    r->header = h;
    return r;
}

void mp_ring_reader_set_waiter(struct mp_ring_reader *r, mp_ring_waiter waiter, void *ctx)
{
    r->waiter = waiter;
    r->waiter_ctx = ctx;
}

void mp_ring_reader_set_hint(struct mp_ring_reader *r, mp_event_hint hint)
{
    r->hint = hint;
}

int mp_ring_reader_fd(const struct mp_ring_reader *r)
{
    return r->fd;
}

/* The header's words are memprof's: kept in r->own too (see
 * mp_reader_check_header). */
void mp_ring_reader_set_options(struct mp_ring_reader *r, uint32_t options)
{
    pthread_mutex_lock(&r->own_lock);
    r->own.options = options;
    atomic_store(&r->header->options, options);
    pthread_mutex_unlock(&r->own_lock);
}

void mp_ring_reader_set_target(struct mp_ring_reader *r, pid_t pid)
{
    pthread_mutex_lock(&r->own_lock);
    r->own.target_pid = (int32_t)pid;
    atomic_store(&r->header->target_pid, (int32_t)pid);
    pthread_mutex_unlock(&r->own_lock);
}

void mp_ring_reader_set_tree_tracer(struct mp_ring_reader *r, pid_t tracer)
{
    pthread_mutex_lock(&r->own_lock);
    r->own.tree_tracer = (int32_t)tracer;
    atomic_store(&r->header->tree_tracer, (int32_t)tracer);
    pthread_mutex_unlock(&r->own_lock);
}

int mp_ring_reader_skip_pid(struct mp_ring_reader *r, pid_t pid, int skip)
{
    int32_t *slots = r->own.skip_pids, rc = 0, at = -1;
    pthread_mutex_lock(&r->own_lock);
    for (int i = 0; i < MP_RING_SKIP_SLOTS && at < 0; i++)
        if (slots[i] == (int32_t)pid)
            at = i;
    if (at >= 0 && !skip) {
        slots[at] = 0;
        atomic_store(&r->header->skip_pids[at], 0);
    } else if (at < 0 && skip) {
        for (int i = 0; i < MP_RING_SKIP_SLOTS && at < 0; i++)
            if (slots[i] == 0)
                at = i;
        if (at >= 0) {
            slots[at] = (int32_t)pid;
            atomic_store(&r->header->skip_pids[at], (int32_t)pid);
        } else {
            rc = -1;
        }
    }
    pthread_mutex_unlock(&r->own_lock);
    return rc;
}

void mp_ring_reader_close(struct mp_ring_reader *r)
{
    pthread_mutex_lock(&r->own_lock);
    r->own.closed = 1;
    atomic_store(&r->header->closed, 1);
    pthread_mutex_unlock(&r->own_lock);
}

void mp_ring_reader_set_control_sink(struct mp_ring_reader *r, mp_control_sink sink)
{
    r->control_sink = sink;
}

uint64_t mp_ring_reader_post_control(struct mp_ring_reader *r, void *message)
{
    return mp_reader_post(r, message, NULL);
}

static void hand_over(struct mp_ring_reader *r, void *message, struct mp_ring_record *batch)
{
    if (batch) {
        if (r->sink)
            mp_reader_deliver_batch(r, batch);
        free(batch);
    } else if (r->control_sink) {
        r->control_sink(r->sink_ctx, message);
    }
}

uint64_t mp_reader_post(struct mp_ring_reader *r, void *message, struct mp_ring_record *batch)
{
    struct control *c = malloc(sizeof *c);
    pthread_mutex_lock(&r->ctl_lock);
    uint64_t ticket = ++r->ctl_posted;
    if (!c) { /* cannot queue it: hand it over now, out of place rather than never */
        pthread_mutex_unlock(&r->ctl_lock);
        hand_over(r, message, batch);
        atomic_fetch_add(&r->ctl_done, 1);
        return ticket;
    }
    /* the head under the lock: stamps stay in posting order (a head the
     * target moved far away would hold the message back for good: the
     * reader's tail then) */
    uint64_t head = atomic_load_explicit(&r->header->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&r->published_tail, memory_order_acquire);
    c->stamp = mp_reader_head_plausible(r, head, tail) ? head : tail;
    c->message = message;
    c->batch = batch;
    c->next = NULL;
    if (r->ctl_tail)
        r->ctl_tail->next = c;
    else
        r->ctl_head = c;
    r->ctl_tail = c;
    atomic_store_explicit(&r->ctl_next_stamp, r->ctl_head->stamp, memory_order_release);
    pthread_mutex_unlock(&r->ctl_lock);
    return ticket;
}

int mp_ring_reader_control_done(const struct mp_ring_reader *r, uint64_t ticket)
{
    return atomic_load_explicit(&r->ctl_done, memory_order_acquire) >= ticket;
}

/* Hands over the messages posted at positions up to `upto`, in order. */
static void apply_controls(struct mp_ring_reader *r, uint64_t upto)
{
    for (;;) {
        pthread_mutex_lock(&r->ctl_lock);
        struct control *c = r->ctl_head;
        if (!c || c->stamp > upto) {
            pthread_mutex_unlock(&r->ctl_lock);
            return;
        }
        r->ctl_head = c->next;
        if (!r->ctl_head)
            r->ctl_tail = NULL;
        atomic_store_explicit(&r->ctl_next_stamp, r->ctl_head ? r->ctl_head->stamp : UINT64_MAX,
                              memory_order_release);
        pthread_mutex_unlock(&r->ctl_lock);
        hand_over(r, c->message, c->batch);
        free(c);
        atomic_fetch_add_explicit(&r->ctl_done, 1, memory_order_release);
    }
}

static inline void controls_due(struct mp_ring_reader *r)
{
    if (atomic_load_explicit(&r->ctl_next_stamp, memory_order_acquire) <= r->tail)
        apply_controls(r, r->tail);
}

/* More records than any run writes (a trillion): a count of dropped
 * records written over (an MP_REC_DROPS record's, or the stubs'). */
#define DROPS_LIMIT (1ull << 40)

/* Can the record (its fields copied once) be one a writer made?  Its kind
 * is one there is, its frames fit in a record, and the block or range of
 * memory it describes lies in the user address space (a mapping may be
 * many TiB: reservations made with MAP_NORESERVE; anything beyond was
 * written by the target, and would overflow the totals).  A Python code
 * chunk's nframes counts bytes, as many as the frames hold, and it lies
 * within its description (py_channel.h). */
static int record_plausible(const struct mp_ring_record *rec, uint32_t nframes)
{
    if (rec->kind >= MP_REC_KINDS)
        return 0;
    if (rec->kind == MP_REC_PYCODE) /* chunk `truncated` of a description of `size` bytes: nframes of them */
        return nframes <= sizeof rec->frames && rec->addr <= UINT32_MAX && rec->size > 0 &&
               rec->size <= MP_PYCODE_MAX_PAYLOAD && nframes <= rec->size &&
               rec->truncated <= (rec->size - 1) / sizeof rec->frames;
    if (nframes > MP_MAX_FRAMES)
        return 0;
    uint64_t addr = rec->addr;
    switch (rec->kind) {
    case MP_REC_PYSTART: /* &_PyRuntime, Py_Version */
        return rec->addr < MP_RING_USER_SPACE && rec->size <= UINT32_MAX;
    case MP_REC_ALLOC_ID: /* its stack is named by its id, it carries none */
        if (nframes != 0)
            return 0;
        /* fallthrough */
    case MP_REC_ALLOC:
        addr &= ~MP_CLIENT_BLOCK; /* a piece of the program's own allocator (memprof/event.h) */
        /* fallthrough */
    case MP_REC_MAP:
    case MP_REC_UNMAP:
    case MP_REC_REMAP_FROM:
    case MP_REC_REMAP_TO:
        return rec->size <= MP_RING_USER_SPACE && addr <= MP_RING_USER_SPACE - rec->size;
    case MP_REC_DROPS: /* one agent's records since its last report: fewer than it could reserve */
        return rec->size <= DROPS_LIMIT;
    case MP_REC_STACK:
        return addr != 0 && addr < MP_RING_STACK_IDS;
    default:
        return 1;
    }
}

/* Copies the record at `pos` (committed) into r->scratch and hands the slot
 * back to the writers for the next lap.  Each field is read once (the
 * target may change them while they are copied: a torn record is wrong,
 * never out of bounds).  0 when the record cannot be one (record_plausible):
 * dropped and counted as damage. */
static int take_record(struct mp_ring_reader *r, struct mp_ring_record *slot, uint64_t pos)
{
    volatile struct mp_ring_record *shared = slot;
    struct mp_ring_record *copy = &r->scratch;
    copy->kind = shared->kind;
    copy->tid = shared->tid;
    copy->pid = shared->pid;
    mp_reader_note_writer(r, copy->pid);
    copy->addr = shared->addr;
    copy->size = shared->size;
    uint32_t nframes = shared->nframes;
    copy->truncated = shared->truncated;
    int valid = record_plausible(copy, nframes);
    copy->nframes = valid ? nframes : 0;
    /* a Python code chunk's nframes counts bytes (record_plausible bounds them by the frames' room) */
    uint32_t words = copy->kind == MP_REC_PYCODE ? (copy->nframes + 7) / 8 : copy->nframes;
    for (uint32_t i = 0; i < words; i++)
        copy->frames[i] = shared->frames[i];
    atomic_store_explicit(&slot->seq, pos + r->capacity, memory_order_release);
    if (!valid)
        mp_reader_count_damage(r, 1);
    return valid;
}

/* One chunk of a code description: appended; the last one delivers it. */
static void take_pycode_chunk(struct mp_ring_reader *r, const struct mp_ring_record *rec)
{
    uint32_t chunk = rec->truncated, bytes = rec->nframes;
    if (chunk == 0) {
        if (r->pycode_next_chunk != 0)
            r->pycode_broken++; /* the previous one never finished */
        r->pycode_next_chunk = 0;
        if (rec->size == 0 || rec->size > MP_PYCODE_MAX_PAYLOAD) {
            r->pycode_broken++;
            return;
        }
        uint8_t *grown = realloc(r->pycode, rec->size);
        if (!grown) {
            r->pycode_broken++;
            return;
        }
        r->pycode = grown;
        r->pycode_id = rec->addr;
        r->pycode_len = (uint32_t)rec->size;
        r->pycode_have = 0;
    } else if (chunk != r->pycode_next_chunk || rec->addr != r->pycode_id) {
        if (r->pycode_next_chunk != 0)
            r->pycode_broken++;
        r->pycode_next_chunk = 0;
        return;
    }
    if (bytes > sizeof rec->frames || bytes > r->pycode_len - r->pycode_have) {
        r->pycode_broken++;
        r->pycode_next_chunk = 0;
        return;
    }
    memcpy(r->pycode + r->pycode_have, rec->frames, bytes);
    r->pycode_have += bytes;
    r->pycode_next_chunk = chunk + 1;
    if (r->pycode_have < r->pycode_len)
        return;
    r->pycode_next_chunk = 0;
    struct mp_event ev = { .kind = MP_EV_PYCODE, .tid = rec->tid, .pid = rec->pid, .addr = r->pycode_id,
                           .payload = r->pycode, .payload_len = r->pycode_len };
    r->sink(r->sink_ctx, &ev);
}

#define BATCH_HINT_AHEAD 8

/* An event of `kind` about the record's process, thread and address, every
 * other field empty.  Field by field: an initializer clears the whole
 * struct first (a rep stos per event, here on the hottest path). */
static inline void event_of(struct mp_event *ev, enum mp_event_kind kind, uint32_t tid, uint32_t pid, uint64_t addr)
{
    ev->kind = kind;
    ev->tid = tid;
    ev->pid = pid;
    ev->addr = addr;
    ev->size = 0;
    ev->nframes = 0;
    ev->truncated = 0;
    ev->frames = NULL;
    ev->time_ns = 0;
    ev->rss_bytes = 0;
    ev->flags = 0;
    ev->payload = NULL;
    ev->payload_len = 0;
    ev->stack_memo = NULL;
}

/* An allocation whose stack a STACK record of its process named. */
static void deliver_alloc_id(struct mp_ring_reader *r, uint32_t tid, uint32_t pid, uint64_t addr, uint64_t size,
                             uint32_t stack_id)
{
    uint32_t nframes = 0, truncated = 1; /* a stack never named: its STACK record was lost */
    uint64_t *memo = NULL;
    const uint64_t *frames = mp_ring_stacks_find(r->stacks, pid, stack_id, &nframes, &truncated, &memo);
    if (truncated & MP_REC_TRUNC_FAULT) { /* a stack cut short by a fault: each allocation counts */
        atomic_fetch_add_explicit(&r->unwind_faults, 1, memory_order_relaxed);
        truncated &= ~MP_REC_TRUNC_FAULT;
    }
    struct mp_event alloc;
    event_of(&alloc, MP_EV_ALLOC, tid, pid, addr);
    alloc.size = size;
    alloc.nframes = nframes;
    alloc.truncated = truncated;
    alloc.frames = frames;
    alloc.stack_memo = memo;
    r->sink(r->sink_ctx, &alloc);
}

/* A batch of one thread's events (ring.h, MP_REC_BATCH), in order: its
 * frames were copied once and bounded (take_record, or ring_pending.c).
 * An entry no agent writes (an allocation without its size, of id 0, or
 * beyond the user address space) is the target's damage, counted.  Every
 * address of the batch is known at once: the sink is told of each
 * BATCH_HINT_AHEAD words before it gets it (the block table's misses
 * overlap instead of coming one after the other). */
void mp_reader_deliver_batch(struct mp_ring_reader *r, const struct mp_ring_record *rec)
{
    uint64_t site = 0;
    uint32_t n = rec->nframes < MP_MAX_FRAMES ? rec->nframes : MP_MAX_FRAMES;
    uint32_t hinted = 0;
    struct mp_event ev;
    event_of(&ev, MP_EV_FREE, rec->tid, rec->pid, 0);
    ev.frames = &site;
    for (uint32_t i = 0; i < n; i++) {
        if (r->hint)
            for (; hinted < n && hinted <= i + BATCH_HINT_AHEAD; hinted++) {
                uint64_t w = rec->frames[hinted];
                if (w & MP_BATCH_SITE)
                    continue;
                if (w & MP_BATCH_ALLOC) {
                    r->hint(r->sink_ctx, rec->pid, w & MP_BATCH_ADDR_MASK);
                    hinted++; /* its size word */
                } else {
                    r->hint(r->sink_ctx, rec->pid, w);
                }
            }
        uint64_t word = rec->frames[i];
        if (word & MP_BATCH_SITE) {
            site = word & ~MP_BATCH_SITE;
            continue;
        }
        if (word & MP_BATCH_ALLOC) {
            uint64_t addr = word & MP_BATCH_ADDR_MASK;
            uint32_t id = (uint32_t)((word & ~MP_BATCH_ALLOC) >> MP_BATCH_ID_SHIFT);
            uint64_t size = i + 1 < n ? rec->frames[++i] : UINT64_MAX;
            if (id == 0 || size > MP_RING_USER_SPACE || addr > MP_RING_USER_SPACE - size) {
                mp_reader_count_damage(r, 1);
                continue;
            }
            deliver_alloc_id(r, rec->tid, rec->pid, addr, size, id);
            continue;
        }
        ev.addr = word;
        ev.nframes = site != 0;
        r->sink(r->sink_ctx, &ev);
    }
}

static void deliver_scratch(struct mp_ring_reader *r)
{
    struct mp_ring_record *rec = &r->scratch;
    if (rec->kind == MP_REC_PYCODE) {
        take_pycode_chunk(r, rec);
        return;
    }
    if (rec->kind == MP_REC_PYSTART) {
        struct mp_event start = { .kind = MP_EV_PYSTART, .tid = rec->tid, .pid = rec->pid, .addr = rec->addr,
                                  .size = rec->size };
        r->sink(r->sink_ctx, &start);
        return;
    }
    if (rec->kind == MP_REC_BATCH) {
        mp_reader_deliver_batch(r, rec);
        return;
    }
    if (rec->kind == MP_REC_DROPS) { /* records an agent could not write: the target's damage */
        mp_reader_count_damage(r, rec->size);
        return;
    }
    if ((rec->kind == MP_REC_ALLOC || rec->kind == MP_REC_MAP || rec->kind == MP_REC_REMAP_TO) &&
        (rec->truncated & MP_REC_TRUNC_FAULT)) {
        atomic_fetch_add_explicit(&r->unwind_faults, 1, memory_order_relaxed);
        rec->truncated &= ~MP_REC_TRUNC_FAULT;
    }
    if (rec->kind == MP_REC_LINE) {
        struct mp_event line = { .kind = MP_EV_LINE, .tid = rec->tid, .pid = rec->pid, .addr = rec->addr,
                                 .rss_bytes = rec->size, .time_ns = rec->nframes ? rec->frames[0] : 0 };
        r->sink(r->sink_ctx, &line);
        return;
    }
    if (rec->kind == MP_REC_MODMAP) {
        struct mp_event modmap = { .kind = MP_EV_MODMAP, .tid = rec->tid, .pid = rec->pid };
        r->sink(r->sink_ctx, &modmap);
        return;
    }
    if (rec->kind == MP_REC_SAMPLE) {
        struct mp_event sample = { .kind = MP_EV_SAMPLE, .pid = rec->pid, .time_ns = rec->addr,
                                   .rss_bytes = rec->size };
        r->sink(r->sink_ctx, &sample);
        return;
    }
    if (rec->kind == MP_REC_STACK) {
        if (mp_ring_stacks_define(r->stacks, rec->pid, rec->addr, rec->frames, rec->nframes, rec->truncated) != 0)
            mp_reader_count_damage(r, 1);
        return;
    }
    if (rec->kind == MP_REC_ALLOC_ID) {
        deliver_alloc_id(r, rec->tid, rec->pid, rec->addr, rec->size, rec->stack_id);
        return;
    }
    if (rec->kind == MP_REC_HELLO) {
        mp_ring_stacks_forget(r->stacks, rec->pid); /* a new agent: its ids start afresh */
        struct mp_event hello = { .kind = MP_EV_AGENT, .tid = rec->tid, .pid = rec->pid, .size = rec->size };
        r->sink(r->sink_ctx, &hello);
        return;
    }
    static const enum mp_event_kind kinds[] = {
        [MP_REC_ALLOC] = MP_EV_ALLOC, [MP_REC_FREE] = MP_EV_FREE, [MP_REC_MAP] = MP_EV_MAP,
        [MP_REC_UNMAP] = MP_EV_UNMAP, [MP_REC_REMAP_FROM] = MP_EV_REMAP_FROM, [MP_REC_REMAP_TO] = MP_EV_REMAP_TO,
    };
    if (rec->kind >= sizeof kinds / sizeof *kinds || !kinds[rec->kind])
        return; /* MP_REC_NOP carries nothing */
    /* a FREE carries at most its call site; UNMAP and REMAP_FROM nothing
     * (REMAP_FROM's truncated field holds its flags) */
    int stackless = rec->kind == MP_REC_UNMAP || rec->kind == MP_REC_REMAP_FROM;
    struct mp_event ev;
    event_of(&ev, kinds[rec->kind], rec->tid, rec->pid, rec->addr);
    ev.size = rec->kind == MP_REC_FREE ? 0 : rec->size;
    ev.nframes = stackless ? 0 : rec->nframes;
    ev.truncated = stackless ? 0 : rec->truncated;
    ev.frames = rec->frames;
    ev.flags = rec->kind == MP_REC_REMAP_FROM ? rec->truncated : 0;
    r->sink(r->sink_ctx, &ev);
}

/* Delivers the record at tail if committed (to nobody if never started).
 * 1 if one was consumed. */
#define HINT_DISTANCE 6

static int consume_if_committed(struct mp_ring_reader *r)
{
    controls_due(r);
    struct mp_ring_record *slot = mp_reader_slot(r, r->tail);
    if (atomic_load_explicit(&slot->seq, memory_order_acquire) != r->tail + 1)
        return 0;
    if (r->hint) {
        uint64_t ahead = r->tail + HINT_DISTANCE;
        struct mp_ring_record *next = mp_reader_slot(r, ahead);
        if (atomic_load_explicit(&next->seq, memory_order_acquire) == ahead + 1)
            r->hint(r->sink_ctx, next->pid, next->addr);
    }
    int valid = take_record(r, slot, r->tail);
    r->tail++;
    r->stuck = 0;
    if (r->sink != NULL && valid)
        deliver_scratch(r);
    return 1;
}

static void publish_tail(struct mp_ring_reader *r)
{
    /* only the reader writes it: another value there was the target's */
    if (atomic_load_explicit(&r->header->tail, memory_order_relaxed) !=
        atomic_load_explicit(&r->published_tail, memory_order_relaxed))
        mp_reader_count_damage(r, 0);
    atomic_store_explicit(&r->header->tail, r->tail, memory_order_release); /* for the agents */
    atomic_store_explicit(&r->published_tail, r->tail, memory_order_release);
    mp_ring_wake_writers(r->header); /* room made: writers asleep need not sleep their nap out */
}

static void *reader_thread(void *arg)
{
    struct mp_ring_reader *r = arg;
    /* Leave every signal to the supervisor's other threads. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    long idle_us = 0;
    unsigned busy_polls = 0;
    int woken_idle = 0; /* the last nap ended early and nothing came since */
    while (!atomic_load_explicit(&r->stop_requested, memory_order_acquire)) {
        uint64_t consumed = 0;
        while (consume_if_committed(r))
            if ((++consumed & 1023) == 0) {
                publish_tail(r);
                if (atomic_load_explicit(&r->stop_requested, memory_order_acquire))
                    break; /* writers that never pause (let go, still running) do not hold stop up */
            }
        if (consumed != 0) {
            publish_tail(r);
            idle_us = 0;
            busy_polls = 0;
            woken_idle = 0;
            continue;
        }
        uint64_t head = atomic_load_explicit(&r->header->head, memory_order_acquire);
        if (mp_reader_guard(r, head)) {
            publish_tail(r);
            continue;
        }
        if (atomic_load_explicit(&r->header->tail, memory_order_relaxed) != r->tail)
            publish_tail(r); /* the target wrote over it (counted there) */
        mp_reader_check_header(r);
        /* A slot reserved but not yet committed means a writer is in the
         * middle of a record (or the ring is full and writers wait for us):
         * yield for a while instead of sleeping.  A bounded number of polls,
         * so a dead writer's hole does not keep this thread spinning. */
        if (head != r->tail && busy_polls < BUSY_POLLS_MAX) {
            busy_polls++;
            sched_yield();
            continue;
        }
        idle_us = idle_us == 0 ? IDLE_SLEEP_MIN_US
                               : (idle_us * 2 > IDLE_SLEEP_MAX_US ? IDLE_SLEEP_MAX_US : idle_us * 2);
        if (woken_idle) { /* the last nap ended early for nothing (ring_wait.h): a plain one */
            sleep_us(idle_us);
            woken_idle = 0;
        } else {
            woken_idle = mp_ring_reader_nap(r->header, idle_us);
        }
    }
    return NULL;
}

int mp_ring_reader_start(struct mp_ring_reader *r, mp_event_sink sink, void *ctx)
{
    if (r->thread_running) {
        errno = EBUSY;
        return -1;
    }
    r->sink = sink;
    r->sink_ctx = ctx;
    atomic_store(&r->stop_requested, 0);
    int rc = pthread_create(&r->thread, NULL, reader_thread, r);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    r->thread_running = 1;
    return 0;
}

/* The slot at tail was reserved but is not committed.  Give a (supposedly
 * dead) writer what is left of the stop's grace period, then skip the slot
 * and free it for the next lap.  1 if the slot was skipped as its writer's
 * (a hole), 2 as the target's damage (a sequence number no writer stores). */
static int skip_uncommitted(struct mp_ring_reader *r, long *grace_left_us)
{
    struct mp_ring_record *slot = mp_reader_slot(r, r->tail);
    uint64_t seq;
    for (;;) {
        seq = atomic_load_explicit(&slot->seq, memory_order_acquire);
        if (seq == r->tail + 1)
            return 0;
        if (*grace_left_us <= 0 || seq != r->tail)
            break;
        sleep_us(100);
        *grace_left_us -= 100;
    }
    atomic_store_explicit(&slot->seq, r->tail + r->capacity, memory_order_release);
    r->tail++;
    return seq == r->tail - 1 ? 1 : 2;
}

int mp_ring_reader_stop(struct mp_ring_reader *r, uint64_t *lost)
{
    if (r->thread_running) {
        atomic_store(&r->stop_requested, 1);
        pthread_join(r->thread, NULL);
        r->thread_running = 0;
    }
    /* Scan every reserved position up to head: committed records after a
     * hole are still delivered, in order, and each hole is examined on its
     * own. */
    uint64_t head = mp_reader_drain_end(r, atomic_load_explicit(&r->header->head, memory_order_acquire));
    uint64_t skipped = 0;
    long grace_left_us = STOP_GRACE_US;
    while (r->tail < head) {
        if (consume_if_committed(r))
            continue;
        int how = skip_uncommitted(r, &grace_left_us);
        if (how == 2) {
            mp_reader_count_damage(r, 1);
        } else if (how == 1) {
            skipped++;
            if (r->sink) {
                struct mp_event ev = { .kind = MP_EV_LOST, .size = 1 };
                r->sink(r->sink_ctx, &ev);
            }
        }
    }
    publish_tail(r);
    mp_reader_check_header(r);
    apply_controls(r, UINT64_MAX);
    mp_reader_take_dead_pending(r); /* after its last record: a process gone without an end seen */
    if (lost != NULL)
        *lost += skipped;
    return 0;
}

int mp_ring_reader_sync(struct mp_ring_reader *r, long timeout_us)
{
    if (!r->thread_running)
        return 0;
    uint64_t head = atomic_load_explicit(&r->header->head, memory_order_acquire);
    for (long waited = 0; atomic_load_explicit(&r->published_tail, memory_order_acquire) < head; waited += 100) {
        if (waited >= timeout_us)
            return -1;
        sleep_us(100);
        mp_reader_waiting(r, waited + 100, 1);
    }
    return 0;
}

void mp_ring_reader_forget_stacks(struct mp_ring_reader *r, pid_t pid)
{
    mp_ring_stacks_forget(r->stacks, (uint32_t)pid);
}

void mp_ring_reader_freeze_pid(struct mp_ring_reader *r, pid_t pid)
{
    atomic_store(&r->frozen_pid, (int32_t)pid);
}

uint64_t mp_ring_reader_revoked(const struct mp_ring_reader *r)
{
    return atomic_load(&r->revoked);
}

void mp_ring_reader_add_drops(struct mp_ring_reader *r, uint64_t records)
{
    mp_reader_count_damage(r, records > DROPS_LIMIT ? 0 : records);
}

int mp_ring_reader_damage(const struct mp_ring_reader *r, uint64_t *records_dropped, int *records_hit)
{
    *records_dropped = atomic_load(&r->damaged_records);
    *records_hit = atomic_load(&r->slots_repaired) != 0;
    return atomic_load(&r->damage_seen) != 0 || *records_dropped != 0;
}

void mp_ring_reader_reset_agent_stats(struct mp_ring_reader *r)
{
    atomic_store(&r->header->agent_inits, 0);
    atomic_store(&r->header->agent_bytes, 0);
    /* A new image: its interpreter, if any, asks afresh (the patterns stay). */
    struct mp_py_channel *py = mp_ring_py_channel(r->header);
    atomic_store(&py->state, MP_PY_IDLE);
    atomic_store(&py->codes_described, 0);
    atomic_store(&py->codes_over_limit, 0);
    atomic_store(&py->unreadable_names, 0);
    atomic_store(&py->frame_faults, 0);
    atomic_store(&py->hooks_installed, 0);
    atomic_store(&py->hooks_replaced, 0);
    atomic_store(&py->trace_conflicts, 0);
    atomic_store(&py->layout_mismatch, 0);
    r->pycode_next_chunk = 0;
}

struct mp_py_channel *mp_ring_reader_py_channel(struct mp_ring_reader *r)
{
    return mp_ring_py_channel(r->header);
}

uint64_t mp_ring_reader_pycode_broken(const struct mp_ring_reader *r)
{
    return r->pycode_broken;
}

uint64_t mp_ring_reader_records_bound(const struct mp_ring_reader *r)
{
    return atomic_load(&r->published_tail) + r->capacity + MP_RING_MAX_WAITERS;
}

uint64_t mp_ring_reader_agent_bytes(const struct mp_ring_reader *r)
{
    return atomic_load(&r->header->agent_bytes);
}

uint32_t mp_ring_reader_agent_inits(const struct mp_ring_reader *r)
{
    return atomic_load(&r->header->agent_inits);
}

uint64_t mp_ring_reader_unwind_faults(const struct mp_ring_reader *r)
{
    return atomic_load(&r->unwind_faults);
}

uint64_t mp_ring_reader_writer_waits(const struct mp_ring_reader *r)
{
    return atomic_load(&r->header->writer_waits);
}

void mp_ring_reader_destroy(struct mp_ring_reader *r)
{
    if (r == NULL)
        return;
    if (r->thread_running)
        mp_ring_reader_stop(r, NULL);
    atomic_store(&r->header->closed, 1); /* anything still mapping it must not wait on it */
    for (struct control *c = r->ctl_head, *next; c; c = next) {
        next = c->next;
        free(c->batch);
        free(c);
    }
    pthread_mutex_destroy(&r->ctl_lock);
    pthread_mutex_destroy(&r->own_lock);
    mp_ring_stacks_free(r->stacks);
    munmap(r->header, r->map_bytes);
    free(r->pycode);
    if (r->extra)
        munmap(r->extra, r->extra_bytes);
    close(r->fd);
    free(r);
}

void *mp_ring_reader_extra(struct mp_ring_reader *r, size_t bytes, uint64_t *offset, uint64_t *total)
{
    if (!r->extra) {
        long page = sysconf(_SC_PAGESIZE);
        bytes = (bytes + (size_t)page - 1) & ~((size_t)page - 1);
        if (ftruncate(r->fd, (off_t)(r->map_bytes + bytes)) != 0)
            return NULL;
        void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, (off_t)r->map_bytes);
        if (map == MAP_FAILED)
            return NULL;
        r->extra = map;
        r->extra_bytes = bytes;
    }
    *offset = r->map_bytes;
    *total = r->map_bytes + r->extra_bytes;
    return r->extra;
}
