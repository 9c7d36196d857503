/* memprof: a CPython layout read from the interpreter's debug information
 * (see py_layout.h).
 *
 * The types are found by name among the top-level DIEs of the compile
 * units, the units that define them first (Python/ceval.c, pystate.c,
 * Objects/codeobject.c, unicodeobject.c, bytesobject.c), all others if
 * something is still missing: GCC only emits the types a unit uses.  A
 * struct can be named directly (struct _ts) or through a typedef of an
 * anonymous struct (PyASCIIObject). */
#define _GNU_SOURCE
#include "py_layout.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdio.h>
#include <string.h>

enum want {
    W_TSTATE, W_CFRAME, W_FRAME, W_CODE, W_OBJECT, W_ASCII, W_COMPACT, W_BYTES, W_OWNER, W_RUNTIME, W_INTERP,
    W_COUNT
};
static const char *const want_names[W_COUNT] = {
    "_ts", "_PyCFrame", "_PyInterpreterFrame", "PyCodeObject", "_object",
    "PyASCIIObject", "PyCompactUnicodeObject", "PyBytesObject", "_frameowner", "_PyRuntimeState", "_is",
};

struct search {
    Dwarf_Die die[W_COUNT];
    int found[W_COUNT];
    int n_found;
};

/* Follows typedefs and qualifiers down to the type they name. */
static int underlying(Dwarf_Die *die, Dwarf_Die *out)
{
    Dwarf_Die cur = *die;
    for (int depth = 0; depth < 16; depth++) {
        int tag = dwarf_tag(&cur);
        if (tag != DW_TAG_typedef && tag != DW_TAG_const_type && tag != DW_TAG_volatile_type)
            break;
        Dwarf_Attribute attr;
        if (!dwarf_attr_integrate(&cur, DW_AT_type, &attr) || !dwarf_formref_die(&attr, &cur))
            return -1;
    }
    *out = cur;
    return 0;
}

static void consider(struct search *s, Dwarf_Die *die)
{
    int tag = dwarf_tag(die);
    if (tag != DW_TAG_structure_type && tag != DW_TAG_typedef && tag != DW_TAG_enumeration_type)
        return;
    const char *name = dwarf_diename(die);
    if (!name)
        return;
    for (int w = 0; w < W_COUNT; w++) {
        if (s->found[w] || strcmp(name, want_names[w]) != 0)
            continue;
        Dwarf_Die type;
        if (underlying(die, &type) != 0 || !dwarf_haschildren(&type) || dwarf_hasattr(&type, DW_AT_declaration))
            return;
        int want_tag = w == W_OWNER ? DW_TAG_enumeration_type : DW_TAG_structure_type;
        if (dwarf_tag(&type) != want_tag)
            return;
        s->die[w] = type;
        s->found[w] = 1;
        s->n_found++;
        return;
    }
}

static void search_unit(struct search *s, Dwarf_Die *cu)
{
    Dwarf_Die child;
    if (dwarf_child(cu, &child) != 0)
        return;
    do
        consider(s, &child);
    while (s->n_found < W_COUNT && dwarf_siblingof(&child, &child) == 0);
}

static int is_priority_unit(const char *name)
{
    static const char *const units[] = {
        "Python/ceval.c", "Python/pystate.c", "Objects/codeobject.c", "Objects/unicodeobject.c",
        "Objects/bytesobject.c", "Python/frame.c", "Python/pylifecycle.c",
    };
    size_t len = name ? strlen(name) : 0;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        size_t u = strlen(units[i]);
        if (len >= u && strcmp(name + len - u, units[i]) == 0)
            return 1;
    }
    return 0;
}

static void search_all(Dwarf *dw, struct search *s)
{
    for (int pass = 0; pass < 2 && s->n_found < W_COUNT; pass++) {
        Dwarf_Off off = 0, next;
        size_t header;
        while (s->n_found < W_COUNT && dwarf_nextcu(dw, off, &next, &header, NULL, NULL, NULL) == 0) {
            Dwarf_Die cu;
            if (dwarf_offdie(dw, off + header, &cu) && is_priority_unit(dwarf_diename(&cu)) == (pass == 0))
                search_unit(s, &cu);
            off = next;
        }
    }
}

/* ---- members ---- */

