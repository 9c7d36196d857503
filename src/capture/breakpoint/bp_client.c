/* memprof: the breakpoint engine's side of memprof.h's annotation API.
 * Every copy of the hook found in the process's symbol tables points at the
 * INT3 of the client stub (bp_stubs.S) while memprof is there; a thread
 * that annotates traps there, is unwound from the stub's entry (its return
 * address is the annotating code's), the annotation is posted as ALLOC/FREE
 * with MP_CLIENT_BLOCK, and it goes on to the stub's ret.  Fork children
 * and a detach get the hooks back as they were. */
#define _GNU_SOURCE
#include "bpengine_internal.h"
#include "bp_guard.h"
#include "remote_unwind.h"
#include "events/ring_reader.h"
#include "memprof/memprof.h"

#include <string.h>
#include <unistd.h>

static uint64_t stub_address(const struct mp_bpengine *e)
{
    return e->inproc.remote + (uint64_t)(mp_stub_client - mp_stub_blob_start);
}

void bp_client_arm(struct mp_bpengine *e, const struct mp_alloc_entries *entries)
{
    e->n_client_hooks = 0;
    if (!e->inproc.remote)
        return; /* no stubs in the target: the hooks stay null */
    uint64_t stub = stub_address(e);
    /* attached: if memprof dies, its SIGTRAP handler takes the stub's INT3
     * on to the ret (bp_guard.h) */
    static const uint8_t ret[16] = { 0xc3 };
    struct mp_emu ret_emu;
    mp_emu_decode(ret, &ret_emu);
    if (entries->n_client_hooks && e->inproc.guarded && mp_bp_guard_site(&e->inproc, stub, ret, &ret_emu, 0) != 0)
        e->unguarded++;
    for (int i = 0; i < entries->n_client_hooks; i++) {
        struct bp_client_hook *h = &e->client_hooks[e->n_client_hooks];
        h->addr = entries->client_hooks[i];
        if (pread(e->mem_fd, &h->saved, sizeof h->saved, (off_t)h->addr) == sizeof h->saved &&
            pwrite(e->mem_fd, &stub, sizeof stub, (off_t)h->addr) == sizeof stub)
            e->n_client_hooks++;
    }
}

int bp_client_restore(struct mp_bpengine *e, int mem_fd)
{
    int rc = 0;
    for (int i = 0; i < e->n_client_hooks; i++)
        if (pwrite(mem_fd, &e->client_hooks[i].saved, sizeof e->client_hooks[i].saved,
                   (off_t)e->client_hooks[i].addr) != sizeof e->client_hooks[i].saved)
            rc = -1;
    return rc;
}

int bp_client_trap(struct mp_bpengine *e, struct bp_thread *t, const struct user_regs_struct *regs)
{
    if (!e->n_client_hooks || !e->inproc.remote || regs->rip != stub_address(e) + 1)
        return 0;
    uint64_t op = regs->rdi, old_addr = regs->rsi, new_addr = regs->rdx, size = regs->rcx;
    /* the stack as at the stub's entry: the INT3 took no room on it */
    uint32_t truncated = 0;
    int n = mp_remote_unwind_at_entry(e->unwinder, regs->rsp, regs->rbp, t->frames, MP_MAX_FRAMES, &truncated);
    if ((op == MEMPROF_OP_FREE || op == MEMPROF_OP_REALLOC) && old_addr) {
        /* its one frame, the free site: the annotating line */
        struct mp_event ev = { .kind = MP_EV_FREE, .tid = (uint32_t)t->tid, .pid = (uint32_t)e->pid,
                               .addr = old_addr | MP_CLIENT_BLOCK,
                               .nframes = n > 0, .frames = t->frames };
        if (mp_ring_reader_post_heap(e->ring, &ev) == 0)
            e->stats.frees++;
    }
    if ((op == MEMPROF_OP_ALLOC || op == MEMPROF_OP_REALLOC) && new_addr) {
        if (n > 0) {
            t->nframes = (uint32_t)n;
            t->truncated = truncated;
            bp_post(e, MP_EV_ALLOC, t->tid, new_addr | MP_CLIENT_BLOCK, size, t);
        } else {
            e->stats.unreadable++;
        }
    }
    return 1; /* the thread goes on at the ret */
}
