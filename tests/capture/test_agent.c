/* memprof: Check tests for the in-process agent (libmemprof-agent.so) and
 * the supervisor's ring reader.
 *
 * Builds the fixtures tests/fixtures/agent_*.c itself (gcc -g -O0 -no-pie,
 * into a temporary directory, so symbol addresses come straight from nm),
 * runs each with LD_PRELOAD=$MEMPROF_AGENT and MEMPROF_RING_FD set, drains
 * the ring and compares the events with what the fixture's source implies
 * (cross-checked with valgrind's "total heap usage"). */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "events/ring.h"
#include "events/ring_reader.h"

static char fixture_dir[128]; /* /tmp/memprof-test-agent-XXXXXX */
static char agent_path[PATH_MAX];

/* ---- fixtures and symbols --------------------------------------------- */

static void fixture_path(const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", fixture_dir, name);
}

struct symbol_range {
    uint64_t lo, hi;
};

/* [address, address + size) of a function in a non-PIE fixture, via nm -S. */
static struct symbol_range symbol_of(const char *fixture, const char *function)
{
    char path[PATH_MAX], cmd[PATH_MAX + 64], line[512];
    fixture_path(fixture, path, sizeof path);
    snprintf(cmd, sizeof cmd, "nm -S --defined-only '%s'", path);
    FILE *nm = popen(cmd, "r");
    ck_assert_msg(nm != NULL, "popen nm");
    struct symbol_range range = {0, 0};
    while (fgets(line, sizeof line, nm) != NULL) {
        unsigned long long addr, size;
        char type, name[256];
        if (sscanf(line, "%llx %llx %c %255s", &addr, &size, &type, name) == 4 &&
            (type == 'T' || type == 't') && strcmp(name, function) == 0) {
            range.lo = addr;
            range.hi = addr + size;
        }
    }
    pclose(nm);
    ck_assert_msg(range.hi > range.lo, "symbol %s not found in %s", function, fixture);
    return range;
}

static int in_range(struct symbol_range r, uint64_t pc)
{
    return pc >= r.lo && pc < r.hi;
}

/* ---- collecting events ------------------------------------------------- */

#define LIVE_CAP (1u << 16)
#define MAX_STORED 4096
#define MAX_TIDS 64

struct stored_event {
    enum mp_event_kind kind;
    uint32_t tid;
    uint64_t addr, size;
    uint32_t nframes, truncated;
    uint64_t frame0, frame1;
};

struct collector {
    struct symbol_range attributed_to; /* ALLOCs with frames[0] in here */
    uint64_t allocs, frees, bytes;
    uint64_t attributed_allocs, attributed_bytes, attributed_frees;
    uint64_t alloc_of_live_address; /* ordering violations */
    uint64_t unknown_frees;
    uint64_t free_with_frames, frees_called_there; /* frees with a site; with one in attributed_to */
    uint32_t attributed_tids[MAX_TIDS];
    int ntids;
    struct stored_event stored[MAX_STORED];
    size_t nstored;
    uint64_t live_addr[LIVE_CAP]; /* open addressing, 0 = empty */
    uint8_t live_attributed[LIVE_CAP];
    uint64_t nlive;
    uint64_t hellos;                /* MP_EV_AGENT events */
    uint64_t lost_events;           /* MP_EV_LOST sizes */
    uint32_t pid;                   /* the pid the heap events carry (the last nonzero) */
};

static size_t live_home(uint64_t addr)
{
    return (size_t)((addr * 0x9E3779B97F4A7C15ULL) >> 48) & (LIVE_CAP - 1);
}

static long live_find(const struct collector *c, uint64_t addr)
{
    for (size_t i = live_home(addr); c->live_addr[i] != 0; i = (i + 1) & (LIVE_CAP - 1))
        if (c->live_addr[i] == addr)
            return (long)i;
    return -1;
}

