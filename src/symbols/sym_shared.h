/* memprof symbolizer: frames shared between the symbolizers of a process
 * tree.  Every program image has its own symbolizer (its own address
 * space), but most map the same files (libc, the dynamic loader, the same
 * program run again): what an address resolves to depends only on the file
 * (its build-id) and the address's offset in it, so each is resolved once
 * for the whole tree, and libc's DWARF is read once, not once per image.
 * One thread only. */
#ifndef MEMPROF_SYM_SHARED_H
#define MEMPROF_SYM_SHARED_H

#include <stddef.h>
#include <stdint.h>
#include "memprof/frame.h"

struct mp_sym_cache;

struct mp_sym_cache *mp_sym_cache_new(void);
void mp_sym_cache_free(struct mp_sym_cache *c);

/* The frames of (build-id, offset, is_return) resolved before, or NULL.
 * *n gets their number; *warning the module's "no debug info" note (or
 * NULL).  Valid until the next insert. */
const struct mp_frame_info *mp_sym_cache_find(struct mp_sym_cache *c, const unsigned char *build_id, int id_len,
                                              uint64_t offset, int is_return, int *n, const char **warning);
/* Keeps a copy (strings interned in the cache). */
void mp_sym_cache_insert(struct mp_sym_cache *c, const unsigned char *build_id, int id_len, uint64_t offset,
                         int is_return, const struct mp_frame_info *frames, int n, const char *warning);

#endif
