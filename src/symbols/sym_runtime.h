/* memprof symbolizer: which frames belong to the runtime (allocator, C/C++
 * runtime libraries, the memprof agent, system headers) and so can never be
 * a "user line". */
#ifndef MEMPROF_SYM_RUNTIME_H
#define MEMPROF_SYM_RUNTIME_H

/* 1 when the module (path or pseudo name like "[vdso]") is a runtime library. */
int sym_runtime_module(const char *module_path);

/* 1 when the absolute source path is a system or compiler header. */
int sym_runtime_source(const char *file);

#endif
