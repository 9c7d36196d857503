/* memprof: call stacks of a ptrace-stopped thread of another process (x86-64).
 * Owns, per traced process, the elfutils Dwfl describing its modules, a cache
 * of unwind rules compiled once per return address from the modules' CFI
 * (.eh_frame, else .debug_frame), and the stack window read per unwind.
 * Not thread-safe: one unwinder is used by one thread at a time. */
#ifndef MEMPROF_REMOTE_UNWIND_H
#define MEMPROF_REMOTE_UNWIND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mp_remote_unwinder;

#define MP_UNWIND_SHAPE_MAX 64 /* at least the frames asked for */

/* For process pid (any thread of it can be unwound later).  NULL + message on failure. */
struct mp_remote_unwinder *mp_remote_unwinder_new(pid_t pid, char *err, size_t errlen);

/* The target's modules changed (execve, dlopen): forget modules and cached rules. */
void mp_remote_unwinder_refresh(struct mp_remote_unwinder *u);

/* The thread is stopped at a function's first instruction: rsp points at the return
 * address.  Writes up to max return addresses, innermost first, sets *truncated to 1 when
 * the stack went deeper than max (else 0).  Returns the number written (0 if even [rsp]
 * cannot be read). */
int mp_remote_unwind_at_entry(struct mp_remote_unwinder *u, uint64_t rsp, uint64_t rbp,
                              uint64_t *frames, int max, uint32_t *truncated);

/* Where the unwind found each return address, when that alone decides the
 * stack: every frame's CFA was rsp + a constant (no rbp-based frame, so no
 * alloca or realignment), and the walk ended for a reason that depends on
 * the last return address only (its rule says the stack ends there, or it
 * has no module) or on one more word (a zero return address).  Then a
 * thread entering with the same return address at [rsp] and the same
 * values at rsp + off[1..n-1] has exactly this stack: frame i's location
 * follows from frame i-1's rule.  valid 0: the stack depends on more
 * (rbp, a read that failed, truncation): it cannot be matched. */
struct mp_unwind_shape {
    int valid;
    int rsp_based;               /* every step to the last frame was rsp-based (valid or not) */
    int end_zero;                /* the walk ended on a zero return address, read at rsp + end_off */
    uint32_t end_off;
    uint32_t off[MP_UNWIND_SHAPE_MAX]; /* frame i read at rsp + off[i] (off[0] = 0) */
};

/* mp_remote_unwind_at_entry, and the stack's shape (see above). */
int mp_remote_unwind_shape(struct mp_remote_unwinder *u, uint64_t rsp, uint64_t rbp, uint64_t *frames, int max,
                           uint32_t *truncated, struct mp_unwind_shape *shape);

void mp_remote_unwinder_free(struct mp_remote_unwinder *u);

#endif
