/* memprof: line mode, breakpoints (supervisor thread).
 *
 * Arming (at the exec stop, the only thread stopped): check that the new
 * image is the resolved file (same device and inode as /proc/PID/exe), find
 * the load bias (AT_ENTRY from /proc/PID/auxv minus e_entry), and write an
 * INT3 on every point and anchor through /proc/PID/mem (one pwrite each).
 *
 * A hit (PTRACE_GETREGS: rip - 1 is a site of ours, and the SIGTRAP came from
 * an INT3: si_code SI_KERNEL): update the thread's shadow stack (linemode.h),
 * read RSS with one statm pread, post the events into the ring, then step
 * over: put the original byte back, rewind rip, PTRACE_SINGLESTEP, wait for
 * that thread only (__WALL), put the INT3 back, PTRACE_CONT.  A signal that
 * arrives during the step is held and delivered with the PTRACE_CONT (its
 * siginfo kept).  An exit seen during the step is not reaped (waitid with
 * WNOWAIT): the supervisor's loop still gets it.
 *
 * While one thread steps, the others run, and one of them may pass the
 * lifted breakpoint without a trap: the step-overs made while the process
 * had several threads are counted (steps_with_threads), an upper bound of
 * the events that can have been missed. */
#define _GNU_SOURCE
#include "linemode_internal.h"
#include "events/ring_reader.h"
#include "capture/trap/stepover.h"
#include "capture/sampler/rss_sampler.h"
#include "symbols/sym_strings.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define INT3 0xcc

/* ---- tables ---- */

static size_t hash_u64(uint64_t x, size_t mask)
{
    return (size_t)((x * 0x9E3779B97F4A7C15ull) >> 20) & mask;
}

static struct lm_site *site_find(struct mp_linemode *lm, uint64_t addr)
{
    if (!lm->n_site_slots)
        return NULL;
    size_t mask = lm->n_site_slots - 1;
    for (size_t i = hash_u64(addr, mask);; i = (i + 1) & mask) {
        if (lm->sites[i].addr == addr)
            return &lm->sites[i];
        if (lm->sites[i].addr == 0)
            return NULL;
    }
}

static struct lm_site *site_get(struct mp_linemode *lm, uint64_t addr)
{
    struct lm_site *s = site_find(lm, addr);
    if (s)
        return s;
    if ((lm->n_sites + 1) * 2 > lm->n_site_slots) {
        size_t n = lm->n_site_slots ? lm->n_site_slots * 2 : 256;
        struct lm_site *grown = calloc(n, sizeof *grown);
        if (!grown)
            return NULL;
        for (size_t i = 0; i < lm->n_site_slots; i++) {
            if (!lm->sites[i].addr)
                continue;
            size_t j = hash_u64(lm->sites[i].addr, n - 1);
            while (grown[j].addr)
                j = (j + 1) & (n - 1);
            grown[j] = lm->sites[i];
        }
        free(lm->sites);
        lm->sites = grown;
        lm->n_site_slots = n;
    }
    size_t mask = lm->n_site_slots - 1, i = hash_u64(addr, mask);
    while (lm->sites[i].addr)
        i = (i + 1) & mask;
    s = &lm->sites[i];
    memset(s, 0, sizeof *s);
    s->addr = addr;
    s->point = -1;
    s->entry_func = -1;
    lm->n_sites++;
    return s;
}

static struct lm_thread *thread_get(struct mp_linemode *lm, pid_t tid)
{
    if ((lm->n_threads + 1) * 2 > lm->n_thread_slots) {
        size_t n = lm->n_thread_slots ? lm->n_thread_slots * 2 : 16;
        struct lm_thread *grown = calloc(n, sizeof *grown);
        if (!grown)
            return NULL;
        for (size_t i = 0; i < lm->n_thread_slots; i++) {
            if (!lm->threads[i].tid)
                continue;
            size_t j = hash_u64((uint64_t)lm->threads[i].tid, n - 1);
            while (grown[j].tid)
                j = (j + 1) & (n - 1);
            grown[j] = lm->threads[i];
        }
        free(lm->threads);
        lm->threads = grown;
        lm->n_thread_slots = n;
    }
    size_t mask = lm->n_thread_slots - 1;
    for (size_t i = hash_u64((uint64_t)tid, mask);; i = (i + 1) & mask) {
        if (lm->threads[i].tid == tid)
            return &lm->threads[i];
        if (!lm->threads[i].tid) {
            memset(&lm->threads[i], 0, sizeof lm->threads[i]);
            lm->threads[i].tid = tid;
            lm->n_threads++;
            return &lm->threads[i];
        }
    }
}

