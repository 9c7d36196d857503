/* memprof: line mode, resolution.  Reads the executable file (before the
 * launch, so a bad name is an error before anything runs):
 *
 *  pass 1  every function definition in the DWARF (DW_TAG_subprogram that
 *          is neither a declaration nor a concrete copy of another DIE),
 *          matched against the patterns: NAME or FILE:NAME, fnmatch globs,
 *          FILE compared with the definition file's basename (or its path
 *          when the pattern has a '/');
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
 *          function containing it an anchor (a frame-only entry).
 *
 * Addresses stay link-time; the load bias is added when arming. */
#define _GNU_SOURCE
#include "linemode_internal.h"
#include "sym_strings.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SUGGESTIONS 5

struct pattern {
    char *file;        /* NULL: any file */
    char *name;
    const char *text;  /* as given */
    int matched;
};

struct cand {
    Dwarf_Off off;
    const char *name;      /* pooled */
    const char *linkage;   /* pooled demangled linkage name, or NULL */
    const char *file;      /* pooled absolute path, or NULL */
    int line;
    int chosen;            /* func index + 1, 0: not chosen */
};

struct chosen {
    Dwarf_Off off;
    uint32_t func;
};

struct raw_point {
    uint64_t addr;
    uint32_t func;
    int line;
    int prio;          /* 0: a call point, 1: a line-table row (wins) */
    size_t seq;
};

struct range {
    Dwarf_Addr lo, hi;
};

struct vec {
    void *items;
    size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        void *grown = realloc(v->items, cap * v->size);
        if (!grown)
            return NULL;
        v->items = grown;
        v->cap = cap;
    }
    void *slot = (char *)v->items + v->n * v->size;
    memset(slot, 0, v->size);
    v->n++;
    return slot;
}

struct resolver {
    Dwarf *dw;
    struct sym_string_pool *strings;
    struct pattern *pats;
    size_t n_pats;
    struct vec cands;      /* struct cand: definitions */
    struct vec decls;      /* const char *: names only declared (defined elsewhere) */
    struct vec chosen;     /* struct chosen, sorted by off after pass 1 */
    struct vec funcs;      /* struct mp_lm_func */
    struct vec func_pattern; /* size_t: the pattern that chose each function */
    struct vec points;     /* struct raw_point */
    struct vec entries;    /* struct raw_point: entry addresses of out-of-line copies */
    struct vec anchors;    /* uint64_t */
    struct vec ranges;     /* struct range: scratch, the copy's ranges */
    struct vec excluded;   /* struct range: scratch, ranges of functions inlined into it */
    size_t seq;
    int oom;
};

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

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* ---- patterns ---- */

static int parse_patterns(struct resolver *r, const char *const *texts, size_t n)
{
    r->pats = calloc(n ? n : 1, sizeof *r->pats);
    if (!r->pats)
        return -1;
    r->n_pats = n;
    for (size_t i = 0; i < n; i++) {
        struct pattern *p = &r->pats[i];
        p->text = texts[i];
        /* FILE:NAME splits at the first ':' that is not part of "::" */
        const char *colon = NULL;
        for (const char *c = texts[i]; *c; c++) {
            if (c[0] == ':' && c[1] == ':') {
                c++;
                continue;
            }
            if (c[0] == ':') {
                colon = c;
                break;
            }
        }
        if (colon) {
            p->file = strndup(texts[i], (size_t)(colon - texts[i]));
            p->name = strdup(colon + 1);
        } else {
            p->name = strdup(texts[i]);
        }
        if (!p->name || (colon && !p->file))
            return -1;
    }
    return 0;
}

static int name_matches(const struct pattern *p, const char *name, const char *linkage)
{
    return (name && fnmatch(p->name, name, 0) == 0) || (linkage && fnmatch(p->name, linkage, 0) == 0);
}

