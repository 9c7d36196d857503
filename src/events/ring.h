/* memprof: layout of the shared-memory ring between the in-process agent
 * (many writer threads) and the supervisor (one reader).
 *
 * The supervisor creates a memfd of MP_RING_BYTES(capacity), writes the header,
 * and passes the fd to the target in the environment as MEMPROF_RING_FD=<fd>.
 * Slots work like Vyukov's bounded queue: a writer reserves position `pos` with
 * fetch_add on `head`, waits until slot->seq == pos (the slot is free for this
 * lap: the ring never drops, a writer waits when it is full: ring_wait.h),
 * fills the record, then stores seq = pos + 1 with release order.  The
 * reader, at position `tail`,
 * waits for seq == tail + 1, copies the record, stores seq = tail + capacity and
 * advances tail.
 *
 * Ordering rule that keeps addresses consistent across threads: a free reserves
 * its slot BEFORE the memory is released; an allocation reserves AFTER the
 * allocator returned.  So realloc(p, n) writes MP_REC_FREE(p) in a slot reserved
 * before calling the real realloc and MP_REC_ALLOC(result) in a slot reserved
 * after it (MP_REC_NOP fills the first slot if realloc failed and p lives on).
 *
 * One ring serves a whole process tree: every record carries the pid of the
 * process whose memory it describes (a vfork child, which runs in its
 * parent's memory, writes its parent's pid), and the reader hands each
 * record to that process's profile.
 *
 * Holes: a writer killed between reserving and committing (its process was
 * killed, exited from another thread, or exec'd) would stop the reader at
 * its slot for good.  So as soon as its slot is free for its lap (seq ==
 * pos), a writer stores its pid in `claim_pid`, then `claim` = (low 32 bits
 * of pos) << 32 | its tid, before it writes anything else (the reader
 * copies neither).  A reader stuck at a slot claimed for that position by a
 * thread that no longer exists, or at a free slot left unclaimed for a
 * second once every thread that could hold it could have claimed it
 * (ring_guard.c), revokes it: seq = pos + capacity (free for the next
 * lap), and it counts an event lost.  A writer that finds seq == pos +
 * capacity while it waits was revoked, and so was one whose position the
 * reader's published tail has passed: it writes nothing.
 *
 * Trust: the ring is memory of the target, which may write anything into
 * it (a wild pointer, or on purpose), while memprof may run as root.  So
 * the reader takes nothing from it on trust: the capacity is its own (set
 * at creation; the memfd is sealed against shrinking), every index is
 * masked, every record's frame count is bounded and read once, a head far
 * from the reader's tail is reset, a tail that is not the reader's is
 * written again, a sequence number that cannot be there is repaired, and a
 * slot claimed by a live thread that does not commit within a few seconds
 * of its running time is revoked.  Each record lost that way is counted:
 * the report says the target damaged the ring.
 *
 * The agent, likewise, keeps what it needs in its own memory: the capacity
 * (read once, at attach), whether memprof still reads (its tracer, not the
 * header's `closed`, which only makes it look), and its counts (records it
 * had to drop, stacks cut short), which travel in records (MP_REC_DROPS,
 * MP_REC_TRUNC_FAULT), not in the header.  A position it reserved that the
 * reader can never reach (a head written over: far from the published
 * tail, behind it, or past MP_RING_POS_LIMIT) is given up for a new one
 * once the reader has set the head back; only a writer that cannot get a
 * position the reader reaches within a second drops its record, and
 * counts it. */
#ifndef MEMPROF_RING_H
#define MEMPROF_RING_H

#include <stdatomic.h>
#include <stdint.h>
#include "memprof/event.h"
#include "events/py_channel.h"

#define MP_RING_MAGIC 0x31666f72706d656dULL /* "memprof1" */
#define MP_RING_VERSION 8
#define MP_RING_ENV_FD "MEMPROF_RING_FD"
#define MP_RING_ENV_PATH "MEMPROF_RING_PATH" /* /proc/MEMPROF_PID/fd/N, when the fd was closed */
/* The header page, the Python channel's, then the pending batches'
 * table (struct mp_ring_pending): the records start after it. */
