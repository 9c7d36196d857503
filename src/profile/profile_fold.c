/* memprof: allocation wrappers (see mp_profile_fold in memprof/profile.h).
 *
 * After the run, with every stack resolved: the functions to fold are the
 * --alloc-fn globs' matches and, with detection, the functions that look
 * like a wrapper and behave like one.  Looking like one: a name that says
 * allocator (malloc, calloc, realloc, _alloc, zalloc, strdup, memdup, any
 * case: xmalloc, g_malloc0, emalloc_real, jv_mem_alloc, bfd_zmalloc,
 * xstrdup, luaM_realloc_), line information, not a runtime frame.  Behaving
 * like one: every allocation charged to it comes from one line of it (one
 * call site), it is never an outer frame of an allocation charged elsewhere
 * (it does nothing else memory-wise), and every stack has a user frame
 * outside it to charge.  Rounds repeat until nothing changes, so a wrapper
 * of a wrapper folds once the inner one has (sqlite3Malloc ->
 * mallocWithAlarm -> sqlite3MemMalloc).
 *
 * Folding moves each stack to its first user frame outside the folded
 * functions and drops their lines from its inclusive set; the lines' self
 * counters are then the sums of their stacks' (every counter is kept per
 * stack), and the other lines' inclusive counters do not change.
 *
 * Python: a stack with a Python frame is charged to a Python line (its
 * innermost, as tracemalloc does; see attribute_stack), whatever native
 * frames lie below it (a C extension, a C library called through ctypes).
 * Folding keeps it so: in such a stack only Python frames can be charged,
 * so a native wrapper below the Python line changes nothing, and a Python
 * function an --alloc-fn glob names hands its allocations to the Python
 * line that called it.  Detection leaves Python functions alone: their
 * lines are what a Python profile is about. */
#define _GNU_SOURCE
#include "profile_internal.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

static const char *const wrapper_names[] = {
    "*malloc*", "*calloc*", "*realloc*", "*zalloc*", "*_alloc", "*_alloc_*", "*strdup*", "*strndup*", "*memdup*",
};

struct fn {
    const char *name;
    uint8_t folded, automatic, candidate;
    uint8_t multi, outer, no_caller, seen; /* this round */
    uint32_t single;                      /* its one allocating line (this round) */
    uint32_t last_stack;                  /* apply: the last stack counted (+ 1) */
    uint64_t calls;                       /* calls it handed to its callers */
};

struct fold {
    struct mp_profile *p;
    uint32_t *fn_of;    /* line -> function */
    uint8_t *python;    /* line -> a Python line */
    struct fn *fns;
    uint32_t n_fns;
};

static const struct mp_profile *sort_profile;

static int cmp_function(const void *a, const void *b)
{
    const struct mp_line_stats *x = &sort_profile->lines[*(const uint32_t *)a];
    const struct mp_line_stats *y = &sort_profile->lines[*(const uint32_t *)b];
    /* interned strings: equal text, equal pointer */
    if (x->function != y->function)
        return x->function < y->function ? -1 : 1;
    const char *fx = x->func_file ? x->func_file : x->module, *fy = y->func_file ? y->func_file : y->module;
    return fx == fy ? 0 : fx < fy ? -1 : 1;
}

/* Gives each line the id of its function (name and definition file). */
static int number_functions(struct fold *f)
{
    struct mp_profile *p = f->p;
    uint32_t *order = malloc((p->n_lines ? p->n_lines : 1) * sizeof *order);
    f->fn_of = malloc((p->n_lines ? p->n_lines : 1) * sizeof *f->fn_of);
    f->fns = calloc(p->n_lines ? p->n_lines : 1, sizeof *f->fns);
    f->python = malloc(p->n_lines ? p->n_lines : 1);
    if (!order || !f->fn_of || !f->fns || !f->python) {
        free(order);
        return -1;
    }
    for (uint32_t i = 0; i < p->n_lines; i++) {
        order[i] = i;
        f->python[i] = (uint8_t)mp_line_is_python(&p->lines[i]);
    }
    sort_profile = p;
    qsort(order, p->n_lines, sizeof *order, cmp_function);
    for (uint32_t i = 0; i < p->n_lines; i++) {
        if (i == 0 || cmp_function(&order[i - 1], &order[i]) != 0)
            f->fns[f->n_fns++].name = p->lines[order[i]].function;
        f->fn_of[order[i]] = f->n_fns - 1;
    }
    free(order);
    return 0;
}

