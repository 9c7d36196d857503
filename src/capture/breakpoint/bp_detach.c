/* memprof: the breakpoint engine leaving a process as it was (see
 * bpengine.h): the detach (breakpoints, free's bytes, open calls, threads
 * and signal frames out of the stubs, then the stubs and the SIGTRAP
 * handler gone) and a fork child's copy of memprof's changes undone. */
#define _GNU_SOURCE
#include "bpengine.h"
#include "base/count.h"
#include "bpengine_internal.h"
#include "bp_guard.h"
#include "bp_leave.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/user.h>
#include <unistd.h>

int mp_bpengine_clean_child(struct mp_bpengine *e, pid_t child)
{
    if (!e || e->mem_fd < 0)
        return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)child);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = 0;
    struct bp_site *all[MP_FN_COUNT + 1];
    for (int i = 0; i < MP_FN_COUNT; i++)
        all[i] = &e->sites[i];
    all[MP_FN_COUNT] = &e->loader_site;
    for (int i = 0; i <= MP_FN_COUNT; i++) {
        const struct bp_site *s = all[i];
        if (s->inserted && (s->stub ? pwrite(fd, s->saved, s->patch_len, (off_t)s->addr) != s->patch_len
                                    : pwrite(fd, &s->orig, 1, (off_t)s->addr) != 1))
            rc = -1;
    }
    if (mp_bp_inproc_clean_child(&e->inproc, fd) != 0 || bp_client_restore(e, fd) != 0)
        rc = -1;
    /* attached: the child keeps nothing of memprof's (launched programs
     * never had the handler; their children keep the mapping, unused) */
    if (e->attached && (mp_bp_guard_clean_child(&e->inproc, child, fd, e->scratch) != 0 ||
                        mp_bp_inproc_unmap_in(&e->inproc, child, fd, e->scratch) != 0))
        rc = -1;
    close(fd);
    return rc;
}

/* A call still open at detach (the thread is inside the allocator, or in
 * its entry stub's copy) gets its own return address back; its record is
 * lost (counted abandoned).  A thread already in its return stub is left
 * to finish it. */
static int close_open_call(struct mp_bpengine *e, pid_t tid)
{
    struct bp_thread *t = bp_thread_find(e, tid);
    if (!t || !bp_call_open(e, t))
        return 0;
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, tid, 0, &regs) != 0)
        return -1;
    if (mp_bp_inproc_in_returns(&e->inproc, regs.rip))
        return 0;
    if (t->slot < 0 && regs.rip == e->ret_trap && regs.rsp == t->entry_sp + 8) {
        /* stopped on the return itself, before the breakpoint fired */
        bp_on_return(e, t, &regs);
        return ptrace(PTRACE_SETREGS, tid, 0, &regs) == 0 ? 0 : -1;
    }
    uint64_t ours = t->slot >= 0 ? mp_bp_inproc_ret_stub(&e->inproc, t->slot) : e->ret_trap, there = 0;
    if (pread(e->mem_fd, &there, sizeof there, (off_t)t->entry_sp) != sizeof there ||
        (there == ours && pwrite(e->mem_fd, &t->ret, sizeof t->ret, (off_t)t->entry_sp) != sizeof t->ret))
        return -1;
    e->stats.abandoned++; /* the call ends after memprof left */
    bp_slot_abandon(e, t);
    t->pending = 0;
    return 0;
}

/* The signal frames of thread tid whose handler returns into the stubs
 * (memprof let go: the stubs only pass calls on).  A frame the thread
 * surely returns through (it is stopped at the handler's entry, as after
 * memprof resumed a signal-delivery stop during the detach) is run out:
 * its context runs on until it leaves the stubs, and the handler returns
 * there (bp_leave.h).  Another (the thread is inside the handler, or the
 * frame is a stale copy) is sent where it would have gone: to the
 * allocator's entry with its registers from a fast entry's gettid, into
 * free, back to a return stub's caller, into the original of an entry's
 * copy.  A handler of the program's that memprof's SIGTRAP handler called
 * returns through the program's own restorer.  0, or -1 when a frame
 * cannot be sent anywhere safe (the stubs then stay). */
static int leave_frames(struct mp_bpengine *e, pid_t tid, const struct mp_addr_range *code, int ncode)
{
    struct mp_sigframe f[16];
    int nf = mp_find_signal_frames(e->pid, tid, code, ncode, f, 16);
    if (nf < 0)
        return -1;
    for (int k = 0; k < nf; k++) {
        if (f[k].restorer_inside) {
            uint64_t own = mp_bp_guard_program_restorer(&e->inproc);
            if (!own || mp_addr_in_ranges(own, code, ncode) ||
                pwrite(e->mem_fd, &own, sizeof own, (off_t)f[k].at) != (ssize_t)sizeof own)
                return -1;
            if (!mp_addr_in_ranges(f[k].rip, code, ncode))
                continue;
        }
        if (mp_sigframe_is_live(e->pid, tid, &f[k])) {
            struct mp_leave_fixup fix = { mp_bp_inproc_skip_nap, &e->inproc };
            if (mp_run_frame_out(e->pid, tid, e->mem_fd, &f[k], code, ncode, 4000, fix) != 0)
                return -1;
            continue;
        }
        int fast = mp_bp_inproc_fast_frame(&e->inproc, e->mem_fd, f[k].rip_at, f[k].rip);
        if (fast < 0)
            return -1;
        if (fast)
            continue;
        uint64_t to = mp_bp_inproc_exit(&e->inproc, f[k].rip, f[k].rdi, f[k].r11);
        if (!to || pwrite(e->mem_fd, &to, sizeof to, (off_t)f[k].rip_at) != (ssize_t)sizeof to)
            return -1;
    }
    return 0;
}

