/* memprof: the sections of the text report, one function per view (see
 * enum mp_view): report_text_peak.c (peak, temporaries, RSS at exit),
 * report_text_leaks.c (leaks by kind, suppressions), report_text_views.c
 * (calls, largest, sizes, threads, rate) and report_text_tree.c (the call
 * tree and the callers).  report_text.c writes
 * the summary, the top lines, the tables and the notes, and calls these in
 * order.  Each is a pure function of the profile and the run. */
#ifndef MEMPROF_REPORT_TEXT_VIEWS_H
#define MEMPROF_REPORT_TEXT_VIEWS_H

#include <stdio.h>
#include "memprof/profile.h"
#include "memprof/report.h"

/* report_text.c: the options as the text report applies them (--stable:
 * exact sizes; the default views; --callers adds the callers view), and
 * the notes at the report's end. */
struct mp_report_options mp_text_options(const struct mp_report_options *opt);
struct mp_sources;
void mp_text_notes(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                   const struct mp_sources *src, const struct mp_report_options *opt);

/* report_text_peak.c */
void mp_text_peak(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt);
void mp_text_temporaries(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt);
void mp_text_rss(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                 const struct mp_report_options *opt);

/* report_text_leaks.c: by kind when classified, the lines and biggest
 * stacks of the kinds opt->leak_kinds selects, what was suppressed */
void mp_text_leaks(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                   const struct mp_report_options *opt);

/* report_text_views.c */
void mp_text_calls(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt);
void mp_text_largest(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                     const struct mp_report_options *opt);
void mp_text_sizes(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt);
void mp_text_threads(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                     const struct mp_report_options *opt);
void mp_text_rate(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt);

/* report_text_tree.c */
void mp_text_tree(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt);
void mp_text_callers(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt);

#endif
