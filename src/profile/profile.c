/* memprof: the profile: stack interning, live blocks, per-line counters. */
#include "memprof/profile.h"
#include "blocktab.h"
#include "base/hashidx.h"
#include "base/strtab.h"

#include <stdlib.h>
#include <string.h>

#define MAX_INLINE_DEPTH 16

struct stack {
    uint64_t hash;
    uint32_t nframes;
    uint32_t self_line;
    uint32_t n_incl;
    uint64_t *frames;
    uint32_t *incl_lines;    /* distinct non-runtime lines (inclusive counters) */
    uint32_t *frame_lines;   /* every resolved frame, for printing the stack */
    struct mp_stack_info info;
};

/* The last block each thread allocated, for heaptrack's "temporary". */
struct thread_last {
    uint32_t tid;
    uint64_t addr;
};

struct mp_profile {
    mp_resolve_fn resolve;
    void *resolve_ctx;
    struct mp_strtab strings;

    struct stack *stacks;
    uint32_t n_stacks, cap_stacks;
    struct mp_hashidx stack_index;

    struct mp_line_stats *lines;
    uint32_t n_lines, cap_lines;
    struct mp_hashidx line_index;

    struct mp_blocktab blocks;

    /* Lines whose live bytes changed since the last peak snapshot: flushing
     * them when a new peak is reached keeps peak_bytes exact at amortised
     * O(1) per event. */
    uint8_t *line_dirty;
    uint32_t *dirty;
    uint32_t n_dirty;

    struct thread_last *threads;
    uint32_t n_threads, cap_threads;
    struct mp_hashidx thread_index;

    struct mp_sample *timeline;
    size_t n_samples;

    struct mp_totals totals;
};

static void *grow(void *array, uint32_t *cap, size_t elem)
{
    uint32_t n = *cap ? *cap * 2 : 64;
    void *p = realloc(array, (size_t)n * elem);
    if (p)
        *cap = n;
    return p;
}

struct mp_profile *mp_profile_new(mp_resolve_fn resolve, void *resolve_ctx)
{
    struct mp_profile *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->resolve = resolve;
    p->resolve_ctx = resolve_ctx;
    mp_strtab_init(&p->strings);
    mp_hashidx_init(&p->stack_index);
    mp_hashidx_init(&p->line_index);
    mp_blocktab_init(&p->blocks);
    mp_hashidx_init(&p->thread_index);
    p->totals.peak_stack = UINT32_MAX;
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
    free(p->line_dirty);
    free(p->dirty);
    free(p->threads);
    mp_hashidx_free(&p->thread_index);
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
    memset(p, 0, sizeof *p);
    p->resolve = resolve;
    p->resolve_ctx = ctx;
    mp_strtab_init(&p->strings);
    p->totals.peak_stack = UINT32_MAX;
}

const struct mp_totals *mp_profile_totals(const struct mp_profile *p) { return &p->totals; }
void mp_profile_prefetch(const struct mp_profile *p, uint64_t addr) { mp_blocktab_prefetch(&p->blocks, addr); }
size_t mp_profile_line_count(const struct mp_profile *p) { return p->n_lines; }
const struct mp_line_stats *mp_profile_line(const struct mp_profile *p, size_t i) { return &p->lines[i]; }
size_t mp_profile_stack_count(const struct mp_profile *p) { return p->n_stacks; }
const struct mp_stack_info *mp_profile_stack(const struct mp_profile *p, size_t i) { return &p->stacks[i].info; }

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

/* The line record for a resolved frame, created on first sight.  UINT32_MAX on ENOMEM. */
static uint32_t line_for_frame(struct mp_profile *p, const struct mp_frame_info *f)
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
        void *g = grow(p->lines, &cap, sizeof *p->lines);
        if (!g)
            return UINT32_MAX;
        p->lines = g;
        uint8_t *d = realloc(p->line_dirty, cap);
        uint32_t *list = realloc(p->dirty, cap * sizeof *list);
        if (d)
            p->line_dirty = d;
        if (list)
            p->dirty = list;
        if (!d || !list)
            return UINT32_MAX;
        p->cap_lines = cap;
    }
    p->line_dirty[p->n_lines] = 0;
    struct mp_line_stats *l = &p->lines[p->n_lines];
    memset(l, 0, sizeof *l);
    l->file = k.file;
    l->line = k.line;
    l->function = k.function;
    l->module = k.module;
    l->func_file = mp_strtab_intern(&p->strings, f->func_file);
    l->func_first_line = f->func_first_line;
    l->func_last_line = f->func_last_line;
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
 * user line (innermost non-runtime frame). */
