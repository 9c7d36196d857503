/* memprof: the breakpoint engine's part inside the target:
 * memprof's event ring memfd mapped into the target next to the allocator,
 * with the stubs of bp_stubs.S and the call slots after the ring.  free is
 * detoured (its first instructions replaced by a jump to the stub), so it
 * costs no stop; allocating calls stop once, at the entry, and return
 * through a stub that writes their ALLOC record.
 *
 * In the target the ring, the data page and the slots are read-write, the
 * code read+execute (memprof writes the code through its own mapping of
 * the memfd): nothing is writable and executable at once.
 *
 * free's patch.  glibc's free starts `test rdi,rdi; je ZERO`, and the jump
 * memprof writes over it is 5 bytes.  A thread stopped between the two
 * instructions (free+3), or one whose signal handler will return there,
 * would run into the middle of the jump.  So the jump's displacement is
 * chosen so that its last two bytes ARE the original je's first two: from
 * free+3 the CPU still reads the original `je` and goes where it always
 * went.  The stub must then sit at one precise 64 KiB window (about 2 GiB
 * away), where memprof maps the first code page a second time (its
 * trampoline jumps on to the stub).  Attached processes get this form, or
 * if that window is taken, the plain jump after every thread was stepped
 * off free+3 and no stack holds free+3; failing that, free keeps an INT3.
 * Supervisor thread only. */
#ifndef MEMPROF_BP_INPROC_H
#define MEMPROF_BP_INPROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "bp_leave.h"
#include "bp_stubs.h"

struct mp_ring_reader;

struct mp_bp_inproc {
    unsigned char *local;       /* memprof's view of the blob, then the slots */
    struct mp_stub_slot *slots; /* memprof's view of the slots */
    uint64_t remote;            /* the target's address of the blob (0: not mapped) */
    uint64_t ring_remote;       /* the target's address of the whole mapping */
    uint64_t ring_bytes;
    uint64_t alias;             /* the first code page mapped again next to free (0: none) */
    uint32_t next_slot;
    int locked;                 /* memprof holds the mutex in the data page */
    int guarded;                /* bp_guard.c: memprof's SIGTRAP handler is installed */
    int n_sites;                /* bp_guard.c: breakpoints the handler knows (= copies used) */
    uint64_t copy_entry[MP_STUB_SITES]; /* bp_guard.c: the address each copy stands for */
    uint8_t copy_len[MP_STUB_SITES];    /* the bytes it displaces */
    uint8_t copy_stub[MP_STUB_SITES];   /* 1: an entry stub (INT3, then the copy) */
    uint8_t copy_verbatim[MP_STUB_SITES];
    uint64_t free_addr;         /* detoured free, 0: none */
    uint8_t free_saved[5];      /* the bytes the jump replaced */
    unsigned char *shapes_local;/* bp_shapes.h: the table (memprof's view); NULL: none */
    uint64_t shapes_remote;     /* its address in the target */
    size_t shapes_used;         /* bytes of the arena taken */
    uint64_t n_shapes;
    struct mp_ring_reader *ring;/* the ring the stubs write into */
    uint64_t drops_reported;    /* of MP_STUB_D_DROPS, handed to the ring reader so far */
};

/* Maps the ring into the target (thread tid stopped, no other thread
 * running; `scratch`: 3 bytes of text memprof may borrow; the mapping is
 * placed within reach of a rel32 jump from `near`) and takes the mutex the
 * stubs check.  inherited: the target has the memfd (launched); else it
 * opens it through /proc (attached) and closes it again.  The stubs'
 * records carry `pid`.  free_for_alias: free's address when its patch must
 * keep free+3 valid (attached), or 0.  0, or -1. */
int mp_bp_inproc_map(struct mp_bp_inproc *ip, struct mp_ring_reader *ring, pid_t pid, pid_t tid, int mem_fd,
                     uint64_t scratch, uint64_t near, int inherited, uint64_t free_for_alias);
/* Detours free at free_addr when its entry is glibc's `test rdi,rdi; je`
 * and the stub is in reach.  tids[]: every thread, stopped (NULL, 0 for a
 * process whose only thread is stopped at a breakpoint of memprof's).  0
 * done, -1 (free keeps its breakpoint). */
int mp_bp_inproc_detour_free(struct mp_bp_inproc *ip, int mem_fd, uint64_t free_addr, pid_t pid, const pid_t *tids,
                             size_t n);
/* The target's code memprof put there: the stubs and the second mapping
 * (out[2]); returns how many ranges. */
int mp_bp_inproc_code_ranges(const struct mp_bp_inproc *ip, struct mp_addr_range out[2]);
/* Where a thread interrupted at rip inside the stubs (with those rdi and
 * r11) would have gone had the stubs only passed the call through: into
 * free, back to the allocating call's caller, or the same place in an
 * entry's original instructions (a copy).  0 when there is no such place
 * (the SIGTRAP handler, inside a rewritten instruction). */
