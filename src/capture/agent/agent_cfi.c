/* memprof agent: the unwind rule of one code address, read from the
 * program's .eh_frame (through the loader's PT_GNU_EH_FRAME table), for
 * the fast unwinder (agent_fastunwind.c).
 *
 * Only what an x86-64 frame needs to be stepped over: where the CFA is
 * (rsp or rbp plus an offset), that the return address is at CFA - 8, and
 * where the caller's rbp was saved, if it was.  Anything else (a CFA
 * expression, a signal frame, a register kept in another register, an
 * encoding the loader's table does not use) makes the rule RULE_SLOW:
 * libunwind unwinds that stack.  Reads the program's tables: callers run
 * it under the fault guard (agent_unwind.c). */
#define _GNU_SOURCE
#include <link.h>
#include <stdint.h>
#include <string.h>

#include "agent_internal.h"

#define DW_EH_PE_omit 0xff
#define DW_EH_PE_absptr 0x00
#define DW_EH_PE_uleb128 0x01
#define DW_EH_PE_udata2 0x02
#define DW_EH_PE_udata4 0x03
#define DW_EH_PE_udata8 0x04
#define DW_EH_PE_sleb128 0x09
#define DW_EH_PE_sdata2 0x0a
#define DW_EH_PE_sdata4 0x0b
#define DW_EH_PE_sdata8 0x0c
#define DW_EH_PE_pcrel 0x10
#define DW_EH_PE_datarel 0x30
#define DW_EH_PE_indirect 0x80

#define REG_RBP 6
#define REG_RSP 7
#define REG_RA 16

#define MAX_STATES 8
#define MAX_CFA_BYTES (1u << 16) /* a CIE's or FDE's instructions: more is not a real table */

struct reader {
    const uint8_t *p, *end;
    int bad;
};

static uint8_t u8(struct reader *r)
{
    if (r->p >= r->end) {
        r->bad = 1;
        return 0;
    }
    return *r->p++;
}

static uint64_t fixed(struct reader *r, int bytes)
{
    if (r->end - r->p < bytes) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, r->p, (size_t)bytes);
    r->p += bytes;
    return v;
}

static uint64_t uleb(struct reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t b = u8(r);
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = 1;
    return 0;
}

static int64_t sleb(struct reader *r)
{
    int64_t v = 0;
    int shift = 0;
    uint8_t b;
    do {
        b = u8(r);
        v |= (int64_t)(b & 0x7f) << shift;
        shift += 7;
    } while ((b & 0x80) && shift < 64);
    if (shift < 64 && (b & 0x40))
        v |= -((int64_t)1 << shift);
    return v;
}

/* A pointer in encoding `enc` (pcrel: relative to where it is; datarel:
 * to `data`).  Indirect pointers are not followed (bad). */
static uint64_t pointer(struct reader *r, uint8_t enc, uintptr_t data)
{
    uintptr_t here = (uintptr_t)r->p;
    uint64_t v;
    switch (enc & 0x0f) {
    case DW_EH_PE_absptr: v = fixed(r, 8); break;
    case DW_EH_PE_uleb128: v = uleb(r); break;
    case DW_EH_PE_udata2: v = fixed(r, 2); break;
    case DW_EH_PE_udata4: v = fixed(r, 4); break;
    case DW_EH_PE_udata8: v = fixed(r, 8); break;
    case DW_EH_PE_sleb128: v = (uint64_t)sleb(r); break;
    case DW_EH_PE_sdata2: v = (uint64_t)(int64_t)(int16_t)fixed(r, 2); break;
    case DW_EH_PE_sdata4: v = (uint64_t)(int64_t)(int32_t)fixed(r, 4); break;
    case DW_EH_PE_sdata8: v = fixed(r, 8); break;
    default: r->bad = 1; return 0;
    }
    switch (enc & 0x70) {
    case 0: break;
    case DW_EH_PE_pcrel: v += here; break;
    case DW_EH_PE_datarel: v += data; break;
    default: r->bad = 1; return 0;
    }
    if (enc & DW_EH_PE_indirect)
        r->bad = 1;
    return v;
}

