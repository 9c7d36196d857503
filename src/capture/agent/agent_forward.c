/* memprof agent: the allocator the program would have used without memprof.
 *
 * Every interposed function forwards to the next definition of its name
 * after the agent in the loader's lookup order (dlsym(RTLD_NEXT)): glibc's
 * malloc, or jemalloc, tcmalloc or mimalloc when the program links or
 * preloads one.  Blocks therefore always go back to the allocator that made
 * them.  Forwarding to glibc's __libc_malloc whatever the program used (what
 * the agent did first) made jemalloc programs die in free().
 *
 * dlsym may allocate (its error state): while a thread resolves, its own
 * calls are served from a small static arena whose blocks are never passed
 * to the real allocator (free ignores them, realloc copies them out).  Other
 * threads wait for the resolution, which in practice happens on the first
 * allocator call of the process, before any thread exists.  Each pointer of
 * agent_next starts at a slow path that resolves first, so the hot path is
 * one indirect call. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <sched.h>
#include <string.h>

#include "agent_internal.h"
#include "agent_elf.h"

/* glibc's own names for its allocator: the last resort when the lookup
 * finds nothing (it always finds at least libc's). */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

unsigned char agent_boot_arena[AGENT_BOOT_BYTES] __attribute__((aligned(4096)));
static _Atomic size_t boot_used;

static _Atomic int resolve_state;                 /* 0: not yet, 1: resolving, 2: done */
static __thread int resolving __attribute__((tls_model("initial-exec"))); /* this thread resolves */

/* ---- the bootstrap arena ---- */

#define BOOT_HEADER 16

static void *boot_alloc(size_t size, size_t alignment)
{
    if (alignment < BOOT_HEADER)
        alignment = BOOT_HEADER;
    if (alignment > 4096 || size > AGENT_BOOT_BYTES || (alignment & (alignment - 1))) {
        errno = ENOMEM;
        return NULL;
    }
    size_t used = atomic_load(&boot_used);
    for (;;) {
        size_t start = (used + BOOT_HEADER + alignment - 1) & ~(alignment - 1);
        size_t end = start + ((size + 15) & ~(size_t)15);
        if (end > AGENT_BOOT_BYTES) {
            errno = ENOMEM;
            return NULL;
        }
        if (atomic_compare_exchange_weak(&boot_used, &used, end)) {
            memcpy(agent_boot_arena + start - BOOT_HEADER, &size, sizeof size);
            return agent_boot_arena + start;
        }
    }
}

size_t agent_boot_size(const void *p)
{
    size_t size;
    memcpy(&size, (const unsigned char *)p - BOOT_HEADER, sizeof size);
    return size;
}

/* ---- the slow paths: agent_next's pointers until resolved ---- */

static void *slow_malloc(size_t size)
{
    agent_resolve();
    return resolving ? boot_alloc(size, 0) : agent_next.malloc(size);
}

static void slow_free(void *ptr)
{
    if (agent_is_boot(ptr))
        return;
    agent_resolve();
    if (!resolving) /* (a real block freed mid-resolution would have to leak) */
        agent_next.free(ptr);
}

static void *slow_calloc(size_t n, size_t size)
{
    agent_resolve();
    if (!resolving)
        return agent_next.calloc(n, size);
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = boot_alloc(bytes, 0);
    if (p)
        memset(p, 0, bytes);
    return p;
}