#define MP_RING_PENDING_OFFSET 8192
#define MP_RING_PENDING_AREAS 256
#define MP_RING_HEADER_BYTES (MP_RING_PENDING_OFFSET + MP_RING_PENDING_AREAS * 448)
#define MP_RING_SKIP_SLOTS 768
#define MP_RING_BYTES(cap) (MP_RING_HEADER_BYTES + (uint64_t)(cap) * sizeof(struct mp_ring_record))

enum mp_rec_kind {
    MP_REC_NOP = 0,   /* reserved slot that carries nothing (failed realloc) */
    MP_REC_ALLOC = 1,
    MP_REC_FREE = 2,
    MP_REC_SAMPLE = 3, /* written by memprof's RSS sampler: addr = time_ns, size = rss bytes */
    MP_REC_LINE = 4,   /* line mode (memprof's breakpoints, or the agent in a Python process):
                          tid, addr = line-event id, size = rss bytes, frames[0] = time_ns
                          (nframes 1) */
    MP_REC_MAP = 5,    /* MP_EV_MAP: addr, size, stack */
    MP_REC_UNMAP = 6,  /* MP_EV_UNMAP: addr, size (reserved before the call, NOP if it failed) */
    MP_REC_REMAP_FROM = 7, /* MP_EV_REMAP_FROM: addr, size, flags in `truncated` (reserved before) */
    MP_REC_REMAP_TO = 8,   /* MP_EV_REMAP_TO: addr, size, stack */
    MP_REC_HELLO = 9,  /* an agent started recording in process `pid` (at init, or in a forked
                          child): size = the bytes of the ring it maps */
    MP_REC_MODMAP = 10,/* the target's modules changed (a dlclose): code that was unmapped may come back as
                          other code at the same addresses; the records before it were made with the old
                          modules.  Written after the change, by the agent or memprof (no payload). */
    MP_REC_PYCODE = 11,/* one chunk of a Python code description (py_channel.h): addr = code id,
                          size = payload bytes in all, truncated = chunk index, nframes = bytes in
                          this chunk, frames = the bytes; the chunks of one description are
                          consecutive positions */
    MP_REC_PYSTART = 12,/* the agent found CPython: addr = &_PyRuntime, size = Py_Version */
    MP_REC_DROPS = 13, /* an agent dropped `size` records of process `pid` since its last DROPS record:
                          the target had damaged the ring (ring.h, Trust); counted as that damage */
    MP_REC_STACK = 14, /* the agent names a stack: addr = its id (1..MP_RING_STACK_IDS-1, per process,
                          from the process's HELLO on), frames/nframes/truncated = the stack (with
                          MP_REC_TRUNC_FAULT: each allocation of that stack counts as one cut short) */
    MP_REC_ALLOC_ID = 15, /* MP_REC_ALLOC whose stack is the one named by a STACK record of the
                          same process before it: stack_id; no frames (one cache line a record) */
    MP_REC_BATCH = 16, /* small events of one thread, in the order it made them: frames[0..nframes)
                          are entries (MP_BATCH_*, below); addr, size, truncated unused */
    MP_REC_KINDS       /* one past the last kind: a record of any other was written by the target */
};

/* In an ALLOC, MAP, REMAP_TO or STACK record's `truncated`: bit 0, the stack was
 * deeper than MP_MAX_FRAMES; this bit, unwinding faulted on the program's
 * damaged unwind tables and the stack ends at the frames found before. */
#define MP_REC_TRUNC_FAULT 2u

