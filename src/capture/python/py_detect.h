/* memprof: before launch, is the program CPython, and which --function
 * patterns name Python functions (FILE.py:NAME, or any NAME when the
 * program is a CPython interpreter)?  A pattern whose FILE.py exists is
 * checked against the file's `def` lines, so a typo is a usage error
 * before anything runs, as for native functions. */
#ifndef MEMPROF_PY_DETECT_H
#define MEMPROF_PY_DETECT_H

#include <stddef.h>

/* 1 when the ELF file at path exports _PyRuntime or needs libpython3. */
int mp_py_program_is_cpython(const char *path);

/* Sorts the patterns into native and Python ones (arrays of n entries).
 * 0; or 2 with a one-line message (a FILE.py without such a def, native and
 * Python patterns mixed). */
int mp_py_split_functions(const char *program_path, const char *const *patterns, size_t n, const char **native,
                          size_t *n_native, const char **python, size_t *n_python, char *err, size_t errlen);

#endif
