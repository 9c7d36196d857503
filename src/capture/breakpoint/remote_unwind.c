/* memprof: call stacks of a ptrace-stopped thread of another process (x86-64).
 *
 * The CFI comes from elfutils (libdwfl finds the modules of the process,
 * libdw parses .eh_frame or .debug_frame).  Each distinct return address is
 * looked up once (at pc-1, inside its call instruction) and compiled into a
 * small rule: CFA = rsp or rbp + offset, caller's rbp = same value / saved at
 * CFA+offset / unknown, return address saved at CFA+offset or undefined (the
 * outermost frame, _start).  Anything the fast loop cannot follow (expression
 * rules, signal frames, no CFI, no module) compiles to "stop here".  The rules
 * live in an open-addressing hash table keyed by the return address.
 *
 * The stack is read with one process_vm_readv of a window starting at rsp;
 * a word outside it refills the window from that word on. */
#define _GNU_SOURCE
#include "remote_unwind.h"

#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define WINDOW_BYTES (16 * 1024)
#define FIRST_READ_BYTES 4096
/* Rescans of /proc/PID/maps when a return address is in no known module
 * (dlopen): a token bucket, RESCAN_BURST at once, RESCAN_PER_S sustained. */
#define RESCAN_BURST 8.0
#define RESCAN_PER_S 10.0
#define REG_RBP 6
#define REG_RSP 7

enum rule_kind { RULE_EMPTY = 0, RULE_STEP, RULE_END, RULE_STOP, RULE_NOMOD };
enum {
    CFA_FROM_RBP = 1, /* else from the caller's rsp */
    RBP_SAVED = 2,    /* caller's rbp at CFA + rbp_off */
    RBP_LOST = 4,     /* caller's rbp cannot be recovered */
};

struct rule_entry {
    uint64_t pc;      /* return address; 0 = empty slot */
    int32_t cfa_off, rbp_off, ra_off;
    uint32_t gen;     /* RULE_NOMOD: the module generation it was looked up in */
    uint8_t kind, flags;
};

struct mp_remote_unwinder {
    pid_t pid;
    Dwfl *dwfl;
    Dwfl_Callbacks callbacks; /* libdwfl keeps a pointer to it */
    char *debuginfo_path;
    uint32_t gen;           /* bumped by each rescan */
    double rescan_tokens, rescan_time; /* the bucket, when it was last topped up */
    struct rule_entry *rules;
    size_t rules_cap, rules_used; /* cap: power of two */
    size_t page_size;
    uint64_t stack_low; /* rsp of the current unwind: the window never starts below */
    uint64_t win_start;
    size_t win_len;
    unsigned char win[WINDOW_BYTES];
};