/* ---- finding the FDE ---- */

struct hdr_search {
    uintptr_t pc;
    const uint8_t *hdr; /* the object's .eh_frame_hdr, if it holds pc */
    size_t hdr_bytes;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct hdr_search *s = data;
    const ElfW(Phdr) *eh = NULL;
    int holds = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && s->pc >= lo && s->pc - lo < ph->p_memsz)
            holds = 1;
        else if (ph->p_type == PT_GNU_EH_FRAME)
            eh = ph;
    }
    if (!holds)
        return 0;
    if (eh) {
        s->hdr = (const uint8_t *)(info->dlpi_addr + eh->p_vaddr);
        s->hdr_bytes = eh->p_memsz;
    }
    return 1;
}

/* The FDE that covers pc, through the binary-search table of the object's
 * .eh_frame_hdr (the table gcc's and the linkers' write: datarel sdata4). */
static const uint8_t *find_fde(uintptr_t pc)
{
    struct hdr_search s = {pc, NULL, 0};
    dl_iterate_phdr(find_object, &s);
    if (!s.hdr || s.hdr_bytes < 4 || s.hdr[0] != 1)
        return NULL;
    uint8_t ptr_enc = s.hdr[1], count_enc = s.hdr[2], table_enc = s.hdr[3];
    if (table_enc != (DW_EH_PE_datarel | DW_EH_PE_sdata4))
        return NULL;
    struct reader r = {s.hdr + 4, s.hdr + s.hdr_bytes, 0};
    pointer(&r, ptr_enc, (uintptr_t)s.hdr);
    uint64_t count = pointer(&r, count_enc, (uintptr_t)s.hdr);
    if (r.bad || count == 0 || count > (uint64_t)(r.end - r.p) / 8)
        return NULL;
    const int32_t *table = (const int32_t *)r.p;
    intptr_t rel = (intptr_t)(pc - (uintptr_t)s.hdr);
    if (rel < table[0])
        return NULL;
    uint64_t lo = 0, hi = count; /* table[2 * lo] <= rel < table[2 * hi] */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (table[2 * mid] <= rel)
            lo = mid;
        else
            hi = mid;
    }
    return s.hdr + table[2 * lo + 1];
}

/* ---- running the CFA program ---- */

enum reg_how { SAME = 0, AT_CFA = 1, UNDEFINED = 2, OTHER = 3 };

struct frame_state {
    int cfa_reg;
    int64_t cfa_off;
    uint8_t rbp_how, ra_how;
    int64_t rbp_off, ra_off;
};

struct cie {
    uint64_t code_align;
    int64_t data_align;
    uint64_t ra_reg;
    uint8_t fde_enc;
    int signal_frame;
    int has_z;
    const uint8_t *insns, *insns_end;
};

static void set_reg(struct frame_state *st, uint64_t reg, uint8_t how, int64_t off)
{
    if (reg == REG_RBP) {
        st->rbp_how = how;
        st->rbp_off = off;
    } else if (reg == REG_RA) {
        st->ra_how = how;
        st->ra_off = off;
    }
}

/* Runs instructions [p, end) up to address `target` (loc: where they
 * start).  0, or -1 when the rule cannot be a fast one. */