static int name_matches(const char *name, const char *const *globs, size_t n, int flags)
{
    for (size_t i = 0; i < n; i++)
        if (fnmatch(globs[i], name, flags) == 0)
            return 1;
    return 0;
}

/* A frame that can carry an allocation after folding (python: the stack
 * has a Python frame, and only those can). */
static int chargeable(const struct fold *f, uint32_t line, int python)
{
    return !f->p->lines[line].is_runtime && !f->fns[f->fn_of[line]].folded && (!python || f->python[line]);
}

static int has_python_frame(const struct fold *f, const struct stack *s)
{
    for (uint32_t k = 0; k < s->info.n_frames; k++)
        if (f->python[s->frame_lines[k]])
            return 1;
    return 0;
}

/* One round of detection: returns the number of functions newly folded. */
static int detect_round(struct fold *f)
{
    struct mp_profile *p = f->p;
    for (uint32_t k = 0; k < f->n_fns; k++) {
        struct fn *fn = &f->fns[k];
        fn->multi = fn->outer = fn->no_caller = fn->seen = 0;
    }
    for (uint32_t i = 0; i < p->n_stacks; i++) {
        const struct stack *s = &p->stacks[i];
        uint32_t n = s->info.n_frames, eff = UINT32_MAX, at = 0;
        const uint32_t *fl = s->frame_lines;
        int python = has_python_frame(f, s);
        for (; at < n && eff == UINT32_MAX; at++)
            if (chargeable(f, fl[at], python))
                eff = fl[at];
        if (eff == UINT32_MAX)
            continue;
        struct fn *fn = &f->fns[f->fn_of[eff]];
        if (!fn->seen)
            fn->single = eff;
        else if (fn->single != eff)
            fn->multi = 1;
        fn->seen = 1;
        int caller = 0;
        for (uint32_t k = at; k < n; k++) {
            if (!chargeable(f, fl[k], python))
                continue;
            struct fn *outer = &f->fns[f->fn_of[fl[k]]];
            if (outer == fn)
                continue;
            caller = 1;
            outer->outer = 1; /* an allocation charged elsewhere passes through it */
        }
        if (!caller)
            fn->no_caller = 1;
    }
    int folded = 0;
    for (uint32_t k = 0; k < f->n_fns; k++) {
        struct fn *fn = &f->fns[k];
        if (fn->candidate && !fn->folded && fn->seen && !fn->multi && !fn->outer && !fn->no_caller) {
            fn->folded = fn->automatic = 1;
            folded++;
        }
    }
    return folded;
}

/* The line counters that are sums over the line's stacks. */
static void add_self(struct mp_line_stats *l, const struct mp_stack_info *s)
{
    l->alloc_calls += s->alloc_calls;
    l->allocated_bytes += s->allocated_bytes;
    l->free_calls += s->free_calls;
    l->freed_bytes += s->freed_bytes;
    l->live_bytes += s->live_bytes;
    l->live_blocks += s->live_blocks;
    l->peak_bytes += s->peak_bytes;
    l->temporary_calls += s->temporary_calls;
    l->map_calls += s->map_calls;
    l->mapped_bytes += s->mapped_bytes;
    l->unmapped_bytes += s->unmapped_bytes;
    l->mapped_live_bytes += s->mapped_live_bytes;
    l->peak_total_bytes += s->peak_total_heap_bytes + s->peak_total_mapped_bytes;
    l->peak_total_mapped_bytes += s->peak_total_mapped_bytes;
}

static void clear_self(struct mp_line_stats *l)
{
    l->alloc_calls = l->allocated_bytes = l->free_calls = l->freed_bytes = 0;
    l->live_bytes = l->live_blocks = l->peak_bytes = l->temporary_calls = 0;
    l->map_calls = l->mapped_bytes = l->unmapped_bytes = l->mapped_live_bytes = 0;
    l->peak_total_bytes = l->peak_total_mapped_bytes = 0;
}

static void clear_inclusive(struct mp_line_stats *l)
{
    l->incl_calls = l->incl_bytes = l->incl_freed_bytes = l->incl_live_bytes = l->incl_max_live_bytes = 0;
    l->incl_mapped_bytes = l->incl_mapped_live_bytes = l->incl_max_mapped_bytes = 0;
}

