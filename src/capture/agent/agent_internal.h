/* memprof agent: state shared between the agent's source files, all hidden
 * inside libmemprof-agent.so.  agent_init.c owns attaching to the ring
 * (lazy init, fork handling, the agent's own text ranges); agent.c owns the
 * interposed allocator functions and the record-writing hot path. */
#ifndef MEMPROF_AGENT_INTERNAL_H
#define MEMPROF_AGENT_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "events/ring.h"

#define AGENT_HIDDEN __attribute__((visibility("hidden")))
#define AGENT_TLS __attribute__((tls_model("initial-exec"), visibility("hidden")))

enum agent_state {
    AGENT_UNINIT = 0,   /* nothing tried yet: the next intercepted call initialises */
    AGENT_INITING = 1,  /* one thread is initialising; others pass through unrecorded */
    AGENT_ENABLED = 2,  /* ring attached: record */
    AGENT_DISABLED = 3, /* no ring, wrong process, or forked child: pass through forever */
};

extern _Atomic int agent_state AGENT_HIDDEN;

/* Valid once agent_state == AGENT_ENABLED (published with release order). */
extern struct mp_ring_header *agent_ring AGENT_HIDDEN;
extern struct mp_ring_record *agent_records AGENT_HIDDEN;
extern uint64_t agent_ring_mask AGENT_HIDDEN;

/* Recursion guard: nonzero while this thread runs agent code (our own
 * bookkeeping, libunwind, init).  Allocator calls made meanwhile go straight
 * to glibc and are not recorded. */
extern __thread int agent_busy AGENT_TLS;

/* Executable ranges whose frames lead a captured stack and must be dropped:
 * libunwind's text (unw_backtrace's own frame comes first) and the agent's. */
struct agent_text_range {
    uintptr_t lo, hi;
};
#define AGENT_MAX_TEXT_RANGES 4
extern struct agent_text_range agent_unwinder_text[AGENT_MAX_TEXT_RANGES] AGENT_HIDDEN;
extern int agent_unwinder_text_count AGENT_HIDDEN;
extern struct agent_text_range agent_own_text[AGENT_MAX_TEXT_RANGES] AGENT_HIDDEN;
extern int agent_own_text_count AGENT_HIDDEN;

/* glibc sizes each thread's DTV (dynamic thread vector, calloc'd by the
 * loader in pthread_create as calloc(modules + 16, 16)) by the number of
 * objects with thread-local storage.  The agent and libunwind add
 * agent_tls_modules entries that the program would not have: calloc calls
 * from the loader's text with an element size of 16 are recorded that many
 * elements smaller, so the agent adds nothing to the counts. */
extern struct agent_text_range agent_loader_text[AGENT_MAX_TEXT_RANGES] AGENT_HIDDEN;
extern int agent_loader_text_count AGENT_HIDDEN;
extern size_t agent_tls_modules AGENT_HIDDEN;

/* Try to attach to the ring once (first caller wins; see agent_init.c). */
void agent_init(void) AGENT_HIDDEN;

#endif
