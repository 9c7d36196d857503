/* memprof: how a stack of a Python process is put together from its native
 * frames and its Python frames (mp_pyframe), the same for the agent (its
 * own thread, in-process) and for memprof -p (a stopped thread, from
 * outside): as py-spy --native and memray's native mode merge them.
 *
 * One call of the evaluation loop (_PyEval_EvalFrameDefault) runs a run of
 * Python frames (3.11 and 3.12 run Python-to-Python calls inline), ended by
 * the frame marked is_entry (3.11) or by a shim frame (3.12).  The k-th
 * native frame in the evaluation loop is replaced by the k-th run.  Runs
 * left over (an evaluation frame in a part of the function the symbol table
 * does not cover, such as a .cold split) go last, so the order of the
 * Python frames always holds.
 *
 * The native frames below the innermost Python frame (what allocated, in C)
 * are all kept; above it, only those outside the interpreter between two
 * runs (C extensions calling back into Python, a qsort comparing with a
 * Python key...): the interpreter's own plumbing between Python frames, and
 * main and the C library's start past the outermost one, say nothing the
 * Python frames do not, and a stack holds MP_MAX_FRAMES frames. */
#ifndef MEMPROF_PY_MERGE_H
#define MEMPROF_PY_MERGE_H

#include <stdint.h>
#include "memprof/event.h"

/* Where the interpreter's code is, in the process's addresses. */
#define MP_PY_TEXT_RANGES 4
struct mp_py_text {
    uint64_t eval_lo, eval_hi;             /* _PyEval_EvalFrameDefault */
    uint64_t lo[MP_PY_TEXT_RANGES], hi[MP_PY_TEXT_RANGES]; /* the interpreter's executable segments */
    int n;
};

/* A Python frame and the evaluation-loop call (innermost 0) running it. */
struct mp_py_run_frame {
    uint64_t frame; /* mp_pyframe() */
    uint32_t run;
};

/* pc, a return address, is in the evaluation loop (pc - 1 is the call). */
static inline int mp_py_is_eval_pc(const struct mp_py_text *t, uint64_t pc)
{
    return pc - 1 >= t->eval_lo && pc - 1 < t->eval_hi;
}

static inline int mp_py_in_interpreter(const struct mp_py_text *t, uint64_t pc)
{
    for (int i = 0; i < t->n; i++)
        if (pc - 1 >= t->lo[i] && pc - 1 < t->hi[i])
            return 1;
    return 0;
}

/* The merged stack into out (at most max frames); its length.  *truncated
 * is set when frames were left out. */
static inline int mp_py_merge(const struct mp_py_text *t, const struct mp_py_run_frame *py, int n_py,
                              const uint64_t *native, int n_native, uint64_t *out, int max, uint32_t *truncated)
{
    int o = 0, k = 0, i = 0;
    uint32_t runs_seen = 0;
    if (n_py)
        while (n_native > 0 && !mp_py_is_eval_pc(t, native[n_native - 1]))
            n_native--;
    for (; i < n_native && o < max; i++) {
        uint64_t pc = native[i];
        if (n_py && mp_py_is_eval_pc(t, pc)) {
            while (k < n_py && py[k].run == runs_seen && o < max)
                out[o++] = py[k++].frame;
            runs_seen++;
            continue;
        }
        if (runs_seen && n_py && mp_py_in_interpreter(t, pc))
            continue;
        out[o++] = pc;
    }
    while (k < n_py && o < max)
        out[o++] = py[k++].frame;
    if (k < n_py || i < n_native)
        *truncated = 1;
    return o;
}

#endif
