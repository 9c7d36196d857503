/* memprof: making sure no thread of a stopped process is, or will come
 * back, inside bytes memprof is about to change or remove: free's patched
 * entry, the stubs, the stubs' second mapping.  A thread is inside a range
 * when its rip is there (it is stepped out), and will come back into it
 * when a signal handler it runs returns there (the kernel saved that rip
 * in the signal frame: the caller rewrites it to where the thread would
 * have gone).  Return addresses memprof replaced are its own business
 * (bpengine.c puts them back).
 * Supervisor thread only; every thread of the process is in a ptrace-stop. */
#ifndef MEMPROF_BP_LEAVE_H
#define MEMPROF_BP_LEAVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mp_addr_range {
    uint64_t lo, hi; /* [lo, hi); hi == lo: empty */
};

/* 1 when rip is in one of the ranges. */
int mp_addr_in_ranges(uint64_t rip, const struct mp_addr_range *r, int nr);

/* Single-steps, in turns, every thread whose rip is in one of the ranges
 * until none is (a thread waiting for another one, say for room in the
 * ring, gets its turn while the other makes progress).  A signal that
 * arrives for a thread meanwhile is queued again for it.  0, or -1 when a
 * thread could not be stepped out within max_steps steps of its own. */
int mp_step_out_of(pid_t pid, const pid_t *tids, size_t n, const struct mp_addr_range *r, int nr, long max_steps);

/* A signal frame a handler will return through (or a stale copy of one: a
 * dead frame the stack kept; the same fix serves both). */
struct mp_sigframe {
    uint64_t rip_at;      /* where the interrupted rip is saved */
    uint64_t rip, rdi, r11; /* the interrupted registers memprof needs */
    int restorer_inside;  /* the handler returns into the ranges itself */
};

/* The signal frames on thread tid's stack (from its rsp to the end of the
 * mapping rsp is in, at most 1 MiB: the handler's own stack, alternate or
 * not) whose saved rip, or whose restorer, is in one of the ranges.  A
 * frame is recognised by the handler's return address, an rt_sigreturn
 * trampoline (glibc's or memprof's).  Returns how many (up to max), or -1
 * when the stack could not be read or there were more. */
int mp_find_signal_frames(pid_t pid, pid_t tid, const struct mp_addr_range *r, int nr, struct mp_sigframe *out,
                          int max);

#endif
