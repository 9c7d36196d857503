/* memprof: what the ring reader does when the record at its tail is not
 * committed (ring.h, Holes and Trust), and about a header the target
 * wrote over (its fixed words are written again from memprof's copy).
 *
 * - The shared head far from the tail (or behind it): the target wrote
 *   over the header; the head is set back to the tail.
 * - A sequence number at the tail that is neither "free for this lap" nor
 *   "committed": written by the target.  A slot claimed for this position
 *   was filled (its writer saw it free) and is taken as committed; any
 *   other is set back to "free", so a writer waiting for it goes on.
 * - Reserved and claimed by a thread that no longer exists, or by one of
 *   a process held at its exit stop for good (mp_ring_reader_freeze_pid):
 *   revoked (MP_EV_LOST, charged to the claiming process).
 * - Claimed by a live thread that does not commit within
 *   WRITER_TIMEOUT_NS of its running time (the CPU time it used while
 *   runnable, /proc/TID/schedstat: time waiting for a CPU on a loaded
 *   machine does not count, nor time stopped by job control or by memprof
 *   itself; time blocked does): revoked, counted as damage (an honest
 *   writer holds a slot for microseconds).
 * - Reserved and never claimed (a writer died between its fetch_add and
 *   its claim, or the target moved the head): revoked, with every
 *   position after it reserved by then and still unclaimed, once
 *   UNCLAIMED_GRACE_NS have passed and every thread that could be its
 *   writer could have claimed it.  Who reserved it is not known, so the
 *   threads of the processes whose records the reader took lately (and
 *   the target's and memprof's own) are noted when the grace has passed;
 *   each must then have ended (or be held at its exit stop), be asleep (a
 *   writer between fetch_add and claim does not sleep), or have run since
 *   (it would have claimed).  A thread
 *   runnable that has not run since (a writer descheduled on a loaded
 *   machine), or stopped (job control, a debugger, memprof), holds the
 *   slot, up to UNCLAIMED_MAX_NS.  A slot whose sequence number was set
 *   back to "free" goes after REPAIRED_GRACE_NS. */
#define _GNU_SOURCE
#include "ring_reader_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How often a hole's writer is looked at. */
#define HOLE_CHECK_NS (5 * 1000 * 1000ull)
#define UNCLAIMED_GRACE_NS (1000 * 1000 * 1000ull)
#define WRITER_TIMEOUT_NS (5 * 1000 * 1000 * 1000ull)
/* An unclaimed slot is held for writers that have not run (or are
 * stopped) this long at most: a bound, not a wait anyone should meet. */
#define UNCLAIMED_MAX_NS (60 * 1000 * 1000 * 1000ull)
/* How often the candidate writers' threads are looked at (reads of /proc
 * for each thread) once the grace has passed. */
#define WRITERS_CHECK_NS (50 * 1000 * 1000ull)
/* After a sequence number was set back to "free", a writer waiting for
 * the slot fills it within microseconds. */
#define REPAIRED_GRACE_NS (20 * 1000 * 1000ull)

void mp_reader_sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

uint64_t mp_reader_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void mp_reader_count_damage(struct mp_ring_reader *r, uint64_t records)
{
    atomic_fetch_add(&r->damage_seen, 1);
    atomic_fetch_add(&r->damaged_records, records);
}

/* Task flags PF_EXITING and PF_POSTCOREDUMP: the latter set by do_exit
 * before a thread's PTRACE_EVENT_EXIT stop (Linux >= 5.19), on no other
 * stop. */
#define TASK_FLAG_EXITING 0xcul

/* The state letter of thread tid in /proc/TID/stat ('R', 'S', 'D', 'T',
 * 't', ...), or 0 when it has exited (gone, or a zombie) or is held at its
 * exit stop (ending: it never writes again). */
static char thread_state(uint32_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%u/stat", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH ? 0 : 'S';
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *close_paren = strrchr(buf, ')');
    if (!close_paren || close_paren[1] != ' ')
        return 'S';
    char state = close_paren[2];
    if (state == 'Z' || state == 'X' || state == 'x')
        return 0;
    unsigned long flags = 0; /* after the state: ppid pgrp session tty_nr tpgid flags */
    if (state == 't' && sscanf(close_paren + 3, "%*d %*d %*d %*d %*d %lu", &flags) == 1 &&
        (flags & TASK_FLAG_EXITING))
        return 0;
    return state;
}

void mp_reader_note_writer_slow(struct mp_ring_reader *r, uint32_t pid)
{
    r->last_writer_pid = pid;
    for (unsigned i = 0; i < MP_READER_WRITER_PIDS; i++)
        if (r->writer_pids[i] == pid)
            return;
    r->writer_pids[r->next_writer_slot] = pid;
    r->next_writer_slot = (r->next_writer_slot + 1) % MP_READER_WRITER_PIDS;
}

