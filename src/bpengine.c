/* memprof: the breakpoint engine (see bpengine.h): arming, hits, returns,
 * and leaving a process as it was.
 *
 * A hit costs one stop of the thread that hit: PTRACE_GETREGS, the stack
 * read with one process_vm_readv and unwound by the cached CFI rules of
 * remote_unwind.c, one 8-byte write for the return address, PTRACE_CONT.
 * The return costs a second stop: GETREGS, SETREGS, CONT.  free costs one. */
#define _GNU_SOURCE
#include "bpengine.h"
#include "bp_inproc.h"
#include "bp_target.h"
#include "emulate.h"
#include "hashidx.h"
#include "memprof/event.h"
#include "procfs.h"
#include "remote_unwind.h"
#include "ring_reader.h"
#include "stepover.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <unistd.h>

#define INT3 0xcc
#define N_DEBUG_REGS 4
#ifndef TRAP_HWBKPT
#define TRAP_HWBKPT 4
#endif

struct bp_site {
    uint64_t addr;          /* 0: unused */
    int fn;                 /* enum mp_alloc_fn; -1: the loader's _dl_debug_state */
    int hw_slot;            /* debug register 0-3, or -1: an INT3 */
    uint8_t orig;           /* the byte under the INT3 */
    uint8_t inserted;
    struct mp_emu emu;
};

struct bp_thread {
    pid_t tid;
    uint8_t dr_set;         /* debug registers written for this image */
    uint8_t pending;        /* inside an allocator call whose return address we replaced */
    uint8_t fn;
    int16_t slot;           /* the call returns through stub `slot`; -1: through a trap */
    uint64_t entry_sp;      /* where the return address was */
    uint64_t ret;           /* the real return address */
    uint64_t args[3];
    uint32_t nframes, truncated;
    uint64_t frames[MP_MAX_FRAMES];
};

struct mp_bpengine {
    struct mp_ring_reader *ring;
    struct mp_remote_unwinder *unwinder;
    pid_t pid;
    int mem_fd;
    int force_hw;                    /* MEMPROF_BP_HW=1: debug registers for the hot entries */
    int use_stubs;                   /* launch mode: the ring is mapped into the target */
    struct mp_bp_inproc inproc;
    struct mp_loader_hooks loader;
    struct bp_site loader_site;      /* until armed (dynamic programs) */
    struct bp_site sites[MP_FN_COUNT];
    uint64_t ret_trap;               /* malloc's entry: returns that come back through a trap */
    uint64_t dr_addr[N_DEBUG_REGS];
    int n_dr;
    struct mp_hashidx thread_index;
    struct bp_thread *threads;
    uint32_t n_threads, cap_threads;
    uint32_t *free_ids;
    uint32_t n_free_ids;
    struct mp_bpengine_stats stats;
    char module[4096];
    char warning[4096 + 320];
};

/* ---- threads ---- */

struct thread_key {
    const struct mp_bpengine *e;
    pid_t tid;
};

static int thread_eq(const void *ctx, uint32_t id)
{
    const struct thread_key *k = ctx;
    return k->e->threads[id].tid == k->tid;
}

static struct bp_thread *thread_find(struct mp_bpengine *e, pid_t tid)
{
    struct thread_key k = { e, tid };
    uint32_t id = mp_hashidx_find(&e->thread_index, mp_hash_u64((uint64_t)tid), thread_eq, &k);
    return id == UINT32_MAX ? NULL : &e->threads[id];
}

static struct bp_thread *thread_get(struct mp_bpengine *e, pid_t tid)
{
    struct bp_thread *t = thread_find(e, tid);
    if (t)
        return t;
    uint32_t id;
    if (e->n_free_ids) {
        id = e->free_ids[--e->n_free_ids];
    } else {
        if (e->n_threads == e->cap_threads) {
            uint32_t cap = e->cap_threads ? e->cap_threads * 2 : 16;
            struct bp_thread *grown = realloc(e->threads, cap * sizeof *grown);
            uint32_t *ids = realloc(e->free_ids, cap * sizeof *ids);
            if (grown)
                e->threads = grown;
            if (ids)
                e->free_ids = ids;
            if (!grown || !ids)
                return NULL;
            e->cap_threads = cap;
        }
        id = e->n_threads++;
    }
    if (mp_hashidx_insert(&e->thread_index, mp_hash_u64((uint64_t)tid), id) != 0) {
        e->free_ids[e->n_free_ids++] = id;
        return NULL;
    }
    t = &e->threads[id];
    memset(t, 0, offsetof(struct bp_thread, frames));
    t->tid = tid;
    return t;
}

