/* memprof tests: the event ring's reader for process trees (events/): a slot
 * whose writer died is revoked while the reader runs (one process of a tree
 * killed must not stop the others' records), a live writer's slot never
 * is, control messages arrive in their place among the records, records
 * carry their pid, and the skip table and the closed flag are where the
 * agent looks for them. */
#define _GNU_SOURCE
#include "harness.h"
#include "events/ring.h"
#include "events/ring_reader.h"

#include <check.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SEEN 64

struct seen {
    _Atomic int n;
    struct { int kind; uint64_t size, addr, time_ns, frames[2]; uint32_t pid, flags, nframes, truncated; int control; } ev[MAX_SEEN];
    uint8_t payload[1024];    /* the last MP_EV_PYCODE's description */
    uint32_t payload_len;
};

static void sink(void *ctx, const struct mp_event *ev)
{
    struct seen *s = ctx;
    int i = atomic_load(&s->n);
    if (i < MAX_SEEN) {
        s->ev[i].kind = ev->kind;
        s->ev[i].size = ev->kind == MP_EV_FREE ? 0 : ev->size;
        s->ev[i].addr = ev->addr;
        s->ev[i].flags = ev->flags;
        s->ev[i].pid = ev->pid;
        s->ev[i].time_ns = ev->time_ns;
        s->ev[i].nframes = ev->nframes;
        s->ev[i].truncated = ev->truncated;
        for (uint32_t k = 0; k < 2 && k < ev->nframes; k++)
            s->ev[i].frames[k] = ev->frames[k];
        s->ev[i].control = 0;
        if (ev->kind == MP_EV_PYCODE && ev->payload_len <= sizeof s->payload) {
            memcpy(s->payload, ev->payload, ev->payload_len);
            s->payload_len = ev->payload_len;
        }
        atomic_store(&s->n, i + 1);
    }
}

static void control(void *ctx, void *message)
{
    struct seen *s = ctx;
    int i = atomic_load(&s->n);
    if (i < MAX_SEEN) {
        s->ev[i].control = (int)(intptr_t)message;
        atomic_store(&s->n, i + 1);
    }
}

/* Waits up to 10 s until `n` events were seen; the number seen. */
static int wait_seen(struct seen *s, int n)
{
    for (int i = 0; i < 1000 && atomic_load(&s->n) < n; i++)
        usleep(10 * 1000);
    return atomic_load(&s->n);
}

struct writer {
    struct mp_ring_header *h;
    size_t bytes;
    uint64_t mask;
};

static struct writer writer_of(struct mp_ring_reader *r, uint64_t capacity)
{
    struct writer w = { .bytes = MP_RING_BYTES(capacity), .mask = capacity - 1 };
    w.h = mmap(NULL, w.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, mp_ring_reader_fd(r), 0);
    ck_assert_ptr_ne(w.h, MAP_FAILED);
    return w;
}

/* The agent's steps: reserve, wait until free, claim (pid, tid). */
static uint64_t reserve(struct writer *w, int claim, uint32_t pid, uint32_t tid)
{
    uint64_t pos = atomic_fetch_add(&w->h->head, 1);
    struct mp_ring_record *slot = mp_ring_slot(w->h, w->mask, pos);
    while (atomic_load(&slot->seq) != pos)
        usleep(50);
    if (claim) {
        atomic_store(&slot->claim_pid, pid);
        atomic_store(&slot->claim, mp_ring_claim(pos, tid));
    }
    return pos;
}

static void commit(struct writer *w, uint64_t pos, uint32_t pid, uint64_t size)
{
    struct mp_ring_record *slot = mp_ring_slot(w->h, w->mask, pos);
    slot->kind = MP_REC_ALLOC;
    slot->tid = 1;
    slot->pid = pid;
    slot->addr = 0x1000 + pos * 16;
    slot->size = size;
    slot->nframes = 0;
    slot->truncated = 0;
    atomic_store(&slot->seq, pos + 1);
}

