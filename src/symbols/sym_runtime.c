/* memprof symbolizer: the runtime filter (module basenames and system header
 * directories that never count as user code). */
#define _GNU_SOURCE
#include "sym_runtime.h"

#include <fnmatch.h>
#include <stddef.h>
#include <string.h>

static const char *const runtime_module_patterns[] = {
    "libc.so*", "libstdc++.so*", "libgcc_s.so*", "ld-linux*.so*",
    "libunwind*.so*", "libmemprof-agent.so*", "libm.so*", "libpthread.so*",
    "libdl.so*",
    "libjemalloc.so*", "libtcmalloc*.so*", "libmimalloc*.so*", /* allocators a program links or preloads */
    "\\[vdso\\]*",      /* kernel-provided code, never a user line */
    /* The CPython interpreter: in a Python process the user line is the
     * Python line its evaluation loop ran (capture/python). */
    "python[23]", "python[23].[0-9]*", "libpython[23]*.so*",
};

static const char *const system_header_patterns[] = {
    "/usr/include/*", "/usr/local/include/*", "/usr/lib/gcc/*",
    "/usr/lib/llvm-*/lib/clang/*",
};

int sym_runtime_module(const char *module_path)
{
    if (module_path == NULL)
        return 0;
    const char *slash = strrchr(module_path, '/');
    const char *base = slash ? slash + 1 : module_path;
    for (size_t i = 0; i < sizeof runtime_module_patterns / sizeof *runtime_module_patterns; i++)
        if (fnmatch(runtime_module_patterns[i], base, 0) == 0)
            return 1;
    return 0;
}

int sym_runtime_source(const char *file)
{
    if (file == NULL)
        return 0;
    for (size_t i = 0; i < sizeof system_header_patterns / sizeof *system_header_patterns; i++)
        if (fnmatch(system_header_patterns[i], file, 0) == 0)
            return 1;
    return 0;
}
