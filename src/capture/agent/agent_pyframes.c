/* memprof agent: the Python frames of the allocating thread, merged into
 * its native stack.
 *
 * The thread's own PyThreadState comes from PyGILState_GetThisThreadState
 * (a pthread key: no allocation, no re-entry, valid with or without the
 * GIL, NULL once the thread state is gone); its frames are only ever
 * changed by this very thread, so reading them here needs no lock.  The
 * walk follows tstate->cframe->current_frame and each frame's `previous`,
 * as tracemalloc does, skipping incomplete frames (not yet past their
 * first traceable instruction) and 3.12's shim frames.
 *
 * Merging, as py-spy --native and memray's native mode do: one call of the
 * evaluation loop (_PyEval_EvalFrameDefault) runs a run of Python frames
 * (3.11 runs Python-to-Python calls inline), ended by the frame marked
 * is_entry (3.11) or by a shim frame (3.12).  The k-th native frame in the
 * evaluation loop is replaced by the k-th run.  Runs left over (an
 * evaluation frame in a part of the function the symbol table does not
 * cover, such as a .cold split) go last, so the order of the Python frames
 * always holds.
 *
 * The native frames below the innermost Python frame (what allocated, in C)
 * are all kept; above it, only those outside the interpreter between two
 * runs (C extensions calling back into Python, a qsort comparing with a
 * Python key...): the interpreter's own call plumbing between Python frames,
 * and main and the C library's start past the outermost one, say nothing
 * the Python frames do not, and a record holds MP_MAX_FRAMES frames.
 *
 * Cost: the Python frames are read first.  With a single run (no C code
 * between Python frames, the common case) only the native frames up to the
 * evaluation loop matter, so libunwind is asked for a few frames first and
 * for all only when the loop is not among them. */
#define _GNU_SOURCE
#include "agent_python.h"

#include <errno.h>
#include <string.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#define MAX_WALK 4096 /* frames followed at most (a cycle would be corruption) */

struct py_frame {
    uint64_t frame; /* mp_pyframe() */
    uint32_t run;   /* evaluation-loop call, innermost 0 */
};

/* The thread's Python frames, innermost first; their number.  *more is set
 * when frames were left out. */
static int walk(struct py_frame *out, int max, int *more, uint32_t *runs)
{
    const struct mp_py_layout *L = &agent_py.layout;
    *more = 0;
    *runs = 0;
    uintptr_t tstate = (uintptr_t)agent_py.this_thread_state();
    if (!tstate)
        return 0;
    uintptr_t cframe = *(const uintptr_t *)(tstate + (uintptr_t)L->tstate_cframe);
    if (!cframe)
        return 0;
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
            if (n == max) {
                *more = 1;
                break;
            }
            struct agent_code c;
            if (agent_code_get(code, 1, &c) != 0 || c.id == 0) {
                *more = 1; /* no id for it: leave it out */
            } else {
                intptr_t lasti = ((intptr_t)prev_instr - (intptr_t)first) / 2;
                out[n].frame = mp_pyframe(c.id, lasti < 0 ? 0xffffffffu : (uint32_t)lasti);
                out[n].run = run;
                n++;
            }
        }
        if (L->frame_is_entry >= 0 && *(const char *)(frame + (uintptr_t)L->frame_is_entry))
            run++;
        frame = previous;
    }
    *runs = run;
    return n;
}

/* pc, a return address, is in the evaluation loop (pc - 1 is the call). */
static int is_eval_pc(uintptr_t pc)
{
    return pc - 1 >= agent_py.eval_lo && pc - 1 < agent_py.eval_hi;
}

static int in_interpreter(uintptr_t pc)
{
    for (int i = 0; i < agent_py.interp_text_count; i++)
        if (pc - 1 >= agent_py.interp_text[i].lo && pc - 1 < agent_py.interp_text[i].hi)
            return 1;
    return 0;
}

/* Replaces the evaluation loop's frames among `native` (return addresses,
 * innermost first) with the runs of Python frames; at most MP_MAX_FRAMES
 * frames go to out; their number. */
static int merge(const struct py_frame *py, int n_py, void *const *native, int n_native, uint64_t *out,
                 uint32_t *truncated)
{
    int o = 0, k = 0, i = 0;
    uint32_t runs_seen = 0;
    /* Past the outermost evaluation frame are main and the C library's
     * start: nothing the Python frames do not say better. */
    if (n_py)
        while (n_native > 0 && !is_eval_pc((uintptr_t)native[n_native - 1]))
            n_native--;
    for (; i < n_native && o < MP_MAX_FRAMES; i++) {
        uintptr_t pc = (uintptr_t)native[i];
        /* pc is a return address: pc - 1 lies in the calling function */
        if (n_py && is_eval_pc(pc)) {
            while (k < n_py && py[k].run == runs_seen && o < MP_MAX_FRAMES)
                out[o++] = py[k++].frame;
            runs_seen++;
            continue;
        }
        if (runs_seen && n_py && in_interpreter(pc))
            continue;
        out[o++] = pc;
    }
    while (k < n_py && o < MP_MAX_FRAMES)
        out[o++] = py[k++].frame;
    if (k < n_py || i < n_native)
        *truncated = 1;
    return o;
}

static int in_ranges(const struct agent_text_range *r, int n, uintptr_t pc)
{
    for (int i = 0; i < n; i++)
        if (pc >= r[i].lo && pc < r[i].hi)
            return 1;
    return 0;
}

/* Native frames: libunwind's cached unw_backtrace, the unwinder's and the
 * agent's own frames dropped.  With a single run of Python frames (no C
 * code between Python frames) only the frames up to the evaluation loop
 * matter: LEAF_FRAMES are asked for first, all of them only if the loop is
 * not among those (or there are several runs to place). */
#define LEAF_FRAMES 12
#define UNWIND_MAX (MP_MAX_FRAMES + 16 + 1)

static int native_frames(void **pcs, int all, int *skip)
{
    int n = unw_backtrace(pcs, all ? UNWIND_MAX : LEAF_FRAMES);
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
        if (is_eval_pc((uintptr_t)pcs[i]))
            return 1;
    return 0;
}

__attribute__((noinline)) void agent_py_record_stack(uint32_t kind, const void *addr, size_t size)
{
    int saved_errno = errno;
    struct py_frame py[MP_MAX_FRAMES];
    int more = 0;
    uint32_t runs = 0, truncated = 0;
    int n_py = walk(py, MP_MAX_FRAMES, &more, &runs);
    void *pcs[UNWIND_MAX];
    int skip, n;
    int all = runs > 1 || n_py == 0;
    n = native_frames(pcs, all, &skip);
    if (!all && !has_eval_frame(pcs + skip, n - skip))
        n = native_frames(pcs, 1, &skip);
    uint64_t frames[MP_MAX_FRAMES];
    int nframes = merge(py, n_py, pcs + skip, n - skip, frames, &truncated);
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
    slot->truncated = truncated;
    memcpy(slot->frames, frames, (size_t)nframes * sizeof(uint64_t));
    agent_commit_slot(slot, pos);
    errno = saved_errno;
}
