/* memprof: where the allocator and the loader's hooks are in a target
 * process, for the breakpoint engine.  Static executables: the allocator
 * family in the executable's own symbol table.  Dynamic ones: for each name,
 * the first object of the loader's link map (the global lookup order) that
 * defines it, as the loader binds the program's calls (with -ljemalloc,
 * malloc and operator new are jemalloc's, pvalloc still glibc's), read
 * through ld.so's r_debug; and ld.so's _dl_debug_state, the function the
 * loader calls (RT_CONSISTENT) once libraries are mapped and relocated, before
 * their constructors run. */
#ifndef MEMPROF_BP_TARGET_H
#define MEMPROF_BP_TARGET_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum mp_alloc_fn {
    MP_FN_MALLOC,
    MP_FN_FREE,
    MP_FN_CALLOC,
    MP_FN_REALLOC,
    MP_FN_POSIX_MEMALIGN,
    MP_FN_ALIGNED_ALLOC,
    MP_FN_MEMALIGN,
    MP_FN_VALLOC,
    MP_FN_PVALLOC,
    MP_FN_REALLOCARRAY,
    /* C++ operator new (plain, array; nothrow; aligned) and delete */
    MP_FN_NEW, MP_FN_NEW_ARRAY, MP_FN_NEW_NOTHROW, MP_FN_NEW_ARRAY_NOTHROW,
    MP_FN_NEW_ALIGNED, MP_FN_NEW_ARRAY_ALIGNED, MP_FN_NEW_ALIGNED_NOTHROW, MP_FN_NEW_ARRAY_ALIGNED_NOTHROW,
    MP_FN_DELETE, MP_FN_DELETE_ARRAY, MP_FN_DELETE_SIZED, MP_FN_DELETE_ARRAY_SIZED,
    MP_FN_DELETE_NOTHROW, MP_FN_DELETE_ARRAY_NOTHROW, MP_FN_DELETE_ALIGNED, MP_FN_DELETE_ARRAY_ALIGNED,
    MP_FN_DELETE_SIZED_ALIGNED, MP_FN_DELETE_ARRAY_SIZED_ALIGNED, MP_FN_DELETE_ALIGNED_NOTHROW,
    MP_FN_DELETE_ARRAY_ALIGNED_NOTHROW,
    /* jemalloc's own API */
    MP_FN_MALLOCX, MP_FN_RALLOCX, MP_FN_XALLOCX, MP_FN_SDALLOCX, MP_FN_DALLOCX,
    /* mapped memory (armed unless --no-mmap) */
    MP_FN_MMAP, MP_FN_MMAP64, MP_FN_MUNMAP, MP_FN_MREMAP, MP_FN_BRK, MP_FN_SBRK,
    /* a C++ exception thrown inside an open call (operator new's bad_alloc)
     * must not unwind through a replaced return address */
    MP_FN_CXA_THROW,
    MP_FN_COUNT
};
#define MP_FN_FIRST_MAPPED MP_FN_MMAP

/* What a call does, and where its arguments are. */
enum mp_fn_kind {
    MP_KIND_ALLOC,          /* a block of size arg0 (malloc, new, mallocx, valloc, pvalloc) */
    MP_KIND_FREE,           /* frees arg0 (free, delete, dallocx, sdallocx) */
    MP_KIND_CALLOC,         /* arg0 * arg1 bytes */
    MP_KIND_REALLOC,        /* arg0 to arg1 bytes (realloc, rallocx) */
    MP_KIND_REALLOCARRAY,   /* arg0 to arg1 * arg2 bytes */
    MP_KIND_ALIGNED,        /* arg1 bytes (memalign, aligned_alloc) */
    MP_KIND_POSIX_MEMALIGN, /* arg2 bytes, the block behind arg0 */
    MP_KIND_XALLOCX,        /* arg0 resized in place to arg1 (+ arg2) bytes */
    MP_KIND_MMAP,           /* mapped memory: bp_mapped.c */
    MP_KIND_MUNMAP,
    MP_KIND_MREMAP,
    MP_KIND_BRK,
    MP_KIND_SBRK,
    MP_KIND_THROW,          /* __cxa_throw: arg0 the thrown object */
};

