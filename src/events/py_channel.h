/* memprof: what the agent and memprof tell each other about a CPython
 * target, beside the ring's records.
 *
 *  - The layout: the struct offsets the agent needs to read the running
 *    Python frames of its own thread (PyThreadState -> _PyCFrame ->
 *    _PyInterpreterFrame chain -> PyCodeObject, str and bytes objects).
 *    memprof finds them in the interpreter's debug information, or in its
 *    built-in table for CPython 3.11 and 3.12 on x86-64 (capture/python).
 *  - The channel: the second page of the ring's header.  memprof writes
 *    the line-mode patterns before the target starts; the agent posts an
 *    MP_REC_PYSTART record when it finds CPython, then waits until memprof
 *    set `state` to ANSWERED (with a layout) or UNSUPPORTED.  One
 *    interpreter of a process tree has it at a time (it moves IDLE ->
 *    REQUESTED first); memprof sets it IDLE again when that image ends.
 *  - A code description (MP_REC_PYCODE records, assembled by the ring
 *    reader into one MP_EV_PYCODE payload): struct mp_py_code_head, then
 *    the file name, the qualified name and the co_linetable bytes. */
#ifndef MEMPROF_PY_CHANNEL_H
#define MEMPROF_PY_CHANNEL_H

#include <stdatomic.h>
#include <stdint.h>

/* Offsets in bytes; -1 where the version has no such field. */
struct mp_py_layout {
    uint32_t version;            /* PY_VERSION_HEX of the interpreter it describes */
    int32_t tstate_cframe;       /* PyThreadState.cframe */
    int32_t tstate_c_tracefunc;  /* PyThreadState.c_tracefunc (line mode) */
    int32_t cframe_current_frame;/* _PyCFrame.current_frame */
    int32_t frame_code;          /* _PyInterpreterFrame.f_code */
    int32_t frame_previous;
    int32_t frame_prev_instr;
    int32_t frame_owner;         /* char */
    int32_t frame_is_entry;      /* bool, 3.11: first frame of an evaluation loop call */
    int32_t owner_generator;     /* FRAME_OWNED_BY_GENERATOR */
    int32_t owner_cstack;        /* FRAME_OWNED_BY_CSTACK, 3.12: the shim frame that
                                    starts each evaluation loop call; -1 in 3.11 */
    int32_t object_type;         /* PyObject.ob_type */
    int32_t code_filename, code_name, code_qualname, code_firstlineno;
    int32_t code_linetable, code_firsttraceable, code_code_adaptive;
    int32_t str_length;          /* PyASCIIObject.length */
    int32_t str_state;           /* PyASCIIObject.state (bit fields) */
    int32_t str_ascii_size;      /* sizeof(PyASCIIObject): compact ASCII data follows */
    int32_t str_compact_size;    /* sizeof(PyCompactUnicodeObject): other compact data */
    int32_t str_utf8_length, str_utf8; /* PyCompactUnicodeObject.utf8_length, utf8 */
    uint8_t state_kind_bit, state_compact_bit, state_ascii_bit, pad0;
    int32_t bytes_size;          /* PyVarObject.ob_size of a bytes object */
    int32_t bytes_sval;          /* PyBytesObject.ob_sval */
    /* Finding a thread's state from outside (memprof -p): */
    int32_t runtime_interpreters_head; /* _PyRuntimeState.interpreters.head */
    int32_t interp_next;         /* PyInterpreterState.next */
    int32_t interp_threads_head; /* PyInterpreterState.threads.head */
    int32_t tstate_next;         /* PyThreadState.next */
    int32_t tstate_native_thread_id; /* PyThreadState.native_thread_id: the kernel's tid */
};

enum mp_py_state {
    MP_PY_IDLE = 0,        /* no CPython seen (or a new image) */
    MP_PY_REQUESTED = 1,   /* the agent posted MP_REC_PYSTART and waits */
    MP_PY_ANSWERED = 2,    /* memprof wrote `layout`: read Python frames */
    MP_PY_UNSUPPORTED = 3, /* no layout for this interpreter: native frames only */
};

#define MP_PY_PATTERNS_MAX 1024

struct mp_py_channel {
    _Atomic uint32_t state;          /* enum mp_py_state */
    uint32_t layout_source;          /* 1 debug information, 2 built-in table (memprof's note) */
    struct mp_py_layout layout;
    /* Line mode (--function on Python code), written before the target
     * runs: patterns "FILE.py:NAME" or "NAME" (fnmatch globs), each ended
     * by '\n'; empty when off. */
    char patterns[MP_PY_PATTERNS_MAX];
    uint64_t start_ns;                   /* CLOCK_MONOTONIC when the target started: line
                                            events carry the time since (MP_REC_LINE) */
    /* What the agent saw, for the report's notes. */
    _Atomic uint64_t codes_described;
    _Atomic uint64_t codes_over_limit;   /* code objects past MP_PYFRAME_MAX_CODE_ID: no frame */
    _Atomic uint64_t unreadable_names;   /* file or function names the agent could not read */
    _Atomic uint32_t hooks_installed;    /* 1: the object and mem domains are wrapped */
    _Atomic uint32_t hooks_replaced;     /* Python replaced the wrap while starting (PYTHONMALLOC):
                                            the agent wrapped again at the next safe point; 2:
                                            with its debug hooks (-X dev) */
    _Atomic uint64_t trace_conflicts;    /* line mode: calls not traced, the thread had a trace
                                            function of its own (a debugger, coverage) */
    _Atomic uint32_t layout_mismatch;    /* the layout does not fit the interpreter's type
                                            objects: no Python frames */
    _Atomic uint32_t other_interpreters; /* interpreters of the process tree that ran while
                                            another had the channel, and forked copies of the
                                            one that had it: native frames only */
    _Atomic uint64_t frame_faults;       /* Python stacks cut short: a frame led to memory
                                            that is not there (the program wrote over it) */
};

#define MP_PY_CHANNEL_OFFSET 4096        /* in the ring's header (ring.h) */

/* A code object's description (MP_EV_PYCODE payload). */
#define MP_PYCODE_TARGET 1u              /* flags: a line-mode target; the index of the pattern it
                                            matched in bits 8-15 */
struct mp_py_code_head {
    uint32_t id;                         /* as in mp_pyframe() */
    int32_t first_line;                  /* co_firstlineno */
    uint32_t flags;
    uint32_t filename_len, qualname_len, linetable_len;
};
#define MP_PYCODE_MAX_PAYLOAD (1u << 20)

/* Line mode's events from the agent: MP_REC_LINE records whose id has the
 * kind of events/line_events.h in bits 62-63, the depth of target frames in
 * bits 44-61, the code object's id in bits 20-43 and the line in bits 0-19.
 * memprof turns them into line-event ids of its map of the targets. */
static inline uint64_t mp_py_line_event(unsigned kind, uint32_t depth, uint32_t code_id, uint32_t line)
{
    return ((uint64_t)kind << 62) | ((uint64_t)(depth & 0x3ffffu) << 44) | ((uint64_t)(code_id & 0xffffffu) << 20) |
           (line & 0xfffffu);
}
static inline unsigned mp_py_line_event_kind(uint64_t id) { return (unsigned)(id >> 62); }
static inline uint32_t mp_py_line_event_depth(uint64_t id) { return (uint32_t)(id >> 44) & 0x3ffffu; }
static inline uint32_t mp_py_line_event_code(uint64_t id) { return (uint32_t)(id >> 20) & 0xffffffu; }
static inline uint32_t mp_py_line_event_line(uint64_t id) { return (uint32_t)id & 0xfffffu; }

#endif
