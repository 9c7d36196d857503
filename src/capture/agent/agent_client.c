/* memprof agent: the annotation API of include/memprof/memprof.h.  A
 * program's own allocator reports the pieces it hands out through the hook
 * memprof_client_hook; the agent records them like malloc's blocks, with
 * MP_CLIENT_BLOCK set in the address (memprof/event.h).
 *
 * Where the hook lives: each object that includes the header has a weak
 * copy.  The agent defines (and exports) one too, already pointing at its
 * recorder: the loader binds every library that uses the hook through the
 * global scope to the first copy in lookup order, which is the program's if
 * it exports one, else the agent's (preloaded right after the program).  At
 * start the agent also fills in the copies it finds in the loaded objects'
 * symbol tables (the program's own one is usually not exported: its
 * .symtab), so the program's own calls and libraries built with -Bsymbolic
 * are seen as well. */
#define _GNU_SOURCE
#include <link.h>
#include <string.h>

#include "agent_internal.h"
#include "agent_elf.h"
#define MEMPROF_HOOK_DEFINED
#include "memprof/memprof.h"

static void client_request(int op, size_t old_addr, size_t new_addr, size_t size);

/* The agent's own copy, strong (memprof.h's weak one is left out here). */
EXPORT memprof_client_fn memprof_client_hook = client_request;

static void client_request(int op, size_t old_addr, size_t new_addr, size_t size)
{
    if (!should_record())
        return;
    agent_busy = 1;
    if ((op == MEMPROF_OP_FREE || op == MEMPROF_OP_REALLOC) && old_addr) /* its site: the annotating line */
        agent_record_free((const void *)(uintptr_t)(old_addr | MP_CLIENT_BLOCK), __builtin_return_address(0));
    if ((op == MEMPROF_OP_ALLOC || op == MEMPROF_OP_REALLOC) && new_addr)
        agent_record_alloc((const void *)(uintptr_t)(new_addr | MP_CLIENT_BLOCK), size);
    agent_busy = 0;
}

static int fill_copy(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    memprof_client_fn *copy = agent_elf_symbol(info, "memprof_client_hook");
    if (!copy && info->dlpi_name[0] == '\0') { /* the program: not exported, in .symtab */
        uint64_t v = agent_elf_file_symbol("/proc/self/exe", "memprof_client_hook");
        copy = v ? (memprof_client_fn *)(uintptr_t)(info->dlpi_addr + v) : NULL;
    }
    if (copy && copy != &memprof_client_hook)
        __atomic_store_n(copy, client_request, __ATOMIC_RELEASE);
    return 0;
}

void agent_client_enable(void)
{
    dl_iterate_phdr(fill_copy, NULL);
}
