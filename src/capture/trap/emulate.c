/* memprof: the instructions under a breakpoint that memprof carries out
 * itself instead of single-stepping them (as the kernel's uprobes emulate
 * some): the INT3 never leaves the text, so other threads cannot pass it
 * unseen, and a hit costs one stop of the thread instead of two.  A short
 * whitelist of what compilers put at line starts and glibc at its
 * allocator entries:
 *
 *   nop, endbr64            push r64, pop r64       call rel32, ret
 *   jmp rel8, jmp rel32     leave                   mov r, r (32/64)
 *   mov r, [base+disp] and mov [base+disp], r (32/64 bits; base a register,
 *     rsp through the plain SIB byte 0x24, or rip)
 *   mov dword/qword [base+disp], imm32
 *   lea r64, [base+disp]
 *   test r, r (32/64)       cmp byte [rip+disp], imm8  (these set the flags)
 *   add/sub/cmp r, imm8/imm32 (32/64)   xor r, r (32/64)
 *   mov r32, imm32          mov r64, imm64       (libc's brk and munmap start so)
 *
 * That covers the entries of glibc's, jemalloc's, tcmalloc's and mimalloc's
 * allocator functions.  Anything else (prefixes other than REX, SIB with an
 * index, 8/16-bit operands, other arithmetic) is single-stepped, and so is a
 * store whose memory operand is not on the thread's own stack (near rsp):
 * memory other threads may use at the same time gets the real, atomic
 * instruction.  A load is a read: from the stack, or an aligned global
 * (rip-relative: tcmalloc's and mimalloc's malloc start by loading one). */
#define _GNU_SOURCE
#include "emulate.h"

#include <string.h>
#include <sys/types.h>
#include <sys/user.h>
#include <unistd.h>

enum {
    EMU_STEP = 0,
    EMU_NOP,
    EMU_PUSH,
    EMU_CALL,
    EMU_JMP,
    EMU_MOV_RR,   /* reg = destination, base = source */
    EMU_LOAD,     /* reg <- [base + disp] */
    EMU_STORE,    /* [base + disp] <- reg */
    EMU_STORE_IMM,/* [base + disp] <- imm */
    EMU_POP,
    EMU_RET,
    EMU_LEAVE,
    EMU_LEA,      /* reg <- base + disp */
    EMU_TEST_RR,  /* flags <- reg & base */
    EMU_CMP_M8,   /* flags <- byte [base + disp] - imm (a read: any address) */
    EMU_ALU_RI,   /* reg <- reg op imm (op in disp: 0 add, 5 sub, 7 cmp: flags only) */
    EMU_XOR_RR,   /* reg <- reg ^ base, logical flags */
    EMU_MOV_RI    /* reg <- imm (a 32-bit one zero-extends) */
};

#define BASE_RIP 16
/* A memory operand from rsp - 128 (the red zone) to rsp + 64 KiB is taken
 * to be the thread's own stack frame or its caller's. */
#define STACK_WINDOW (64 * 1024)

static int32_t i32(const uint8_t *b)
{
    int32_t v;
    memcpy(&v, b, sizeof v);
    return v;
}

