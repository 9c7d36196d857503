/* memprof: the profile: stack interning, live blocks, per-line and
 * per-stack counters, the exact peak snapshots.  Per-thread counters, the
 * size histogram, the largest allocations and free sites live in
 * profile_threads.c, profile_sizes.c and profile_free_sites.c; mapped
 * memory in profile_mapped.c; allocation wrappers in profile_fold.c;
 * restoring a saved profile in profile_restore.c. */
#include "profile_internal.h"

#include <fnmatch.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INLINE_DEPTH 16

void *mp_profile_grow(void *array, uint32_t *cap, size_t elem)
{
    uint32_t n = *cap ? *cap * 2 : 64;
    void *p = realloc(array, (size_t)n * elem);
    if (p)
        *cap = n;
    return p;
}

int mp_dirty_reserve(struct dirty_set *d, uint32_t cap)
{
    if (cap <= d->cap)
        return 0;
    uint8_t *flag = realloc(d->flag, cap);
    if (flag)
        d->flag = flag;
    uint32_t *list = realloc(d->list, cap * sizeof *list);
    if (list)
        d->list = list;
    if (!flag || !list)
        return -1;
    memset(d->flag + d->cap, 0, cap - d->cap);
    d->cap = cap;
    return 0;
}

void mp_dirty_free(struct dirty_set *d)
{
    free(d->flag);
    free(d->list);
    memset(d, 0, sizeof *d);
}

/* A memo epoch no other profile (or earlier state of this one) used. */
static uint32_t new_memo_epoch(void)
{
    static _Atomic uint32_t last;
    uint32_t e;
    while ((e = atomic_fetch_add_explicit(&last, 1, memory_order_relaxed) + 1) == 0)
        ;
    return e;
}

static void init(struct mp_profile *p, mp_resolve_fn resolve, void *resolve_ctx)
{
    memset(p, 0, sizeof *p);
    p->resolve = resolve;
    p->resolve_ctx = resolve_ctx;
    mp_strtab_init(&p->strings);
    mp_hashidx_init(&p->stack_index);
    mp_hashidx_init(&p->line_index);
    mp_blocktab_init(&p->blocks);
    mp_regions_init(&p->regions);
    mp_hashidx_init(&p->thread_index);
    mp_hashidx_init(&p->free_site_index);
    p->last_thread = UINT32_MAX;
    p->totals.peak_stack = UINT32_MAX;
    p->totals.peak_total_stack = UINT32_MAX;
    p->memo_epoch = new_memo_epoch();
}

struct mp_profile *mp_profile_new(mp_resolve_fn resolve, void *resolve_ctx)
{
    struct mp_profile *p = malloc(sizeof *p);
    if (p)
        init(p, resolve, resolve_ctx);
    return p;
}

static void release_all(struct mp_profile *p)
{
    for (uint32_t i = 0; i < p->n_stacks; i++) {
        free(p->stacks[i].frames);
        free(p->stacks[i].incl_lines);
        free(p->stacks[i].frame_lines);
    }
    free(p->stacks);
    free(p->lines);
    free(p->incl);
    mp_dirty_free(&p->dirty_lines);
    mp_dirty_free(&p->dirty_stacks);
    mp_dirty_free(&p->dirty_threads);
    mp_dirty_free(&p->dirty_total);
    mp_dirty_free(&p->dirty_unreleased);
    mp_regions_free(&p->regions);
    free(p->folded);
    mp_profile_threads_free(p);
    mp_profile_free_sites_free(p);
    free(p->timeline);
    mp_blocktab_free(&p->blocks);
    mp_hashidx_free(&p->stack_index);
    mp_hashidx_free(&p->line_index);
    mp_strtab_free(&p->strings);
}

void mp_profile_free(struct mp_profile *p)
{
    if (!p)
        return;
    release_all(p);
    free(p);
}

void mp_profile_reset(struct mp_profile *p)
{
    mp_resolve_fn resolve = p->resolve;
    void *ctx = p->resolve_ctx;
    release_all(p);
    init(p, resolve, ctx);
}

