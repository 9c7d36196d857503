/* memprof: finding the program to run (PATH search like execvp) and telling
 * what kind of executable it is, before anything is forked. */
#ifndef MEMPROF_LAUNCH_H
#define MEMPROF_LAUNCH_H

#include <stddef.h>

enum mp_exe_kind {
    MP_EXE_DYNAMIC,   /* ELF with an interpreter: the agent can be preloaded */
    MP_EXE_STATIC,    /* ELF without PT_INTERP: LD_PRELOAD has no effect */
    MP_EXE_SCRIPT,    /* "#!" script: its interpreter is what runs */
    MP_EXE_OTHER,     /* anything else the kernel may still accept */
};

/* Resolve `name` to a path like execvp does.  Returns 0 and fills `path`, or
 * the exit status memprof must use (127 not found, 126 not executable) after
 * writing a one-line message to `err`. */
int mp_find_program(const char *name, char *path, size_t pathlen, char *err, size_t errlen);

enum mp_exe_kind mp_exe_kind(const char *path);

#endif
