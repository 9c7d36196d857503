/*
 * memprof.h - tell memprof about memory your own allocator hands out.
 *
 * A program with its own pool, arena or free list gets its memory in big
 * chunks (from malloc or mmap) and hands out pieces that memprof cannot see.
 * Annotate the pieces and memprof profiles them like malloc's blocks: their
 * lines, the peak, leaks.
 *
 *     #include <memprof/memprof.h>
 *
 *     void *pool_get(struct pool *p) {
 *         void *obj = take_from_free_list(p);
 *         MEMPROF_ALLOC(obj, p->object_size);    after the piece is yours
 *         return obj;
 *     }
 *     void pool_put(struct pool *p, void *obj) {
 *         MEMPROF_FREE(obj);                     before it can be handed out again
 *         give_back(p, obj);
 *     }
 *     MEMPROF_REALLOC(old, new, size)            old freed, new allocated (size bytes)
 *
 * No library is needed at link time and nothing happens outside memprof:
 * each macro is one load and one predictable branch on a pointer that is
 * null until memprof (either engine) fills it in.  Annotated pieces are
 * counted as heap blocks, apart from the blocks the pool took from malloc
 * (which are counted too: take the chunks with mmap, counted as mapped
 * memory, to keep the heap figures to the pieces).  A function that only
 * hands pieces out (named like an allocator: pool_alloc, obj_malloc...) is
 * folded into its callers like malloc wrappers are (memprof(1), --alloc-fn).
 *
 * Compiles as C89, C99, C11 and C++.  The hook is a weak variable with
 * default visibility: memprof finds it in the program (keep its symbol
 * table: do not strip it, or link with -rdynamic) and in every shared
 * library loaded at start-up; libraries loaded later with dlopen share the
 * program's or the agent's.
 */
#ifndef MEMPROF_MEMPROF_H
#define MEMPROF_MEMPROF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MEMPROF_OP_ALLOC 1   /* new_ptr: size bytes */
#define MEMPROF_OP_FREE 2    /* old_ptr */
#define MEMPROF_OP_REALLOC 3 /* old_ptr freed, new_ptr: size bytes */

/* Addresses travel as integers: a pointer-to-const parameter would make gcc
 * warn about the (uninitialised) contents of a fresh piece. */
typedef void (*memprof_client_fn)(int op, size_t old_addr, size_t new_addr, size_t size);

#if defined(__GNUC__) || defined(__clang__)
#define MEMPROF_HOOK_ATTR_ __attribute__((weak, visibility("default")))
#define MEMPROF_UNLIKELY_(x) __builtin_expect(!!(x), 0)
#else
#define MEMPROF_HOOK_ATTR_
#define MEMPROF_UNLIKELY_(x) (x)
#endif

/* Null unless memprof profiles this process.  (memprof's agent defines
 * its own and includes this header with MEMPROF_HOOK_DEFINED.) */
#ifdef MEMPROF_HOOK_DEFINED
extern memprof_client_fn memprof_client_hook;
#else
MEMPROF_HOOK_ATTR_ memprof_client_fn memprof_client_hook = 0;
#endif

#define MEMPROF_CLIENT_REQUEST_(op, old_ptr, new_ptr, size)                                              \
    do {                                                                                                 \
        memprof_client_fn memprof_fn_ = *(memprof_client_fn volatile *)&memprof_client_hook;            \
        if (MEMPROF_UNLIKELY_(memprof_fn_ != 0))                                                         \
            memprof_fn_((op), (size_t)(old_ptr), (size_t)(new_ptr), (size_t)(size));                     \
    } while (0)

#define MEMPROF_ALLOC(ptr, size) MEMPROF_CLIENT_REQUEST_(MEMPROF_OP_ALLOC, 0, (ptr), (size))
#define MEMPROF_FREE(ptr) MEMPROF_CLIENT_REQUEST_(MEMPROF_OP_FREE, (ptr), 0, 0)
#define MEMPROF_REALLOC(old_ptr, new_ptr, size) MEMPROF_CLIENT_REQUEST_(MEMPROF_OP_REALLOC, (old_ptr), (new_ptr), (size))

#ifdef __cplusplus
}
#endif

#endif
