/* memprof symbolizer: per-CU function indexes (sym_scopes.h).  One walk of
 * the CU (top level, namespaces, classes) gives the sorted ranges of its
 * functions, binary searched and then descended through the children that
 * hold the address (dwarf_getscopes walks the whole CU on every call), the
 * top-level functions' declarations sorted by (file, line), and their
 * abstract origins sorted by offset. */
#define _GNU_SOURCE
#include "sym_scopes.h"

#include <dwarf.h>
#include <limits.h>
#include <stdlib.h>

struct function_range {
    Dwarf_Addr low, high;
    Dwarf_Die die;
};

/* A top-level function's declaration: (pooled DW_AT_decl_file, line). */
struct declaration {
    const char *file;
    int line;
};

/* A top-level function with code and an abstract origin, in DIE order. */
struct concrete_copy {
    Dwarf_Off origin;
    size_t order;
    Dwarf_Die die;
};

struct cu_functions {
    Dwarf_Off cu_offset;        /* 0 = empty slot (no CU DIE sits at 0) */
    struct function_range *ranges;
    size_t count, capacity;
    Dwarf_Addr max_span;
    struct declaration *decls;  /* sorted by file pointer, then line */
    size_t n_decls, cap_decls;
    struct concrete_copy *copies; /* sorted by origin, then order */
    size_t n_copies, cap_copies;
};

struct sym_scope_index {
    struct sym_string_pool *strings;
    struct cu_functions *slots;
    size_t nslots, count;
};

struct sym_scope_index *sym_scope_index_create(struct sym_string_pool *strings)
{
    struct sym_scope_index *index = calloc(1, sizeof *index);
    if (index != NULL)
        index->strings = strings;
    return index;
}

void sym_scope_index_destroy(struct sym_scope_index *index)
{
    if (index == NULL)
        return;
    for (size_t i = 0; i < index->nslots; i++) {
        free(index->slots[i].ranges);
        free(index->slots[i].decls);
        free(index->slots[i].copies);
    }
    free(index->slots);
    free(index);
}

const char *sym_decl_file(Dwarf_Die *die, const char **comp_dir)
{
    Dwarf_Attribute attr;
    Dwarf_Word index;
    Dwarf_Die cu;
    Dwarf_Files *files;
    if (comp_dir != NULL)
        *comp_dir = NULL;
    if (dwarf_formudata(dwarf_attr_integrate(die, DW_AT_decl_file, &attr), &index) != 0
        || dwarf_cu_die(attr.cu, &cu, NULL, NULL, NULL, NULL, NULL, NULL) == NULL
        || dwarf_getsrcfiles(&cu, &files, NULL) != 0)
        return NULL;
    if (comp_dir != NULL)
        *comp_dir = dwarf_formstring(dwarf_attr(&cu, DW_AT_comp_dir, &attr));
    return dwarf_filesrc(files, index, NULL, NULL);
}

static size_t hash_offset(Dwarf_Off off, size_t mask)
{
    return (size_t)((off * 0x9E3779B97F4A7C15ull) >> 21) & mask;
}

static void add_function(struct cu_functions *cu, Dwarf_Die *die)
{
    Dwarf_Addr base, low, high;
    ptrdiff_t offset = 0;
    while ((offset = dwarf_ranges(die, offset, &base, &low, &high)) > 0) {
        if (high <= low)
            continue;
        if (cu->count == cu->capacity) {
            size_t cap = cu->capacity ? cu->capacity * 2 : 32;
            struct function_range *r = realloc(cu->ranges, cap * sizeof *r);
            if (r == NULL)
                return;
            cu->ranges = r;
            cu->capacity = cap;
        }
        cu->ranges[cu->count++] = (struct function_range){ low, high, *die };
        if (high - low > cu->max_span)
            cu->max_span = high - low;
    }
}

