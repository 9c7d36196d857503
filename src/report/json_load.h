/* memprof: reading a saved JSON report back (memprof report, memprof diff).
 *
 * The JSON report is the saved profile: loading it rebuilds an mp_profile
 * (through the restore API in memprof/profile.h), the source lines it shows
 * and the run's outcome, so every writer can render it again. */
#ifndef MEMPROF_JSON_LOAD_H
#define MEMPROF_JSON_LOAD_H

#include <stddef.h>
#include "memprof/profile.h"
#include "memprof/report.h"

struct mp_sources;

struct mp_loaded_report {
    struct mp_profile *profile;
    struct mp_sources *sources;
    struct mp_report_run run;     /* strings owned by the loaded report */
    int stable;                   /* the report was written with --stable */
    void *owned;                  /* private: whatever backs run's strings */
};

/* Loads `path` ("-" reads standard input).  0 on success; -1 with one line
 * in err naming the file, the position (line:column or byte offset) and the
 * problem, e.g. "prof.json:3:14: expected ',' or '}'" or
 * "prof.json: not a memprof report (no \"schema\" field)". */
int mp_load_report(const char *path, struct mp_loaded_report *out, char *err, size_t errlen);
/* The same from memory (the fuzz target's entry point). */
int mp_load_report_buffer(const char *data, size_t len, const char *name, struct mp_loaded_report *out,
                          char *err, size_t errlen);
void mp_loaded_report_free(struct mp_loaded_report *r);

/* A saved report of either schema as a process tree: schema 1 (one
 * process) gives a tree of one; schema 2 one image per entry of
 * "processes", each checked like a schema-1 report, and its place in the
 * tree (ids, parents, how it ended) checked too. */
struct mp_loaded_process_tree {
    int schema;                   /* as the file says: 1 or 2 */
    int stable;
    struct mp_process_tree tree;          /* for the writers (memprof/report.h) */
    struct mp_profile **profiles; /* tree.n of them */
    struct mp_report_run *runs;
    struct mp_sources *sources;   /* of every image */
    void *owned;                  /* private */
};

/* Same errors as mp_load_report, with the field's path in the tree
 * ("processes[2].stacks[3].frames[1]: ..."). */
int mp_load_process_tree(const char *path, struct mp_loaded_process_tree *out, char *err, size_t errlen);
int mp_load_process_tree_buffer(const char *data, size_t len, const char *name, struct mp_loaded_process_tree *out,
                                char *err, size_t errlen);
void mp_loaded_process_tree_free(struct mp_loaded_process_tree *t);

/* The big arrays of a report ("frames", "stacks", "lines") of at least
 * this many bytes are parsed one element at a time (default 256 KiB), so
 * loading needs about the file's size plus the profile, not ten times it.
 * For the tests and the fuzzer: 0 reads every report that way, and the
 * result must be the same. */
void mp_load_report_piecewise_from(size_t bytes);

#endif
