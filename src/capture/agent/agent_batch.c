/* memprof agent: a single-threaded process's small events, written in
 * batches.
 *
 * One ring record per event moves one cache line between the program's
 * core and memprof's twice (the writer's slot, then the reader's), and
 * that handoff, not the work, was the larger part of an event's cost.  So
 * while the process has one thread (glibc's __libc_single_threaded), the
 * thread's allocations whose stack memprof already knows by its id (the
 * MP_REC_ALLOC_ID ones) and its frees (with their call sites) are not
 * written one record each: they are appended, in the order the program
 * made them, to the process's pending batch, which goes out as one
 * MP_REC_BATCH record (ring.h) of up to MP_MAX_FRAMES words.  memprof
 * decodes it into the very events, in the same order, so totals, peaks
 * (per line too) and leaks are those of one record per event.
 *
 * The batch goes out before any other record of the thread (reserve_slot:
 * a new stack, a mapping, a realloc of another thread's...), when it is
 * full, before fork, exec, dlclose, _exit, _Exit and quick_exit, at exit
 * (after which events are written one by one again), and for good when a
 * second thread is being created (the loader's calloc of the new thread's
 * TLS vector, agent.c: nothing of the first thread's may wait while
 * another thread writes).
 *
 * A block is released at its free, right after the free is appended: the
 * allocator sees the program's calls in their native order (the next
 * malloc may get the block back: its allocation follows the free in the
 * same batch), and nothing waits in memory.  The ordering rule of ring.h
 * holds: no other thread exists that could get the address back, and the
 * batch is in the ring's mapping before the block is released.
 *
 * The batch lives in the ring's mapping, not in the process: a per-process
 * area of the pending table (ring.h, struct mp_ring_pending), claimed at
 * the first batched event (owner: 0 -> the pid).  So when the process is
 * killed (SIGKILL, from outside or by itself), aborts or crashes with
 * events waiting, memprof reads them from the area once the process can
 * no longer run (at its exit stop, its end or its exec) and hands them
 * over in their place, after the process's last record: the report shows
 * every event made.  The table's areas are finite: a process that finds
 * none free writes one record per event.
 *
 * Not in a Python process (a free's site there is a Python frame,
 * described in records of its own), nor in line mode or with
 * MEMPROF_EVENT_BATCH=0 (MP_RING_OPT_NO_BATCH: memprof's line records
 * must fall between the right events).
 *
 * The batch is touched only with agent_busy set (a signal handler's
 * allocator calls meanwhile go straight to the allocator, as all calls
 * made inside the agent do). */
#define _GNU_SOURCE
#include "agent_internal.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread struct agent_batch agent_batch;
_Atomic int agent_batch_disabled;
/* The pid whose batching is decided against (a second thread, the end,
 * no free area, a thread other than the one batching): no claim is tried
 * again in that process.  0: none. */
_Atomic uint32_t agent_batch_refused;
_Atomic uint32_t agent_batch_claimed; /* the pid that holds an area (one thread batches) */
#define batch_claimed agent_batch_claimed
/* The batching thread's batch, for another thread to take over (below). */
static struct agent_batch *_Atomic batching;
/* Held by whoever posts the process's batch: the batching thread, or
 * another one taking it over.  Taken only with agent_busy set (a signal
 * handler's allocator calls pass through meanwhile), never twice by one
 * thread. */
static _Atomic uint32_t batch_lock;

static void lock_batch(void)
{
    while (atomic_exchange_explicit(&batch_lock, 1, memory_order_acquire) != 0)
        __builtin_ia32_pause();
}

static void unlock_batch(void)
{
    atomic_store_explicit(&batch_lock, 0, memory_order_release);
}

