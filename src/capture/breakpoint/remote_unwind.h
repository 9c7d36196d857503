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

void mp_remote_unwinder_free(struct mp_remote_unwinder *u);

#endif
