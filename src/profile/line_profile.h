/* memprof: line mode, aggregation of line events into memory_profiler's
 * per-line numbers (the writers of those tables: report/report_lines.h).
 *
 * Runs on the reader thread: main's sink hands it every MP_EV_LINE event
 * (with the heap level at that point of the event stream, exact because
 * line events travel in order with the agent's records) and MP_EV_SAMPLE
 * events (for the last RSS seen).
 *
 * Per thread, a stack of open lines, one per (frame depth, function): an
 * event closes the line that was running in its frame (increment += the
 * level now - the level when it started; mem usage = max(level now)) and
 * opens the new one (occurrences + 1).  Consecutive events on the same
 * line moving forward in the code are one occurrence; a jump back (a loop)
 * starts a new one, as in Python's line events.  Frames deeper than an
 * event's depth are gone: their open lines close at that moment, so a call
 * line carries what its callee did.  An open line's frame, from the event
 * that opened it to the one that closed it, is one call of its function: a
 * span on the timeline (line events carry their time). */
#ifndef MEMPROF_LINE_PROFILE_H
#define MEMPROF_LINE_PROFILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "events/line_events.h"
#include "memprof/event.h"
#include "memprof/run.h"

struct mp_line_profile;

struct mp_lp_row {
    int line;
    int has_data;              /* the line ran */
    uint64_t occurrences;
    int64_t increment_rss, increment_heap;  /* summed over its executions */
    uint64_t mem_rss, mem_heap;             /* the most seen right after it */
};

/* map must outlive the profile (it belongs to the struct mp_linemode, or
 * to the Python session, whose map grows as the functions' code arrives). */
struct mp_line_profile *mp_line_profile_new(const struct mp_lm_map *map);
/* The map gained functions: give them rows.  0, or -1 on ENOMEM. */
int mp_line_profile_refresh(struct mp_line_profile *lp);
void mp_line_profile_free(struct mp_line_profile *lp);
/* Forget everything (the target exec'd). */
void mp_line_profile_reset(struct mp_line_profile *lp);

/* MP_EV_LINE and MP_EV_SAMPLE events; others are ignored.  heap_bytes: the
 * profile's live bytes when the event arrives. */
void mp_line_profile_add(struct mp_line_profile *lp, const struct mp_event *ev, uint64_t heap_bytes);

/* After the last event: lines still open (a thread that never returned:
 * exit() inside the function, the process killed) close at the last RSS
 * seen and `heap_bytes`. */
void mp_line_profile_finish(struct mp_line_profile *lp, uint64_t heap_bytes);

const struct mp_lm_map *mp_line_profile_map(const struct mp_line_profile *lp);
/* The rows of function `func`: its lines first_line..last_line. */
const struct mp_lp_row *mp_line_profile_rows(const struct mp_line_profile *lp, size_t func, size_t *n_rows);
/* When function `func` ran (after mp_line_profile_finish): its calls' spans
 * in time order, calls close together merged, and the number of calls. */
const struct mp_span *mp_line_profile_spans(const struct mp_line_profile *lp, size_t func, size_t *n_spans,
                                            uint64_t *calls);
/* The same for every function that was called, for the report's run
 * (struct mp_report_run.function_spans): a malloc'd array (free it) whose
 * entries point into lp; NULL with *n = 0 when none ran or out of memory. */
struct mp_function_spans *mp_line_profile_function_spans(const struct mp_line_profile *lp, size_t *n);
/* A saved report's tables (the JSON's "line_tables"): a profile over map
 * whose rows are set one by one, holding one metric (both fields of a row
 * carry it).  set_row: 0, or -1 for a line outside the function's rows. */
struct mp_line_profile *mp_line_profile_restored(const struct mp_lm_map *map, enum mp_lm_metric metric);
int mp_line_profile_set_row(struct mp_line_profile *lp, size_t func, int line, uint64_t occurrences, uint64_t mem,
                            int64_t increment);
/* The metric of a restored profile, or -1 for a recorded one (it has both). */
int mp_line_profile_saved_metric(const struct mp_line_profile *lp);

/* Events that did not fit the map (bad ids): should be 0. */
uint64_t mp_line_profile_bad_events(const struct mp_line_profile *lp);

#endif
