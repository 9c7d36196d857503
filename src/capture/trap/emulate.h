/* memprof: carrying out the one instruction under an INT3 of ours in the
 * tracer instead of single-stepping it (as the kernel's uprobes do), so the
 * INT3 never leaves the text.  Used by line mode and the breakpoint engine. */
#ifndef MEMPROF_EMULATE_H
#define MEMPROF_EMULATE_H

#include <stddef.h>
#include <stdint.h>

/* The instruction under a breakpoint, when it is one emulate.c can carry
 * out itself (no single-step, the INT3 stays in place). */
struct mp_emu {
    uint8_t kind;           /* enum in emulate.c; 0: step over it */
    uint8_t len;            /* instruction length */
    uint8_t width;          /* operand bytes: 4 or 8 */
    uint8_t reg;            /* register operand (0-15, x86 numbering) */
    uint8_t base;           /* base register of the memory operand; 16: rip */
    int32_t disp;           /* displacement, or rel8/rel32 of a jump or call */
    int64_t imm;            /* immediate */
};

/* Decode the instruction at `bytes` (16 bytes, the original text). */
void mp_emu_decode(const uint8_t *bytes, struct mp_emu *out);
struct user_regs_struct;
/* Carry it out on `regs` (rip = its address) and the target's memory
 * through mem_fd.  0 when done (regs updated, to be set), -1: step it. */
int mp_emu_execute(const struct mp_emu *e, struct user_regs_struct *regs, int mem_fd);

/* What alias analysis (bp_alias.c) needs: an unconditional direct jump
 * (target: address + len + disp), or a move between registers (or a nop)
 * that a forwarding function does before it jumps on. */
int mp_emu_is_jump(const struct mp_emu *e);
int mp_emu_is_register_move(const struct mp_emu *e);

/* When the instruction is a push: 1 and the value it stores at rsp - 8. */
int mp_emu_push_value(const struct mp_emu *e, const struct user_regs_struct *regs, uint64_t *value);

/* The instruction (orig: its bytes, at addr) rewritten to run anywhere,
 * followed by an absolute jump to addr + its length: what a thread runs
 * instead when memprof is not there to carry it out (bp_guard.c).  Length
 * written to out, or -1 (cap too small, or an instruction that is not
 * relocated: jumps, calls, rip-relative moves). */
int mp_emu_relocate(const struct mp_emu *e, const uint8_t *orig, uint64_t addr, uint8_t *out, size_t cap);

/* The instructions at addr (orig: orig_len bytes of them) covering at
 * least min_len bytes, relocated one after the other (a return ends them:
 * what follows it up to min_len is taken as dead padding; so does a jump
 * rel32 long enough to cover the rest; a conditional jump after the first
 * becomes one over an absolute jump to its target), then the jump back to
 * addr + *displaced.  *verbatim: 1 when every instruction was
 * copied as is (so an address inside them maps to the same offset in the
 * copy).  Length written, or -1. */
int mp_emu_relocate_run(const uint8_t *orig, size_t orig_len, uint64_t addr, size_t min_len, uint8_t *out, size_t cap,
                        size_t *displaced, int *verbatim);

#endif