static void thread_forget(struct mp_bpengine *e, pid_t tid)
{
    struct bp_thread *t = thread_find(e, tid);
    if (!t)
        return;
    if (t->pending)
        e->stats.abandoned++;
    uint32_t id = (uint32_t)(t - e->threads);
    mp_hashidx_remove(&e->thread_index, mp_hash_u64((uint64_t)tid), id);
    t->tid = 0;
    e->free_ids[e->n_free_ids++] = id;
}

static void threads_clear(struct mp_bpengine *e)
{
    mp_hashidx_free(&e->thread_index);
    mp_hashidx_init(&e->thread_index);
    e->n_threads = e->n_free_ids = 0;
}

/* ---- debug registers and INT3s ---- */

static long dr_offset(int i)
{
    return (long)(offsetof(struct user, u_debugreg) + (size_t)i * sizeof(long));
}

/* Writes the image's debug registers into one stopped thread. */
static int dr_write(struct mp_bpengine *e, pid_t tid)
{
    unsigned long dr7 = 0;
    if (ptrace(PTRACE_POKEUSER, tid, dr_offset(7), 0) != 0)
        return -1;
    for (int i = 0; i < e->n_dr; i++) {
        if (ptrace(PTRACE_POKEUSER, tid, dr_offset(i), e->dr_addr[i]) != 0)
            return -1;
        dr7 |= 1ul << (2 * i); /* local enable; R/W 00 (execute), LEN 00 */
    }
    return e->n_dr ? (int)ptrace(PTRACE_POKEUSER, tid, dr_offset(7), dr7) : 0;
}

static void dr_clear(pid_t tid)
{
    ptrace(PTRACE_POKEUSER, tid, dr_offset(7), 0);
    for (int i = 0; i < N_DEBUG_REGS; i++)
        ptrace(PTRACE_POKEUSER, tid, dr_offset(i), 0);
}

static int int3_insert(struct mp_bpengine *e, struct bp_site *s)
{
    uint8_t text[16] = { 0 };
    if (pread(e->mem_fd, text, sizeof text, (off_t)s->addr) < 1)
        return -1;
    uint8_t int3 = INT3;
    if (pwrite(e->mem_fd, &int3, 1, (off_t)s->addr) != 1)
        return -1;
    s->orig = text[0];
    mp_emu_decode(text, &s->emu);
    s->inserted = 1;
    return 0;
}

static void int3_remove(struct mp_bpengine *e, struct bp_site *s)
{
    if (s->inserted && pwrite(e->mem_fd, &s->orig, 1, (off_t)s->addr) == 1)
        s->inserted = 0;
}

/* ---- arming ---- */

static void disarm(struct mp_bpengine *e)
{
    if (e->mem_fd >= 0)
        close(e->mem_fd);
    e->mem_fd = -1;
    mp_remote_unwinder_free(e->unwinder);
    e->unwinder = NULL;
    memset(e->sites, 0, sizeof e->sites);
    memset(&e->loader_site, 0, sizeof e->loader_site);
    e->n_dr = 0;
    e->ret_trap = 0;
    e->stats.failed_reallocs += mp_bp_inproc_failed_reallocs(&e->inproc);
    mp_bp_inproc_reset(&e->inproc);
    e->stats.armed = 0;
    e->stats.hardware = 0;
    threads_clear(e);
}

