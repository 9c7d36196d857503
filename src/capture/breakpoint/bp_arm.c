/* memprof: the breakpoint engine's arming (see bpengine.h): debug
 * registers and INT3s, starting on a new image or process, finding the
 * allocator and putting the breakpoints (and the in-target stubs) in
 * place.  Uses the thread table (bp_threads.c); bpengine.c uses it. */
#define _GNU_SOURCE
#include "bpengine_internal.h"
#include "bp_alias.h"
#include "bp_guard.h"
#include "bp_leave.h"
#include "inject.h"
#include "supervise/procfs.h"
#include "remote_unwind.h"
#include "events/ring_reader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <unistd.h>

/* ---- debug registers and INT3s ---- */

static long dr_offset(int i)
{
    return (long)(offsetof(struct user, u_debugreg) + (size_t)i * sizeof(long));
}

/* Writes the image's debug registers into one stopped thread. */
int bp_dr_write(struct mp_bpengine *e, pid_t tid)
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

void bp_dr_clear(pid_t tid)
{
    ptrace(PTRACE_POKEUSER, tid, dr_offset(7), 0);
    for (int i = 0; i < N_DEBUG_REGS; i++)
        ptrace(PTRACE_POKEUSER, tid, dr_offset(i), 0);
}

int bp_int3_insert(struct mp_bpengine *e, struct bp_site *s)
{
    uint8_t text[16] = { 0 };
    if (pread(e->mem_fd, text, sizeof text, (off_t)s->addr) < 1)
        return -1;
    if (text[0] == INT3) { /* someone else's breakpoint: its byte is unknown */
        errno = EEXIST;
        return -1;
    }
    uint8_t int3 = INT3;
    if (pwrite(e->mem_fd, &int3, 1, (off_t)s->addr) != 1)
        return -1;
    s->orig = text[0];
    mp_emu_decode(text, &s->emu);
    s->inserted = 1;
    return 0;
}

void bp_int3_remove(struct mp_bpengine *e, struct bp_site *s)
{
    if (!s->inserted)
        return;
    if (s->stub ? pwrite(e->mem_fd, s->saved, s->patch_len, (off_t)s->addr) == s->patch_len
                : pwrite(e->mem_fd, &s->orig, 1, (off_t)s->addr) == 1)
        s->inserted = 0;
}

/* How fast entry of function fn reads its arguments (bp_stubs.h). */
static int site_kind(int fn)
{
    if (bp_fn_is_new(fn))
        return bp_fn_is_new(fn) > 1 ? MP_SITE_NEW_NOTHROW : MP_SITE_NEW;
    if (fn >= MP_FN_DELETE && fn <= MP_FN_DELETE_ARRAY_ALIGNED_NOTHROW)
        return MP_SITE_FREE_CALL;
    switch (fn) {
    case MP_FN_MALLOC:
        return MP_SITE_MALLOC;
    case MP_FN_VALLOC:
    case MP_FN_PVALLOC:
    case MP_FN_MALLOCX:
        return MP_SITE_ARG0;
    case MP_FN_CALLOC:
        return MP_SITE_CALLOC;
    case MP_FN_REALLOC:
    case MP_FN_RALLOCX:
        return MP_SITE_REALLOC;
    case MP_FN_REALLOCARRAY:
        return MP_SITE_REALLOCARRAY;
    case MP_FN_ALIGNED_ALLOC:
    case MP_FN_MEMALIGN:
        return MP_SITE_ARG1;
    case MP_FN_POSIX_MEMALIGN:
        return MP_SITE_POSIX_MEMALIGN;
    case MP_FN_XALLOCX:
        return MP_SITE_XALLOCX;
    case MP_FN_FREE: /* (when its entry is not glibc's, which free's own stub takes) */
        return MP_SITE_FREE;
    case MP_FN_SDALLOCX:
    case MP_FN_DALLOCX:
        return MP_SITE_FREE_CALL;
    case MP_FN_MMAP:
    case MP_FN_MMAP64:
    case MP_FN_MUNMAP:
    case MP_FN_MREMAP:
    case MP_FN_BRK:
    case MP_FN_SBRK:
        return MP_SITE_MAPPED;
    case MP_FN_CXA_THROW:
        return MP_SITE_THROW;
    default:
        return MP_SITE_TRAP;
    }
}

