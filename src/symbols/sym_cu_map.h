/* memprof symbolizer: a module's address -> compilation unit map, built from
 * the CUs' own DW_AT_ranges / low_pc..high_pc, for modules whose
 * .debug_aranges is missing or incomplete (libdw 0.188 relies on it). */
#ifndef MEMPROF_SYM_CU_MAP_H
#define MEMPROF_SYM_CU_MAP_H

#include <elfutils/libdwfl.h>

struct sym_cu_map;

/* Walk every CU of the module once.  NULL when the module has no DWARF or
 * memory runs out. */
struct sym_cu_map *sym_cu_map_build(Dwfl_Module *mod);
void sym_cu_map_destroy(struct sym_cu_map *map);

/* CU DIE whose ranges hold `dwarf_addr` (a DWARF address: runtime address
 * minus the module bias).  Returns 1 and fills *cudie when found. */
int sym_cu_map_lookup(const struct sym_cu_map *map, Dwarf_Addr dwarf_addr,
                      Dwarf_Die *cudie);

#endif
