/* memprof: the text report's sections on where the memory was held (report_text_peak.c). */
#ifndef MEMPROF_REPORT_TEXT_PEAK_H
#define MEMPROF_REPORT_TEXT_PEAK_H

#include <stdio.h>
#include "memprof/profile.h"
#include "memprof/report.h"

/* Peak heap with its stack, lines at the peak, leaks with the biggest
 * stacks, temporaries, and what the RSS at exit was made of. */
void mp_text_peak_and_leaks(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                            const struct mp_report_options *opt);

#endif
