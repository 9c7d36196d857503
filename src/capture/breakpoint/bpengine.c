/* memprof: the breakpoint engine (see bpengine.h): its life (new, exec,
 * attach, threads, free) and its hits (entries, returns).  Arming is
 * bp_arm.c, the thread table bp_threads.c, leaving a process as it was
 * (detach, a fork child) bp_detach.c.
 *
 * An entry costs one stop of the thread that hit: PTRACE_GETREGS, the stack
 * read with one process_vm_readv and unwound by the cached CFI rules of
 * remote_unwind.c, one write for the replaced return address (with the
 * push under the INT3, when there is one), SETREGS, PTRACE_CONT.  With the
 * in-target stubs (bp_inproc.h) the return and free cost no stop; without
 * them (attached processes) each costs one more: GETREGS, SETREGS, CONT. */
#define _GNU_SOURCE
#include "bpengine.h"
#include "bpengine_internal.h"
#include "bp_guard.h"
#include "bp_shapes.h"
#include "supervise/procfs.h"
#include "remote_unwind.h"
#include "capture/python/py_remote.h"
#include "events/ring_reader.h"
#include "capture/trap/stepover.h"

#include <dirent.h>
#include <elf.h>
#include <link.h>
#include <sys/wait.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <unistd.h>

#ifndef TRAP_HWBKPT
#define TRAP_HWBKPT 4
#endif

/* ---- life of the engine ---- */

/* The supervisor thread waits for room in the ring: a thread of the target
 * may hold a ring position in a stub while it sits in a signal-delivery
 * stop, which only this thread can end.  Pass such signals on, as the
 * supervisor would (stops of other kinds stay for its loop). */
static void release_signal_stops(void *ctx)
{
    struct mp_bpengine *e = ctx;
    if (e->pid <= 0)
        return;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)e->pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        pid_t tid = (pid_t)atoi(de->d_name);
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (tid <= 0 || waitid(P_PID, (id_t)tid, &si, WSTOPPED | WNOHANG | WNOWAIT | __WALL) != 0 ||
            si.si_pid != tid || si.si_code != CLD_TRAPPED)
            continue;
        int sig = si.si_status;
        if ((sig & ~0x7f) || sig == SIGTRAP || sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
            continue; /* an event, a breakpoint, job control: the supervisor's */
        int status;
        if (waitpid(tid, &status, WNOHANG | __WALL) == tid && WIFSTOPPED(status))
            ptrace(PTRACE_CONT, tid, 0, (status >> 16) == 0 ? WSTOPSIG(status) : 0);
    }
    closedir(d);
}

struct mp_bpengine *mp_bpengine_new(struct mp_ring_reader *ring)
{
    struct mp_bpengine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->ring = ring;
    mp_ring_reader_set_waiter(ring, release_signal_stops, e);
    e->mem_fd = -1;
    mp_hashidx_init(&e->thread_index);
    const char *hw = getenv("MEMPROF_BP_HW");
    e->force_hw = hw && *hw && strcmp(hw, "0") != 0;
    return e;
}

void mp_bpengine_set_mmap(struct mp_bpengine *e, int on)
{
    e->mmap = on;
}

int mp_bpengine_exec(struct mp_bpengine *e, pid_t pid)
{
    if (bp_begin(e, pid) != 0)
        return -1;
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
    if (bp_int3_insert(e, &e->loader_site) != 0) {
        snprintf(e->warning, sizeof e->warning, "the breakpoint engine is off: cannot write a breakpoint at "
                 "0x%llx (%s): %s", (unsigned long long)arm_at,
                 e->loader.debug_state ? "the loader's _dl_debug_state" : "the program's entry point",
                 strerror(errno));
        return -1;
    }
    return 0;
}

void mp_bpengine_set_stubs(struct mp_bpengine *e, int allowed)
{
    e->no_stubs = !allowed;
}

int mp_bpengine_start_forked(struct mp_bpengine *e, pid_t pid)
{
    e->no_stubs = 1; /* the parent's stubs are shared memory: this copy must not use them */
    if (bp_begin(e, pid) != 0)
        return -1;
    return bp_arm(e, &pid, 1);
}

