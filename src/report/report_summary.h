/* memprof: the summary's rows, one model for the text report and the HTML
 * page (report_summary.c): each row a label and a value, so the page
 * carries every row the text has, from the same numbers. */
#ifndef MEMPROF_REPORT_SUMMARY_H
#define MEMPROF_REPORT_SUMMARY_H

#include "memprof/profile.h"
#include "memprof/report.h"

/* One row: label ("allocations"), value ("6 calls, 1.5 MiB"), and a hint
 * that says what the number is ("the kernel's VmHWM"; may be NULL): the
 * HTML shows it, the text (whose rows are as short as can be) does not. */
typedef void (*mp_summary_row_fn)(void *ctx, const char *label, const char *value, const char *hint);

/* Calls row() for each row of the summary, in the text report's order;
 * -1 if memory ran out (the rows so far were given). */
int mp_summary_rows(const struct mp_profile *p, const struct mp_report_run *run, const struct mp_report_options *opt,
                    mp_summary_row_fn row, void *ctx);

#endif
