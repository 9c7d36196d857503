/* memprof symbolizer: per-CU sorted ranges of the functions defined in the
 * CU (top level, namespaces, classes), binary searched, then a descent
 * through the children that hold the address.  dwarf_getscopes walks the
 * whole CU on every call; this walks it once per CU. */
#define _GNU_SOURCE
#include "sym_scopes.h"

#include <dwarf.h>
#include <stdlib.h>

struct function_range {
    Dwarf_Addr low, high;
    Dwarf_Die die;
};

struct cu_functions {
    Dwarf_Off cu_offset;        /* 0 = empty slot (no CU DIE sits at 0) */
    struct function_range *ranges;
    size_t count, capacity;
    Dwarf_Addr max_span;
};

struct sym_scope_index {
    struct cu_functions *slots;
    size_t nslots, count;
};

struct sym_scope_index *sym_scope_index_create(void)
{
    return calloc(1, sizeof(struct sym_scope_index));
}

void sym_scope_index_destroy(struct sym_scope_index *index)
{
    if (index == NULL)
        return;
    for (size_t i = 0; i < index->nslots; i++)
        free(index->slots[i].ranges);
    free(index->slots);
    free(index);
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

static void collect_functions(struct cu_functions *cu, Dwarf_Die *parent, int depth)
{
    Dwarf_Die child;
    if (depth > 16 || dwarf_child(parent, &child) != 0)
        return;
    do {
        switch (dwarf_tag(&child)) {
        case DW_TAG_subprogram:
            add_function(cu, &child);
            break;
        case DW_TAG_namespace:
        case DW_TAG_class_type:
        case DW_TAG_structure_type:
        case DW_TAG_union_type:
        case DW_TAG_module:
            collect_functions(cu, &child, depth + 1);
            break;
        default:
            break;
        }
    } while (dwarf_siblingof(&child, &child) == 0);
}

static int compare_low(const void *a, const void *b)
{
    const struct function_range *x = a, *y = b;
    return x->low < y->low ? -1 : x->low > y->low;
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
    collect_functions(cu, cudie, 0);
    qsort(cu->ranges, cu->count, sizeof *cu->ranges, compare_low);
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