/* ---- the target's memory ---- */

static int write_byte(struct mp_linemode *lm, uint64_t addr, uint8_t b)
{
    return pwrite(lm->mem_fd, &b, 1, (off_t)addr) == 1 ? 0 : -1;
}

static int insert(struct mp_linemode *lm, struct lm_site *s)
{
    if (s->inserted)
        return 0;
    uint8_t text[16];
    ssize_t n = pread(lm->mem_fd, text, sizeof text, (off_t)s->addr);
    if (n < 1)
        return -1;
    if (n < (ssize_t)sizeof text)
        memset(text + n, 0, sizeof text - (size_t)n);
    for (size_t k = 1; k < (size_t)n; k++) { /* our own INT3s further on: the original bytes */
        struct lm_site *other = text[k] == INT3 ? site_find(lm, s->addr + k) : NULL;
        if (other && other->inserted)
            text[k] = other->orig;
    }
    if (write_byte(lm, s->addr, INT3) != 0)
        return -1;
    s->orig = text[0];
    mp_emu_decode(text, &s->emu);
    s->inserted = 1;
    return 0;
}

static void lift(struct mp_linemode *lm, struct lm_site *s)
{
    if (s->inserted && write_byte(lm, s->addr, s->orig) == 0)
        s->inserted = 0;
}

static int site_needed(const struct lm_site *s)
{
    return s->point >= 0 || s->entry_func != -1 || s->exit_refs > 0;
}

/* ---- arming ---- */

static void disarm(struct mp_linemode *lm)
{
    if (lm->mem_fd >= 0)
        close(lm->mem_fd);
    if (lm->task_fd >= 0)
        close(lm->task_fd);
    mp_statm_close(&lm->statm);
    lm->mem_fd = lm->task_fd = -1;
    for (size_t i = 0; i < lm->n_thread_slots; i++)
        free(lm->threads[i].frames);
    free(lm->threads);
    free(lm->sites);
    lm->threads = NULL;
    lm->sites = NULL;
    lm->n_thread_slots = lm->n_threads = lm->n_site_slots = lm->n_sites = 0;
    lm->armed = 0;
}

int mp_linemode_arm(struct mp_linemode *lm, pid_t pid)
{
    disarm(lm);
    lm->pid = pid;
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    if (stat(path, &st) != 0 || st.st_dev != lm->exe_dev || st.st_ino != lm->exe_ino)
        return 0; /* another program: nothing of ours in it */
    uint64_t at_entry;
    if (mp_proc_auxv(pid, AT_ENTRY, &at_entry) != 0) {
        snprintf(lm->warning, sizeof lm->warning,
                 "line mode is off: cannot read the target's auxiliary vector (/proc/%d/auxv)", (int)pid);
        return -1;
    }
    lm->bias = at_entry - lm->map.elf_entry;
    /* MEMPROF_LINEMODE_STEP=1: single-step every hit (to measure, or to rule
     * the emulation out when something looks wrong) */
    const char *step_all = getenv("MEMPROF_LINEMODE_STEP");
    lm->no_emulation = step_all && *step_all && strcmp(step_all, "0") != 0;
    snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
    lm->mem_fd = open(path, O_RDWR | O_CLOEXEC);
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    lm->task_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lm->mem_fd < 0 || mp_statm_open(&lm->statm, pid) != 0) {
        snprintf(lm->warning, sizeof lm->warning, "line mode is off: cannot open /proc/%d/mem: %s", (int)pid,
                 strerror(errno));
        disarm(lm);
        return -1;
    }
    if (lm->task_fd >= 0 && fstat(lm->task_fd, &st) == 0)
        lm->task_nlink_base = (unsigned long)st.st_nlink - 1; /* one thread right after exec */
    for (size_t i = 0; i < lm->n_points; i++) {
        const struct mp_lm_point *p = &lm->points[i];
        struct lm_site *s = site_get(lm, p->addr + lm->bias);
        if (!s)
            goto fail;
        s->point = (int32_t)i;
        if (p->entry)
            s->entry_func = (int32_t)p->func;
    }
    for (size_t i = 0; i < lm->n_anchors; i++) {
        struct lm_site *s = site_get(lm, lm->anchors[i] + lm->bias);
        if (!s)
            goto fail;
        if (s->entry_func == -1)
            s->entry_func = (int32_t)MP_LM_NO_FUNC;
    }
    for (size_t i = 0; i < lm->n_site_slots; i++)
        if (lm->sites[i].addr && insert(lm, &lm->sites[i]) != 0) {
            snprintf(lm->warning, sizeof lm->warning,
                     "line mode is off: cannot write a breakpoint at 0x%llx: %s",
                     (unsigned long long)lm->sites[i].addr, strerror(errno));
            goto undo;
        }
    lm->armed = 1;
    lm->stats.armed = 1;
    return 0;
