/* memprof symbolizer: per-CU indexes of the CU's functions, built on first
 * use with one walk of the CU's top-level DIEs: the physical scope chain
 * (subprogram, lexical blocks, inlined instances) holding an address, found
 * through sorted function ranges; the top-level function declared next in a
 * file; the out-of-line copy of an inlined function.  Without them each of
 * these walked the whole CU for every address or function (sqlite3.c). */
#ifndef MEMPROF_SYM_SCOPES_H
#define MEMPROF_SYM_SCOPES_H

#include <elfutils/libdw.h>
#include "sym_strings.h"

/* Per-module: one function range index per CU, built on first use. */
struct sym_scope_index;

/* Declaration files are pooled in `strings`, which must outlive the index. */
struct sym_scope_index *sym_scope_index_create(struct sym_string_pool *strings);
void sym_scope_index_destroy(struct sym_scope_index *index);

/* Fill `scopes` innermost first, ending with the function DIE that holds
 * `dwarf_addr` in `cudie`.  Returns the count; 0 when no indexed function
 * covers the address (the caller may fall back to dwarf_getscopes). */
int sym_scope_chain(struct sym_scope_index *index, Dwarf_Die *cudie,
                    Dwarf_Addr dwarf_addr, Dwarf_Die *scopes, int max);

/* DW_AT_decl_file of `die` as its CU's file table names it, through
 * abstract_origin / specification (libdw 0.188's dwarf_decl_file rejects
 * file index 0, which DWARF 5 uses for the primary source file); *comp_dir
 * (when not NULL) gets the declaring CU's DW_AT_comp_dir.  NULL when none. */
const char *sym_decl_file(Dwarf_Die *die, const char **comp_dir);

/* Smallest declaration line above `first_line` among the functions defined
 * at the top level of `cudie`'s CU whose declaration file is `decl_file`
 * (as DW_AT_decl_file names it, pooled with sym_strings_intern); INT_MAX
 * when none. */
int sym_scope_next_function_line(struct sym_scope_index *index, Dwarf_Die *cudie,
                                 const char *decl_file, int first_line);

/* The first top-level DW_TAG_subprogram of `cudie`'s CU with code whose
 * DW_AT_abstract_origin is the DIE at `origin`: the out-of-line copy of an
 * inlined function.  1 and *copy filled when there is one. */
int sym_scope_out_of_line_copy(struct sym_scope_index *index, Dwarf_Die *cudie, Dwarf_Off origin,
                               Dwarf_Die *copy);

#endif