/* Report the process's modules; add: keep the ones already known. */
static int report_modules(struct mp_remote_unwinder *u, int add)
{
    (add ? dwfl_report_begin_add : dwfl_report_begin)(u->dwfl);
    int rc = dwfl_linux_proc_report(u->dwfl, u->pid);
    if (dwfl_report_end(u->dwfl, NULL, NULL) != 0 && rc == 0)
        rc = -1;
    u->gen++;
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int may_rescan(struct mp_remote_unwinder *u)
{
    double now = now_s(), tokens = u->rescan_tokens + (now - u->rescan_time) * RESCAN_PER_S;
    u->rescan_time = now;
    u->rescan_tokens = (tokens > RESCAN_BURST ? RESCAN_BURST : tokens) - (tokens >= 1.0);
    return tokens >= 1.0;
}

static int open_dwfl(struct mp_remote_unwinder *u, char *err, size_t errlen)
{
    int rc = (u->dwfl = dwfl_begin(&u->callbacks)) == NULL ? -1 : report_modules(u, 0);
    if (rc != 0) {
        snprintf(err, errlen, "cannot read the modules of process %d: %s", (int)u->pid,
                 rc > 0 ? strerror(rc) : dwfl_errmsg(-1));
        dwfl_end(u->dwfl);
        u->dwfl = NULL;
    }
    return rc;
}

#define FITS32(v) ((v) >= INT32_MIN && (v) <= INT32_MAX)

/* A register location "saved at CFA + off": DW_OP_call_frame_cfa, optionally
 * followed by DW_OP_plus_uconst whose number is the signed offset in two's
 * complement (libdw stores the register rule's negative offset there). */
static int cfa_slot(const Dwarf_Op *ops, size_t nops, int32_t *off)
{
    if (nops < 1 || nops > 2 || ops[0].atom != DW_OP_call_frame_cfa)
        return -1;
    int64_t v = nops == 2 ? (int64_t)ops[1].number : 0;
    if ((nops == 2 && ops[1].atom != DW_OP_plus_uconst) || !FITS32(v))
        return -1;
    *off = (int32_t)v;
    return 0;
}

static void rule_from_frame(Dwarf_Frame *frame, struct rule_entry *r)
{
    Dwarf_Addr start, end;
    bool signalp = false;
    Dwarf_Op mem[3], *ops;
    size_t nops;
    int ra_reg = dwarf_frame_info(frame, &start, &end, &signalp);
    /* Return address.  nops == 0: ops == mem means undefined (end of stack),
     * ops == NULL means same value (meaningless for a return address). */
    if (ra_reg < 0 || signalp || dwarf_frame_register(frame, ra_reg, mem, &ops, &nops) != 0)
        return;
    if (nops == 0 && ops != NULL)
        r->kind = RULE_END;
    if (nops == 0 || cfa_slot(ops, nops, &r->ra_off) != 0)
        return;

    /* CFA: libdw gives a "register + offset" rule as one DW_OP_bregx with
     * number = register, number2 = offset (two's complement); expressions
     * (DW_CFA_def_cfa_expression, e.g. in .plt) come as other ops: stop. */
    if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops != 1 || ops[0].atom != DW_OP_bregx)
        return;
    uint64_t reg = ops[0].number;
    int64_t off = (int64_t)ops[0].number2;
    if ((reg != REG_RBP && reg != REG_RSP) || !FITS32(off))
        return;
    r->cfa_off = (int32_t)off;
    r->flags = reg == REG_RBP ? CFA_FROM_RBP : 0;

    /* Caller's rbp: same value (ops NULL), saved at CFA+N, or anything else:
     * unknown from here on (only a later rbp-based CFA needs it). */
    int rc = dwarf_frame_register(frame, REG_RBP, mem, &ops, &nops);
    if (rc == 0 && cfa_slot(ops, nops, &r->rbp_off) == 0)
        r->flags |= RBP_SAVED;
    else if (rc != 0 || nops > 0 || ops != NULL) /* not "same value" */
        r->flags |= RBP_LOST;
    r->kind = RULE_STEP;
}

/* The frame state at address a of module mod: .eh_frame first, .debug_frame
 * for what it lacks.  NULL when neither covers a. */
static Dwarf_Frame *frame_at(Dwfl_Module *mod, Dwarf_Addr a)
{
    Dwarf_Frame *frame = NULL;
    Dwarf_Addr bias;
    Dwarf_CFI *cfi = dwfl_module_eh_cfi(mod, &bias);
    if (cfi != NULL && dwarf_cfi_addrframe(cfi, a - bias, &frame) == 0)
        return frame;
    cfi = dwfl_module_dwarf_cfi(mod, &bias);
    if (cfi != NULL && dwarf_cfi_addrframe(cfi, a - bias, &frame) == 0)
        return frame;
    return NULL;
}

/* Compiles the rule of return address pc.  A pc in no module is rescanned
 * for (a dlopen since the last scan), and if still unknown gives RULE_NOMOD,
 * looked up again after the next rescan. */
static void compile_rule(struct mp_remote_unwinder *u, uint64_t pc, struct rule_entry *r)
{
    memset(r, 0, sizeof *r);
    r->pc = pc;
    r->kind = RULE_STOP;
    Dwfl_Module *mod = dwfl_addrmodule(u->dwfl, pc - 1);
    if (mod == NULL && may_rescan(u)) {
        report_modules(u, 1);
        mod = dwfl_addrmodule(u->dwfl, pc - 1);
    }
    Dwarf_Frame *frame = mod != NULL ? frame_at(mod, pc - 1) : NULL;
    if (frame != NULL)
        rule_from_frame(frame, r);
    else if (mod == NULL)
        r->kind = RULE_NOMOD, r->gen = u->gen;
    free(frame);
}