const struct mp_totals *mp_profile_totals(const struct mp_profile *p) { return &p->totals; }
void mp_profile_prefetch(const struct mp_profile *p, uint64_t addr) { mp_blocktab_prefetch(&p->blocks, addr); }
size_t mp_profile_line_count(const struct mp_profile *p) { return p->n_lines; }
const struct mp_line_stats *mp_profile_line(const struct mp_profile *p, size_t i)
{
    if (__builtin_expect(p->incl_stale, 0)) /* the first look after events (not while they come) */
        mp_profile_sync_inclusive((struct mp_profile *)p);
    return &p->lines[i];
}

/* Brings the lines' levels down by what their stacks freed since the last
 * time (struct incl_level). */
static void release_levels(struct mp_profile *p)
{
    struct dirty_set *d = &p->dirty_unreleased;
    for (uint32_t i = 0; i < d->n; i++) {
        struct stack *s = &p->stacks[d->list[i]];
        for (uint32_t k = 0; k < s->n_incl; k++)
            p->incl[s->incl_lines[k]].live -= s->unreleased;
        s->unreleased = 0;
        d->flag[d->list[i]] = 0;
    }
    d->n = 0;
}

void mp_profile_sync_inclusive(struct mp_profile *p)
{
    if (!p->incl_stale)
        return;
    release_levels(p);
    for (uint32_t i = 0; i < p->n_lines; i++) {
        struct mp_line_stats *l = &p->lines[i];
        l->incl_calls = l->incl_bytes = l->incl_freed_bytes = 0;
        l->incl_live_bytes = p->incl[i].live;
        l->incl_max_live_bytes = p->incl[i].max;
    }
    for (uint32_t i = 0; i < p->n_stacks; i++) {
        const struct stack *s = &p->stacks[i];
        for (uint32_t k = 0; k < s->n_incl; k++) {
            struct mp_line_stats *l = &p->lines[s->incl_lines[k]];
            l->incl_calls += s->info.alloc_calls;
            l->incl_bytes += s->info.allocated_bytes;
            l->incl_freed_bytes += s->info.freed_bytes;
        }
    }
    p->incl_stale = 0;
}
size_t mp_profile_stack_count(const struct mp_profile *p) { return p->n_stacks; }
const struct mp_stack_info *mp_profile_stack(const struct mp_profile *p, size_t i) { return &p->stacks[i].info; }
const struct mp_size_bucket *mp_profile_size_histogram(const struct mp_profile *p) { return p->sizes; }

size_t mp_profile_largest(const struct mp_profile *p, const struct mp_largest **out)
{
    *out = p->largest;
    return p->n_largest;
}

size_t mp_profile_timeline(const struct mp_profile *p, const struct mp_sample **out)
{
    *out = p->timeline;
    return p->n_samples;
}

/* ---- lines ---- */

struct line_key { const struct mp_profile *p; const char *file, *function, *module; int line; };

static int same_line(const void *ctx, uint32_t id)
{
    const struct line_key *k = ctx;
    const struct mp_line_stats *l = &k->p->lines[id];
    /* With line info the module does not matter (a line is a line). */
    return l->file == k->file && l->line == k->line && l->function == k->function &&
           (k->file || l->module == k->module);
}

