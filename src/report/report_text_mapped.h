/* memprof: the text report's mapped memory (mmap, mremap, brk: see
 * memprof/event.h) and folded allocation wrappers (report_text_mapped.c).
 * Everything here prints nothing for a profile without mapped memory or
 * folded wrappers, so those reports stay as they were. */
#ifndef MEMPROF_REPORT_TEXT_MAPPED_H
#define MEMPROF_REPORT_TEXT_MAPPED_H

#include <stdio.h>
#include "memprof/profile.h"
#include "memprof/report.h"

/* The peak of heap + mapped with the lines holding it (with the peak view). */
void mp_text_mapped_peak(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt);
/* The lines still holding mapped memory at exit (with the leaks view). */
void mp_text_mapped_live(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                         const struct mp_report_options *opt);
/* A note naming the allocation wrappers whose allocations went to their callers. */
void mp_text_folded_note(FILE *out, const struct mp_profile *p, int *header, const struct mp_report_options *opt);

#endif