static int run_cfa(const struct cie *cie, const uint8_t *p, const uint8_t *end, uintptr_t loc, uintptr_t target,
                   struct frame_state *st, const struct frame_state *initial)
{
    struct frame_state saved[MAX_STATES];
    int depth = 0;
    struct reader r = {p, end, 0};
    while (r.p < r.end && !r.bad) {
        uint8_t op = u8(&r);
        uint64_t reg;
        switch (op & 0xc0) {
        case 0x40: /* advance_loc */
            loc += (op & 0x3f) * cie->code_align;
            if (loc > target)
                return 0;
            continue;
        case 0x80: /* offset */
            set_reg(st, op & 0x3f, AT_CFA, (int64_t)uleb(&r) * cie->data_align);
            continue;
        case 0xc0: /* restore */
            reg = op & 0x3f;
            if (reg == REG_RBP)
                st->rbp_how = initial->rbp_how, st->rbp_off = initial->rbp_off;
            else if (reg == REG_RA)
                st->ra_how = initial->ra_how, st->ra_off = initial->ra_off;
            continue;
        }
        switch (op) {
        case 0x00: break; /* nop */
        case 0x01: /* set_loc */
            loc = pointer(&r, cie->fde_enc, 0);
            if (loc > target)
                return 0;
            break;
        case 0x02: case 0x03: case 0x04: /* advance_loc1, 2, 4 */
            loc += fixed(&r, op == 0x02 ? 1 : op == 0x03 ? 2 : 4) * cie->code_align;
            if (loc > target)
                return r.bad ? -1 : 0;
            break;
        case 0x05: /* offset_extended */
            reg = uleb(&r);
            set_reg(st, reg, AT_CFA, (int64_t)uleb(&r) * cie->data_align);
            break;
        case 0x06: /* restore_extended */
            reg = uleb(&r);
            if (reg == REG_RBP)
                st->rbp_how = initial->rbp_how, st->rbp_off = initial->rbp_off;
            else if (reg == REG_RA)
                st->ra_how = initial->ra_how, st->ra_off = initial->ra_off;
            break;
        case 0x07: set_reg(st, uleb(&r), UNDEFINED, 0); break;
        case 0x08: set_reg(st, uleb(&r), SAME, 0); break;
        case 0x09: /* register: kept in another register */
            reg = uleb(&r);
            uleb(&r);
            set_reg(st, reg, OTHER, 0);
            break;
        case 0x0a: /* remember_state */
            if (depth == MAX_STATES)
                return -1;
            saved[depth++] = *st;
            break;
        case 0x0b: /* restore_state: the whole row, the CFA rule too */
            if (depth == 0)
                return -1;
            *st = saved[--depth];
            break;
        case 0x0c: /* def_cfa */
            st->cfa_reg = (int)uleb(&r);
            st->cfa_off = (int64_t)uleb(&r);
            break;
        case 0x0d: st->cfa_reg = (int)uleb(&r); break;
        case 0x0e: st->cfa_off = (int64_t)uleb(&r); break;
        case 0x0f: return -1; /* def_cfa_expression */
        case 0x10: case 0x16: /* expression, val_expression */
            reg = uleb(&r);
            uint64_t block = uleb(&r); /* (read before r.p is moved) */
            if (block > (uint64_t)(r.end - r.p))
                return -1;
            r.p += block;
            set_reg(st, reg, OTHER, 0);
            break;
        case 0x11: /* offset_extended_sf */
            reg = uleb(&r);
            set_reg(st, reg, AT_CFA, sleb(&r) * cie->data_align);
            break;
        case 0x12: /* def_cfa_sf */
            st->cfa_reg = (int)uleb(&r);
            st->cfa_off = sleb(&r) * cie->data_align;
            break;
        case 0x13: st->cfa_off = sleb(&r) * cie->data_align; break;
        case 0x14: case 0x15: /* val_offset, val_offset_sf */
            reg = uleb(&r);
            if (op == 0x14)
                uleb(&r);
            else
                sleb(&r);
            set_reg(st, reg, OTHER, 0);
            break;
        case 0x2e: uleb(&r); break; /* GNU_args_size */
        case 0x2f: /* GNU_negative_offset_extended */
            reg = uleb(&r);
            set_reg(st, reg, AT_CFA, -(int64_t)uleb(&r) * cie->data_align);
            break;
        default:
            return -1;
        }
    }
    return r.bad ? -1 : 0;
}

