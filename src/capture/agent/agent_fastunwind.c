/* memprof agent: a fast stack walk for the common x86-64 frame.
 *
 * Each code address's rule (agent_cfi.c: where the CFA is, where the
 * caller's rbp was saved) is computed once and kept in a table shared by
 * the process's threads; a frame then costs one table probe and one or two
 * loads from the stack.  A stack with a frame the rule cannot describe (a
 * signal frame, a CFA expression, code without unwind tables) is walked
 * by libunwind instead, which also guesses where tables are missing:
 * agent_fast_backtrace returns -1 for it, and the address is remembered
 * as slow, so the next stack through it goes to libunwind directly.
 *
 * The table has no locks: an entry is two words, the address and its
 * packed rule, and the rule carries 16 bits of its address, so a rule
 * read while another thread writes the entry for another address is
 * taken for a miss.  dlclose empties it (agent_dl.c): other code may come
 * to the same addresses.  Runs under the fault guard (agent_unwind.c). */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "agent_internal.h"

#define RULE_SLOTS (1u << 14)
#define RULE_PROBES 4

struct rule_slot {
    _Atomic uint64_t pc;
    _Atomic uint64_t packed;
};

static struct rule_slot *rules;

/* packed: cfa_off (bits 0-31), CFA from rbp (32), kind (33-34: 0 none),
 * rbp saved (35), its offset from the CFA (36-47, signed), check (48-63) */
#define KIND_SHIFT 33
#define K_STEP 1
#define K_END 2
#define K_SLOW 3

static inline uint64_t check_bits(uintptr_t pc)
{
    return (uint64_t)((pc ^ (pc >> 16) ^ (pc >> 32)) & 0xffff) << 48;
}

static inline uint64_t pack(uintptr_t pc, const struct agent_cfi_rule *r)
{
    uint64_t kind = r->kind == AGENT_RULE_STEP ? K_STEP : r->kind == AGENT_RULE_END ? K_END : K_SLOW;
    return (uint64_t)(uint32_t)r->cfa_off | (uint64_t)(r->cfa_rbp != 0) << 32 | kind << KIND_SHIFT |
           (uint64_t)(r->rbp_saved != 0) << 35 | (uint64_t)((uint16_t)r->rbp_off & 0xfff) << 36 | check_bits(pc);
}

static inline uint32_t home_of(uintptr_t pc)
{
    return (uint32_t)((pc * 0x9e3779b97f4a7c15ull) >> 50);
}

int agent_fast_unwind_init(void)
{
    void *map = mmap(NULL, RULE_SLOTS * sizeof(struct rule_slot), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return 0;
    rules = map;
    return 1;
}

void agent_fast_unwind_forget(void)
{
    if (!rules)
        return;
    for (uint32_t i = 0; i < RULE_SLOTS; i++)
        atomic_store_explicit(&rules[i].pc, 0, memory_order_relaxed);
}

__attribute__((noinline, cold)) static uint64_t learn(uintptr_t pc)
{
    struct agent_cfi_rule r;
    memset(&r, 0, sizeof r);
    if (agent_cfi_rule(pc, &r) != 0)
        r.kind = AGENT_RULE_SLOW;

    uint64_t packed = pack(pc, &r);
    uint32_t home = home_of(pc), at = home;
    for (uint32_t i = 0; i < RULE_PROBES; i++) {
        uint32_t j = (home + i) & (RULE_SLOTS - 1);
        if (atomic_load_explicit(&rules[j].pc, memory_order_relaxed) == 0) {
            at = j;
            break;
        }
    }
    atomic_store_explicit(&rules[at].pc, 0, memory_order_relaxed);
    atomic_store_explicit(&rules[at].packed, packed, memory_order_relaxed);
    atomic_store_explicit(&rules[at].pc, pc, memory_order_release);
    return packed;
}

static inline uint64_t rule_of(uintptr_t pc)
{
    uint32_t home = home_of(pc);
    for (uint32_t i = 0; i < RULE_PROBES; i++) {
        struct rule_slot *s = &rules[(home + i) & (RULE_SLOTS - 1)];
        uintptr_t at = atomic_load_explicit(&s->pc, memory_order_acquire);
        if (at == pc) {
            uint64_t packed = atomic_load_explicit(&s->packed, memory_order_relaxed);
            if ((packed & (0xffffull << 48)) == check_bits(pc) && (packed >> KIND_SHIFT & 3) != 0)
                return packed;
            break;
        }
        if (at == 0)
            break;
    }
    return learn(pc);
}

/* Frames found so far: read after a fault (agent_unwind.c). */
__thread volatile int agent_fast_frames AGENT_TLS;

__attribute__((noinline)) int agent_fast_backtrace(void **pcs, int max)
{
    if (!rules)
        return -1;
    uintptr_t rip, rsp, rbp;
    /* where this frame is: the rule of this very address describes it
     * (rbp first: the compiler may give rbp to an output) */
    __asm__ volatile("mov %%rbp, %2\n\tmov %%rsp, %1\n\tlea 0(%%rip), %0" : "=r"(rip), "=r"(rsp), "=r"(rbp));
    uintptr_t lookup = rip;
    int n = 0;
    while (n < max) {
        pcs[n++] = (void *)rip;
        agent_fast_frames = n;
        uint64_t packed = rule_of(lookup);
        unsigned kind = packed >> KIND_SHIFT & 3;
        if (kind == K_END)
            return n;
        if (kind != K_STEP)
            return -1;
        uintptr_t cfa = (packed >> 32 & 1 ? rbp : rsp) + (uintptr_t)(int64_t)(int32_t)(uint32_t)packed;
        if (cfa <= rsp)
            return -1; /* a caller's frame lies above: libunwind decides */
        rip = *(const uintptr_t *)(cfa - 8);
        if (packed >> 35 & 1)
            rbp = *(const uintptr_t *)(cfa + (intptr_t)((int64_t)(packed << 16) >> 52));
        rsp = cfa;
        if (rip == 0)
            return n; /* the outermost frame */
        lookup = rip - 1; /* a return address: the call is before it */
    }
    return n;
}