void mp_emu_decode(const uint8_t *b, struct mp_emu *e)
{
    memset(e, 0, sizeof *e);
    if (b[0] == 0x90) {
        e->kind = EMU_NOP, e->len = 1;
        return;
    }
    if (b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && b[3] == 0xfa) {
        e->kind = EMU_NOP, e->len = 4;
        return;
    }
    size_t i = 0;
    uint8_t rex = 0;
    if ((b[0] & 0xf0) == 0x40)
        rex = b[i++];
    uint8_t op = b[i];
    if (op >= 0x50 && op <= 0x57) {
        if (rex && rex != 0x41)
            return;
        e->kind = EMU_PUSH;
        e->reg = (uint8_t)((op - 0x50) | (rex & 1) << 3);
        e->len = (uint8_t)(i + 1);
        return;
    }
    if (op >= 0x58 && op <= 0x5f) {
        if (rex && rex != 0x41)
            return;
        e->kind = EMU_POP;
        e->reg = (uint8_t)((op - 0x58) | (rex & 1) << 3);
        e->len = (uint8_t)(i + 1);
        return;
    }
    if (!rex && (op == 0xc3 || op == 0xc9)) {
        e->kind = op == 0xc3 ? EMU_RET : EMU_LEAVE;
        e->len = 1;
        return;
    }
    if (!rex && (op == 0xe8 || op == 0xe9)) {
        e->kind = op == 0xe8 ? EMU_CALL : EMU_JMP;
        e->disp = i32(b + 1);
        e->len = 5;
        return;
    }
    if (!rex && op == 0xeb) {
        e->kind = EMU_JMP;
        e->disp = (int8_t)b[1];
        e->len = 2;
        return;
    }
    if (op == 0x85 && (b[i + 1] >> 6) == 3 && !(rex & 0x02)) { /* test r/m, r with registers */
        e->kind = EMU_TEST_RR;
        e->width = (rex & 8) ? 8 : 4;
        e->base = (uint8_t)((b[i + 1] & 7) | ((rex & 1) ? 8 : 0));
        e->reg = (uint8_t)(((b[i + 1] >> 3) & 7) | ((rex & 4) ? 8 : 0));
        e->len = (uint8_t)(i + 2);
        return;
    }
    if (op >= 0xb8 && op <= 0xbf && !(rex & 0x06)) { /* mov r32, imm32; REX.W: mov r64, imm64 */
        e->kind = EMU_MOV_RI;
        e->reg = (uint8_t)((op - 0xb8) | ((rex & 1) ? 8 : 0));
        e->width = (rex & 8) ? 8 : 4;
        if (e->width == 8) {
            memcpy(&e->imm, b + i + 1, 8);
            e->len = (uint8_t)(i + 9);
        } else {
            e->imm = (uint32_t)i32(b + i + 1);
            e->len = (uint8_t)(i + 5);
        }
        return;
    }
    if ((op == 0x81 || op == 0x83) && (b[i + 1] >> 6) == 3 && !(rex & 0x02)) { /* add/sub/cmp r, imm */
        uint8_t ext = (b[i + 1] >> 3) & 7;
        if (ext != 0 && ext != 5 && ext != 7)
            return;
        e->kind = EMU_ALU_RI;
        e->width = (rex & 8) ? 8 : 4;
        e->reg = (uint8_t)((b[i + 1] & 7) | ((rex & 1) ? 8 : 0));
        e->disp = ext;
        e->imm = op == 0x83 ? (int8_t)b[i + 2] : i32(b + i + 2);
        e->len = (uint8_t)(i + 2 + (op == 0x83 ? 1 : 4));
        return;
    }
    if ((op == 0x31 || op == 0x33) && (b[i + 1] >> 6) == 3 && !(rex & 0x02)) { /* xor r, r */
        uint8_t rm = (uint8_t)((b[i + 1] & 7) | ((rex & 1) ? 8 : 0));
        uint8_t r = (uint8_t)(((b[i + 1] >> 3) & 7) | ((rex & 4) ? 8 : 0));
        e->kind = EMU_XOR_RR;
        e->width = (rex & 8) ? 8 : 4;
        e->reg = op == 0x31 ? rm : r;   /* the destination */
        e->base = op == 0x31 ? r : rm;
        e->len = (uint8_t)(i + 2);
        return;
    }
    if (!rex && op == 0x80 && b[1] == 0x3d) { /* cmp byte [rip+disp32], imm8 */
        e->kind = EMU_CMP_M8;
        e->base = BASE_RIP;
        e->disp = i32(b + 2);
        e->imm = b[6];
        e->width = 1;
        e->len = 7;
        return;
    }
    if (op != 0x8b && op != 0x89 && op != 0xc7 && !(op == 0x8d && rex == 0x48))
        return;
    if (rex & 0x02)
        return; /* REX.X: an index register */
    uint8_t modrm = b[i + 1], mod = modrm >> 6, rm = modrm & 7;
    uint8_t reg = (uint8_t)(((modrm >> 3) & 7) | ((rex & 4) ? 8 : 0));
    uint8_t rm_full = (uint8_t)(rm | ((rex & 1) ? 8 : 0));
    size_t p = i + 2;
    e->width = (rex & 8) ? 8 : 4;
    if (op == 0xc7 && ((modrm >> 3) & 7) != 0)
        return;
    if (mod == 3) {
        if (op == 0xc7 || op == 0x8d)
            return;
        e->kind = EMU_MOV_RR;
        e->reg = op == 0x8b ? reg : rm_full;
        e->base = op == 0x8b ? rm_full : reg;
        e->len = (uint8_t)p;
        return;
    }
    if (rm == 4) {
        if (b[p++] != 0x24)
            return; /* a SIB with an index or another base */
        e->base = rm_full;
    } else if (mod == 0 && rm == 5) {
        e->base = BASE_RIP;
    } else {
        e->base = rm_full;
    }
    if (mod == 0 && rm == 5) {
        e->disp = i32(b + p);
        p += 4;
    } else if (mod == 1) {
        e->disp = (int8_t)b[p];
        p += 1;
    } else if (mod == 2) {
        e->disp = i32(b + p);
        p += 4;
    }
    if (op == 0xc7) {
        e->imm = i32(b + p);
        p += 4;
        e->kind = EMU_STORE_IMM;
    } else {
        e->kind = op == 0x8b ? EMU_LOAD : op == 0x8d ? EMU_LEA : EMU_STORE;
    }
    e->reg = reg;
    e->len = (uint8_t)p;
}

