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
 * to the same addresses (and the threads' last walks, below).  Runs under
 * the fault guard (agent_unwind.c). */
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

static _Atomic uint32_t rule_generation;

void agent_fast_unwind_forget(void)
{
    if (!rules)
        return;
    atomic_fetch_add(&rule_generation, 1); /* the threads' last walks go too */
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

/* ---- the last walk of each thread ----
 *
 * Consecutive allocations of a thread mostly share the upper part of
 * their stacks.  The walk is a function of the first frame's registers
 * (rip, rsp, rbp), the rules (fixed until a dlclose: the generation) and
 * the words it reads from the stack: each frame's return address and,
 * where a frame saved it, the caller's rbp.  So when the walk reaches a
 * frame in the very state (rip, rsp, rbp) of a frame of the thread's last
 * walk, and every word the last walk read above that frame still holds
 * what it read, the rest of the walk is the same: it is copied instead of
 * done again (a compare per frame, the loads independent of each other).
 * The words read all lie above that frame on the thread's stack (its rsp
 * is the same), so they are mapped.  rbp values are kept inverted: the
 * leak scan takes a thread's TLS as roots, and rbp may hold a pointer to a
 * block. */
#define WALK_MAX 80

/* The state of one frame and what stepping over it read. */
struct walk_frame {
    uintptr_t pc, rsp, rbp_inv;
    uintptr_t ra_at;  /* where the caller's pc was read (0: none, the last frame's END rule) */
    uintptr_t rbp_at; /* where the caller's rbp was read (0: unchanged) */
    uintptr_t cfa_rbp; /* the frame's CFA is rbp-based */
};

struct walk {
    int n;            /* frames */
    int complete;     /* the walk reached the outermost frame (not cut at max, no libunwind) */
    uint32_t gen;     /* rule generation it was made with */
    struct walk_frame f[WALK_MAX];
};

static __thread struct walk last_walk __attribute__((tls_model("initial-exec")));

/* Does the walk from frame j up depend on the rbp frame j starts with?
 * Only if a frame uses it for its CFA before one takes the caller's rbp
 * from the stack (rbp often holds data in optimised code: it need not
 * match then). */
static int rbp_matters(const struct walk *w, int j)
{
    for (int k = j; k < w->n; k++) {
        if (w->f[k].cfa_rbp)
            return 1;
        if (w->f[k].rbp_at)
            return 0;
    }
    return 0;
}

/* Does every word the walk read from frame j up still hold what it read? */
static int still_there(const struct walk *w, int j)
{
    int same = 1;
    for (int k = j; k < w->n; k++) {
        const struct walk_frame *f = &w->f[k];
        if (f->ra_at)
            same &= *(const uintptr_t *)f->ra_at == (k + 1 < w->n ? f[1].pc : 0);
        if (f->rbp_at && k + 1 < w->n)
            same &= ~*(const uintptr_t *)f->rbp_at == f[1].rbp_inv;
    }
    return same;
}

/* The walk just made (frames 0..n-1 in `fresh`) becomes the thread's
 * last one, followed by the last one's frames from j on (tail frames). */
static void keep_walk(struct walk *last, const struct walk_frame *fresh, int n, int j, int tail, int complete,
                      uint32_t gen)
{
    if (tail > 0 && n != j)
        memmove(&last->f[n], &last->f[j], (size_t)tail * sizeof last->f[0]);
    for (int k = 0; k < n; k++)
        last->f[k] = fresh[k];
    last->n = n + tail;
    last->complete = complete;
    last->gen = gen;
}

__attribute__((noinline)) int agent_fast_backtrace(void **pcs, int max)
{
    if (!rules)
        return -1;
    uintptr_t rip, rsp, rbp;
    /* where this frame is: the rule of this very address describes it
     * (rbp first: the compiler may give rbp to an output) */
    __asm__ volatile("mov %%rbp, %2\n\tmov %%rsp, %1\n\tlea 0(%%rip), %0" : "=r"(rip), "=r"(rsp), "=r"(rbp));
    if (max > WALK_MAX)
        max = WALK_MAX;
    uint32_t gen = atomic_load_explicit(&rule_generation, memory_order_relaxed);
    struct walk *last = &last_walk;
    int reuse = last->complete && last->gen == gen, j = 0;
    struct walk_frame fresh[WALK_MAX];
    uintptr_t lookup = rip;
    int n = 0;
    while (n < max) {
        if (reuse) {
            while (j < last->n && last->f[j].rsp < rsp)
                j++;
            if (j < last->n && last->f[j].rsp == rsp && last->f[j].pc == rip &&
                (last->f[j].rbp_inv == ~rbp || !rbp_matters(last, j))) {
                if (still_there(last, j)) {
                    int tail = last->n - j, copy = tail < max - n ? tail : max - n;
                    for (int k = 0; k < copy; k++)
                        pcs[n + k] = (void *)last->f[j + k].pc;
                    keep_walk(last, fresh, n, j, copy, copy == tail, gen);
                    return n + copy;
                }
                reuse = 0; /* something above changed: walk on */
            }
        }
        struct walk_frame *f = &fresh[n];
        pcs[n] = (void *)rip;
        f->pc = rip;
        f->rsp = rsp;
        f->rbp_inv = ~rbp;
        f->ra_at = 0;
        f->rbp_at = 0;
        f->cfa_rbp = 0;
        agent_fast_frames = ++n;
        uint64_t packed = rule_of(lookup);
        unsigned kind = packed >> KIND_SHIFT & 3;
        if (kind == K_END)
            break;
        if (kind != K_STEP)
            return -1;
        uintptr_t cfa = (packed >> 32 & 1 ? rbp : rsp) + (uintptr_t)(int64_t)(int32_t)(uint32_t)packed;
        if (cfa <= rsp)
            return -1; /* a caller's frame lies above: libunwind decides */
        f->ra_at = cfa - 8;
        f->cfa_rbp = packed >> 32 & 1;
        rip = *(const uintptr_t *)(cfa - 8);
        if (packed >> 35 & 1) {
            uintptr_t at = cfa + (uintptr_t)(intptr_t)((int64_t)(packed << 16) >> 52);
            f->rbp_at = at;
            rbp = *(const uintptr_t *)at;
        }
        rsp = cfa;
        if (rip == 0)
            break; /* the outermost frame */
        lookup = rip - 1; /* a return address: the call is before it */
        if (n == max)
            return n; /* cut short: not kept (its end is not known) */
    }
    keep_walk(last, fresh, n, 0, 0, 1, gen);
    return n;
}
