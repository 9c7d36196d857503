/* memprof: line mode, the DWARF passes of resolution (linemode_resolve.c
 * runs them on the executable file, before the launch):
 *
 *  pass 1  every function definition in the DWARF (DW_TAG_subprogram that
 *          is neither a declaration nor a concrete copy of another DIE),
 *          to be matched against the patterns (linemode_resolve.c), and the
 *          names only declared (for linemode_unmatched.c's errors);
 *  pass 2  every copy of a chosen function: its out-of-line copies
 *          (the DIE itself, or subprograms whose DW_AT_abstract_origin is
 *          it: also .constprop/.isra clones) and its inlined copies
 *          (DW_TAG_inlined_subroutine).  For each copy, the is_stmt rows of
 *          the CU's line table inside the copy's ranges, minus the ranges of
 *          functions inlined into it (their lines belong to them; the call
 *          gets a point at the inlined code's entry with DW_AT_call_line,
 *          so the call line carries what the callee did), in the function's
 *          own file.  Several rows at one address: the last one wins (as in
 *          gdb).  The entry address of each out-of-line copy is flagged: a
 *          frame starts there.  An inlined copy makes the out-of-line
 *          function containing it an anchor (a frame-only entry); when
 *          that function is not profiled itself, each of its line rows
 *          outside the copies becomes a "leave" point: the thread left the
 *          inlined copy there, so the copy's line ends (what the rest of the
 *          function does is not the copy's).  Rows whose line is outside the
 *          chosen function's own lines (decl line up to the next function
 *          defined in its file) are code inlined from elsewhere and get no
 *          point.
 *
 * Addresses stay link-time; the load bias is added when arming. */
#define _GNU_SOURCE
#include "linemode_resolve_internal.h"
#include "symbols/sym_strings.h"

#include <dwarf.h>
#include <stdbool.h>
#include <stdlib.h>

/* ---- small DWARF helpers ---- */

static const char *comp_dir_of(Dwarf_Die *die)
{
    Dwarf_Die cu;
    Dwarf_Attribute attr;
    if (dwarf_diecu(die, &cu, NULL, NULL) == NULL)
        return NULL;
    return dwarf_formstring(dwarf_attr(&cu, DW_AT_comp_dir, &attr));
}

/* File index `index` of the CU holding `cu_member`, as a pooled absolute path.
 * (libdw 0.188's dwarf_decl_file rejects index 0, which DWARF 5 uses.) */
static const char *cu_file(struct resolver *r, Dwarf_Die *cu_member, Dwarf_Word index)
{
    Dwarf_Die cu;
    Dwarf_Files *files;
    if (dwarf_diecu(cu_member, &cu, NULL, NULL) == NULL || dwarf_getsrcfiles(&cu, &files, NULL) != 0)
        return NULL;
    const char *name = dwarf_filesrc(files, index, NULL, NULL);
    return name ? sym_strings_intern_path(r->strings, comp_dir_of(&cu), name) : NULL;
}

static const char *decl_file(struct resolver *r, Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    Dwarf_Word index;
    Dwarf_Die cu;
    if (dwarf_formudata(dwarf_attr_integrate(die, DW_AT_decl_file, &attr), &index) != 0 ||
        dwarf_cu_die(attr.cu, &cu, NULL, NULL, NULL, NULL, NULL, NULL) == NULL)
        return NULL;
    return cu_file(r, &cu, index);
}

static int has_code(Dwarf_Die *die)
{
    return dwarf_hasattr(die, DW_AT_low_pc) || dwarf_hasattr(die, DW_AT_ranges);
}

static int origin_of(Dwarf_Die *die, Dwarf_Off *off)
{
    Dwarf_Attribute attr;
    Dwarf_Die origin;
    if (dwarf_formref_die(dwarf_attr(die, DW_AT_abstract_origin, &attr), &origin) == NULL)
        return 0;
    *off = dwarf_dieoffset(&origin);
    return 1;
}

/* The address a call enters: DW_AT_entry_pc, DW_AT_low_pc, else the start
 * of the first range. */
static int entry_of(Dwarf_Die *die, Dwarf_Addr *out)
{
    if (dwarf_entrypc(die, out) == 0)
        return 0;
    Dwarf_Addr base, lo, hi;
    if (dwarf_ranges(die, 0, &base, &lo, &hi) > 0) {
        *out = lo;
        return 0;
    }
    return -1;
}

/* ---- pass 1: definitions ---- */