/* The time thread tid has run, in ns (/proc/TID/schedstat; else its user
 * and system times in /proc/TID/stat), or UINT64_MAX when unreadable. */
static uint64_t thread_run_ns(uint32_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%u/schedstat", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        unsigned long long ns;
        if (n > 0) {
            buf[n] = '\0';
            if (sscanf(buf, "%llu", &ns) == 1)
                return ns;
        }
    }
    snprintf(path, sizeof path, "/proc/%u/stat", tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return UINT64_MAX;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return UINT64_MAX;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long long utime, stime;
    /* after ")": state ppid pgrp session tty_nr tpgid flags minflt cminflt
     * majflt cmajflt utime stime */
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return UINT64_MAX;
    long hz = sysconf(_SC_CLK_TCK);
    return (utime + stime) * (1000000000ull / (uint64_t)(hz > 0 ? hz : 100));
}

static void note_threads_of(struct mp_ring_reader *r, uint32_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%u/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && r->n_hole_threads < MP_READER_HOLE_THREADS) {
        uint32_t tid = (uint32_t)strtoul(de->d_name, NULL, 10);
        if (tid == 0)
            continue;
        r->hole_threads[r->n_hole_threads].pid = pid;
        r->hole_threads[r->n_hole_threads].tid = tid;
        r->hole_threads[r->n_hole_threads].run_ns = thread_run_ns(tid);
        r->n_hole_threads++;
    }
    closedir(d);
}

/* The threads that may hold the unclaimed hole at tail (memprof's own
 * post records too), and how long each had run by now. */
static void take_hole_threads(struct mp_ring_reader *r)
{
    r->n_hole_threads = 0;
    pthread_mutex_lock(&r->own_lock);
    uint32_t target = (uint32_t)r->own.target_pid;
    pthread_mutex_unlock(&r->own_lock);
    uint32_t self = (uint32_t)getpid();
    note_threads_of(r, self);
    if (target && target != self)
        note_threads_of(r, target);
    for (unsigned i = 0; i < MP_READER_WRITER_PIDS; i++) {
        uint32_t pid = r->writer_pids[i];
        if (pid && pid != target && pid != self)
            note_threads_of(r, pid);
    }
    r->hole_baseline = 1;
}

/* 1 while some thread that may hold the unclaimed hole could not have
 * claimed it yet: runnable (or in uninterruptible sleep) and not run
 * since take_hole_threads, or stopped. */
static int writers_may_yet_claim(struct mp_ring_reader *r)
{
    int32_t frozen = atomic_load_explicit(&r->frozen_pid, memory_order_relaxed);
    for (size_t i = 0; i < r->n_hole_threads; i++) {
        uint32_t tid = r->hole_threads[i].tid;
        char state = thread_state(tid);
        if (state == 0 || state == 'S' || state == 'I')
            continue; /* ended, or asleep: not between its fetch_add and its claim */
        if (frozen && r->hole_threads[i].pid == (uint32_t)frozen)
            continue; /* held at its exit for good: never writes again */
        if (state == 'T' || state == 't')
            return 1;
        uint64_t before = r->hole_threads[i].run_ns, now = thread_run_ns(tid);
        if (before == UINT64_MAX || now == UINT64_MAX || now == before)
            return 1; /* runnable and not run since (or unknown) */
    }
    return 0;
}

/* Frees the slot at tail for the next lap (if it is still free for this
 * one) and moves on.  1 if done. */
static int revoke_at_tail(struct mp_ring_reader *r)
{
    struct mp_ring_record *slot = mp_reader_slot(r, r->tail);
    uint64_t expected = r->tail;
    if (!atomic_compare_exchange_strong_explicit(&slot->seq, &expected, r->tail + r->capacity,
                                                 memory_order_acq_rel, memory_order_acquire))
        return 0; /* committed meanwhile, or changed by the target: looked at again */
    r->tail++;
    r->stuck = 0;
    return 1;
}

static void deliver_lost(struct mp_ring_reader *r, uint32_t pid)
{
    atomic_fetch_add(&r->revoked, 1);
    if (r->sink) {
        struct mp_event lost = { .kind = MP_EV_LOST, .pid = pid, .size = 1 };
        r->sink(r->sink_ctx, &lost);
    }
}

/* Positions from tail up to the head seen when the hole began, reserved
 * all that time and never claimed: revoked together. */
