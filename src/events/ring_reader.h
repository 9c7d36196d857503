/* memprof: the supervisor's side of the shared-memory ring (see ring.h).
 *
 * Creates the memfd the agent writes into and drains it on a background
 * thread, turning each committed record into a struct mp_event. */
#ifndef MEMPROF_RING_READER_H
#define MEMPROF_RING_READER_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include "memprof/event.h"

#define MP_RING_DEFAULT_CAPACITY 4096

struct mp_ring_reader;
struct mp_py_channel;

/* memfd (NOT close-on-exec, so the target inherits it; sealed against
 * shrinking) sized MP_RING_BYTES(capacity), mapped, header initialised.  capacity: power of
 * two (records).  NULL + message on failure. */
struct mp_ring_reader *mp_ring_reader_create(uint64_t capacity, char *err, size_t errlen);
int mp_ring_reader_fd(const struct mp_ring_reader *r);
void mp_ring_reader_set_target(struct mp_ring_reader *r, pid_t pid); /* header->target_pid */
void mp_ring_reader_set_options(struct mp_ring_reader *r, uint32_t options); /* MP_RING_OPT_* (ring.h) */
/* Following a process tree: every process traced by thread `tracer` (its
 * TracerPid) may write.  0: only the target. */
void mp_ring_reader_set_tree_tracer(struct mp_ring_reader *r, pid_t tracer);
/* skip: the agent in process pid must not record (its image has the
 * breakpoint engine, or is not profiled); 0: it may again.  0, or -1 when
 * the table is full. */
/* Process pid can no longer run (its exit stop, its end, its exec): the
 * events its agent had not written yet (ring.h, pending batches) are
 * handed over in the stream's current place (ring_pending.c). */
void mp_ring_reader_take_pending(struct mp_ring_reader *r, pid_t pid);
/* The same for a process memprof lets go while it is stopped: its area
 * stays its own (it runs on). */
void mp_ring_reader_copy_pending(struct mp_ring_reader *r, pid_t pid);
int mp_ring_reader_skip_pid(struct mp_ring_reader *r, pid_t pid, int skip);
/* memprof reads no more: writers that find the ring full drop their record
 * and stop recording (processes left running must never block on it). */
void mp_ring_reader_close(struct mp_ring_reader *r);

/* Called on the reader thread for each event; ev->frames (and a Python code
 * description's ev->payload, assembled from its chunks) is valid only for
 * the duration of the call. */
typedef void (*mp_event_sink)(void *ctx, const struct mp_event *ev);
/* Optional: told the process and block address of a committed record a
 * few positions ahead of the one being delivered, so the sink can prefetch. */
typedef void (*mp_event_hint)(void *ctx, uint32_t pid, uint64_t addr);
void mp_ring_reader_set_hint(struct mp_ring_reader *r, mp_event_hint hint);

/* Called now and then (every millisecond) while memprof's supervisor
 * thread waits for the ring (mp_ring_reader_post_heap, _reserve,
 * _post_modmap, _post_line, _sync): the reader may be held up by a record
 * whose writer, a thread of the target, sits in a ptrace-stop only the
 * supervisor thread can end.  Optional. */
typedef void (*mp_ring_waiter)(void *ctx);
void mp_ring_reader_set_waiter(struct mp_ring_reader *r, mp_ring_waiter waiter, void *ctx);

/* Start a background thread that drains committed records in position order
 * and calls sink for each (NOP records skipped), sleeping with adaptive
 * backoff (50 us up to 2 ms) while the ring is idle.  A slot whose writer
 * died (see ring.h, Holes) is revoked while the thread runs and delivered as
 * one MP_EV_LOST event.  0, or -1 with errno. */
int mp_ring_reader_start(struct mp_ring_reader *r, mp_event_sink sink, void *ctx);

/* Control messages travel in order with the records: a message posted now
 * is handed to the control sink (on the reader thread) after every record
 * reserved before it and before any reserved after it.  The supervisor
 * uses them for what happens to processes (forked, exec'd, exited), so
 * each record reaches the profile of the right program image.  Returns a
 * ticket: mp_ring_reader_control_done(r, ticket) is 1 once the sink ran. */
typedef void (*mp_control_sink)(void *ctx, void *message);
void mp_ring_reader_set_control_sink(struct mp_ring_reader *r, mp_control_sink sink);
uint64_t mp_ring_reader_post_control(struct mp_ring_reader *r, void *message);
int mp_ring_reader_control_done(const struct mp_ring_reader *r, uint64_t ticket);

/* Stop the thread, then drain everything left up to the ring head: committed
 * records are delivered; a slot reserved but never committed (its writer was
 * killed mid-write) is skipped, counted in *lost and handed back to the
 * writers; control messages are handed over in their places, and those
 * posted after the head too.  Call it only when the writers are gone.
 * Returns 0.  start may be called again afterwards. */
int mp_ring_reader_stop(struct mp_ring_reader *r, uint64_t *lost);

/* memprof's own RSS sampler is a writer too: its samples travel in order
 * with the agent's records, so each sees the heap level of its moment. */
/* These never block for long: when the ring stays full (for wait_us, or
 * until *cancel is set; line events 100 ms) the record is dropped, counted,
 * and -1 returned. */
int mp_ring_reader_post_sample(struct mp_ring_reader *r, pid_t pid, uint64_t time_ns, uint64_t rss_bytes,
                               long wait_us, const _Atomic int *cancel);