static void collect_definitions(struct resolver *r, Dwarf_Die *parent)
{
    Dwarf_Die child;
    if (dwarf_child(parent, &child) != 0)
        return;
    do {
        int tag = dwarf_tag(&child);
        if (tag == DW_TAG_subprogram) {
            Dwarf_Off ignored;
            const char *name = dwarf_diename(&child);
            if (dwarf_hasattr(&child, DW_AT_declaration)) {
                const char **d = name ? lm_vec_push(&r->decls) : NULL;
                if (d)
                    *d = sym_strings_intern(r->strings, name);
            } else if (!origin_of(&child, &ignored) && name &&
                       (has_code(&child) || dwarf_hasattr(&child, DW_AT_inline))) {
                struct cand *c = lm_vec_push(&r->cands);
                if (!c) {
                    r->oom = 1;
                    return;
                }
                Dwarf_Attribute attr;
                const char *linkage = dwarf_formstring(dwarf_attr_integrate(&child, DW_AT_linkage_name, &attr));
                c->off = dwarf_dieoffset(&child);
                c->name = sym_strings_intern(r->strings, name);
                c->linkage = linkage ? sym_strings_intern_demangled(r->strings, linkage) : NULL;
                c->file = decl_file(r, &child);
                if (dwarf_decl_line(&child, &c->line) != 0)
                    c->line = 0;
            }
            collect_definitions(r, &child); /* nested functions, local classes */
        } else if (tag == DW_TAG_namespace || tag == DW_TAG_class_type || tag == DW_TAG_structure_type ||
                   tag == DW_TAG_union_type || tag == DW_TAG_lexical_block) {
            collect_definitions(r, &child);
        }
    } while (dwarf_siblingof(&child, &child) == 0);
}

/* ---- the chosen functions, by DIE offset ---- */

int lm_cmp_chosen(const void *a, const void *b)
{
    const struct chosen *x = a, *y = b;
    return (x->off > y->off) - (x->off < y->off);
}

static int find_chosen(struct resolver *r, Dwarf_Off off, uint32_t *func)
{
    struct chosen key = { off, 0 };
    if (!r->chosen.n)
        return 0;
    struct chosen *hit = bsearch(&key, r->chosen.items, r->chosen.n, sizeof key, lm_cmp_chosen);
    if (!hit)
        return 0;
    *func = hit->func;
    return 1;
}

/* ---- pass 2: the copies of the chosen functions ---- */

static void add_ranges(struct resolver *r, struct vec *v, Dwarf_Die *die)
{
    Dwarf_Addr base, lo, hi;
    ptrdiff_t offset = 0;
    while ((offset = dwarf_ranges(die, offset, &base, &lo, &hi)) > 0) {
        struct range *rg = lm_vec_push(v);
        if (!rg) {
            r->oom = 1;
            return;
        }
        rg->lo = lo;
        rg->hi = hi;
    }
}

static int in_ranges(const struct vec *v, Dwarf_Addr a)
{
    const struct range *rg = v->items;
    for (size_t i = 0; i < v->n; i++)
        if (a >= rg[i].lo && a < rg[i].hi)
            return 1;
    return 0;
}

static void add_point(struct resolver *r, struct vec *v, uint64_t addr, uint32_t func, int line, int prio)
{
    const struct mp_lm_func *f = (const struct mp_lm_func *)r->funcs.items + func;
    if (line > 0 && (line < f->first_line || (f->end_line > 0 && line > f->end_line)))
        return; /* not one of the function's own lines */
    struct raw_point *p = lm_vec_push(v);
    if (!p) {
        r->oom = 1;
        return;
    }
    p->addr = addr;
    p->func = func;
    p->line = line;
    p->prio = prio;
    p->seq = r->seq++;
}

/* Functions inlined into the copy `die` (not into them): their ranges are
 * excluded, and each call gets a point on its call line. */
static void collect_inlined_callees(struct resolver *r, Dwarf_Die *die, uint32_t func, const char *file)
{
    Dwarf_Die child;
    if (dwarf_child(die, &child) != 0)
        return;
    do {
        int tag = dwarf_tag(&child);
        if (tag == DW_TAG_inlined_subroutine) {
            add_ranges(r, &r->excluded, &child);
            Dwarf_Attribute attr;
            Dwarf_Word call_file, call_line;
            Dwarf_Addr entry;
            Dwarf_Off origin;
            uint32_t callee;
            int callee_chosen = origin_of(&child, &origin) && find_chosen(r, origin, &callee);
            if (!callee_chosen && entry_of(&child, &entry) == 0 &&
                dwarf_formudata(dwarf_attr(&child, DW_AT_call_file, &attr), &call_file) == 0 &&
                dwarf_formudata(dwarf_attr(&child, DW_AT_call_line, &attr), &call_line) == 0 && call_line > 0 &&
                cu_file(r, &child, call_file) == file)
                add_point(r, &r->points, entry, func, (int)call_line, 0);
        } else if (tag != DW_TAG_subprogram) {
            collect_inlined_callees(r, &child, func, file); /* lexical blocks and the like */
        }
    } while (dwarf_siblingof(&child, &child) == 0);
}