static unsigned long long *reg_ptr(struct user_regs_struct *r, unsigned n)
{
    switch (n) {
    case 0: return &r->rax;
    case 1: return &r->rcx;
    case 2: return &r->rdx;
    case 3: return &r->rbx;
    case 4: return &r->rsp;
    case 5: return &r->rbp;
    case 6: return &r->rsi;
    case 7: return &r->rdi;
    case 8: return &r->r8;
    case 9: return &r->r9;
    case 10: return &r->r10;
    case 11: return &r->r11;
    case 12: return &r->r12;
    case 13: return &r->r13;
    case 14: return &r->r14;
    default: return &r->r15;
    }
}

static int write_mem(int fd, uint64_t addr, const void *v, size_t n)
{
    return pwrite(fd, v, n, (off_t)addr) == (ssize_t)n ? 0 : -1;
}

/* The arithmetic flags of a result (CF, PF, AF, ZF, SF, OF), others kept. */
#define FLAGS_ARITH 0x8d5ull
static unsigned long long flags_of(unsigned long long old, uint64_t result, unsigned bits, int cf, int of, int af)
{
    uint64_t sign = 1ull << (bits - 1), mask = bits == 64 ? ~0ull : (sign << 1) - 1;
    result &= mask;
    unsigned long long f = old & ~FLAGS_ARITH;
    if (cf)
        f |= 0x1;
    if (!(__builtin_popcount((unsigned)(result & 0xff)) & 1))
        f |= 0x4; /* PF: even number of bits in the low byte */
    if (af)
        f |= 0x10;
    if (result == 0)
        f |= 0x40;
    if (result & sign)
        f |= 0x80;
    if (of)
        f |= 0x800;
    return f;
}