/* Offset (in bits) of member `path` ("a" or "a.b") of struct `type`. */
static int member_bits(Dwarf_Die *type, const char *path, long *bits_out)
{
    char first[64];
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    if (len >= sizeof first)
        return -1;
    memcpy(first, path, len);
    first[len] = '\0';
    Dwarf_Die child;
    if (dwarf_child(type, &child) != 0)
        return -1;
    do {
        if (dwarf_tag(&child) != DW_TAG_member)
            continue;
        const char *name = dwarf_diename(&child);
        if (!name || strcmp(name, first) != 0)
            continue;
        Dwarf_Attribute attr;
        Dwarf_Word word = 0;
        long bits = 0;
        if (dwarf_attr(&child, DW_AT_data_member_location, &attr) && dwarf_formudata(&attr, &word) == 0)
            bits = (long)word * 8;
        if (dwarf_attr(&child, DW_AT_data_bit_offset, &attr) && dwarf_formudata(&attr, &word) == 0) {
            bits = (long)word;
        } else if (dwarf_attr(&child, DW_AT_bit_offset, &attr) && dwarf_formudata(&attr, &word) == 0) {
            /* DWARF 2/3: counted from the storage unit's most significant bit */
            Dwarf_Word unit = 0, size = 0;
            Dwarf_Attribute a2;
            if (dwarf_attr(&child, DW_AT_byte_size, &a2))
                dwarf_formudata(&a2, &unit);
            if (dwarf_attr(&child, DW_AT_bit_size, &a2))
                dwarf_formudata(&a2, &size);
            bits += (long)(unit * 8 - word - size);
        }
        if (!dot) {
            *bits_out = bits;
            return 0;
        }
        Dwarf_Die inner, resolved;
        if (!dwarf_attr_integrate(&child, DW_AT_type, &attr) || !dwarf_formref_die(&attr, &inner) ||
            underlying(&inner, &resolved) != 0)
            return -1;
        long rest;
        if (member_bits(&resolved, dot + 1, &rest) != 0)
            return -1;
        *bits_out = bits + rest;
        return 0;
    } while (dwarf_siblingof(&child, &child) == 0);
    return -1;
}

static long enumerator(Dwarf_Die *type, const char *name)
{
    Dwarf_Die child;
    if (dwarf_child(type, &child) != 0)
        return -1;
    do {
        const char *n = dwarf_diename(&child);
        Dwarf_Attribute attr;
        Dwarf_Sword value;
        if (dwarf_tag(&child) == DW_TAG_enumerator && n && strcmp(n, name) == 0 &&
            dwarf_attr(&child, DW_AT_const_value, &attr) && dwarf_formsdata(&attr, &value) == 0)
            return (long)value;
    } while (dwarf_siblingof(&child, &child) == 0);
    return -1;
}

struct field {
    enum want type;
    const char *member;  /* NULL: the type's size */
    size_t offset;       /* in struct mp_py_layout */
    int optional;
    int bit;             /* a bit number (uint8_t field), not a byte offset */
};

#define F(t, m, f) { t, m, offsetof(struct mp_py_layout, f), 0, 0 }
#define OPT(t, m, f) { t, m, offsetof(struct mp_py_layout, f), 1, 0 }
#define BIT(t, m, f) { t, m, offsetof(struct mp_py_layout, f), 0, 1 }
static const struct field fields[] = {
    F(W_TSTATE, "cframe", tstate_cframe),
    F(W_TSTATE, "c_tracefunc", tstate_c_tracefunc),
    F(W_CFRAME, "current_frame", cframe_current_frame),
    F(W_FRAME, "f_code", frame_code),
    F(W_FRAME, "previous", frame_previous),
    F(W_FRAME, "prev_instr", frame_prev_instr),
    F(W_FRAME, "owner", frame_owner),
    OPT(W_FRAME, "is_entry", frame_is_entry),
    F(W_OBJECT, "ob_type", object_type),
    F(W_CODE, "co_filename", code_filename),
    F(W_CODE, "co_name", code_name),
    F(W_CODE, "co_qualname", code_qualname),
    F(W_CODE, "co_firstlineno", code_firstlineno),
    F(W_CODE, "co_linetable", code_linetable),
    F(W_CODE, "_co_firsttraceable", code_firsttraceable),
    F(W_CODE, "co_code_adaptive", code_code_adaptive),
    F(W_ASCII, "length", str_length),
    F(W_ASCII, "state", str_state),
    F(W_ASCII, NULL, str_ascii_size),
    F(W_COMPACT, NULL, str_compact_size),
    F(W_COMPACT, "utf8_length", str_utf8_length),
    F(W_COMPACT, "utf8", str_utf8),
    BIT(W_ASCII, "state.kind", state_kind_bit),
    BIT(W_ASCII, "state.compact", state_compact_bit),
    BIT(W_ASCII, "state.ascii", state_ascii_bit),
    F(W_BYTES, "ob_base.ob_size", bytes_size),
    F(W_BYTES, "ob_sval", bytes_sval),
    F(W_RUNTIME, "interpreters.head", runtime_interpreters_head),
    F(W_INTERP, "next", interp_next),
    F(W_INTERP, "threads.head", interp_threads_head),
    F(W_TSTATE, "next", tstate_next),
    F(W_TSTATE, "native_thread_id", tstate_native_thread_id),
};