static struct mp_ring_reader *new_reader(uint64_t capacity)
{
    char err[256];
    struct mp_ring_reader *r = mp_ring_reader_create(capacity, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    return r;
}

/* A process killed between reserving and committing: its slot goes, the
 * records after it come, while the reader runs. */
START_TEST(dead_writers_slot_is_revoked)
{
    struct mp_ring_reader *r = new_reader(8);
    struct writer w = writer_of(r, 8);
    struct seen *s = calloc(1, sizeof *s);
    ck_assert_int_eq(mp_ring_reader_start(r, sink, s), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        reserve(&w, 1, (uint32_t)getpid(), (uint32_t)syscall(SYS_gettid));
        _exit(0); /* dies holding the slot */
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    commit(&w, reserve(&w, 1, 77, (uint32_t)syscall(SYS_gettid)), 77, 5);
    commit(&w, reserve(&w, 1, 77, (uint32_t)syscall(SYS_gettid)), 77, 6);
    ck_assert_int_eq(wait_seen(s, 3), 3);
    ck_assert_int_eq(s->ev[0].kind, MP_EV_LOST); /* in its place, charged to the dead process */
    ck_assert_uint_eq(s->ev[0].pid, (uint32_t)child);
    ck_assert_int_eq(s->ev[1].kind, MP_EV_ALLOC);
    ck_assert_uint_eq(s->ev[1].size, 5);
    ck_assert_uint_eq(s->ev[1].pid, 77);
    ck_assert_uint_eq(s->ev[2].size, 6);
    ck_assert_uint_eq(mp_ring_reader_revoked(r), 1);
    /* the revoked slot serves the next lap */
    for (int i = 0; i < 20; i++)
        commit(&w, reserve(&w, 1, 77, 1), 77, 100 + (uint64_t)i);
    ck_assert_int_eq(wait_seen(s, 23), 23);
    ck_assert_uint_eq(s->ev[22].size, 119);
    uint64_t lost = 0;
    ck_assert_int_eq(mp_ring_reader_stop(r, &lost), 0);
    ck_assert_uint_eq(lost, 0);
    munmap(w.h, w.bytes);
    mp_ring_reader_destroy(r);
    free(s);
}
END_TEST

/* A slot reserved and never claimed (its writer died before it could say
 * who it was) goes after a second; a claimed one of a live thread never. */
START_TEST(unclaimed_slot_goes_live_one_stays)
{
    struct mp_ring_reader *r = new_reader(8);
    struct writer w = writer_of(r, 8);
    struct seen *s = calloc(1, sizeof *s);
    ck_assert_int_eq(mp_ring_reader_start(r, sink, s), 0);
    reserve(&w, 0, 0, 0); /* never claimed */
    commit(&w, reserve(&w, 1, 9, 1), 9, 7);
    ck_assert_int_eq(wait_seen(s, 2), 2);
    ck_assert_int_eq(s->ev[0].kind, MP_EV_LOST);
    ck_assert_uint_eq(s->ev[0].pid, 0); /* nobody to charge it to */
    ck_assert_uint_eq(s->ev[1].size, 7);

    /* our own thread claims a slot and takes its time: the reader waits */
    uint64_t pos = reserve(&w, 1, (uint32_t)getpid(), (uint32_t)syscall(SYS_gettid));
    commit(&w, reserve(&w, 1, 9, 1), 9, 8);
    usleep(1500 * 1000);
    ck_assert_int_eq(atomic_load(&s->n), 2);
    commit(&w, pos, 9, 9);
    ck_assert_int_eq(wait_seen(s, 4), 4);
    ck_assert_uint_eq(s->ev[2].size, 9);
    ck_assert_uint_eq(s->ev[3].size, 8);
    ck_assert_uint_eq(mp_ring_reader_revoked(r), 1);
    mp_ring_reader_stop(r, NULL);
    munmap(w.h, w.bytes);
    mp_ring_reader_destroy(r);
    free(s);
}
END_TEST

/* A writer stopped (SIGSTOP) between its reservation and its claim, for
 * longer than the grace an unclaimed slot used to get (1 s of wall time:
 * a writer merely descheduled on a loaded machine lost its record): the
 * reader waits for it, nothing is lost; once it goes on, its record comes
 * in its place.  A writer of a known process that dies there instead is
 * revoked (counted) as before. */
START_TEST(stopped_unclaimed_writer_loses_nothing)
{
    struct mp_ring_reader *r = new_reader(8);
    struct writer w = writer_of(r, 8);
    struct seen *s = calloc(1, sizeof *s);
    ck_assert_int_eq(mp_ring_reader_start(r, sink, s), 0);
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        uint32_t me = (uint32_t)getpid(), tid = (uint32_t)syscall(SYS_gettid);
        commit(&w, reserve(&w, 1, me, tid), me, 1); /* the reader learns this process writes */
        char b;
        if (read(go[0], &b, 1) != 1)
            _exit(2);
        uint64_t pos = atomic_fetch_add(&w.h->head, 1);
        raise(SIGSTOP); /* between its fetch_add and its claim */
        struct mp_ring_record *slot = mp_ring_slot(w.h, w.mask, pos);
        while (atomic_load(&slot->seq) != pos)
            usleep(50);
        atomic_store(&slot->claim_pid, me);
        atomic_store(&slot->claim, mp_ring_claim(pos, tid));
        commit(&w, pos, me, 42);
        _exit(0);
    }
    ck_assert_int_eq(wait_seen(s, 1), 1);
    ck_assert_uint_eq(s->ev[0].size, 1);
    ck_assert_uint_eq(s->ev[0].pid, (uint32_t)child);
    ck_assert_int_eq(write(go[1], "g", 1), 1);
    int status;
    ck_assert_int_eq(waitpid(child, &status, WUNTRACED), child);
    ck_assert(WIFSTOPPED(status));
    commit(&w, reserve(&w, 1, 9, 1), 9, 7); /* behind the hole */
    usleep(2500 * 1000);
    ck_assert_int_eq(atomic_load(&s->n), 1);
    ck_assert_uint_eq(mp_ring_reader_revoked(r), 0);
    kill(child, SIGCONT);
    ck_assert_int_eq(wait_seen(s, 3), 3);
    ck_assert_int_eq(s->ev[1].kind, MP_EV_ALLOC);
    ck_assert_uint_eq(s->ev[1].size, 42);
    ck_assert_uint_eq(s->ev[1].pid, (uint32_t)child);
    ck_assert_uint_eq(s->ev[2].size, 7);
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_uint_eq(mp_ring_reader_revoked(r), 0);

    /* the same process dies between its fetch_add and its claim */
    child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        uint32_t me = (uint32_t)getpid();
        commit(&w, reserve(&w, 1, me, (uint32_t)syscall(SYS_gettid)), me, 2);
        atomic_fetch_add(&w.h->head, 1);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    commit(&w, reserve(&w, 1, 9, 1), 9, 8);
    ck_assert_int_eq(wait_seen(s, 6), 6);
    ck_assert_uint_eq(s->ev[3].size, 2);
    ck_assert_int_eq(s->ev[4].kind, MP_EV_LOST);
    ck_assert_uint_eq(s->ev[5].size, 8);
    ck_assert_uint_eq(mp_ring_reader_revoked(r), 1);
    mp_ring_reader_stop(r, NULL);
    munmap(w.h, w.bytes);
    mp_ring_reader_destroy(r);
    free(s);
    close(go[0]);
    close(go[1]);
}
END_TEST

/* A writer held at its exit stop (PTRACE_EVENT_EXIT, as memprof's exit
 * gate holds threads) after it reserved a slot and never claimed it: the
 * thread still exists, stopped, but never writes again; its slot goes and
 * is counted while the thread is held (not after the hold ends). */
START_TEST(unclaimed_slot_of_thread_at_exit_stop_goes)
{
    struct mp_ring_reader *r = new_reader(8);
    struct writer w = writer_of(r, 8);
    struct seen *s = calloc(1, sizeof *s);
    ck_assert_int_eq(mp_ring_reader_start(r, sink, s), 0);
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        uint32_t me = (uint32_t)getpid();
        char b;
        if (read(go[0], &b, 1) != 1)
            _exit(2);
        commit(&w, reserve(&w, 1, me, (uint32_t)syscall(SYS_gettid)), me, 3);
        atomic_fetch_add(&w.h->head, 1);
        _exit(0); /* stops at its exit: held by this test */
    }
    ck_assert_int_eq(ptrace(PTRACE_SEIZE, child, 0, PTRACE_O_TRACEEXIT), 0);
    ck_assert_int_eq(write(go[1], "g", 1), 1);
    int status;
    ck_assert_int_eq(waitpid(child, &status, __WALL), child);
    ck_assert(WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_EXIT);
    commit(&w, reserve(&w, 1, 9, 1), 9, 4);
    ck_assert_int_eq(wait_seen(s, 3), 3);
    ck_assert_uint_eq(s->ev[0].size, 3);
    ck_assert_int_eq(s->ev[1].kind, MP_EV_LOST);
    ck_assert_uint_eq(s->ev[2].size, 4);
    ck_assert_uint_eq(mp_ring_reader_revoked(r), 1);
    ck_assert_int_eq(ptrace(PTRACE_CONT, child, 0, 0), 0);
    ck_assert_int_eq(waitpid(child, &status, __WALL), child);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    mp_ring_reader_stop(r, NULL);
    munmap(w.h, w.bytes);
    mp_ring_reader_destroy(r);
    free(s);
    close(go[0]);
    close(go[1]);
}
END_TEST

/* A process held at its exit for good (mp_ring_reader_freeze_pid): a slot
 * one of its threads claimed and never wrote goes at once, though the
 * thread still exists, charged to that process; another process's stays. */