static int line_addr(Dwarf_Lines *lines, size_t i, Dwarf_Addr *a)
{
    Dwarf_Line *l = dwarf_onesrcline(lines, i);
    return l && dwarf_lineaddr(l, a) == 0 ? 0 : -1;
}

/* An inlined copy's entry, and the start of each of its address ranges
 * (the optimizer interleaves the caller's instructions with the copy's:
 * the thread leaves the copy and comes back), open a line even when there
 * is no is_stmt row there: the line of the row covering the address (a
 * real row at that address wins). */
static void add_entry_row(struct resolver *r, Dwarf_Die *die, Dwarf_Addr entry, uint32_t func)
{
    Dwarf_Die cu;
    Dwarf_Lines *lines;
    size_t n_lines;
    if (!dwarf_diecu(die, &cu, NULL, NULL) || dwarf_getsrclines(&cu, &lines, &n_lines) != 0 || !n_lines)
        return;
    size_t lo = 0, hi = n_lines; /* the first row after entry */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        Dwarf_Addr a;
        if (line_addr(lines, mid, &a) == 0 && a <= entry)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* the rows covering the entry (several may share its address: one of
     * the function's own lines, not the caller's) */
    const struct mp_lm_func *f = (const struct mp_lm_func *)r->funcs.items + func;
    Dwarf_Addr at = 0;
    for (size_t i = lo; i-- > 0;) {
        Dwarf_Line *l = dwarf_onesrcline(lines, i);
        Dwarf_Addr a;
        int lineno;
        if (!l || dwarf_lineaddr(l, &a) != 0 || dwarf_lineno(l, &lineno) != 0)
            continue;
        if (at && a != at)
            break;
        at = a;
        if (lineno >= f->first_line && (f->end_line <= 0 || lineno <= f->end_line)) {
            add_point(r, &r->points, entry, func, lineno, 0);
            return;
        }
    }
}

/* The rows of the function `enclosing` (not profiled: its own rows are no
 * points) as candidate leave points, once per function; build_points drops
 * those inside inlined copies of chosen functions. */
static void add_leaves(struct resolver *r, Dwarf_Die *enclosing)
{
    Dwarf_Off off, origin;
    uint32_t ignored;
    off = dwarf_dieoffset(enclosing);
    if (find_chosen(r, off, &ignored) || (origin_of(enclosing, &origin) && find_chosen(r, origin, &ignored)))
        return; /* profiled itself: its own lines end the copies' lines */
    const Dwarf_Off *done = r->leave_done.items;
    for (size_t i = 0; i < r->leave_done.n; i++)
        if (done[i] == off)
            return;
    Dwarf_Off *d = lm_vec_push(&r->leave_done);
    if (!d) {
        r->oom = 1;
        return;
    }
    *d = off;
    Dwarf_Die cu;
    Dwarf_Lines *lines;
    size_t n_lines;
    if (!dwarf_diecu(enclosing, &cu, NULL, NULL) || dwarf_getsrclines(&cu, &lines, &n_lines) != 0)
        return;
    Dwarf_Addr base, lo, hi;
    ptrdiff_t it = 0;
    while ((it = dwarf_ranges(enclosing, it, &base, &lo, &hi)) > 0) {
        size_t first = 0, last = n_lines; /* the rows are sorted by address */
        while (first < last) {
            size_t mid = first + (last - first) / 2;
            Dwarf_Addr a;
            if (line_addr(lines, mid, &a) == 0 && a < lo)
                first = mid + 1;
            else
                last = mid;
        }
        for (size_t i = first; i < n_lines; i++) {
            Dwarf_Addr a;
            bool end = false;
            Dwarf_Line *l = dwarf_onesrcline(lines, i);
            if (!l || dwarf_lineaddr(l, &a) != 0)
                continue;
            if (a >= hi)
                break;
            if (a < lo || dwarf_lineendsequence(l, &end) != 0 || end)
                continue;
            uint64_t *v = lm_vec_push(&r->leaves);
            if (!v) {
                r->oom = 1;
                return;
            }
            *v = a;
        }
    }
}