static size_t slot_of(uint64_t pc, size_t cap)
{
    uint64_t h = pc * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h ^ (h >> 32)) & (cap - 1);
}

static void put(struct rule_entry *tab, size_t cap, const struct rule_entry *r)
{
    size_t j = slot_of(r->pc, cap);
    while (tab[j].pc != 0)
        j = (j + 1) & (cap - 1);
    tab[j] = *r;
}

static void insert_rule(struct mp_remote_unwinder *u, const struct rule_entry *r)
{
    if ((u->rules_used + 1) * 2 > u->rules_cap) { /* keep the load under 1/2 */
        struct rule_entry *n = calloc(u->rules_cap * 2, sizeof *n);
        if (n == NULL)
            return; /* not cached: compiled again next time */
        for (size_t i = 0; i < u->rules_cap; i++)
            if (u->rules[i].pc != 0)
                put(n, u->rules_cap * 2, &u->rules[i]);
        free(u->rules);
        u->rules = n;
        u->rules_cap *= 2;
    }
    put(u->rules, u->rules_cap, r);
    u->rules_used++;
}

static const struct rule_entry *lookup_rule(struct mp_remote_unwinder *u, uint64_t pc,
                                            struct rule_entry *scratch)
{
    for (size_t j = slot_of(pc, u->rules_cap);; j = (j + 1) & (u->rules_cap - 1)) {
        struct rule_entry *e = &u->rules[j];
        if (e->pc == pc) {
            if (e->kind == RULE_NOMOD && e->gen != u->gen)
                compile_rule(u, pc, e); /* the modules were rescanned since */
            return e;
        }
        if (e->pc == 0)
            break;
    }
    compile_rule(u, pc, scratch);
    insert_rule(u, scratch);
    return scratch;
}

/* Refill the window from addr: remote iovecs split at page boundaries so a
 * read running off the end of the stack mapping still returns its start. */
static void fill_window(struct mp_remote_unwinder *u, uint64_t addr, uint64_t len)
{
    struct iovec remote[WINDOW_BYTES / 4096 + 1];
    uint64_t a = addr, end = addr + len < addr ? UINT64_MAX : addr + len;
    unsigned long n = 0;
    for (; a < end && n < sizeof remote / sizeof remote[0]; n++) {
        uint64_t next = (a | (u->page_size - 1)) + 1;
        next = next > end || next == 0 ? end : next;
        remote[n] = (struct iovec){ (void *)(uintptr_t)a, next - a };
        a = next;
    }
    struct iovec local = { u->win, a - addr };
    ssize_t got = process_vm_readv(u->pid, &local, 1, remote, n, 0);
    u->win_start = addr;
    u->win_len = got > 0 ? (size_t)got : 0;
}

/* A word of the stack.  A miss refills the window a little below addr, as
 * a frame's saved rbp lies just below its return address. */
static int read_word(struct mp_remote_unwinder *u, uint64_t addr, uint64_t *out)
{
    if (addr < u->win_start || addr - u->win_start > u->win_len
        || u->win_len - (addr - u->win_start) < 8) {
        fill_window(u, addr >= u->stack_low + 64 ? addr - 64 : addr, WINDOW_BYTES);
        if (u->win_len < addr - u->win_start + 8)
            return -1;
    }
    memcpy(out, u->win + (addr - u->win_start), 8);
    return 0;
}

struct mp_remote_unwinder *mp_remote_unwinder_new(pid_t pid, char *err, size_t errlen)
{
    struct mp_remote_unwinder *u = calloc(1, sizeof *u);
    if (u == NULL || (u->rules = calloc(u->rules_cap = 1024, sizeof *u->rules)) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(u);
        return NULL;
    }
    u->pid = pid;
    long ps = sysconf(_SC_PAGESIZE);
    u->page_size = ps > 0 ? (size_t)ps : 4096;
    u->rescan_tokens = RESCAN_BURST;
    u->rescan_time = now_s();
    u->callbacks.find_elf = dwfl_linux_proc_find_elf;
    u->callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
    u->callbacks.debuginfo_path = &u->debuginfo_path;
    if (open_dwfl(u, err, errlen) != 0) {
        mp_remote_unwinder_free(u);
        return NULL;
    }
    return u;
}