START_TEST(frozen_process_slot_goes)
{
    struct mp_ring_reader *r = new_reader(8);
    struct writer w = writer_of(r, 8);
    struct seen *s = calloc(1, sizeof *s);
    ck_assert_int_eq(mp_ring_reader_start(r, sink, s), 0);
    uint32_t me = (uint32_t)syscall(SYS_gettid);
    uint64_t other = reserve(&w, 1, 5151, me); /* a live thread of a running process */
    commit(&w, reserve(&w, 1, 9, 1), 9, 8);
    usleep(300 * 1000);
    ck_assert_int_eq(atomic_load(&s->n), 0);
    commit(&w, other, 5151, 5);
    ck_assert_int_eq(wait_seen(s, 2), 2);
    reserve(&w, 1, 4242, me); /* held at its exit: it will never write */
    commit(&w, reserve(&w, 1, 9, 1), 9, 6);
    usleep(300 * 1000);
    ck_assert_int_eq(atomic_load(&s->n), 2);
    mp_ring_reader_freeze_pid(r, 4242);
    ck_assert_int_eq(wait_seen(s, 4), 4);
    mp_ring_reader_freeze_pid(r, 0);
    ck_assert_int_eq(s->ev[2].kind, MP_EV_LOST);
    ck_assert_uint_eq(s->ev[2].pid, 4242);
    ck_assert_uint_eq(s->ev[3].size, 6);
    ck_assert_uint_eq(mp_ring_reader_revoked(r), 1);
    mp_ring_reader_stop(r, NULL);
    munmap(w.h, w.bytes);
    mp_ring_reader_destroy(r);
    free(s);
}
END_TEST

/* A control message posted after some records and before others is handed
 * over between them, and its ticket says when. */
START_TEST(controls_arrive_in_their_place)
{
    struct mp_ring_reader *r = new_reader(8);
    struct writer w = writer_of(r, 8);
    struct seen *s = calloc(1, sizeof *s);
    mp_ring_reader_set_control_sink(r, control);
    uint64_t held = reserve(&w, 1, 3, (uint32_t)syscall(SYS_gettid)); /* a record still being written */
    commit(&w, reserve(&w, 1, 3, 1), 3, 1);
    uint64_t t1 = mp_ring_reader_post_control(r, (void *)(intptr_t)101);
    commit(&w, reserve(&w, 1, 3, 1), 3, 2);
    uint64_t t2 = mp_ring_reader_post_control(r, (void *)(intptr_t)102);
    ck_assert_int_eq(mp_ring_reader_start(r, sink, s), 0);
    usleep(100 * 1000);
    ck_assert_int_eq(atomic_load(&s->n), 0); /* all wait behind the record being written */
    ck_assert(!mp_ring_reader_control_done(r, t1));
    commit(&w, held, 3, 0);
    ck_assert_int_eq(wait_seen(s, 5), 5);
    ck_assert_uint_eq(s->ev[0].size, 0);
    ck_assert_uint_eq(s->ev[1].size, 1);
    ck_assert_int_eq(s->ev[2].control, 101);
    ck_assert_uint_eq(s->ev[3].size, 2);
    ck_assert_int_eq(s->ev[4].control, 102);
    ck_assert(mp_ring_reader_control_done(r, t1) && mp_ring_reader_control_done(r, t2));
    /* posted when nothing is pending: handed over at once */
    uint64_t t3 = mp_ring_reader_post_control(r, (void *)(intptr_t)103);
    ck_assert_int_eq(wait_seen(s, 6), 6);
    ck_assert_int_eq(s->ev[5].control, 103);
    ck_assert(mp_ring_reader_control_done(r, t3));
    /* left at stop: handed over there */
    mp_ring_reader_stop(r, NULL);
    mp_ring_reader_post_control(r, (void *)(intptr_t)104);
    mp_ring_reader_stop(r, NULL);
    ck_assert_int_eq(atomic_load(&s->n), 7);
    ck_assert_int_eq(s->ev[6].control, 104);
    munmap(w.h, w.bytes);
    mp_ring_reader_destroy(r);
    free(s);
}
END_TEST

/* memprof's own records carry the pid they are given. */
START_TEST(samples_and_lines_carry_their_pid)
{
    struct mp_ring_reader *r = new_reader(8);
    struct seen *s = calloc(1, sizeof *s);
    ck_assert_int_eq(mp_ring_reader_post_sample(r, 4242, 10, 4096, 1000, NULL), 0);
    ck_assert_int_eq(mp_ring_reader_post_line(r, 4343, 1, 7, 8192, 5555), 0);
    ck_assert_int_eq(mp_ring_reader_start(r, sink, s), 0);
    ck_assert_int_eq(wait_seen(s, 2), 2);
    ck_assert_int_eq(s->ev[0].kind, MP_EV_SAMPLE);
    ck_assert_uint_eq(s->ev[0].pid, 4242);
    ck_assert_int_eq(s->ev[1].kind, MP_EV_LINE);
    ck_assert_uint_eq(s->ev[1].pid, 4343);
    ck_assert_uint_eq(s->ev[1].time_ns, 5555);
    mp_ring_reader_destroy(r);
    free(s);
}
END_TEST

START_TEST(skip_table_and_closed_flag)
{
    struct mp_ring_reader *r = new_reader(8);
    struct writer w = writer_of(r, 8);
    ck_assert_int_eq(mp_ring_reader_skip_pid(r, 1234, 1), 0);
    ck_assert_int_eq(mp_ring_reader_skip_pid(r, 1234, 1), 0); /* once is enough */
    int found = 0;
    for (int i = 0; i < MP_RING_SKIP_SLOTS; i++)
        found += atomic_load(&w.h->skip_pids[i]) == 1234;
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(mp_ring_reader_skip_pid(r, 1234, 0), 0);
    for (int i = 0; i < MP_RING_SKIP_SLOTS; i++)
        ck_assert_int_ne(atomic_load(&w.h->skip_pids[i]), 1234);
    for (int i = 0; i < MP_RING_SKIP_SLOTS; i++)
        ck_assert_int_eq(mp_ring_reader_skip_pid(r, 10000 + i, 1), 0);
    ck_assert_int_eq(mp_ring_reader_skip_pid(r, 99999, 1), -1); /* full: says so */
    ck_assert_uint_eq(atomic_load(&w.h->closed), 0);
    mp_ring_reader_set_tree_tracer(r, 555);
    ck_assert_int_eq(atomic_load(&w.h->tree_tracer), 555);
    mp_ring_reader_close(r);
    ck_assert_uint_eq(atomic_load(&w.h->closed), 1);
    munmap(w.h, w.bytes);
    mp_ring_reader_destroy(r);
}
END_TEST

/* ---- the trust boundary (ring.h, Trust): the target writes anything ---- */

/* A reader of an 8-slot ring, a writer mapping it, and what was seen. */
struct ring_case {
    struct mp_ring_reader *r;
    struct writer w;
    struct seen *s;
};

static struct ring_case open_case(void)
{
    struct ring_case c;
    c.r = new_reader(8);
    c.w = writer_of(c.r, 8);
    c.s = calloc(1, sizeof *c.s);
    return c;
}

static void close_case(struct ring_case *c)
{
    mp_ring_reader_destroy(c->r);
    munmap(c->w.h, c->w.bytes);
    free(c->s);
}

/* The reader's damage count: it must say the ring was damaged. */
static uint64_t damage_dropped(struct ring_case *c)
{
    uint64_t dropped;
    int records_hit;
    ck_assert(mp_ring_reader_damage(c->r, &dropped, &records_hit));
    return dropped;
}

/* A committed record whose sequence number the target then wrote over:
 * claimed for its position, so it was filled: taken as committed; the
 * damage is said. */
