/* memprof: the shape table of the breakpoint engine's fast entries (see
 * bp_stubs.h): for each call stack the supervisor unwound once, the stack's
 * return addresses and where each was found (rsp + offset), keyed by the
 * innermost one.  An allocator entry whose stack matches one, word by word
 * from the innermost frame out, is recorded by the stub without a stop;
 * an unknown stack stops as before and is added here.
 *
 * Lives in memprof's mapping in the target, after the call slots: 4096
 * buckets, then an arena the supervisor only appends to.  A shape is
 * written whole, then linked at the head of its bucket with one release
 * store, so a thread of the target reading the table sees it whole or not
 * at all; nothing is ever rewritten in place, so emptying the table
 * (modules changed) never races with a reader (the arena is not reused).
 * When the arena is full, new stacks keep stopping.  Supervisor thread only. */
#ifndef MEMPROF_BP_SHAPES_H
#define MEMPROF_BP_SHAPES_H

#include <stddef.h>
#include <stdint.h>
#include "bp_inproc.h"
#include "remote_unwind.h"

#define MP_SHAPE_BUCKETS (1u << MP_SHAPE_BUCKET_BITS)
#define MP_SHAPE_ARENA_BYTES (1u << 20) /* with the ring and slots, under the 4 MiB a static
                                             program leaves below itself (the stubs must be near it) */
/* what the table adds to memprof's mapping in the target */
#define MP_SHAPE_TABLE_BYTES ((size_t)MP_SHAPE_BUCKETS * 8 + MP_SHAPE_ARENA_BYTES)

/* The table is at `local` in memprof (remote in the target), empty; the
 * stubs look it up from now on.  */
void mp_bp_shapes_init(struct mp_bp_inproc *ip, unsigned char *local, uint64_t remote);
/* A stack the supervisor unwound at an allocator entry: frames[0..n-1]
 * found at rsp + sh->off[i].  kind MP_SHAPE_RECORD: a call to record (sh
 * valid, the walk ended by the last frame's rule or a zero return address);
 * MP_SHAPE_PASS: a call inside a recorded one, frames[n-1] being the
 * recorded call's return address replaced by memprof's (only frames before
 * it are matched; the last only has to be memprof's code); MP_SHAPE_SKIP:
 * as RECORD, for a mapping call that is not the program's.  1 added, 0 it
 * was there or cannot be matched, -1 the arena is full. */
int mp_bp_shapes_add(struct mp_bp_inproc *ip, const uint64_t *frames, int n, const struct mp_unwind_shape *sh,
                     int kind);
/* The target's modules changed: every shape goes (their return addresses
 * may be other code now). */
void mp_bp_shapes_flush(struct mp_bp_inproc *ip);

#endif