fail:
    snprintf(lm->warning, sizeof lm->warning, "line mode is off: out of memory");
undo:
    for (size_t i = 0; i < lm->n_site_slots; i++)
        if (lm->sites[i].addr)
            lift(lm, &lm->sites[i]);
    disarm(lm);
    return -1;
}

/* ---- a hit ---- */

static void pop_frame(struct mp_linemode *lm, struct lm_thread *t)
{
    struct lm_frame *f = &t->frames[--t->depth];
    struct lm_site *s = site_find(lm, f->ret);
    if (s && s->exit_refs > 0 && --s->exit_refs == 0 && !site_needed(s))
        lift(lm, s); /* the current site is lifted by the caller anyway */
}

static int push_frame(struct mp_linemode *lm, struct lm_thread *t, uint64_t sp, uint32_t func)
{
    uint64_t ret;
    if (pread(lm->mem_fd, &ret, sizeof ret, (off_t)sp) != (ssize_t)sizeof ret)
        return -1;
    if (t->depth == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 16;
        if (cap > MP_LM_DEPTH_MAX)
            return -1;
        struct lm_frame *grown = realloc(t->frames, cap * sizeof *grown);
        if (!grown)
            return -1;
        t->frames = grown;
        t->cap = cap;
    }
    struct lm_site *s = site_get(lm, ret);
    if (!s)
        return -1;
    if (!s->inserted && insert(lm, s) != 0)
        return -1;
    s->exit_refs++;
    t->frames[t->depth++] = (struct lm_frame){ sp, ret, func };
    return 0;
}

static int other_threads_running(struct mp_linemode *lm)
{
    struct stat st;
    if (lm->task_fd < 0 || fstat(lm->task_fd, &st) != 0)
        return 1;
    return (unsigned long)st.st_nlink > lm->task_nlink_base + 1;
}

static void forget_thread(struct mp_linemode *lm, struct lm_thread *t)
{
    while (t && t->depth)
        pop_frame(lm, t);
}