uint32_t mp_profile_line_for_frame(struct mp_profile *p, const struct mp_frame_info *f)
{
    struct line_key k = { p, mp_strtab_intern(&p->strings, f->file),
                          mp_strtab_intern(&p->strings, f->function),
                          mp_strtab_intern(&p->strings, f->module), f->line };
    if (!k.function || !k.module || (f->file && !k.file))
        return UINT32_MAX;
    const void *parts[4] = { k.file, k.function, k.file ? NULL : k.module, (const void *)(intptr_t)k.line };
    uint64_t hash = mp_hash_bytes(parts, sizeof parts);
    uint32_t id = mp_hashidx_find(&p->line_index, hash, same_line, &k);
    if (id != UINT32_MAX)
        return id;
    if (p->n_lines == p->cap_lines) {
        uint32_t cap = p->cap_lines;
        void *g = mp_profile_grow(p->lines, &cap, sizeof *p->lines);
        if (!g)
            return UINT32_MAX;
        p->lines = g;
        struct incl_level *levels = realloc(p->incl, cap * sizeof *levels);
        if (!levels)
            return UINT32_MAX;
        p->incl = levels;
        if (mp_dirty_reserve(&p->dirty_lines, cap) != 0)
            return UINT32_MAX;
        p->cap_lines = cap;
    }
    p->incl[p->n_lines] = (struct incl_level){ 0, 0 };
    struct mp_line_stats *l = &p->lines[p->n_lines];
    memset(l, 0, sizeof *l);
    l->file = k.file;
    l->line = k.line;
    l->function = k.function;
    l->module = k.module;
    l->func_file = mp_strtab_intern(&p->strings, f->func_file);
    l->func_first_line = f->func_first_line;
    l->func_last_line = f->func_last_line;
    l->is_runtime = f->is_runtime;
    if (mp_hashidx_insert(&p->line_index, hash, p->n_lines) != 0)
        return UINT32_MAX;
    return p->n_lines++;
}

/* ---- stacks ---- */

struct stack_key { const struct mp_profile *p; const uint64_t *frames; uint32_t n; };

static int same_stack(const void *ctx, uint32_t id)
{
    const struct stack_key *k = ctx;
    const struct stack *s = &k->p->stacks[id];
    return s->nframes == k->n && (k->n == 0 || memcmp(s->frames, k->frames, k->n * sizeof *k->frames) == 0);
}

static int has_name(const struct mp_frame_info *f)
{
    return f->file != NULL || strstr(f->function, "+0x") == NULL;
}

/* CPython's allocator API, where a stack starts when the interpreter itself
 * allocates (its start-up, before any Python frame): not a line to charge,
 * as malloc is not (a build that calls through PyObject_Malloc rather than
 * jumping shows it as the innermost frame: Debian's python3.11). */
static int is_python_allocator_entry(const char *function)
{
    static const char *const patterns[] = { "PyObject_*alloc", "PyMem_*alloc", "_PyObject_*alloc", "_PyMem_*alloc",
                                            "_PyMem_Debug*" };
    if (function == NULL || (function[0] != 'P' && function[0] != '_'))
        return 0;
    for (size_t i = 0; i < sizeof patterns / sizeof *patterns; i++)
        if (fnmatch(patterns[i], function, 0) == 0)
            return 1;
    return 0;
}

/* A growable array of line ids. */
struct id_list {
    uint32_t *ids;
    uint32_t n, cap;
};

static int push_id(struct id_list *l, uint32_t id)
{
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 16;
        uint32_t *g = realloc(l->ids, cap * sizeof *g);
        if (!g)
            return -1;
        l->ids = g;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
    return 0;
}

static int has_id(const struct id_list *l, uint32_t id)
{
    for (uint32_t k = 0; k < l->n; k++)
        if (l->ids[k] == id)
            return 1;
    return 0;
}

/* Resolve every frame of a new stack and choose its lines: every frame for
 * printing, the distinct non-runtime ones for inclusive counters, and the
 * user line: the innermost Python frame when the stack has one (the line
 * tracemalloc would give: what a C extension or the interpreter allocated
 * for it is the Python line's), else the innermost non-runtime frame. */