static void live_insert(struct collector *c, uint64_t addr, int attributed)
{
    size_t i = live_home(addr);
    while (c->live_addr[i] != 0)
        i = (i + 1) & (LIVE_CAP - 1);
    c->live_addr[i] = addr;
    c->live_attributed[i] = (uint8_t)attributed;
    c->nlive++;
}

/* Linear-probing deletion with backward shift (no tombstones). */
static void live_erase(struct collector *c, size_t hole)
{
    c->live_addr[hole] = 0;
    c->nlive--;
    for (size_t j = (hole + 1) & (LIVE_CAP - 1); c->live_addr[j] != 0; j = (j + 1) & (LIVE_CAP - 1)) {
        size_t home = live_home(c->live_addr[j]);
        int stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays)
            continue;
        c->live_addr[hole] = c->live_addr[j];
        c->live_attributed[hole] = c->live_attributed[j];
        c->live_addr[j] = 0;
        hole = j;
    }
}

static void note_tid(struct collector *c, uint32_t tid)
{
    for (int i = 0; i < c->ntids; i++)
        if (c->attributed_tids[i] == tid)
            return;
    if (c->ntids < MAX_TIDS)
        c->attributed_tids[c->ntids++] = tid;
}

static void collect(void *ctx, const struct mp_event *ev)
{
    struct collector *c = ctx;
    if (ev->kind == MP_EV_AGENT) { /* one per agent that started recording */
        c->hellos++;
        return;
    }
    if (ev->kind == MP_EV_LOST) {
        c->lost_events += ev->size;
        return;
    }
    if (ev->kind != MP_EV_ALLOC && ev->kind != MP_EV_FREE)
        return;
    if (ev->pid != 0)
        c->pid = ev->pid;
    if (c->nstored < MAX_STORED) {
        struct stored_event *s = &c->stored[c->nstored++];
        s->kind = ev->kind;
        s->tid = ev->tid;
        s->addr = ev->addr;
        s->size = ev->size;
        s->nframes = ev->nframes;
        s->truncated = ev->truncated;
        s->frame0 = ev->nframes > 0 ? ev->frames[0] : 0;
        s->frame1 = ev->nframes > 1 ? ev->frames[1] : 0;
    }
    if (ev->kind == MP_EV_ALLOC) {
        int attributed = ev->nframes > 0 && in_range(c->attributed_to, ev->frames[0]);
        c->allocs++;
        c->bytes += ev->size;
        if (attributed) {
            c->attributed_allocs++;
            c->attributed_bytes += ev->size;
            note_tid(c, ev->tid);
        }
        if (live_find(c, ev->addr) >= 0)
            c->alloc_of_live_address++;
        else
            live_insert(c, ev->addr, attributed);
    } else {
        c->frees++;
        if (ev->nframes != 0)
            c->free_with_frames++;
        if (ev->nframes == 1 && in_range(c->attributed_to, ev->frames[0]))
            c->frees_called_there++;
        long i = live_find(c, ev->addr);
        if (i < 0) {
            c->unknown_frees++;
        } else {
            if (c->live_attributed[i])
                c->attributed_frees++;
            live_erase(c, (size_t)i);
        }
    }
}

/* ---- running a fixture under the agent --------------------------------- */

struct run_info {
    pid_t pid;
    int exit_status; /* -1 unless exited normally */
    uint64_t lost;
    uint32_t agent_inits;
    uint64_t agent_bytes;
    uint64_t writer_waits;
    uint64_t records; /* records the reader read */
};

static uint32_t ring_options; /* MP_RING_OPT_*, for the next run_fixture */

