/* memprof: report writers.  Pure functions of the profile and the run's
 * outcome: they write to the stream they are given and do nothing else. */
#ifndef MEMPROF_REPORT_H
#define MEMPROF_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "memprof/profile.h"
#include "memprof/run.h"

struct mp_sources;

struct mp_report_options {
    const char *cwd;             /* paths under it are shown relative to it; NULL: absolute */
    int precision;               /* digits after the point in sizes (memory_profiler's --precision) */
    size_t top_lines;            /* rows in "Top lines"; 0: all */
    size_t max_tables;           /* per-function tables; 0: all */
    int stable;                  /* leave out what varies between runs: RSS, times, addresses */
    int line_metric;             /* line mode's Mem usage: 0 RSS, 1 heap (enum mp_lm_metric) */
};

/* Both return 0, or -1 when writing failed. */
int mp_write_text(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                  const struct mp_sources *src, const struct mp_report_options *opt);
int mp_write_json(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                  const struct mp_sources *src, const struct mp_report_options *opt);
/* Folded stacks for flamegraph.pl: "main;f;g BYTES" per stack, sorted. */
int mp_write_folded(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt);

#endif
