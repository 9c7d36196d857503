/* memprof: the text of a diff (memprof diff) and its CI gate.  Pure
 * functions of the model profile/diff.h builds: they write to the stream
 * they are given and do nothing else. */
#ifndef MEMPROF_REPORT_DIFF_H
#define MEMPROF_REPORT_DIFF_H

#include <stdio.h>
#include "profile/diff.h"

struct mp_diff_options {
    const char *old_name, *new_name;    /* shown in the title when both are set */
    int precision;                      /* digits after the point in sizes */
    size_t top_lines;                   /* changed lines to print; 0: all */
};

/* The text report.  0, or -1 when writing failed. */
int mp_diff_write(FILE *out, const struct mp_diff *d, const struct mp_diff_options *opt);

/* The CI gate: for peak heap, leaked bytes and allocated bytes (in that
 * order), when NEW is more than `limit_pct` percent above OLD (any growth
 * from zero counts as infinite), prints to `out`
 *   memprof: peak heap grew 17.2% (100.0 MiB -> 117.2 MiB), over --limit-increase 10%
 * (with `where`, "peak heap of WHERE grew ...").  Returns how many limits
 * were broken. */
int mp_diff_check_limits(FILE *out, const struct mp_diff *d, double limit_pct, int precision);
int mp_diff_check_limits_of(FILE *out, const struct mp_diff *d, double limit_pct, int precision, const char *where);

#endif
