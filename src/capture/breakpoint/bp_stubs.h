/* memprof: the breakpoint engine's code inside the target (bp_stubs.S).
 *
 * A blob memprof copies into a shared mapping of its event ring in the
 * target: a data page the supervisor fills (read-write in the target), then
 * the code (read+execute in the target: memprof writes it through its own
 * mapping of the memfd, so no page is ever writable and executable in the
 * target):
 *  - a detour for free that writes the FREE record into the ring itself (so
 *    free costs no stop at all), reached from free's entry directly or
 *    through the trampoline at the start of the first code page (which
 *    memprof maps a second time where free's patched jump needs it);
 *  - one return stub per call slot: an allocating call whose return address
 *    was replaced by stub k returns into it, and the stub writes the ALLOC
 *    record (the stack the supervisor left in slot k, the returned address)
 *    and jumps to the real return address;
 *  - the target of memprof.h's hook: an INT3 (memprof records the
 *    annotation) and a ret;
 *  - (attached processes) the allocator entries' stubs: an entry's first
 *    instructions are replaced by a jump to an INT3 followed by a copy of
 *    them and a jump back, so that a thread stopped at that INT3 resumes
 *    correctly even if memprof dies and the kernel drops its SIGTRAP; and a
 *    SIGTRAP handler with copies of the instructions under memprof's other
 *    INT3s, for a thread that meets one after memprof died.
 * Both stubs follow the ring's protocol (ring.h): a FREE reserves its record
 * before the memory is released, an ALLOC after the allocator returned, as
 * the agent does.  They record only while memprof holds the robust mutex in
 * the data page: when memprof dies the kernel marks it owner-dead, when it
 * detaches it unlocks it, and the stubs then only pass calls through (a
 * full ring no longer blocks them). */
#ifndef MEMPROF_BP_STUBS_H
#define MEMPROF_BP_STUBS_H

#define MP_STUB_SLOTS 512
#define MP_STUB_SLOT_BYTES 512
#define MP_STUB_RET_STUB_BYTES 11
#define MP_STUB_DATA_BYTES 4096 /* the data page; the code starts after it */
#define MP_STUB_CODE_BYTES 16384
#define MP_STUB_BLOB_BYTES (MP_STUB_DATA_BYTES + MP_STUB_CODE_BYTES)
/* data page offsets */
#define MP_STUB_D_HEAD 0        /* address of the ring's head */
#define MP_STUB_D_RECS 8        /* address of record 0 */
#define MP_STUB_D_MASK 16       /* capacity - 1 */
#define MP_STUB_D_RECSIZE 24
#define MP_STUB_D_SLOTS 32      /* address of slot 0 */
#define MP_STUB_D_SLOTSIZE 40
#define MP_STUB_D_FREE_CONT 48  /* free + the length of the displaced instructions */
#define MP_STUB_D_FREE_ZERO 56  /* where free goes for NULL (its je target) */
#define MP_STUB_D_FAILED 64     /* reallocs that failed (a counter the stubs increment) */
#define MP_STUB_D_SKIPPED 72    /* calls passed through unrecorded once memprof let go (a counter) */
#define MP_STUB_D_PID 80        /* the process the records are about (32 bits) */
#define MP_STUB_D_TAIL 88       /* address of the ring's tail (the reader's, published) */
#define MP_STUB_D_FAR 96        /* a position farther than this from the tail can never be read:
                                   the target wrote over the ring's header (ring.h) */
#define MP_STUB_D_DROPS 104     /* records the stubs dropped, their position one the reader never
                                   reaches (a counter: memprof adds it to the ring's damage,
                                   mp_bp_inproc_report_drops) */
#define MP_STUB_D_LOCK 128      /* memprof's robust pthread mutex (the futex word first) */
#define MP_STUB_D_ACT_OURS 192  /* struct kernel_sigaction: the SIGTRAP handler memprof installs */
#define MP_STUB_D_ACT_ORIG 224  /* the program's own SIGTRAP action */
#define MP_STUB_D_ACT_DFL 256   /* SIG_DFL */
#define MP_STUB_D_ACT_NOW 288   /* scratch: the action found at detach */
#define MP_STUB_D_SITES 320     /* MP_STUB_SITES x {address, copy, kind}: memprof's breakpoints */
#define MP_STUB_SITES 64       /* every allocator entry (C++ and mapping calls too), the loader's, the hook's */
#define MP_STUB_SITE_BYTES 24
/* The fast entries (launched processes, bp_shapes.h): an allocator entry
 * jumps to fast entry i, which looks its caller's stack up in the shape
 * table; a known stack is recorded without a stop, an unknown one goes to
 * the INT3 of copy i, a nested call (a tail call, or a call made inside a
 * recorded allocator call) on into the copy, unrecorded.  An allocating
 * call is recorded as a stopped one is: a slot, its return address
 * replaced by the slot's return stub; a free at its entry (free-like calls
 * that may call others, as operator delete, also take a slot so that those
 * pass on).  Every register but r10 and r11 reaches the copy as it came
 * (mmap's sixth argument is r9).  operator new may throw through the
 * replaced return address: __cxa_throw stops inside a recorded call, and
 * memprof gives every open call of the thread its return address back
 * there (bp_fast.c). */
