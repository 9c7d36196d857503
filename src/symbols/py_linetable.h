/* memprof: CPython's line tables (co_linetable of 3.11 and 3.12, the
 * "location table" of PEP 626/657): which source line an instruction of a
 * code object belongs to.  A pure decoder over the bytes the agent copied
 * from the code object; it mirrors Objects/codeobject.c
 * (_PyCode_CheckLineNumber), so a line here is the line tracemalloc and
 * tracebacks give. */
#ifndef MEMPROF_PY_LINETABLE_H
#define MEMPROF_PY_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

#define MP_PY_NO_INSTR 0xffffffffu /* before the first instruction */

/* The line of the instruction at code unit `instr`: first_line for
 * MP_PY_NO_INSTR (PyCode_Addr2Line of a negative address), -1 for an
 * instruction without a line or past the table. */
int mp_py_line_at(const uint8_t *table, size_t len, int first_line, uint32_t instr);

/* The largest line of any instruction (first_line when none is larger). */
int mp_py_last_line(const uint8_t *table, size_t len, int first_line);

#endif