/* A CIE at p (its length field). */
static int parse_cie(const uint8_t *p, struct cie *cie)
{
    uint32_t len = *(const uint32_t *)p;
    if (len == 0 || len == 0xffffffffu || len > MAX_CFA_BYTES)
        return -1;
    struct reader r = {p + 4, p + 4 + len, 0};
    if (fixed(&r, 4) != 0) /* CIE id */
        return -1;
    uint8_t version = u8(&r);
    if (version != 1 && version != 3)
        return -1;
    const char *aug = (const char *)r.p;
    size_t aug_len = strnlen(aug, (size_t)(r.end - r.p));
    r.p += aug_len + 1;
    if (r.p > r.end || (aug_len > 0 && aug[0] != 'z'))
        return -1; /* "eh" and other old forms: libunwind's */
    cie->code_align = uleb(&r);
    cie->data_align = sleb(&r);
    cie->ra_reg = version == 1 ? u8(&r) : uleb(&r);
    cie->fde_enc = DW_EH_PE_absptr;
    cie->signal_frame = 0;
    cie->has_z = aug_len > 0;
    if (aug_len > 0) {
        uint64_t data_len = uleb(&r);
        const uint8_t *data_end = r.p + data_len;
        for (size_t i = 1; i < aug_len && !r.bad; i++) {
            switch (aug[i]) {
            case 'R': cie->fde_enc = u8(&r); break;
            case 'L': u8(&r); break;
            case 'P': {
                uint8_t enc = u8(&r);
                pointer(&r, enc & ~DW_EH_PE_indirect, 0);
                break;
            }
            case 'S': cie->signal_frame = 1; break;
            default: return -1;
            }
        }
        if (r.bad || data_end > r.end)
            return -1;
        r.p = data_end;
    }
    if (r.bad || cie->ra_reg != REG_RA)
        return -1;
    cie->insns = r.p;
    cie->insns_end = r.end;
    return 0;
}

int agent_cfi_rule(uintptr_t pc, struct agent_cfi_rule *rule)
{
    rule->kind = AGENT_RULE_SLOW;
    const uint8_t *fde = find_fde(pc);
    if (!fde)
        return -1;
    uint32_t len = *(const uint32_t *)fde;
    if (len == 0 || len == 0xffffffffu || len > MAX_CFA_BYTES)
        return -1;
    uint32_t cie_off = *(const uint32_t *)(fde + 4);
    if (cie_off == 0 || cie_off > (uintptr_t)(fde + 4))
        return -1;
    struct cie cie;
    if (parse_cie(fde + 4 - cie_off, &cie) != 0 || cie.signal_frame)
        return -1;
    struct reader r = {fde + 8, fde + 4 + len, 0};
    uintptr_t start = pointer(&r, cie.fde_enc, 0);
    uintptr_t range = pointer(&r, cie.fde_enc & 0x0f, 0);
    if (r.bad || pc < start || pc - start >= range)
        return -1;
    if (cie.has_z) { /* the augmentation data (the LSDA pointer): skipped */
        uint64_t aug = uleb(&r);
        if (aug > (uint64_t)(r.end - r.p))
            return -1;
        r.p += aug;
    }
    if (r.bad)
        return -1;
    struct frame_state initial = {REG_RSP, 8, SAME, AT_CFA, 0, -8};
    if (run_cfa(&cie, cie.insns, cie.insns_end, 0, 0, &initial, &initial) != 0)
        return -1; /* (a CIE's program has no advances: loc and target 0 run it whole) */
    struct frame_state st = initial;
    const uint8_t *insns = r.p;
    if (run_cfa(&cie, insns, r.end, start, pc, &st, &initial) != 0)
        return -1;
    if (st.cfa_reg != REG_RSP && st.cfa_reg != REG_RBP)
        return -1;
    if (st.cfa_off < INT32_MIN || st.cfa_off > INT32_MAX)
        return -1;
    if (st.ra_how == UNDEFINED) {
        rule->kind = AGENT_RULE_END;
        return 0;
    }
    if (st.ra_how != AT_CFA || st.ra_off != -8)
        return -1;
    if (st.rbp_how != SAME && st.rbp_how != AT_CFA)
        return -1;
    if (st.rbp_how == AT_CFA && (st.rbp_off < -2048 || st.rbp_off > 2047))
        return -1;
    rule->kind = AGENT_RULE_STEP;
    rule->cfa_rbp = st.cfa_reg == REG_RBP;
    rule->cfa_off = (int32_t)st.cfa_off;
    rule->rbp_saved = st.rbp_how == AT_CFA;
    rule->rbp_off = (int16_t)st.rbp_off;
    return 0;
}