START_TEST(scribbled_sequence_number_is_repaired)
{
    struct ring_case c = open_case();
    struct mp_ring_reader *r = c.r;
    struct writer w = c.w;
    struct seen *s = c.s;
    uint64_t pos = reserve(&w, 1, 5, (uint32_t)syscall(SYS_gettid));
    commit(&w, pos, 5, 1);
    atomic_store(&mp_ring_slot(w.h, w.mask, pos)->seq, 0xdeadbeefcafeull);
    commit(&w, reserve(&w, 1, 5, (uint32_t)syscall(SYS_gettid)), 5, 2);
    ck_assert_int_eq(mp_ring_reader_start(r, sink, s), 0);
    ck_assert_int_eq(wait_seen(s, 2), 2);
    ck_assert_uint_eq(s->ev[0].size, 1);
    ck_assert_uint_eq(s->ev[1].size, 2);
    ck_assert_uint_eq(damage_dropped(&c), 0);
    /* the ring goes on: another lap */
    for (int i = 0; i < 20; i++)
        commit(&w, reserve(&w, 1, 5, 1), 5, 100 + (uint64_t)i);
    ck_assert_int_eq(wait_seen(s, 22), 22);
    ck_assert_uint_eq(s->ev[21].size, 119);
    close_case(&c);
}
END_TEST

/* A writer waiting for a slot whose sequence number the target wrote over
 * goes on once the reader gets there. */
START_TEST(writer_waiting_on_scribbled_slot_goes_on)
{
    struct ring_case c = open_case();
    struct mp_ring_reader *r = c.r;
    struct writer w = c.w;
    struct seen *s = c.s;
    atomic_store(&mp_ring_slot(w.h, w.mask, 0)->seq, ~0ull - 3);
    ck_assert_int_eq(mp_ring_reader_start(r, sink, s), 0);
    commit(&w, reserve(&w, 1, 5, (uint32_t)syscall(SYS_gettid)), 5, 9); /* waits for the repair */
    ck_assert_int_eq(wait_seen(s, 1), 1);
    ck_assert_uint_eq(s->ev[0].size, 9);
    close_case(&c);
}
END_TEST

/* The header's capacity, head and tail are the target's: the reader keeps
 * its own capacity, resets a head it cannot reach, and stops in time. */
START_TEST(header_garbage_is_not_trusted)
{
    struct ring_case c = open_case();
    struct mp_ring_reader *r = c.r;
    struct writer w = c.w;
    struct seen *s = c.s;
    commit(&w, reserve(&w, 1, 5, 1), 5, 1);
    w.h->capacity = 1ull << 40;
    w.h->record_size = 1;
    atomic_store(&w.h->tail, 123456789);
    atomic_store(&w.h->head, 0xffffffffffff0000ull);
    ck_assert_int_eq(mp_ring_reader_start(r, sink, s), 0);
    ck_assert_int_eq(wait_seen(s, 1), 1);
    for (int i = 0; i < 100 && atomic_load(&w.h->head) != 1; i++)
        usleep(10 * 1000);
    ck_assert_uint_eq(atomic_load(&w.h->head), 1); /* back at the reader's tail */
    commit(&w, reserve(&w, 1, 5, 1), 5, 2);
    ck_assert_int_eq(wait_seen(s, 2), 2);
    ck_assert_uint_eq(s->ev[1].size, 2);
    /* a huge head at stop: drained up to one ring's worth, no more */
    atomic_store(&w.h->head, 0x7fffffffffffffffull);
    uint64_t lost = 0;
    ck_assert_int_eq(mp_ring_reader_stop(r, &lost), 0);
    ck_assert_uint_le(lost, 8);
    damage_dropped(&c);
    /* memprof's own writers are bounded too */
    atomic_store(&w.h->head, 0x7fffffffffffffffull);
    ck_assert_int_eq(mp_ring_reader_post_sample(r, 1, 1, 1, 1000, NULL), -1);
    close_case(&c);
}
END_TEST

/* A committed record with more frames than a record holds, or an
 * allocation bigger than the address space: dropped. */
START_TEST(impossible_frame_count_is_dropped)
{
    struct ring_case c = open_case();
    struct mp_ring_reader *r = c.r;
    struct writer w = c.w;
    struct seen *s = c.s;
    uint64_t pos = reserve(&w, 1, 5, 1);
    struct mp_ring_record *slot = mp_ring_slot(w.h, w.mask, pos);
    slot->kind = MP_REC_ALLOC;
    slot->pid = 5;
    slot->size = 3;
    slot->nframes = 0xffffffffu;
    atomic_store(&slot->seq, pos + 1);
    pos = reserve(&w, 1, 5, 1);
    commit(&w, pos, 5, 1ull << 60); /* no allocation is that big: dropped too */
    commit(&w, reserve(&w, 1, 5, 1), 5, 4);
    ck_assert_int_eq(mp_ring_reader_start(r, sink, s), 0);
    ck_assert_int_eq(wait_seen(s, 1), 1);
    ck_assert_uint_eq(s->ev[0].size, 4);
    ck_assert_uint_eq(damage_dropped(&c), 2);
    close_case(&c);
}
END_TEST

/* Records of every kind a writer makes, as big as they come, are taken
 * and never counted as damage: a 64 TiB reservation (MAP_NORESERVE), a
 * 20 TiB block (possible with overcommit_memory=1), a mremap's flags in
 * `truncated`, a line event's time in frames[0], a piece of the program's
 * own allocator (MP_CLIENT_BLOCK in its address); a range that leaves the
 * user address space (or wraps) is dropped. */
static void commit_kind(struct writer *w, uint64_t pos, uint32_t kind, uint64_t addr, uint64_t size,
                        uint32_t nframes, uint32_t truncated)
{
    struct mp_ring_record *slot = mp_ring_slot(w->h, w->mask, pos);
    slot->kind = kind;
    slot->tid = 1;
    slot->pid = 5;
    slot->addr = addr;
    slot->size = size;
    slot->nframes = nframes;
    slot->truncated = truncated;
    slot->frames[0] = 777;
    atomic_store(&slot->seq, pos + 1);
}