int agent_batch_claim(uint32_t pid)
{
    if (pid == 0 || agent_batch_disabled || !__libc_single_threaded || agent_py_frames_on ||
        atomic_load_explicit(&agent_state, memory_order_acquire) != AGENT_ENABLED || !agent_ring) {
        if (pid != 0 && (agent_batch_disabled || !__libc_single_threaded))
            agent_batch_refused = pid;
        return 0;
    }
    uint32_t none = 0;
    if (!atomic_compare_exchange_strong(&batch_claimed, &none, pid)) {
        agent_batch_refused = pid; /* another thread of this process batches */
        return 0;
    }
    /* An area still owned by this pid is a dead process's (pids are unique
     * among live ones): one memprof let go, whose events it copied then,
     * or one whose end it did not see.  Not this process's to deliver. */
    for (uint32_t i = 0; i < MP_RING_PENDING_AREAS; i++) {
        struct mp_ring_pending *area = mp_ring_pending_area(agent_ring, i);
        uint32_t stale = pid;
        if (atomic_load_explicit(&area->owner, memory_order_relaxed) != pid)
            continue;
        atomic_store_explicit(&area->words, 0, memory_order_relaxed);
        atomic_store_explicit(&area->pos, 0, memory_order_relaxed);
        atomic_compare_exchange_strong(&area->owner, &stale, 0);
    }
    for (uint32_t i = 0; i < MP_RING_PENDING_AREAS; i++) {
        struct mp_ring_pending *area = mp_ring_pending_area(agent_ring, i);
        uint32_t free_owner = 0;
        if (atomic_load_explicit(&area->owner, memory_order_relaxed) != 0 ||
            !atomic_compare_exchange_strong(&area->owner, &free_owner, pid))
            continue;
        if (agent_tid == 0)
            agent_tid = (uint32_t)syscall(SYS_gettid);
        area->tid = agent_tid;
        atomic_store_explicit(&area->pos, 0, memory_order_relaxed);
        atomic_store_explicit(&area->words, 0, memory_order_relaxed);
        agent_batch.area = area;
        agent_batch.words = 0;
        agent_batch.site = 0;
        agent_batch.pid = pid;
        atomic_store_explicit(&batching, &agent_batch, memory_order_release);
        return 1;
    }
    agent_batch_refused = pid; /* the table is full: one record per event */
    return 0;
}

void agent_batch_flush(void)
{
    /* busy before the batch is read: a signal handler's allocator call
     * arriving between a caller's check and here passes through */
    int was_busy = agent_busy;
    agent_busy = 1;
    atomic_signal_fence(memory_order_seq_cst);
    lock_batch(); /* another thread may be taking the batch over */
    uint32_t n = agent_batch.words;
    struct mp_ring_pending *area = agent_batch.area;
    agent_batch.words = 0; /* before the record is reserved (reserve_slot flushes what waits) */
    agent_batch.site = 0;
    atomic_signal_fence(memory_order_seq_cst);
    if (agent_batch.pid != *agent_pid_cell) {
        /* a child made by clone() without glibc's fork (its pid not known
         * yet): the batch and the area are its parent's, never its own */
        agent_batch.pid = 0;
        agent_batch.area = NULL;
        unlock_batch();
        agent_busy = was_busy;
        return;
    }
    if (n != 0 && n <= MP_MAX_FRAMES && area) {
        /* (nothing appends to word[] meanwhile: the thread is busy) */
        if (atomic_load_explicit(&agent_state, memory_order_acquire) == AGENT_ENABLED)
            agent_post_batch(area, agent_batch.word, n);
        atomic_store_explicit(&area->words, 0, memory_order_relaxed);
        /* the area is this process's: said again (the program may have
         * written over it) */
        atomic_store_explicit(&area->owner, agent_batch.pid, memory_order_relaxed);
        area->tid = agent_tid;
    }
    unlock_batch();
    agent_busy = was_busy;
}

/* Another thread of the process is about to write a record while the
 * batching thread's batch may wait: a second thread exists, so the batch
 * goes out first, and none from now on in this process.
 *
 * Blocks are released at their free while the free waits in the batch
 * (above), which is right only while no other thread could get the
 * address back; and another thread may free a block whose allocation
 * waits.  glibc's pthread_create (and every way it makes a thread:
 * thrd_create, timer and aio threads) clears __libc_single_threaded
 * before the new thread exists, and agent_batch_open looks at it at every
 * append: so from here the batching thread never appends again, it only
 * posts what waits, under the same lock as this.  The loader's calloc of
 * the new thread's TLS vector usually posted it already (agent.c); not
 * when pthread_create reuses a cached stack, e.g. in a fork child of a
 * process that had threads. */
void agent_batch_take_over(uint32_t pid)
{
    int was_busy = agent_busy;
    agent_busy = 1;
    atomic_signal_fence(memory_order_seq_cst);
    lock_batch();
    struct agent_batch *b = atomic_load_explicit(&batching, memory_order_acquire);
    if (atomic_load_explicit(&batch_claimed, memory_order_relaxed) == pid && b != NULL && b != &agent_batch) {
        /* first: the record below goes through reserve_slot again */
        atomic_store_explicit(&batch_claimed, 0, memory_order_relaxed);
        atomic_store_explicit(&agent_batch_refused, pid, memory_order_relaxed);
        atomic_store_explicit(&batching, NULL, memory_order_relaxed);
        uint32_t n = b->words;
        struct mp_ring_pending *area = b->area;
        if (n != 0 && n <= MP_MAX_FRAMES && area && b->pid == pid &&
            atomic_load_explicit(&agent_state, memory_order_acquire) == AGENT_ENABLED)
            agent_post_batch(area, b->word, n);
        b->words = 0;
        b->site = 0;
        if (area)
            atomic_store_explicit(&area->words, 0, memory_order_relaxed);
    }
    unlock_batch();
    agent_busy = was_busy;
}

