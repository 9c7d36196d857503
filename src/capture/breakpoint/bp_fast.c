/* memprof: the supervisor's side of the breakpoint engine's fast entries
 * (bp_stubs.h, bp_shapes.h).  The stubs record calls from known stacks
 * without a stop; memprof knows those calls only by their slots.  Here:
 * - which recorded call a thread that stopped is inside (its calls inside
 *   one are not the program's);
 * - the shape table: each stop teaches it the stack it unwound, to record
 *   or (inside a recorded call) to pass on, next time without a stop;
 * - an exception thrown inside recorded calls (operator new's bad_alloc):
 *   __cxa_throw stops when a recorded call of the thread is open (its
 *   fast entry passes on only from stacks known to have none), and every
 *   call of the thread the exception may unwind through gets its own
 *   return address back before the unwinder reads it (the stubs' code has
 *   no unwind tables); a new that throws gave the program its exception
 *   object, the last block malloc returned inside it (the slot's
 *   inner_size, which the stubs keep);
 * - detach: the recorded calls still open get their return addresses back. */
#define _GNU_SOURCE
#include "bpengine_internal.h"
#include "bp_shapes.h"
#include "bp_stubs.h"
#include "remote_unwind.h"

#include <string.h>
#include <unistd.h>

/* The slot's call is over without its return stub (a longjmp, an
 * exception memprof did not see): its ring position goes, the slot too. */
static void drop_slot(struct mp_bpengine *e, pid_t tid, int k)
{
    struct mp_stub_slot *sl = &e->inproc.slots[k];
    bp_release_free_pos(e, sl->free_pos, tid, sl->free_addr);
    sl->free_pos = 0;
    mp_bp_inproc_release_slot(&e->inproc, k);
}

/* Slot k holds a call the fast entries recorded for thread t (not the one
 * it stopped for): its entry's stack pointer, 0 if not. */
static uint64_t fast_call_sp(const struct mp_bpengine *e, const struct bp_thread *t, int k)
{
    const struct mp_stub_slot *sl = &e->inproc.slots[k];
    uint64_t sp = __atomic_load_n(&sl->entry_sp, __ATOMIC_ACQUIRE);
    if (!sp || !__atomic_load_n(&sl->busy, __ATOMIC_ACQUIRE) || sl->tid != (uint32_t)t->tid ||
        (t->pending && t->slot == k && sp == t->entry_sp && sl->ret == t->ret))
        return 0; /* (t's pending call is over when the slot holds another: bp_call_open) */
    return sp;
}

/* Is its return stub still where the call's return address was? */
static int returns_through_stub(const struct mp_bpengine *e, int k, uint64_t sp)
{
    uint64_t there = 0;
    return pread(e->mem_fd, &there, sizeof there, (off_t)sp) == (ssize_t)sizeof there &&
           there == mp_bp_inproc_ret_stub(&e->inproc, k);
}

int bp_fast_call_around(struct mp_bpengine *e, const struct bp_thread *t, uint64_t rsp)
{
    int inner = -1;
    uint64_t inner_sp = 0;
    for (int k = 0; k < MP_STUB_SLOTS && e->inproc.shapes_local; k++) {
        uint64_t sp = fast_call_sp(e, t, k);
        if (!sp)
            continue;
        if (returns_through_stub(e, k, sp)) {
            if (rsp <= sp && (inner < 0 || sp < inner_sp)) {
                inner = k;
                inner_sp = sp;
            }
            continue;
        }
        /* its return address is gone from the stack: the call will never return */
        e->stats.abandoned++;
        drop_slot(e, t->tid, k);
    }
    return inner;
}

