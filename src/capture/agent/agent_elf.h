/* memprof agent: looking into the objects the loader has mapped without
 * calling the loader (no lock taken, nothing allocated): does an object hold
 * an address, and where is a symbol it defines (its .dynsym, through the GNU
 * or SysV hash table). */
#ifndef MEMPROF_AGENT_ELF_H
#define MEMPROF_AGENT_ELF_H

#include <link.h>
#include <stdint.h>

int agent_elf_object_holds(const struct dl_phdr_info *info, uintptr_t addr);
/* The run-time address of a function or object the object defines, or NULL. */
void *agent_elf_symbol(const struct dl_phdr_info *info, const char *name);
/* The same from the file's full symbol table (.symtab: what an executable
 * defines without exporting it), read with plain reads; 0 when absent. */
uint64_t agent_elf_file_symbol(const char *path, const char *name);

#endif