START_TEST(every_legitimate_kind_is_taken)
{
    struct ring_case c = open_case();
    struct writer w = c.w;
    struct seen *s = c.s;
    const uint64_t tib = 1ull << 40, base = 0x7f0000000000ull - 64 * tib;
    ck_assert_int_eq(mp_ring_reader_start(c.r, sink, s), 0); /* 17 records pass through 8 slots */
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_MAP, base, 64 * tib, 1, 0);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_REMAP_FROM, base, 64 * tib, 0, 1 /* MREMAP_MAYMOVE */);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_REMAP_TO, base - tib, 64 * tib + 4096, 1, 0);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_UNMAP, base - tib, 64 * tib + 4096, 0, 0);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_ALLOC, 0x100000000ull, 20 * tib, 1, 0);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_FREE, 0x100000000ull, 0, 1, 0);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_LINE, 3, 4096, 1, 0);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_HELLO, 0, 1 << 20, 0, 0);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_NOP, 0, 0, 0, 0);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_ALLOC, 0x7f0000001000ull | MP_CLIENT_BLOCK, 24, 1, 0);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_MODMAP, 0, 0, 0, 0); /* as agent_dl.c and memprof write it */
    /* not one a writer makes: past the address space, wrapping, no such kind */
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_MAP, 0, MP_RING_USER_SPACE + 4096, 1, 0);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_UNMAP, ~0ull - 4095, 8192, 0, 0);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_REMAP_TO, MP_RING_USER_SPACE - 4096, 8192, 1, 0);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_KINDS, 0x1000, 16, 0, 0);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_ALLOC, 0x2000, 48, 1, 0);
    ck_assert_int_eq(wait_seen(s, 11), 11);
    usleep(100 * 1000);
    ck_assert_int_eq(atomic_load(&s->n), 11);
    ck_assert_int_eq(s->ev[0].kind, MP_EV_MAP);
    ck_assert_uint_eq(s->ev[0].size, 64 * tib);
    ck_assert_int_eq(s->ev[1].kind, MP_EV_REMAP_FROM);
    ck_assert_uint_eq(s->ev[1].flags, 1);
    ck_assert_int_eq(s->ev[2].kind, MP_EV_REMAP_TO);
    ck_assert_uint_eq(s->ev[2].addr, base - tib);
    ck_assert_int_eq(s->ev[3].kind, MP_EV_UNMAP);
    ck_assert_uint_eq(s->ev[3].size, 64 * tib + 4096);
    ck_assert_int_eq(s->ev[4].kind, MP_EV_ALLOC);
    ck_assert_uint_eq(s->ev[4].size, 20 * tib);
    ck_assert_int_eq(s->ev[5].kind, MP_EV_FREE);
    ck_assert_int_eq(s->ev[6].kind, MP_EV_LINE);
    ck_assert_uint_eq(s->ev[6].time_ns, 777);
    ck_assert_int_eq(s->ev[7].kind, MP_EV_AGENT);
    ck_assert_int_eq(s->ev[8].kind, MP_EV_ALLOC); /* an annotated piece */
    ck_assert_uint_eq(s->ev[8].addr, 0x7f0000001000ull | MP_CLIENT_BLOCK);
    ck_assert_int_eq(s->ev[9].kind, MP_EV_MODMAP);
    ck_assert_uint_eq(s->ev[9].pid, 5);
    ck_assert_int_eq(s->ev[10].kind, MP_EV_ALLOC);
    ck_assert_uint_eq(s->ev[10].size, 48);
    ck_assert_uint_eq(damage_dropped(&c), 4);
    close_case(&c);
}
END_TEST

/* The agent's Python records (agent_python.c, agent_pycode.c): a
 * PYSTART, and a code description in chunks whose nframes counts bytes
 * (up to the 384 the frames hold), are taken and assembled, not counted as
 * damage; a chunk with more bytes than a record holds, a description
 * bigger than MP_PYCODE_MAX_PAYLOAD, and a chunk past its description's
 * end cannot be one a writer made: dropped as damage. */
static void commit_pycode(struct writer *w, uint32_t id, uint32_t total, uint32_t chunk, uint32_t bytes, uint8_t fill)
{
    uint64_t pos = reserve(w, 1, 5, 1);
    struct mp_ring_record *slot = mp_ring_slot(w->h, w->mask, pos);
    slot->kind = MP_REC_PYCODE;
    slot->tid = 1;
    slot->pid = 5;
    slot->addr = id;
    slot->size = total;
    slot->nframes = bytes;
    slot->truncated = chunk;
    memset(slot->frames, fill, sizeof slot->frames);
    atomic_store(&slot->seq, pos + 1);
}

START_TEST(python_records_are_taken)
{
    struct ring_case c = open_case();
    struct writer w = c.w;
    struct seen *s = c.s;
    const uint32_t room = MP_MAX_FRAMES * sizeof(uint64_t); /* bytes a chunk holds: 384 */
    ck_assert_int_eq(mp_ring_reader_start(c.r, sink, s), 0);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_PYSTART, 0x7f1234567000ull, 0x030b02f0, 0, 0);
    commit_pycode(&w, 9, room + 100, 0, room, 0xab); /* one description in two chunks */
    commit_pycode(&w, 9, room + 100, 1, 100, 0xcd);
    commit_pycode(&w, 10, 2 * room, 0, room + 1, 0); /* not one a writer makes */
    commit_pycode(&w, 10, MP_PYCODE_MAX_PAYLOAD + 1, 0, room, 0);
    commit_pycode(&w, 10, 2 * room, 2, room, 0);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_ALLOC, 0x2000, 48, 1, 0);
    ck_assert_int_eq(wait_seen(s, 3), 3);
    usleep(100 * 1000);
    ck_assert_int_eq(atomic_load(&s->n), 3);
    ck_assert_int_eq(s->ev[0].kind, MP_EV_PYSTART);
    ck_assert_uint_eq(s->ev[0].addr, 0x7f1234567000ull);
    ck_assert_uint_eq(s->ev[0].size, 0x030b02f0);
    ck_assert_int_eq(s->ev[1].kind, MP_EV_PYCODE);
    ck_assert_uint_eq(s->ev[1].addr, 9);
    ck_assert_uint_eq(s->payload_len, room + 100);
    for (uint32_t i = 0; i < room + 100; i++)
        ck_assert_uint_eq(s->payload[i], i < room ? 0xab : 0xcd);
    ck_assert_int_eq(s->ev[2].kind, MP_EV_ALLOC);
    ck_assert_uint_eq(mp_ring_reader_pycode_broken(c.r), 0);
    ck_assert_uint_eq(damage_dropped(&c), 3);
    close_case(&c);
}
END_TEST

/* What the agent counts travels in records, not in the header the target
 * can write over: an MP_REC_DROPS record's count is damage, a stack cut
 * short by a fault (MP_REC_TRUNC_FAULT) is counted and delivered as an
 * ordinary stack. */
START_TEST(agent_counts_travel_in_records)
{
    struct ring_case c = open_case();
    struct writer w = c.w;
    struct seen *s = c.s;
    ck_assert_int_eq(mp_ring_reader_start(c.r, sink, s), 0);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_DROPS, 0, 5, 0, 0);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_ALLOC, 0x2000, 48, 1, MP_REC_TRUNC_FAULT);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_ALLOC, 0x3000, 16, 1, MP_REC_TRUNC_FAULT | 1);
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_DROPS, 0, 1ull << 50, 0, 0); /* no agent drops that many */
    ck_assert_int_eq(wait_seen(s, 2), 2);
    usleep(100 * 1000);
    ck_assert_int_eq(atomic_load(&s->n), 2);
    ck_assert_int_eq(s->ev[0].kind, MP_EV_ALLOC);
    ck_assert_uint_eq(s->ev[0].size, 48);
    ck_assert_uint_eq(mp_ring_reader_unwind_faults(c.r), 2);
    ck_assert_uint_eq(damage_dropped(&c), 5 + 1); /* the implausible DROPS record is itself dropped */
    close_case(&c);
}
END_TEST

/* The header's fixed words written over (0xff, the closed flag set): the
 * reader writes memprof's values back, so an agent attaching later (an
 * exec'd program) finds the ring, and says the ring was damaged. */
