/* memprof: the breakpoint engine's code inside the target (bp_stubs.S).
 *
 * A blob memprof copies into a shared mapping of its event ring in the
 * target: a data block the supervisor fills, a detour for free that writes
 * the FREE record into the ring itself (so free costs no stop at all), and
 * one return stub per call slot: an allocating call whose return address
 * was replaced by stub k returns into it, and the stub writes the ALLOC
 * record (the stack the supervisor left in slot k, the returned address)
 * and jumps to the real return address.  Both follow the ring's protocol
 * (ring.h): a FREE reserves its record before the memory is released, an
 * ALLOC after the allocator returned, as the agent does.  Last, the target
 * of memprof.h's hook: an INT3 (memprof records the annotation) and a ret. */
#ifndef MEMPROF_BP_STUBS_H
#define MEMPROF_BP_STUBS_H

#define MP_STUB_SLOTS 512
#define MP_STUB_SLOT_BYTES 448
#define MP_STUB_RET_STUB_BYTES 10
/* data block offsets */
#define MP_STUB_D_HEAD 0        /* address of the ring's head */
#define MP_STUB_D_RECS 8        /* address of record 0 */
#define MP_STUB_D_MASK 16       /* capacity - 1 */
#define MP_STUB_D_RECSIZE 24
#define MP_STUB_D_SLOTS 32      /* address of slot 0 */
#define MP_STUB_D_SLOTSIZE 40
#define MP_STUB_D_FREE_CONT 48  /* free + the length of the displaced instructions */
#define MP_STUB_D_FREE_ZERO 56  /* where free goes for NULL (its je target) */
#define MP_STUB_D_FAILED 64     /* reallocs that failed (a counter the stubs increment) */
#define MP_STUB_D_PID 72        /* the process the records are about (32 bits) */
#define MP_STUB_DATA_BYTES 128
/* slot offsets */
#define MP_SLOT_BUSY 0
#define MP_SLOT_RET 8
#define MP_SLOT_SIZE 16
#define MP_SLOT_TID 24
#define MP_SLOT_FLAGS 28
#define MP_SLOT_F_COUNT_FAIL 1  /* a NULL result is a failed realloc of a live block */
#define MP_SLOT_F_FREE_ALWAYS 2 /* the reserved FREE is committed even for a NULL result
                                   (realloc(p, 0) of an allocator that frees inside) */
#define MP_SLOT_F_NO_ALLOC 4    /* a free-like call (operator delete, sdallocx): its return
                                   records nothing, it only ends the call */
#define MP_SLOT_NFRAMES 32
#define MP_SLOT_TRUNCATED 36
#define MP_SLOT_ENTRY_SP 40
#define MP_SLOT_FREE_POS 48     /* realloc: ring position + 1 reserved for the FREE; 0: none */
#define MP_SLOT_FREE_ADDR 56
#define MP_SLOT_FRAMES 64

#ifndef __ASSEMBLER__
#include <stdint.h>
#include "memprof/event.h"

struct mp_stub_slot {
    uint64_t busy;          /* 1 from the call's entry until its stub ran */
    uint64_t ret;           /* the real return address */
    uint64_t size;          /* requested bytes */
    uint32_t tid;
    uint32_t flags;         /* MP_SLOT_F_* */
    uint32_t nframes, truncated;
    uint64_t entry_sp;      /* where the return address was */
    uint64_t free_pos;      /* realloc of a block: its FREE's ring position + 1, reserved at the
                               entry; the stub commits it (a NOP when realloc failed) */
    uint64_t free_addr;
    uint64_t frames[MP_MAX_FRAMES];
};
_Static_assert(sizeof(struct mp_stub_slot) == MP_STUB_SLOT_BYTES, "slot layout");

extern const unsigned char mp_stub_blob_start[], mp_stub_blob_end[];
extern const unsigned char mp_stub_free[], mp_stub_ret0[], mp_stub_client[];
#endif

#endif
