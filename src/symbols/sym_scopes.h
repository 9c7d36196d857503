/* memprof symbolizer: the physical scope chain (subprogram, lexical blocks,
 * inlined instances) holding an address, found through a per-CU index of
 * function ranges instead of walking the whole CU for every address. */
#ifndef MEMPROF_SYM_SCOPES_H
#define MEMPROF_SYM_SCOPES_H

#include <elfutils/libdw.h>

/* Per-module: one function range index per CU, built on first use. */
struct sym_scope_index;

struct sym_scope_index *sym_scope_index_create(void);
void sym_scope_index_destroy(struct sym_scope_index *index);

/* Fill `scopes` innermost first, ending with the function DIE that holds
 * `dwarf_addr` in `cudie`.  Returns the count; 0 when no indexed function
 * covers the address (the caller may fall back to dwarf_getscopes). */
int sym_scope_chain(struct sym_scope_index *index, Dwarf_Die *cudie,
                    Dwarf_Addr dwarf_addr, Dwarf_Die *scopes, int max);

#endif
