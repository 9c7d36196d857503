/* memprof: where a thread interrupted inside the breakpoint engine's stubs
 * goes when memprof leaves (see bp_inproc.h): the ranges of its code, the
 * exit a point maps to, a fast entry's frame sent back to the allocator,
 * the stubs' nap skipped while a saved context is run out (bp_leave.c). */
#define _GNU_SOURCE
#include "bp_inproc.h"

#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/user.h>
#include <unistd.h>

#define BLOB_BYTES MP_STUB_BLOB_BYTES
#define PAGE 4096ull

/* The stubs' naps: reserve_record's `lea -128(%rsp),%rsp; call
 * stub_back_off; lea 128(%rsp),%rsp`.  At rip: 1 the first lea (rsp as
 * the waiter's), 2 the call, 3 the lea after it (rsp 128 lower); 0: none
 * of them. */
static const uint8_t LEA_DOWN[5] = { 0x48, 0x8d, 0x64, 0x24, 0x80 }, LEA_UP[8] = { 0x48, 0x8d, 0xa4, 0x24, 0x80, 0, 0, 0 };
#define NAP_CALL_BYTES (sizeof LEA_DOWN + 5 + sizeof LEA_UP)

static int nap_at(const struct mp_bp_inproc *ip, uint64_t rip)
{
    uint64_t code = ip->remote + MP_STUB_DATA_BYTES, off;
    for (int which = 1; which <= 3; which++) {
        uint64_t start = rip - (which == 1 ? 0 : which == 2 ? sizeof LEA_DOWN : sizeof LEA_DOWN + 5);
        if (!ip->remote || start < code || start + NAP_CALL_BYTES > ip->remote + BLOB_BYTES)
            continue;
        off = start - ip->remote;
        const uint8_t *b = ip->local + off;
        int32_t rel;
        memcpy(&rel, b + sizeof LEA_DOWN + 1, sizeof rel);
        uint64_t target = start + sizeof LEA_DOWN + 5 + (uint64_t)(int64_t)rel,
                 back_off = ip->remote + (uint64_t)(mp_stub_back_off - mp_stub_blob_start);
        if (memcmp(b, LEA_DOWN, sizeof LEA_DOWN) == 0 && b[sizeof LEA_DOWN] == 0xe8 && target == back_off &&
            memcmp(b + sizeof LEA_DOWN + 5, LEA_UP, sizeof LEA_UP) == 0)
            return which;
    }
    return 0;
}

int mp_bp_inproc_skip_nap(void *ctx, struct user_regs_struct *regs)
{
    const struct mp_bp_inproc *ip = ctx;
    uint64_t restorer = ip->remote + (uint64_t)(mp_stub_restorer - mp_stub_blob_start);
    if (ip->remote && regs->rip >= restorer && regs->rip < restorer + 16)
        return -1;
    switch (nap_at(ip, regs->rip)) {
    case 1: /* not made: lea, call and lea skipped, rsp unchanged */
        regs->rip += NAP_CALL_BYTES;
        return 1;
    case 2: /* made: as if it returned */
        regs->rip += 5;
        return 1;
    }
    return 0;
}

uint64_t mp_bp_inproc_exit(const struct mp_bp_inproc *ip, uint64_t rip, uint64_t rdi, uint64_t r11)
{
    if (!ip->remote)
        return 0;
    int nap = nap_at(ip, rip);
    if (nap == 2 || nap == 3)
        return 0; /* rsp is 128 below the routine's: a new rip alone would not do */
    uint64_t code = ip->remote + MP_STUB_DATA_BYTES, ret0 = ip->remote + (uint64_t)(mp_stub_ret0 - mp_stub_blob_start),
             common = ip->remote + (uint64_t)(mp_stub_ret_common - mp_stub_blob_start),
             end = ip->remote + (uint64_t)(mp_stub_sigtrap - mp_stub_blob_start), to;
    uint64_t k;
    if ((rip >= code && rip < ret0) || (ip->alias && rip >= ip->alias && rip < ip->alias + PAGE)) {
        /* the trampoline or free's stub: on into free, or to its NULL exit */
        memcpy(&to, ip->local + (rdi ? MP_STUB_D_FREE_CONT : MP_STUB_D_FREE_ZERO), sizeof to);
        return to;
    }
    uint64_t copies = ip->remote + (uint64_t)(mp_stub_copies - mp_stub_blob_start);
    if (rip >= copies && rip < copies + (uint64_t)ip->n_sites * MP_STUB_COPY_BYTES) {
        /* a copy of an entry's instructions (after an entry stub's INT3):
         * the same place in the original, where it maps one to one */
        int i = (int)((rip - copies) / MP_STUB_COPY_BYTES);
        uint64_t o = rip - copies - (uint64_t)i * MP_STUB_COPY_BYTES;
        if (ip->copy_stub[i])
            o = o ? o - 1 : 0;
        if (o == 0 || (ip->copy_verbatim[i] && o < ip->copy_len[i]))
            return ip->copy_entry[i] + o;
        return 0;
    }
    if (rip >= ret0 && rip < common)
        k = (rip - ret0) / MP_STUB_RET_STUB_BYTES; /* return stub k */
    else if (rip >= common && rip < end)
        k = r11; /* their common part keeps k in r11 */
    else
        return 0;
    return k < MP_STUB_SLOTS ? ip->slots[k].ret : 0; /* back to the caller */
}