static const char *const type_labels[W_COUNT] = {
    "PyThreadState", "_PyCFrame", "_PyInterpreterFrame", "PyCodeObject", "PyObject",
    "PyASCIIObject", "PyCompactUnicodeObject", "PyBytesObject", "enum _frameowner", "_PyRuntimeState",
    "PyInterpreterState",
};

static int fill(struct search *s, struct mp_py_layout *out, char *err, size_t errlen)
{
    for (int w = 0; w < W_COUNT; w++)
        if (!s->found[w]) {
            snprintf(err, errlen, "its debug information has no %s", type_labels[w]);
            return -2;
        }
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        const struct field *f = &fields[i];
        long value;
        if (!f->member) {
            Dwarf_Attribute attr;
            Dwarf_Word size;
            if (!dwarf_attr(&s->die[f->type], DW_AT_byte_size, &attr) || dwarf_formudata(&attr, &size) != 0) {
                snprintf(err, errlen, "its debug information has no size for %s", type_labels[f->type]);
                return -2;
            }
            value = (long)size;
        } else if (member_bits(&s->die[f->type], f->member, &value) != 0) {
            if (!f->optional) {
                snprintf(err, errlen, "its debug information has no %s.%s", type_labels[f->type], f->member);
                return -2;
            }
            value = -8;
        } else if (!f->bit) {
            if (value % 8) {
                snprintf(err, errlen, "%s.%s is a bit field", type_labels[f->type], f->member);
                return -2;
            }
        }
        if (f->bit)
            *(uint8_t *)((char *)out + f->offset) = (uint8_t)(value - (long)out->str_state * 8);
        else
            *(int32_t *)((char *)out + f->offset) = f->member ? (int32_t)(value / 8) : (int32_t)value;
    }
    out->owner_generator = (int32_t)enumerator(&s->die[W_OWNER], "FRAME_OWNED_BY_GENERATOR");
    out->owner_cstack = (int32_t)enumerator(&s->die[W_OWNER], "FRAME_OWNED_BY_CSTACK");
    if (out->owner_generator < 0) {
        snprintf(err, errlen, "its debug information has no FRAME_OWNED_BY_GENERATOR");
        return -2;
    }
    if ((out->frame_is_entry < 0) == (out->owner_cstack < 0)) {
        snprintf(err, errlen, "its frames mark the evaluation loop's calls in a way memprof does not know");
        return -2;
    }
    return 0;
}

static const Dwfl_Callbacks offline_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

int mp_py_layout_from_dwarf(Dwarf *dw, uint32_t version, struct mp_py_layout *out, char *err, size_t errlen)
{
    err[0] = '\0';
    if (!dw)
        return -1;
    struct search s;
    memset(&s, 0, sizeof s);
    search_all(dw, &s);
    memset(out, 0, sizeof *out);
    out->version = version;
    return fill(&s, out, err, errlen);
}

int mp_py_layout_dwarf(const char *path, uint32_t version, struct mp_py_layout *out, char *err, size_t errlen)
{
    err[0] = '\0';
    Dwfl *dwfl = dwfl_begin(&offline_callbacks);
    Dwfl_Module *mod = dwfl ? dwfl_report_offline(dwfl, path, path, -1) : NULL;
    int rc = -1;
    if (mod) {
        dwfl_report_end(dwfl, NULL, NULL);
        Dwarf_Addr bias;
        rc = mp_py_layout_from_dwarf(dwfl_module_getdwarf(mod, &bias), version, out, err, errlen);
    }
    if (dwfl)
        dwfl_end(dwfl);
    return rc;
}
