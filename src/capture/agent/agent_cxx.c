/* memprof agent: C++ operator new and delete in all their forms (plain,
 * array, nothrow, aligned, sized) and jemalloc's non-standard API (mallocx,
 * rallocx, xallocx, sdallocx, dallocx).
 *
 * Each forwards to the next definition of its own name (libstdc++'s, or the
 * allocator's when jemalloc, tcmalloc or mimalloc define them), looked up on
 * first use: a C program has no operator new until a dlopen brings
 * libstdc++.  Counting is valgrind's: one allocation per new, one free per
 * delete, whatever the next definition calls underneath (libstdc++'s new
 * calls malloc: agent_busy keeps that inner call unrecorded).
 *
 * operator new may throw: agent_busy is cleared by a cleanup that also runs
 * when an exception unwinds through these frames (built with -fexceptions).
 * When it throws, the exception object libstdc++ allocated inside it (the
 * last block malloc returned meanwhile) is the program's until the catch
 * ends, and is recorded then. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_internal.h"

static void end_busy(int *scope)
{
    (void)scope;
    agent_busy = 0;
}
/* agent_busy = 1 until the enclosing block is left, however it is left. */
#define BUSY_UNTIL_BLOCK_END int busy_scope_ __attribute__((cleanup(end_busy), unused)) = (agent_busy = 1)

/* The same for operator new; *returned is set once it returned normally. */
static void end_new(int *returned)
{
    if (!*returned && agent_new_inner) /* unwinding: an exception left new */
        agent_record_alloc(agent_new_inner, agent_new_inner_size);
    agent_new_inner = NULL;
    agent_busy = 0;
}
#define NEW_UNTIL_BLOCK_END(returned) \
    int returned __attribute__((cleanup(end_new))) = (agent_new_inner = NULL, agent_busy = AGENT_BUSY_IN_NEW, 0)

/* The next definition of `name`, cached in *slot. */
static void *next_fn(void **slot, const char *name)
{
    void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (likely(f != NULL))
        return f;
    int was_busy = agent_busy;
    agent_busy = 1; /* dlsym's own allocations are not the program's */
    f = agent_find_next(name);
    agent_busy = was_busy;
    if (f)
        __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    return f;
}

__attribute__((noreturn, cold)) static void no_runtime(const char *name)
{
    static const char msg[] = "memprof agent: no definition of operator new/delete to forward to: ";
    (void)!write(2, msg, sizeof msg - 1);
    (void)!write(2, name, strlen(name));
    (void)!write(2, "\n", 1);
    abort();
}

/* ---- operator new ---- */

typedef void *(*new_fn)(size_t);
typedef void *(*new_aligned_fn)(size_t, size_t);

/* One recorded allocation through `call` (an expression using f). */
#define NEW_BODY(slot, name, type, call, nothrow)             \
    static void *slot;                                        \
    type f = (type)next_fn(&slot, name);                      \
    if (unlikely(!f))                                         \
        no_runtime(name);                                     \
    if (!should_record())                                     \
        return call;                                          \
    void *p;                                                  \
    {                                                         \
        NEW_UNTIL_BLOCK_END(returned_);                       \
        p = call;                                             \
        returned_ = 1;                                        \
        if (!(nothrow) || p != NULL)                          \
            agent_record_alloc(p, size);                      \
    }                                                         \
    return p

