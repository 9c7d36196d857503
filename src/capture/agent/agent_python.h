/* memprof agent: what the agent's Python files share (hidden inside
 * libmemprof-agent.so).  agent_python.c recognises CPython, gets the frame
 * layout from memprof and wraps the allocator domains; agent_pyframes.c
 * reads the running Python frames and describes code objects;
 * agent_pycode.c keeps the table of code objects seen; agent_pytrace.c is
 * line mode (--function on Python code). */
#ifndef MEMPROF_AGENT_PYTHON_H
#define MEMPROF_AGENT_PYTHON_H

#include <stddef.h>
#include <stdint.h>
#include "agent_internal.h"
#include "events/py_channel.h"
#include "events/py_merge.h"

/* The interpreter, as found at start (valid once agent_py_frames_on). */
struct agent_py {
    struct mp_py_layout layout;
    struct mp_py_channel *channel;
    void *(*this_thread_state)(void);   /* PyGILState_GetThisThreadState: reads a
                                           pthread key, never allocates nor re-enters */
    uintptr_t code_type;                /* &PyCode_Type */
    struct mp_py_text text;             /* the evaluation loop and the interpreter's code */
    int line_mode;                      /* channel->patterns is not empty */
};
extern struct agent_py agent_py AGENT_HIDDEN;

/* ---- code objects (agent_pycode.c) ---- */

/* What the agent knows of a code object. */
struct agent_code {
    uint32_t id;        /* for mp_pyframe(); 0: past MP_PYFRAME_MAX_CODE_ID, no frame */
    int target;         /* line mode: its slot (>= 0), or -1 */
};
/* Looks `code` up, inserting it (and, when `describe`, describing it to
 * memprof once) on first sight.  Sets agent_busy meanwhile.  0, or -1 when
 * the table is full (no memory). */
int agent_code_get(uintptr_t code, int describe, struct agent_code *out) AGENT_HIDDEN;
/* The object domain frees `block`: if it is a code object we know, forget
 * it (its address may hold another code object later). */
void agent_code_freed(uintptr_t block) AGENT_HIDDEN;

/* ---- reading objects by the layout (agent_pycode.c) ---- */

/* The UTF-8 text of a str object into buf (at most cap bytes, no NUL);
 * its length, or -1 when it cannot be read without calling Python. */
long agent_py_str(uintptr_t str, char *buf, size_t cap) AGENT_HIDDEN;

/* ---- line mode (agent_pytrace.c) ---- */

/* At the first safe point after Py_Initialize made the interpreter: route
 * frame evaluation through the agent (PEP 523) to trace the targets. */
void agent_pytrace_install(void) AGENT_HIDDEN;
/* Does the code object with this file and qualified name match a pattern?
 * Its slot (0-255, the pattern's index), or -1. */
int agent_pytrace_match(const char *file, size_t file_len, const char *qualname, size_t qualname_len) AGENT_HIDDEN;

#endif