static int attribute_stack(struct mp_profile *p, struct stack *s)
{
    struct id_list incl = { 0 }, frames = { 0 };
    uint32_t self = UINT32_MAX, named = UINT32_MAX, python = UINT32_MAX;
    struct mp_frame_info info[MAX_INLINE_DEPTH];
    int failed = 0;
    for (uint32_t i = 0; i < s->nframes && !failed; i++) {
        int repeated = 0; /* recursion: a PC already seen adds no new line */
        for (uint32_t j = 0; j < i && !repeated; j++)
            repeated = s->frames[j] == s->frames[i];
        if (repeated)
            continue;
        int n = p->resolve(p->resolve_ctx, s->frames[i], 1, info, MAX_INLINE_DEPTH);
        for (int j = 0; j < n && !failed; j++) {
            uint32_t id = mp_profile_line_for_frame(p, &info[j]);
            if (id == UINT32_MAX)
                continue;
            failed = push_id(&frames, id) != 0;
            if (python == UINT32_MAX && mp_is_pyframe(s->frames[i]))
                python = id;
            if (named == UINT32_MAX && has_name(&info[j]) && !is_python_allocator_entry(info[j].function))
                named = id;
            if (info[j].is_runtime)
                continue;
            if (self == UINT32_MAX)
                self = id;
            if (!failed && !has_id(&incl, id))
                failed = push_id(&incl, id) != 0;
        }
    }
    if (!failed && python != UINT32_MAX && python != self) {
        self = python;
        if (!has_id(&incl, self))
            failed = push_id(&incl, self) != 0;
    }
    s->info.no_user_frame = self == UINT32_MAX; /* a Python line is the program's own */
    if (!failed && self == UINT32_MAX) {
        /* No user frame (runtime start-up): the innermost frame with a name. */
        self = named != UINT32_MAX ? named : frames.n ? frames.ids[0] : UINT32_MAX;
        if (self == UINT32_MAX) {
            struct mp_frame_info unknown = { .function = "[unknown]", .module = "[unknown]" };
            self = mp_profile_line_for_frame(p, &unknown);
        }
        failed = self == UINT32_MAX || push_id(&incl, self) != 0;
    }
    if (failed) {
        free(incl.ids);
        free(frames.ids);
        return -1;
    }
    s->self_line = self;
    s->incl_lines = incl.ids;
    s->n_incl = incl.n;
    s->frame_lines = frames.ids;
    s->info.n_frames = frames.n;
    s->info.frame_lines = frames.ids;
    s->info.self_line = self;
    return 0;
}

uint32_t mp_profile_intern_stack(struct mp_profile *p, const uint64_t *frames, uint32_t n)
{
    struct stack_key k = { p, frames, n };
    uint64_t hash = n ? mp_hash_bytes(frames, n * sizeof *frames) : mp_hash_u64(0);
    uint32_t id = mp_hashidx_find(&p->stack_index, hash, same_stack, &k);
    if (id != UINT32_MAX)
        return id;
    if (p->n_stacks == p->cap_stacks) {
        uint32_t cap = p->cap_stacks;
        void *g = mp_profile_grow(p->stacks, &cap, sizeof *p->stacks);
        if (!g)
            return UINT32_MAX;
        p->stacks = g;
        if (mp_dirty_reserve(&p->dirty_stacks, cap) != 0 || mp_dirty_reserve(&p->dirty_total, cap) != 0 ||
            mp_dirty_reserve(&p->dirty_unreleased, cap) != 0)
            return UINT32_MAX;
        p->cap_stacks = cap;
    }
    struct stack *s = &p->stacks[p->n_stacks];
    memset(s, 0, sizeof *s);
    s->hash = hash;
    s->nframes = n;
    s->frames = malloc((n ? n : 1) * sizeof *frames);
    if (!s->frames)
        return UINT32_MAX;
    if (n)
        memcpy(s->frames, frames, n * sizeof *frames);
    if (attribute_stack(p, s) != 0 || mp_hashidx_insert(&p->stack_index, hash, p->n_stacks) != 0) {
        free(s->frames);
        free(s->incl_lines);
        free(s->frame_lines);
        return UINT32_MAX;
    }
    p->totals.distinct_stacks++;
    return p->n_stacks++;
}

/* ---- events ---- */

/* A new peak: every line, stack and thread whose live bytes changed since
 * the last one records what it holds now. */