int mp_bpengine_attach(struct mp_bpengine *e, pid_t pid, const pid_t *tids, size_t n)
{
    e->attached = 1; /* everything is undone at detach; the ring is opened through /proc */
    if (bp_begin(e, pid) != 0 || bp_arm(e, tids, n) != 0)
        return -1;
    /* dlopen and dlclose from now on pass the loader's breakpoint (on_loader) */
    if (e->loader.debug_state) {
        struct bp_site *s = &e->loader_site;
        uint8_t text[16] = { 0 };
        s->addr = e->loader.debug_state;
        s->fn = -1;
        s->hw_slot = -1;
        e->loader_state = mp_bp_link_map_state(e->mem_fd, &e->loader);
        if (pread(e->mem_fd, text, sizeof text, (off_t)s->addr) > 0) {
            mp_emu_decode(text, &s->emu);
            /* a jump to a stub; else only a breakpoint memprof's SIGTRAP handler can carry out */
            if (bp_detour_insert(e, s, tids, n) != 0 &&
                (!e->inproc.guarded || mp_bp_guard_site(&e->inproc, s->addr, text, &s->emu, 0) == 0))
                bp_int3_insert(e, s);
        }
    }
    return 0;
}

void mp_bpengine_leaving(struct mp_bpengine *e)
{
    if (e)
        e->leaving = 1;
}

void mp_bpengine_thread_stop(struct mp_bpengine *e, pid_t tid)
{
    if (!e || !e->stats.armed || !e->n_dr)
        return;
    struct bp_thread *t = bp_thread_get(e, tid);
    if (t && !t->dr_set && bp_dr_write(e, tid) == 0)
        t->dr_set = 1;
}

void mp_bpengine_thread_gone(struct mp_bpengine *e, pid_t tid)
{
    if (e)
        bp_thread_forget(e, tid);
}

uint64_t mp_bpengine_mapped_bytes(const struct mp_bpengine *e)
{
    return e && e->inproc.remote ? e->inproc.ring_bytes : 0;
}

void mp_bpengine_stats(const struct mp_bpengine *e, struct mp_bpengine_stats *out)
{
    *out = e->stats;
    out->failed_reallocs += mp_bp_inproc_failed_reallocs(&e->inproc);
    out->fast += mp_bp_inproc_fast_calls(&e->inproc);
    out->fast_passed += mp_bp_inproc_fast_passed(&e->inproc);
    out->shapes += e->inproc.shapes_local ? e->inproc.n_shapes : 0;
}

const char *mp_bpengine_warning(const struct mp_bpengine *e)
{
    return e->warning[0] ? e->warning : NULL;
}

void mp_bpengine_free(struct mp_bpengine *e)
{
    if (!e)
        return;
    bp_disarm(e);
    mp_hashidx_free(&e->thread_index);
    free(e->threads);
    free(e->free_ids);
    free(e);
}

void mp_bpengine_set_python(struct mp_bpengine *e, struct mp_py_remote *python)
{
    if (e)
        e->python = python;
}

/* ---- hits ---- */

void bp_post(struct mp_bpengine *e, enum mp_event_kind kind, pid_t tid, uint64_t addr, uint64_t size,
             const struct bp_thread *t)
{
    struct mp_event ev = { .kind = kind, .tid = (uint32_t)tid, .pid = (uint32_t)e->pid, .addr = addr, .size = size };
    if (t) {
        ev.nframes = t->nframes;
        ev.truncated = t->truncated;
        ev.frames = t->frames;
    }
    if (mp_ring_reader_post_heap(e->ring, &ev) == 0) {
        if (kind == MP_EV_ALLOC)
            e->stats.allocs++;
        else if (kind == MP_EV_FREE)
            e->stats.frees++;
    }
}

/* A free (or the free half of a realloc) at an allocator's entry: its one
 * frame is the return address on top of the stack, the line that called. */
static void post_free_at(struct mp_bpengine *e, pid_t tid, uint64_t block, const uint64_t *site)
{
    struct mp_event ev = { .kind = MP_EV_FREE, .tid = (uint32_t)tid, .pid = (uint32_t)e->pid, .addr = block,
                           .nframes = site != NULL, .frames = site };
    if (mp_ring_reader_post_heap(e->ring, &ev) == 0)
        e->stats.frees++;
}

static void post_free(struct mp_bpengine *e, pid_t tid, uint64_t block, uint64_t sp)
{
    uint64_t site;
    int have = pread(e->mem_fd, &site, sizeof site, (off_t)sp) == sizeof site;
    post_free_at(e, tid, block, have ? &site : NULL);
}

