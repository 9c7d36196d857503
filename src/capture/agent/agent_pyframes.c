/* memprof agent: the Python frames of the allocating thread, merged into
 * its native stack (events/py_merge.h says how), and the ALLOC record of a
 * Python process.
 *
 * The thread's own PyThreadState comes from PyGILState_GetThisThreadState
 * (a pthread key: no allocation, no re-entry, valid with or without the
 * GIL, NULL once the thread state is gone); its frames are only ever
 * changed by this very thread, so reading them here needs no lock.  The
 * walk follows tstate->cframe->current_frame and each frame's `previous`,
 * as tracemalloc does, skipping incomplete frames (not yet past their
 * first traceable instruction) and 3.12's shim frames.  It reads under the
 * agent's fault guard (agent_unwind.c), as the native unwinding does: a
 * program that wrote over a frame gets a shorter stack, never a crash.
 *
 * Cost: the Python frames are read first.  With a single run (no C code
 * between Python frames, the common case) only the native frames up to the
 * evaluation loop matter, so libunwind is asked for a few frames first and
 * for all only when the loop is not among them. */
#define _GNU_SOURCE
#include "agent_python.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#define MAX_WALK 4096 /* frames followed at most (a cycle would be corruption) */

/* One complete frame as read: its code object, instruction and run. */
struct raw_frame {
    uintptr_t code;
    uint32_t lasti;
    uint32_t run; /* evaluation-loop call, innermost 0 */
};

struct raw_walk {
    uintptr_t tstate;
    struct raw_frame *out;
    int max;
    volatile int n;          /* frames read (what a fault leaves is kept) */
    volatile int more;       /* frames were left out */
    volatile uint32_t runs;
};

/* Follows the thread's frame chain, under the fault guard: reads only (no
 * lock, no slot), each frame published before the next is read. */
static void read_frames(void *arg)
{
    struct raw_walk *w = arg;
    const struct mp_py_layout *L = &agent_py.layout;
    uintptr_t cframe = *(const uintptr_t *)(w->tstate + (uintptr_t)L->tstate_cframe);
    if (!cframe)
        return;
    uintptr_t frame = *(const uintptr_t *)(cframe + (uintptr_t)L->cframe_current_frame);
    int n = 0;
    uint32_t run = 0;
    for (int steps = 0; frame && steps < MAX_WALK; steps++) {
        if (frame & 7)
            break; /* not a frame: stop rather than guess */
        char owner = *(const char *)(frame + (uintptr_t)L->frame_owner);
        uintptr_t previous = *(const uintptr_t *)(frame + (uintptr_t)L->frame_previous);
        if (L->owner_cstack >= 0 && owner == L->owner_cstack) {
            run++; /* 3.12: the shim frame below each evaluation-loop call */
            frame = previous;
            continue;
        }
        uintptr_t code = *(const uintptr_t *)(frame + (uintptr_t)L->frame_code);
        if (!code || *(const uintptr_t *)(code + (uintptr_t)L->object_type) != agent_py.code_type)
            break;
        uintptr_t first = code + (uintptr_t)L->code_code_adaptive;
        uintptr_t prev_instr = *(const uintptr_t *)(frame + (uintptr_t)L->frame_prev_instr);
        int32_t traceable = *(const int32_t *)(code + (uintptr_t)L->code_firsttraceable);
        int complete = owner == L->owner_generator || prev_instr >= first + (uintptr_t)traceable * 2;
        if (complete) {
            if (n == w->max) {
                w->more = 1;
                break;
            }
            intptr_t lasti = ((intptr_t)prev_instr - (intptr_t)first) / 2;
            w->out[n] = (struct raw_frame){ code, lasti < 0 ? 0xffffffffu : (uint32_t)lasti, run };
            atomic_signal_fence(memory_order_seq_cst);
            w->n = ++n;
        }
        if (L->frame_is_entry >= 0 && *(const char *)(frame + (uintptr_t)L->frame_is_entry))
            run++;
        frame = previous;
    }
    w->runs = run;
}

/* The thread's Python frames, innermost first; their number.  *more is set
 * when frames were left out.  A frame chain that leads to memory that is
 * not there (the program wrote over a frame) ends at the frames read
 * before it; the channel counts it for the report. */