/* An MP_REC_BATCH record's frames, one entry after another (no block
 * address has bit 62 or 63 set: they lie in the user address space):
 * - MP_BATCH_SITE | site: the frees that follow were called from site
 *   (the return address of the free, realloc or delete call); none yet:
 *   no site;
 * - MP_BATCH_ALLOC | id << MP_BATCH_ID_SHIFT | addr, then one word, the
 *   size: an allocation (as MP_REC_ALLOC_ID) at addr of stack id;
 * - any other word: the block at that address was freed. */
#define MP_BATCH_SITE (1ull << 63)
#define MP_BATCH_ALLOC (1ull << 62)
#define MP_BATCH_ID_SHIFT 47
#define MP_BATCH_ADDR_MASK ((1ull << MP_BATCH_ID_SHIFT) - 1)

/* No position a writer reserves honestly reaches it (2^62 records: a
 * century at a billion a second); one there comes from a head the target
 * wrote over. */
#define MP_RING_POS_LIMIT (1ull << 62)

/* How far the shared head may lead the tail: a ring's worth of records,
 * plus one position per writer thread waiting for room (pid_max is at
 * most 2^22).  A head further ahead (or behind the tail) was written by
 * the target. */
#define MP_RING_MAX_WAITERS (1ull << 22)

/* 64-byte aligned (7 cache lines): a record without frames (ALLOC_ID,
 * FREE, ...) fills exactly its slot's first line. */
struct mp_ring_record {
    _Alignas(64) _Atomic uint64_t seq;
    uint32_t kind;       /* enum mp_rec_kind */
    uint32_t tid;
    uint64_t addr;
    uint64_t size;
    uint32_t nframes;
    union {
        uint32_t truncated;
        uint32_t stack_id; /* MP_REC_ALLOC_ID */
    };
    uint32_t pid;        /* the process whose memory the record is about */
    _Atomic uint32_t claim_pid; /* the claiming writer's pid, stored before claim (not copied) */
    _Atomic uint64_t claim; /* (pos & 0xffffffff) << 32 | tid of the writer (see above) */
    uint64_t frames[MP_MAX_FRAMES]; /* return addresses, innermost first (see event.h) */
};

static inline uint64_t mp_ring_claim(uint64_t pos, uint32_t tid)
{
    return (pos << 32) | tid;
}

struct mp_ring_header {
    uint64_t magic;
    uint32_t version;
    uint32_t record_size;         /* sizeof(struct mp_ring_record), checked by the agent */
    uint64_t capacity;            /* records, a power of two */
    _Atomic int32_t target_pid;   /* this process writes; other processes only when
                                     tree_tracer is set and matches their TracerPid */
    _Atomic int32_t tree_tracer;  /* memprof follows a process tree: every process whose
                                     tracer (TracerPid) is this thread writes; 0: none */
    _Atomic uint32_t closed;      /* memprof stopped reading: a hint that makes a waiting
                                     writer look whether memprof still traces its process
                                     (the agent stops recording when not) */
    _Atomic uint32_t agent_inits; /* incremented by each agent that attached */
    _Atomic uint64_t agent_bytes; /* the agent's own memory inside the target */
    _Atomic uint64_t writer_waits;/* times a writer found the ring full and waited */
    _Atomic uint32_t options;     /* MP_RING_OPT_*: what the agent records, set before launch */
    /* Waiting (ring_wait.h): futex words, hints only (the target may write
     * them; every wait has a timeout). */
    _Atomic uint32_t writers_asleep; /* 1: writers wait for room (futex-waiting on writers_wake); the
                                        reader sets it back to 0 as it wakes them */
    _Atomic uint32_t writers_wake;   /* bumped by the reader when it made room and writers sleep */
    _Atomic uint32_t reader_asleep;  /* 1 while the reader sleeps idle (futex-waiting on it) */
    char pad0[48];
    _Atomic uint64_t head;        /* next position to reserve (writers) */
    char pad1[64];
    _Atomic uint64_t tail;        /* next position to read (reader) */
    char pad2[64];
    /* Processes whose program image memprof records another way (the
     * breakpoint engine) or not at all: their agent stays out.  0: a free
     * entry.  Set before the image runs any code (at its exec stop). */
    _Atomic int32_t skip_pids[MP_RING_SKIP_SLOTS];
};