/* ucontext gregs (REG_R8 ... REG_RIP), from the saved rip back */
#define GREG_R8 0
#define GREG_R9 1
#define GREG_RDX 12
#define GREG_RAX 13
#define GREG_RCX 14
#define GREG_RSP 15
#define GREG_RIP 16

int mp_bp_inproc_fast_frame(struct mp_bp_inproc *ip, int mem_fd, uint64_t rip_at, uint64_t rip)
{
    if (!ip->remote)
        return 0;
    uint64_t at_slot = ip->remote + (uint64_t)(mp_stub_fast_tid_slot - mp_stub_blob_start),
             at_free = ip->remote + (uint64_t)(mp_stub_fast_tid_free - mp_stub_blob_start);
    if (rip != at_slot && rip != at_free)
        return 0;
    uint64_t g[GREG_RIP + 1], rz[9]; /* rz[i]: rsp - 72 + 8 * i */
    off_t base = (off_t)(rip_at - GREG_RIP * 8);
    if (pread(mem_fd, g, sizeof g, base) != (ssize_t)sizeof g || g[GREG_RIP] != rip ||
        pread(mem_fd, rz, sizeof rz, (off_t)(g[GREG_RSP] - 72)) != (ssize_t)sizeof rz)
        return -1;
#define RZ(off) rz[(72 + (off)) / 8]
    uint64_t site = RZ(MP_STUB_RZ_SITE), slot = RZ(MP_STUB_RZ_SLOT);
    if (site >= (uint64_t)ip->n_sites || !ip->copy_entry[site] || (rip == at_slot && slot >= MP_STUB_SLOTS))
        return -1;
    g[GREG_R8] = RZ(MP_STUB_RZ_R8);
    g[GREG_R9] = RZ(MP_STUB_RZ_R9);
    g[GREG_RDX] = RZ(MP_STUB_RZ_RDX);
    g[GREG_RAX] = RZ(MP_STUB_RZ_RAX);
    g[GREG_RCX] = RZ(MP_STUB_RZ_RCX);
#undef RZ
    g[GREG_RIP] = ip->copy_entry[site]; /* the entry, its own bytes again: the call runs unrecorded */
    if (pwrite(mem_fd, g, sizeof g, base) != (ssize_t)sizeof g)
        return -1;
    if (rip == at_slot)
        mp_bp_inproc_release_slot(ip, (int)slot); /* taken, nothing written to it yet but the claim */
    return 1;
}

int mp_bp_inproc_in_returns(const struct mp_bp_inproc *ip, uint64_t rip)
{
    return ip->remote && rip >= ip->remote + (uint64_t)(mp_stub_ret0 - mp_stub_blob_start) &&
           rip < ip->remote + (uint64_t)(mp_stub_sigtrap - mp_stub_blob_start);
}

int mp_bp_inproc_code_ranges(const struct mp_bp_inproc *ip, struct mp_addr_range out[2])
{
    if (!ip->remote)
        return 0;
    int n = 0;
    out[n].lo = ip->remote + MP_STUB_DATA_BYTES;
    out[n++].hi = ip->remote + BLOB_BYTES;
    if (ip->alias) {
        out[n].lo = ip->alias;
        out[n++].hi = ip->alias + PAGE;
    }
    return n;
}