static void *slow_realloc(void *ptr, size_t size)
{
    agent_resolve();
    if (!resolving)
        return agent_next.realloc(ptr, size);
    if (ptr && !agent_is_boot(ptr)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = boot_alloc(size, 0);
    if (p && ptr) {
        size_t old = agent_boot_size(ptr);
        memcpy(p, ptr, old < size ? old : size);
    }
    return p;
}

static void *slow_memalign(size_t alignment, size_t size)
{
    agent_resolve();
    return resolving ? boot_alloc(size, alignment) : agent_next.memalign(alignment, size);
}

static void *slow_aligned_alloc(size_t alignment, size_t size)
{
    agent_resolve();
    return resolving ? boot_alloc(size, alignment) : agent_next.aligned_alloc(alignment, size);
}

static int slow_posix_memalign(void **out, size_t alignment, size_t size)
{
    agent_resolve();
    if (!resolving)
        return agent_next.posix_memalign(out, alignment, size);
    void *p = boot_alloc(size, alignment);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

static void *slow_valloc(size_t size)
{
    agent_resolve();
    return resolving ? boot_alloc(size, 4096) : agent_next.valloc(size);
}

static void *slow_pvalloc(size_t size)
{
    agent_resolve();
    return resolving ? boot_alloc((size + 4095) & ~(size_t)4095, 4096) : agent_next.pvalloc(size);
}

static size_t slow_malloc_usable_size(void *ptr)
{
    if (agent_is_boot(ptr))
        return agent_boot_size(ptr);
    agent_resolve();
    return resolving || !ptr ? 0 : agent_next.malloc_usable_size(ptr);
}

struct agent_next agent_next = {
    .malloc = slow_malloc,
    .free = slow_free,
    .calloc = slow_calloc,
    .realloc = slow_realloc,
    .memalign = slow_memalign,
    .aligned_alloc = slow_aligned_alloc,
    .posix_memalign = slow_posix_memalign,
    .valloc = slow_valloc,
    .pvalloc = slow_pvalloc,
    .malloc_usable_size = slow_malloc_usable_size,
};

/* ---- resolving ---- */

static int glibc_posix_memalign(void **out, size_t alignment, size_t size)
{
    if (alignment % sizeof(void *) != 0 || alignment == 0 ||
        ((alignment / sizeof(void *)) & (alignment / sizeof(void *) - 1)) != 0)
        return EINVAL;
    void *p = __libc_memalign(alignment, size);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

static size_t no_usable_size(void *ptr)
{
    (void)ptr;
    return 0;
}

struct agent_object_search {
    const char *name;
    uintptr_t own;   /* an address inside the agent: its object is skipped */
    void *found;
};

static int search_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct agent_object_search *s = data;
    if (agent_elf_object_holds(info, s->own))
        return 0;
    s->found = agent_elf_symbol(info, s->name);
    return s->found != NULL;
}

void *agent_find_next(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (p)
        return p;
    /* not in the global scope: an object loaded with RTLD_LOCAL (say a
     * dlopen'ed C++ library's libstdc++) */
    struct agent_object_search s = { name, (uintptr_t)&agent_find_next, NULL };
    dl_iterate_phdr(search_object, &s);
    return s.found;
}

#define NEXT_OR(name, fallback) ({                      \
    void *found_ = agent_find_next(name);               \
    found_ ? (__typeof__(&(fallback)))found_ : &(fallback); \
})

void agent_resolve(void)
{
    if (atomic_load_explicit(&resolve_state, memory_order_acquire) == 2 || resolving)
        return;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&resolve_state, &expected, 1)) {
        while (atomic_load_explicit(&resolve_state, memory_order_acquire) != 2)
            sched_yield();
        return;
    }
    int saved_errno = errno;
    resolving = 1;
    struct agent_next n = {
        .malloc = NEXT_OR("malloc", __libc_malloc),
        .free = NEXT_OR("free", __libc_free),
        .calloc = NEXT_OR("calloc", __libc_calloc),
        .realloc = NEXT_OR("realloc", __libc_realloc),
        .memalign = NEXT_OR("memalign", __libc_memalign),
        .aligned_alloc = NEXT_OR("aligned_alloc", __libc_memalign),
        .posix_memalign = NEXT_OR("posix_memalign", glibc_posix_memalign),
        .valloc = NEXT_OR("valloc", __libc_valloc),
        .pvalloc = NEXT_OR("pvalloc", __libc_pvalloc),
        .malloc_usable_size = NEXT_OR("malloc_usable_size", no_usable_size),
    };
    /* Each pointer is one aligned word: a reader sees the slow path or the
     * real function, both correct. */
    void **dst = (void **)&agent_next, **src = (void **)&n;
    for (size_t i = 0; i < sizeof n / sizeof(void *); i++)
        __atomic_store_n(&dst[i], src[i], __ATOMIC_RELEASE);
    resolving = 0;
    errno = saved_errno;
    atomic_store_explicit(&resolve_state, 2, memory_order_release);
}
