/* memprof agent: frees written in batches.
 *
 * Half of a program's allocator calls are frees, and they come in runs (a
 * garbage collector's sweep, a tree torn down).  So free() does not write
 * an MP_REC_FREE record and release the block: it keeps the block in a
 * small per-thread list, and the list goes out as one MP_REC_FREES record
 * (ring.h) followed by the real frees, in the program's order.  The block
 * is not released before its record is in the ring, so the ordering rule
 * of ring.h holds (nobody gets the address back before its FREE is in),
 * and the allocator sees the very calls it would see natively, only later:
 * the list goes out before the thread makes any other allocator or mapping
 * call (should_record, agent_internal.h), before any other record of the
 * thread (reserve_slot), when it is full (MP_MAX_FRAMES words), when a
 * block is large, before fork, exec, dlclose, _exit and quick_exit, and at
 * exit (after which frees are written one by one again).
 *
 * What waits is bounded: blocks of at most FREES_BLOCK_MAX usable bytes,
 * FREES_BYTES_MAX in all; a larger block goes out at once (with the list).
 * Only while the process is single-threaded (glibc's
 * __libc_single_threaded): a thread that blocks for good while others run
 * on, or that ends without the list going out, would hold its blocks; a
 * process's first pthread_create calls calloc (the new thread's DTV), so
 * the list is empty when the second thread starts.  Not in a Python
 * process either (a free's site there is a Python frame, described in
 * records of its own), nor in line mode (MP_RING_OPT_FREES_AT_ONCE: the
 * line records memprof writes must fall between the right frees).
 *
 * The list is touched only with agent_busy set (a signal handler's
 * allocator calls meanwhile go straight to the allocator, as all calls
 * made inside the agent do), and it is emptied before its blocks are
 * released: a handler that longjmps out of a flush never frees a block
 * twice. */
#define _GNU_SOURCE
#include "agent_internal.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FREES_BLOCK_MAX 4096        /* usable bytes: a larger block is released at once */
#define FREES_BYTES_MAX (64 * 1024) /* usable bytes waiting in one list */

__thread struct agent_frees agent_frees;
int agent_frees_at_once;
static _Atomic int frees_final; /* the process is ending: no list any more */

/* Releases the blocks of words[0..n) (site words skipped), in order. */
static void release_blocks(const uint64_t *words, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (!(words[i] & MP_FREES_SITE))
            next_free((void *)(uintptr_t)words[i]);
}

void agent_frees_flush(void)
{
    /* busy before the list is read: a signal handler's malloc arriving
     * between a caller's check and here flushes the list itself (and this
     * call then finds it empty), one arriving after it passes through; read
     * first, its handler's flush would post and release these blocks too,
     * and this call again: a double free of the program's blocks */
    int was_busy = agent_busy;
    agent_busy = 1;
    atomic_signal_fence(memory_order_seq_cst);
    uint32_t n = agent_frees.words;
    if (n == 0 || n > MP_MAX_FRAMES) {
        agent_busy = was_busy;
        return;
    }
    uint64_t words[MP_MAX_FRAMES];
    memcpy(words, agent_frees.word, (size_t)n * sizeof words[0]);
    agent_frees.words = 0; /* before any block is released (see above) */
    agent_frees.bytes = 0;
    agent_frees.site = 0;
    atomic_signal_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&agent_state, memory_order_acquire) == AGENT_ENABLED)
        agent_post_frees(words, n);
    release_blocks(words, n);
    agent_busy = was_busy;
}

/* In a child that glibc's fork did not make (its atfork handler flushed
 * the list): the parent writes these records; the child's copies of the
 * blocks are released as the program released them before it forked. */
void agent_frees_forked(void)
{
    uint32_t n = agent_frees.words;
    agent_frees.words = 0;
    agent_frees.bytes = 0;
    agent_frees.site = 0;
    if (n <= MP_MAX_FRAMES)
        release_blocks(agent_frees.word, n);
}

/* The bytes of the block at ptr, at least its usable ones; SIZE_MAX:
 * large.  glibc's malloc (the program's allocator is libc's: no other
 * allocator's text) keeps a chunk's size in the word before it, with bit
 * 1 set for a chunk of its own mapping: read directly (its
 * malloc_usable_size also reads the next chunk's header, a cache miss a
 * free). */
static inline size_t block_bytes(void *ptr)
{
    if (likely(agent_allocator_text_count == 0)) {
        size_t head = ((const size_t *)ptr)[-1];
        return head & 2 ? SIZE_MAX : head & ~(size_t)7;
    }
    /* another allocator: its malloc_usable_size may be glibc's (one that
     * exports none), which would read a foreign block's neighbours */
    return 0;
}

int agent_frees_defer(void *ptr, const void *site)
{
    if (!__libc_single_threaded || agent_py_frames_on || agent_frees_at_once ||
        atomic_load_explicit(&frees_final, memory_order_relaxed))
        return 0;
    size_t usable = block_bytes(ptr);
    if (usable == 0)
        return 0; /* the allocator does not say: released at once */
    uint64_t site_word = MP_FREES_SITE | (uint64_t)(uintptr_t)site;
    uint32_t need = site_word == agent_frees.site ? 1 : 2;
    if (agent_frees.words + need > MP_MAX_FRAMES)
        agent_frees_flush();
    if (site_word != agent_frees.site) {
        agent_frees.word[agent_frees.words++] = site_word;
        agent_frees.site = site_word;
    }
    agent_frees.word[agent_frees.words++] = (uint64_t)(uintptr_t)ptr;
    agent_frees.bytes += usable < FREES_BLOCK_MAX ? usable : FREES_BLOCK_MAX;
    if (usable > FREES_BLOCK_MAX || agent_frees.bytes >= FREES_BYTES_MAX || agent_frees.words >= MP_MAX_FRAMES)
        agent_frees_flush();
    return 1;
}

/* ---- the process's last flush points ---------------------------------- */

/* exit(): after the program's own atexit handlers (registered after this
 * one); frees made after it (other handlers, destructors) are written one
 * by one. */
static void frees_at_exit(void)
{
    atomic_store(&frees_final, 1);
    agent_frees_flush();
}

void agent_frees_start(void)
{
    atexit(frees_at_exit);
}

void agent_frees_end(void)
{
    frees_at_exit();
}

/* Before a call that replaces the process image (it may fail: the
 * list starts again). */
static void flush_before_leaving(void)
{
    if (agent_frees.words != 0 && !agent_busy)
        agent_frees_flush();
}

/* Before a call that ends the process without exit's handlers. */
static void flush_before_ending(void)
{
    atomic_store(&frees_final, 1);
    flush_before_leaving();
}

#define NEXT(type, name) ((type)agent_find_next(name))

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