static int open_mem(struct mp_bpengine *e, pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
    e->mem_fd = open(path, O_RDWR | O_CLOEXEC);
    if (e->mem_fd < 0) {
        snprintf(e->warning, sizeof e->warning, "the breakpoint engine cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Puts the allocator's breakpoints in place; the threads in tids[] are
 * stopped and get the debug registers. */
static int arm(struct mp_bpengine *e, const pid_t *tids, size_t n)
{
    struct mp_alloc_entries entries;
    char err[256];
    int rc = mp_bp_find_allocator(e->pid, e->mem_fd, &e->loader, &entries, err, sizeof err);
    if (rc != 0) {
        if (rc < 0)
            snprintf(e->warning, sizeof e->warning, "the breakpoint engine is off: %s", err);
        else
            snprintf(e->warning, sizeof e->warning,
                     "the breakpoint engine is off: no malloc and free in the program's symbol tables "
                     "(stripped static binary?): no heap data");
        return -1;
    }
    e->unwinder = mp_remote_unwinder_new(e->pid, err, sizeof err);
    if (!e->unwinder) {
        snprintf(e->warning, sizeof e->warning, "the breakpoint engine is off: %s", err);
        return -1;
    }
    snprintf(e->module, sizeof e->module, "%s", entries.module);
    for (int i = 0; i < MP_FN_COUNT; i++) {
        struct bp_site *s = &e->sites[i];
        s->addr = entries.addr[i];
        s->fn = i;
        s->hw_slot = -1;
        for (int k = 0; k < i && s->addr; k++)
            if (e->sites[k].addr == s->addr)
                s->addr = 0; /* an alias (aligned_alloc = memalign): the first name handles it */
        uint8_t text[16] = { 0 };
        if (s->addr && pread(e->mem_fd, text, sizeof text, (off_t)s->addr) > 0)
            mp_emu_decode(text, &s->emu);
    }
    /* free stops nothing when it can be detoured to the stub that records it */
    int free_detoured = 0;
    if (e->use_stubs && mp_bp_inproc_map(&e->inproc, e->ring, tids[0], e->mem_fd, e->sites[MP_FN_MALLOC].addr,
                                         e->sites[MP_FN_MALLOC].addr) == 0)
        free_detoured = mp_bp_inproc_detour_free(&e->inproc, e->mem_fd, e->sites[MP_FN_FREE].addr) == 0;
    /* Debug registers where the entry instruction cannot be emulated (no
     * stepping over it then), or for the hot entries with MEMPROF_BP_HW=1;
     * INT3 + emulation elsewhere: measured cheaper per hit here. */
    static const int hot[] = { MP_FN_MALLOC, MP_FN_FREE, MP_FN_CALLOC, MP_FN_REALLOC };
    e->n_dr = 0;
    for (size_t h = 0; h < sizeof hot / sizeof *hot; h++) {
        struct bp_site *s = &e->sites[hot[h]];
        if (s->addr && !(hot[h] == MP_FN_FREE && free_detoured) && (e->force_hw || !s->emu.kind) &&
            e->n_dr < N_DEBUG_REGS) {
            s->hw_slot = e->n_dr;
            e->dr_addr[e->n_dr++] = s->addr;
        }
    }
    for (size_t i = 0; i < n && e->n_dr; i++) {
        struct bp_thread *t = thread_get(e, tids[i]);
        if (dr_write(e, tids[i]) != 0) {
            /* no debug registers here (some hypervisors): INT3 everywhere */
            for (size_t k = 0; k <= i; k++)
                dr_clear(tids[k]);
            for (int f = 0; f < MP_FN_COUNT; f++)
                e->sites[f].hw_slot = -1;
            e->n_dr = 0;
            break;
        }
        if (t)
            t->dr_set = 1;
    }
    for (int i = 0; i < MP_FN_COUNT; i++) {
        struct bp_site *s = &e->sites[i];
        if (i == MP_FN_FREE && free_detoured)
            continue;
        if (s->addr && s->hw_slot < 0 && int3_insert(e, s) != 0) {
            snprintf(e->warning, sizeof e->warning, "the breakpoint engine is off: cannot write a breakpoint at "
                     "%s in %s: %s", mp_alloc_fn_name((enum mp_alloc_fn)i), e->module, strerror(errno));
            for (int k = 0; k < i; k++)
                int3_remove(e, &e->sites[k]);
            for (size_t k = 0; k < n; k++)
                dr_clear(tids[k]);
            e->n_dr = 0;
            return -1;
        }
    }
    e->ret_trap = e->sites[MP_FN_MALLOC].addr;
    e->stats.armed = 1;
    e->stats.hardware = e->n_dr;
    return 0;
}

struct mp_bpengine *mp_bpengine_new(struct mp_ring_reader *ring)
{
    struct mp_bpengine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->ring = ring;
    e->mem_fd = -1;
    mp_hashidx_init(&e->thread_index);
    const char *hw = getenv("MEMPROF_BP_HW");
    e->force_hw = hw && *hw && strcmp(hw, "0") != 0;
    return e;
}

int mp_bpengine_exec(struct mp_bpengine *e, pid_t pid)
{
    disarm(e);
    e->pid = pid;
    e->use_stubs = 1; /* the launched target inherited the ring's memfd */
    e->warning[0] = '\0';
    char err[256];
    if (open_mem(e, pid) != 0)
        return -1;
    if (mp_bp_find_loader(pid, &e->loader, err, sizeof err) != 0) {
        snprintf(e->warning, sizeof e->warning, "the breakpoint engine is off: %s", err);
        return -1;
    }
    /* Arm at a breakpoint stop, not at the exec stop itself (the kernel is
     * still returning from execve there: an injected system call would get
     * execve's result as its number).  Dynamic programs: when the loader
     * has mapped the libraries; static ones: at the entry point. */
    uint64_t arm_at = e->loader.debug_state;
    if (!arm_at && mp_proc_auxv(pid, AT_ENTRY, &arm_at) != 0) {
        snprintf(e->warning, sizeof e->warning, "the breakpoint engine is off: cannot read /proc/%d/auxv", (int)pid);
        return -1;
    }
    e->loader_site.addr = arm_at;
    e->loader_site.fn = -1;
    e->loader_site.hw_slot = -1;
    if (int3_insert(e, &e->loader_site) != 0) {
        snprintf(e->warning, sizeof e->warning, "the breakpoint engine is off: cannot write a breakpoint at "
                 "0x%llx (%s): %s", (unsigned long long)arm_at,
                 e->loader.debug_state ? "the loader's _dl_debug_state" : "the program's entry point",
                 strerror(errno));
        return -1;
    }
    return 0;
}

int mp_bpengine_attach(struct mp_bpengine *e, pid_t pid, const pid_t *tids, size_t n)
{
    disarm(e);
    e->pid = pid;
    e->use_stubs = 0; /* the process has no mapping of ours: every return comes through a trap */
    e->warning[0] = '\0';
    char err[256];
    if (open_mem(e, pid) != 0)
        return -1;
    if (mp_bp_find_loader(pid, &e->loader, err, sizeof err) != 0) {
        snprintf(e->warning, sizeof e->warning, "the breakpoint engine is off: %s", err);
        return -1;
    }
    return arm(e, tids, n);
}

void mp_bpengine_thread_stop(struct mp_bpengine *e, pid_t tid)
{
    if (!e || !e->stats.armed || !e->n_dr)
        return;
    struct bp_thread *t = thread_get(e, tid);
    if (t && !t->dr_set && dr_write(e, tid) == 0)
        t->dr_set = 1;
}

void mp_bpengine_thread_gone(struct mp_bpengine *e, pid_t tid)
{
    if (e)
        thread_forget(e, tid);
}

/* ---- hits ---- */

static void post(struct mp_bpengine *e, enum mp_event_kind kind, pid_t tid, uint64_t addr, uint64_t size,
                 const struct bp_thread *t)
{
    struct mp_event ev = { .kind = kind, .tid = (uint32_t)tid, .addr = addr, .size = size };
    if (t) {
        ev.nframes = t->nframes;
        ev.truncated = t->truncated;
        ev.frames = t->frames;
    }
    if (mp_ring_reader_post_heap(e->ring, &ev) == 0) {
        if (kind == MP_EV_ALLOC)
            e->stats.allocs++;
        else
            e->stats.frees++;
    }
}

/* The size an allocating call asks for, from its arguments; 0 with *skip
 * set when the call cannot succeed (reallocarray overflow). */
static uint64_t requested_size(int fn, const uint64_t *a, int *skip)
{
    uint64_t bytes;
    *skip = 0;
    switch (fn) {
    case MP_FN_CALLOC:
        return a[0] * a[1]; /* a successful calloc did not overflow */
    case MP_FN_REALLOC:
        return a[1];
    case MP_FN_REALLOCARRAY:
        if (__builtin_mul_overflow(a[1], a[2], &bytes))
            *skip = 1; /* fails with ENOMEM, the block untouched */
        return bytes;
    case MP_FN_POSIX_MEMALIGN:
        return a[2];
    case MP_FN_ALIGNED_ALLOC:
    case MP_FN_MEMALIGN:
        return a[1];
    default: /* malloc, valloc, pvalloc */
        return a[0];
    }
}

/* The thread came back from the call whose return address we replaced. */
static void on_return(struct mp_bpengine *e, struct bp_thread *t, struct user_regs_struct *regs)
{
    int skip;
    uint64_t size = requested_size(t->fn, t->args, &skip), block = regs->rax;
    if (t->fn == MP_FN_POSIX_MEMALIGN) {
        block = 0;
        if ((int)regs->rax == 0 && pread(e->mem_fd, &block, sizeof block, (off_t)t->args[0]) != sizeof block)
            block = 0;
    }
    if (block)
        post(e, MP_EV_ALLOC, t->tid, block, size, t);
    else if ((t->fn == MP_FN_REALLOC || t->fn == MP_FN_REALLOCARRAY) && t->args[0] && size)
        e->stats.failed_reallocs++;
    t->pending = 0;
    regs->rip = t->ret;
}

/* An entry: record what can be recorded now, replace the return address
 * when the result is needed. */
/* Is the thread still inside the allocator call we saw it enter? */
static int call_open(struct mp_bpengine *e, struct bp_thread *t)
{
    if (!t->pending)
        return 0;
    if (t->slot < 0)
        return 1; /* its return comes through a trap: pending until then */
    const struct mp_stub_slot *k = &e->inproc.slots[t->slot];
    if (__atomic_load_n(&k->busy, __ATOMIC_ACQUIRE) && k->entry_sp == t->entry_sp && k->tid == (uint32_t)t->tid)
        return 1;
    t->pending = 0; /* the stub ran: the call is over */
    return 0;
}

/* An entry: record what can be recorded now, replace the return address
 * when the result is needed.  When the entry is an INT3 on a push, the push
 * is carried out with the same write (one pwrite of 16 bytes): returns 1,
 * and the caller only moves rsp and rip on. */
static int on_entry(struct mp_bpengine *e, struct bp_thread *t, const struct bp_site *site,
                    const struct user_regs_struct *regs)
{
    int fn = site->fn;
    if (call_open(e, t)) {
        /* below the open call's frame: realloc calling malloc; at the same
         * stack pointer: a tail call (reallocarray jumps to realloc), whose
         * return address is already ours.  The outer call records. */
        if (regs->rsp <= t->entry_sp) {
            e->stats.nested++;
            return 0;
        }
        e->stats.abandoned++; /* the earlier call was left without returning (longjmp) */
        if (t->slot >= 0)
            __atomic_store_n(&e->inproc.slots[t->slot].busy, 0, __ATOMIC_RELEASE);
        t->pending = 0;
    }
    uint64_t a[3] = { regs->rdi, regs->rsi, regs->rdx };
    if (fn == MP_FN_FREE) {
        if (a[0])
            post(e, MP_EV_FREE, t->tid, a[0], 0, NULL);
        return 0;
    }
    int skip;
    uint64_t size = requested_size(fn, a, &skip);
    if (skip)
        return 0;
    int realloc_of_block = (fn == MP_FN_REALLOC || fn == MP_FN_REALLOCARRAY) && a[0];
    if (realloc_of_block) {
        post(e, MP_EV_FREE, t->tid, a[0], 0, NULL); /* before the memory can be reused */
        if (size == 0)
            return 0; /* realloc(p, 0) frees p and returns NULL */
    }
    /* posix_memalign's result is behind a pointer: its return comes back through a trap */
    int slot = fn == MP_FN_POSIX_MEMALIGN ? -1 : mp_bp_inproc_take_slot(&e->inproc);
    uint64_t *frames = slot >= 0 ? e->inproc.slots[slot].frames : t->frames;
    uint32_t truncated = 0;
    int n = mp_remote_unwind_at_entry(e->unwinder, regs->rsp, regs->rbp, frames, MP_MAX_FRAMES, &truncated);
    uint64_t hijack = slot >= 0 ? mp_bp_inproc_ret_stub(&e->inproc, slot) : e->ret_trap;
    if (n <= 0) {
        e->stats.unreadable++;
        return 0;
    }
    if (slot >= 0) {
        struct mp_stub_slot *k = &e->inproc.slots[slot];
        k->ret = frames[0];
        k->size = size;
        k->tid = (uint32_t)t->tid;
        k->count_fail = realloc_of_block;
        k->nframes = (uint32_t)n;
        k->truncated = truncated;
        k->entry_sp = regs->rsp;
        __atomic_store_n(&k->busy, 1, __ATOMIC_RELEASE);
    }
    uint64_t words[2];
    int merged = site->inserted && mp_emu_push_value(&site->emu, regs, &words[0]);
    words[1] = hijack;
    ssize_t want = merged ? 16 : 8;
    if (pwrite(e->mem_fd, merged ? words : &words[1], (size_t)want, (off_t)(regs->rsp - (merged ? 8 : 0))) != want) {
        if (slot >= 0)
            __atomic_store_n(&e->inproc.slots[slot].busy, 0, __ATOMIC_RELEASE);
        e->stats.unreadable++;
        return 0;
    }
    t->nframes = (uint32_t)n;
    t->truncated = truncated;
    t->ret = frames[0];
    t->entry_sp = regs->rsp;
    t->fn = (uint8_t)fn;
    t->slot = (int16_t)slot;
    memcpy(t->args, a, sizeof a);
    t->pending = 1;
    return merged;
}

/* _dl_debug_state: arm once the link map is consistent. */
static void on_loader(struct mp_bpengine *e, pid_t tid)
{
    if (e->loader.debug_state && !mp_bp_link_map_consistent(e->mem_fd, &e->loader))
        return;
    int3_remove(e, &e->loader_site);
    arm(e, &tid, 1);
}

static struct bp_site *site_at(struct mp_bpengine *e, uint64_t rip, int hw)
{
    for (int i = 0; i < MP_FN_COUNT; i++) {
        struct bp_site *s = &e->sites[i];
        if (s->addr && (hw ? s->hw_slot >= 0 && s->addr == rip : s->inserted && s->addr + 1 == rip))
            return s;
    }
    if (!hw && e->loader_site.inserted && e->loader_site.addr + 1 == rip)
        return &e->loader_site;
    return NULL;
}

int mp_bpengine_on_trap(struct mp_bpengine *e, pid_t tid)
{
    if (!e || e->mem_fd < 0)
        return 0;
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, tid, 0, &regs) != 0)
        return 0;
    /* rip just past one of our INT3s: it was that INT3 (what else would
     * leave rip there), no need to ask for the siginfo on the hot path */
    struct bp_site *s = site_at(e, regs.rip, 0);
    if (!s && e->n_dr) {
        siginfo_t si;
        if (ptrace(PTRACE_GETSIGINFO, tid, 0, &si) == 0 && si.si_code == TRAP_HWBKPT)
            s = site_at(e, regs.rip, 1);
    }
    if (!s)
        return 0;
    e->stats.traps++;
    struct bp_thread *t = thread_get(e, tid);
    int changed = 0;
    if (s->fn < 0) {
        on_loader(e, tid);
    } else if (t && t->pending && t->slot < 0 && s->addr == e->ret_trap && regs.rsp == t->entry_sp + 8) {
        on_return(e, t, &regs);
        changed = 1;
    } else if (t && on_entry(e, t, s, &regs)) {
        regs.rsp -= 8; /* the push under the INT3 was written with the return address */
        regs.rip = s->addr + s->emu.len;
        e->stats.emulated++;
        if (ptrace(PTRACE_SETREGS, tid, 0, &regs) == 0)
            ptrace(PTRACE_CONT, tid, 0, 0);
        return 1;
    }
    if (changed || s->hw_slot >= 0) {
        /* a return goes on at the real return address; a debug-register hit
         * resumes at the entry (the kernel set RF: it does not trap again) */
        if (changed && ptrace(PTRACE_SETREGS, tid, 0, &regs) != 0)
            return 1; /* gone: the supervisor reaps it */
        ptrace(PTRACE_CONT, tid, 0, 0);
        return 1;
    }
    /* an INT3 entry: carry out the instruction under it, or step over it */
    regs.rip = s->addr;
    if (s->inserted && s->emu.kind) {
        struct user_regs_struct after = regs;
        if (mp_emu_execute(&s->emu, &after, e->mem_fd) == 0 && ptrace(PTRACE_SETREGS, tid, 0, &after) == 0) {
            e->stats.emulated++;
            ptrace(PTRACE_CONT, tid, 0, 0);
            return 1;
        }
    }
    if (ptrace(PTRACE_SETREGS, tid, 0, &regs) != 0)
        return 1;
    if (!s->inserted) { /* the loader's breakpoint, just removed */
        ptrace(PTRACE_CONT, tid, 0, 0);
        return 1;
    }
    e->stats.stepped++;
    if (mp_step_over(e->pid, tid, e->mem_fd, s->addr, s->orig, &e->stats.lost_stops) != MP_STEP_DONE)
        thread_forget(e, tid);
    return 1;
}

int mp_bpengine_clean_child(struct mp_bpengine *e, pid_t child)
{
    if (!e || e->mem_fd < 0)
        return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)child);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = 0;
    struct bp_site *all[MP_FN_COUNT + 1];
    for (int i = 0; i < MP_FN_COUNT; i++)
        all[i] = &e->sites[i];
    all[MP_FN_COUNT] = &e->loader_site;
    for (int i = 0; i <= MP_FN_COUNT; i++)
        if (all[i]->inserted && pwrite(fd, &all[i]->orig, 1, (off_t)all[i]->addr) != 1)
            rc = -1;
    if (mp_bp_inproc_clean_child(&e->inproc, fd) != 0)
        rc = -1;
    close(fd);
    return rc;
}