int bp_detour_insert(struct mp_bpengine *e, struct bp_site *s, const pid_t *tids, size_t n)
{
    uint8_t text[32];
    size_t len;
    if (pread(e->mem_fd, text, sizeof text, (off_t)s->addr) != (ssize_t)sizeof text || text[0] == INT3)
        return -1;
    uint64_t stub = mp_bp_guard_entry_stub(&e->inproc, s->addr, text, sizeof text, &len);
    /* through the fast entry, which stops only for stacks it does not know */
    uint64_t to = stub && e->inproc.shapes_local ? mp_bp_inproc_fast_site(&e->inproc, stub, site_kind(s->fn)) : stub;
    int64_t rel = (int64_t)(to - (s->addr + 5));
    if (!stub || !to || rel != (int32_t)rel || len > sizeof s->saved)
        return -1;
    /* nobody may be, or come back, inside the bytes the jump covers: a
     * thread there is stepped out; a signal handler that will return there
     * returns to the same place in the copy */
    struct mp_addr_range inside = { s->addr + 1, s->addr + len };
    if (mp_step_out_of(e->pid, tids, n, &inside, 1, 64) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct mp_sigframe f[8];
        int nf = mp_find_signal_frames(e->pid, tids[i], &inside, 1, f, 8);
        if (nf < 0)
            return -1;
        for (int k = 0; k < nf; k++) {
            uint64_t to = mp_bp_inproc_exit(&e->inproc, stub + 1 + (f[k].rip - s->addr), 0, 0);
            if (to != f[k].rip) /* the copy does not map it one to one */
                return -1;
            to = stub + 1 + (f[k].rip - s->addr);
            if (pwrite(e->mem_fd, &to, sizeof to, (off_t)f[k].rip_at) != (ssize_t)sizeof to)
                return -1;
        }
    }
    uint8_t patch[sizeof s->saved];
    int32_t rel32 = (int32_t)rel;
    memset(patch, INT3, sizeof patch); /* the bytes after the jump are never run */
    patch[0] = 0xe9;
    memcpy(patch + 1, &rel32, sizeof rel32);
    memcpy(s->saved, text, len);
    if (pwrite(e->mem_fd, patch, len, (off_t)s->addr) != (ssize_t)len)
        return -1;
    s->orig = text[0];
    mp_emu_decode(text, &s->emu);
    s->patch_len = (uint8_t)len;
    s->stub = stub;
    s->inserted = 1;
    return 0;
}

/* ---- arming ---- */

void bp_disarm(struct mp_bpengine *e)
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
    e->n_client_hooks = 0;
    bp_threads_clear(e);
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

/* Sites that would count a call twice: another name at the same address
 * (aligned_alloc = memalign; tcmalloc's operator delete = free), or an
 * entry that only jumps on to another site (libstdc++'s operator delete is
 * `jmp free@plt`).  The site the call reaches records it. */
static void drop_aliases(struct mp_bpengine *e, const struct mp_alloc_entries *entries)
{
    uint64_t reaches[MP_FN_COUNT] = { 0 };
    for (int i = 0; i < MP_FN_COUNT; i++) {
        struct bp_site *s = &e->sites[i];
        for (int k = 0; k < i && s->addr; k++)
            if (e->sites[k].addr == s->addr)
                s->addr = 0;
        uint64_t at = i == MP_FN_MALLOC ? 0 : s->addr; /* malloc stays: returns trap there */
        for (int hops = 0; at && hops < 4; hops++) {
            at = mp_bp_forwards_to(e->mem_fd, entries, at);
            for (int k = 0; k < MP_FN_COUNT && at; k++)
                if (k != i && entries->addr[k] == at) {
                    reaches[i] = at;
                    break;
                }
            if (reaches[i])
                break;
        }
    }
    for (int i = 0; i < MP_FN_COUNT; i++)
        if (reaches[i])
            e->sites[i].addr = 0;
    e->stats.aliases = 0;
    for (int i = 0; i < MP_FN_COUNT; i++)
        e->stats.aliases += entries->addr[i] && !e->sites[i].addr;
}

/* Puts the allocator's breakpoints in place; the threads in tids[] are
 * stopped and get the debug registers. */