static int attribute_stack(struct mp_profile *p, struct stack *s)
{
    struct id_list incl = { 0 }, frames = { 0 };
    uint32_t self = UINT32_MAX, named = UINT32_MAX;
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
            uint32_t id = line_for_frame(p, &info[j]);
            if (id == UINT32_MAX)
                continue;
            failed = push_id(&frames, id) != 0;
            if (named == UINT32_MAX && has_name(&info[j]))
                named = id;
            if (info[j].is_runtime)
                continue;
            if (self == UINT32_MAX)
                self = id;
            if (!failed && !has_id(&incl, id))
                failed = push_id(&incl, id) != 0;
        }
    }
    if (!failed && self == UINT32_MAX) {
        /* No user frame (runtime start-up): the innermost frame with a name. */
        self = named != UINT32_MAX ? named : frames.n ? frames.ids[0] : UINT32_MAX;
        if (self == UINT32_MAX) {
            struct mp_frame_info unknown = { .function = "[unknown]", .module = "[unknown]" };
            self = line_for_frame(p, &unknown);
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

static uint32_t intern_stack(struct mp_profile *p, const uint64_t *frames, uint32_t n)
{
    struct stack_key k = { p, frames, n };
    uint64_t hash = n ? mp_hash_bytes(frames, n * sizeof *frames) : mp_hash_u64(0);
    uint32_t id = mp_hashidx_find(&p->stack_index, hash, same_stack, &k);
    if (id != UINT32_MAX)
        return id;
    if (p->n_stacks == p->cap_stacks) {
        void *g = grow(p->stacks, &p->cap_stacks, sizeof *p->stacks);
        if (!g)
            return UINT32_MAX;
        p->stacks = g;
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

static void mark_dirty(struct mp_profile *p, uint32_t line)
{
    if (!p->line_dirty[line]) {
        p->line_dirty[line] = 1;
        p->dirty[p->n_dirty++] = line;
    }
}

/* A new peak: every line whose live bytes changed since the last one
 * records what it holds now. */
static void snapshot_peak(struct mp_profile *p)
{
    for (uint32_t i = 0; i < p->n_dirty; i++) {
        struct mp_line_stats *l = &p->lines[p->dirty[i]];
        l->peak_bytes = l->live_bytes;
        p->line_dirty[p->dirty[i]] = 0;
    }
    p->n_dirty = 0;
}

struct tid_key { const struct mp_profile *p; uint32_t tid; };

static int same_tid(const void *ctx, uint32_t id)
{
    const struct tid_key *k = ctx;
    return k->p->threads[id].tid == k->tid;
}

/* The thread's "last allocation" slot, created on first sight (NULL: ENOMEM). */
static struct thread_last *thread_slot(struct mp_profile *p, uint32_t tid)
{
    struct tid_key k = { p, tid };
    uint64_t hash = mp_hash_u64(tid);
    uint32_t id = mp_hashidx_find(&p->thread_index, hash, same_tid, &k);
    if (id != UINT32_MAX)
        return &p->threads[id];
    if (p->n_threads == p->cap_threads) {
        void *g = grow(p->threads, &p->cap_threads, sizeof *p->threads);
        if (!g)
            return NULL;
        p->threads = g;
    }
    if (mp_hashidx_insert(&p->thread_index, hash, p->n_threads) != 0)
        return NULL;
    p->threads[p->n_threads] = (struct thread_last){ tid, 0 };
    return &p->threads[p->n_threads++];
}

/* Undo a block's contribution to the live counters; count a free if asked. */
static void release_block(struct mp_profile *p, const struct mp_block *b, int counted_as_free)
{
    struct stack *s = &p->stacks[b->stack];
    struct mp_line_stats *self = &p->lines[s->self_line];
    self->live_bytes -= b->size;
    self->live_blocks--;
    s->info.live_bytes -= b->size;
    s->info.live_blocks--;
    mark_dirty(p, s->self_line);
    if (counted_as_free) {
        self->free_calls++;
        self->freed_bytes += b->size;
        p->totals.free_calls++;
        p->totals.freed_bytes += b->size;
        struct thread_last *t = thread_slot(p, b->tid);
        if (t && t->addr == b->addr) {
            /* Freed before its thread allocated again: heaptrack's temporary. */
            self->temporary_calls++;
            p->totals.temporary_calls++;
            t->addr = 0;
        }
    }
    for (uint32_t i = 0; i < s->n_incl; i++) {
        struct mp_line_stats *l = &p->lines[s->incl_lines[i]];
        l->incl_live_bytes -= b->size;
        if (counted_as_free)
            l->incl_freed_bytes += b->size;
    }
    p->totals.live_bytes -= b->size;
    p->totals.live_blocks--;
}

static int add_alloc(struct mp_profile *p, const struct mp_event *ev)
{
    p->totals.alloc_calls++;
    p->totals.allocated_bytes += ev->size;
    if (ev->truncated)
        p->totals.truncated_stacks++;
    uint32_t sid = intern_stack(p, ev->frames, ev->nframes);
    if (sid == UINT32_MAX)
        return -1;
    struct mp_block b = { ev->addr, ev->size, sid, ev->tid }, old;
    int put = mp_blocktab_put(&p->blocks, &b, &old);
    if (put < 0)
        return -1;
    if (put == 1) {
        p->totals.reused_live_blocks++; /* a free we never saw */
        release_block(p, &old, 0);
    }
    struct thread_last *t = thread_slot(p, ev->tid);
    if (t)
        t->addr = ev->addr;
    struct stack *s = &p->stacks[sid];
    s->info.alloc_calls++;
    s->info.allocated_bytes += ev->size;
    s->info.live_bytes += ev->size;
    s->info.live_blocks++;
    struct mp_line_stats *self = &p->lines[s->self_line];
    self->alloc_calls++;
    self->allocated_bytes += ev->size;
    self->live_bytes += ev->size;
    self->live_blocks++;
    mark_dirty(p, s->self_line);
    for (uint32_t i = 0; i < s->n_incl; i++) {
        struct mp_line_stats *l = &p->lines[s->incl_lines[i]];
        l->incl_calls++;
        l->incl_bytes += ev->size;
        l->incl_live_bytes += ev->size;
        if (l->incl_live_bytes > l->incl_max_live_bytes)
            l->incl_max_live_bytes = l->incl_live_bytes;
    }
    p->totals.live_bytes += ev->size;
    p->totals.live_blocks++;
    if (p->totals.live_bytes > p->totals.peak_heap_bytes) {
        p->totals.peak_heap_bytes = p->totals.live_bytes;
        p->totals.peak_stack = sid;
        snapshot_peak(p);
    }
    return 0;
}

/* Appends a sample; past 2 * MP_TIMELINE_MAX, neighbours merge pairwise. */
static int add_sample(struct mp_profile *p, const struct mp_event *ev)
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
                                                 a.heap_bytes > b.heap_bytes ? a.heap_bytes : b.heap_bytes };
        }
        p->n_samples = MP_TIMELINE_MAX;
    }
    p->timeline[p->n_samples++] = (struct mp_sample){ ev->time_ns, ev->rss_bytes, p->totals.live_bytes };
    return 0;
}

