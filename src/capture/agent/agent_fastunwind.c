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
    /* again: a walk that read the generation while the table was being
     * emptied may have kept an entry of the old code in its near copy */
    atomic_fetch_add(&rule_generation, 1);
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

/* Each thread's own copy of the rules it used last, direct-mapped: the
 * shared table is 256 KiB, this one stays in the first-level cache.  It
 * goes when the generation changes (dlclose). */
#define NEAR_RULES 256
struct pc_rule {
    uintptr_t pc;
    uint64_t packed;
};
static __thread struct pc_rule near_rules[NEAR_RULES] __attribute__((tls_model("initial-exec")));
static __thread uint32_t near_gen __attribute__((tls_model("initial-exec")));

static inline uint64_t near_rule_of(uintptr_t pc)
{
    struct pc_rule *e = &near_rules[(pc * 0x9e3779b97f4a7c15ull) >> 56];
    if (e->pc == pc)
        return e->packed;
    uint64_t packed = rule_of(pc);
    e->pc = pc;
    e->packed = packed;
    return packed;
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
 * frame in the very state of a frame of the thread's last walk, and every
 * word the last walk read above that frame still holds what it read, the
 * rest of the walk is the same: it is copied instead of done again.  The
 * words read all lie above that frame on the thread's stack (its rsp is
 * the same), so they are mapped.  Those words are checked once per walk,
 * from the outermost frame in: the first one changed bounds which frames
 * can be taken over, and the walk goes on until it meets one of them (a
 * call made again deep in a stack does not make the whole stack be walked
 * again).
 *
 * A frame's state is its pc and rsp, and its rbp only when the walk from
 * it depends on rbp: when a frame finds its CFA from rbp before another
 * frame takes the caller's rbp from the stack (NEED_RBP).  Optimised code
 * keeps data in rbp (a loop counter, a pointer); a saved rbp that is data
 * is no part of the walk and is not checked (CHECK_RBP only where the
 * frame above needs its rbp): else a recursion that keeps a counter in
 * rbp walked every frame again on each call.
 *
 * The last walk is kept outermost frame first, so the frames taken over
 * stay where they are and only the new inner ones are written.  rbp
 * values are kept inverted: the leak scan takes a thread's TLS as roots,
 * and rbp may hold a pointer to a block. */
#define WALK_MAX 80

/* Kept frames carry two flags where the rule's check bits are (the check
 * is done when the rule is read from the table). */
#define CHECK_MASK (0xffffull << 48)
#define NEED_RBP (1ull << 48)  /* the walk from this frame outwards reads its rbp */
#define CHECK_RBP (1ull << 49) /* the caller's rbp this frame saved is needed: its word is checked */

static inline uintptr_t cfa_of(uint64_t packed, uintptr_t rsp, uintptr_t rbp)
{
    return (packed >> 32 & 1 ? rbp : rsp) + (uintptr_t)(int64_t)(int32_t)(uint32_t)packed;
}

static inline intptr_t rbp_off_of(uint64_t packed)
{
    return (intptr_t)((int64_t)(packed << 16) >> 52);
}

/* The state of one frame and the rule it was stepped over with.  Where
 * the words it read lie follows: the return address at the caller's rsp
 * - 8 (the caller's rsp is this frame's CFA), the caller's rbp at the CFA
 * + the rule's offset. */
struct walk_frame {
    uintptr_t pc, rsp, rbp_inv;
    uint64_t packed; /* the rule, and NEED_RBP / CHECK_RBP */
    uint64_t fold;   /* agent_stack_hash_step over the pcs of this frame and those above it */
};

struct walk {
    int n;            /* frames (the program's: the agent's own are not kept) */
    int n_own;        /* the agent's own frames walked before them */
    int complete;     /* the walk reached the outermost frame (not cut at max, no libunwind) */
    uint32_t gen;     /* rule generation it was made with */
    uint32_t stack_id, stack_pid; /* agent_fast_note_stack: the id these frames were given, in that process */
    uintptr_t end_at; /* where the outermost frame's return address (0) was read (0: its rule is END) */
    int first_rbp_check; /* the outermost frame with CHECK_RBP (WALK_MAX: none) */
    struct walk_frame r[WALK_MAX]; /* r[0] the outermost frame, r[n - 1] the innermost */
};

static __thread struct walk last_walk __attribute__((tls_model("initial-exec")));

/* The agent's own frames (this function up to the exported entry the
 * program called) begin every walk: they are walked and their return
 * addresses given as usual (agent_record_stack skips them: the frames in
 * the agent's text before the first one outside it, the same ones), but
 * they are not kept.  The reuse starts at the program's first frame: the
 * agent's frames change with every entry point and stack depth, and
 * keeping them (four or five of them, every call) cost more than walking
 * them.  Their rules are remembered by depth (the agent's code is never
 * unmapped). */