static void snapshot_peak(struct mp_profile *p)
{
    struct dirty_set *d = &p->dirty_lines;
    for (uint32_t i = 0; i < d->n; i++) {
        struct mp_line_stats *l = &p->lines[d->list[i]];
        l->peak_bytes = l->live_bytes;
        d->flag[d->list[i]] = 0;
    }
    d->n = 0;
    d = &p->dirty_stacks;
    for (uint32_t i = 0; i < d->n; i++) {
        struct mp_stack_info *s = &p->stacks[d->list[i]].info;
        s->peak_bytes = s->live_bytes;
        s->peak_blocks = s->live_blocks;
        d->flag[d->list[i]] = 0;
    }
    d->n = 0;
    d = &p->dirty_threads;
    for (uint32_t i = 0; i < d->n; i++) {
        struct mp_thread_stats *t = &p->threads[d->list[i]].s;
        t->peak_bytes = t->live_bytes;
        d->flag[d->list[i]] = 0;
    }
    d->n = 0;
}

void mp_profile_snapshot_total(struct mp_profile *p)
{
    struct dirty_set *d = &p->dirty_total;
    for (uint32_t i = 0; i < d->n; i++) {
        struct stack *s = &p->stacks[d->list[i]];
        struct mp_line_stats *l = &p->lines[s->self_line];
        l->peak_total_bytes += s->info.live_bytes + s->info.mapped_live_bytes - s->info.peak_total_heap_bytes -
                               s->info.peak_total_mapped_bytes;
        l->peak_total_mapped_bytes += s->info.mapped_live_bytes - s->info.peak_total_mapped_bytes;
        s->info.peak_total_heap_bytes = s->info.live_bytes;
        s->info.peak_total_mapped_bytes = s->info.mapped_live_bytes;
        d->flag[d->list[i]] = 0;
    }
    d->n = 0;
}

static void mark_thread(struct mp_profile *p, const struct thread *t)
{
    mp_dirty_mark(&p->dirty_threads, (uint32_t)(t - p->threads));
}

/* A stack of at most this many inclusive lines brings their levels down at
 * each free: a later catch-up would cost more (struct incl_level). */
#define RELEASE_AT_ONCE 4

/* Undo a block's contribution to the live counters (a free, or a block
 * allocated again at its address: count_free counts what a free adds). */
static void release_block(struct mp_profile *p, const struct mp_block *b)
{
    struct stack *s = &p->stacks[b->stack];
    struct mp_line_stats *self = &p->lines[s->self_line];
    self->live_bytes -= b->size;
    self->live_blocks--;
    mp_dirty_mark(&p->dirty_lines, s->self_line);
    s->info.live_bytes -= b->size;
    s->info.live_blocks--;
    mp_profile_mark_stack(p, b->stack);
    if (s->n_incl <= RELEASE_AT_ONCE) { /* as cheap as marking it */
        for (uint32_t i = 0; i < s->n_incl; i++)
            p->incl[s->incl_lines[i]].live -= b->size;
    } else {
        s->unreleased += b->size; /* its lines' levels: later (struct incl_level) */
        mp_dirty_mark(&p->dirty_unreleased, b->stack);
    }
    p->incl_stale = 1;
    struct thread *t = mp_profile_thread_slot(p, b->tid);
    if (t) {
        t->s.live_bytes -= b->size;
        t->s.live_blocks--;
        mark_thread(p, t);
    }
    mp_profile_sizes_release(p, b->stack, b->size);
    p->totals.live_bytes -= b->size;
    p->totals.live_blocks--;
}

/* A free (or realloc) of a block memprof saw allocated (after
 * release_block; its lines' inclusive freed bytes are its stack's, summed
 * when read). */
