/* memprof symbolizer: a module's ELF symbol table, indexed once (sorted
 * arrays, binary search) instead of the linear search libdwfl's
 * dwfl_module_addrinfo makes for every address: on a big stripped library
 * (libLLVM: 44,000 dynamic symbols) that search was most of memprof's time.
 * The lookup picks exactly the symbol dwfl_module_addrinfo picks. */
#ifndef MEMPROF_SYM_SYMTAB_H
#define MEMPROF_SYM_SYMTAB_H

#include <elfutils/libdwfl.h>
#include <stddef.h>

struct sym_symtab;

/* Read the module's symbol table (dwfl_module_getsymtab) once.  NULL when it
 * has none or memory runs out (the caller may fall back to libdwfl). */
struct sym_symtab *sym_symtab_build(Dwfl_Module *mod);
void sym_symtab_destroy(struct sym_symtab *table);

/* Name of the symbol dwfl_module_addrinfo(mod, addr, ...) would return for
 * the runtime address `addr` (the names belong to the module's ELF data),
 * NULL when no symbol holds it.  `mod` must be the module it was built from. */
const char *sym_symtab_lookup(const struct sym_symtab *table, Dwfl_Module *mod, GElf_Addr addr);

/* Symbols indexed (for tests and memory accounting). */
size_t sym_symtab_count(const struct sym_symtab *table);

#endif