int mp_linemode_on_trap(struct mp_linemode *lm, pid_t tid)
{
    if (!lm || !lm->armed)
        return 0;
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, tid, 0, &regs) != 0)
        return 0;
    uint64_t pc = regs.rip - 1;
    struct lm_site *site = site_find(lm, pc);
    if (!site || site->orig == INT3)
        return 0;
    siginfo_t si;
    if (ptrace(PTRACE_GETSIGINFO, tid, 0, &si) != 0 || si.si_code != SI_KERNEL)
        return 0;
    if (!site->inserted) {
        /* The thread hit the INT3 before another thread's return lifted it
         * (a return address nobody waits for any more): just run on. */
        regs.rip = pc;
        if (ptrace(PTRACE_SETREGS, tid, 0, &regs) == 0)
            ptrace(PTRACE_CONT, tid, 0, 0);
        return 1;
    }
    lm->stats.traps++;

    /* the shadow stack */
    struct lm_thread *t = thread_get(lm, tid);
    uint64_t sp = regs.rsp, events[2];
    int n_events = 0, popped = 0;
    if (t) {
        if (site->exit_refs > 0) {
            /* a return lands here with sp just above the frame's return address */
            for (uint32_t i = t->depth; i-- > 0;)
                if (t->frames[i].sp + 8 == sp && t->frames[i].ret == pc) {
                    while (t->depth > i)
                        pop_frame(lm, t), popped++;
                    break;
                }
        }
        /* frames the thread left without our seeing the return (longjmp,
         * exceptions): below the stack pointer now */
        int entry = site->entry_func != -1;
        while (t->depth && (t->frames[t->depth - 1].sp < sp || (entry && t->frames[t->depth - 1].sp == sp)))
            pop_frame(lm, t), popped++;
        if (popped) {
            uint32_t func = MP_LM_NO_FUNC;
            events[n_events++] = mp_lm_event_id(MP_LM_EV_EXIT, t->depth, func);
            lm->stats.exit_events++;
        }
        if (entry)
            push_frame(lm, t, sp, (uint32_t)site->entry_func);
        if (site->point >= 0) {
            events[n_events++] = mp_lm_event_id(entry ? MP_LM_EV_ENTRY : MP_LM_EV_LINE, t->depth, (uint32_t)site->point);
            lm->stats.line_events++;
        }
    }
    if (n_events && lm->ring) {
        uint64_t rss = mp_statm_rss(&lm->statm);
        uint64_t now = mp_monotonic_ns();
        uint64_t at = now > lm->start_ns ? now - lm->start_ns : 0;
        for (int i = 0; i < n_events; i++)
            mp_ring_reader_post_line(lm->ring, lm->pid, (uint32_t)tid, events[i], rss, at);
    }

    /* carry the instruction out, or step over it */
    regs.rip = pc;
    if (site_needed(site) && site->emu.kind && !lm->no_emulation) {
        struct user_regs_struct after = regs;
        if (mp_emu_execute(&site->emu, &after, lm->mem_fd) == 0 && ptrace(PTRACE_SETREGS, tid, 0, &after) == 0) {
            lm->stats.emulated++; /* the INT3 stays: nobody can pass unseen */
            ptrace(PTRACE_CONT, tid, 0, 0);
            return 1;
        }
    }
    if (ptrace(PTRACE_SETREGS, tid, 0, &regs) != 0) {
        forget_thread(lm, t); /* gone (killed): the supervisor reaps it */
        return 1;
    }
    if (!site_needed(site)) { /* a return address nobody waits for any more */
        lift(lm, site);
        ptrace(PTRACE_CONT, tid, 0, 0);
        return 1;
    }
    if (other_threads_running(lm))
        lm->stats.steps_with_threads++;
    if (mp_step_over(lm->pid, tid, lm->mem_fd, pc, site->orig, &lm->stats.lost_stops) != MP_STEP_DONE)
        forget_thread(lm, t);
    return 1;
}

int mp_linemode_clean_child(struct mp_linemode *lm, pid_t child)
{
    if (!lm->armed)
        return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)child);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < lm->n_site_slots; i++) {
        const struct lm_site *site = &lm->sites[i];
        if (site->addr && site->inserted && pwrite(fd, &site->orig, 1, (off_t)site->addr) != 1)
            rc = -1;
    }
    close(fd);
    return rc;
}

void mp_linemode_set_ring(struct mp_linemode *lm, struct mp_ring_reader *ring)
{
    lm->ring = ring;
}

void mp_linemode_set_start(struct mp_linemode *lm, uint64_t start_ns)
{
    lm->start_ns = start_ns;
}

void mp_linemode_stats(const struct mp_linemode *lm, struct mp_linemode_stats *out)
{
    *out = lm->stats;
}

const char *mp_linemode_warning(const struct mp_linemode *lm)
{
    return lm->warning[0] ? lm->warning : NULL;
}

void mp_linemode_free(struct mp_linemode *lm)
{
    if (!lm)
        return;
    disarm(lm);
    free(lm->funcs);
    free(lm->points);
    free(lm->anchors);
    if (lm->strings)
        sym_strings_destroy(lm->strings);
    free(lm);
}
