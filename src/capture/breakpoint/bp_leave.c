/* memprof: threads out of the bytes memprof changes (see bp_leave.h). */
#define _GNU_SOURCE
#include "bp_leave.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STACK_SCAN_MAX (1u << 20)

int mp_addr_in_ranges(uint64_t rip, const struct mp_addr_range *r, int nr)
{
    for (int i = 0; i < nr; i++)
        if (rip >= r[i].lo && rip < r[i].hi)
            return 1;
    return 0;
}

#define MAX_HELD 8

struct held {
    long steps;       /* -1: given up on */
    int n, sig[MAX_HELD];
};

/* A signal the kernel raised for the thread's own instruction (not one
 * sent: a timer's SIGALRM comes back at the same rip too, while a step
 * waits in a system call). */
static int is_fault(int sig, const siginfo_t *si)
{
    return (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE) && si->si_code > 0;
}

/* One single step of a stopped thread.  A signal that arrives for it is
 * held (delivering it now would run its handler, or make the step report it
 * again and again).  A fault back at the same rip is the instruction's own
 * (stepping on, with the signal held, would fault again forever): not
 * held, and a third time gives up.  0, or -1
 * when the thread is gone or its instruction faults. */
static int step_once(pid_t tid, struct held *h)
{
    if (ptrace(PTRACE_SINGLESTEP, tid, 0, 0) != 0)
        return -1;
    uint64_t last_rip = 0;
    int last_sig = 0, again = 0, stored = 0;
    for (;;) {
        int status;
        pid_t w = waitpid(tid, &status, __WALL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 || !WIFSTOPPED(status))
            return -1;
        int sig = WSTOPSIG(status), event = status >> 16;
        if (event == 0 && sig != SIGTRAP) {
            struct user_regs_struct regs;
            siginfo_t si;
            if (ptrace(PTRACE_GETREGS, tid, 0, &regs) != 0 || ptrace(PTRACE_GETSIGINFO, tid, 0, &si) != 0)
                return -1;
            if (is_fault(sig, &si) && sig == last_sig && regs.rip == last_rip) {
                if (stored) { /* it was the instruction's, not one sent */
                    h->n--;
                    stored = 0;
                }
                if (++again >= 2)
                    return -1;
            } else {
                last_sig = sig;
                last_rip = regs.rip;
                again = 0;
                stored = h->n < MAX_HELD;
                if (stored)
                    h->sig[h->n++] = sig;
            }
            if (ptrace(PTRACE_SINGLESTEP, tid, 0, 0) != 0)
                return -1;
            continue;
        }
        return 0;
    }
}

int mp_step_out_of(pid_t pid, const pid_t *tids, size_t n, const struct mp_addr_range *r, int nr, long max_steps)
{
    struct held *held = calloc(n ? n : 1, sizeof *held);
    if (!held)
        return -1;
    int rc = 0;
    for (int inside = 1; inside;) {
        inside = 0;
        for (size_t i = 0; i < n; i++) {
            struct user_regs_struct regs;
            if (held[i].steps < 0 || ptrace(PTRACE_GETREGS, tids[i], 0, &regs) != 0 ||
                !mp_addr_in_ranges(regs.rip, r, nr))
                continue;
            if (held[i].steps++ >= max_steps || step_once(tids[i], &held[i]) != 0) {
                held[i].steps = -1; /* given up on: the caller leaves the bytes in place */
                rc = -1;
                continue;
            }
            inside = 1;
        }
    }
    /* queued again: delivered when the thread runs on */
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < held[i].n; k++)
            syscall(SYS_tgkill, pid, tids[i], held[i].sig[k]);
    free(held);
    return rc;
}

/* The end of the mapping that holds addr, from /proc/PID/maps; 0 if none.
 * Only the start of a line is read as a range: a path longer than the
 * buffer comes in pieces, and a piece of a name the target chose
 * ("7f00-7fff...") is no mapping. */
