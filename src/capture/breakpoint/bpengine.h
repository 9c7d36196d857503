/* memprof: the breakpoint engine.  Records the malloc family of a traced
 * process from outside, for what the agent cannot reach: statically linked
 * programs, --engine=breakpoint, and processes memprof attaches to.
 *
 * Entries: INT3 with the displaced instruction emulated (emulate.c), or a
 * debug register where it cannot be (or with MEMPROF_BP_HW=1); one stop of
 * the calling thread, which is unwound from outside (remote_unwind.c).
 * Attached, an entry is instead a jump to a stub of its own: an INT3, then
 * a copy of the entry's first instructions (bp_guard.h), so that a thread
 * stopped there when memprof is killed resumes right.
 * Return values: the return address is replaced, as uretprobes do, by a
 * stub in memprof's mapping inside the target (bp_inproc.h) that writes the
 * ALLOC record and jumps back; free is detoured to a stub that writes its
 * FREE record, so neither stops.  Without the mapping, returns come back
 * through malloc's entry breakpoint (a thread arriving there with its stack
 * pointer just above the replaced slot is returning) and free stops too.
 * Calls made inside an allocator call (realloc calling malloc, or tail
 * calls) are not recorded.  Records follow the ring's protocol like the
 * agent's.  No thread but the one that hit a breakpoint ever stops.
 *
 * Supervisor thread only. */
#ifndef MEMPROF_BPENGINE_H
#define MEMPROF_BPENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mp_ring_reader;
struct mp_bpengine;

struct mp_bpengine_stats {
    int armed;                  /* breakpoints are in the current image */
    int was_armed;              /* they were, at some point, in the current image (or attached process) */
    int hardware;               /* number of entries on debug registers */
    uint64_t traps;             /* breakpoint hits handled */
    uint64_t allocs, frees;     /* events posted */
    uint64_t nested;            /* entries inside an allocator call, not recorded */
    uint64_t self_calls;        /* calls the allocator library made to itself, not recorded */
    uint64_t aliases;           /* entries left to the entry they jump to */
    uint64_t emulated, stepped; /* INT3 entries carried out / stepped over */
    uint64_t abandoned;         /* calls whose return never came (longjmp out, thread gone) */
    uint64_t failed_reallocs;   /* realloc failed: the block was counted as freed at the call */
    uint64_t unreadable;        /* calls skipped: the thread's stack could not be read */
    uint64_t lost_stops;        /* a signal stop swallowed while stepping */
    uint64_t skipped;           /* calls in flight at detach the stubs let through unrecorded */
    uint64_t fast;              /* calls the fast entries recorded without a stop (bp_shapes.h) */
    uint64_t fast_passed;       /* nested calls they passed on without a stop */
    uint64_t shapes;            /* stacks in the shape table (each cost one stop) */
    int shapes_full;            /* the table had no room for a new stack: it stops every time */
    int plain_entries;          /* attached: entries that kept an INT3 (no stub of their own): a thread
                                   stopped at one when memprof is killed may crash the process */
};

struct mp_bpengine *mp_bpengine_new(struct mp_ring_reader *ring);
/* Record mapped memory too (mmap, munmap, mremap, brk, sbrk): set before arming. */
void mp_bpengine_set_mmap(struct mp_bpengine *e, int on);

/* The target exec'd (its only thread stopped at PTRACE_EVENT_EXEC): forget
 * the old image; arm now for a static program, else put one breakpoint on
 * the loader's _dl_debug_state and arm when the link map is consistent
 * (libraries mapped, constructors not yet run).  0, or -1 (warning set). */
int mp_bpengine_exec(struct mp_bpengine *e, pid_t pid);

/* 0: this engine does without the stubs in the target (returns and free
 * stop too).  The stubs live in one region of the ring's memfd, so one
 * process at a time may have them (the caller decides which).  Before
 * exec/attach/start_forked. */
void mp_bpengine_set_stubs(struct mp_bpengine *e, int allowed);

/* A fork child (its only thread stopped before it ran) whose copy of the
 * program was cleaned of its parent's breakpoints (clean_child): arm it now,
 * without the stubs.  0, or -1 (warning set). */
int mp_bpengine_start_forked(struct mp_bpengine *e, pid_t pid);

/* memprof attached to a running process whose threads tids[] are all
 * stopped: arm now.  0, or -1 with the reason in the warning. */
int mp_bpengine_attach(struct mp_bpengine *e, pid_t pid, const pid_t *tids, size_t n);
/* The process runs CPython: merge its Python frames into the stacks
 * (capture/python/py_remote.h; the engine does not own it). */
struct mp_py_remote;
void mp_bpengine_set_python(struct mp_bpengine *e, struct mp_py_remote *python);

/* memprof -p is about to stop every thread and detach: entries met from
 * now on are carried out but not recorded (counted as skipped). */
void mp_bpengine_leaving(struct mp_bpengine *e);

/* A thread stopped at PTRACE_EVENT_STOP that is not a group-stop (a new
 * thread's first stop, or an interrupt): give it the debug registers. */
void mp_bpengine_thread_stop(struct mp_bpengine *e, pid_t tid);
/* A thread exited. */
void mp_bpengine_thread_gone(struct mp_bpengine *e, pid_t tid);

/* A SIGTRAP stop: 1 when it was one of ours (the thread is resumed). */
int mp_bpengine_on_trap(struct mp_bpengine *e, pid_t tid);

/* A fork child, stopped before it ran: take the INT3s out of its copy. */
int mp_bpengine_clean_child(struct mp_bpengine *e, pid_t child);

/* Before detaching (every thread stopped, no SIGTRAP pending): finish the
 * returns threads are standing on, put the replaced return addresses back,
 * remove every INT3 and clear the debug registers.  The process is then as
 * it was before memprof attached.  0, or -1 when something could not be
 * restored (warning set). */
int mp_bpengine_detach(struct mp_bpengine *e, const pid_t *tids, size_t n);

/* Bytes of memprof's mapping in the target (ring and stubs); 0 when none. */
uint64_t mp_bpengine_mapped_bytes(const struct mp_bpengine *e);
void mp_bpengine_stats(const struct mp_bpengine *e, struct mp_bpengine_stats *out);
const char *mp_bpengine_warning(const struct mp_bpengine *e); /* NULL when none */
void mp_bpengine_free(struct mp_bpengine *e);

#endif