/* The size an allocating call asks for, from its arguments; 0 with *skip
 * set when the call cannot succeed (reallocarray overflow). */
static uint64_t requested_size(int fn, const uint64_t *a, int *skip)
{
    uint64_t bytes;
    *skip = 0;
    switch (mp_alloc_fn_kind((enum mp_alloc_fn)fn)) {
    case MP_KIND_CALLOC:
        return a[0] * a[1]; /* a successful calloc did not overflow */
    case MP_KIND_REALLOC:
    case MP_KIND_ALIGNED:
    case MP_KIND_XALLOCX:
        return a[1];
    case MP_KIND_REALLOCARRAY:
        if (__builtin_mul_overflow(a[1], a[2], &bytes))
            *skip = 1; /* fails with ENOMEM, the block untouched */
        return bytes;
    case MP_KIND_POSIX_MEMALIGN:
        return a[2];
    case MP_KIND_FREE:
    case MP_KIND_MMAP:
    case MP_KIND_MUNMAP:
    case MP_KIND_MREMAP:
    case MP_KIND_BRK:
    case MP_KIND_SBRK:
    case MP_KIND_THROW:
        return 0; /* (mapped memory: bp_mapped.c) */
    case MP_KIND_ALLOC:
        break;
    }
    return a[0]; /* malloc, operator new, mallocx, valloc, pvalloc */
}

static int resizes(int fn)
{
    enum mp_fn_kind k = mp_alloc_fn_kind((enum mp_alloc_fn)fn);
    return k == MP_KIND_REALLOC || k == MP_KIND_REALLOCARRAY;
}

/* The thread came back from the call whose return address we replaced. */
void bp_on_return(struct mp_bpengine *e, struct bp_thread *t, struct user_regs_struct *regs)
{
    int skip;
    uint64_t size = requested_size(t->fn, t->args, &skip), block = regs->rax;
    enum mp_fn_kind kind = mp_alloc_fn_kind((enum mp_alloc_fn)t->fn);
    if (kind >= MP_KIND_MMAP) {
        bp_mapped_return(e, t, regs);
        block = 0;
    } else if (kind == MP_KIND_FREE) {
        block = 0; /* it only ended the call */
    } else if (kind == MP_KIND_POSIX_MEMALIGN) {
        block = 0;
        if ((int)regs->rax == 0 && pread(e->mem_fd, &block, sizeof block, (off_t)t->args[0]) != sizeof block)
            block = 0;
    } else if (kind == MP_KIND_XALLOCX) {
        /* resized in place when the real size it returns is at least the
         * size asked for: a realloc to min(real size, size + extra) */
        block = 0;
        if (regs->rax >= size) {
            uint64_t wanted = size + t->args[2] < size ? UINT64_MAX : size + t->args[2];
            post_free_at(e, t->tid, t->args[0], &t->ret);
            bp_post(e, MP_EV_ALLOC, t->tid, t->args[0], regs->rax < wanted ? regs->rax : wanted, t);
        }
    }
    if (block)
        bp_post(e, MP_EV_ALLOC, t->tid, block, size, t);
    else if (resizes(t->fn) && t->args[0] && size)
        e->stats.failed_reallocs++;
    t->pending = 0;
    regs->rip = t->ret;
}

int bp_in_text(const uint64_t (*ranges)[2], int n, uint64_t pc)
{
    for (int i = 0; i < n; i++)
        if (pc >= ranges[i][0] && pc < ranges[i][1])
            return 1;
    return 0;
}

/* Is pc in the allocator library (when it is not libc)? */
static int in_allocator(const struct mp_bpengine *e, uint64_t pc)
{
    return bp_in_text((const uint64_t(*)[2])e->allocator_text, e->n_allocator_text, pc);
}

/* __cxa_throw inside an open allocator call (operator new throwing
 * bad_alloc): the unwinder must find the real return address, or the
 * program terminates; the call is over (it allocated nothing), but the
 * exception object it allocated inside is the program's until the catch
 * ends, as the agent records it.  (A nothrow new catches what the new it
 * calls throws, frees it, and returns NULL: nothing to record.) */