#define MP_STUB_D_CODE_LO 1856   /* memprof's code in the target: [lo, hi) */
#define MP_STUB_D_CODE_HI 1864
#define MP_STUB_D_BUCKETS 1872   /* the shape table's buckets (target address; 0: no table) */
#define MP_STUB_D_NEXT_SLOT 1880 /* where the next slot search starts (a counter) */
#define MP_STUB_D_RET0 1888      /* return stub 0 (target address) */
#define MP_STUB_D_FAST 1896      /* calls recorded without a stop (a counter) */
#define MP_STUB_D_PASSED 1904    /* nested calls passed on without a stop (a counter) */
#define MP_STUB_D_SITE_KIND 1920 /* MP_STUB_SITES x u64: how fast entry i reads its arguments */
#define MP_STUB_D_SITE_COPY 2432 /* MP_STUB_SITES x u64: the INT3 of copy i (the entry stub) */
#define MP_SITE_TRAP 0          /* always the INT3 */
#define MP_SITE_ARG0 1          /* size = rdi (valloc, pvalloc, mallocx) */
#define MP_SITE_CALLOC 2        /* size = rdi * rsi */
#define MP_SITE_REALLOC 3       /* block rdi, size rsi (realloc, rallocx); realloc(p, 0): the INT3 */
#define MP_SITE_ARG1 4          /* size = rsi (memalign, aligned_alloc) */
#define MP_SITE_POSIX_MEMALIGN 5 /* memptr rdi, size rdx */
#define MP_SITE_MALLOC 6        /* size = rdi; inside a recorded call, its size is kept in that
                                   call's slot (inner_size: a new's exception object) */
#define MP_SITE_NEW 7           /* size = rdi (operator new, new[], aligned): MP_SLOT_F_NEW */
#define MP_SITE_REALLOCARRAY 8  /* block rdi, size rsi * rdx (an overflow fails: nothing recorded) */
#define MP_SITE_XALLOCX 9       /* block rdi resized in place to rsi (+ rdx): MP_SLOT_F_XALLOCX */
#define MP_SITE_NEW_NOTHROW 10  /* size = rdi (the nothrow forms): MP_SLOT_F_NEW_NOTHROW */
#define MP_SITE_MAPPED 11       /* mmap, munmap, mremap, brk, sbrk: passed on inside a recorded call
                                   or from a stack memprof skips (MP_SHAPE_SKIP), else the INT3 */
#define MP_SITE_THROW 12        /* __cxa_throw: passed on from a stack with no recorded call open
                                   (MP_SHAPE_SKIP), else the INT3 (bp_fast.c) */
#define MP_SITE_FREE 13         /* (and the kinds after it) the FREE record of rdi at the entry,
                                   no slot (free) */
#define MP_SITE_FREE_CALL 14    /* the same, and a slot (MP_SLOT_F_NO_ALLOC) so that calls inside
                                   pass on: operator delete, sdallocx, dallocx */
#define MP_STUB_FAST_BYTES 11   /* one fast entry: mov $i, %r11d; jmp */
/* a shape (bp_shapes.h), in the table after the slots */
#define MP_SHAPE_NEXT 0         /* target address of the next in the bucket; 0: the last */
#define MP_SHAPE_RA 8           /* frames[0], the key */
#define MP_SHAPE_N 16           /* u32: frames */
#define MP_SHAPE_KIND 20        /* u32: MP_SHAPE_RECORD or MP_SHAPE_PASS */
#define MP_SHAPE_END 24         /* u32: MP_SHAPE_END_* */
#define MP_SHAPE_END_OFF 28     /* u32: where the end is checked, from rsp */
#define MP_SHAPE_FRAMES 32      /* u64 frames[n], then u64 off[n] (rsp + off[i]: frame i) */
#define MP_SHAPE_RECORD 1
#define MP_SHAPE_PASS 2         /* a call inside a recorded call: passed on */
#define MP_SHAPE_SKIP 3         /* a mapping call that is not the program's (libc's own, the
                                   allocator's), or a throw with no recorded call open: passed
                                   on; any other call from there stops */