/* No batch from now on in this process (its area stays its own, empty,
 * until memprof takes it back at the process's end). */
void agent_batch_stop(void)
{
    agent_batch_flush_waiting();
    uint32_t pid = *agent_pid_cell;
    if (pid != 0)
        agent_batch_refused = pid;
    agent_batch.pid = 0;
}

/* A forked child (by glibc's fork, whose prepare handler flushed the
 * batch, or another clone: the parent's batch is the parent's): no
 * batch, no area; it claims one of its own. */
void agent_batch_forked(void)
{
    agent_batch.words = 0;
    agent_batch.site = 0;
    agent_batch.pid = 0;
    agent_batch.area = NULL;
    agent_batch_refused = 0;
    atomic_store(&batch_claimed, 0);
    atomic_store(&batching, NULL);
    atomic_store(&batch_lock, 0); /* the thread that held it is not in the child */
}

/* ---- the process's last flush points ---------------------------------- */

/* exit(): after the program's own atexit handlers (registered after this
 * one); events made after it (other handlers, destructors) are written
 * one by one. */
static void batch_at_exit(void)
{
    if (!agent_busy)
        agent_batch_stop();
}

void agent_batch_start(void)
{
    atexit(batch_at_exit);
}

void agent_batch_end(void)
{
    batch_at_exit();
}

/* Before a call that replaces the process image (it may fail: the batch
 * starts again). */
static void flush_before_leaving(void)
{
    agent_batch_flush_waiting();
}

/* Before a call that ends the process without exit's handlers. */
static void flush_before_ending(void)
{
    if (!agent_busy)
        agent_batch_stop();
}

/* The next definition, looked up as the agent's own work (dlsym may
 * allocate and free: not the program's calls). */
static void *find_next_quietly(const char *name)
{
    agent_busy++;
    void *next = agent_find_next(name);
    agent_busy--;
    return next;
}

#define NEXT(type, name) ((type)find_next_quietly(name))

EXPORT void _exit(int status)
{
    flush_before_ending();
    for (;;)
        syscall(SYS_exit_group, status);
}

EXPORT void _Exit(int status) __attribute__((alias("_exit")));

EXPORT void quick_exit(int status)
{
    flush_before_ending();
    void (*next)(int) = NEXT(void (*)(int), "quick_exit");
    if (next)
        next(status);
    for (;;)
        syscall(SYS_exit_group, status);
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    flush_before_leaving();
    return (int)syscall(SYS_execve, path, argv, envp);
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
    flush_before_leaving();
    return (int)syscall(SYS_execveat, dirfd, path, argv, envp, flags);
}

/* The others go on to libc's (which may search PATH, or build argv). */
#define FORWARD_EXEC(name, params, args, types)              \
    EXPORT int name params                                   \
    {                                                        \
        flush_before_leaving();                              \
        int (*next) types = NEXT(int (*) types, #name);      \
        if (!next) {                                         \
            errno = ENOSYS;                                  \
            return -1;                                       \
        }                                                    \
        return next args;                                    \
    }

FORWARD_EXEC(execv, (const char *path, char *const argv[]), (path, argv), (const char *, char *const[]))
FORWARD_EXEC(execvp, (const char *file, char *const argv[]), (file, argv), (const char *, char *const[]))
FORWARD_EXEC(execvpe, (const char *file, char *const argv[], char *const envp[]), (file, argv, envp),
             (const char *, char *const[], char *const[]))
FORWARD_EXEC(fexecve, (int fd, char *const argv[], char *const envp[]), (fd, argv, envp),
             (int, char *const[], char *const[]))

/* execl, execlp, execle: their arguments gathered into an argv on the
 * stack (as glibc does), then execve or execvp. */
#define GATHER_ARGS(arg0, argv, ap)                                   \
    size_t argc_ = 1;                                                 \
    va_start(ap, arg0);                                               \
    while (va_arg(ap, const char *) != NULL)                          \
        argc_++;                                                      \
    va_end(ap);                                                       \
    const char *argv[argc_ + 1];                                      \
    argv[0] = arg0;                                                   \
    va_start(ap, arg0);                                               \
    for (size_t i_ = 1; i_ <= argc_; i_++)                            \
        argv[i_] = va_arg(ap, const char *);

EXPORT int execl(const char *path, const char *arg0, ...)
{
    va_list ap;
    GATHER_ARGS(arg0, argv, ap)
    va_end(ap);
    return execve(path, (char *const *)argv, environ);
}

EXPORT int execle(const char *path, const char *arg0, ...)
{
    va_list ap;
    GATHER_ARGS(arg0, argv, ap)
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, (char *const *)argv, envp);
}

EXPORT int execlp(const char *file, const char *arg0, ...)
{
    va_list ap;
    GATHER_ARGS(arg0, argv, ap)
    va_end(ap);
    return execvp(file, (char *const *)argv);
}
