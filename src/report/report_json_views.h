/* memprof: the JSON report's parts that the text views need besides the
 * lines and stacks (report_json_views.c), and the helpers the JSON writers
 * share (report_json.c). */
#ifndef MEMPROF_REPORT_JSON_VIEWS_H
#define MEMPROF_REPORT_JSON_VIEWS_H

#include <stdio.h>
#include "memprof/profile.h"
#include "memprof/report.h"

/* report_json.c: "file", "line", "function" (and "module" without line
 * info) of a line; a stack's "stack": [...], "user_frame": N. */
void mp_json_place_fields(FILE *out, const struct mp_line_stats *l, const struct mp_report_options *opt);
void mp_json_stack(FILE *out, const struct mp_profile *p, const struct mp_stack_info *st,
                   const struct mp_report_options *opt);

/* "timeline_allocations": [[calls, bytes], ...], one per timeline sample
 * (empty with --stable, like the timeline); no comma after. */
void mp_json_timeline_allocations(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt);
/* "free_sites", "size_histogram", "largest" and "threads"; no comma after. */
void mp_json_views(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt);

#endif