const char *mp_alloc_fn_name(enum mp_alloc_fn fn);
enum mp_fn_kind mp_alloc_fn_kind(enum mp_alloc_fn fn);

/* One object of the process, as the loader mapped it. */
struct mp_bp_module {
    char *path;
    uint64_t bias;              /* load bias (l_addr) */
    uint64_t lo, hi;            /* its PT_LOAD segments span [lo, hi) */
};

#define MP_BP_MAX_TEXT 4
struct mp_alloc_entries {
    uint64_t addr[MP_FN_COUNT]; /* runtime entry addresses; 0: not defined anywhere */
    char module[PATH_MAX];      /* the file that defines malloc */
    /* The executable segments of malloc's library when that is not libc
     * (jemalloc, tcmalloc, mimalloc): its calls into its own entry points
     * are its bookkeeping, not the program's. */
    uint64_t allocator_text[MP_BP_MAX_TEXT][2];
    int n_allocator_text;
    /* libc's executable segments (dynamic programs), or in a static program
     * the ranges of the libc functions that map memory for themselves: their
     * calls of mmap and brk (pthread_create's stacks, free's munmap) are not
     * the program's */
#define MP_BP_MAX_TEXT_STATIC 8
    uint64_t libc_text[MP_BP_MAX_TEXT_STATIC][2];
    int n_libc_text;
    uint64_t curbrk;            /* address of libc's __curbrk (the break), 0 if unknown */
    /* the copies of memprof.h's hook (memprof_client_hook), one per object */
#define MP_BP_MAX_HOOKS 64
    uint64_t client_hooks[MP_BP_MAX_HOOKS];
    int n_client_hooks;
    struct mp_bp_module *modules; /* the link map, in lookup order */
    size_t n_modules;
};
void mp_alloc_entries_free(struct mp_alloc_entries *e);

/* The address the first object (in lookup order) that defines `name` gives
 * it, or 0. */
uint64_t mp_bp_lookup(const struct mp_alloc_entries *e, const char *name);
/* The module whose segments hold addr, or NULL. */
const struct mp_bp_module *mp_bp_module_at(const struct mp_alloc_entries *e, uint64_t addr);
/* The name of the symbol whose address the loader stores in the GOT slot
 * at run-time address `slot` of module m (its JUMP_SLOT or GLOB_DAT
 * relocation): 0 and the name copied, or -1. */
int mp_bp_got_symbol(const struct mp_bp_module *m, uint64_t slot, char *name, size_t len);

struct mp_loader_hooks {
    uint64_t debug_state;       /* runtime address of _dl_debug_state; 0: static program */
    uint64_t r_debug;           /* runtime address of _r_debug */
};

/* The loader of a (just exec'd or running) process.  0 (static programs
 * too: debug_state = 0), or -1 with a message. */
int mp_bp_find_loader(pid_t pid, struct mp_loader_hooks *out, char *err, size_t errlen);

/* 1 when the loader's link map is consistent (r_state RT_CONSISTENT). */
int mp_bp_link_map_consistent(int mem_fd, const struct mp_loader_hooks *hooks);
/* r_state (RT_CONSISTENT, RT_ADD: objects being mapped, RT_DELETE: being
 * unmapped), or -1 when the link map cannot be read. */
int mp_bp_link_map_state(int mem_fd, const struct mp_loader_hooks *hooks);

/* The allocator: with hooks->debug_state == 0 the executable itself, else
 * the link map.  0 when malloc and free were found, 1 when not (yet), -1
 * with a message on errors.  Free *out with mp_alloc_entries_free (after
 * any return). */
int mp_bp_find_allocator(pid_t pid, int mem_fd, const struct mp_loader_hooks *hooks, struct mp_alloc_entries *out,
                         char *err, size_t errlen);

#endif