static void *grow_array(void *array, size_t *cap, size_t elem)
{
    size_t n = *cap ? *cap * 2 : 64;
    void *g = realloc(array, n * elem);
    if (g != NULL)
        *cap = n;
    return g;
}

/* What a top-level subprogram tells the other two indexes. */
static void add_top_level(struct sym_scope_index *index, struct cu_functions *cu, Dwarf_Die *die,
                          size_t order)
{
    int line;
    const char *file;
    if (dwarf_decl_line(die, &line) == 0 && (file = sym_decl_file(die, NULL)) != NULL
        && (file = sym_strings_intern(index->strings, file)) != NULL) {
        if (cu->n_decls == cu->cap_decls) {
            struct declaration *g = grow_array(cu->decls, &cu->cap_decls, sizeof *g);
            if (g == NULL)
                return;
            cu->decls = g;
        }
        cu->decls[cu->n_decls++] = (struct declaration){ file, line };
    }
    Dwarf_Attribute attr;
    Dwarf_Die origin;
    if (dwarf_formref_die(dwarf_attr(die, DW_AT_abstract_origin, &attr), &origin) != NULL
        && (dwarf_hasattr(die, DW_AT_low_pc) || dwarf_hasattr(die, DW_AT_ranges))) {
        if (cu->n_copies == cu->cap_copies) {
            struct concrete_copy *g = grow_array(cu->copies, &cu->cap_copies, sizeof *g);
            if (g == NULL)
                return;
            cu->copies = g;
        }
        cu->copies[cu->n_copies++] = (struct concrete_copy){ dwarf_dieoffset(&origin), order, *die };
    }
}

static void collect_functions(struct sym_scope_index *index, struct cu_functions *cu,
                              Dwarf_Die *parent, int depth)
{
    Dwarf_Die child;
    if (depth > 16 || dwarf_child(parent, &child) != 0)
        return;
    size_t order = 0;
    do {
        switch (dwarf_tag(&child)) {
        case DW_TAG_subprogram:
            add_function(cu, &child);
            if (depth == 0)
                add_top_level(index, cu, &child, order);
            break;
        case DW_TAG_namespace:
        case DW_TAG_class_type:
        case DW_TAG_structure_type:
        case DW_TAG_union_type:
        case DW_TAG_module:
            collect_functions(index, cu, &child, depth + 1);
            break;
        default:
            break;
        }
        order++;
    } while (dwarf_siblingof(&child, &child) == 0);
}

static int compare_low(const void *a, const void *b)
{
    const struct function_range *x = a, *y = b;
    return x->low < y->low ? -1 : x->low > y->low;
}