#define OWN_MAX 8
static __thread struct pc_rule own_rules[OWN_MAX] __attribute__((tls_model("initial-exec")));
/* The last call's frames are the kept walk's, all of them (see agent_fast_same_stack). */
static __thread int last_call_same __attribute__((tls_model("initial-exec")));
static __thread int last_call_kept __attribute__((tls_model("initial-exec")));

/* The first frame from the outermost in, up to r[m], whose words do not
 * hold what the last walk read any more (m + 1: none).  Frames outer than
 * it can be taken over.  Their return addresses go to out[m], out[m - 1],
 * ... as they are checked (all of them when none changed: the frames
 * r[m..0], innermost first). */
static inline __attribute__((always_inline)) int first_changed_of(const struct walk *w, int m, void **out,
                                                                   const int rbp_checks)
{
    const struct walk_frame *r = w->r;
    if (w->end_at && *(const uintptr_t *)w->end_at != 0)
        return 0;
    uintptr_t pc = r[0].pc, cfa = r[0].rsp; /* the caller's pc, and rsp: the CFA of r[k] */
    out[m] = (void *)pc;
    for (int k = 1; k <= m; k++) {
        if (*(const uintptr_t *)(cfa - 8) != pc)
            return k;
        if (rbp_checks) {
            uint64_t packed = r[k].packed;
            if ((packed & CHECK_RBP) && ~*(const uintptr_t *)(cfa + rbp_off_of(packed)) != r[k - 1].rbp_inv)
                return k;
        }
        pc = r[k].pc;
        cfa = r[k].rsp;
        out[m - k] = (void *)pc;
    }
    return m + 1;
}

static int first_changed(const struct walk *w, int m, void **out)
{
    /* most stacks have no saved rbp to check (no frame finds its CFA from rbp) */
    return w->first_rbp_check > m ? first_changed_of(w, m, out, 0) : first_changed_of(w, m, out, 1);
}

/* The walk just made becomes the thread's last one: the last one's frames
 * r[0..outer-1] (taken over), then the n new ones (fresh[0] innermost;
 * packed without flags). */
static void keep_walk(struct walk *last, const struct walk_frame *fresh, int n, int outer, uint32_t gen,
                      uintptr_t end_at)
{
    int same = last->complete && last->gen == gen && outer + n == last->n;
    for (int k = 0; k < n && same; k++)
        same = fresh[k].pc == last->r[outer + n - 1 - k].pc;
    uint64_t fold = AGENT_STACK_HASH_SEED, need = 0;
    if (outer > 0) {
        fold = last->r[outer - 1].fold;
        need = last->r[outer - 1].packed & NEED_RBP;
    } else {
        last->end_at = end_at;
    }
    int first_rbp_check = last->first_rbp_check < outer ? last->first_rbp_check : WALK_MAX;
    for (int k = n - 1; k >= 0; k--) {
        struct walk_frame *f = &last->r[outer + n - 1 - k];
        uint64_t packed = fresh[k].packed & ~CHECK_MASK;
        /* this frame's rbp word matters when the frame above needs its rbp */
        uint64_t saves = packed >> 35 & 1;
        uint64_t flags = saves && need ? CHECK_RBP : 0;
        if (flags && first_rbp_check == WALK_MAX)
            first_rbp_check = outer + n - 1 - k;
        if ((packed >> KIND_SHIFT & 3) != K_STEP)
            need = 0; /* the outermost frame: nothing read from it */
        else
            need = (packed >> 32 & 1) || (!saves && need) ? NEED_RBP : 0;
        fold = agent_stack_hash_step(fold, fresh[k].pc);
        f->pc = fresh[k].pc;
        f->rsp = fresh[k].rsp;
        f->rbp_inv = fresh[k].rbp_inv;
        f->packed = packed | flags | need;
        f->fold = fold;
    }
    last->n = outer + n;
    last->first_rbp_check = first_rbp_check;
    last->complete = 1;
    last->gen = gen;
    if (!same)
        last->stack_id = 0;
    last_call_same = same;
    last_call_kept = 1;
}

uint32_t agent_fast_same_stack(uint32_t pid)
{
    const struct walk *last = &last_walk;
    return last_call_same && last->stack_pid == pid ? last->stack_id : 0;
}

int agent_fast_stack_fold(int skip, int count, uint64_t *fold)
{
    const struct walk *last = &last_walk;
    if (!last_call_kept || skip != last->n_own || count != last->n)
        return 0;
    *fold = count > 0 ? last->r[count - 1].fold : AGENT_STACK_HASH_SEED;
    return 1;
}

void agent_fast_note_stack(uint32_t id, uint32_t pid)
{
    if (!last_call_kept)
        return;
    last_walk.stack_id = id;
    last_walk.stack_pid = pid;
}