#define MP_SHAPE_END_RULE 0     /* the last frame's rule ends the stack */
#define MP_SHAPE_END_ZERO 1     /* a zero return address at END_OFF */
#define MP_SHAPE_END_CODE 2     /* a return address in memprof's code at END_OFF (a recorded call) */
#define MP_SHAPE_BUCKET_BITS 12
#define MP_SHAPE_HASH 0x9E3779B97F4A7C15
#define MP_STUB_SITE_INT3 1     /* an INT3 at address: go on at copy */
#define MP_STUB_SITE_HW 2       /* a debug register at address: resume with RF */
/* the futex word's owner bits (FUTEX_TID_MASK): 0 once memprof died or let go */
#define MP_STUB_OWNER_MASK 0x3fffffff
/* code offsets (from the start of the code) */
#define MP_STUB_C_TRAMP 0       /* jmp *[rip]; .quad the free stub (memprof fills it) */
#define MP_STUB_COPY_BYTES 48   /* per site: [INT3] the displaced instructions, then a jump back */
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
#define MP_SLOT_F_NEW 8         /* an operator new: if it throws, its exception object (the last
                                   malloc inside, inner_size bytes) is the program's */
#define MP_SLOT_F_NEW_NOTHROW 32 /* a nothrow operator new: an exception thrown inside it (by the
                                   new it calls) is caught inside; it returns NULL */
#define MP_SLOT_F_XALLOCX 16    /* xallocx(free_addr, size, extra): rax is the real size; at least
                                   size: FREE + ALLOC of the block, min(real, size + extra) bytes */
#define MP_SLOT_NFRAMES 32
#define MP_SLOT_TRUNCATED 36
#define MP_SLOT_ENTRY_SP 40
#define MP_SLOT_FREE_POS 48     /* realloc: ring position + 1 reserved for the FREE; 0: none */
#define MP_SLOT_FREE_ADDR 56
#define MP_SLOT_MEMPTR 64       /* posix_memalign: where the result is stored; 0: the result is rax */
#define MP_SLOT_INNER_SIZE 72   /* the size of the last malloc made inside the call */
#define MP_SLOT_EXTRA 80        /* xallocx's extra */
#define MP_SLOT_FRAMES 128

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
    uint64_t memptr;        /* posix_memalign(memptr, ...): the block is *memptr when it returns 0 */
    uint64_t inner_size;    /* the last malloc inside the call asked for this (a new that throws) */
    uint64_t extra;         /* xallocx(ptr, size, extra, flags) */
    uint64_t pad[5];
    uint64_t frames[MP_MAX_FRAMES];
};
_Static_assert(sizeof(struct mp_stub_slot) == MP_STUB_SLOT_BYTES, "slot layout");
_Static_assert(MP_STUB_D_SITES + MP_STUB_SITES * MP_STUB_SITE_BYTES <= MP_STUB_D_CODE_LO &&
               MP_STUB_D_SITE_KIND + MP_STUB_SITES * 8 <= MP_STUB_D_SITE_COPY &&
               MP_STUB_D_SITE_COPY + MP_STUB_SITES * 8 <= MP_STUB_DATA_BYTES, "data page layout");

/* The blob: mp_stub_blob_start is the data page (zeros), mp_stub_code the
 * code that follows it. */
extern const unsigned char mp_stub_blob_start[], mp_stub_blob_end[];
extern const unsigned char mp_stub_code[], mp_stub_free[], mp_stub_ret0[], mp_stub_ret_common[], mp_stub_sigtrap[],
    mp_stub_restorer[], mp_stub_client[], mp_stub_copies[], mp_stub_fast0[], mp_stub_fast_tid_slot[],
    mp_stub_fast_tid_free[], mp_stub_back_off[];
/* fast_common's red zone (below the rsp of the allocator's entry): the
 * site, then rax, rcx, rdx, r8, r9 as they came, ..., the slot taken */
#define MP_STUB_RZ_SITE (-8)
#define MP_STUB_RZ_RAX (-16)
#define MP_STUB_RZ_RCX (-24)
#define MP_STUB_RZ_RDX (-32)
#define MP_STUB_RZ_R8 (-40)
#define MP_STUB_RZ_R9 (-48)
#define MP_STUB_RZ_SLOT (-72)
#endif

#endif