int mp_bpengine_detach(struct mp_bpengine *e, const pid_t *tids, size_t n)
{
    if (!e || e->mem_fd < 0)
        return 0;
    int rc = 0;
    /* 1. nothing leads into memprof's code any more: the breakpoints,
     * free's jump and memprof.h's hooks go (free's last two patched bytes
     * are its own, so a thread at free+3 is fine either way), debug
     * registers are cleared */
    if (bp_client_restore(e, e->mem_fd) != 0)
        rc = -1;
    for (int i = 0; i < MP_FN_COUNT; i++)
        bp_int3_remove(e, &e->sites[i]);
    bp_int3_remove(e, &e->loader_site);
    for (int i = 0; i < MP_FN_COUNT; i++)
        if (e->sites[i].inserted)
            rc = -1;
    if (mp_bp_inproc_restore_free(&e->inproc, e->mem_fd) != 0)
        rc = -1;
    for (size_t i = 0; i < n && e->n_dr; i++)
        bp_dr_clear(tids[i]);
    /* 2. open calls return to their callers, and release the ring
     * positions they reserved (other threads' records may wait on them);
     * not yet the fast entries' calls of a thread inside the stubs, or
     * whose signal handler returns into them: it may be between writing
     * its slot and replacing the return address (its slot dropped now, the
     * call would return into the stubs once they are gone: SIGSEGV in the
     * attach storm) */
    struct mp_addr_range code[2];
    int ncode = mp_bp_inproc_code_ranges(&e->inproc, code);
    /* which threads were inside (1), or may be (NULL: all): only those
     * are stepped in step 3 and can have frames in step 4 (closing calls
     * only puts return addresses back), so only their stacks are read
     * again */
    unsigned char *inside = calloc(n ? n : 1, 1);
    for (size_t i = 0; i < n; i++) {
        struct user_regs_struct regs;
        struct mp_sigframe f[1];
        int in = ncode && (ptrace(PTRACE_GETREGS, tids[i], 0, &regs) != 0 ||
                           mp_addr_in_ranges(regs.rip, code, ncode) ||
                           mp_find_signal_frames(e->pid, tids[i], code, ncode, f, 1) != 0);
        if (inside)
            inside[i] = (unsigned char)in;
        if (close_open_call(e, tids[i]) != 0 || (!in && bp_fast_close_calls(e, tids[i]) != 0))
            rc = -1;
    }
    /* 3. threads inside the stubs finish them, in turns (one may wait for
     * room in the ring that another's record holds); then, if some still
     * wait (for a record whose writer is in a signal handler, say), the
     * stubs stop recording and let them through */
    int keep = 0;
    if (ncode && mp_step_out_of(e->pid, tids, n, code, ncode, 2000) != 0) {
        mp_bp_inproc_let_go(&e->inproc);
        if (mp_step_out_of(e->pid, tids, n, code, ncode, 2000) != 0)
            keep = 1;
    }
    mp_bp_inproc_let_go(&e->inproc);
    e->stats.skipped += mp_bp_inproc_skipped(&e->inproc);
    /* 4. a signal handler that will return into the stubs: see leave_frames */
    for (size_t i = 0; i < n && ncode && !keep; i++)
        if (!inside || inside[i])
            keep = leave_frames(e, tids[i], code, ncode) != 0;
    free(inside);
    /* 5. the fast entries' calls the steps and the runs opened, and those
     * of threads that were inside the stubs */
    for (size_t i = 0; i < n && !keep; i++)
        if (close_open_call(e, tids[i]) != 0 || bp_fast_close_calls(e, tids[i]) != 0)
            keep = 1;
    /* 6. only now, with no thread able to come back into the stubs, the
     * program's own SIGTRAP action back.  Stubs left in place keep the
     * handler (a context saved right at a copy's INT3 still meets it; the
     * fast entries no longer go to one once memprof let go) */
    if (!keep && mp_bp_guard_remove(&e->inproc, tids[0], e->mem_fd, e->scratch) != 0)
        rc = -1;
    uint64_t left = keep ? e->inproc.ring_bytes : 0;
    if (ncode && !keep && n && mp_bp_inproc_unmap(&e->inproc, tids[0], e->mem_fd, e->scratch) != 0)
        rc = -1;
    char kib[32];
    if (keep)
        snprintf(e->warning, sizeof e->warning,
                 "memprof left its stubs (%s KiB, which now only pass calls through) and its SIGTRAP handler "
                 "in process %d: a thread was still to return into them", MP_COUNT_STR(kib, left >> 10), (int)e->pid);
    else if (rc)
        snprintf(e->warning, sizeof e->warning,
                 "memprof could not restore everything in process %d before detaching", (int)e->pid);
    bp_disarm(e);
    return rc;
}
