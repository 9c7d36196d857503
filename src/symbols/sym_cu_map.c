/* memprof symbolizer: per-module CU range map (what heaptrack's
 * dwarfdiecache.cpp does): every CU's address ranges, sorted, binary searched. */
#define _GNU_SOURCE
#include "sym_cu_map.h"

#include <elfutils/libdw.h>
#include <stdlib.h>

struct cu_range {
    Dwarf_Addr low, high;   /* [low, high) */
    Dwarf_Die cudie;
};

struct sym_cu_map {
    struct cu_range *ranges;
    size_t count, capacity;
    Dwarf_Addr max_span;    /* longest range: bounds the backwards scan */
};

static int add_range(struct sym_cu_map *map, Dwarf_Addr low, Dwarf_Addr high,
                     const Dwarf_Die *cudie)
{
    if (high <= low)
        return 0;
    if (map->count == map->capacity) {
        size_t cap = map->capacity ? map->capacity * 2 : 64;
        struct cu_range *r = realloc(map->ranges, cap * sizeof *r);
        if (r == NULL)
            return -1;
        map->ranges = r;
        map->capacity = cap;
    }
    map->ranges[map->count++] = (struct cu_range){ low, high, *cudie };
    if (high - low > map->max_span)
        map->max_span = high - low;
    return 0;
}

static int compare_low(const void *a, const void *b)
{
    const struct cu_range *x = a, *y = b;
    return x->low < y->low ? -1 : x->low > y->low;
}

struct sym_cu_map *sym_cu_map_build(Dwfl_Module *mod)
{
    Dwarf_Addr bias;
    if (dwfl_module_getdwarf(mod, &bias) == NULL)
        return NULL;
    struct sym_cu_map *map = calloc(1, sizeof *map);
    if (map == NULL)
        return NULL;
    Dwarf_Die *cu = NULL;
    while ((cu = dwfl_module_nextcu(mod, cu, &bias)) != NULL) {
        Dwarf_Addr base, low, high;
        ptrdiff_t offset = 0;
        while ((offset = dwarf_ranges(cu, offset, &base, &low, &high)) > 0)
            if (add_range(map, low, high, cu) != 0) {
                sym_cu_map_destroy(map);
                return NULL;
            }
    }
    qsort(map->ranges, map->count, sizeof *map->ranges, compare_low);
    return map;
}

void sym_cu_map_destroy(struct sym_cu_map *map)
{
    if (map == NULL)
        return;
    free(map->ranges);
    free(map);
}

int sym_cu_map_lookup(const struct sym_cu_map *map, Dwarf_Addr dwarf_addr,
                      Dwarf_Die *cudie)
{
    /* Last range starting at or below the address. */
    size_t lo = 0, hi = map->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (map->ranges[mid].low <= dwarf_addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Ranges may nest or overlap: walk back while one could still reach. */
    for (size_t i = lo; i-- > 0;) {
        const struct cu_range *r = &map->ranges[i];
        if (dwarf_addr < r->high) {
            *cudie = r->cudie;
            return 1;
        }
        if (dwarf_addr - r->low >= map->max_span)
            break;
    }
    return 0;
}