static int file_matches(const struct pattern *p, const char *file)
{
    if (!p->file)
        return 1;
    if (!file)
        return 0;
    if (strchr(p->file, '/')) {
        size_t n = strlen(p->file), m = strlen(file);
        /* a path suffix at a '/' boundary, or a glob on the whole path */
        if (m >= n && strcmp(file + m - n, p->file) == 0 && (m == n || file[m - n - 1] == '/'))
            return 1;
        return fnmatch(p->file, file, 0) == 0;
    }
    return fnmatch(p->file, basename_of(file), 0) == 0;
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
                const char **d = name ? vec_push(&r->decls) : NULL;
                if (d)
                    *d = sym_strings_intern(r->strings, name);
            } else if (!origin_of(&child, &ignored) && name &&
                       (has_code(&child) || dwarf_hasattr(&child, DW_AT_inline))) {
                struct cand *c = vec_push(&r->cands);
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

static const struct cand *sort_cands;

static int cmp_cand_place(const void *a, const void *b)
{
    const struct cand *x = &sort_cands[*(const size_t *)a], *y = &sort_cands[*(const size_t *)b];
    int c = strcmp(x->file ? x->file : "", y->file ? y->file : "");
    if (!c)
        c = (x->line > y->line) - (x->line < y->line);
    if (!c)
        c = strcmp(x->name, y->name);
    return c;
}

static int cmp_chosen(const void *a, const void *b)
{
    const struct chosen *x = a, *y = b;
    return (x->off > y->off) - (x->off < y->off);
}

static int find_chosen(struct resolver *r, Dwarf_Off off, uint32_t *func)
{
    struct chosen key = { off, 0 };
    if (!r->chosen.n)
        return 0;
    struct chosen *hit = bsearch(&key, r->chosen.items, r->chosen.n, sizeof key, cmp_chosen);
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
        struct range *rg = vec_push(v);
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
    struct raw_point *p = vec_push(v);
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
    if (!inlined) {
        if (entry_of(die, &entry) == 0)
            add_point(r, &r->entries, entry, func, f->first_line, 1);
    } else if (enclosing && entry_of(enclosing, &entry) == 0) {
        uint64_t *a = vec_push(&r->anchors);
        if (a)
            *a = entry;
        else
            r->oom = 1;
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

static void for_each_cu(struct resolver *r, int pass)
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

/* ---- the result ---- */

static int cmp_raw(const void *a, const void *b)
{
    const struct raw_point *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    if (x->prio != y->prio)
        return x->prio - y->prio;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_point_addr(const void *key, const void *elem)
{
    uint64_t a = *(const uint64_t *)key, b = ((const struct mp_lm_point *)elem)->addr;
    return (a > b) - (a < b);
}

static int build_points(struct resolver *r, struct mp_linemode *lm)
{
    struct raw_point *raw = r->points.items;
    if (r->points.n)
        qsort(raw, r->points.n, sizeof *raw, cmp_raw);
    size_t cap = r->points.n + r->entries.n;
    lm->points = calloc(cap ? cap : 1, sizeof *lm->points);
    if (!lm->points)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < r->points.n; i++) {
        if (i + 1 < r->points.n && raw[i + 1].addr == raw[i].addr)
            continue; /* the last row at an address wins */
        lm->points[n++] = (struct mp_lm_point){ raw[i].addr, raw[i].func, raw[i].line, 0 };
    }
    /* entries: flag the row there, or add one on the declaration line */
    struct raw_point *ent = r->entries.items;
    size_t n_rows = n;
    for (size_t i = 0; i < r->entries.n; i++) {
        struct mp_lm_point *p = n_rows ? bsearch(&ent[i].addr, lm->points, n_rows, sizeof *p, cmp_point_addr) : NULL;
        if (p) {
            p->entry = 1;
            continue;
        }
        int dup = 0;
        for (size_t j = n_rows; j < n; j++)
            dup |= lm->points[j].addr == ent[i].addr;
        if (!dup) {
            int line = ent[i].line > 0 ? ent[i].line : 0;
            lm->points[n++] = (struct mp_lm_point){ ent[i].addr, ent[i].func, line, 1 };
        }
    }
    lm->n_points = n;
    qsort(lm->points, n, sizeof *lm->points, cmp_u64); /* addr is the first member */
    /* anchors: unique, and not where a frame starts anyway */
    uint64_t *anc = r->anchors.items;
    if (r->anchors.n)
        qsort(anc, r->anchors.n, sizeof *anc, cmp_u64);
    lm->anchors = calloc(r->anchors.n ? r->anchors.n : 1, sizeof *lm->anchors);
    if (!lm->anchors)
        return -1;
    for (size_t i = 0; i < r->anchors.n; i++) {
        if (i && anc[i] == anc[i - 1])
            continue;
        const struct mp_lm_point *p = n ? bsearch(&anc[i], lm->points, n, sizeof *p, cmp_point_addr) : NULL;
        if (p && p->entry)
            continue;
        lm->anchors[lm->n_anchors++] = anc[i];
    }
    /* table extents */
    for (size_t i = 0; i < n; i++) {
        struct mp_lm_func *f = &lm->funcs[lm->points[i].func];
        int line = lm->points[i].line;
        if (line <= 0)
            continue;
        if (f->first_line <= 0 || line < f->first_line)
            f->first_line = line;
        if (line > f->last_line)
            f->last_line = line;
    }
    return 0;
}

/* ---- errors ---- */

static size_t edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    size_t *row = malloc((m + 1) * sizeof *row);
    if (!row)
        return (size_t)-1;
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    size_t d = row[m];
    free(row);
    return d;
}

/* How far `name` is from what the user typed: the edit distance, or one
 * more than the distance to a prefix of `name` about as long as `typed`
 * ("tuch" is 1 from "touch" and 2 from "touch_all"). */
static size_t closeness(const char *typed, const char *name)
{
    size_t best = edit_distance(typed, name), n = strlen(typed), m = strlen(name);
    for (size_t k = n ? n - 1 : 0; k <= n + 1 && k < m; k++) {
        char prefix[256];
        snprintf(prefix, sizeof prefix, "%.*s", (int)k, name);
        size_t d = edit_distance(typed, prefix) + 1;
        if (d < best)
            best = d;
    }
    return best;
}

static size_t close_enough(const char *typed)
{
    size_t n = strlen(typed) / 3 + 1;
    return n < 2 ? 2 : n;
}

struct suggestion {
    const char *name;
    size_t distance;
};

static int cmp_suggestion(const void *a, const void *b)
{
    const struct suggestion *x = a, *y = b;
    if (x->distance != y->distance)
        return x->distance < y->distance ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Defined function names: DWARF definitions and ELF function symbols. */
static void add_name(struct vec *names, struct sym_string_pool *pool, const char *name)
{
    if (!name || !*name)
        return;
    const char *pooled = sym_strings_intern(pool, name);
    const char **slot = pooled ? vec_push(names) : NULL;
    if (slot)
        *slot = pooled;
}

static int symbol_kind(Dwfl_Module *mod, const char *name, struct sym_string_pool *pool, struct vec *defined)
{
    /* 1: a defined function symbol; 2: an undefined one (from a shared library) */
    int kind = 0;
    int n = mod ? dwfl_module_getsymtab(mod) : -1;
    for (int i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        GElf_Word shndx;
        const char *s = dwfl_module_getsym_info(mod, i, &sym, &addr, &shndx, NULL, NULL);
        if (!s || GELF_ST_TYPE(sym.st_info) != STT_FUNC)
            continue;
        char plain[512];
        snprintf(plain, sizeof plain, "%s", s);
        char *at = strchr(plain, '@');
        if (at)
            *at = '\0';
        int undefined = sym.st_shndx == SHN_UNDEF;
        if (!undefined && defined)
            add_name(defined, pool, plain);
        if (name && fnmatch(name, plain, 0) == 0)
            kind = undefined ? (kind ? kind : 2) : 1;
    }
    return kind;
}

static void append(char *err, size_t errlen, const char *fmt, const char *s)
{
    size_t used = strlen(err);
    if (used < errlen)
        snprintf(err + used, errlen - used, fmt, s);
}

static void explain_unmatched(struct resolver *r, Dwfl_Module *mod, const char *path, const struct pattern *p,
                              char *err, size_t errlen)
{
    int glob = strpbrk(p->name, "*?[") != NULL;
    /* defined in DWARF, but not in the file asked for */
    const struct cand *c = r->cands.items;
    int other_file = 0;
    for (size_t i = 0; i < r->cands.n; i++)
        other_file |= name_matches(p, c[i].name, c[i].linkage);
    struct vec names = { .size = sizeof(const char *) };
    int sym = symbol_kind(mod, p->name, r->strings, &names);
    int declared = 0;
    const char *const *d = r->decls.items;
    for (size_t i = 0; i < r->decls.n; i++)
        declared |= fnmatch(p->name, d[i], 0) == 0;
    if (other_file) {
        snprintf(err, errlen, "memprof: no function '%s' defined in a file matching '%s' in %s; it is defined in:",
                 p->name, p->file, path);
        int shown = 0;
        for (size_t i = 0; i < r->cands.n && shown < MAX_SUGGESTIONS; i++)
            if (name_matches(p, c[i].name, c[i].linkage) && c[i].file) {
                append(err, errlen, shown ? ", %s" : " %s", basename_of(c[i].file));
                shown++;
            }
    } else if (sym == 1) {
        snprintf(err, errlen,
                 "memprof: function '%s' in %s has no line information (no DWARF for it): "
                 "rebuild it with -g to profile it line by line",
                 p->name, path);
    } else if (sym == 2 || declared) {
        snprintf(err, errlen,
                 "memprof: '%s' is not defined in %s but in a shared library: line mode profiles "
                 "functions of the main executable only",
                 p->name, path);
    } else {
        snprintf(err, errlen, glob ? "memprof: no function matches '%s' in %s" : "memprof: no function '%s' in %s",
                 p->text, path);
        for (size_t i = 0; i < r->cands.n; i++)
            add_name(&names, r->strings, c[i].name);
        const char **nm = names.items;
        struct suggestion *sug = calloc(names.n ? names.n : 1, sizeof *sug);
        size_t n_sug = 0;
        for (size_t i = 0; sug && i < names.n; i++) {
            int dup = 0;
            for (size_t j = 0; j < n_sug && !dup; j++)
                dup = sug[j].name == nm[i];
            if (dup)
                continue;
            if (nm[i][0] == '_' && p->name[0] != '_')
                continue; /* _start, __libc_csu_init, ...: not what anyone meant */
            size_t dist = closeness(p->name, nm[i]);
            if (dist <= close_enough(p->name))
                sug[n_sug++] = (struct suggestion){ nm[i], dist };
        }
        if (n_sug) {
            qsort(sug, n_sug, sizeof *sug, cmp_suggestion);
            for (size_t i = 0; i < n_sug && i < MAX_SUGGESTIONS; i++)
                append(err, errlen, i ? ", %s" : "; did you mean: %s", sug[i].name);
            append(err, errlen, "%s", "?");
        }
        free(sug);
    }
    free(names.items);
}

/* ---- entry point ---- */

static void free_resolver(struct resolver *r)
{
    for (size_t i = 0; i < r->n_pats; i++) {
        free(r->pats[i].file);
        free(r->pats[i].name);
    }
    free(r->pats);
    free(r->cands.items);
    free(r->decls.items);
    free(r->chosen.items);
    free(r->func_pattern.items);
    free(r->points.items);
    free(r->entries.items);
    free(r->anchors.items);
    free(r->ranges.items);
    free(r->excluded.items);
}

static const Dwfl_Callbacks offline_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

int mp_linemode_resolve(const char *path, const char *const *patterns, size_t n_patterns,
                        struct mp_linemode **out, char *err, size_t errlen)
{
    *out = NULL;
    struct mp_linemode *lm = calloc(1, sizeof *lm);
    if (lm)
        lm->mem_fd = lm->task_fd = lm->statm.fd = -1;
    struct resolver r;
    memset(&r, 0, sizeof r);
    r.cands.size = sizeof(struct cand);
    r.decls.size = sizeof(const char *);
    r.chosen.size = sizeof(struct chosen);
    r.funcs.size = sizeof(struct mp_lm_func);
    r.func_pattern.size = sizeof(size_t);
    r.points.size = sizeof(struct raw_point);
    r.entries.size = sizeof(struct raw_point);
    r.anchors.size = sizeof(uint64_t);
    r.ranges.size = sizeof(struct range);
    r.excluded.size = sizeof(struct range);
    int rc = 1;
    Dwfl *dwfl = NULL;
    struct stat st;
    if (!lm || !(lm->strings = sym_strings_create()) || parse_patterns(&r, patterns, n_patterns) != 0) {
        snprintf(err, errlen, "memprof: out of memory");
        goto done;
    }
    r.strings = lm->strings;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "memprof: cannot read %s: %s", path, strerror(errno));
        goto done;
    }
    lm->exe_dev = st.st_dev;
    lm->exe_ino = st.st_ino;
    dwfl = dwfl_begin(&offline_callbacks);
    Dwfl_Module *mod = dwfl ? dwfl_report_offline(dwfl, path, path, -1) : NULL;
    if (!mod) {
        snprintf(err, errlen, "memprof: cannot read %s as an ELF file: %s", path, dwfl_errmsg(-1));
        goto done;
    }
    dwfl_report_end(dwfl, NULL, NULL);
    GElf_Addr elf_bias;
    Elf *elf = dwfl_module_getelf(mod, &elf_bias);
    GElf_Ehdr ehdr;
    if (!elf || !gelf_getehdr(elf, &ehdr)) {
        snprintf(err, errlen, "memprof: cannot read %s as an ELF file", path);
        goto done;
    }
    lm->map.elf_entry = ehdr.e_entry;
    Dwarf_Addr dw_bias;
    r.dw = dwfl_module_getdwarf(mod, &dw_bias);
    if (r.dw)
        for_each_cu(&r, 1);
    /* match: tables in the order of the patterns, then by file and line */
    struct cand *c = r.cands.items;
    size_t *order = calloc(r.cands.n ? r.cands.n : 1, sizeof *order);
    if (!order) {
        snprintf(err, errlen, "memprof: out of memory");
        goto done;
    }
    for (size_t k = 0; k < r.n_pats; k++) {
        size_t n_order = 0;
        for (size_t i = 0; i < r.cands.n; i++)
            if (name_matches(&r.pats[k], c[i].name, c[i].linkage) && file_matches(&r.pats[k], c[i].file))
                order[n_order++] = i;
        sort_cands = c;
        if (n_order)
            qsort(order, n_order, sizeof *order, cmp_cand_place);
        for (size_t j = 0; j < n_order; j++) {
            size_t i = order[j];
            r.pats[k].matched = 1;
            if (c[i].chosen)
                continue;
            struct mp_lm_func *f = vec_push(&r.funcs);
            struct chosen *ch = vec_push(&r.chosen);
            size_t *fp = vec_push(&r.func_pattern);
            if (!f || !ch || !fp) {
                snprintf(err, errlen, "memprof: out of memory");
                free(order);
                goto done;
            }
            f->name = c[i].name;
            f->file = c[i].file;
            f->first_line = c[i].line;
            *fp = k;
            c[i].chosen = (int)r.funcs.n;
            ch->off = c[i].off;
            ch->func = (uint32_t)(r.funcs.n - 1);
        }
    }
    free(order);
    for (size_t k = 0; k < r.n_pats; k++) {
        if (!r.pats[k].matched) {
            explain_unmatched(&r, mod, path, &r.pats[k], err, errlen);
            rc = 2;
            goto done;
        }
    }
    if (r.chosen.n)
        qsort(r.chosen.items, r.chosen.n, sizeof(struct chosen), cmp_chosen);
    for_each_cu(&r, 2);
    lm->funcs = r.funcs.items;
    lm->n_funcs = r.funcs.n;
    r.funcs.items = NULL;
    if (r.oom || build_points(&r, lm) != 0) {
        snprintf(err, errlen, "memprof: out of memory");
        goto done;
    }
    /* a function without lines gets no table; a name whose functions all
     * lack them (a glob: all it matched) is an error */
    for (size_t k = 0; k < r.n_pats; k++) {
        int with_lines = 0;
        const char *first = NULL;
        const size_t *fp = r.func_pattern.items;
        for (size_t f = 0; f < lm->n_funcs; f++) {
            if (fp[f] != k)
                continue;
            if (!first)
                first = lm->funcs[f].name;
            if (lm->funcs[f].file && lm->funcs[f].last_line > 0)
                with_lines = 1;
        }
        if (first && !with_lines) {
            snprintf(err, errlen,
                     "memprof: function '%s' in %s has no line information: rebuild it with -g to "
                     "profile it line by line",
                     first, path);
            rc = 2;
            goto done;
        }
    }
    lm->map.funcs = lm->funcs;
    lm->map.n_funcs = lm->n_funcs;
    lm->map.points = lm->points;
    lm->map.n_points = lm->n_points;
    lm->map.anchors = lm->anchors;
    lm->map.n_anchors = lm->n_anchors;
    rc = 0;
done:
    free(r.funcs.items);
    free_resolver(&r);
    if (dwfl)
        dwfl_end(dwfl);
    if (rc != 0) {
        mp_linemode_free(lm);
        return rc;
    }
    *out = lm;
    return 0;
}

const struct mp_lm_map *mp_linemode_map(const struct mp_linemode *lm)
{
    return &lm->map;
}