static void count_free(struct mp_profile *p, const struct mp_block *b, const struct mp_event *ev)
{
    struct stack *s = &p->stacks[b->stack];
    struct mp_line_stats *self = &p->lines[s->self_line];
    self->free_calls++;
    self->freed_bytes += b->size;
    s->info.free_calls++;
    s->info.freed_bytes += b->size;
    p->totals.free_calls++;
    p->totals.freed_bytes += b->size;
    struct thread *owner = mp_profile_thread_slot(p, b->tid);
    if (owner && owner->last_addr == b->addr) {
        /* Freed before its thread allocated again: heaptrack's temporary. */
        self->temporary_calls++;
        s->info.temporary_calls++;
        p->totals.temporary_calls++;
        owner->last_addr = 0;
    }
    /* tid 0: the engine does not know who called (the breakpoint engine's free stub) */
    struct thread *caller = ev->tid ? mp_profile_thread_slot(p, ev->tid) : NULL;
    if (caller) {
        caller->s.free_calls++;
        caller->s.freed_bytes += b->size;
    }
    uint32_t site = ev->nframes ? mp_profile_free_site_line(p, ev->frames[0]) : UINT32_MAX;
    if (site != UINT32_MAX) {
        p->lines[site].site_free_calls++;
        p->lines[site].site_freed_bytes += b->size;
    } else {
        p->totals.unsited_free_calls++;
        p->totals.unsited_freed_bytes += b->size;
    }
}

static int add_alloc(struct mp_profile *p, const struct mp_event *ev)
{
    p->totals.alloc_calls++;
    p->totals.allocated_bytes += ev->size;
    if (ev->truncated)
        p->totals.truncated_stacks++;
    /* The engine's name for the stack carries the id found the last time
     * (one hash and compare of the frames per distinct stack, not per event). */
    uint64_t memo = ev->stack_memo ? *ev->stack_memo : 0;
    uint32_t sid;
    if (memo >> 32 == p->memo_epoch && (uint32_t)memo < p->n_stacks) {
        sid = (uint32_t)memo;
    } else {
        sid = mp_profile_intern_stack(p, ev->frames, ev->nframes);
        if (sid == UINT32_MAX)
            return -1;
        if (ev->stack_memo)
            *ev->stack_memo = (uint64_t)p->memo_epoch << 32 | sid;
    }
    struct mp_block b = { ev->addr, ev->size, sid, ev->tid }, old;
    int put = mp_blocktab_put(&p->blocks, &b, &old);
    if (put < 0)
        return -1;
    if (put == 1) {
        p->totals.reused_live_blocks++; /* a free we never saw */
        release_block(p, &old);
    }
    struct thread *t = mp_profile_thread_slot(p, ev->tid);
    if (t) {
        t->last_addr = ev->addr;
        t->s.alloc_calls++;
        t->s.allocated_bytes += ev->size;
        t->s.live_bytes += ev->size;
        t->s.live_blocks++;
        if (t->s.live_bytes > t->s.max_live_bytes)
            t->s.max_live_bytes = t->s.live_bytes;
        mark_thread(p, t);
    }
    struct stack *s = &p->stacks[sid];
    s->info.alloc_calls++;
    s->info.allocated_bytes += ev->size;
    s->info.live_bytes += ev->size;
    s->info.live_blocks++;
    mp_profile_mark_stack(p, sid);
    struct mp_line_stats *self = &p->lines[s->self_line];
    self->alloc_calls++;
    self->allocated_bytes += ev->size;
    self->live_bytes += ev->size;
    self->live_blocks++;
    mp_dirty_mark(&p->dirty_lines, s->self_line);
    /* calls and bytes: the stack's, summed per line when read */
    p->incl_stale = 1;
    for (uint32_t i = 0; i < s->n_incl; i++) {
        struct incl_level *l = &p->incl[s->incl_lines[i]];
        l->live += ev->size;
        if (l->live > l->max) { /* perhaps: frees may not have brought it down yet */
            if (p->dirty_unreleased.n)
                release_levels(p);
            if (l->live > l->max)
                l->max = l->live;
        }
    }
    mp_profile_sizes_alloc(p, sid, ev->size);
    p->totals.live_bytes += ev->size;
    p->totals.live_blocks++;
    if (p->totals.live_bytes > p->heap_max_since_sample)
        p->heap_max_since_sample = p->totals.live_bytes;
    if (p->totals.live_bytes > p->totals.peak_heap_bytes) {
        p->totals.peak_heap_bytes = p->totals.live_bytes;
        p->totals.peak_stack = sid;
        snapshot_peak(p);
    }
    if (__builtin_expect(p->has_mapped, 0) &&
        p->totals.live_bytes + p->totals.mapped_live_bytes > p->totals.peak_total_bytes) {
        p->totals.peak_total_bytes = p->totals.live_bytes + p->totals.mapped_live_bytes;
        p->totals.peak_total_mapped_bytes = p->totals.mapped_live_bytes;
        p->totals.peak_total_stack = sid;
        mp_profile_snapshot_total(p);
    }
    return 0;
}

