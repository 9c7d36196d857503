/* memprof: the breakpoint engine's mapped memory (see memprof/event.h):
 * mmap/mmap64, munmap, mremap, brk and sbrk, as the agent records them.
 *
 * The program's calls only: not inside an open allocator call (glibc's
 * malloc maps through the same mmap; the engine's nesting rule leaves those
 * out), and not from libc's own text (pthread_create's stacks, free's
 * munmap of a large chunk, sbrk calling brk) or the allocator library's.
 * The program's own calls are rare: each stops, returns through the trap
 * at malloc's entry (one more stop) and is finished in C; the others pass
 * on without a stop once their stack is known (the fast entries: calls
 * inside a recorded call, and libc's own, MP_SHAPE_SKIP).  A range that goes away takes its
 * ring position at the entry, before the memory can be reused; one that
 * appears is posted at the return. */
#define _GNU_SOURCE
#include "bpengine_internal.h"
#include "bp_stubs.h"
#include "remote_unwind.h"
#include "capture/python/py_remote.h"
#include "events/ring_reader.h"

#include <sys/mman.h>
#include <unistd.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

static uint64_t page_round(uint64_t len)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    return (len + page - 1) & ~(page - 1);
}

/* A system-call-style result: -4095..-1 are errors (mmap's MAP_FAILED). */
static int failed(uint64_t rax)
{
    return rax >= (uint64_t)-4095;
}

static void reserve(struct mp_bpengine *e, struct bp_thread *t)
{
    uint64_t pos;
    t->map_pos = mp_ring_reader_reserve(e->ring, e->pid, t->tid, &pos) == 0 ? pos + 1 : 0;
}

/* Commits the position reserved at the entry (a NOP when ev is NULL). */
static void commit(struct mp_bpengine *e, struct bp_thread *t, const struct mp_event *ev)
{
    if (t->map_pos)
        mp_ring_reader_commit_reserved(e->ring, t->map_pos - 1, ev);
    else if (ev)
        bp_post(e, ev->kind, t->tid, ev->addr, ev->size, NULL);
    t->map_pos = 0;
}

int bp_mapped_entry(struct mp_bpengine *e, struct bp_thread *t, const struct bp_site *site,
                    const struct user_regs_struct *regs)
{
    uint64_t a[6] = { regs->rdi, regs->rsi, regs->rdx, regs->rcx, regs->r8, regs->r9 };
    uint32_t truncated = 0;
    struct mp_unwind_shape shape;
    int n = mp_remote_unwind_shape(e->unwinder, regs->rsp, regs->rbp, t->frames, MP_MAX_FRAMES, &truncated, &shape);
    if (n <= 0) {
        e->stats.unreadable++;
        return 0;
    }
    if (bp_in_text((const uint64_t(*)[2])e->libc_text, e->n_libc_text, t->frames[0]) ||
        bp_in_text((const uint64_t(*)[2])e->allocator_text, e->n_allocator_text, t->frames[0])) {
        e->stats.self_calls++;
        bp_learn_shape(e, t->frames, n, truncated, &shape, MP_SHAPE_SKIP); /* passed on from now on */
        return 0;
    }
    uint64_t ret = t->frames[0];
    if (e->python) /* a CPython process: its Python frames join the stack */
        n = mp_py_remote_merge(e->python, t->tid, t->frames, n, MP_MAX_FRAMES, &truncated);
    enum mp_fn_kind kind = mp_alloc_fn_kind((enum mp_alloc_fn)site->fn);
    t->map_pos = 0;
    t->old_brk = 0;
    switch (kind) {
    case MP_KIND_MMAP:
        if ((a[3] & MAP_FIXED) && !(a[3] & MAP_FIXED_NOREPLACE))
            reserve(e, t); /* what it replaces goes */
        break;
    case MP_KIND_MUNMAP:
    case MP_KIND_MREMAP:
        reserve(e, t);
        break;
    case MP_KIND_SBRK:
        if ((int64_t)a[0] == 0)
            return 0;
        if ((int64_t)a[0] < 0)
            reserve(e, t);
        break;
    case MP_KIND_BRK:
        if (!e->curbrk || pread(e->mem_fd, &t->old_brk, sizeof t->old_brk, (off_t)e->curbrk) != sizeof t->old_brk)
            return 0;
        if (a[0] < t->old_brk)
            reserve(e, t);
        break;
    default:
        return 0;
    }
    int merged = bp_open_call(e, t, site, regs, -1, a, n, truncated, ret);
    if (merged < 0)
        commit(e, t, NULL);
    return merged < 0 ? 0 : merged;
}

void bp_mapped_return(struct mp_bpengine *e, struct bp_thread *t, const struct user_regs_struct *regs)
{
    const uint64_t *a = t->args;
    uint64_t rax = regs->rax;
    struct mp_event ev = { .tid = (uint32_t)t->tid, .pid = (uint32_t)e->pid };
    switch (mp_alloc_fn_kind((enum mp_alloc_fn)t->fn)) {
    case MP_KIND_MMAP:
        if (t->map_pos) {
            ev.kind = MP_EV_UNMAP, ev.addr = a[0], ev.size = page_round(a[1]);
            commit(e, t, failed(rax) ? NULL : &ev);
        }
        if (!failed(rax) && (a[3] & MAP_ANONYMOUS) && (a[3] & MAP_TYPE) == MAP_PRIVATE)
            bp_post(e, MP_EV_MAP, t->tid, rax, page_round(a[1]), t);
        break;
    case MP_KIND_MUNMAP:
        ev.kind = MP_EV_UNMAP, ev.addr = a[0], ev.size = page_round(a[1]);
        commit(e, t, rax == 0 ? &ev : NULL);
        break;
    case MP_KIND_MREMAP:
        ev.kind = MP_EV_REMAP_FROM, ev.addr = a[0], ev.size = page_round(a[1]);
        ev.flags = (a[3] & MREMAP_DONTUNMAP) ? MP_EV_F_DONTUNMAP : 0;
        commit(e, t, failed(rax) ? NULL : &ev);
        if (!failed(rax))
            bp_post(e, MP_EV_REMAP_TO, t->tid, rax, page_round(a[2]), t);
        break;
    case MP_KIND_SBRK:
        if ((int64_t)a[0] < 0) {
            ev.kind = MP_EV_UNMAP, ev.addr = rax + a[0], ev.size = -a[0];
            commit(e, t, rax == (uint64_t)-1 ? NULL : &ev);
        } else if (rax != (uint64_t)-1) {
            bp_post(e, MP_EV_MAP, t->tid, rax, a[0], t);
        }
        break;
    case MP_KIND_BRK:
        if (t->map_pos) {
            ev.kind = MP_EV_UNMAP, ev.addr = a[0], ev.size = t->old_brk - a[0];
            commit(e, t, rax == 0 ? &ev : NULL);
        } else if (rax == 0 && a[0] > t->old_brk) {
            bp_post(e, MP_EV_MAP, t->tid, t->old_brk, a[0] - t->old_brk, t);
        }
        break;
    default:
        break;
    }
}
