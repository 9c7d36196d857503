/* memprof: allocator entries that only pass the call on (see bp_alias.h).
 * An entry is read as: endbr64 / nop / mov reg, reg (at most four), then
 * jmp rel8/rel32 or jmp *[rip+disp].  A direct target that is a PLT stub
 * (endbr64, bnd, jmp *[rip+disp]) is followed to its GOT slot, whose
 * symbol (the module's JUMP_SLOT relocation) is bound by name in lookup
 * order: the GOT itself may still point back into the PLT (lazy binding). */
#define _GNU_SOURCE
#include "bp_alias.h"
#include "capture/trap/emulate.h"

#include <string.h>
#include <unistd.h>

#define LOOK_BYTES 32

/* rip-relative indirect jump at b: [f2] ff 25 disp32.  Its length, or 0. */
static int indirect_jump(const uint8_t *b, int32_t *disp)
{
    int p = b[0] == 0xf2 ? 1 : 0; /* bnd */
    if (b[p] != 0xff || b[p + 1] != 0x25)
        return 0;
    memcpy(disp, b + p + 2, sizeof *disp);
    return p + 6;
}

static int is_endbr64(const uint8_t *b)
{
    return b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && b[3] == 0xfa;
}

/* The function a GOT slot's symbol is bound to, or 0. */
static uint64_t through_got(const struct mp_alloc_entries *e, uint64_t slot)
{
    const struct mp_bp_module *m = mp_bp_module_at(e, slot);
    char name[256];
    if (!m || mp_bp_got_symbol(m, slot, name, sizeof name) != 0)
        return 0;
    return mp_bp_lookup(e, name);
}

uint64_t mp_bp_forwards_to(int mem_fd, const struct mp_alloc_entries *e, uint64_t entry)
{
    uint8_t b[LOOK_BYTES + 16];
    memset(b, 0, sizeof b);
    if (pread(mem_fd, b, LOOK_BYTES, (off_t)entry) != LOOK_BYTES)
        return 0;
    size_t at = 0;
    for (int steps = 0; steps < 4 && at < LOOK_BYTES; steps++) {
        int32_t disp;
        int len = indirect_jump(b + at, &disp);
        if (len)
            return through_got(e, entry + at + (uint64_t)len + (uint64_t)(int64_t)disp);
        struct mp_emu emu;
        mp_emu_decode(b + at, &emu);
        if (mp_emu_is_jump(&emu)) {
            uint64_t target = entry + at + emu.len + (uint64_t)(int64_t)emu.disp;
            uint8_t t[16];
            if (pread(mem_fd, t, sizeof t, (off_t)target) != (ssize_t)sizeof t)
                return target;
            size_t q = is_endbr64(t) ? 4 : 0;
            len = indirect_jump(t + q, &disp);
            return len ? through_got(e, target + q + (uint64_t)len + (uint64_t)(int64_t)disp) : target;
        }
        if (!mp_emu_is_register_move(&emu))
            return 0;
        at += emu.len;
    }
    return 0;
}