int mp_emu_execute(const struct mp_emu *e, struct user_regs_struct *regs, int mem_fd)
{
    uint64_t next = regs->rip + e->len;
    switch (e->kind) {
    case EMU_NOP:
        regs->rip = next;
        return 0;
    case EMU_PUSH: {
        uint64_t v = *reg_ptr(regs, e->reg);
        if (write_mem(mem_fd, regs->rsp - 8, &v, 8) != 0)
            return -1;
        regs->rsp -= 8;
        regs->rip = next;
        return 0;
    }
    case EMU_POP:
    case EMU_RET:
    case EMU_LEAVE: {
        uint64_t sp = e->kind == EMU_LEAVE ? regs->rbp : regs->rsp, v;
        if (pread(mem_fd, &v, 8, (off_t)sp) != 8)
            return -1;
        regs->rsp = sp + 8;
        if (e->kind == EMU_POP)
            *reg_ptr(regs, e->reg) = v; /* pop rsp: the loaded value wins */
        else if (e->kind == EMU_LEAVE)
            regs->rbp = v;
        regs->rip = e->kind == EMU_RET ? v : next;
        return 0;
    }
    case EMU_CALL:
        if (write_mem(mem_fd, regs->rsp - 8, &next, 8) != 0)
            return -1;
        regs->rsp -= 8;
        regs->rip = next + (uint64_t)(int64_t)e->disp;
        return 0;
    case EMU_JMP:
        regs->rip = next + (uint64_t)(int64_t)e->disp;
        return 0;
    case EMU_MOV_RR: {
        uint64_t v = *reg_ptr(regs, e->base);
        *reg_ptr(regs, e->reg) = e->width == 8 ? v : (uint32_t)v;
        regs->rip = next;
        return 0;
    }
    case EMU_LEA:
        *reg_ptr(regs, e->reg) = (e->base == BASE_RIP ? next : *reg_ptr(regs, e->base)) + (uint64_t)(int64_t)e->disp;
        regs->rip = next;
        return 0;
    case EMU_LOAD:
    case EMU_STORE:
    case EMU_STORE_IMM: {
        uint64_t base = e->base == BASE_RIP ? next : *reg_ptr(regs, e->base);
        uint64_t addr = base + (uint64_t)(int64_t)e->disp;
        int global_read = e->kind == EMU_LOAD && e->base == BASE_RIP && (addr & (e->width - 1)) == 0;
        if (!global_read && (addr + 128 < regs->rsp || addr >= regs->rsp + STACK_WINDOW))
            return -1;
        if (e->kind == EMU_LOAD) {
            uint64_t v = 0;
            if (pread(mem_fd, &v, e->width, (off_t)addr) != (ssize_t)e->width)
                return -1;
            *reg_ptr(regs, e->reg) = v; /* a 32-bit load zero-extends */
        } else {
            uint64_t v = e->kind == EMU_STORE ? *reg_ptr(regs, e->reg) : (uint64_t)e->imm;
            if (write_mem(mem_fd, addr, &v, e->width) != 0) /* little endian: the low bytes */
                return -1;
        }
        regs->rip = next;
        return 0;
    }
    case EMU_TEST_RR: {
        uint64_t v = *reg_ptr(regs, e->reg) & *reg_ptr(regs, e->base);
        regs->eflags = flags_of(regs->eflags, v, e->width * 8u, 0, 0, 0);
        regs->rip = next;
        return 0;
    }
    case EMU_ALU_RI: {
        unsigned bits = e->width * 8u;
        uint64_t mask = bits == 64 ? ~0ull : 0xffffffffull;
        uint64_t a = *reg_ptr(regs, e->reg) & mask, b = (uint64_t)e->imm & mask, r;
        int cf, of;
        uint64_t sign = 1ull << (bits - 1);
        if (e->disp == 0) {
            r = (a + b) & mask;
            cf = r < a;
            of = (~(a ^ b) & (a ^ r) & sign) != 0;
        } else {
            r = (a - b) & mask;
            cf = a < b;
            of = ((a ^ b) & (a ^ r) & sign) != 0;
        }
        regs->eflags = flags_of(regs->eflags, r, bits, cf, of, ((a ^ b ^ r) & 0x10) != 0);
        if (e->disp != 7)
            *reg_ptr(regs, e->reg) = r; /* a 32-bit result zero-extends */
        regs->rip = next;
        return 0;
    }
    case EMU_MOV_RI:
        *reg_ptr(regs, e->reg) = (uint64_t)e->imm;
        regs->rip = next;
        return 0;
    case EMU_XOR_RR: {
        uint64_t v = *reg_ptr(regs, e->reg) ^ *reg_ptr(regs, e->base);
        if (e->width == 4)
            v = (uint32_t)v;
        *reg_ptr(regs, e->reg) = v;
        regs->eflags = flags_of(regs->eflags, v, e->width * 8u, 0, 0, 0);
        regs->rip = next;
        return 0;
    }
    case EMU_CMP_M8: {
        uint8_t m;
        if (pread(mem_fd, &m, 1, (off_t)(next + (uint64_t)(int64_t)e->disp)) != 1)
            return -1;
        uint8_t imm = (uint8_t)e->imm, r = (uint8_t)(m - imm);
        int of = ((m ^ imm) & (m ^ r) & 0x80) != 0;
        regs->eflags = flags_of(regs->eflags, r, 8, m < imm, of, ((m ^ imm ^ r) & 0x10) != 0);
        regs->rip = next;
        return 0;
    }
    default:
        return -1;
    }
}

int mp_emu_is_jump(const struct mp_emu *e)
{
    return e->kind == EMU_JMP;
}