#define NEW_PLAIN(sym)                                        \
    EXPORT void *sym(size_t size) { NEW_BODY(next_##sym, #sym, new_fn, f(size), 0); }
#define NEW_NOTHROW(sym)                                      \
    EXPORT void *sym(size_t size, const void *nothrow)        \
    {                                                         \
        typedef void *(*fn)(size_t, const void *);            \
        NEW_BODY(next_##sym, #sym, fn, f(size, nothrow), 1);  \
    }
#define NEW_ALIGNED(sym)                                      \
    EXPORT void *sym(size_t size, size_t al)                  \
    {                                                         \
        NEW_BODY(next_##sym, #sym, new_aligned_fn, f(size, al), 0); \
    }
#define NEW_ALIGNED_NOTHROW(sym)                              \
    EXPORT void *sym(size_t size, size_t al, const void *nothrow) \
    {                                                         \
        typedef void *(*fn)(size_t, size_t, const void *);    \
        NEW_BODY(next_##sym, #sym, fn, f(size, al, nothrow), 1); \
    }

NEW_PLAIN(_Znwm)                                   /* operator new(size_t) */
NEW_PLAIN(_Znam)                                   /* operator new[](size_t) */
NEW_NOTHROW(_ZnwmRKSt9nothrow_t)                   /* operator new(size_t, nothrow_t const&) */
NEW_NOTHROW(_ZnamRKSt9nothrow_t)
NEW_ALIGNED(_ZnwmSt11align_val_t)                  /* operator new(size_t, align_val_t) */
NEW_ALIGNED(_ZnamSt11align_val_t)
NEW_ALIGNED_NOTHROW(_ZnwmSt11align_val_tRKSt9nothrow_t)
NEW_ALIGNED_NOTHROW(_ZnamSt11align_val_tRKSt9nothrow_t)

/* ---- operator delete ---- */

#define DELETE_BODY(slot, name, type, call)                   \
    static void *slot;                                        \
    if (ptr == NULL || unlikely(agent_is_boot(ptr)))          \
        return;                                               \
    type f = (type)next_fn(&slot, name);                      \
    if (unlikely(!f))                                         \
        no_runtime(name);                                     \
    if (!should_record()) {                                   \
        call;                                                 \
        return;                                               \
    }                                                         \
    BUSY_UNTIL_BLOCK_END;                                     \
    agent_record_free(ptr, __builtin_return_address(0));      \
    call

#define DELETE_PLAIN(sym)                                     \
    EXPORT void sym(void *ptr)                                \
    {                                                         \
        typedef void (*fn)(void *);                           \
        DELETE_BODY(next_##sym, #sym, fn, f(ptr));            \
    }
#define DELETE_ARG(sym, argtype)                              \
    EXPORT void sym(void *ptr, argtype a)                     \
    {                                                         \
        typedef void (*fn)(void *, argtype);                  \
        DELETE_BODY(next_##sym, #sym, fn, f(ptr, a));         \
    }
#define DELETE_ARGS(sym, type1, type2)                        \
    EXPORT void sym(void *ptr, type1 a, type2 b)              \
    {                                                         \
        typedef void (*fn)(void *, type1, type2);             \
        DELETE_BODY(next_##sym, #sym, fn, f(ptr, a, b));      \
    }

DELETE_PLAIN(_ZdlPv)                                       /* operator delete(void*) */
DELETE_PLAIN(_ZdaPv)                                       /* operator delete[](void*) */
DELETE_ARG(_ZdlPvm, size_t)                                /* sized */
DELETE_ARG(_ZdaPvm, size_t)
DELETE_ARG(_ZdlPvRKSt9nothrow_t, const void *)             /* nothrow */
DELETE_ARG(_ZdaPvRKSt9nothrow_t, const void *)
DELETE_ARG(_ZdlPvSt11align_val_t, size_t)                  /* aligned */
DELETE_ARG(_ZdaPvSt11align_val_t, size_t)
DELETE_ARGS(_ZdlPvmSt11align_val_t, size_t, size_t)        /* sized and aligned */
DELETE_ARGS(_ZdaPvmSt11align_val_t, size_t, size_t)
DELETE_ARGS(_ZdlPvSt11align_val_tRKSt9nothrow_t, size_t, const void *)
DELETE_ARGS(_ZdaPvSt11align_val_tRKSt9nothrow_t, size_t, const void *)

/* ---- jemalloc's API ----
 * Forwarded to jemalloc when the program has it; otherwise (a program that
 * only looks for mallocx) served by the program's malloc family, with the
 * flags that matter for correctness (alignment, zeroing) honoured. */

#define MALLOCX_LG_ALIGN_MASK 0x3f
#define MALLOCX_ZERO 0x40

static void *mallocx_fallback(size_t size, int flags)
{
    size_t alignment = (size_t)1 << (flags & MALLOCX_LG_ALIGN_MASK);
    void *p = alignment > 16 ? agent_next.aligned_alloc(alignment, (size + alignment - 1) & ~(alignment - 1))
                             : next_malloc(size);
    if (p && (flags & MALLOCX_ZERO))
        memset(p, 0, size);
    return p;
}

static void *rallocx_fallback(void *ptr, size_t size, int flags)
{
    if ((flags & MALLOCX_LG_ALIGN_MASK) <= 4 && !(flags & MALLOCX_ZERO))
        return agent_next.realloc(ptr, size);
    void *p = mallocx_fallback(size, flags);
    if (p) {
        size_t old = agent_next.malloc_usable_size(ptr);
        memcpy(p, ptr, old < size ? old : size);
        next_free(ptr);
    }
    return p;
}

EXPORT void *mallocx(size_t size, int flags)
{
    static void *next;
    typedef void *(*fn)(size_t, int);
    fn f = (fn)next_fn(&next, "mallocx");
    if (!f)
        f = mallocx_fallback;
    if (!should_record())
        return f(size, flags);
    agent_busy = 1;
    void *p = f(size, flags);
    if (p)
        agent_record_alloc(p, size);
    agent_busy = 0;
    return p;
}

/* As realloc: FREE(ptr) reserved before the call, ALLOC after. */
EXPORT void *rallocx(void *ptr, size_t size, int flags)
{
    static void *next;
    typedef void *(*fn)(void *, size_t, int);
    fn f = (fn)next_fn(&next, "rallocx");
    if (!f)
        f = rallocx_fallback;
    if (!should_record())
        return f(ptr, size, flags);
    agent_busy = 1;
    const void *site = agent_free_site(__builtin_return_address(0)); /* before the slot is reserved */
    uint64_t free_pos = agent_reserve();
    void *p = f(ptr, size, flags);
    agent_commit_free(free_pos, p ? ptr : NULL, site);
    if (p)
        agent_record_alloc(p, size);
    agent_busy = 0;
    return p;
}

/* Resizes in place and returns the block's real size: when that is at
 * least `size`, it counts as a realloc to min(real size, size + extra)
 * bytes at the same address; otherwise nothing changed. */
EXPORT size_t xallocx(void *ptr, size_t size, size_t extra, int flags)
{
    static void *next;
    typedef size_t (*fn)(void *, size_t, size_t, int);
    fn f = (fn)next_fn(&next, "xallocx");
    if (!f)
        return agent_next.malloc_usable_size(ptr); /* no in-place resizing without jemalloc */
    if (!should_record())
        return f(ptr, size, extra, flags);
    agent_busy = 1;
    size_t real = f(ptr, size, extra, flags);
    if (real >= size) {
        size_t wanted = size + extra < size ? SIZE_MAX : size + extra;
        agent_record_free(ptr, __builtin_return_address(0));
        agent_record_alloc(ptr, real < wanted ? real : wanted);
    }
    agent_busy = 0;
    return real;
}

static void free_ignoring_flags(void *ptr, int flags)
{
    (void)flags;
    next_free(ptr);
}

/* site: the caller's return address, for the FREE. */
static inline void dallocx_entry(void *ptr, int flags, const void *site)
{
    static void *next;
    typedef void (*fn)(void *, int);
    fn f = (fn)next_fn(&next, "dallocx");
    if (!f)
        f = free_ignoring_flags;
    if (!should_record()) {
        f(ptr, flags);
        return;
    }
    agent_busy = 1;
    agent_record_free(ptr, site);
    f(ptr, flags);
    agent_busy = 0;
}

EXPORT void dallocx(void *ptr, int flags)
{
    dallocx_entry(ptr, flags, __builtin_return_address(0));
}

EXPORT void sdallocx(void *ptr, size_t size, int flags)
{
    static void *next;
    typedef void (*fn)(void *, size_t, int);
    fn f = (fn)next_fn(&next, "sdallocx");
    if (!f) {
        dallocx_entry(ptr, flags, __builtin_return_address(0));
        return;
    }
    if (!should_record()) {
        f(ptr, size, flags);
        return;
    }
    agent_busy = 1;
    agent_record_free(ptr, __builtin_return_address(0));
    f(ptr, size, flags);
    agent_busy = 0;
}
