/* memprof: a CPython target, on memprof's side.
 *
 *  - answers the agent's MP_EV_PYSTART with the interpreter's layout (from
 *    its debug information, else the built-in table, else "unsupported");
 *  - keeps the code objects the agent described (MP_EV_PYCODE) and turns a
 *    Python frame (mp_pyframe) into file, line and function;
 *  - line mode: hands the --function patterns to the agent, builds the map
 *    of the matching functions' lines as their code objects arrive, and
 *    turns the agent's line events into the map's events;
 *  - the notes the report prints about all this.
 *
 * Everything runs on the ring reader's thread (the profile resolves stacks
 * there), but memprof -p's code descriptions (py_remote.c), which come from
 * the supervisor's thread: the codes are under a lock.  Notes are read after
 * both stopped. */
#ifndef MEMPROF_PY_SESSION_H
#define MEMPROF_PY_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "events/line_events.h"
#include "memprof/event.h"
#include "memprof/frame.h"

struct mp_py_channel;
struct mp_py_session;

/* channel: the ring's Python channel (mp_ring_reader_py_channel). */
struct mp_py_session *mp_py_session_new(struct mp_py_channel *channel);
void mp_py_session_free(struct mp_py_session *s);

/* Line mode: the patterns ("FILE.py:NAME", "NAME"; globs) the agent traces.
 * 0, or -1 with a message when they do not fit the channel. */
int mp_py_session_set_patterns(struct mp_py_session *s, const char *const *patterns, size_t n, char *err,
                               size_t errlen);

/* The target (pid) exec'd a new image: its code objects are new. */
void mp_py_session_reset(struct mp_py_session *s);

/* MP_EV_PYSTART from the agent of process pid: answer it.  sym (may be
 * NULL): the target's symbolizer, whose debug information is shared. */
struct mp_symbolizer;
void mp_py_session_start(struct mp_py_session *s, pid_t pid, const struct mp_event *ev, struct mp_symbolizer *sym);
/* The layout for the interpreter of process pid whose _PyRuntime (or
 * another of its symbols) is at `runtime`: 0 with *layout, or -1 when there
 * is none (unsupported: the notes say so).  What _start answers the agent,
 * what memprof -p reads with. */
struct mp_py_layout;
int mp_py_session_layout(struct mp_py_session *s, pid_t pid, uint64_t runtime, uint32_t version,
                         struct mp_symbolizer *sym, struct mp_py_layout *layout);
/* memprof -p: the notes say what the breakpoint engine cannot see. */
void mp_py_session_attached(struct mp_py_session *s);

/* MP_EV_PYCODE: keep the description.  1 when line mode's map gained a
 * function (refresh the line profile), else 0. */
int mp_py_session_code(struct mp_py_session *s, const struct mp_event *ev);

/* A Python frame (mp_is_pyframe) as mp_resolve_fn does it: 1 frame. */
int mp_py_session_resolve(struct mp_py_session *s, uint64_t frame, struct mp_frame_info *out, int max);

/* Line mode: the map of the traced functions (grows as they arrive), and
 * an agent's line event (MP_EV_LINE) rewritten in the map's terms: 0, or
 * -1 when it names nothing the map knows. */
const struct mp_lm_map *mp_py_session_map(const struct mp_py_session *s);
int mp_py_session_line_event(struct mp_py_session *s, struct mp_event *ev);

/* Sentences for the report (what could not be done and why), in a fixed
 * order; at most max.  pycode_broken: mp_ring_reader_pycode_broken;
 * records_bound: mp_ring_reader_records_bound (a count of stacks in the
 * channel above it is not the agent's). */
size_t mp_py_session_notes(struct mp_py_session *s, uint64_t pycode_broken, uint64_t records_bound,
                           const char **out, size_t max);

/* 1 when the run had a CPython interpreter. */
int mp_py_session_seen(const struct mp_py_session *s);

#endif