static int revoke_unclaimed_run(struct mp_ring_reader *r)
{
    int n = 0;
    uint64_t end = r->stuck_head;
    while (r->tail < end) {
        struct mp_ring_record *slot = mp_reader_slot(r, r->tail);
        uint64_t claim = atomic_load_explicit(&slot->claim, memory_order_acquire);
        if ((claim >> 32) == (r->tail & 0xffffffffull) ||
            atomic_load_explicit(&slot->seq, memory_order_acquire) != r->tail)
            break; /* claimed (its writer is looked at), or committed */
        if (!revoke_at_tail(r))
            break;
        n++;
        if (atomic_load(&r->damage_seen) == 0)
            deliver_lost(r, 0); /* a writer died (or stopped) before it could claim */
        else
            mp_reader_count_damage(r, 1); /* or the target moved the head */
    }
    return n > 0;
}

/* After a slot written over went unclaimed for REPAIRED_GRACE_NS: the
 * target wrote over a stretch of the ring (records waiting in it, gone).
 * The positions after it, up to the head seen when the hole began, whose
 * sequence numbers no writer stores either go too, each counted, rather
 * than one grace period each.  A writer that holds one takes a new
 * position (ring.h, Trust). */
static void revoke_written_over_run(struct mp_ring_reader *r)
{
    while (r->tail < r->stuck_head) {
        struct mp_ring_record *slot = mp_reader_slot(r, r->tail);
        uint64_t seq = atomic_load_explicit(&slot->seq, memory_order_acquire);
        if (seq == r->tail || seq == r->tail + 1)
            return; /* free (a writer may come) or committed: looked at as usual */
        uint64_t claim = atomic_load_explicit(&slot->claim, memory_order_acquire);
        if ((claim >> 32) == (r->tail & 0xffffffffull))
            return; /* claimed for it: taken as committed by mp_reader_guard */
        if (!atomic_compare_exchange_strong(&slot->seq, &seq, r->tail + r->capacity))
            return;
        r->tail++;
        mp_reader_count_damage(r, 1);
    }
    r->stuck = 0;
}

/* The slot at tail is free for this lap and reserved (head > tail). */
static int examine_hole(struct mp_ring_reader *r, uint64_t head)
{
    uint64_t now = mp_reader_now_ns();
    if (!r->stuck || r->stuck_pos != r->tail) {
        r->stuck = 1;
        r->stuck_pos = r->tail;
        r->stuck_head = head;
        r->stuck_since_ns = r->last_check_ns = now;
        r->stuck_running_ns = 0;
        r->stuck_writer_run_ns = UINT64_MAX;
        r->next_hole_check_ns = now + HOLE_CHECK_NS;
        r->hole_baseline = 0;
        return 0;
    }
    if (now < r->next_hole_check_ns)
        return 0;
    r->next_hole_check_ns = now + HOLE_CHECK_NS;
    struct mp_ring_record *slot = mp_reader_slot(r, r->tail);
    uint64_t claim = atomic_load_explicit(&slot->claim, memory_order_acquire);
    if (r->repaired && r->repaired_pos == r->tail) {
        /* its sequence number was written over and set back to free: a
         * writer waiting for it fills it within microseconds */
        if (now - r->stuck_since_ns < REPAIRED_GRACE_NS || !revoke_at_tail(r))
            return 0;
        r->repaired = 0;
        mp_reader_count_damage(r, 1);
        revoke_written_over_run(r);
        return 1;
    }
    if ((claim >> 32) != (r->tail & 0xffffffffull)) {
        uint64_t age = now - r->stuck_since_ns;
        if (age < UNCLAIMED_GRACE_NS)
            return 0;
        if (!r->hole_baseline) {
            /* Taken only now (cheap holes stay cheap): a thread that runs
             * after this and still has not claimed is not its writer. */
            take_hole_threads(r);
            r->next_writers_check_ns = now + WRITERS_CHECK_NS;
            return 0;
        }
        if (age < UNCLAIMED_MAX_NS) {
            if (now < r->next_writers_check_ns)
                return 0;
            r->next_writers_check_ns = now + WRITERS_CHECK_NS;
            if (writers_may_yet_claim(r))
                return 0;
        }
        return revoke_unclaimed_run(r);
    }
    uint32_t pid = atomic_load_explicit(&slot->claim_pid, memory_order_relaxed);
    /* a process held at its exit stop for good: its writers never go on */
    int32_t frozen = atomic_load_explicit(&r->frozen_pid, memory_order_relaxed);
    char state = frozen && (int32_t)pid == frozen ? 0 : thread_state((uint32_t)claim);
    if (state == 0) { /* its writer died (or never runs again) */
        if (!revoke_at_tail(r))
            return 0;
        deliver_lost(r, pid);
        return 1;
    }
    if (state == 'R') {
        /* runnable: the time it actually ran (on a loaded machine it may
         * wait for a CPU for seconds) */
        uint64_t run = thread_run_ns((uint32_t)claim);
        if (run == UINT64_MAX)
            r->stuck_running_ns += now - r->last_check_ns;
        else if (r->stuck_writer_run_ns != UINT64_MAX && run >= r->stuck_writer_run_ns)
            r->stuck_running_ns += run - r->stuck_writer_run_ns;
        r->stuck_writer_run_ns = run;
    } else if (state != 'T' && state != 't') {
        r->stuck_running_ns += now - r->last_check_ns; /* blocked while holding a slot: not honest */
    }
    r->last_check_ns = now;
    if (r->stuck_running_ns < WRITER_TIMEOUT_NS || !revoke_at_tail(r))
        return 0;
    mp_reader_count_damage(r, 1); /* alive and never finishing: not an honest writer */
    return 1;
}

