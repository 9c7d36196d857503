/* memprof: the breakpoint engine's part inside the target:
 * memprof's event ring memfd mapped into the target next to the allocator,
 * with the stubs of bp_stubs.S and the call slots after the ring.  free is
 * detoured (its first instructions replaced by a jump to the stub), so it
 * costs no stop; allocating calls stop once, at the entry, and return
 * through a stub that writes their ALLOC record.  Supervisor thread only. */
#ifndef MEMPROF_BP_INPROC_H
#define MEMPROF_BP_INPROC_H

#include <stdint.h>
#include <sys/types.h>
#include "bp_stubs.h"

struct mp_ring_reader;

struct mp_bp_inproc {
    unsigned char *local;       /* memprof's view of the blob, then the slots */
    struct mp_stub_slot *slots; /* memprof's view of the slots */
    uint64_t remote;            /* the target's address of the blob (0: not mapped) */
    uint64_t ring_remote;       /* the target's address of the whole mapping */
    uint64_t ring_bytes;
    uint32_t next_slot;
    uint64_t free_addr;         /* detoured free, 0: none */
    uint8_t free_saved[5];      /* the bytes the jump replaced */
};

/* Maps the ring into the target (thread tid stopped, no other thread
 * running; `scratch`: 3 bytes of text memprof may borrow; the mapping is
 * placed within reach of a rel32 jump from `near`).  inherited: the target
 * has the memfd (launched); else it opens it through /proc (attached) and
 * closes it again.  The stubs' records carry `pid`.  0, or -1. */
int mp_bp_inproc_map(struct mp_bp_inproc *ip, struct mp_ring_reader *ring, pid_t pid, pid_t tid, int mem_fd,
                     uint64_t scratch, uint64_t near, int inherited);
/* Leaving an attached process (every thread stopped): */
int mp_bp_inproc_in_stubs(const struct mp_bp_inproc *ip, uint64_t rip);
/* Single-steps thread tid until it is out of the stubs.  0, or -1. */
int mp_bp_inproc_leave_stubs(const struct mp_bp_inproc *ip, pid_t pid, pid_t tid);
/* free's bytes back, the mapping removed (through thread tid).  0, or -1. */
int mp_bp_inproc_unmap(struct mp_bp_inproc *ip, pid_t tid, int mem_fd, uint64_t scratch);
/* Detours free at free_addr when its entry is glibc's `test rdi,rdi; je`
 * and the stub is in reach.  0 done, -1 (free keeps its breakpoint). */
int mp_bp_inproc_detour_free(struct mp_bp_inproc *ip, int mem_fd, uint64_t free_addr);
/* A free slot, marked busy by the caller after filling it; -1 if none. */
int mp_bp_inproc_take_slot(struct mp_bp_inproc *ip);
uint64_t mp_bp_inproc_ret_stub(const struct mp_bp_inproc *ip, int slot);
uint64_t mp_bp_inproc_failed_reallocs(const struct mp_bp_inproc *ip);
/* A fork child's copy of free gets its original bytes back. */
int mp_bp_inproc_clean_child(const struct mp_bp_inproc *ip, int child_mem_fd);
/* The image is gone (exec): forget the target's addresses. */
void mp_bp_inproc_reset(struct mp_bp_inproc *ip);

#endif
