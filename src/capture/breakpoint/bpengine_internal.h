/* memprof: the breakpoint engine's state, shared by its thread table
 * (bp_threads.c), its arming (bp_arm.c: debug registers, INT3s, finding and
 * arming the allocator) and its life and hits (bpengine.c).  Calls run one
 * way: bpengine.c -> bp_arm.c -> bp_threads.c. */
#ifndef MEMPROF_BPENGINE_INTERNAL_H
#define MEMPROF_BPENGINE_INTERNAL_H

#include "bp_inproc.h"
#include "bp_target.h"
#include "bpengine.h"
#include "capture/trap/emulate.h"
#include "base/hashidx.h"
#include "memprof/event.h"

#include <sys/types.h>
#include <sys/user.h>

#define INT3 0xcc
#define N_DEBUG_REGS 4

struct bp_site {
    uint64_t addr;          /* 0: unused */
    int fn;                 /* enum mp_alloc_fn; -1: the loader's _dl_debug_state */
    int hw_slot;            /* debug register 0-3, or -1: an INT3 */
    uint8_t orig;           /* the byte under the INT3 */
    uint8_t inserted;
    struct mp_emu emu;
    uint64_t stub;          /* attached: the entry jumps to this stub (bp_guard.h), whose INT3 is
                               at `stub`; 0: an INT3 at the entry itself */
    uint8_t patch_len;      /* the bytes the jump covers, saved in `saved` */
    uint8_t saved[16];
};

struct bp_thread {
    pid_t tid;
    uint8_t dr_set;         /* debug registers written for this image */
    uint8_t pending;        /* inside an allocator call whose return address we replaced */
    uint8_t fn;
    int16_t slot;           /* the call returns through stub `slot`; -1: through a trap */
    uint64_t entry_sp;      /* where the return address was */
    uint64_t ret;           /* the real return address */
    uint64_t args[6];
    uint64_t map_pos;       /* mapped memory: a ring position reserved at the entry, + 1 (0: none) */
    uint64_t old_brk;       /* brk: the break at the entry */
    uint64_t inner_size;    /* the last malloc made inside the open call (not recorded) */
    uint32_t nframes, truncated;
    uint64_t frames[MP_MAX_FRAMES];
};

struct bp_client_hook {
    uint64_t addr;          /* a copy of memprof.h's hook in the target */
    uint64_t saved;         /* its value before memprof pointed it at the stub */
};

struct mp_bpengine {
    struct mp_ring_reader *ring;
    struct mp_remote_unwinder *unwinder;
    struct mp_py_remote *python;     /* a CPython process: its Python frames join the stacks */
    pid_t pid;
    int mem_fd;
    int force_hw;                    /* MEMPROF_BP_HW=1: debug registers for the hot entries */
    int use_stubs;
    int no_stubs;                    /* mp_bpengine_set_stubs(e, 0): never map the stubs */
    int attached;                    /* memprof -p: everything is undone at detach */
    int leaving;                     /* the detach began: entries are no longer recorded */
    uint64_t scratch;                /* text memprof borrows for injected system calls */
    int unguarded;                   /* attached: breakpoints memprof's SIGTRAP handler cannot carry out */
    struct mp_bp_inproc inproc;
    struct mp_loader_hooks loader;
    struct bp_site loader_site;      /* _dl_debug_state (dynamic programs; after arming: dlopen and
                                        dlclose), or the entry point until armed (static ones) */
    int loader_state;                /* r_state at its last hit */
    struct bp_site sites[MP_FN_COUNT];
    uint64_t allocator_text[MP_BP_MAX_TEXT][2]; /* malloc's library when not libc (bp_target.h) */
    int n_allocator_text;
    uint64_t libc_text[MP_BP_MAX_TEXT_STATIC][2];
    int n_libc_text;
    uint64_t curbrk;                 /* libc's __curbrk, 0 if unknown */
    int mmap;                        /* mapped memory is recorded (mp_bpengine_set_mmap) */
    struct bp_client_hook client_hooks[MP_BP_MAX_HOOKS];
    int n_client_hooks;
    uint64_t ret_trap;               /* malloc's entry: returns that come back through a trap */
    uint64_t dr_addr[N_DEBUG_REGS];
    int n_dr;
    struct mp_hashidx thread_index;
    struct bp_thread *threads;
    uint32_t n_threads, cap_threads;
    uint32_t *free_ids;
    uint32_t n_free_ids;
    struct mp_bpengine_stats stats;
    char module[4096];
    char warning[4096 + 320];
};


/* ---- bpengine.c ---- */
/* The thread came back from the call whose return address was replaced
 * (t->pending): its record posted, rip set to the real return address. */
void bp_on_return(struct mp_bpengine *e, struct bp_thread *t, struct user_regs_struct *regs);

/* ---- bp_threads.c ---- */
struct bp_thread *bp_thread_find(struct mp_bpengine *e, pid_t tid);
struct bp_thread *bp_thread_get(struct mp_bpengine *e, pid_t tid);   /* NULL: out of memory */
void bp_thread_forget(struct mp_bpengine *e, pid_t tid);
void bp_threads_clear(struct mp_bpengine *e);
/* Is the thread still inside the allocator call we saw it enter?  (A call
 * that returned through a stub is over once the stub freed its slot.) */
int bp_call_open(struct mp_bpengine *e, struct bp_thread *t);
/* The thread left its open call without returning: free its slot (and
 * commit a FREE position the slot had reserved). */
void bp_slot_abandon(struct mp_bpengine *e, struct bp_thread *t);
/* A realloc whose FREE position (free_pos - 1; 0: none) was reserved but
 * whose stub will not run: the block is taken as freed. */
