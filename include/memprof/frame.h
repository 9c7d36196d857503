/* memprof: one source-level frame, as the symbolizer resolves a PC.
 *
 * One PC can give several frames when the code at it was inlined: the chain is
 * listed innermost first.  Strings are owned by whoever filled the struct and
 * live until it is closed; consumers copy what they keep. */
#ifndef MEMPROF_FRAME_H
#define MEMPROF_FRAME_H

#include <stdint.h>

struct mp_frame_info {
    const char *function;   /* demangled name; never NULL: "module+0x1234" when unknown */
    const char *file;       /* absolute source path, NULL without line info */
    int line;               /* source line, 0 when unknown */
    const char *module;     /* path of the ELF module holding the PC, never NULL */
    int is_runtime;         /* 1: frame is in an allocator/runtime library (libc,
                               libstdc++, libgcc, ld.so, libunwind, the memprof agent)
                               or its file is a system header (/usr/include, compiler
                               include dirs); such frames are never a "user line" */
    const char *func_file;  /* file of the function's definition, NULL if unknown */
    int func_first_line;    /* first source line of the function (DW_AT_decl_line), 0 if unknown */
    int func_last_line;     /* last source line belonging to the function, 0 if unknown */
};

/* Resolve one PC into up to `max` frames (innermost first).  `is_return_address`
 * is nonzero for return addresses (resolve pc - 1).  Returns the number of
 * frames written (at least 1 when max >= 1). */
typedef int (*mp_resolve_fn)(void *ctx, uint64_t pc, int is_return_address,
                             struct mp_frame_info *out, int max);

#endif