uint64_t mp_maps_mapping_end(FILE *maps, uint64_t addr)
{
    char line[512];
    int at_line_start = 1;
    rewind(maps);
    while (fgets(line, sizeof line, maps)) {
        unsigned long lo, hi;
        int starts_line = at_line_start;
        at_line_start = strchr(line, '\n') != NULL;
        if (starts_line && sscanf(line, "%lx-%lx", &lo, &hi) == 2 && addr >= lo && addr < hi)
            return hi;
    }
    return 0;
}

/* Is `addr` an rt_sigreturn trampoline: glibc's __restore_rt
 * (mov $15,%rax; syscall) or memprof's own (mov $15,%eax; syscall)? */
static int is_restorer(pid_t pid, uint64_t addr)
{
    static const uint8_t glibc[9] = { 0x48, 0xc7, 0xc0, 0x0f, 0, 0, 0, 0x0f, 0x05 };
    static const uint8_t short_form[7] = { 0xb8, 0x0f, 0, 0, 0, 0x0f, 0x05 };
    uint8_t code[9];
    struct iovec local = { code, sizeof code }, remote = { (void *)(uintptr_t)addr, sizeof code };
    if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof code)
        return 0;
    return memcmp(code, glibc, sizeof glibc) == 0 || memcmp(code, short_form, sizeof short_form) == 0;
}

/* A signal frame, from the handler's return address on: the ucontext's
 * gregs start 6 words further (uc_flags, uc_link, uc_stack). */
#define FRAME_GREGS 6
#define G_R11 3
#define G_RDI 8
#define G_RSP 15
#define G_RIP 16
#define G_EFL 17
#define G_CSGSFS 18
#define USER_CS 0x33
#define EFL_TF 0x100

/* The signal frames from sp to the end of its mapping (see
 * mp_find_signal_frames), appended to out[*n..max).  A frame whose
 * interrupted context is on another stack (a handler on an alternate
 * stack) has that stack scanned too, `hops` more times at most.  0, or -1
 * when this cannot be told. */
static int scan_stack(pid_t pid, FILE *maps, uint64_t sp, const struct mp_addr_range *r, int nr,
                      struct mp_sigframe *out, int max, int *n, int hops)
{
    uint64_t lo = sp & ~7ull, hi = mp_maps_mapping_end(maps, lo);
    if (!hi || hi - lo > STACK_SCAN_MAX) /* not a stack, or more of it in use than is read */
        return -1;
    size_t len = (size_t)(hi - lo), nw = len / 8;
    uint64_t *w = malloc(len);
    if (!w)
        return -1;
    struct iovec local = { w, len }, remote = { (void *)(uintptr_t)lo, len };
    int rc = process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -1;
    uint64_t restorer = 0, not_restorer = 0; /* the last ones read */
    for (size_t k = 0; rc == 0 && k + FRAME_GREGS + G_CSGSFS < nw; k++) {
        uint64_t ret = w[k], rip = w[k + FRAME_GREGS + G_RIP], rsp = w[k + FRAME_GREGS + G_RSP];
        int ret_inside = mp_addr_in_ranges(ret, r, nr), ours = ret_inside || mp_addr_in_ranges(rip, r, nr);
        /* elsewhere: an interrupted context on another stack (so far as
         * the frame looks like one: small uc_flags, no uc_link, user code) */
        int elsewhere = rsp && (rsp < lo || rsp >= hi) && w[k + 1] < 64 && !w[k + 2] &&
                        (w[k + FRAME_GREGS + G_CSGSFS] & 0xffff) == USER_CS;
        if (!ret || ret == not_restorer || (!ours && !elsewhere))
            continue;
        if (ret != restorer && !is_restorer(pid, ret)) {
            not_restorer = ret;
            continue;
        }
        restorer = ret;
        if (ours) {
            if (*n == max) {
                rc = -1;
                break;
            }
            out[*n].at = lo + k * 8;
            out[*n].rip_at = lo + (k + FRAME_GREGS + G_RIP) * 8;
            out[*n].rip = rip;
            out[*n].rdi = w[k + FRAME_GREGS + G_RDI];
            out[*n].r11 = w[k + FRAME_GREGS + G_R11];
            out[*n].restorer_inside = ret_inside;
            (*n)++;
        }
        if (elsewhere && (hops == 0 || scan_stack(pid, maps, rsp, r, nr, out, max, n, hops - 1) != 0))
            rc = -1;
    }
    free(w);
    return rc;
}