int mp_emu_is_register_move(const struct mp_emu *e)
{
    return e->kind == EMU_NOP || e->kind == EMU_MOV_RR;
}

int mp_emu_push_value(const struct mp_emu *e, const struct user_regs_struct *regs, uint64_t *value)
{
    if (e->kind != EMU_PUSH)
        return 0;
    *value = *reg_ptr((struct user_regs_struct *)regs, e->reg);
    return 1;
}

int mp_emu_relocate(const struct mp_emu *e, const uint8_t *orig, uint64_t addr, uint8_t *out, size_t cap)
{
    size_t n = 0;
    switch (e->kind) {
    case EMU_NOP:
    case EMU_PUSH:
    case EMU_POP:
    case EMU_LEAVE:
    case EMU_RET:
    case EMU_MOV_RR:
    case EMU_TEST_RR:
    case EMU_ALU_RI:
    case EMU_XOR_RR:
    case EMU_MOV_RI:
        n = e->len; /* position-independent: as is */
        if (n > cap)
            return -1;
        memcpy(out, orig, n);
        break;
    case EMU_LOAD:
        if (e->base == BASE_RIP) { /* movabs reg, target; mov reg, [reg] (the flags untouched) */
            uint64_t target = addr + e->len + (uint64_t)(int64_t)e->disp;
            uint8_t r = e->reg & 7, x = e->reg >> 3;
            if (cap < 14 + 14)
                return -1;
            out[n++] = (uint8_t)(0x48 | x);
            out[n++] = (uint8_t)(0xb8 + r);
            memcpy(out + n, &target, 8);
            n += 8;
            out[n++] = (uint8_t)(0x40 | (e->width == 8 ? 8 : 0) | (x ? 4 | 1 : 0));
            out[n++] = 0x8b;
            if (r == 4) { /* rsp/r12 as a base needs a SIB byte */
                out[n++] = 0x24;
                out[n++] = 0x24;
            } else if (r == 5) { /* rbp/r13 as a base needs a displacement */
                out[n++] = 0x6d;
                out[n++] = 0x00;
            } else {
                out[n++] = (uint8_t)(r << 3 | r);
            }
            break;
        }
        /* fallthrough */
    case EMU_STORE:
    case EMU_STORE_IMM:
    case EMU_LEA:
        if (e->base == BASE_RIP || e->len > cap)
            return -1;
        n = e->len;
        memcpy(out, orig, n);
        break;
    case EMU_CMP_M8: { /* push rax; movabs rax, target; cmp byte [rax], imm8; pop rax (no flag changes around it) */
        uint64_t target = addr + e->len + (uint64_t)(int64_t)e->disp;
        if (cap < 15)
            return -1;
        out[n++] = 0x50;
        out[n++] = 0x48;
        out[n++] = 0xb8;
        memcpy(out + n, &target, 8);
        n += 8;
        out[n++] = 0x80;
        out[n++] = 0x38;
        out[n++] = (uint8_t)e->imm;
        out[n++] = 0x58;
        break;
    }
    default:
        return -1; /* a jump or call would need its target rewritten: not needed at entries */
    }
    uint64_t back = addr + e->len;
    if (n + 14 > cap)
        return -1;
    static const uint8_t jmp_abs[6] = { 0xff, 0x25, 0, 0, 0, 0 }; /* jmp *0(%rip) */
    memcpy(out + n, jmp_abs, sizeof jmp_abs);
    memcpy(out + n + 6, &back, 8);
    return (int)(n + 14);
}

/* The length of a register-to-register ALU or move instruction, or one
 * with a register and an immediate (a REX prefix at most, ModRM with mod 3:
 * no memory operand, so it runs the same anywhere: libc's mmap tests its
 * offset with test r32, imm32), or 0.  Only for copying instructions,
 * never to emulate them. */
static size_t reg_only_len(const uint8_t *b)
{
    size_t i = (b[0] & 0xf0) == 0x40 ? 1 : 0;
    static const uint8_t ops[] = { 0x01, 0x03, 0x09, 0x0b, 0x21, 0x23, 0x29, 0x2b, 0x31, 0x33, 0x39, 0x3b,
                                   0x85, 0x87, 0x89, 0x8b, 0xf7, 0x81, 0x83, 0xc1 };
    if ((b[i + 1] >> 6) != 3 || !memchr(ops, b[i], sizeof ops))
        return 0;
    if (b[i] == 0xf7 && ((b[i + 1] >> 3) & 7) < 2)
        return i + 6; /* test r/m, imm32 */
    if (b[i] == 0x81)
        return i + 6; /* ALU r/m, imm32 */
    if (b[i] == 0x83 || b[i] == 0xc1)
        return i + 3; /* ALU r/m, imm8; shifts by imm8 */
    return i + 2;
}

