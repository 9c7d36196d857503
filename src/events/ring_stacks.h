/* memprof: the stacks the agents named (MP_REC_STACK), per process, for
 * the reader to give MP_REC_ALLOC_ID records their frames back (see
 * ring_stacks.c).  Used on the reader's thread only. */
#ifndef MEMPROF_RING_STACKS_H
#define MEMPROF_RING_STACKS_H

#include <stdint.h>

struct mp_ring_stacks;

struct mp_ring_stacks *mp_ring_stacks_new(void);
void mp_ring_stacks_free(struct mp_ring_stacks *s);

/* Process pid names stack `id`.  0, or -1 when the id cannot be one an
 * agent gives (ring.h: MP_RING_STACK_IDS) or memory ran out. */
int mp_ring_stacks_define(struct mp_ring_stacks *s, uint32_t pid, uint64_t id, const uint64_t *frames,
                          uint32_t nframes, uint32_t truncated);
/* The frames of process pid's stack `id` (valid until the next define or
 * forget of that process), or NULL when it never named one; *memo is the
 * word that goes with them (mp_event.stack_memo: 0 when they were named). */
const uint64_t *mp_ring_stacks_find(struct mp_ring_stacks *s, uint32_t pid, uint32_t id, uint32_t *nframes,
                                    uint32_t *truncated, uint64_t **memo);
/* Process pid names its stacks afresh (a new agent: an exec, a new
 * process with a pid used before), or is gone. */
void mp_ring_stacks_forget(struct mp_ring_stacks *s, uint32_t pid);

#endif
