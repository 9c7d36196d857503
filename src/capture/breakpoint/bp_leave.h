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
#include <stdio.h>
#include <sys/types.h>

struct mp_addr_range {
    uint64_t lo, hi; /* [lo, hi); hi == lo: empty */
};

/* 1 when rip is in one of the ranges. */
int mp_addr_in_ranges(uint64_t rip, const struct mp_addr_range *r, int nr);

/* The end of the mapping of /proc/PID/maps (open as maps) that holds
 * addr; 0 if none.  Only a line's start is read as a range. */
uint64_t mp_maps_mapping_end(FILE *maps, uint64_t addr);

/* Single-steps, in turns, every thread whose rip is in one of the ranges
 * until none is (a thread waiting for another one, say for room in the
 * ring, gets its turn while the other makes progress).  A signal that
 * arrives for a thread meanwhile is queued again for it (not one its own
 * instruction raised: a fault gives that thread up).  0, or -1 when a
 * thread could not be stepped out within max_steps steps of its own. */
int mp_step_out_of(pid_t pid, const pid_t *tids, size_t n, const struct mp_addr_range *r, int nr, long max_steps);

/* A signal frame a handler will return through (or a stale copy of one: a
 * dead frame the stack kept; the same fix serves both). */
struct mp_sigframe {
    uint64_t at;          /* the frame: the handler's return address (the restorer) */
    uint64_t rip_at;      /* where the interrupted rip is saved */
    uint64_t rip, rdi, r11; /* the interrupted registers memprof needs */
    int restorer_inside;  /* the handler returns into the ranges itself */
};

/* The signal frames on thread tid's stack (from its rsp to the end of the
 * mapping rsp is in: the handler's own stack, alternate or not) whose
 * saved rip, or whose restorer, is in one of the ranges.  A frame whose
 * interrupted context is on another stack (a handler on an alternate
 * stack) has that stack read too.  A frame is recognised by the handler's
 * return address, an rt_sigreturn trampoline (glibc's or memprof's).
 * Returns how many (up to max), or -1 when that cannot be told: a stack
 * could not be read, holds more than 1 MiB in use above rsp (a frame
 * could be further up), or there were more than max. */
int mp_find_signal_frames(pid_t pid, pid_t tid, const struct mp_addr_range *r, int nr, struct mp_sigframe *out,
                          int max);

/* Before each step of mp_run_frame_out: fn may move the registers past
 * code that must not run there (1 when it did, 0 when it did nothing),
 * or forbid going on (-1: the run fails). */
struct user_regs_struct;
struct mp_leave_fixup {
    int (*fn)(void *ctx, struct user_regs_struct *regs);
    void *ctx;
};

/* Is frame f (of mp_find_signal_frames) one the thread will surely return
 * through, not a stale copy the stack kept?  1 when the thread is stopped
 * at its handler's first instruction (rsp at the frame's return address),
 * or at the first instruction of a handler whose frame saved a context
 * that is itself at such an entry, and so on (the kernel sets up one frame
 * per pending signal before the thread runs again, as when memprof
 * resumed a signal-delivery stop and interrupted the thread at once); 0
 * when that cannot be told. */
int mp_sigframe_is_live(pid_t pid, pid_t tid, const struct mp_sigframe *f);

/* Thread tid is stopped in a handler whose live frame f saved a context
 * inside the ranges: that context is run on (single steps, as if the
 * handler had already returned) until its rip leaves them, and the
 * context it left them in is written into the frame instead: the handler
 * then returns there, and nothing of the ranges is left to it.  The code in
 * the ranges only touches the stack within 128 bytes below the context's
 * rsp (the kernel puts the frame at least 128 below it) and memory
 * memprof owns, so running it first changes nothing the handler can see
 * (a call that would reach deeper, the stubs' nap while the ring is full,
 * is skipped by `fixup`).
 * The thread's own registers are put back; signals that arrive meanwhile
 * are queued again.  0, or -1 (the frame is left as it was, unless the
 * context moved and did not get out; a context that faults gives up). */
int mp_run_frame_out(pid_t pid, pid_t tid, int mem_fd, const struct mp_sigframe *f, const struct mp_addr_range *r,
                     int nr, long max_steps, struct mp_leave_fixup fixup);

#endif