void bp_release_free_pos(struct mp_bpengine *e, uint64_t free_pos, pid_t tid, uint64_t block);

/* ---- bpengine.c ---- */
void bp_post(struct mp_bpengine *e, enum mp_event_kind kind, pid_t tid, uint64_t addr, uint64_t size,
             const struct bp_thread *t);
/* Replaces the return address of the call the thread just entered (stub
 * `slot`, or the trap at malloc's entry when -1) and remembers the call:
 * n frames in t->frames (or the slot's) were unwound, frames[0] its return
 * address.  Returns 1 when the push under the INT3 was carried out with the
 * same write (see on_entry), 0, or -1 when the stack could not be written. */
int bp_open_call(struct mp_bpengine *e, struct bp_thread *t, const struct bp_site *site,
                 const struct user_regs_struct *regs, int slot, const uint64_t *a, int n, uint32_t truncated,
                 uint64_t ret);
int bp_in_text(const uint64_t (*ranges)[2], int n, uint64_t pc);

/* 1 for operator new's forms that throw bad_alloc (plain, array,
 * aligned), 2 for the nothrow ones (libstdc++'s call the throwing one and
 * catch what it throws), 0 for any other function. */
static inline int bp_fn_is_new(int fn)
{
    switch (fn) {
    case MP_FN_NEW: case MP_FN_NEW_ARRAY: case MP_FN_NEW_ALIGNED: case MP_FN_NEW_ARRAY_ALIGNED:
        return 1;
    case MP_FN_NEW_NOTHROW: case MP_FN_NEW_ARRAY_NOTHROW: case MP_FN_NEW_ALIGNED_NOTHROW:
    case MP_FN_NEW_ARRAY_ALIGNED_NOTHROW:
        return 2;
    default:
        return 0;
    }
}

/* Itanium C++ ABI (libsupc++): __cxa_allocate_exception mallocs the thrown
 * object behind a __cxa_refcounted_exception header, 128 bytes on x86-64. */
#define MP_CXA_EXCEPTION_HEADER 128

/* ---- bp_fast.c: the fast entries' calls, the shape table ---- */
struct mp_unwind_shape;
/* The innermost call the fast entries recorded for thread t that a call
 * entering at rsp is inside (its slot), or -1.  Slots of calls the thread
 * left without returning (a longjmp) are freed on the way. */
int bp_fast_call_around(struct mp_bpengine *e, const struct bp_thread *t, uint64_t rsp);
/* A stop the fast entries can spare next time: a stack unwound at an
 * entry (frames[0..n-1]) goes into the shape table as `kind`
 * (MP_SHAPE_RECORD: a call to record; MP_SHAPE_PASS: one inside a recorded
 * call, passed on; MP_SHAPE_SKIP: a mapping call not the program's).  Each
 * table entry costs one stop, once. */
void bp_learn_shape(struct mp_bpengine *e, const uint64_t *frames, int n, uint32_t truncated,
                    const struct mp_unwind_shape *sh, int kind);
/* The same, unwinding the stopped thread's stack first. */
void bp_learn_stack(struct mp_bpengine *e, const struct user_regs_struct *regs, int kind);
/* __cxa_throw (object rdi) in thread t: each call the fast entries recorded
 * that the exception may unwind through gets its return address back; an
 * operator new among them gave the program its exception object.  The
 * number of the thread's calls it found open. */
int bp_fast_throw(struct mp_bpengine *e, struct bp_thread *t, const struct user_regs_struct *regs);
/* Detach: the calls the fast entries recorded that thread tid is still in
 * get their own return addresses back.  0, or -1. */
int bp_fast_close_calls(struct mp_bpengine *e, pid_t tid);

/* ---- bp_mapped.c: mmap, munmap, mremap, brk, sbrk ---- */
int bp_mapped_entry(struct mp_bpengine *e, struct bp_thread *t, const struct bp_site *site,
                    const struct user_regs_struct *regs);
void bp_mapped_return(struct mp_bpengine *e, struct bp_thread *t, const struct user_regs_struct *regs);

/* ---- bp_client.c: memprof.h's hook ---- */
void bp_client_arm(struct mp_bpengine *e, const struct mp_alloc_entries *entries);
/* The hooks as they were, in the process behind mem_fd (a fork child: its copy).  0, or -1. */
int bp_client_restore(struct mp_bpengine *e, int mem_fd);
/* A trap at the client stub: 1 when it was one (recorded; the thread may go on). */
int bp_client_trap(struct mp_bpengine *e, struct bp_thread *t, const struct user_regs_struct *regs);

/* ---- bp_arm.c ---- */
int bp_dr_write(struct mp_bpengine *e, pid_t tid);  /* the image's debug registers into one stopped thread */
void bp_dr_clear(pid_t tid);
int bp_int3_insert(struct mp_bpengine *e, struct bp_site *s);
/* Attached: the entry becomes a jump to a stub of its own (every thread,
 * tids[], stopped).  0, or -1: it takes an INT3 instead. */
int bp_detour_insert(struct mp_bpengine *e, struct bp_site *s, const pid_t *tids, size_t n);
void bp_int3_remove(struct mp_bpengine *e, struct bp_site *s);
/* Find the allocator and put the breakpoints in (tids[] stopped).  0, or -1 with the warning set. */
int bp_arm(struct mp_bpengine *e, const pid_t *tids, size_t n);
void bp_disarm(struct mp_bpengine *e);
/* A new image or process: forget the old one, open its memory, find its
 * loader.  0, or -1 with the warning set. */
int bp_begin(struct mp_bpengine *e, pid_t pid);

#endif