int mp_profile_add(struct mp_profile *p, const struct mp_event *ev)
{
    if (ev->kind == MP_EV_ALLOC)
        return add_alloc(p, ev);
    if (ev->kind == MP_EV_FREE) {
        struct mp_block b;
        if (mp_blocktab_take(&p->blocks, ev->addr, &b))
            release_block(p, &b, 1);
        else
            p->totals.unknown_frees++;
    }
    if (ev->kind == MP_EV_SAMPLE)
        return add_sample(p, ev);
    return 0;
}

/* ---- restoring a saved profile ---- */

const char *mp_profile_intern(struct mp_profile *p, const char *s)
{
    return mp_strtab_intern(&p->strings, s);
}

struct mp_line_stats *mp_profile_restore_line(struct mp_profile *p, const char *file, int line,
                                              const char *function, const char *module)
{
    struct mp_frame_info f = { .function = function ? function : "[unknown]",
                               .file = file,
                               .line = line,
                               .module = module ? module : "[unknown]" };
    uint32_t id = line_for_frame(p, &f);
    return id == UINT32_MAX ? NULL : &p->lines[id];
}

uint32_t mp_profile_line_index(const struct mp_profile *p, const struct mp_line_stats *l)
{
    return (uint32_t)(l - p->lines);
}

uint32_t mp_profile_restore_stack(struct mp_profile *p, const uint32_t *frame_lines, uint32_t n_frames,
                                  const struct mp_stack_info *counters)
{
    if (p->n_stacks == p->cap_stacks) {
        void *g = grow(p->stacks, &p->cap_stacks, sizeof *p->stacks);
        if (!g)
            return UINT32_MAX;
        p->stacks = g;
    }
    struct stack *s = &p->stacks[p->n_stacks];
    memset(s, 0, sizeof *s);
    s->frame_lines = malloc((n_frames ? n_frames : 1) * sizeof *s->frame_lines);
    if (!s->frame_lines)
        return UINT32_MAX;
    if (n_frames)
        memcpy(s->frame_lines, frame_lines, n_frames * sizeof *frame_lines);
    s->info = *counters;
    s->info.n_frames = n_frames;
    s->info.frame_lines = s->frame_lines;
    s->self_line = counters->self_line;
    return p->n_stacks++;
}

struct mp_totals *mp_profile_restore_totals(struct mp_profile *p)
{
    return &p->totals;
}

int mp_profile_restore_sample(struct mp_profile *p, const struct mp_sample *sample)
{
    struct mp_event ev = { .kind = MP_EV_SAMPLE, .time_ns = sample->time_ns, .rss_bytes = sample->rss_bytes };
    uint64_t live = p->totals.live_bytes;
    p->totals.live_bytes = sample->heap_bytes; /* add_sample records the heap level it sees */
    int rc = add_sample(p, &ev);
    p->totals.live_bytes = live;
    return rc;
}