static int walk(struct mp_py_run_frame *out, int max, int *more, uint32_t *runs)
{
    *more = 0;
    *runs = 0;
    uintptr_t tstate = (uintptr_t)agent_py.this_thread_state();
    if (!tstate)
        return 0;
    struct raw_frame raw[MP_MAX_FRAMES];
    struct raw_walk w = { .tstate = tstate, .out = raw, .max = max < MP_MAX_FRAMES ? max : MP_MAX_FRAMES };
    if (agent_guarded_call(read_frames, &w) != 0) {
        atomic_fetch_add_explicit(&agent_py.channel->frame_faults, 1, memory_order_relaxed);
        w.more = 1;
        w.runs = w.n ? raw[w.n - 1].run : 0;
    }
    int n = 0;
    for (int i = 0; i < w.n; i++) {
        struct agent_code c;
        if (agent_code_get(raw[i].code, 1, &c) != 0 || c.id == 0) {
            *more = 1; /* no id for it: leave it out */
            continue;
        }
        out[n].frame = mp_pyframe(c.id, raw[i].lasti);
        out[n].run = raw[i].run;
        n++;
    }
    *more |= w.more;
    *runs = w.runs;
    return n;
}

static int in_ranges(const struct agent_text_range *r, int n, uintptr_t pc)
{
    for (int i = 0; i < n; i++)
        if (pc >= r[i].lo && pc < r[i].hi)
            return 1;
    return 0;
}

/* Native frames: libunwind's unw_backtrace, the unwinder's and the
 * agent's own frames dropped.  With a single run of Python frames (no C
 * code between Python frames) only the frames up to the evaluation loop
 * matter: LEAF_FRAMES are asked for first, all of them only if the loop is
 * not among those (or there are several runs to place). */
#define LEAF_FRAMES 12
#define UNWIND_MAX (MP_MAX_FRAMES + 16 + 1)

static int native_frames(void **pcs, int all, int *skip, int *faulted)
{
    /* under the fault guard (agent_unwind.c): a fault sets *faulted */
    int n = agent_backtrace(pcs, all ? UNWIND_MAX : LEAF_FRAMES, faulted);
    int k = 0;
    while (k < n && in_ranges(agent_unwinder_text, agent_unwinder_text_count, (uintptr_t)pcs[k]))
        k++;
    while (k < n && in_ranges(agent_own_text, agent_own_text_count, (uintptr_t)pcs[k]))
        k++;
    *skip = k;
    return n;
}

static int has_eval_frame(void *const *pcs, int n)
{
    for (int i = 0; i < n; i++)
        if (mp_py_is_eval_pc(&agent_py.text, (uintptr_t)pcs[i]))
            return 1;
    return 0;
}

const void *agent_py_free_site(const void *native_site)
{
    struct mp_py_run_frame py[1];
    int more;
    uint32_t runs;
    return walk(py, 1, &more, &runs) == 1 ? (const void *)(uintptr_t)py[0].frame : native_site;
}

__attribute__((noinline)) void agent_py_record_stack(uint32_t kind, const void *addr, size_t size)
{
    int saved_errno = errno;
    struct mp_py_run_frame py[MP_MAX_FRAMES];
    int more = 0;
    uint32_t runs = 0, truncated = 0;
    int n_py = walk(py, MP_MAX_FRAMES, &more, &runs);
    void *pcs[UNWIND_MAX];
    int skip, n;
    int all = runs > 1 || n_py == 0, faulted = 0;
    n = native_frames(pcs, all, &skip, &faulted);
    /* fewer than asked: the stack ended there (or a damaged frame ended it:
     * asking again would only fault again) */
    if (!all && n == LEAF_FRAMES && !has_eval_frame(pcs + skip, n - skip))
        n = native_frames(pcs, 1, &skip, &faulted);
    uint64_t native[UNWIND_MAX], frames[MP_MAX_FRAMES];
    for (int i = skip; i < n; i++)
        native[i - skip] = (uintptr_t)pcs[i];
    int nframes = mp_py_merge(&agent_py.text, py, n_py, native, n - skip, frames, MP_MAX_FRAMES, &truncated);
    if (more)
        truncated = 1; /* native frames past UNWIND_MAX: only the interpreter's plumbing, dropped anyway */
    uint64_t pos;
    struct mp_ring_record *slot = agent_reserve_slot(&pos);
    if (!slot) {
        errno = saved_errno;
        return;
    }
    slot->kind = kind;
    slot->addr = (uint64_t)(uintptr_t)addr;
    slot->size = size;
    slot->nframes = (uint32_t)nframes;
    slot->truncated = truncated | (faulted ? MP_REC_TRUNC_FAULT : 0); /* counted by the reader (ring.h) */
    memcpy(slot->frames, frames, (size_t)nframes * sizeof(uint64_t));
    agent_commit_slot(slot, pos);
    errno = saved_errno;
}