/* Where a head the target wrote over goes back to: past the last position
 * of this lap a writer holds (claimed or committed), so no new writer
 * gets a position that is still some writer's. */
static uint64_t head_in_use(const struct mp_ring_reader *r)
{
    uint64_t head = r->tail;
    for (uint64_t pos = r->tail; pos < r->tail + r->capacity; pos++) {
        struct mp_ring_record *slot = mp_reader_slot(r, pos);
        uint64_t seq = atomic_load_explicit(&slot->seq, memory_order_acquire);
        uint64_t claim = atomic_load_explicit(&slot->claim, memory_order_relaxed);
        if (seq == pos + 1 || (seq == pos && (claim >> 32) == (pos & 0xffffffffull)))
            head = pos + 1;
    }
    return head;
}

int mp_reader_guard(struct mp_ring_reader *r, uint64_t head)
{
    if (!mp_reader_head_plausible(r, head, r->tail)) {
        struct mp_ring_header *h = r->header;
        if (atomic_compare_exchange_strong(&h->head, &head, head_in_use(r)))
            mp_reader_count_damage(r, 0);
        return 1;
    }
    struct mp_ring_record *slot = mp_reader_slot(r, r->tail);
    uint64_t seq = atomic_load_explicit(&slot->seq, memory_order_acquire);
    if (seq != r->tail && seq != r->tail + 1) {
        /* No writer stores that here.  Claimed for this position: its
         * writer filled it (it had seen the slot free), so it is taken as
         * committed (checked like any record).  Else: free for this lap,
         * so a writer waiting for it goes on. */
        uint64_t claim = atomic_load_explicit(&slot->claim, memory_order_acquire);
        int claimed = (claim >> 32) == (r->tail & 0xffffffffull);
        if (atomic_compare_exchange_strong(&slot->seq, &seq, claimed ? r->tail + 1 : r->tail)) {
            mp_reader_count_damage(r, 0);
            atomic_fetch_add(&r->slots_repaired, 1);
            r->repaired = !claimed;
            r->repaired_pos = r->tail;
        }
        r->stuck = 0;
        return 1;
    }
    if (seq != r->tail || head == r->tail)
        return 0;
    return examine_hole(r, head);
}

/* Writes memprof's words into the header (under own_lock). */
static void write_header_words(struct mp_ring_reader *r)
{
    struct mp_ring_header *h = r->header;
    h->version = MP_RING_VERSION;
    h->record_size = sizeof(struct mp_ring_record);
    h->capacity = r->capacity;
    atomic_store(&h->target_pid, r->own.target_pid);
    atomic_store(&h->tree_tracer, r->own.tree_tracer);
    atomic_store(&h->options, r->own.options);
    atomic_store(&h->closed, r->own.closed);
    for (int i = 0; i < MP_RING_SKIP_SLOTS; i++)
        atomic_store_explicit(&h->skip_pids[i], r->own.skip_pids[i], memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    h->magic = MP_RING_MAGIC;
}

int mp_reader_check_header(struct mp_ring_reader *r)
{
    struct mp_ring_header *h = r->header;
    pthread_mutex_lock(&r->own_lock);
    volatile struct mp_ring_header *v = h;
    int same = v->magic == MP_RING_MAGIC && v->version == MP_RING_VERSION &&
               v->record_size == sizeof(struct mp_ring_record) && v->capacity == r->capacity &&
               atomic_load(&h->target_pid) == r->own.target_pid &&
               atomic_load(&h->tree_tracer) == r->own.tree_tracer && atomic_load(&h->options) == r->own.options &&
               atomic_load(&h->closed) == r->own.closed;
    for (int i = 0; same && i < MP_RING_SKIP_SLOTS; i++)
        same = atomic_load_explicit(&h->skip_pids[i], memory_order_relaxed) == r->own.skip_pids[i];
    if (!same) {
        write_header_words(r);
        mp_reader_count_damage(r, 0);
    }
    pthread_mutex_unlock(&r->own_lock);
    return !same;
}

uint64_t mp_reader_drain_end(struct mp_ring_reader *r, uint64_t head)
{
    if (mp_reader_head_plausible(r, head, r->tail))
        return head;
    mp_reader_count_damage(r, 0);
    return r->tail + r->capacity;
}