/* jmp *0(%rip); .quad target: 14 bytes at out. */
static size_t put_abs_jump(uint8_t *out, uint64_t target)
{
    static const uint8_t jmp_abs[6] = { 0xff, 0x25, 0, 0, 0, 0 };
    memcpy(out, jmp_abs, sizeof jmp_abs);
    memcpy(out + 6, &target, 8);
    return 14;
}

/* A conditional jump (jcc rel8 or rel32) at b: its condition (0-15) and
 * length, the target's offset in *disp; or 0. */
static size_t jcc_len(const uint8_t *b, int *cond, int32_t *disp)
{
    if (b[0] >= 0x70 && b[0] <= 0x7f) {
        *cond = b[0] - 0x70;
        *disp = (int8_t)b[1];
        return 2;
    }
    if (b[0] == 0x0f && b[1] >= 0x80 && b[1] <= 0x8f) {
        *cond = b[1] - 0x80;
        *disp = i32(b + 2);
        return 6;
    }
    return 0;
}

int mp_emu_relocate_run(const uint8_t *orig, size_t orig_len, uint64_t addr, size_t min_len, uint8_t *out, size_t cap,
                        size_t *displaced, int *verbatim)
{
    size_t in = 0, n = 0;
    *verbatim = 1;
    while (in < min_len) {
        struct mp_emu e;
        uint8_t window[16] = { 0 };
        memcpy(window, orig + in, orig_len - in < sizeof window ? orig_len - in : sizeof window);
        mp_emu_decode(window, &e);
        int cond;
        int32_t disp;
        size_t jlen = in > 0 ? jcc_len(window, &cond, &disp) : 0;
        if (jlen) { /* past the first: j!cc over an absolute jump to its target */
            uint64_t target = addr + in + jlen + (uint64_t)(int64_t)disp;
            if (in + jlen > orig_len || n + 2 + 14 > cap || (target > addr && target < addr + in + jlen))
                return -1; /* (a target inside the bytes the copy replaces) */
            out[n++] = (uint8_t)(0x70 + (cond ^ 1));
            out[n++] = 14;
            n += put_abs_jump(out + n, target);
            in += jlen;
            *verbatim = 0;
            continue;
        }
        if (e.kind == EMU_JMP && e.len >= min_len - in && in + e.len <= orig_len) {
            /* a jump on (mimalloc's forms of new and delete): nothing after it runs */
            if (n + 14 > cap)
                return -1;
            n += put_abs_jump(out + n, addr + in + e.len + (uint64_t)(int64_t)e.disp);
            *displaced = in + e.len;
            *verbatim = 0;
            return (int)n;
        }
        if (!e.kind && in > 0) { /* past the first: only copied, never emulated */
            size_t len = reg_only_len(window);
            if (!len || in + len > orig_len || n + len > cap)
                return -1;
            memcpy(out + n, window, len);
            n += len;
            in += len;
            continue;
        }
        if (!e.kind || in + e.len > orig_len)
            return -1;
        if (e.kind == EMU_RET) { /* nothing runs after it: the bytes up to min_len are dead padding */
            if (n + 1 > cap)
                return -1;
            out[n++] = 0xc3;
            in = min_len;
            break;
        }
        uint8_t one[32];
        int len = mp_emu_relocate(&e, orig + in, addr + in, one, sizeof one);
        if (len < 14)
            return -1;
        len -= 14; /* without its jump back */
        if (len != e.len || memcmp(one, orig + in, (size_t)len) != 0)
            *verbatim = 0;
        if (n + (size_t)len > cap)
            return -1;
        memcpy(out + n, one, (size_t)len);
        n += (size_t)len;
        in += e.len;
    }
    if (n + 14 > cap)
        return -1;
    n += put_abs_jump(out + n, addr + in);
    *displaced = in;
    return (int)n;
}
