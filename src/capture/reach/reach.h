/* memprof: which heap blocks a stopped process can still reach, classed
 * as valgrind's memcheck does (mc_leakcheck.c), read from outside.
 *
 * Roots: every thread's general-purpose registers; its stack from the
 * stack pointer (less the 128-byte red zone) to the end of the stack's
 * mapping; and every other readable and writable mapping: data and .bss of
 * the program and its libraries, static TLS, anonymous memory, shared
 * memory (as memcheck, which scans all writable client memory).  Not roots:
 * the malloc heap itself ([heap], glibc's thread arenas, mappings that hold
 * a block), memprof's own mappings, device files, and the dead part of a
 * cached thread stack (below its static TLS).
 *
 * A block is still reachable when a chain of pointers to block starts leads
 * to it from a root (memcheck's heuristics count too: std::string, new[]
 * array, 64-bit length prefix, multiple inheritance); possibly lost when it
 * is reached only through some pointer into its middle; indirectly lost
 * when only lost blocks point to it; definitely lost when nothing does (in
 * a cycle of lost blocks, the one at the lowest address).
 *
 * Memory is read with process_vm_readv in large chunks, pages the process
 * never touched skipped (/proc/PID/pagemap): about one read of the live
 * heap and of the writable data. */
#ifndef MEMPROF_REACH_H
#define MEMPROF_REACH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum mp_reach_kind {
    MP_REACH_DEFINITE = 0,   /* definitely lost */
    MP_REACH_INDIRECT = 1,   /* indirectly lost */
    MP_REACH_POSSIBLE = 2,   /* possibly lost */
    MP_REACH_REACHABLE = 3,  /* still reachable */
};

struct mp_reach_block {
    uint64_t addr, size;     /* a live block: its requested size */
};

struct mp_reach_options {
    /* The block list may lack live blocks (memprof attached late): memory
     * of the heap outside the listed blocks counts as a root. */
    int heap_gaps_are_roots;
    /* Mappings of files whose path contains one of these are not roots
     * (memprof's agent).  NULL-terminated, or NULL. */
    const char *const *skip_paths;
};

struct mp_reach_stats {
    uint64_t root_bytes;       /* bytes of roots read (pages never touched are not read) */
    uint64_t heap_bytes;       /* bytes read for the blocks (windows include small gaps) */
    uint64_t unreadable_bytes; /* skipped: the kernel refused to read them */
    uint64_t edges;            /* pointers from a block to a block */
    double seconds;
};

/* Classifies blocks[0..n) (sorted by address, not overlapping) of process
 * pid, whose threads tids[0..n_tids) are all stopped under ptrace by the
 * caller: kinds[i] receives block i's enum mp_reach_kind.  0, or -1 with a
 * one-line reason in err (kinds then unset). */
int mp_reach_classify(pid_t pid, const pid_t *tids, size_t n_tids, const struct mp_reach_block *blocks, size_t n,
                      const struct mp_reach_options *opt, uint8_t *kinds, struct mp_reach_stats *stats, char *err,
                      size_t errlen);

#endif
