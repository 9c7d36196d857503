/* memprof: mapped memory in the profile: the program's own mmap, mremap,
 * munmap, brk and sbrk (see memprof/event.h), counted per stack and line
 * like heap blocks: map calls and bytes, bytes unmapped (a partial munmap
 * takes only its part of a mapping), bytes still mapped, the mapped peak,
 * and the exact peak of heap + mapped with what each line held then. */
#include "profile_internal.h"

#include <string.h>

/* The first mapping: until now heap + mapped was the heap, so its peak and
 * each stack's share of it are the heap's, and the stacks changed since
 * the heap's last snapshot are the ones changed since this one. */
static void start_tracking_total(struct mp_profile *p)
{
    p->has_mapped = 1;
    p->totals.peak_total_bytes = p->totals.peak_heap_bytes;
    p->totals.peak_total_mapped_bytes = 0;
    p->totals.peak_total_stack = p->totals.peak_stack;
    for (uint32_t i = 0; i < p->n_stacks; i++)
        p->stacks[i].info.peak_total_heap_bytes = p->stacks[i].info.peak_bytes;
    for (uint32_t i = 0; i < p->n_lines; i++)
        p->lines[i].peak_total_bytes = p->lines[i].peak_bytes;
    for (uint32_t i = 0; i < p->dirty_stacks.n; i++)
        mp_dirty_mark(&p->dirty_total, p->dirty_stacks.list[i]);
}

/* `bytes` of a mapping made by stack `sid` went away. */
static void release_mapped(void *ctx, uint32_t sid, uint64_t bytes)
{
    struct mp_profile *p = ctx;
    struct stack *s = &p->stacks[sid];
    struct mp_line_stats *self = &p->lines[s->self_line];
    s->info.mapped_live_bytes -= bytes;
    s->info.unmapped_bytes += bytes;
    self->mapped_live_bytes -= bytes;
    self->unmapped_bytes += bytes;
    for (uint32_t i = 0; i < s->n_incl; i++)
        p->lines[s->incl_lines[i]].incl_mapped_live_bytes -= bytes;
    p->totals.mapped_live_bytes -= bytes;
    p->totals.unmapped_bytes += bytes;
    mp_dirty_mark(&p->dirty_total, sid);
}

static int unmap(struct mp_profile *p, uint64_t addr, uint64_t size, int counted_as_call)
{
    uint64_t before = p->totals.unmapped_bytes;
    if (mp_regions_remove(&p->regions, addr, size, release_mapped, p) != 0)
        return -1;
    if (counted_as_call && p->totals.unmapped_bytes != before)
        p->totals.unmap_calls++;
    return 0;
}

static int map(struct mp_profile *p, const struct mp_event *ev)
{
    if (ev->size == 0)
        return 0;
    if (!p->has_mapped)
        start_tracking_total(p);
    /* a mapping over one still counted: an unmap memprof did not see */
    if (unmap(p, ev->addr, ev->size, 0) != 0)
        return -1;
    uint32_t sid = mp_profile_intern_stack(p, ev->frames, ev->nframes);
    if (sid == UINT32_MAX || mp_regions_add(&p->regions, ev->addr, ev->size, sid) != 0)
        return -1;
    if (ev->truncated)
        p->totals.truncated_stacks++;
    struct stack *s = &p->stacks[sid];
    struct mp_line_stats *self = &p->lines[s->self_line];
    s->info.map_calls++;
    s->info.mapped_bytes += ev->size;
    s->info.mapped_live_bytes += ev->size;
    self->map_calls++;
    self->mapped_bytes += ev->size;
    self->mapped_live_bytes += ev->size;
    for (uint32_t i = 0; i < s->n_incl; i++) {
        struct mp_line_stats *l = &p->lines[s->incl_lines[i]];
        l->incl_mapped_bytes += ev->size;
        l->incl_mapped_live_bytes += ev->size;
        if (l->incl_mapped_live_bytes > l->incl_max_mapped_bytes)
            l->incl_max_mapped_bytes = l->incl_mapped_live_bytes;
    }
    struct mp_totals *t = &p->totals;
    t->map_calls++;
    t->mapped_bytes += ev->size;
    t->mapped_live_bytes += ev->size;
    mp_dirty_mark(&p->dirty_total, sid);
    if (t->mapped_live_bytes > t->peak_mapped_bytes)
        t->peak_mapped_bytes = t->mapped_live_bytes;
    if (t->live_bytes + t->mapped_live_bytes > t->peak_total_bytes) {
        t->peak_total_bytes = t->live_bytes + t->mapped_live_bytes;
        t->peak_total_mapped_bytes = t->mapped_live_bytes;
        t->peak_total_stack = sid;
        mp_profile_snapshot_total(p);
    }
    return 0;
}

int mp_profile_add_mapped(struct mp_profile *p, const struct mp_event *ev)
{
    struct thread *t;
    switch (ev->kind) {
    case MP_EV_MAP:
        return map(p, ev);
    case MP_EV_UNMAP:
        return unmap(p, ev->addr, ev->size, 1);
    case MP_EV_REMAP_FROM:
        /* the new range counts when any of the old one did */
        t = mp_profile_thread_slot(p, ev->tid);
        if (!t)
            return -1;
        t->remap_counted = mp_regions_bytes_in(&p->regions, ev->addr, ev->size) > 0;
        if (t->remap_counted && !(ev->flags & MP_EV_F_DONTUNMAP))
            return unmap(p, ev->addr, ev->size, 0);
        return 0;
    case MP_EV_REMAP_TO:
        t = mp_profile_thread_slot(p, ev->tid);
        if (!t)
            return -1;
        if (!t->remap_counted)
            return 0;
        t->remap_counted = 0;
        return map(p, ev);
    default:
        return 0;
    }
}