void mp_remote_unwinder_refresh(struct mp_remote_unwinder *u)
{
    if (u == NULL)
        return;
    /* A fresh Dwfl: an execve can map a different file under the same name
     * and range, which libdwfl would otherwise keep as the old module. */
    char err[256];
    dwfl_end(u->dwfl);
    open_dwfl(u, err, sizeof err); /* on failure dwfl is NULL: unwinds give [rsp] only */
    memset(u->rules, 0, u->rules_cap * sizeof *u->rules);
    u->rules_used = 0;
}

int mp_remote_unwind_shape(struct mp_remote_unwinder *u, uint64_t rsp, uint64_t rbp, uint64_t *frames, int max,
                           uint32_t *truncated, struct mp_unwind_shape *shape)
{
    struct mp_unwind_shape ignored;
    if (shape == NULL)
        shape = &ignored;
    shape->valid = 0;
    shape->rsp_based = 0;
    shape->end_zero = 0;
    *truncated = 0;
    u->stack_low = rsp;
    /* the stack changed since the last stop; most stacks fit in the first
     * 4 KiB (a smaller read is measurably cheaper), deeper ones refill */
    fill_window(u, rsp, FIRST_READ_BYTES);
    uint64_t pc, sp = rsp + 8, at = rsp;
    if (read_word(u, rsp, &pc) != 0)
        return 0;
    int n = 0, rbp_known = 1, rsp_only = 1;
    struct rule_entry scratch;
    while (pc != 0) {
        if (n >= max) {
            *truncated = 1;
            return n;
        }
        if (n < MP_UNWIND_SHAPE_MAX)
            shape->off[n] = (uint32_t)(at - rsp);
        else
            rsp_only = 0; /* deeper than a shape holds */
        frames[n++] = pc;
        if (u->dwfl == NULL)
            return n;
        const struct rule_entry *r = lookup_rule(u, pc, &scratch);
        shape->rsp_based = rsp_only;
        if (r->kind != RULE_STEP) {
            shape->valid = rsp_only && (r->kind == RULE_END || r->kind == RULE_NOMOD);
            return n;
        }
        if ((r->flags & CFA_FROM_RBP) && !rbp_known)
            return n;
        rsp_only &= !(r->flags & CFA_FROM_RBP);
        uint64_t cfa = ((r->flags & CFA_FROM_RBP) ? rbp : sp) + (uint64_t)(int64_t)r->cfa_off;
        uint64_t ra;
        at = cfa + (uint64_t)(int64_t)r->ra_off;
        rsp_only &= at - rsp <= UINT32_MAX;
        if (cfa <= sp || read_word(u, at, &ra) != 0)
            return n;
        if ((r->flags & RBP_SAVED) && read_word(u, cfa + (uint64_t)(int64_t)r->rbp_off, &rbp) != 0)
            return n;
        rbp_known = (r->flags & RBP_SAVED) || (rbp_known && !(r->flags & RBP_LOST));
        sp = cfa;
        pc = ra;
    }
    shape->valid = rsp_only && n > 0;
    shape->end_zero = 1;
    shape->end_off = (uint32_t)(at - rsp);
    return n;
}

int mp_remote_unwind_at_entry(struct mp_remote_unwinder *u, uint64_t rsp, uint64_t rbp,
                              uint64_t *frames, int max, uint32_t *truncated)
{
    return mp_remote_unwind_shape(u, rsp, rbp, frames, max, truncated, NULL);
}

void mp_remote_unwinder_free(struct mp_remote_unwinder *u)
{
    if (u == NULL)
        return;
    dwfl_end(u->dwfl); /* NULL-safe */
    free(u->rules);
    free(u);
}
