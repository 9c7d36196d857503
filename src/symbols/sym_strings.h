/* memprof symbolizer: interned strings, source path normalisation and C++
 * name demangling.  Every string the symbolizer hands out lives in one pool
 * and stays valid until the pool is destroyed. */
#ifndef MEMPROF_SYM_STRINGS_H
#define MEMPROF_SYM_STRINGS_H

#include <stddef.h>

struct sym_string_pool;

struct sym_string_pool *sym_strings_create(void);
void sym_strings_destroy(struct sym_string_pool *pool);

/* Return the pooled copy of `s` (the same pointer for equal strings), NULL
 * when s is NULL or memory runs out. */
const char *sym_strings_intern(struct sym_string_pool *pool, const char *s);

/* Pooled absolute, lexically normalised path: `name` joined to `dir` when
 * relative (dir may be NULL), "." components dropped, "a/.." folded. */
const char *sym_strings_intern_path(struct sym_string_pool *pool,
                                    const char *dir, const char *name);

/* Pooled demangled form of a C++ symbol ("_Z..."), else of `name` itself. */
const char *sym_strings_intern_demangled(struct sym_string_pool *pool,
                                         const char *name);

#endif