START_TEST(header_words_are_written_back)
{
    struct ring_case c = open_case();
    mp_ring_reader_set_target(c.r, 4242);
    ck_assert_int_eq(mp_ring_reader_skip_pid(c.r, 77, 1), 0);
    ck_assert_int_eq(mp_ring_reader_start(c.r, sink, c.s), 0);
    memset(c.w.h, 0xff, offsetof(struct mp_ring_header, head));
    memset((char *)c.w.h + offsetof(struct mp_ring_header, skip_pids), 0xff, sizeof c.w.h->skip_pids);
    for (int i = 0; i < 100 && c.w.h->magic != MP_RING_MAGIC; i++)
        usleep(10 * 1000);
    ck_assert_uint_eq(c.w.h->magic, MP_RING_MAGIC);
    ck_assert_uint_eq(c.w.h->capacity, 8);
    ck_assert_uint_eq(c.w.h->record_size, sizeof(struct mp_ring_record));
    ck_assert_int_eq(atomic_load(&c.w.h->target_pid), 4242);
    ck_assert_uint_eq(atomic_load(&c.w.h->closed), 0);
    ck_assert_int_eq(atomic_load(&c.w.h->skip_pids[0]), 77);
    ck_assert_int_eq(atomic_load(&c.w.h->skip_pids[1]), 0);
    ck_assert_uint_eq(damage_dropped(&c), 0);
    close_case(&c);
}
END_TEST

/* Stacks named once (MP_REC_STACK) and allocations by id
 * (MP_REC_ALLOC_ID): the allocation gets the frames of its process's
 * stack of that id; an id never named gives an allocation without a stack
 * (counted as cut short, the allocation itself counted); a new agent in a
 * process (HELLO: an exec) names its stacks afresh; ids no agent gives,
 * and an ALLOC_ID that carries frames, are the target's damage; each
 * allocation of a stack named cut short by a fault (MP_REC_TRUNC_FAULT)
 * counts as a stack cut short. */
static void commit_stack(struct writer *w, uint32_t pid, uint64_t id, uint64_t f0, uint32_t nframes,
                         uint32_t truncated)
{
    struct mp_ring_record *slot = mp_ring_slot(w->h, w->mask, reserve(w, 1, pid, 1));
    uint64_t pos = atomic_load(&slot->seq);
    slot->kind = MP_REC_STACK;
    slot->tid = 1;
    slot->pid = pid;
    slot->addr = id;
    slot->size = 0;
    slot->nframes = nframes;
    slot->truncated = truncated;
    slot->frames[0] = f0;
    slot->frames[1] = f0 + 1;
    atomic_store(&slot->seq, pos + 1);
}

static void commit_alloc_id(struct writer *w, uint32_t pid, uint32_t id, uint64_t size, uint32_t nframes)
{
    struct mp_ring_record *slot = mp_ring_slot(w->h, w->mask, reserve(w, 1, pid, 1));
    uint64_t pos = atomic_load(&slot->seq);
    slot->kind = MP_REC_ALLOC_ID;
    slot->tid = 1;
    slot->pid = pid;
    slot->addr = 0x10000 + size;
    slot->size = size;
    slot->nframes = nframes;
    slot->stack_id = id;
    atomic_store(&slot->seq, pos + 1);
}

/* An MP_REC_BATCH record (a thread's small events): the entries in
 * order; the frame count bounded as in every record (the target may
 * write anything). */
static uint64_t commit_batch(struct writer *w, uint32_t pid, const uint64_t *words, uint32_t n)
{
    uint64_t pos = reserve(w, 1, pid, 1);
    struct mp_ring_record *slot = mp_ring_slot(w->h, w->mask, pos);
    slot->kind = MP_REC_BATCH;
    slot->tid = 3;
    slot->pid = pid;
    slot->addr = 0;
    slot->size = 0;
    slot->nframes = n;
    slot->truncated = 0;
    memcpy(slot->frames, words, (size_t)(n < MP_MAX_FRAMES ? n : MP_MAX_FRAMES) * sizeof *words);
    atomic_store(&slot->seq, pos + 1);
    return pos;
}

#define BATCH_ALLOC(id, addr) (MP_BATCH_ALLOC | (uint64_t)(id) << MP_BATCH_ID_SHIFT | (addr))

START_TEST(frees_in_one_record_arrive_in_order)
{
    struct ring_case c = open_case();
    struct writer w = c.w;
    struct seen *s = c.s;
    ck_assert_int_eq(mp_ring_reader_start(c.r, sink, s), 0);
    uint64_t words[MP_MAX_FRAMES] = { 0x1000, MP_BATCH_SITE | 0x401234, 0x2000, 0x3000, MP_BATCH_SITE | 0x405678,
                                      0x4000 };
    commit_batch(&w, 5, words, 6);
    commit_batch(&w, 5, words, MP_MAX_FRAMES + 1); /* damage: more frames than a record holds */
    commit_batch(&w, 5, words, 0);                   /* nothing */
    commit(&w, reserve(&w, 1, 5, 1), 5, 21);
    ck_assert_int_eq(wait_seen(s, 5), 5);
    usleep(100 * 1000);
    ck_assert_int_eq(atomic_load(&s->n), 5);
    const uint64_t addr[] = { 0x1000, 0x2000, 0x3000, 0x4000 }, site[] = { 0, 0x401234, 0x401234, 0x405678 };
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(s->ev[i].kind, MP_EV_FREE);
        ck_assert_uint_eq(s->ev[i].pid, 5);
        ck_assert_uint_eq(s->ev[i].addr, addr[i]);
        ck_assert_uint_eq(s->ev[i].nframes, site[i] != 0);
        if (site[i])
            ck_assert_uint_eq(s->ev[i].frames[0], site[i]);
    }
    ck_assert_int_eq(s->ev[4].kind, MP_EV_ALLOC);
    ck_assert_uint_eq(s->ev[4].size, 21);
    ck_assert_uint_eq(damage_dropped(&c), 1);
    close_case(&c);
}
END_TEST

/* Allocations and frees mixed in one batch arrive in their order, each
 * allocation with the frames of its stack id; an entry no agent writes
 * is counted as damage and the others still arrive. */
