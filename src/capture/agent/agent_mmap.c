/* memprof agent: mapped memory, the second kind of memory (see
 * memprof/event.h): the program's own mmap/mmap64, munmap, mremap, brk and
 * sbrk, forwarded to the next definition (libc's, or tcmalloc's, which
 * exports them).
 *
 * Only the program's own: glibc's malloc, the loader and pthread_create map
 * with libc's internal __mmap and never come here; an allocator that maps
 * through the PLT (jemalloc, tcmalloc, mimalloc) does it inside an
 * allocator call (agent_busy) or from its own text (should_record checks
 * the caller); the agent's and libunwind's own maps happen while agent_busy
 * is set.  Of mmap's results only anonymous private mappings count; a
 * MAP_FIXED mapping first unmaps what it replaces.  Ordering as for the
 * heap: a range that goes away is reserved in the ring before the call, one
 * that appears after it. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent_internal.h"

int agent_mmap_enabled;

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

static uint64_t page_round(uint64_t len)
{
    static uint64_t page;
    if (!page) {
        unsigned long ps = getauxval(AT_PAGESZ);
        page = ps ? ps : 4096;
    }
    return (len + page - 1) & ~(page - 1);
}

/* The next definition, cached; NULL when there is none (then the system
 * call itself). */
static void *next_of(void **slot, const char *name)
{
    void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (!f) {
        int was_busy = agent_busy;
        agent_busy = 1;
        f = agent_find_next(name);
        agent_busy = was_busy;
        if (f)
            __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    }
    return f;
}

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef int (*munmap_fn)(void *, size_t);
typedef void *(*mremap_fn)(void *, size_t, size_t, int, ...);
typedef int (*brk_fn)(void *);
typedef void *(*sbrk_fn)(intptr_t);

static void *next_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    static void *slot;
    mmap_fn f = (mmap_fn)next_of(&slot, "mmap");
    return f ? f(addr, len, prot, flags, fd, off) : (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static int next_munmap(void *addr, size_t len)
{
    static void *slot;
    munmap_fn f = (munmap_fn)next_of(&slot, "munmap");
    return f ? f(addr, len) : (int)syscall(SYS_munmap, addr, len);
}

static void *next_sbrk(intptr_t incr)
{
    static void *slot;
    sbrk_fn f = (sbrk_fn)next_of(&slot, "sbrk");
    return f ? f(incr) : (void *)-1;
}

/* Recorded only when recording, mapped memory is wanted, and the caller is
 * the program (inlined into the exported functions: see should_record). */
#define SHOULD_RECORD_MAPPED() (should_record() && agent_mmap_enabled)

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (!SHOULD_RECORD_MAPPED())
        return next_mmap(addr, len, prot, flags, fd, off);
    agent_busy = 1;
    int replaces = (flags & MAP_FIXED) && !(flags & MAP_FIXED_NOREPLACE);
    uint64_t pos = replaces ? agent_reserve() : 0;
    void *p = next_mmap(addr, len, prot, flags, fd, off);
    if (replaces)
        agent_commit_range(pos, p != MAP_FAILED ? MP_REC_UNMAP : MP_REC_NOP, addr, page_round(len), 0);
    if (p != MAP_FAILED && (flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE)
        agent_record_stack(MP_REC_MAP, p, page_round(len));
    agent_busy = 0;
    return p;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) __attribute__((alias("mmap")));

EXPORT int munmap(void *addr, size_t len)
{
    if (!SHOULD_RECORD_MAPPED())
        return next_munmap(addr, len);
    agent_busy = 1;
    uint64_t pos = agent_reserve();
    int rc = next_munmap(addr, len);
    agent_commit_range(pos, rc == 0 ? MP_REC_UNMAP : MP_REC_NOP, addr, page_round(len), 0);
    agent_busy = 0;
    return rc;
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *new_addr = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        new_addr = va_arg(ap, void *);
        va_end(ap);
    }
    static void *slot;
    mremap_fn f = (mremap_fn)next_of(&slot, "mremap");
    if (!SHOULD_RECORD_MAPPED())
        return f ? f(old, old_len, new_len, flags, new_addr)
                 : (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
    agent_busy = 1;
    uint64_t pos = agent_reserve();
    void *p = f ? f(old, old_len, new_len, flags, new_addr)
                : (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
    agent_commit_range(pos, p != MAP_FAILED ? MP_REC_REMAP_FROM : MP_REC_NOP, old, page_round(old_len),
                       (flags & MREMAP_DONTUNMAP) ? MP_EV_F_DONTUNMAP : 0);
    if (p != MAP_FAILED)
        agent_record_stack(MP_REC_REMAP_TO, p, page_round(new_len));
    agent_busy = 0;
    return p;
}

/* sbrk and brk: the area between the old and the new break, in bytes. */
EXPORT void *sbrk(intptr_t incr)
{
    if (incr == 0 || !SHOULD_RECORD_MAPPED())
        return next_sbrk(incr);
    agent_busy = 1;
    uint64_t pos = incr < 0 ? agent_reserve() : 0;
    char *old = next_sbrk(incr);
    int ok = old != (char *)-1;
    if (incr < 0)
        agent_commit_range(pos, ok ? MP_REC_UNMAP : MP_REC_NOP, old + incr, (uint64_t)-incr, 0);
    else if (ok)
        agent_record_stack(MP_REC_MAP, old, (uint64_t)incr);
    agent_busy = 0;
    return old;
}

EXPORT int brk(void *addr)
{
    static void *slot;
    brk_fn f = (brk_fn)next_of(&slot, "brk");
    if (!SHOULD_RECORD_MAPPED())
        return f ? f(addr) : -1;
    agent_busy = 1;
    char *old = next_sbrk(0), *want = addr;
    uint64_t pos = want < old ? agent_reserve() : 0;
    int rc = f ? f(addr) : -1;
    if (want < old)
        agent_commit_range(pos, rc == 0 && old != (char *)-1 ? MP_REC_UNMAP : MP_REC_NOP, want,
                           (uint64_t)(old - want), 0);
    else if (rc == 0 && want > old && old != (char *)-1)
        agent_record_stack(MP_REC_MAP, old, (uint64_t)(want - old));
    agent_busy = 0;
    return rc;
}