uint64_t mp_bp_inproc_exit(const struct mp_bp_inproc *ip, uint64_t rip, uint64_t rdi, uint64_t r11);
/* mp_run_frame_out's fixup (ctx: the struct mp_bp_inproc): a call of
 * the stubs' nap (waiting for room in the ring) not yet made is skipped,
 * or one just made taken as returned: the nap's frame would reach more
 * than 128 bytes below the waiting code's stack pointer, into the signal
 * frame being run out.  -1 at memprof's rt_sigreturn trampoline (it would
 * change the thread's own signal mask and FPU state). */
struct user_regs_struct;
int mp_bp_inproc_skip_nap(void *ctx, struct user_regs_struct *regs);
/* A signal frame (its saved rip at rip_at, the rip saved there) that
 * returns into a fast entry right after its gettid system call, where a
 * signal is most often delivered: rewritten to return to the allocator's
 * entry with the registers the call came with (the fast entry keeps them
 * in the red zone), the slot it took released.  1 when rewritten, 0 when
 * rip is not such a point, -1 on failure. */
int mp_bp_inproc_fast_frame(struct mp_bp_inproc *ip, int mem_fd, uint64_t rip_at, uint64_t rip);
/* 1 when rip is in the return stubs (an allocating call returning). */
int mp_bp_inproc_in_returns(const struct mp_bp_inproc *ip, uint64_t rip);
/* Leaving (every thread stopped): free's bytes back.  0, or -1. */
int mp_bp_inproc_restore_free(struct mp_bp_inproc *ip, int mem_fd);
/* The stubs stop recording (they only pass calls through from now on). */
void mp_bp_inproc_let_go(struct mp_bp_inproc *ip);
/* The mapping removed (through thread tid).  0, or -1. */
int mp_bp_inproc_unmap(struct mp_bp_inproc *ip, pid_t tid, int mem_fd, uint64_t scratch);
/* The same in another process that has the same mappings (a fork child,
 * stopped: tid, its memory mem_fd); memprof's view is kept.  0, or -1. */
int mp_bp_inproc_unmap_in(const struct mp_bp_inproc *ip, pid_t tid, int mem_fd, uint64_t scratch);
/* A free slot, claimed (busy) for the caller to fill; -1 if none.  The
 * fast entries claim slots too, with the same compare-and-swap. */
int mp_bp_inproc_take_slot(struct mp_bp_inproc *ip);
/* A claimed slot given back unused, or one whose call will never return. */
void mp_bp_inproc_release_slot(struct mp_bp_inproc *ip, int slot);
/* Launched processes: the shape table goes after the slots and the fast
 * entries look it up (bp_shapes.h).  0, or -1 when there is no mapping. */
int mp_bp_inproc_enable_fast(struct mp_bp_inproc *ip);
/* Copy i (the entry stub at `stub`, from mp_bp_guard_entry_stub) is
 * reached through fast entry i, which reads its arguments as `kind`
 * (MP_SITE_*): the address the allocator's entry should jump to. */
uint64_t mp_bp_inproc_fast_site(struct mp_bp_inproc *ip, uint64_t stub, int kind);
/* 1 when addr is in memprof's code in the target (a replaced return address). */
int mp_bp_inproc_is_code(const struct mp_bp_inproc *ip, uint64_t addr);
/* Calls the fast entries recorded, and nested calls they passed on, without a stop. */
uint64_t mp_bp_inproc_fast_calls(const struct mp_bp_inproc *ip);
uint64_t mp_bp_inproc_fast_passed(const struct mp_bp_inproc *ip);
uint64_t mp_bp_inproc_ret_stub(const struct mp_bp_inproc *ip, int slot);
uint64_t mp_bp_inproc_failed_reallocs(const struct mp_bp_inproc *ip);
/* Calls the stubs passed through unrecorded after memprof let go. */
uint64_t mp_bp_inproc_skipped(const struct mp_bp_inproc *ip);
/* A fork child's copy of free gets its original bytes back. */
int mp_bp_inproc_clean_child(const struct mp_bp_inproc *ip, int child_mem_fd);
/* Records the stubs dropped since the last call (positions the reader
 * never reaches: the target wrote over the ring's head or tail) go to the
 * ring reader, which reports them as the target's damage.  Also done by
 * mp_bp_inproc_reset. */
void mp_bp_inproc_report_drops(struct mp_bp_inproc *ip);
/* The image is gone (exec): forget the target's addresses. */
void mp_bp_inproc_reset(struct mp_bp_inproc *ip);
/* memprof's address of the target's address `remote` inside the blob
 * (data page or code), or NULL. */
void *mp_bp_inproc_local(const struct mp_bp_inproc *ip, uint64_t remote);

#endif