static int compare_decls(const void *a, const void *b)
{
    const struct declaration *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int compare_copies(const void *a, const void *b)
{
    const struct concrete_copy *x = a, *y = b;
    if (x->origin != y->origin)
        return x->origin < y->origin ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static struct cu_functions *cu_functions_of(struct sym_scope_index *index, Dwarf_Die *cudie)
{
    Dwarf_Off off = dwarf_dieoffset(cudie);
    if (index->nslots > 0) {
        size_t mask = index->nslots - 1;
        for (size_t i = hash_offset(off, mask); index->slots[i].cu_offset != 0; i = (i + 1) & mask)
            if (index->slots[i].cu_offset == off)
                return &index->slots[i];
    }
    if ((index->count + 1) * 2 > index->nslots) {
        size_t nslots = index->nslots ? index->nslots * 2 : 64;
        struct cu_functions *slots = calloc(nslots, sizeof *slots);
        if (slots == NULL)
            return NULL;
        for (size_t i = 0; i < index->nslots; i++) {
            if (index->slots[i].cu_offset == 0)
                continue;
            size_t j = hash_offset(index->slots[i].cu_offset, nslots - 1);
            while (slots[j].cu_offset != 0)
                j = (j + 1) & (nslots - 1);
            slots[j] = index->slots[i];
        }
        free(index->slots);
        index->slots = slots;
        index->nslots = nslots;
    }
    size_t mask = index->nslots - 1;
    size_t i = hash_offset(off, mask);
    while (index->slots[i].cu_offset != 0)
        i = (i + 1) & mask;
    struct cu_functions *cu = &index->slots[i];
    cu->cu_offset = off;
    index->count++;
    collect_functions(index, cu, cudie, 0);
    if (cu->count > 1)
        qsort(cu->ranges, cu->count, sizeof *cu->ranges, compare_low);
    if (cu->n_decls > 1)
        qsort(cu->decls, cu->n_decls, sizeof *cu->decls, compare_decls);
    if (cu->n_copies > 1)
        qsort(cu->copies, cu->n_copies, sizeof *cu->copies, compare_copies);
    return cu;
}

static const struct function_range *find_function(const struct cu_functions *cu, Dwarf_Addr addr)
{
    size_t lo = 0, hi = cu->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cu->ranges[mid].low <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i-- > 0;) {
        if (addr < cu->ranges[i].high)
            return &cu->ranges[i];
        if (addr - cu->ranges[i].low >= cu->max_span)
            break;
    }
    return NULL;
}

static int is_nested_scope(int tag)
{
    return tag == DW_TAG_lexical_block || tag == DW_TAG_inlined_subroutine
        || tag == DW_TAG_try_block || tag == DW_TAG_catch_block || tag == DW_TAG_with_stmt;
}

int sym_scope_chain(struct sym_scope_index *index, Dwarf_Die *cudie,
                    Dwarf_Addr dwarf_addr, Dwarf_Die *scopes, int max)
{
    if (max <= 0)
        return 0;
    struct cu_functions *cu = cu_functions_of(index, cudie);
    const struct function_range *fn = cu ? find_function(cu, dwarf_addr) : NULL;
    if (fn == NULL)
        return 0;

    /* Outermost first while descending, reversed at the end. */
    int n = 0;
    scopes[n++] = fn->die;
    Dwarf_Die current = fn->die;
    for (int descended = 1; descended && n < max;) {
        descended = 0;
        Dwarf_Die child;
        if (dwarf_child(&current, &child) != 0)
            break;
        do {
            if (is_nested_scope(dwarf_tag(&child)) && dwarf_haspc(&child, dwarf_addr) == 1) {
                scopes[n++] = child;
                current = child;
                descended = 1;
                break;
            }
        } while (dwarf_siblingof(&child, &child) == 0);
    }
    for (int i = 0; i < n / 2; i++) {
        Dwarf_Die tmp = scopes[i];
        scopes[i] = scopes[n - 1 - i];
        scopes[n - 1 - i] = tmp;
    }
    return n;
}

int sym_scope_next_function_line(struct sym_scope_index *index, Dwarf_Die *cudie,
                                 const char *decl_file, int first_line)
{
    struct cu_functions *cu = decl_file ? cu_functions_of(index, cudie) : NULL;
    if (cu == NULL)
        return INT_MAX;
    /* The first declaration after (decl_file, first_line). */
    size_t lo = 0, hi = cu->n_decls;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct declaration *d = &cu->decls[mid];
        if (d->file < decl_file || (d->file == decl_file && d->line <= first_line))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < cu->n_decls && cu->decls[lo].file == decl_file ? cu->decls[lo].line : INT_MAX;
}

int sym_scope_out_of_line_copy(struct sym_scope_index *index, Dwarf_Die *cudie, Dwarf_Off origin,
                               Dwarf_Die *copy)
{
    struct cu_functions *cu = cu_functions_of(index, cudie);
    if (cu == NULL)
        return 0;
    size_t lo = 0, hi = cu->n_copies;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cu->copies[mid].origin < origin)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == cu->n_copies || cu->copies[lo].origin != origin)
        return 0;
    *copy = cu->copies[lo].die;
    return 1;
}
