/* memprof symbolizer: a module's symbol table indexed once (sym_symtab.h).
 *
 * dwfl_module_addrinfo walks every symbol for every address.  Its choice,
 * which this index reproduces exactly (elfutils libdwfl/dwfl_module_addrsym.c):
 *  - first among the symbols after the table's first global one (globals and
 *    weaks), then, when none of them holds the address, among the locals
 *    too; a symbol "holds" the address when value <= addr < value + size;
 *  - among the holders, in table order: a higher start replaces the current
 *    choice, and so does a stronger binding (global > weak > local); at the
 *    same start a smaller size with no weaker binding replaces it;
 *  - when no sized symbol holds it, a symbol without size (an assembly label)
 *    at the highest start at or below the address, in the address's section,
 *    provided no symbol below the address reaches past that label.
 * Only the holders of one address are ever compared, and they are found by
 * binary search in arrays sorted by start, with each entry's running maximum
 * end bounding the walk back. */
#define _GNU_SOURCE
#include "sym_symtab.h"
#include "base/bsearch_u64.h"

#include <stddef.h>

#include <stdint.h>
#include <stdlib.h>

struct sized_sym {
    GElf_Addr value;
    GElf_Xword size;
    const char *name;
    uint32_t order;             /* index in the symbol table */
    uint8_t binding;            /* global 3, weak 2, local 1, other 0 */
};

struct label_sym {              /* a symbol without size */
    GElf_Addr value;
    const char *name;
    uint32_t order;
    uint8_t absolute;           /* SHN_ABS and the like: matches its own address only */
    size_t section;             /* section index holding its value (SHN_UNDEF: none) */
};

/* One search pass of libdwfl: the global part or the local part of the table. */
struct part {
    struct sized_sym *sized;
    GElf_Addr *max_end;         /* max_end[i]: the largest end of sized[0..i] */
    size_t n_sized, cap_sized;
    struct label_sym *labels;
    size_t n_labels, cap_labels;
};

struct sym_symtab {
    struct part globals, locals;
    size_t count;
};

static int binding_value(const GElf_Sym *sym)
{
    switch (GELF_ST_BIND(sym->st_info)) {
    case STB_GLOBAL: return 3;
    case STB_WEAK: return 2;
    case STB_LOCAL: return 1;
    default: return 0;
    }
}

/* Index of the section holding a runtime address, SHN_UNDEF when none
 * (libdwfl's __libdwfl_find_section_ndx). */
static size_t section_of(Dwfl_Module *mod, GElf_Addr addr)
{
    Dwarf_Addr a = addr, bias;
    Elf_Scn *scn = dwfl_module_address_section(mod, &a, &bias);
    return scn != NULL ? elf_ndxscn(scn) : SHN_UNDEF;
}

static int add_sized(struct part *p, const struct sized_sym *s)
{
    if (p->n_sized == p->cap_sized) {
        size_t cap = p->cap_sized ? p->cap_sized * 2 : 256;
        struct sized_sym *g = realloc(p->sized, cap * sizeof *g);
        if (g == NULL)
            return -1;
        p->sized = g;
        p->cap_sized = cap;
    }
    p->sized[p->n_sized++] = *s;
    return 0;
}

static int add_label(struct part *p, const struct label_sym *l)
{
    if (p->n_labels == p->cap_labels) {
        size_t cap = p->cap_labels ? p->cap_labels * 2 : 64;
        struct label_sym *g = realloc(p->labels, cap * sizeof *g);
        if (g == NULL)
            return -1;
        p->labels = g;
        p->cap_labels = cap;
    }
    p->labels[p->n_labels++] = *l;
    return 0;
}