START_TEST(batched_events_arrive_in_order)
{
    struct ring_case c = open_case();
    struct writer w = c.w;
    struct seen *s = c.s;
    ck_assert_int_eq(mp_ring_reader_start(c.r, sink, s), 0);
    commit_stack(&w, 5, 7, 0x401000, 2, 0);
    uint64_t words[] = {
        BATCH_ALLOC(7, 0x1000), 16,            /* 0: alloc 16 at 0x1000 */
        MP_BATCH_SITE | 0x402000, 0x1000,      /* 1: free 0x1000 at 0x402000 */
        BATCH_ALLOC(7, 0x1000), 32,            /* 2: alloc 32 at 0x1000 again */
        BATCH_ALLOC(0, 0x5000), 8,             /* damage: id 0 */
        BATCH_ALLOC(7, 0x6000), MP_RING_USER_SPACE, /* damage: beyond the user address space */
        BATCH_ALLOC(9, 0x7000), 24,            /* 3: a stack never named: no frames, cut short */
        0x1000,                                /* 4: free 0x1000, same site */
        BATCH_ALLOC(7, 0x8000),                /* damage: no size word follows */
    };
    commit_batch(&w, 5, words, sizeof words / sizeof words[0]);
    uint64_t last = reserve(&w, 1, 5, 1);
    commit(&w, last, 5, 21); /* 5 */
    ck_assert_int_eq(wait_seen(s, 6), 6);
    usleep(100 * 1000);
    ck_assert_int_eq(atomic_load(&s->n), 6);
    const int kind[] = { MP_EV_ALLOC, MP_EV_FREE, MP_EV_ALLOC, MP_EV_ALLOC, MP_EV_FREE, MP_EV_ALLOC };
    const uint64_t addr[] = { 0x1000, 0x1000, 0x1000, 0x7000, 0x1000, 0x1000 + last * 16 };
    const uint64_t size[] = { 16, 0, 32, 24, 0, 21 };
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(s->ev[i].kind, kind[i]);
        ck_assert_uint_eq(s->ev[i].pid, 5);
        ck_assert_uint_eq(s->ev[i].addr, addr[i]);
        if (kind[i] == MP_EV_ALLOC)
            ck_assert_uint_eq(s->ev[i].size, size[i]);
    }
    ck_assert_uint_eq(s->ev[0].nframes, 2);
    ck_assert_uint_eq(s->ev[0].frames[0], 0x401000);
    ck_assert_uint_eq(s->ev[1].nframes, 1);
    ck_assert_uint_eq(s->ev[1].frames[0], 0x402000);
    ck_assert_uint_eq(s->ev[3].nframes, 0);
    ck_assert_uint_ne(s->ev[3].truncated, 0);
    ck_assert_uint_eq(s->ev[4].frames[0], 0x402000);
    ck_assert_uint_eq(damage_dropped(&c), 3);
    close_case(&c);
}
END_TEST

/* A process's pending batch (ring.h): taken when the process can no
 * longer run, its events arrive after its last record; not when the ring
 * holds them (the record at the area's pos was committed); the area is
 * free again either way, and an area of another process is left alone. */
static struct mp_ring_pending *fill_area(struct writer *w, uint32_t i, uint32_t pid, const uint64_t *words,
                                         uint32_t n, uint64_t pos)
{
    struct mp_ring_pending *area = mp_ring_pending_area(w->h, i);
    atomic_store(&area->owner, pid);
    area->tid = 9;
    memcpy(area->word, words, n * sizeof *words);
    atomic_store(&area->words, n);
    atomic_store(&area->pos, pos);
    return area;
}

START_TEST(pending_batches_of_gone_processes_arrive)
{
    struct ring_case c = open_case();
    struct writer w = c.w;
    struct seen *s = c.s;
    ck_assert_int_eq(mp_ring_reader_start(c.r, sink, s), 0);
    commit_stack(&w, 5, 7, 0x401000, 2, 0);
    uint64_t last = reserve(&w, 1, 5, 1);
    commit(&w, last, 5, 21); /* 0: the process's last record */
    uint64_t words[] = { BATCH_ALLOC(7, 0x1000), 16, MP_BATCH_SITE | 0x402000, 0x1000, BATCH_ALLOC(7, 0x2000), 40 };
    struct mp_ring_pending *mine = fill_area(&w, 3, 5, words, 6, 0);
    struct mp_ring_pending *other = fill_area(&w, 4, 6, words, 2, 0);
    mp_ring_reader_take_pending(c.r, 5);
    ck_assert_uint_eq(atomic_load(&mine->owner), 0);
    ck_assert_uint_eq(atomic_load(&other->owner), 6);
    ck_assert_int_eq(wait_seen(s, 4), 4); /* 1..3: alloc, free, alloc */
    const int kind[] = { MP_EV_ALLOC, MP_EV_ALLOC, MP_EV_FREE, MP_EV_ALLOC };
    const uint64_t addr[] = { 0x1000 + last * 16, 0x1000, 0x1000, 0x2000 };
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(s->ev[i].kind, kind[i]);
        ck_assert_uint_eq(s->ev[i].addr, addr[i]);
        ck_assert_uint_eq(s->ev[i].pid, 5);
    }
    ck_assert_uint_eq(s->ev[3].size, 40);
    ck_assert_uint_eq(s->ev[1].nframes, 2);

    /* words that went into a record memprof got: not twice */
    uint64_t pos = commit_batch(&w, 5, words, 2);
    ck_assert_int_eq(wait_seen(s, 5), 5);
    fill_area(&w, 3, 5, words, 2, pos + 1);
    mp_ring_reader_take_pending(c.r, 5);
    /* words whose record was reserved, never committed: from the area */
    uint64_t hole = reserve(&w, 1, 5, 1);
    fill_area(&w, 7, 5, words + 4, 2, hole + 1);
    mp_ring_reader_take_pending(c.r, 5);
    ck_assert_uint_eq(atomic_load(&mp_ring_pending_area(w.h, 7)->owner), 0);
    /* a damaged area: words beyond a record's room, an owner above pid_max */
    fill_area(&w, 8, 5, words, 2, 0);
    atomic_store(&mp_ring_pending_area(w.h, 8)->words, MP_MAX_FRAMES + 1);
    mp_ring_reader_take_pending(c.r, 5);
    fill_area(&w, 9, 1u << 30, words, 2, 0);
    /* a process gone without its end seen: delivered at stop */
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(gone, NULL, 0), gone);
    fill_area(&w, 10, (uint32_t)gone, words, 2, 0);
    ck_assert_int_eq(mp_ring_reader_stop(c.r, NULL), 0);
    ck_assert_int_eq(atomic_load(&s->n), 8);
    ck_assert_int_eq(s->ev[5].kind, MP_EV_LOST); /* the hole, skipped */
    ck_assert_int_eq(s->ev[6].kind, MP_EV_ALLOC);
    ck_assert_uint_eq(s->ev[6].addr, 0x2000);
    ck_assert_uint_eq(s->ev[6].size, 40);
    ck_assert_int_eq(s->ev[7].kind, MP_EV_ALLOC);
    ck_assert_uint_eq(s->ev[7].pid, (uint32_t)gone);
    ck_assert_uint_eq(s->ev[7].addr, 0x1000);
    ck_assert_uint_eq(atomic_load(&mp_ring_pending_area(w.h, 9)->owner), 1u << 30);
    close_case(&c);
}
END_TEST