static void add_copy(struct resolver *r, Dwarf_Die *die, uint32_t func, int inlined, Dwarf_Die *enclosing)
{
    const struct mp_lm_func *f = (const struct mp_lm_func *)r->funcs.items + func;
    r->ranges.n = 0;
    r->excluded.n = 0;
    add_ranges(r, &r->ranges, die);
    collect_inlined_callees(r, die, func, f->file);
    Dwarf_Die cu;
    Dwarf_Lines *lines;
    size_t n_lines;
    if (r->ranges.n && dwarf_diecu(die, &cu, NULL, NULL) && dwarf_getsrclines(&cu, &lines, &n_lines) == 0) {
        const char *comp_dir = comp_dir_of(&cu);
        const char *last_raw = NULL, *last_path = NULL;
        const struct range *rg = r->ranges.items;
        for (size_t k = 0; k < r->ranges.n; k++) {
            /* libdw sorts the rows by address: find the first one in range */
            size_t lo = 0, hi = n_lines;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                Dwarf_Addr a;
                if (line_addr(lines, mid, &a) == 0 && a < rg[k].lo)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            for (size_t i = lo; i < n_lines; i++) {
                Dwarf_Line *l = dwarf_onesrcline(lines, i);
                Dwarf_Addr a;
                bool stmt = false, end = false;
                int lineno;
                if (!l || dwarf_lineaddr(l, &a) != 0)
                    continue;
                if (a >= rg[k].hi)
                    break;
                if (a < rg[k].lo || dwarf_linebeginstatement(l, &stmt) != 0 || !stmt ||
                    dwarf_lineendsequence(l, &end) != 0 || end || dwarf_lineno(l, &lineno) != 0 || lineno <= 0 ||
                    in_ranges(&r->excluded, a))
                    continue;
                const char *raw = dwarf_linesrc(l, NULL, NULL);
                if (!raw)
                    continue;
                if (raw != last_raw) {
                    last_raw = raw;
                    last_path = sym_strings_intern_path(r->strings, comp_dir, raw);
                }
                if (last_path != f->file)
                    continue;
                add_point(r, &r->points, a, func, lineno, 1);
            }
        }
    }
    Dwarf_Addr entry;
    if (inlined) { /* where the thread comes (back) into the copy, its line starts */
        if (entry_of(die, &entry) == 0)
            add_entry_row(r, die, entry, func);
        const struct range *rg = r->ranges.items;
        for (size_t k = 0; k < r->ranges.n; k++)
            add_entry_row(r, die, rg[k].lo, func);
    }
    if (!inlined) {
        if (entry_of(die, &entry) == 0)
            add_point(r, &r->entries, entry, func, f->first_line, 1);
    } else if (enclosing && entry_of(enclosing, &entry) == 0) {
        uint64_t *a = lm_vec_push(&r->anchors);
        if (a)
            *a = entry;
        else
            r->oom = 1;
        const struct range *rg = r->ranges.items;
        for (size_t k = 0; k < r->ranges.n; k++) {
            struct range *c = lm_vec_push(&r->copies);
            if (!c) {
                r->oom = 1;
                break;
            }
            *c = rg[k];
        }
        add_leaves(r, enclosing);
    }
}

static void collect_copies(struct resolver *r, Dwarf_Die *parent, Dwarf_Die *enclosing)
{
    Dwarf_Die child;
    if (dwarf_child(parent, &child) != 0)
        return;
    do {
        int tag = dwarf_tag(&child);
        Dwarf_Off off;
        uint32_t func;
        if (tag == DW_TAG_subprogram) {
            int code = has_code(&child);
            if (!origin_of(&child, &off))
                off = dwarf_dieoffset(&child);
            if (code && find_chosen(r, off, &func))
                add_copy(r, &child, func, 0, NULL);
            Dwarf_Die self = child;
            collect_copies(r, &child, code ? &self : enclosing);
        } else if (tag == DW_TAG_inlined_subroutine) {
            if (origin_of(&child, &off) && find_chosen(r, off, &func))
                add_copy(r, &child, func, 1, enclosing);
            collect_copies(r, &child, enclosing);
        } else if (tag == DW_TAG_namespace || tag == DW_TAG_class_type || tag == DW_TAG_structure_type ||
                   tag == DW_TAG_union_type || tag == DW_TAG_lexical_block || tag == DW_TAG_try_block ||
                   tag == DW_TAG_catch_block) {
            collect_copies(r, &child, enclosing);
        }
    } while (!r->oom && dwarf_siblingof(&child, &child) == 0);
}

void lm_for_each_cu(struct resolver *r, int pass)
{
    Dwarf_CU *cu = NULL;
    Dwarf_Die cudie, subdie;
    uint8_t unit_type;
    while (!r->oom && dwarf_get_units(r->dw, cu, &cu, NULL, &unit_type, &cudie, &subdie) == 0) {
        if (unit_type != DW_UT_compile && unit_type != DW_UT_partial)
            continue;
        if (pass == 1)
            collect_definitions(r, &cudie);
        else
            collect_copies(r, &cudie, NULL);
    }
}