static void apply(struct fold *f)
{
    struct mp_profile *p = f->p;
    uint8_t *still_self = calloc(p->n_lines ? p->n_lines : 1, 1);
    for (uint32_t i = 0; i < p->n_stacks; i++) {
        struct stack *s = &p->stacks[i];
        int python = has_python_frame(f, s);
        for (uint32_t k = 0; k < s->info.n_frames; k++) {
            uint32_t l = s->frame_lines[k];
            if (chargeable(f, l, python)) {
                s->self_line = s->info.self_line = l;
                break;
            }
            struct fn *fn = &f->fns[f->fn_of[l]];
            if (fn->folded && fn->last_stack != i + 1) { /* a wrapper this stack passed through */
                fn->last_stack = i + 1;
                fn->calls += s->info.alloc_calls + s->info.map_calls;
            }
        }
        uint32_t kept = 0;
        for (uint32_t k = 0; k < s->n_incl; k++) {
            uint32_t l = s->incl_lines[k];
            if (l == s->self_line || !f->fns[f->fn_of[l]].folded)
                s->incl_lines[kept++] = l;
        }
        s->n_incl = kept;
        if (still_self)
            still_self[s->self_line] = 1;
    }
    for (uint32_t i = 0; i < p->n_lines; i++) {
        clear_self(&p->lines[i]);
        /* (a folded line some stack could not leave keeps its inclusive
         * counters as they were) */
        if (f->fns[f->fn_of[i]].folded && still_self && !still_self[i])
            clear_inclusive(&p->lines[i]);
    }
    for (uint32_t i = 0; i < p->n_stacks; i++)
        add_self(&p->lines[p->stacks[i].self_line], &p->stacks[i].info);
    if (!p->has_mapped) /* heap + mapped was the heap */
        for (uint32_t i = 0; i < p->n_lines; i++)
            p->lines[i].peak_total_bytes = p->lines[i].peak_bytes;
    free(still_self);
}

static int cmp_folded(const void *a, const void *b)
{
    return strcmp(((const struct mp_folded *)a)->function, ((const struct mp_folded *)b)->function);
}

int mp_profile_fold(struct mp_profile *p, const char *const *globs, size_t n_globs, int detect)
{
    struct fold f = { .p = p };
    mp_profile_sync_inclusive(p); /* the counters as events left them, before stacks change lines */
    if (number_functions(&f) != 0) {
        free(f.fn_of);
        free(f.fns);
        free(f.python);
        return -1;
    }
    for (uint32_t k = 0; k < f.n_fns; k++)
        f.fns[k].folded = name_matches(f.fns[k].name, globs, n_globs, 0);
    /* the detection's name rule and "has line information": on the lines */
    for (uint32_t i = 0; detect && i < p->n_lines; i++) {
        const struct mp_line_stats *l = &p->lines[i];
        struct fn *fn = &f.fns[f.fn_of[i]];
        if (!fn->folded && l->file && !l->is_runtime && !f.python[i] &&
            name_matches(l->function, wrapper_names, sizeof wrapper_names / sizeof *wrapper_names, FNM_CASEFOLD))
            fn->candidate = 1;
    }
    for (int round = 0; detect && round < 16 && detect_round(&f) > 0; round++)
        ;
    size_t n_folded = 0;
    for (uint32_t k = 0; k < f.n_fns; k++)
        n_folded += f.fns[k].folded;
    if (n_folded) {
        apply(&f);
        struct mp_folded *list = realloc(p->folded, (p->n_folded + n_folded) * sizeof *list);
        if (list) {
            p->folded = list;
            for (uint32_t k = 0; k < f.n_fns; k++)
                if (f.fns[k].folded && f.fns[k].calls)
                    list[p->n_folded++] = (struct mp_folded){ f.fns[k].name, f.fns[k].automatic, f.fns[k].calls };
            qsort(p->folded, p->n_folded, sizeof *p->folded, cmp_folded);
        }
    }
    free(f.fn_of);
    free(f.fns);
    free(f.python);
    return 0;
}

int mp_profile_restore_folded(struct mp_profile *p, const struct mp_folded *f)
{
    struct mp_folded *g = realloc(p->folded, (p->n_folded + 1) * sizeof *g);
    if (!g)
        return -1;
    p->folded = g;
    g[p->n_folded] = *f;
    g[p->n_folded].function = mp_strtab_intern(&p->strings, f->function);
    if (!g[p->n_folded].function)
        return -1;
    p->n_folded++;
    return 0;
}

size_t mp_profile_folded(const struct mp_profile *p, const struct mp_folded **out)
{
    *out = p->folded;
    return p->n_folded;
}