void bp_learn_shape(struct mp_bpengine *e, const uint64_t *frames, int n, uint32_t truncated,
                    const struct mp_unwind_shape *sh, int kind)
{
    int nested = kind == MP_SHAPE_PASS;
    if (!e->inproc.shapes_local || n <= 0 || truncated)
        return;
    for (int i = 0; i < n - 1; i++)
        if (mp_bp_inproc_is_code(&e->inproc, frames[i]))
            return;
    int last_ours = mp_bp_inproc_is_code(&e->inproc, frames[n - 1]);
    if (nested != last_ours)
        return; /* a nested call whose outer call the walk did not reach, or the reverse: stop again */
    if (mp_bp_shapes_add(&e->inproc, frames, n, sh, kind) < 0)
        e->stats.shapes_full = 1;
}

void bp_learn_stack(struct mp_bpengine *e, const struct user_regs_struct *regs, int kind)
{
    if (!e->inproc.shapes_local)
        return;
    uint64_t frames[MP_MAX_FRAMES];
    uint32_t truncated;
    struct mp_unwind_shape sh;
    int n = mp_remote_unwind_shape(e->unwinder, regs->rsp, regs->rbp, frames, MP_MAX_FRAMES, &truncated, &sh);
    bp_learn_shape(e, frames, n, truncated, &sh, kind);
}

/* Itanium C++ ABI (libsupc++): __cxa_allocate_exception mallocs the thrown
 * object behind a __cxa_refcounted_exception header, 128 bytes on x86-64. */
#define CXA_EXCEPTION_HEADER 128

int bp_fast_throw(struct mp_bpengine *e, struct bp_thread *t, const struct user_regs_struct *regs)
{
    int open = 0;
    for (int k = 0; k < MP_STUB_SLOTS && e->inproc.slots && e->inproc.remote; k++) {
        uint64_t sp = fast_call_sp(e, t, k);
        if (!sp)
            continue;
        struct mp_stub_slot *sl = &e->inproc.slots[k];
        open++;
        if (sp >= regs->rsp && returns_through_stub(e, k, sp)) {
            if (pwrite(e->mem_fd, &sl->ret, sizeof sl->ret, (off_t)sp) != (ssize_t)sizeof sl->ret)
                continue; /* (the unwinder will not get past it either way) */
            uint64_t object = regs->rdi, inner = sl->inner_size;
            if ((sl->flags & MP_SLOT_F_NEW) && inner && object > CXA_EXCEPTION_HEADER) {
                /* new throws: it allocated nothing, but its exception object is the program's */
                uint32_t n = sl->nframes <= MP_MAX_FRAMES ? sl->nframes : MP_MAX_FRAMES;
                memcpy(t->frames, sl->frames, n * sizeof *t->frames);
                t->nframes = n;
                t->truncated = 0;
                bp_post(e, MP_EV_ALLOC, t->tid, object - CXA_EXCEPTION_HEADER, inner, t);
            } else if (!(sl->flags & MP_SLOT_F_NEW_NOTHROW)) {
                e->stats.abandoned++; /* the exception leaves the call, or it returns unseen */
            } /* (a nothrow new catches it and returns NULL: nothing to record) */
        } else {
            e->stats.abandoned++; /* left without returning, before */
        }
        drop_slot(e, t->tid, k);
    }
    return open;
}

int bp_fast_close_calls(struct mp_bpengine *e, pid_t tid)
{
    struct bp_thread none = { .tid = tid };
    const struct bp_thread *t = bp_thread_find(e, tid);
    int rc = 0;
    for (int k = 0; k < MP_STUB_SLOTS && e->inproc.remote && e->inproc.slots; k++) {
        uint64_t sp = fast_call_sp(e, t ? t : &none, k);
        if (!sp)
            continue;
        struct mp_stub_slot *sl = &e->inproc.slots[k];
        if (returns_through_stub(e, k, sp) &&
            pwrite(e->mem_fd, &sl->ret, sizeof sl->ret, (off_t)sp) != (ssize_t)sizeof sl->ret) {
            rc = -1;
            continue;
        }
        e->stats.abandoned++; /* the call ends after memprof left */
        drop_slot(e, tid, k);
    }
    return rc;
}