static int compare_sized(const void *a, const void *b)
{
    const struct sized_sym *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int compare_labels(const void *a, const void *b)
{
    const struct label_sym *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int finish_part(struct part *p)
{
    if (p->n_sized > 1)
        qsort(p->sized, p->n_sized, sizeof *p->sized, compare_sized);
    if (p->n_labels > 1)
        qsort(p->labels, p->n_labels, sizeof *p->labels, compare_labels);
    if (p->n_sized == 0)
        return 0;
    p->max_end = malloc(p->n_sized * sizeof *p->max_end);
    if (p->max_end == NULL)
        return -1;
    GElf_Addr max = 0;
    for (size_t i = 0; i < p->n_sized; i++) {
        const struct sized_sym *s = &p->sized[i];
        GElf_Addr end = s->value + s->size < s->value ? UINT64_MAX : s->value + s->size;
        if (end > max)
            max = end;
        p->max_end[i] = max;
    }
    return 0;
}

static void free_part(struct part *p)
{
    free(p->sized);
    free(p->max_end);
    free(p->labels);
}

void sym_symtab_destroy(struct sym_symtab *table)
{
    if (table == NULL)
        return;
    free_part(&table->globals);
    free_part(&table->locals);
    free(table);
}

struct sym_symtab *sym_symtab_build(Dwfl_Module *mod)
{
    int syments = dwfl_module_getsymtab(mod);
    int first_global = dwfl_module_getsymtab_first_global(mod);
    if (syments <= 1 || first_global < 0)
        return NULL;
    struct sym_symtab *table = calloc(1, sizeof *table);
    if (table == NULL)
        return NULL;
    /* libdwfl searches [first_global, syments) first (from 1 when
     * first_global is 0: a dynsym table alone), then [1, first_global). */
    int globals_from = first_global == 0 ? 1 : first_global;
    for (int i = 1; i < syments; i++) {
        GElf_Sym sym;
        GElf_Addr value;
        GElf_Word shndx;
        Elf *elf;
        Dwarf_Addr bias;
        const char *name = dwfl_module_getsym_info(mod, i, &sym, &value, &shndx, &elf, &bias);
        int type = GELF_ST_TYPE(sym.st_info);
        if (name == NULL || name[0] == '\0' || sym.st_shndx == SHN_UNDEF
            || type == STT_SECTION || type == STT_FILE || type == STT_TLS)
            continue;
        struct part *p = i >= globals_from ? &table->globals : &table->locals;
        int rc;
        if (sym.st_size != 0) {
            struct sized_sym s = { value, sym.st_size, name, (uint32_t)i, (uint8_t)binding_value(&sym) };
            rc = add_sized(p, &s);
        } else {
            struct label_sym l = { value, name, (uint32_t)i, shndx >= SHN_LORESERVE, SHN_UNDEF };
            if (!l.absolute)
                l.section = section_of(mod, value);
            rc = add_label(p, &l);
        }
        if (rc != 0) {
            sym_symtab_destroy(table);
            return NULL;
        }
        table->count++;
    }
    if (finish_part(&table->globals) != 0 || finish_part(&table->locals) != 0) {
        sym_symtab_destroy(table);
        return NULL;
    }
    return table;
}

size_t sym_symtab_count(const struct sym_symtab *table)
{
    return table ? table->count : 0;
}

/* Entries with value <= addr in each sorted array (binary search). */
static size_t sized_at_or_below(const struct part *p, GElf_Addr addr)
{
    return mp_count_keys_at_or_below(p->sized, p->n_sized, sizeof *p->sized, offsetof(struct sized_sym, value), addr);
}

static size_t labels_at_or_below(const struct part *p, GElf_Addr addr)
{
    return mp_count_keys_at_or_below(p->labels, p->n_labels, sizeof *p->labels, offsetof(struct label_sym, value),
                                     addr);
}

/* libdwfl's choice among the sized symbols of a part holding addr, made in
 * table order (try_sym_value); NULL when none holds it. */
static const struct sized_sym *best_holder(const struct part *p, GElf_Addr addr)
{
    size_t k = sized_at_or_below(p, addr);
    const struct sized_sym *best = NULL;
    /* Holders are few; walking back from the highest start, each one is
     * weighed against the current choice as libdwfl would in table order:
     * collect, then replay in order. */
    const struct sized_sym *found[32];
    const struct sized_sym **holders = found;
    size_t n = 0, cap = sizeof found / sizeof *found;
    for (size_t j = k; j-- > 0 && p->max_end[j] > addr;) {
        const struct sized_sym *s = &p->sized[j];
        if (addr - s->value >= s->size)
            continue;
        if (n == cap) {
            const struct sized_sym **g = malloc(2 * cap * sizeof *g);
            if (g == NULL)
                break;
            for (size_t i = 0; i < n; i++)
                g[i] = holders[i];
            if (holders != found)
                free(holders);
            holders = g;
            cap *= 2;
        }
        holders[n++] = s;
    }
    /* Table order: insertion sort by order (n is small). */
    for (size_t i = 1; i < n; i++) {
        const struct sized_sym *s = holders[i];
        size_t j = i;
        for (; j > 0 && holders[j - 1]->order > s->order; j--)
            holders[j] = holders[j - 1];
        holders[j] = s;
    }
    for (size_t i = 0; i < n; i++) {
        const struct sized_sym *s = holders[i];
        if (best == NULL || best->value < s->value || best->binding < s->binding)
            best = s;
        else if (best->value == s->value
                 && ((best->size > s->size && best->binding <= s->binding)
                     || (best->size >= s->size && best->binding < s->binding)))
            best = s;
    }
    if (holders != found)
        free(holders);
    return best;
}

/* The lowest address a label may have to be chosen: the largest end of the
 * part's symbols starting at or below addr (libdwfl's min_label). */
static GElf_Addr part_min_label(const struct part *p, GElf_Addr addr)
{
    GElf_Addr min = 0;
    size_t k = sized_at_or_below(p, addr);
    if (k > 0)
        min = p->max_end[k - 1];
    size_t m = labels_at_or_below(p, addr);
    if (m > 0 && p->labels[m - 1].value > min)
        min = p->labels[m - 1].value;
    return min;
}

static int label_in_section(const struct label_sym *l, GElf_Addr addr, size_t *addr_section,
                            Dwfl_Module *mod)
{
    if (l->absolute)
        return l->value == addr;
    if (*addr_section == (size_t)-1)
        *addr_section = section_of(mod, addr);
    return l->section == *addr_section;
}

/* The last label (table order) at the part's highest label start <= addr
 * that lies in addr's section; *top gets that highest start (0 if none). */
static const struct label_sym *top_label(const struct part *p, GElf_Addr addr, GElf_Addr *top,
                                         size_t *addr_section, Dwfl_Module *mod)
{
    size_t m = labels_at_or_below(p, addr);
    *top = 0;
    if (m == 0)
        return NULL;
    GElf_Addr value = p->labels[m - 1].value;
    *top = value;
    for (size_t j = m; j-- > 0 && p->labels[j].value == value;)
        if (label_in_section(&p->labels[j], addr, addr_section, mod))
            return &p->labels[j];
    return NULL;
}

const char *sym_symtab_lookup(const struct sym_symtab *table, Dwfl_Module *mod, GElf_Addr addr)
{
    if (table == NULL)
        return NULL;
    const struct sized_sym *best = best_holder(&table->globals, addr);
    if (best != NULL)
        return best->name;
    size_t addr_section = (size_t)-1;
    GElf_Addr global_top, local_top = 0;
    const struct label_sym *label = top_label(&table->globals, addr, &global_top, &addr_section, mod);
    GElf_Addr min_label = part_min_label(&table->globals, addr);
    /* The locals are searched unless a global label sits exactly at addr. */
    if (label == NULL || label->value != addr) {
        best = best_holder(&table->locals, addr);
        if (best != NULL)
            return best->name;
        const struct label_sym *local = top_label(&table->locals, addr, &local_top, &addr_section, mod);
        GElf_Addr local_min = part_min_label(&table->locals, addr);
        if (local_min > min_label)
            min_label = local_min;
        if (local_top > global_top)
            label = local;          /* a global label below it cannot pass min_label */
        else if (local_top == global_top && local != NULL)
            label = local;          /* same start: the one libdwfl saw last */
    }
    if (label == NULL || label->value < min_label)
        return NULL;
    return label->name;
}
