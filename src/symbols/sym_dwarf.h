/* memprof symbolizer: DWARF side of resolving one address: the inline chain
 * (like elfutils' addr2line -i), line table lines, function names and the
 * definition extent of each function (cached per function DIE). */
#ifndef MEMPROF_SYM_DWARF_H
#define MEMPROF_SYM_DWARF_H

#include <elfutils/libdw.h>
#include "memprof/frame.h"
#include "sym_scopes.h"
#include "sym_strings.h"

/* Per-module cache of function facts, keyed by function DIE offset. */
struct sym_func_cache;

struct sym_func_cache *sym_func_cache_create(void);
void sym_func_cache_destroy(struct sym_func_cache *cache);

/* Fill up to `max` frames (innermost first) for `dwarf_addr` inside `cudie`.
 * `scope_index` is the module's (sym_scopes.h).  Sets function (NULL when no subprogram DIE covers the address), file,
 * line, func_file, func_first_line and func_last_line; leaves module and
 * is_runtime to the caller.  Returns the number of frames, 0 when the CU
 * has neither a line nor a function for the address. */
int sym_dwarf_frames(struct sym_string_pool *strings, struct sym_func_cache *funcs,
                     struct sym_scope_index *scope_index, Dwarf_Die *cudie, Dwarf_Addr dwarf_addr,
                     struct mp_frame_info *out, int max);

#endif
