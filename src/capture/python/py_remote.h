/* memprof: the Python frames of a stopped thread of another process, for
 * memprof -p (the breakpoint engine: no agent in the process).
 *
 * At attach: the interpreter is found among the process's mapped files (the
 * one exporting _PyRuntime), its version read from Py_Version, its layout
 * taken from its debug information or the built-in table (as for the agent).
 * At each allocation the engine stops on: the thread's PyThreadState is
 * found by its kernel thread id (native_thread_id, walking the
 * interpreters' thread lists as py-spy does), its frames are read with
 * process_vm_readv, each code object is described to the session once (and
 * again if its address comes to hold another one), and the stack is merged
 * (events/py_merge.h). */
#ifndef MEMPROF_PY_REMOTE_H
#define MEMPROF_PY_REMOTE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mp_py_remote;
struct mp_py_session;
struct mp_symbolizer;

/* NULL when pid runs no CPython memprof can read (the session then has its
 * note); sym may be NULL. */
struct mp_py_remote *mp_py_remote_open(pid_t pid, struct mp_py_session *session, struct mp_symbolizer *sym);

/* frames[0..n) the native stack of stopped thread tid (return addresses,
 * innermost first): rewritten with its Python frames merged in, at most max;
 * the new length (*truncated set when frames were left out). */
int mp_py_remote_merge(struct mp_py_remote *r, pid_t tid, uint64_t *frames, int n, int max, uint32_t *truncated);

void mp_py_remote_free(struct mp_py_remote *r);

#endif