/* Appends a sample; past 2 * MP_TIMELINE_MAX, neighbours merge pairwise
 * (the larger levels, the later time and allocation counts). */
int mp_profile_add_sample(struct mp_profile *p, const struct mp_sample *sample)
{
    if (!p->timeline) {
        p->timeline = malloc(2 * MP_TIMELINE_MAX * sizeof *p->timeline);
        if (!p->timeline)
            return -1;
    }
    if (p->n_samples == 2 * MP_TIMELINE_MAX) {
        for (size_t i = 0; i < MP_TIMELINE_MAX; i++) {
            struct mp_sample a = p->timeline[2 * i], b = p->timeline[2 * i + 1];
            p->timeline[i] = (struct mp_sample){ b.time_ns, a.rss_bytes > b.rss_bytes ? a.rss_bytes : b.rss_bytes,
                                                 a.heap_bytes > b.heap_bytes ? a.heap_bytes : b.heap_bytes,
                                                 b.alloc_calls, b.allocated_bytes,
                                                 a.heap_max_bytes > b.heap_max_bytes ? a.heap_max_bytes
                                                                                     : b.heap_max_bytes };
        }
        p->n_samples = MP_TIMELINE_MAX;
    }
    p->timeline[p->n_samples++] = *sample;
    /* heap_max_bytes is at least the level of its moment */
    if (p->timeline[p->n_samples - 1].heap_max_bytes < sample->heap_bytes)
        p->timeline[p->n_samples - 1].heap_max_bytes = sample->heap_bytes;
    return 0;
}

int mp_profile_add(struct mp_profile *p, const struct mp_event *ev)
{
    if (ev->kind == MP_EV_ALLOC)
        return add_alloc(p, ev);
    if (ev->kind >= MP_EV_MAP && ev->kind <= MP_EV_REMAP_TO)
        return mp_profile_add_mapped(p, ev);
    if (ev->kind == MP_EV_FREE) {
        struct mp_block b;
        if (mp_blocktab_take(&p->blocks, ev->addr, &b)) {
            release_block(p, &b);
            count_free(p, &b, ev);
        } else {
            p->totals.unknown_frees++;
        }
    }
    if (ev->kind == MP_EV_SAMPLE) {
        struct mp_sample s = { ev->time_ns, ev->rss_bytes, p->totals.live_bytes, p->totals.alloc_calls,
                               p->totals.allocated_bytes, p->heap_max_since_sample };
        p->heap_max_since_sample = 0; /* the next interval starts */
        return mp_profile_add_sample(p, &s);
    }
    return 0;
}

void mp_profile_forget_code(struct mp_profile *p, uint64_t lo, uint64_t hi)
{
    p->memo_epoch = new_memo_epoch(); /* frames remembered as a stack may be new code now */
    for (uint32_t i = 0; i < p->n_stacks; i++) {
        const struct stack *s = &p->stacks[i];
        for (uint32_t k = 0; k < s->nframes; k++)
            if (s->frames[k] > lo && s->frames[k] <= hi) { /* a return address: the call is at pc - 1 */
                mp_hashidx_remove(&p->stack_index, s->hash, i);
                break;
            }
    }
    mp_profile_free_sites_forget(p, lo, hi);
}