static struct run_info run_fixture(const char *fixture, const char *arg, uint64_t capacity,
                                   int mark_as_target, struct collector *c)
{
    char err[256], path[PATH_MAX], preload[PATH_MAX + 16], ring_env[64], ring_path[96];
    struct mp_ring_reader *r = mp_ring_reader_create(capacity, err, sizeof err);
    ck_assert_msg(r != NULL, "mp_ring_reader_create: %s", err);
    mp_ring_reader_set_options(r, ring_options);
    fixture_path(fixture, path, sizeof path);
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", agent_path);
    snprintf(ring_env, sizeof ring_env, "%s=%d", MP_RING_ENV_FD, mp_ring_reader_fd(r));
    /* as memprof does: the descriptor is close-on-exec in a process whose
     * children are not followed, and an exec'd image finds the ring here */
    snprintf(ring_path, sizeof ring_path, "%s=/proc/%d/fd/%d", MP_RING_ENV_PATH, (int)getpid(),
             mp_ring_reader_fd(r));
    char *envp[] = {preload, ring_env, ring_path, NULL};
    char *argv[] = {path, (char *)arg, NULL};

    /* as memprof does: the target's pid is set by memprof's side (the
     * reader keeps its own copy of the header's words) before the child
     * runs the program */
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char byte;
        close(go[1]);
        if (read(go[0], &byte, 1) != 1)
            _exit(126);
        execve(path, argv, envp);
        _exit(127);
    }
    close(go[0]);
    if (mark_as_target)
        mp_ring_reader_set_target(r, pid);
    ck_assert_int_eq(write(go[1], "g", 1), 1);
    close(go[1]);
    ck_assert_int_eq(mp_ring_reader_start(r, collect, c), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    struct run_info info = {.pid = pid, .exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1};
    ck_assert_int_eq(mp_ring_reader_stop(r, &info.lost), 0);
    info.agent_inits = mp_ring_reader_agent_inits(r);
    info.agent_bytes = mp_ring_reader_agent_bytes(r);
    info.writer_waits = mp_ring_reader_writer_waits(r);
    info.records = mp_ring_reader_records_bound(r) - capacity - MP_RING_MAX_WAITERS; /* the tail */
    mp_ring_reader_destroy(r);
    return info;
}