/* Stack ids an agent gives (MP_REC_STACK): 1 to MP_RING_STACK_IDS - 1, at
 * most one per entry of its table of stacks.  A larger id was written by
 * the target. */
#define MP_RING_STACK_IDS (1u << 15)

#define MP_RING_OPT_MMAP 1        /* mapped memory: mmap, mremap, munmap, brk, sbrk */
#define MP_RING_OPT_NO_BATCH 2 /* each event written at its call, none in batches (line mode, or
                                  MEMPROF_EVENT_BATCH=0: memprof's line records must fall between
                                  the right events) */

/* Pending batches (agent_batch.c): the entries of a single-threaded
 * process's MP_REC_BATCH record that is not written yet, kept where
 * memprof can read them once the process is gone (killed, crashed), so
 * that a report still shows every event the process made.  An agent
 * claims one area for its process (owner 0 -> its pid, compare and
 * swap), appends each entry to word[] and then publishes words; to write
 * the batch it copies the words into the slot at position P, stores pos
 * = P + 1, commits the slot, and then sets words and pos back to 0.
 * memprof takes a process's area when the process can no longer run (at
 * its exit stop, its end, its exec; a copy when it lets the process go):
 * the words are events the ring does not hold unless pos is set and the
 * slot at pos - 1 was committed (its seq is no longer pos - 1).  Untrusted like the rest (ring.h, Trust):
 * memprof copies an area once and bounds words. */
struct mp_ring_pending {
    _Alignas(64) _Atomic uint32_t owner; /* the pid of the process, 0: free */
    uint32_t tid;                        /* the thread that batches */
    _Atomic uint32_t words;              /* entries in word[] */
    uint32_t pad;
    _Atomic uint64_t pos;                /* P + 1 while the words go into the slot at P,
                                            MP_RING_PENDING_POSTING before a slot is had, else 0 */
    uint64_t word[MP_MAX_FRAMES];
};
#define MP_RING_PENDING_POSTING UINT64_MAX
_Static_assert(sizeof(struct mp_ring_pending) == 448, "MP_RING_HEADER_BYTES counts 448 bytes an area");

static inline struct mp_ring_pending *mp_ring_pending_area(struct mp_ring_header *h, uint32_t i)
{
    return (struct mp_ring_pending *)((char *)h + MP_RING_PENDING_OFFSET) + (i % MP_RING_PENDING_AREAS);
}

_Static_assert(sizeof(struct mp_ring_header) <= MP_PY_CHANNEL_OFFSET, "ring header fits");
_Static_assert(MP_PY_CHANNEL_OFFSET + sizeof(struct mp_py_channel) <= MP_RING_PENDING_OFFSET,
               "the Python channel fits in the header's second page");

/* The Python channel (py_channel.h), in the header's second page. */
static inline struct mp_py_channel *mp_ring_py_channel(struct mp_ring_header *h)
{
    return (struct mp_py_channel *)((char *)h + MP_PY_CHANNEL_OFFSET);
}

/* The user address space of x86-64 (128 TiB): every block and mapping a
 * record describes lies below it (with 5-level paging the kernel maps above
 * it only when mmap is given a hint address there, which no allocator does). */
#define MP_RING_USER_SPACE (1ull << 47)

/* The slot of `pos`.  mask: capacity - 1 as its owner knows it (memprof
 * keeps its own copy: the header's capacity is shared memory the target
 * can write, see Trust below). */
static inline struct mp_ring_record *mp_ring_slot(struct mp_ring_header *h, uint64_t mask, uint64_t pos)
{
    struct mp_ring_record *recs = (struct mp_ring_record *)((char *)h + MP_RING_HEADER_BYTES);
    return &recs[pos & mask];
}

#endif