int bp_arm(struct mp_bpengine *e, const pid_t *tids, size_t n)
{
    struct mp_alloc_entries entries;
    char err[256];
    e->unguarded = 0;
    int rc = mp_bp_find_allocator(e->pid, e->mem_fd, &e->loader, &entries, err, sizeof err);
    if (rc != 0) {
        mp_alloc_entries_free(&entries);
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
        mp_alloc_entries_free(&entries);
        snprintf(e->warning, sizeof e->warning, "the breakpoint engine is off: %s", err);
        return -1;
    }
    snprintf(e->module, sizeof e->module, "%s", entries.module);
    memcpy(e->allocator_text, entries.allocator_text, sizeof e->allocator_text);
    e->n_allocator_text = entries.n_allocator_text;
    memcpy(e->libc_text, entries.libc_text, sizeof e->libc_text);
    e->n_libc_text = entries.n_libc_text;
    e->curbrk = entries.curbrk;
    for (int i = 0; i < MP_FN_COUNT; i++) {
        struct bp_site *s = &e->sites[i];
        s->addr = i >= MP_FN_FIRST_MAPPED && i < MP_FN_CXA_THROW && !e->mmap ? 0 : entries.addr[i];
        s->fn = i;
        s->hw_slot = -1;
    }
    drop_aliases(e, &entries);
    mp_alloc_entries_free(&entries);
    for (int i = 0; i < MP_FN_COUNT; i++) {
        struct bp_site *s = &e->sites[i];
        uint8_t text[16] = { 0 };
        if (s->addr && pread(e->mem_fd, text, sizeof text, (off_t)s->addr) > 0)
            mp_emu_decode(text, &s->emu);
    }
    /* Injected system calls borrow 3 bytes of text: in an attached process
     * the program's entry point (_start never runs again), so that if
     * memprof died half-way no thread would meet them in malloc. */
    e->scratch = e->sites[MP_FN_MALLOC].addr;
    uint64_t entry, probe;
    if (e->attached && mp_proc_auxv(e->pid, AT_ENTRY, &entry) == 0 &&
        pread(e->mem_fd, &probe, sizeof probe, (off_t)entry) == (ssize_t)sizeof probe)
        e->scratch = entry;
    /* free stops nothing when it can be detoured to the stub that records it */
    int free_detoured = 0;
    uint64_t free_addr = e->sites[MP_FN_FREE].addr;
    mp_inject_clear_failure();
    int mapped = e->use_stubs && mp_bp_inproc_map(&e->inproc, e->ring, e->pid, tids[0], e->mem_fd, e->scratch,
                                                  e->sites[MP_FN_MALLOC].addr, !e->attached,
                                                  e->attached ? free_addr : 0) == 0;
    if (e->use_stubs && !mapped && mp_inject_failure()) {
        /* nothing is armed yet: the process is left as it was */
        snprintf(e->warning, sizeof e->warning, "the breakpoint engine is off: %s", mp_inject_failure());
        return -1;
    }
    if (mapped) {
        if (e->attached)
            mp_bp_guard_install(&e->inproc, tids[0], e->mem_fd, e->scratch);
        free_detoured = mp_bp_inproc_detour_free(&e->inproc, e->mem_fd, free_addr, e->pid, e->attached ? tids : NULL,
                                                 e->attached ? n : 0) == 0;
    }
    bp_client_arm(e, &entries);
    /* Entries jump to fast entries (bp_shapes.h), so that a call from a
     * stack seen before is recorded without a stop (MEMPROF_BP_FAST=0:
     * every call stops, as before), and on to stubs of their own
     * (bp_guard.h): an INT3 and a copy of the entry's instructions, so that
     * a thread stopped there when memprof dies resumes right.  Attached,
     * the detach makes the fast entries unreachable, then moves every
     * thread and every signal frame out of the stubs before they go
     * (bpengine.c: mp_bpengine_detach). */
    const char *fast = getenv("MEMPROF_BP_FAST");
    int want_fast = !(fast && strcmp(fast, "0") == 0);
    if (e->inproc.remote && want_fast)
        mp_bp_inproc_enable_fast(&e->inproc);
    for (int i = 0; i < MP_FN_COUNT && (e->attached || e->inproc.shapes_local) && e->inproc.remote; i++) {
        struct bp_site *s = &e->sites[i];
        if (s->addr && !(i == MP_FN_FREE && free_detoured))
            bp_detour_insert(e, s, tids, n);
    }
    /* Debug registers where the entry instruction cannot be emulated (no
     * stepping over it then), or for the hot entries with MEMPROF_BP_HW=1;
     * INT3 + emulation elsewhere: measured cheaper per hit here. */
    static const int hot[] = { MP_FN_MALLOC, MP_FN_FREE, MP_FN_CALLOC, MP_FN_REALLOC };
    e->n_dr = 0;
    for (size_t h = 0; h < sizeof hot / sizeof *hot; h++) {
        struct bp_site *s = &e->sites[hot[h]];
        if (s->addr && !s->stub && !(hot[h] == MP_FN_FREE && free_detoured) && (e->force_hw || !s->emu.kind) &&
            e->n_dr < N_DEBUG_REGS) {
            s->hw_slot = e->n_dr;
            e->dr_addr[e->n_dr++] = s->addr;
        }
    }
    for (size_t i = 0; i < n && e->n_dr; i++) {
        struct bp_thread *t = bp_thread_get(e, tids[i]);
        if (bp_dr_write(e, tids[i]) != 0) {
            /* no debug registers here (some hypervisors): INT3 everywhere */
            for (size_t k = 0; k <= i; k++)
                bp_dr_clear(tids[k]);
            for (int f = 0; f < MP_FN_COUNT; f++)
                e->sites[f].hw_slot = -1;
            e->n_dr = 0;
            break;
        }
        if (t)
            t->dr_set = 1;
    }
    /* attached: if memprof dies, its SIGTRAP handler carries out what is
     * under each breakpoint (known to it before any breakpoint goes in) */
    for (int i = 0; i < MP_FN_COUNT && e->inproc.guarded; i++) {
        struct bp_site *s = &e->sites[i];
        uint8_t text[16] = { 0 };
        if (!s->addr || s->stub || (i == MP_FN_FREE && free_detoured))
            continue;
        if (pread(e->mem_fd, text, sizeof text, (off_t)s->addr) < 1) {
            e->unguarded++;
            continue;
        }
        if (mp_bp_guard_site(&e->inproc, s->addr, text, &s->emu, s->hw_slot >= 0) != 0)
            e->unguarded++;
    }
    for (int i = 0; i < MP_FN_COUNT; i++) {
        struct bp_site *s = &e->sites[i];
        if ((i == MP_FN_FREE && free_detoured) || s->stub)
            continue;
        if (s->addr && s->hw_slot < 0 && bp_int3_insert(e, s) != 0) {
            if (errno == EEXIST)
                snprintf(e->warning, sizeof e->warning, "the breakpoint engine is off: %s in %s already starts "
                         "with a breakpoint instruction (another debugger's, or one left by a killed tracer)",
                         mp_alloc_fn_name((enum mp_alloc_fn)i), e->module);
            else
                snprintf(e->warning, sizeof e->warning, "the breakpoint engine is off: cannot write a breakpoint "
                         "at %s in %s: %s", mp_alloc_fn_name((enum mp_alloc_fn)i), e->module, strerror(errno));
            for (int k = 0; k < i; k++)
                bp_int3_remove(e, &e->sites[k]);
            for (size_t k = 0; k < n; k++)
                bp_dr_clear(tids[k]);
            e->n_dr = 0;
            return -1;
        }
    }
    e->stats.plain_entries = 0;
    for (int i = 0; i < MP_FN_COUNT && e->attached; i++)
        e->stats.plain_entries += e->sites[i].addr && !e->sites[i].stub && !(i == MP_FN_FREE && free_detoured);
    /* a return through a trap: malloc's breakpoint (its stub's INT3 when
     * the entry jumps to one, never through a fast entry) */
    e->ret_trap = e->sites[MP_FN_MALLOC].stub ? e->sites[MP_FN_MALLOC].stub : e->sites[MP_FN_MALLOC].addr;
    e->stats.armed = 1;
    e->stats.was_armed = 1;
    e->stats.hardware = e->n_dr;
    return 0;
}

/* A new image or process: forget the old one, open its memory, find its
 * loader.  0, or -1 with the warning set. */
int bp_begin(struct mp_bpengine *e, pid_t pid)
{
    bp_disarm(e);
    e->stats.was_armed = 0;
    e->pid = pid;
    e->use_stubs = !e->no_stubs; /* launched: the target inherited the ring's memfd; attached: through /proc */
    e->warning[0] = '\0';
    char err[256];
    if (open_mem(e, pid) != 0)
        return -1;
    if (mp_bp_find_loader(pid, &e->loader, err, sizeof err) != 0) {
        snprintf(e->warning, sizeof e->warning, "the breakpoint engine is off: %s", err);
        return -1;
    }
    return 0;
}
