/* memprof: where the struct layout of a CPython interpreter comes from
 * (struct mp_py_layout, events/py_channel.h): its debug information when
 * there is some (python3.11-dbg on Debian, or an interpreter built with -g),
 * otherwise a table built into memprof for CPython 3.11 and 3.12 on x86-64
 * (from their headers; the tests check it against the debug information and
 * the installed headers). */
#ifndef MEMPROF_PY_LAYOUT_H
#define MEMPROF_PY_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include "events/py_channel.h"

/* The built-in layout of CPython `version` (PY_VERSION_HEX; only major and
 * minor matter).  0, or -1 when there is none for it. */
int mp_py_layout_builtin(uint32_t version, struct mp_py_layout *out);

/* The layout from the debug information of the ELF file at `path` (or its
 * separate debug file, found by build-id or debuglink), for an interpreter
 * of `version`.  0; -1 when there is no debug information (err empty); -2
 * when it lacks something (err names it: a layout memprof cannot read). */
int mp_py_layout_dwarf(const char *path, uint32_t version, struct mp_py_layout *out, char *err, size_t errlen);
/* The same from debug information already open (the symbolizer's, so the
 * sections are read once). */
typedef struct Dwarf Dwarf;
int mp_py_layout_from_dwarf(Dwarf *dw, uint32_t version, struct mp_py_layout *out, char *err, size_t errlen);

/* "3.11.2" for 0x030b02f0. */
void mp_py_version_text(uint32_t version, char *buf, size_t len);

#endif
