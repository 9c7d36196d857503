/* memprof: pieces shared by the text report's source files. */
#ifndef MEMPROF_REPORT_TEXT_INTERNAL_H
#define MEMPROF_REPORT_TEXT_INTERNAL_H

#include <stdio.h>
#include "memprof/profile.h"
#include "memprof/report.h"

/* "file:line (function)", or "function (module)" without line info. */
void mp_text_line_name(FILE *out, const struct mp_line_stats *l, const struct mp_report_options *opt);

/* Peak heap with its stack, lines at the peak, leaks with the biggest
 * stacks, temporaries, and what the RSS at exit was made of. */
void mp_text_peak_and_leaks(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                            const struct mp_report_options *opt);

#endif
