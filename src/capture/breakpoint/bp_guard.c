/* memprof: memprof's SIGTRAP handler in an attached process (see
 * bp_guard.h): installing and removing it with injected rt_sigaction calls,
 * and the table of breakpoints with the copies of their displaced
 * instructions, which the handler reads from the data page. */
#define _GNU_SOURCE
#include "bp_guard.h"
#include "inject.h"

#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>

/* The kernel's struct sigaction on x86-64. */
struct kernel_sigaction {
    uint64_t handler;
    uint64_t flags;
    uint64_t restorer;
    uint64_t mask;
};
_Static_assert(sizeof(struct kernel_sigaction) == 32, "rt_sigaction layout");

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

static uint64_t remote_of(const struct mp_bp_inproc *ip, const unsigned char *sym)
{
    return ip->remote + (uint64_t)(sym - mp_stub_blob_start);
}

static struct kernel_sigaction *action(struct mp_bp_inproc *ip, int off)
{
    return (struct kernel_sigaction *)(void *)(ip->local + off);
}

/* rt_sigaction(SIGTRAP, new, old) inside the target, with the structures
 * in the data page (offsets; -1: NULL). */
static int sigaction_in_target(struct mp_bp_inproc *ip, pid_t tid, int mem_fd, uint64_t scratch, int new_off,
                               int old_off)
{
    uint64_t args[6] = { SIGTRAP, new_off < 0 ? 0 : ip->remote + (uint64_t)new_off,
                         old_off < 0 ? 0 : ip->remote + (uint64_t)old_off, 8, 0, 0 };
    int64_t got;
    return mp_inject_syscall(tid, mem_fd, scratch, SYS_rt_sigaction, args, &got) == 0 && got == 0 ? 0 : -1;
}

int mp_bp_guard_install(struct mp_bp_inproc *ip, pid_t tid, int mem_fd, uint64_t scratch)
{
    if (!ip->remote)
        return -1;
    memset(action(ip, MP_STUB_D_ACT_DFL), 0, sizeof(struct kernel_sigaction));
    if (sigaction_in_target(ip, tid, mem_fd, scratch, -1, MP_STUB_D_ACT_ORIG) != 0)
        return -1;
    const struct kernel_sigaction *orig = action(ip, MP_STUB_D_ACT_ORIG);
    struct kernel_sigaction *ours = action(ip, MP_STUB_D_ACT_OURS);
    /* the program's handler, when it is called through ours, runs as it would have */
    ours->handler = remote_of(ip, mp_stub_sigtrap);
    ours->flags = SA_SIGINFO | SA_RESTORER | (orig->flags & (SA_ONSTACK | SA_RESTART | SA_NODEFER));
    ours->restorer = remote_of(ip, mp_stub_restorer);
    ours->mask = orig->mask;
    if (sigaction_in_target(ip, tid, mem_fd, scratch, MP_STUB_D_ACT_OURS, -1) != 0)
        return -1;
    ip->guarded = 1;
    return 0;
}

/* Copy number ip->n_sites: registered for the handler; 0, or -1. */
static int add_copy(struct mp_bp_inproc *ip, uint64_t trap_at, uint64_t go_on, uint64_t kind)
{
    unsigned char *entry = ip->local + MP_STUB_D_SITES + (size_t)ip->n_sites * MP_STUB_SITE_BYTES;
    memcpy(entry + 8, &go_on, 8);
    memcpy(entry + 16, &kind, 8);
    __atomic_store_n((uint64_t *)(void *)entry, trap_at, __ATOMIC_RELEASE); /* the address last: the entry is complete */
    ip->n_sites++;
    return 0;
}

static size_t copy_offset(int i)
{
    return (size_t)(mp_stub_copies - mp_stub_blob_start) + (size_t)i * MP_STUB_COPY_BYTES;
}

int mp_bp_guard_site(struct mp_bp_inproc *ip, uint64_t addr, const uint8_t *text, const struct mp_emu *emu, int hw)
{
    if (!ip->remote || ip->n_sites >= MP_STUB_SITES)
        return -1;
    int i = ip->n_sites;
    uint64_t copy = 0, kind = MP_STUB_SITE_HW;
    if (!hw) {
        copy = ip->remote + copy_offset(i);
        if (mp_emu_relocate(emu, text, addr, ip->local + copy_offset(i), MP_STUB_COPY_BYTES) < 0)
            return -1;
        kind = MP_STUB_SITE_INT3;
    }
    ip->copy_entry[i] = addr;
    ip->copy_len[i] = emu->len;
    ip->copy_stub[i] = 0;
    ip->copy_verbatim[i] = 0;
    return add_copy(ip, addr, copy, kind);
}

uint64_t mp_bp_guard_entry_stub(struct mp_bp_inproc *ip, uint64_t addr, const uint8_t *text, size_t text_len,
                                size_t *patch_len)
{
    if (!ip->remote || ip->n_sites >= MP_STUB_SITES)
        return 0;
    int i = ip->n_sites, verbatim;
    unsigned char *at = ip->local + copy_offset(i);
    size_t displaced;
    if (mp_emu_relocate_run(text, text_len, addr, 5, at + 1, MP_STUB_COPY_BYTES - 1, &displaced, &verbatim) < 0)
        return 0;
    at[0] = 0xcc;
    uint64_t stub = ip->remote + copy_offset(i);
    ip->copy_entry[i] = addr;
    ip->copy_len[i] = (uint8_t)displaced;
    ip->copy_stub[i] = 1;
    ip->copy_verbatim[i] = (uint8_t)verbatim;
    add_copy(ip, stub, stub + 1, MP_STUB_SITE_INT3); /* a delivered SIGTRAP goes on after the INT3 */
    *patch_len = displaced;
    return stub;
}

int mp_bp_guard_clean_child(struct mp_bp_inproc *ip, pid_t child, int child_mem_fd, uint64_t scratch)
{
    if (!ip->guarded)
        return 0;
    uint64_t args[6] = { SIGTRAP, ip->remote + MP_STUB_D_ACT_ORIG, 0, 8, 0, 0 };
    int64_t got;
    return mp_inject_syscall(child, child_mem_fd, scratch, SYS_rt_sigaction, args, &got) == 0 && got == 0 ? 0 : -1;
}

uint64_t mp_bp_guard_program_restorer(const struct mp_bp_inproc *ip)
{
    if (!ip->remote || !ip->local)
        return 0;
    const struct kernel_sigaction *orig = (const struct kernel_sigaction *)(const void *)(ip->local + MP_STUB_D_ACT_ORIG);
    return orig->handler > 1 && (orig->flags & SA_RESTORER) ? orig->restorer : 0;
}

int mp_bp_guard_remove(struct mp_bp_inproc *ip, pid_t tid, int mem_fd, uint64_t scratch)
{
    if (!ip->guarded)
        return 0;
    int rc = sigaction_in_target(ip, tid, mem_fd, scratch, -1, MP_STUB_D_ACT_NOW);
    if (rc == 0 && action(ip, MP_STUB_D_ACT_NOW)->handler == action(ip, MP_STUB_D_ACT_OURS)->handler)
        rc = sigaction_in_target(ip, tid, mem_fd, scratch, MP_STUB_D_ACT_ORIG, -1);
    ip->guarded = 0; /* the table and the copies stay until the mapping goes (mp_bp_inproc_reset) */
    return rc;
}
