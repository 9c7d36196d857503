/* memprof: comparing two profiles (memprof diff), in the manner of Python
 * tracemalloc's Snapshot.compare_to: summary changes first, then the lines
 * whose numbers changed, biggest change first.
 *
 * Pure functions: mp_diff_build reads two profiles and their runs and builds
 * the model; report/report_diff.h prints it.  The model
 * points into the profiles' strings: free it before the profiles. */
#ifndef MEMPROF_DIFF_H
#define MEMPROF_DIFF_H

#include <stddef.h>
#include <stdint.h>
#include "memprof/profile.h"
#include "memprof/run.h"

/* What a line's size and count are. */
enum mp_diff_metric {
    MP_DIFF_ALLOCATED,   /* size: allocated_bytes, count: alloc_calls (the default) */
    MP_DIFF_PEAK,        /* size: peak_bytes (held at the heap's peak), count: alloc_calls */
    MP_DIFF_LEAKED,      /* size: leaked bytes, count: leaked blocks */
};

/* What a compared item is (tracemalloc's key_type, plus function). */
enum mp_diff_group {
    MP_DIFF_BY_LINE,       /* file:line (the default; a line that moved is followed) */
    MP_DIFF_BY_FILE,
    MP_DIFF_BY_FUNCTION,
    MP_DIFF_BY_TRACEBACK,  /* the whole call stack from the user line out to main */
};

/* How the two reports' source files are paired (see diff_paths.c). */
struct mp_diff_paths {
    int strip;                    /* patch's -pN: leading components taken off both reports' paths */
    const char *const *maps;      /* "OLD=NEW": a leading OLD of the old report's paths becomes NEW */
    size_t n_maps;
};

struct mp_diff_config {
    enum mp_diff_metric metric;
    enum mp_diff_group group;
    struct mp_diff_paths paths;
};

/* The summary rows, in the order they are printed. */
enum mp_diff_summary_row {
    MP_DIFF_PEAK_HEAP,
    MP_DIFF_LEAKED_BYTES,
    MP_DIFF_LEAKED_BLOCKS,
    MP_DIFF_ALLOC_CALLS,
    MP_DIFF_ALLOCATED_BYTES,
    MP_DIFF_TEMPORARY_CALLS,
    MP_DIFF_PEAK_RSS,
    MP_DIFF_N_SUMMARY
};

struct mp_diff_value {
    uint64_t old_value, new_value;
    int old_known, new_known;   /* 0: the report does not have it (peak RSS of a --stable report) */
};

enum mp_diff_kind {
    MP_DIFF_SAME_PLACE,  /* found at the same file:line (and function) in both */
    MP_DIFF_MOVED,       /* matched by file and function; old_line is where it was */
    MP_DIFF_NEW,         /* only in NEW */
    MP_DIFF_GONE,        /* only in OLD */
};

/* A place as a report shows it.  file NULL: no line info, the place is
 * known by function and module. */
struct mp_diff_frame {
    const char *file;
    int line;
    const char *function;
    const char *module;
};

struct mp_diff_line {
    enum mp_diff_kind kind;
    /* The place in NEW (in OLD for a gone line); by file: file (or module),
     * by function: file and function, by traceback: the user line. */
    const char *file;
    int line;
    const char *function;
    const char *module;
    int old_line;                       /* MP_DIFF_MOVED: the line number in OLD */
    uint64_t old_size, new_size;        /* the metric's bytes */
    uint64_t old_count, new_count;      /* the metric's calls or blocks */
    const struct mp_diff_frame *callers;/* by traceback: the frames out from the user line */
    size_t n_callers;
};

/* A file of OLD that was paired with a file of NEW shown under another path. */
struct mp_diff_renamed {
    const char *old_path, *new_path;
};

struct mp_diff {
    enum mp_diff_metric metric;
    enum mp_diff_group group;
    struct mp_diff_value summary[MP_DIFF_N_SUMMARY];
    const char *old_heap_note, *new_heap_note; /* why a report has no heap data, or NULL */
    struct mp_diff_line *lines;         /* changed items, in print order */
    size_t n_lines;
    size_t n_unchanged;                 /* items whose size and count did not change */
    struct mp_diff_renamed *renamed;    /* files paired under another path, by old path */
    size_t n_renamed;
    void *owned;                        /* private: strings and frames the model made */
};

/* Compares OLD and NEW (runs may be NULL: no peak RSS, no notes).  Lines are
 * the allocating ones (alloc_calls > 0) of each profile, matched by file,
 * line and function; a line not found that way is matched by file and
 * function when that function has exactly one allocating line in each
 * profile (moved); lines without line info are matched by function and
 * module.  Changed lines are sorted by absolute size change (biggest first),
 * then absolute count change, then file, line, function, module.
 * Returns 0, or -1 on ENOMEM. */
int mp_diff_build(const struct mp_profile *old_p, const struct mp_report_run *old_run,
                  const struct mp_profile *new_p, const struct mp_report_run *new_run, enum mp_diff_metric metric,
                  struct mp_diff *out);
/* The same with a grouping and a pairing of files: files are matched by
 * their keys (diff_paths.c), not their paths; by traceback, items are the
 * stacks (frames from the user line out to main, as the call tree cuts
 * them), matched frame for frame (no moved-line rule). */
int mp_diff_build_with(const struct mp_profile *old_p, const struct mp_report_run *old_run,
                       const struct mp_profile *new_p, const struct mp_report_run *new_run,
                       const struct mp_diff_config *cfg, struct mp_diff *out);
void mp_diff_free(struct mp_diff *d);

#endif