static struct collector *new_collector(void)
{
    struct collector *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* ---- tests: one call of each kind -------------------------------------- */

enum where { IN_DO_CALLS, IN_DEEP, FREED_IN_DO_CALLS, FREED_IN_DEEP };

struct expected_event {
    enum mp_event_kind kind;
    uint64_t size;
    enum where where;
};

#define A(n) {MP_EV_ALLOC, n, IN_DO_CALLS}
/* A FREE carries one frame: the return address of the free or realloc call. */
#define F {MP_EV_FREE, 0, FREED_IN_DO_CALLS}
/* tests/fixtures/agent_calls.c, in order. */
static const struct expected_event calls_expected[] = {
    A(1000),     /* malloc */
    A(300),      /* calloc(10, 30); free(NULL) is nothing */
    A(40),       /* realloc(NULL, 40) */
    F, A(4000),  /* realloc grow */
    F, A(20),    /* realloc shrink */
    F,           /* realloc(p, 0) */
    A(60),       /* reallocarray(NULL, 5, 12) */
    F, A(84),    /* reallocarray(p, 7, 12); its overflow is nothing */
    A(100),      /* posix_memalign(64); EINVAL ones are nothing */
    A(256),      /* aligned_alloc */
    A(48),       /* memalign */
    A(10),       /* valloc */
    A(10),       /* pvalloc (requested size) */
    A(0),        /* malloc(0); the failing malloc/realloc/calloc/memalign are nothing */
    F, F, F, F, F, F, F, F, F,
    {MP_EV_ALLOC, 77, IN_DEEP}, {MP_EV_FREE, 0, FREED_IN_DEEP},
};
#undef A
#undef F

START_TEST(test_each_call_kind_counts_like_valgrind)
{
    struct collector *c = new_collector();
    struct symbol_range do_calls = symbol_of("agent_calls", "do_calls");
    struct symbol_range deep = symbol_of("agent_calls", "deep");
    struct symbol_range main_fn = symbol_of("agent_calls", "main");
    c->attributed_to = do_calls;
    struct run_info info = run_fixture("agent_calls", NULL, MP_RING_DEFAULT_CAPACITY, 1, c);

    ck_assert_int_eq(info.exit_status, 0);
    ck_assert_uint_eq(info.lost, 0);
    ck_assert_uint_eq(info.agent_inits, 1);
    ck_assert_uint_eq(c->hellos, 1);
    ck_assert_uint_eq(c->pid, (uint32_t)info.pid); /* every record names its process */
    ck_assert_uint_ge(info.agent_bytes, MP_RING_BYTES(MP_RING_DEFAULT_CAPACITY));
    size_t n = sizeof calls_expected / sizeof calls_expected[0];
    ck_assert_uint_eq(c->nstored, n);
    for (size_t i = 0; i < n; i++) {
        const struct expected_event *want = &calls_expected[i];
        const struct stored_event *got = &c->stored[i];
        ck_assert_msg(got->kind == want->kind && got->size == want->size,
                      "event %zu: got kind %d size %llu, want kind %d size %llu", i, got->kind,
                      (unsigned long long)got->size, want->kind, (unsigned long long)want->size);
        if (want->where == IN_DO_CALLS) {
            ck_assert_msg(in_range(do_calls, got->frame0), "event %zu: frames[0] %#llx not in do_calls",
                          i, (unsigned long long)got->frame0);
            ck_assert_msg(in_range(main_fn, got->frame1), "event %zu: frames[1] not in main", i);
            ck_assert_uint_eq(got->truncated, 0);
        } else if (want->where == IN_DEEP) {
            ck_assert(in_range(deep, got->frame0));
            ck_assert(in_range(deep, got->frame1));
            ck_assert_uint_eq(got->nframes, MP_MAX_FRAMES);
            ck_assert_uint_eq(got->truncated, 1);
        } else {
            ck_assert_uint_eq(got->nframes, 1);
            ck_assert_msg(in_range(want->where == FREED_IN_DEEP ? deep : do_calls, got->frame0),
                          "event %zu: the free's site %#llx is not in %s", i, (unsigned long long)got->frame0,
                          want->where == FREED_IN_DEEP ? "deep" : "do_calls");
        }
    }
    /* valgrind --trace-children: 14 allocs, 14 frees, 6005 bytes (13/13/5995
     * with "--valgrind", which skips the pvalloc(10) valgrind cannot run). */
    ck_assert_uint_eq(c->allocs, 14);
    ck_assert_uint_eq(c->frees, 14);
    ck_assert_uint_eq(c->bytes, 6005);
    ck_assert_uint_eq(c->alloc_of_live_address, 0);
    ck_assert_uint_eq(c->unknown_frees, 0);
    ck_assert_uint_eq(c->nlive, 0);
    free(c);
}
END_TEST

START_TEST(test_agent_stays_out_of_other_processes)
{
    /* target_pid is never set: the agent must pass everything through. */
    struct collector *c = new_collector();
    struct run_info info = run_fixture("agent_calls", NULL, MP_RING_DEFAULT_CAPACITY, 0, c);
    ck_assert_int_eq(info.exit_status, 0);
    ck_assert_uint_eq(info.agent_inits, 0);
    ck_assert_uint_eq(info.agent_bytes, 0);
    ck_assert_uint_eq(c->allocs + c->frees, 0);
    free(c);
}
END_TEST

/* ---- tests: threads ---------------------------------------------------- */

#define FIXTURE_THREADS 8

/* Bytes one agent_threads worker allocates in `iterations` rounds. */
static uint64_t worker_bytes(long iterations)
{
    uint64_t bytes = 0;
    for (long i = 0; i < iterations; i++)
        bytes += (16 + (uint64_t)(i % 64)) + 2 * 24 + (100 + (uint64_t)(i % 32));
    return bytes;
}

static void check_threads_run(uint64_t capacity, long iterations, int expect_waits)
{
    char arg[32];
    snprintf(arg, sizeof arg, "%ld", iterations);
    struct collector *c = new_collector();
    c->attributed_to = symbol_of("agent_threads", "worker");
    struct run_info info = run_fixture("agent_threads", arg, capacity, 1, c);

    ck_assert_int_eq(info.exit_status, 0);
    ck_assert_uint_eq(info.lost, 0);
    ck_assert_uint_eq(info.agent_inits, 1);
    uint64_t rounds = (uint64_t)FIXTURE_THREADS * (uint64_t)iterations;
    ck_assert_uint_eq(c->attributed_allocs, 3 * rounds);
    ck_assert_uint_eq(c->attributed_frees, 3 * rounds);
    ck_assert_uint_eq(c->attributed_bytes, FIXTURE_THREADS * worker_bytes(iterations));
    ck_assert_int_eq(c->ntids, FIXTURE_THREADS);
    ck_assert_uint_eq(c->alloc_of_live_address, 0);
    ck_assert_uint_eq(c->unknown_frees, 0);
    /* every free says where it was called: worker's free(q), free(grown) and realloc(p) */
    ck_assert_uint_eq(c->free_with_frames, c->frees);
    ck_assert_uint_eq(c->frees_called_there, 3 * rounds);
    if (expect_waits)
        ck_assert_uint_gt(info.writer_waits, 0);
    free(c);
}

START_TEST(test_eight_threads_exact_totals)
{
    check_threads_run(MP_RING_DEFAULT_CAPACITY, 20000, 0);
}
END_TEST

START_TEST(test_tiny_ring_loses_nothing)
{
    check_threads_run(8, 2000, 1);
}
END_TEST

/* ---- tests: events in batches -------------------------------------------- */

/* tests/fixtures/agent_batch_end.c kill9: KEPT allocations of 16 + i
 * bytes, PAIRS malloc(8) + free, then SIGKILL with events waiting in its
 * batch.  Batched, each record carries many events (the ones waiting at
 * the kill come from the ring's pending table, at stop); with
 * MP_RING_OPT_NO_BATCH (MEMPROF_EVENT_BATCH=0) one record each.  The same
 * events, in the same order, either way. */
#define BATCH_KEPT 100
#define BATCH_PAIRS 30
static void check_batch_run(uint32_t options)
{
    struct collector *c = new_collector();
    ring_options = options;
    struct run_info info = run_fixture("agent_batch_end", "kill9", MP_RING_DEFAULT_CAPACITY, 1, c);
    ring_options = 0;
    ck_assert_int_eq(info.exit_status, -1); /* killed */
    uint64_t events = BATCH_KEPT + 2 * BATCH_PAIRS, kept_bytes = 0;
    for (uint64_t i = 0; i < BATCH_KEPT; i++)
        kept_bytes += 16 + i;
    ck_assert_uint_eq(c->allocs, BATCH_KEPT + BATCH_PAIRS);
    ck_assert_uint_eq(c->frees, BATCH_PAIRS);
    ck_assert_uint_eq(c->bytes, kept_bytes + 8 * BATCH_PAIRS);
    ck_assert_uint_eq(c->nlive, BATCH_KEPT);
    ck_assert_uint_eq(c->unknown_frees, 0);
    ck_assert_uint_eq(c->alloc_of_live_address, 0);
    ck_assert_uint_eq(c->lost_events, 0);
    ck_assert_uint_eq(info.lost, 0);
    /* the events in order: the kept ones, then allocation, free, ... */
    ck_assert_uint_ge(c->nstored, events);
    size_t first = c->nstored - events;
    for (uint64_t i = 0; i < events; i++) {
        const struct stored_event *e = &c->stored[first + i];
        if (i < BATCH_KEPT) {
            ck_assert_int_eq(e->kind, MP_EV_ALLOC);
            ck_assert_uint_eq(e->size, 16 + i);
        } else {
            ck_assert_int_eq(e->kind, (i - BATCH_KEPT) % 2 ? MP_EV_FREE : MP_EV_ALLOC);
        }
    }
    if (options & MP_RING_OPT_NO_BATCH)
        ck_assert_uint_ge(info.records, events);
    else /* the fixture's events take 200 + 4 + 29 * 3 words, 48 a record: a few records */
        ck_assert_uint_lt(info.records, events / 4);
    free(c);
}

START_TEST(test_batched_events_survive_a_kill)
{
    check_batch_run(0);
}
END_TEST

START_TEST(test_no_batch_option_writes_each_event)
{
    check_batch_run(MP_RING_OPT_NO_BATCH);
}
END_TEST

/* ---- tests: fork and exec ---------------------------------------------- */

START_TEST(test_fork_child_not_recorded_exec_in_place_is)
{
    struct collector *c = new_collector();
    struct run_info info = run_fixture("agent_fork", NULL, MP_RING_DEFAULT_CAPACITY, 1, c);
    ck_assert_int_eq(info.exit_status, 0);
    ck_assert_uint_eq(info.lost, 0);
    ck_assert_uint_eq(info.agent_inits, 2); /* the original image and the exec'd one */
    uint64_t by_size[6] = {0}; /* 111, 222, 333, 444, 555, other */
    for (size_t i = 0; i < c->nstored; i++) {
        if (c->stored[i].kind != MP_EV_ALLOC)
            continue;
        uint64_t s = c->stored[i].size;
        int k = s % 111 == 0 && s >= 111 && s <= 555 ? (int)(s / 111) - 1 : 5;
        by_size[k]++;
    }
    ck_assert_uint_eq(by_size[0], 3);
    ck_assert_uint_eq(by_size[1], 0); /* forked child */
    ck_assert_uint_eq(by_size[2], 2);
    ck_assert_uint_eq(by_size[3], 0); /* exec'd child: another pid */
    ck_assert_uint_eq(by_size[4], 1);
    ck_assert_uint_eq(by_size[5], 0);
    ck_assert_uint_eq(c->frees, 6);
    ck_assert_uint_eq(c->unknown_frees, 0);
    ck_assert_uint_eq(c->nlive, 0);
    free(c);
}
END_TEST

/* ---- tests: the reader alone, with a simulated writer ------------------- */

struct fake_writer {
    struct mp_ring_header *h;
    size_t bytes;
    uint64_t mask;
};

static struct fake_writer fake_writer_attach(struct mp_ring_reader *r, uint64_t capacity)
{
    struct fake_writer w = {.bytes = MP_RING_BYTES(capacity), .mask = capacity - 1};
    w.h = mmap(NULL, w.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, mp_ring_reader_fd(r), 0);
    ck_assert_ptr_ne(w.h, MAP_FAILED);
    ck_assert(w.h->magic == MP_RING_MAGIC);
    ck_assert_uint_eq(w.h->capacity, capacity);
    return w;
}

static uint64_t fake_reserve(struct fake_writer *w)
{
    uint64_t pos = atomic_fetch_add(&w->h->head, 1);
    while (atomic_load(&mp_ring_slot(w->h, w->mask, pos)->seq) != pos)
        usleep(50);
    return pos;
}

static void fake_commit_alloc(struct fake_writer *w, uint64_t pos, uint64_t size)
{
    struct mp_ring_record *slot = mp_ring_slot(w->h, w->mask, pos);
    slot->kind = MP_REC_ALLOC;
    slot->tid = 1;
    slot->addr = 0x1000 + pos * 16;
    slot->size = size;
    slot->nframes = 1;
    slot->truncated = 0;
    slot->frames[0] = 0x4242;
    atomic_store(&slot->seq, pos + 1);
}

START_TEST(test_reader_skips_slot_of_dead_writer)
{
    char err[256];
    struct mp_ring_reader *r = mp_ring_reader_create(8, err, sizeof err);
    ck_assert_msg(r != NULL, "%s", err);
    struct fake_writer w = fake_writer_attach(r, 8);
    struct collector *c = new_collector();

    fake_reserve(&w); /* position 0: reserved, its writer "dies" */
    fake_commit_alloc(&w, fake_reserve(&w), 5);
    fake_commit_alloc(&w, fake_reserve(&w), 6);
    ck_assert_int_eq(mp_ring_reader_start(r, collect, c), 0);
    usleep(20000);
    ck_assert_uint_eq(c->allocs, 0); /* in order: blocked behind the hole */
    uint64_t lost = 0;
    ck_assert_int_eq(mp_ring_reader_stop(r, &lost), 0);
    ck_assert_uint_eq(lost, 1);
    ck_assert_uint_eq(c->lost_events, 1);
    ck_assert_uint_eq(c->allocs, 2);
    ck_assert_uint_eq(c->stored[0].size, 5);
    ck_assert_uint_eq(c->stored[1].size, 6);
    ck_assert_uint_eq(c->stored[0].frame0, 0x4242);

    /* The skipped slot is usable again: three more laps through all slots. */
    ck_assert_int_eq(mp_ring_reader_start(r, collect, c), 0);
    for (int i = 0; i < 24; i++)
        fake_commit_alloc(&w, fake_reserve(&w), 100 + (uint64_t)i);
    ck_assert_int_eq(mp_ring_reader_stop(r, &lost), 0);
    ck_assert_uint_eq(lost, 1);
    ck_assert_uint_eq(c->allocs, 26);
    for (int i = 0; i < 24; i++)
        ck_assert_uint_eq(c->stored[2 + i].size, 100 + (uint64_t)i);
    munmap(w.h, w.bytes);
    mp_ring_reader_destroy(r);
    free(c);
}
END_TEST

START_TEST(test_reader_rejects_bad_capacity)
{
    char err[256] = "";
    ck_assert_ptr_null(mp_ring_reader_create(12, err, sizeof err));
    ck_assert_str_ne(err, "");
    ck_assert_ptr_null(mp_ring_reader_create(0, err, sizeof err));
}
END_TEST

/* ---- setup -------------------------------------------------------------- */

static int build_fixtures(void)
{
    static const char *const names[] = {"agent_calls", "agent_threads", "agent_fork", "agent_batch_end"};
    snprintf(fixture_dir, sizeof fixture_dir, "/tmp/memprof-test-agent-XXXXXX");
    if (mkdtemp(fixture_dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char cmd[3 * PATH_MAX];
        snprintf(cmd, sizeof cmd,
                 "gcc -std=c11 -Wall -Wextra -g -O0 -no-pie -fno-pie -pthread "
                 "-o '%s/%s' tests/fixtures/%s.c",
                 fixture_dir, names[i], names[i]);
        if (system(cmd) != 0) {
            fprintf(stderr, "test_agent: failed: %s\n", cmd);
            return -1;
        }
    }
    return 0;
}

static void remove_fixtures(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fixture_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_agent: could not remove %s\n", fixture_dir);
}

static Suite *agent_suite(void)
{
    Suite *s = suite_create("agent");
    TCase *reader = tcase_create("reader");
    tcase_add_test(reader, test_reader_skips_slot_of_dead_writer);
    tcase_add_test(reader, test_reader_rejects_bad_capacity);
    suite_add_tcase(s, reader);
    TCase *agent = tcase_create("agent");
    tcase_set_timeout(agent, 120);
    tcase_add_test(agent, test_each_call_kind_counts_like_valgrind);
    tcase_add_test(agent, test_agent_stays_out_of_other_processes);
    tcase_add_test(agent, test_eight_threads_exact_totals);
    tcase_add_test(agent, test_tiny_ring_loses_nothing);
    tcase_add_test(agent, test_fork_child_not_recorded_exec_in_place_is);
    tcase_add_test(agent, test_batched_events_survive_a_kill);
    tcase_add_test(agent, test_no_batch_option_writes_each_event);
    suite_add_tcase(s, agent);
    return s;
}

int main(void)
{
    const char *agent = getenv("MEMPROF_AGENT");
    if (agent == NULL)
        agent = "libmemprof-agent.so";
    if (realpath(agent, agent_path) == NULL) {
        fprintf(stderr, "test_agent: agent %s: %s (set MEMPROF_AGENT)\n", agent, strerror(errno));
        return 1;
    }
    if (build_fixtures() != 0)
        return 1;
    SRunner *runner = srunner_create(agent_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    remove_fixtures();
    return failed == 0 ? 0 : 1;
}