static int on_throw(struct mp_bpengine *e, struct bp_thread *t, const struct user_regs_struct *regs)
{
    if (pwrite(e->mem_fd, &t->ret, sizeof t->ret, (off_t)t->entry_sp) != sizeof t->ret)
        return 0;
    uint64_t inner = t->inner_size;
    if (t->slot >= 0) { /* the stack is in the slot, and the inner size (the stubs pass mallocs on) */
        const struct mp_stub_slot *k = &e->inproc.slots[t->slot];
        t->nframes = k->nframes <= MP_MAX_FRAMES ? k->nframes : MP_MAX_FRAMES;
        t->truncated = k->truncated;
        memcpy(t->frames, k->frames, t->nframes * sizeof *t->frames);
        inner = k->inner_size;
    }
    bp_slot_abandon(e, t);
    t->pending = 0;
    if (inner && bp_fn_is_new(t->fn) == 1 && regs->rdi > MP_CXA_EXCEPTION_HEADER)
        bp_post(e, MP_EV_ALLOC, t->tid, regs->rdi - MP_CXA_EXCEPTION_HEADER, inner, t);
    t->inner_size = 0;
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
    if (e->leaving) {
        /* detaching: every thread is being stopped, some of them inside the
         * stubs with ring positions the reader waits for; nothing new */
        e->stats.skipped++;
        return 0;
    }
    enum mp_fn_kind kind = mp_alloc_fn_kind((enum mp_alloc_fn)fn);
    if (bp_call_open(e, t)) {
        /* below the open call's frame: realloc calling malloc; at the same
         * stack pointer: a tail call (reallocarray jumps to realloc), whose
         * return address is already ours.  The outer call records. */
        if (regs->rsp <= t->entry_sp) {
            if (kind == MP_KIND_THROW) {
                on_throw(e, t, regs);
                bp_fast_throw(e, t, regs);
                return 0;
            }
            if (fn == MP_FN_MALLOC) { /* (the exception object of a new that throws) */
                t->inner_size = regs->rdi;
                if (t->slot >= 0)
                    e->inproc.slots[t->slot].inner_size = regs->rdi;
            }
            e->stats.nested++;
            bp_learn_stack(e, regs, MP_SHAPE_PASS);
            return 0;
        }
        e->stats.abandoned++; /* the earlier call was left without returning (longjmp) */
        bp_slot_abandon(e, t);
        t->pending = 0;
    }
    if (kind == MP_KIND_THROW) {
        /* the calls the fast entries recorded that it may unwind through;
         * none: a throw from there passes on from now on */
        if (bp_fast_throw(e, t, regs) == 0)
            bp_learn_stack(e, regs, MP_SHAPE_SKIP);
        return 0;
    }
    int outer = bp_fast_call_around(e, t, regs->rsp);
    if (outer >= 0) { /* inside a call the fast entries recorded */
        if (fn == MP_FN_MALLOC)
            e->inproc.slots[outer].inner_size = regs->rdi;
        e->stats.nested++;
        bp_learn_stack(e, regs, MP_SHAPE_PASS);
        return 0;
    }
    if (kind >= MP_KIND_MMAP)
        return bp_mapped_entry(e, t, site, regs);
    uint64_t a[6] = { regs->rdi, regs->rsi, regs->rdx, regs->rcx, regs->r8, regs->r9 };
    int slot = -1;
    uint64_t *frames = t->frames, free_pos = 0;
    uint32_t truncated = 0;
    struct mp_unwind_shape shape = { 0 };
    int n = 0, free_always = 0, realloc_of_block = 0, skip;
    uint64_t size = requested_size(fn, a, &skip);
    uint64_t ret = 0; /* the call's return address (frames[0] may be a Python frame) */
    if (kind == MP_KIND_FREE) {
        int have_ret = pread(e->mem_fd, &ret, sizeof ret, (off_t)regs->rsp) == sizeof ret;
        if (have_ret && in_allocator(e, ret)) {
            e->stats.self_calls++;
            return 0;
        }
        if (a[0])
            post_free_at(e, t->tid, a[0], have_ret ? &ret : NULL);
        if (a[0] && have_ret)
            bp_learn_stack(e, regs, MP_SHAPE_RECORD); /* next time the fast entry records it */
        /* free itself calls nothing we watch; operator delete and sdallocx
         * may (jemalloc's sized aligned delete ends in a jump to sdallocx):
         * their call stays open until they return, so that is not counted
         * again */
        if (fn == MP_FN_FREE || !a[0] || !have_ret)
            return 0;
        slot = mp_bp_inproc_take_slot(&e->inproc);
        frames[0] = ret;
        n = 1;
    } else {
        realloc_of_block = resizes(fn) && a[0];
        /* glibc's realloc(p, 0) frees p through free itself, which records
         * it; other allocators free inside: the reserved FREE is committed
         * whatever the result */
        free_always = realloc_of_block && size == 0;
        if (free_always && !e->n_allocator_text)
            return 0;
        /* through a stub when there is one (posix_memalign's stub reads the
         * block behind its pointer, xallocx's counts its real size) */
        slot = skip ? -1 : mp_bp_inproc_take_slot(&e->inproc);
        frames = slot >= 0 ? e->inproc.slots[slot].frames : t->frames;
        n = mp_remote_unwind_shape(e->unwinder, regs->rsp, regs->rbp, frames, MP_MAX_FRAMES, &truncated, &shape);
        if (n <= 0) {
            e->stats.unreadable++;
            mp_bp_inproc_release_slot(&e->inproc, slot);
            if (realloc_of_block)
                post_free(e, t->tid, a[0], regs->rsp); /* the block is taken as freed */
            return 0;
        }
        if (in_allocator(e, frames[0])) {
            e->stats.self_calls++;
            mp_bp_inproc_release_slot(&e->inproc, slot);
            return 0;
        }
        if (skip) { /* it fails, recording nothing; next time the fast entry sees that itself */
            bp_learn_shape(e, frames, n, truncated, &shape, MP_SHAPE_RECORD);
            return 0;
        }
        ret = frames[0];
        if (e->python)
            n = mp_py_remote_merge(e->python, t->tid, frames, n, MP_MAX_FRAMES, &truncated);
        /* realloc of a block: its FREE takes its place in the ring before
         * the memory can be reused.  Through a stub, as the agent does: a
         * position reserved now, committed by the stub (a NOP if realloc
         * failed). */
        if (realloc_of_block && slot >= 0 && mp_ring_reader_reserve(e->ring, e->pid, t->tid, &free_pos) == 0)
            free_pos++;
        else if (realloc_of_block)
            post_free(e, t->tid, a[0], regs->rsp);
    }
    if (slot >= 0) {
        struct mp_stub_slot *k = &e->inproc.slots[slot];
        k->size = size;
        k->flags = (realloc_of_block && !free_pos ? MP_SLOT_F_COUNT_FAIL : 0) |
                   (free_always ? MP_SLOT_F_FREE_ALWAYS : 0) | (kind == MP_KIND_FREE ? MP_SLOT_F_NO_ALLOC : 0) |
                   (bp_fn_is_new(fn) == 1 ? MP_SLOT_F_NEW : bp_fn_is_new(fn) ? MP_SLOT_F_NEW_NOTHROW : 0) |
                   (kind == MP_KIND_XALLOCX ? MP_SLOT_F_XALLOCX : 0);
        k->free_pos = free_pos;
        k->free_addr = a[0];
        k->inner_size = 0;
        k->extra = kind == MP_KIND_XALLOCX ? a[2] : 0;
        k->memptr = kind == MP_KIND_POSIX_MEMALIGN ? a[0] : 0; /* its stub reads the block behind it */
        k->nframes = kind == MP_KIND_FREE ? 0 : (uint32_t)n;
        k->truncated = truncated;
    }
    int merged = bp_open_call(e, t, site, regs, slot, a, n, truncated, ret);
    if (merged < 0) {
        bp_release_free_pos(e, free_pos, t->tid, a[0]);
        return 0;
    }
    if (kind != MP_KIND_FREE && !e->python) /* a C stack does not tell a Python one */
        bp_learn_shape(e, frames, n, truncated, &shape, MP_SHAPE_RECORD);
    return merged;
}