/* Line mode: thread tid of process pid reached line event `line_event` at
 * time_ns (the sampler's clock: since the target started); rss_bytes then. */
int mp_ring_reader_post_line(struct mp_ring_reader *r, pid_t pid, uint32_t tid, uint64_t line_event,
                             uint64_t rss_bytes, uint64_t time_ns);
/* The ring record kind (ring.h) that carries an event kind. */
uint32_t mp_ring_kind_of(enum mp_event_kind kind);
/* An engine in memprof itself (breakpoints) posts the target's ALLOC and
 * FREE (and mapped-memory) events; it waits up to 10 s for room (the reader drains meanwhile),
 * then drops and counts the event. */
int mp_ring_reader_post_heap(struct mp_ring_reader *r, const struct mp_event *ev);
uint64_t mp_ring_reader_dropped_heap(const struct mp_ring_reader *r);
/* The breakpoint engine saw the target's modules change (MP_REC_MODMAP).
 * 0, or -1 when the ring stayed full for 10 s. */
int mp_ring_reader_post_modmap(struct mp_ring_reader *r, pid_t pid, uint32_t tid);
/* Reserve the next position for a record written later (by the breakpoint
 * engine's stub in the target, or by mp_ring_reader_commit_reserved),
 * claimed for thread tid of process pid: the reader waits at it while that
 * thread lives.  0, or -1 (counted dropped) when no room came for 10 s. */
int mp_ring_reader_reserve(struct mp_ring_reader *r, pid_t pid, pid_t tid, uint64_t *pos);
/* Commit a reserved position with ev (stackless), or as a NOP when NULL. */
void mp_ring_reader_commit_reserved(struct mp_ring_reader *r, uint64_t pos, const struct mp_event *ev);
void mp_ring_reader_dropped(const struct mp_ring_reader *r, uint64_t *samples, uint64_t *lines);

/* While the thread runs: wait until every record reserved before the call has
 * been delivered, or `timeout_us` passed (a writer still mid-record, or dead).
 * Nothing is skipped.  0 when caught up, -1 on timeout. */
int mp_ring_reader_sync(struct mp_ring_reader *r, long timeout_us);

/* Process pid is gone: the stacks its agent named (MP_REC_STACK) are
 * dropped.  On the reader's thread only (the control sink runs there). */
void mp_ring_reader_forget_stacks(struct mp_ring_reader *r, pid_t pid);

/* Every thread of process pid is stopped for good (held at its exit stop):
 * a slot one of them reserved and never committed is revoked as a dead
 * writer's would be.  0: none. */
void mp_ring_reader_freeze_pid(struct mp_ring_reader *r, pid_t pid);

/* Slots revoked because their writer died (also delivered as MP_EV_LOST). */
uint64_t mp_ring_reader_revoked(const struct mp_ring_reader *r);

/* Nonzero when the target damaged the ring (wrote over its header or its
 * records, or held a slot and never filled it: ring.h, Trust);
 * *records_dropped: records lost because of it (memprof's count plus what
 * the agents reported in MP_REC_DROPS records); *records_hit: the target
 * wrote over slots too (a record waiting in one then is lost uncounted,
 * or counts what the target wrote). */
int mp_ring_reader_damage(const struct mp_ring_reader *r, uint64_t *records_dropped, int *records_hit);

/* Records writers inside the target other than the agent (the breakpoint
 * engine's stubs, which keep their count in their own data page) dropped
 * because the target damaged the ring (a position the reader never
 * reaches): counted as that damage, in *records_dropped above, as the
 * agents' MP_REC_DROPS records are.  The count comes from the target's
 * memory: one no run reaches counts as damage of unknown size. */
void mp_ring_reader_add_drops(struct mp_ring_reader *r, uint64_t records);

/* A new image (execve): its agent counts afresh (the Python channel too). */
void mp_ring_reader_reset_agent_stats(struct mp_ring_reader *r);
/* The Python channel in the ring's header (events/py_channel.h). */
struct mp_py_channel *mp_ring_reader_py_channel(struct mp_ring_reader *r);
/* Python code descriptions that arrived incomplete (their writer died). */
uint64_t mp_ring_reader_pycode_broken(const struct mp_ring_reader *r);
/* The most records the agents can have reserved so far (the positions the
 * reader passed, a ring's worth and one per waiting writer): a count the
 * agents keep in shared memory (the Python channel's) that is higher was
 * written by the target. */
uint64_t mp_ring_reader_records_bound(const struct mp_ring_reader *r);
uint64_t mp_ring_reader_agent_bytes(const struct mp_ring_reader *r);
uint32_t mp_ring_reader_agent_inits(const struct mp_ring_reader *r);
uint64_t mp_ring_reader_writer_waits(const struct mp_ring_reader *r);
/* Stacks the agents ended early at a frame the program's unwind tables
 * describe wrongly (the faults their unwinding survived). */
uint64_t mp_ring_reader_unwind_faults(const struct mp_ring_reader *r);

/* The breakpoint engine's code and call slots, in the same memfd after the
 * ring (page-rounded `bytes`; the first call sizes it).  Mapped here; the
 * target maps the whole memfd (*total bytes), where the extra part starts
 * at *offset.  NULL on failure. */
void *mp_ring_reader_extra(struct mp_ring_reader *r, size_t bytes, uint64_t *offset, uint64_t *total);

/* Stops the thread if running, unmaps, closes the fd, frees r (NULL ok). */
void mp_ring_reader_destroy(struct mp_ring_reader *r);

#endif