START_TEST(named_stacks_give_allocations_their_frames)
{
    struct ring_case c = open_case();
    struct writer w = c.w;
    struct seen *s = c.s;
    ck_assert_int_eq(mp_ring_reader_start(c.r, sink, s), 0);
    commit_stack(&w, 5, 1, 0x401000, 2, 0);
    commit_stack(&w, 6, 1, 0x601000, 2, 0);   /* another process's id 1 */
    commit_alloc_id(&w, 5, 1, 10, 0);      /* 0: frames 0x401000, 0x401001 */
    commit_alloc_id(&w, 6, 1, 11, 0);      /* 1: 0x601000 */
    commit_alloc_id(&w, 5, 2, 12, 0);      /* 2: never named: no frames, cut short */
    commit_kind(&w, reserve(&w, 1, 5, 1), MP_REC_HELLO, 0, 1 << 20, 0, 0); /* 3: process 5 exec'd */
    commit_alloc_id(&w, 5, 1, 13, 0);      /* 4: its old id 1 is gone */
    commit_stack(&w, 5, 1, 0x501000, 1, 0);
    commit_alloc_id(&w, 5, 1, 14, 0);      /* 5: the new id 1 */
    commit_stack(&w, 5, 0, 0x1, 1, 0);                 /* damage: no id 0 */
    commit_stack(&w, 5, MP_RING_STACK_IDS, 0x1, 1, 0); /* damage: an id no agent gives */
    commit_stack(&w, 5, 1ull << 40, 0x1, 1, 0);        /* damage */
    commit_alloc_id(&w, 5, 1, 15, 3);               /* damage: frames in an ALLOC_ID */
    ck_assert_int_eq(wait_seen(s, 6), 6);
    usleep(100 * 1000); /* the reader idle: memprof forgets on the reader's thread */
    mp_ring_reader_forget_stacks(c.r, 6); /* process 6 ended */
    commit_alloc_id(&w, 6, 1, 17, 0);      /* 6: no frames */
    commit_alloc_id(&w, 5, 1, 16, 0);      /* 7: process 5 keeps its stacks */
    ck_assert_int_eq(wait_seen(s, 8), 8);
    usleep(100 * 1000);
    ck_assert_int_eq(atomic_load(&s->n), 8);
    ck_assert_int_eq(s->ev[0].kind, MP_EV_ALLOC);
    ck_assert_uint_eq(s->ev[0].size, 10);
    ck_assert_uint_eq(s->ev[0].pid, 5);
    ck_assert_uint_eq(s->ev[0].nframes, 2);
    ck_assert_uint_eq(s->ev[0].frames[0], 0x401000);
    ck_assert_uint_eq(s->ev[0].frames[1], 0x401001);
    ck_assert_uint_eq(s->ev[0].truncated, 0);
    ck_assert_uint_eq(s->ev[1].nframes, 2);
    ck_assert_uint_eq(s->ev[1].frames[0], 0x601000);
    ck_assert_uint_eq(s->ev[2].size, 12);
    ck_assert_uint_eq(s->ev[2].nframes, 0);
    ck_assert_uint_eq(s->ev[2].truncated, 1);
    ck_assert_int_eq(s->ev[3].kind, MP_EV_AGENT);
    ck_assert_uint_eq(s->ev[4].size, 13);
    ck_assert_uint_eq(s->ev[4].nframes, 0);
    ck_assert_uint_eq(s->ev[4].truncated, 1);
    ck_assert_uint_eq(s->ev[5].size, 14);
    ck_assert_uint_eq(s->ev[5].nframes, 1);
    ck_assert_uint_eq(s->ev[5].frames[0], 0x501000);
    ck_assert_uint_eq(s->ev[6].size, 17);
    ck_assert_uint_eq(s->ev[6].nframes, 0);
    ck_assert_uint_eq(s->ev[6].truncated, 1);
    ck_assert_uint_eq(s->ev[7].size, 16);
    ck_assert_uint_eq(s->ev[7].frames[0], 0x501000);
    ck_assert_uint_eq(damage_dropped(&c), 4);
    ck_assert_uint_eq(mp_ring_reader_unwind_faults(c.r), 0);
    /* a stack cut short by a fault (MP_REC_TRUNC_FAULT), deeper than a
     * record too: each allocation of it counts as one cut short */
    commit_stack(&w, 5, 2, 0x402000, 2, MP_REC_TRUNC_FAULT | 1);
    commit_alloc_id(&w, 5, 2, 18, 0);      /* 8 */
    commit_alloc_id(&w, 5, 2, 19, 0);      /* 9 */
    ck_assert_int_eq(wait_seen(s, 10), 10);
    for (int i = 8; i < 10; i++) {
        ck_assert_uint_eq(s->ev[i].nframes, 2);
        ck_assert_uint_eq(s->ev[i].frames[0], 0x402000);
        ck_assert_uint_eq(s->ev[i].truncated, 1);
    }
    ck_assert_uint_eq(mp_ring_reader_unwind_faults(c.r), 2);
    close_case(&c);
}
END_TEST

/* A live thread that claims a slot and never commits: revoked after a few
 * seconds of its running time, counted as damage. */
START_TEST(live_writer_that_never_commits_times_out)
{
    struct ring_case c = open_case();
    struct mp_ring_reader *r = c.r;
    struct writer w = c.w;
    struct seen *s = c.s;
    reserve(&w, 1, (uint32_t)getpid(), (uint32_t)syscall(SYS_gettid)); /* never committed */
    commit(&w, reserve(&w, 1, 5, 1), 5, 6);
    ck_assert_int_eq(mp_ring_reader_start(r, sink, s), 0);
    usleep(1000 * 1000);
    ck_assert_int_eq(atomic_load(&s->n), 0);
    ck_assert_int_eq(wait_seen(s, 1), 1);
    ck_assert_uint_eq(s->ev[0].size, 6);
    ck_assert_uint_eq(damage_dropped(&c), 1);
    close_case(&c);
}
END_TEST

/* The memfd cannot shrink under memprof's mapping. */
START_TEST(memfd_cannot_shrink)
{
    struct mp_ring_reader *r = new_reader(8);
    ck_assert_int_ne(ftruncate(mp_ring_reader_fd(r), 0), 0);
    ck_assert_int_ne(ftruncate(mp_ring_reader_fd(r), 4096), 0);
    ck_assert_int_eq(ftruncate(mp_ring_reader_fd(r), MP_RING_BYTES(8) + 4096), 0); /* growing is harmless */
    mp_ring_reader_destroy(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ring");
    TCase *tc = tcase_create("ring");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, dead_writers_slot_is_revoked);
    tcase_add_test(tc, unclaimed_slot_goes_live_one_stays);
    tcase_add_test(tc, stopped_unclaimed_writer_loses_nothing);
    tcase_add_test(tc, unclaimed_slot_of_thread_at_exit_stop_goes);
    tcase_add_test(tc, frozen_process_slot_goes);
    tcase_add_test(tc, controls_arrive_in_their_place);
    tcase_add_test(tc, samples_and_lines_carry_their_pid);
    tcase_add_test(tc, skip_table_and_closed_flag);
    tcase_add_test(tc, agent_counts_travel_in_records);
    tcase_add_test(tc, header_words_are_written_back);
    tcase_add_test(tc, scribbled_sequence_number_is_repaired);
    tcase_add_test(tc, writer_waiting_on_scribbled_slot_goes_on);
    tcase_add_test(tc, header_garbage_is_not_trusted);
    tcase_add_test(tc, impossible_frame_count_is_dropped);
    tcase_add_test(tc, python_records_are_taken);
    tcase_add_test(tc, every_legitimate_kind_is_taken);
    tcase_add_test(tc, named_stacks_give_allocations_their_frames);
    tcase_add_test(tc, frees_in_one_record_arrive_in_order);
    tcase_add_test(tc, batched_events_arrive_in_order);
    tcase_add_test(tc, pending_batches_of_gone_processes_arrive);
    tcase_add_test(tc, live_writer_that_never_commits_times_out);
    tcase_add_test(tc, memfd_cannot_shrink);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