int bp_open_call(struct mp_bpengine *e, struct bp_thread *t, const struct bp_site *site,
                 const struct user_regs_struct *regs, int slot, const uint64_t *a, int n, uint32_t truncated,
                 uint64_t ret)
{
    uint64_t hijack = slot >= 0 ? mp_bp_inproc_ret_stub(&e->inproc, slot) : e->ret_trap;
    if (slot >= 0) {
        struct mp_stub_slot *k = &e->inproc.slots[slot];
        k->ret = ret;
        k->tid = (uint32_t)t->tid;
        __atomic_store_n(&k->entry_sp, regs->rsp, __ATOMIC_RELEASE); /* last: calls in flight match on it */
    }
    uint64_t words[2];
    int merged = site->inserted && !site->stub && mp_emu_push_value(&site->emu, regs, &words[0]);
    words[1] = hijack;
    ssize_t want = merged ? 16 : 8;
    if (pwrite(e->mem_fd, merged ? words : &words[1], (size_t)want, (off_t)(regs->rsp - (merged ? 8 : 0))) != want) {
        mp_bp_inproc_release_slot(&e->inproc, slot);
        e->stats.unreadable++;
        return -1;
    }
    t->nframes = (uint32_t)n;
    t->truncated = truncated;
    t->ret = ret;
    t->entry_sp = regs->rsp;
    t->fn = (uint8_t)site->fn;
    t->slot = (int16_t)slot;
    memcpy(t->args, a, sizeof t->args);
    t->inner_size = 0;
    t->pending = 1;
    return merged;
}

