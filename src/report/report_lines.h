/* memprof: line mode's writers: memory_profiler's tables, in text and in
 * the JSON report (report_lines.c). */
#ifndef MEMPROF_REPORT_LINES_H
#define MEMPROF_REPORT_LINES_H

#include <stdio.h>
#include "profile/line_profile.h"

struct mp_sources;

struct mp_line_report_options {
    const char *cwd;           /* paths under it are shown relative to it */
    int precision;             /* digits after the point (memory_profiler's --precision) */
    enum mp_lm_metric metric;  /* Mem usage and Increment: RSS (default) or heap */
};

/* A size as memory_profiler writes it ("   12.3 MiB", exact bytes with
 * --stable's precision), and a row's Mem usage and Increment in `metric`. */
void mp_line_format_mib(char *buf, size_t len, int64_t bytes, int precision);
void mp_line_row_values(const struct mp_lp_row *row, enum mp_lm_metric metric, uint64_t *mem, int64_t *inc);

/* opt, with the metric a saved report's tables hold (they have one). */
struct mp_line_report_options mp_line_report_options_for(const struct mp_line_profile *lp,
                                                        const struct mp_line_report_options *opt);

/* Read the source files of the tables (before the writers run). */
void mp_line_profile_load_sources(const struct mp_line_profile *lp, struct mp_sources *src);

/* One memory_profiler table per chosen function.  0, or -1 on a write error. */
int mp_write_line_tables_text(FILE *out, const struct mp_line_profile *lp, const struct mp_sources *src,
                              const struct mp_line_report_options *opt);

/* The member `"line_tables": [...]` (no comma before or after, two-space
 * indent, one row per text line) for the JSON report's top-level object. */
int mp_write_line_tables_json(FILE *out, const struct mp_line_profile *lp, const struct mp_sources *src,
                              const struct mp_line_report_options *opt);

#endif