__attribute__((noinline)) int agent_fast_backtrace(void **pcs, int max)
{
    last_call_same = 0;
    last_call_kept = 0;
    if (!rules)
        return -1;
    uintptr_t rip, rsp, rbp;
    /* where this frame is: the rule of this very address describes it
     * (rbp first: the compiler may give rbp to an output) */
    __asm__ volatile("mov %%rbp, %2\n\tmov %%rsp, %1\n\tlea 0(%%rip), %0" : "=r"(rip), "=r"(rsp), "=r"(rbp));
    if (max > WALK_MAX)
        max = WALK_MAX;
    uint32_t gen = atomic_load_explicit(&rule_generation, memory_order_relaxed);
    if (near_gen != gen) {
        memset(near_rules, 0, sizeof near_rules);
        near_gen = gen;
    }
    struct walk *last = &last_walk;
    int same_rules = last->complete && last->gen == gen, reuse = same_rules;
    int m = last->n - 1; /* the last walk's frame to compare with (moves outwards) */
    int limit = -1;      /* frames r[0..limit-1] can be taken over (-1: not checked yet) */
    struct walk_frame fresh[WALK_MAX];
    uintptr_t lookup = rip, end_at = 0;
    int n = 0;
    for (;;) {
        uint64_t packed;
        if (n < OWN_MAX && own_rules[n].pc == rip) {
            packed = own_rules[n].packed; /* seen at this depth: the agent's own */
        } else if (agent_pc_in_ranges(agent_own_text, agent_own_text_count, rip)) {
            packed = rule_of(lookup);
            if (n < OWN_MAX)
                own_rules[n] = (struct pc_rule){rip, packed};
        } else {
            break; /* the program's first frame */
        }
        if (n == max)
            return n;
        pcs[n] = (void *)rip;
        agent_fast_frames = ++n;
        if ((packed >> KIND_SHIFT & 3) != K_STEP)
            return -1; /* not the agent's code as it was built: libunwind decides */
        uintptr_t cfa = cfa_of(packed, rsp, rbp);
        if (cfa <= rsp)
            return -1;
        rip = *(const uintptr_t *)(cfa - 8);
        if (packed >> 35 & 1)
            rbp = *(const uintptr_t *)(cfa + rbp_off_of(packed));
        rsp = cfa;
        if (rip == 0)
            return -1;
        lookup = rip - 1;
    }
    if (n == max)
        return n; /* the agent's own frames fill it: cut short, not kept */
    const int own = n; /* the program's frames: pcs[own..], fresh[n - own] */
    while (n < max) {
        if (reuse) {
            while (m >= 0 && last->r[m].rsp < rsp)
                m--;
            if (m < 0) {
                reuse = 0;
            } else if (last->r[m].rsp == rsp && last->r[m].pc == rip &&
                       (!(last->r[m].packed & NEED_RBP) || last->r[m].rbp_inv == ~rbp)) {
                int tail = m + 1, copied = 0;
                if (limit < 0) {
                    void *spill[WALK_MAX];
                    copied = tail <= max - n;
                    limit = first_changed(last, m, copied ? pcs + n : spill);
                }
                if (m < limit) {
                    if (tail > max - n) { /* cut short: the last walk stays */
                        for (int k = 0; k < max - n; k++)
                            pcs[n + k] = (void *)last->r[m - k].pc;
                        return max;
                    }
                    if (!copied)
                        for (int k = 0; k < tail; k++)
                            pcs[n + k] = (void *)last->r[m - k].pc;
                    keep_walk(last, fresh, n - own, tail, gen, 0);
                    last->n_own = own;
                    return n + tail;
                }
                if (limit == 0)
                    reuse = 0; /* the outermost frame changed: nothing to take over */
            }
        }
        struct walk_frame *f = &fresh[n - own];
        pcs[n] = (void *)rip;
        f->pc = rip;
        f->rsp = rsp;
        f->rbp_inv = ~rbp;
        /* the last walk's frame at this depth, at this very address: its rule */
        int at = last->n - 1 - (n - own);
        uint64_t packed = same_rules && at >= 0 && last->r[at].pc == rip ? last->r[at].packed : near_rule_of(lookup);
        f->packed = packed;
        agent_fast_frames = ++n;
        unsigned kind = packed >> KIND_SHIFT & 3;
        if (kind == K_END)
            break;
        if (kind != K_STEP)
            return -1;
        uintptr_t cfa = cfa_of(packed, rsp, rbp);
        if (cfa <= rsp)
            return -1; /* a caller's frame lies above: libunwind decides */
        rip = *(const uintptr_t *)(cfa - 8);
        if (packed >> 35 & 1)
            rbp = *(const uintptr_t *)(cfa + rbp_off_of(packed));
        rsp = cfa;
        if (rip == 0) {
            end_at = cfa - 8;
            break; /* the outermost frame */
        }
        lookup = rip - 1; /* a return address: the call is before it */
        if (n == max)
            return n; /* cut short: not kept (its end is not known) */
    }
    keep_walk(last, fresh, n - own, 0, gen, end_at);
    last->n_own = own;
    return n;
}