int mp_find_signal_frames(pid_t pid, pid_t tid, const struct mp_addr_range *r, int nr, struct mp_sigframe *out,
                          int max)
{
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, tid, 0, &regs) != 0)
        return 0; /* gone */
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *maps = fopen(path, "re");
    if (!maps)
        return -1;
    int n = 0, rc = scan_stack(pid, maps, regs.rsp, r, nr, out, max, &n, 4);
    fclose(maps);
    return rc == 0 ? n : -1;
}

int mp_sigframe_is_live(pid_t pid, pid_t tid, const struct mp_sigframe *f)
{
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, tid, 0, &regs) != 0)
        return 0;
    uint64_t sp = regs.rsp;
    for (int depth = 0; depth < 16; depth++) {
        if (sp == f->at)
            return 1;
        uint64_t w[FRAME_GREGS + G_RSP + 1];
        struct iovec local = { w, sizeof w }, remote = { (void *)(uintptr_t)sp, sizeof w };
        if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof w || !is_restorer(pid, w[0]))
            return 0;
        sp = w[FRAME_GREGS + G_RSP]; /* the context this frame saved: at a handler's entry too? */
    }
    return 0;
}

int mp_run_frame_out(pid_t pid, pid_t tid, int mem_fd, const struct mp_sigframe *f, const struct mp_addr_range *r,
                     int nr, long max_steps, struct mp_leave_fixup fixup)
{
    struct user_regs_struct saved, regs;
    uint64_t g[G_EFL + 1];
    off_t base = (off_t)(f->rip_at - G_RIP * 8);
    if (ptrace(PTRACE_GETREGS, tid, 0, &saved) != 0 || pread(mem_fd, g, sizeof g, base) != (ssize_t)sizeof g)
        return -1;
    regs = saved;
    unsigned long long *gp[G_EFL + 1] = { &regs.r8,  &regs.r9,  &regs.r10, &regs.r11, &regs.r12, &regs.r13,
                                &regs.r14, &regs.r15, &regs.rdi, &regs.rsi, &regs.rbp, &regs.rbx,
                                &regs.rdx, &regs.rax, &regs.rcx, &regs.rsp, &regs.rip, &regs.eflags };
    for (int i = 0; i <= G_EFL; i++)
        *gp[i] = g[i];
    regs.orig_rax = (uint64_t)-1; /* no system call to restart */
    struct held h = { 0 };
    int rc = 0, moved = 0;
    for (long steps = 0;; steps++) {
        int fixed = fixup.fn ? fixup.fn(fixup.ctx, &regs) : 0;
        moved |= fixed > 0;
        if (!mp_addr_in_ranges(regs.rip, r, nr))
            break;
        if (fixed < 0 || steps >= max_steps || ptrace(PTRACE_SETREGS, tid, 0, &regs) != 0) {
            rc = -1;
            break;
        }
        int stepped = step_once(tid, &h);
        moved |= stepped == 0;
        if (stepped != 0 || ptrace(PTRACE_GETREGS, tid, 0, &regs) != 0) {
            rc = -1;
            break;
        }
    }
    /* written back whenever the context moved, even if it did not get out:
     * what it did meanwhile (a slot taken, a return address replaced) is
     * then the frame's, and the stubs must stay (the caller's choice) */
    if (moved && (rc == 0 || mp_addr_in_ranges(regs.rip, r, nr))) {
        uint64_t flags = g[G_EFL];
        for (int i = 0; i <= G_EFL; i++)
            g[i] = *gp[i];
        g[G_EFL] = (g[G_EFL] & ~(uint64_t)EFL_TF) | (flags & EFL_TF);
        if (pwrite(mem_fd, g, sizeof g, base) != (ssize_t)sizeof g)
            rc = -1;
    }
    if (ptrace(PTRACE_SETREGS, tid, 0, &saved) != 0)
        rc = -1;
    for (int k = 0; k < h.n; k++)
        syscall(SYS_tgkill, pid, tid, h.sig[k]);
    return rc;
}
