/* memprof: allocator entries that only pass the call on.  libstdc++'s
 * operator delete is `jmp free@plt`, its sized delete a jump to the plain
 * one, jemalloc's operator new[] a jump to operator new: a breakpoint on
 * such an entry would count the call twice (once there, once where it
 * lands), so the engine leaves it to the entry it reaches. */
#ifndef MEMPROF_BP_ALIAS_H
#define MEMPROF_BP_ALIAS_H

#include <stdint.h>
#include "bp_target.h"

/* Where the function at `entry` jumps after at most a few register moves
 * (directly, or through a PLT slot whose symbol is looked up as the loader
 * binds it), or 0 when it does anything else first. */
uint64_t mp_bp_forwards_to(int mem_fd, const struct mp_alloc_entries *e, uint64_t entry);

#endif