/* The loader's breakpoint.  Until armed: arm once the link map is
 * consistent (a static program: at its entry point, once).  Then every
 * dlopen and dlclose passes here (RT_ADD or RT_DELETE, then
 * RT_CONSISTENT): before a library goes, the reader takes every record so
 * far (their return addresses resolve while the library is there); once it
 * went, an MP_REC_MODMAP record says that its addresses may be other code
 * from now on (see ring.h). */
static void on_loader(struct mp_bpengine *e, pid_t tid)
{
    if (!e->stats.armed) {
        if (e->loader.debug_state && !mp_bp_link_map_consistent(e->mem_fd, &e->loader))
            return;
        if (!e->loader.debug_state)
            bp_int3_remove(e, &e->loader_site);
        bp_arm(e, &tid, 1);
        e->loader_state = RT_CONSISTENT;
        return;
    }
    int state = mp_bp_link_map_state(e->mem_fd, &e->loader);
    if (e->leaving)
        return;
    if (state == RT_DELETE && e->loader_state != RT_DELETE) {
        mp_ring_reader_sync(e->ring, 200 * 1000);
        mp_bp_shapes_flush(&e->inproc); /* their return addresses may be other code soon */
    }
    if (state == RT_CONSISTENT && e->loader_state != RT_CONSISTENT) {
        mp_remote_unwinder_refresh(e->unwinder);
        if (e->loader_state == RT_DELETE)
            mp_ring_reader_post_modmap(e->ring, e->pid, (uint32_t)tid);
    }
    e->loader_state = state;
}

static struct bp_site *site_at(struct mp_bpengine *e, uint64_t rip, int hw)
{
    for (int i = 0; i < MP_FN_COUNT; i++) {
        struct bp_site *s = &e->sites[i];
        if (s->addr && (hw ? s->hw_slot >= 0 && s->addr == rip : s->inserted && (s->stub ? s->stub : s->addr) + 1 == rip))
            return s;
    }
    const struct bp_site *l = &e->loader_site;
    if (!hw && l->inserted && (l->stub ? l->stub : l->addr) + 1 == rip)
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
    if (e->n_client_hooks) { /* memprof.h's annotations */
        struct bp_thread *t = bp_thread_get(e, tid);
        if (t && bp_client_trap(e, t, &regs)) {
            e->stats.traps++;
            ptrace(PTRACE_CONT, tid, 0, 0);
            return 1;
        }
    }
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
    struct bp_thread *t = bp_thread_get(e, tid);
    int changed = 0;
    if (s->fn < 0) {
        on_loader(e, tid);
    } else if (t && t->pending && t->slot < 0 && (s->stub ? s->stub : s->addr) == e->ret_trap &&
               regs.rsp == t->entry_sp + 8) {
        bp_on_return(e, t, &regs);
        changed = 1;
    } else if (t && on_entry(e, t, s, &regs)) {
        regs.rsp -= 8; /* the push under the INT3 was written with the return address */
        regs.rip = s->addr + s->emu.len;
        e->stats.emulated++;
        if (ptrace(PTRACE_SETREGS, tid, 0, &regs) == 0)
            ptrace(PTRACE_CONT, tid, 0, 0);
        return 1;
    }
    if (s->stub && !changed) { /* the thread is in the stub's copy, past its INT3: on it goes */
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
        bp_thread_forget(e, tid);
    return 1;
}