int mp_bpengine_detach(struct mp_bpengine *e, const pid_t *tids, size_t n)
{
    if (!e || e->mem_fd < 0)
        return 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct bp_thread *t = thread_find(e, tids[i]);
        if (t && t->pending) {
            struct user_regs_struct regs;
            if (ptrace(PTRACE_GETREGS, tids[i], 0, &regs) != 0) {
                rc = -1;
                continue;
            }
            if (regs.rip == e->ret_trap && regs.rsp == t->entry_sp + 8) {
                /* stopped on the return itself, before the breakpoint fired */
                on_return(e, t, &regs);
                if (ptrace(PTRACE_SETREGS, tids[i], 0, &regs) != 0)
                    rc = -1;
            } else if (pwrite(e->mem_fd, &t->ret, sizeof t->ret, (off_t)t->entry_sp) != sizeof t->ret) {
                rc = -1;
            } else {
                e->stats.abandoned++; /* the call ends after memprof left */
                t->pending = 0;
            }
        }
        if (e->n_dr)
            dr_clear(tids[i]);
    }
    for (int i = 0; i < MP_FN_COUNT; i++)
        int3_remove(e, &e->sites[i]);
    int3_remove(e, &e->loader_site);
    for (int i = 0; i < MP_FN_COUNT; i++)
        if (e->sites[i].inserted)
            rc = -1;
    if (rc)
        snprintf(e->warning, sizeof e->warning,
                 "memprof could not restore everything in process %d before detaching", (int)e->pid);
    disarm(e);
    return rc;
}

void mp_bpengine_stats(const struct mp_bpengine *e, struct mp_bpengine_stats *out)
{
    *out = e->stats;
    out->failed_reallocs += mp_bp_inproc_failed_reallocs(&e->inproc);
}

const char *mp_bpengine_module(const struct mp_bpengine *e)
{
    return e->module[0] ? e->module : NULL;
}

const char *mp_bpengine_warning(const struct mp_bpengine *e)
{
    return e->warning[0] ? e->warning : NULL;
}

void mp_bpengine_free(struct mp_bpengine *e)
{
    if (!e)
        return;
    disarm(e);
    mp_hashidx_free(&e->thread_index);
    free(e->threads);
    free(e->free_ids);
    free(e);
}
