/* memprof: where the allocator and the loader's hooks are in a target
 * process, for the breakpoint engine.  Static executables: the malloc family
 * in the executable's own symbol table.  Dynamic ones: the first object of
 * the loader's link map (the global lookup order) that defines malloc, read
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
    MP_FN_COUNT
};

const char *mp_alloc_fn_name(enum mp_alloc_fn fn);

struct mp_alloc_entries {
    uint64_t addr[MP_FN_COUNT]; /* runtime entry addresses; 0: not defined there */
    char module[PATH_MAX];      /* the file that defines them */
};

struct mp_loader_hooks {
    uint64_t debug_state;       /* runtime address of _dl_debug_state; 0: static program */
    uint64_t r_debug;           /* runtime address of _r_debug */
};

/* The loader of a (just exec'd or running) process.  0 (static programs
 * too: debug_state = 0), or -1 with a message. */
int mp_bp_find_loader(pid_t pid, struct mp_loader_hooks *out, char *err, size_t errlen);

/* 1 when the loader's link map is consistent (r_state RT_CONSISTENT). */
int mp_bp_link_map_consistent(int mem_fd, const struct mp_loader_hooks *hooks);

/* The allocator: with hooks->debug_state == 0 the executable itself, else
 * the link map.  0 when malloc and free were found, 1 when not (yet), -1
 * with a message on errors. */
int mp_bp_find_allocator(pid_t pid, int mem_fd, const struct mp_loader_hooks *hooks, struct mp_alloc_entries *out,
                         char *err, size_t errlen);

#endif
