/* memprof: numbers, paths and names as the writers show them. */
#ifndef MEMPROF_FORMAT_H
#define MEMPROF_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "memprof/report.h"
#include "base/count.h" /* mp_format_count, MP_COUNT_STR: "1,234,567" */

/* "512 B", "4.0 KiB", "1.5 MiB", "2.0 GiB" (binary units, `precision` decimals);
 * "15,984 B" with MP_PRECISION_EXACT. */
void mp_format_size(char *buf, size_t len, int64_t bytes, int precision);
/* `path` relative to `cwd` when it lies under it, else unchanged. */
const char *mp_display_path(const char *path, const char *cwd);

/* A function name as reports show it: with `stable`, names that carry a
 * raw address ("[unknown]+0x7f3a...") lose it. */
const char *mp_display_function(const char *function, int stable);

/* "file:line (function)", or "function (module)" without line info, as the
 * text reports name a line. */
void mp_text_line_name(FILE *out, const struct mp_line_stats *l, const struct mp_report_options *opt);

/* "  (3 more lines; --top=0 shows all)": what a table left out. */
void mp_text_more_lines(FILE *out, size_t more);

/* A stack as the text reports show it: innermost first, "->" at the user
 * line; like a debugger's backtrace it ends at main (the C runtime's
 * start-up frames say nothing). */
void mp_text_stack(FILE *out, const struct mp_profile *p, const struct mp_stack_info *st,
                   const struct mp_report_options *opt);

/* A duration and a timeline time as a saved report gives them back (the
 * JSON report writes seconds with 6 decimals), so that what the views
 * compute from them is the same at record time and from the saved report. */
double mp_saved_seconds(double seconds);
uint64_t mp_saved_time_ns(uint64_t ns);

/* n per second over `seconds`, rounded; 0 for no time, UINT64_MAX past it. */
uint64_t mp_per_second(uint64_t n, double seconds);

/* A timeline time in whole microseconds as the saved report gives it back
 * (mp_saved_time_ns), so that a picture drawn from the live profile and one
 * drawn from its saved JSON are the same. */
uint64_t mp_time_us(uint64_t ns);
/* ns as the JSON report writes times: seconds with six decimals. */
void mp_json_seconds(FILE *out, uint64_t ns);
/* How a tree's image ended, in one word: "exit", "signal", "exec",
 * "let go" (left running), "not followed" (let go at its execve). */
const char *mp_run_end_word(const struct mp_report_run *run);

/* mp_json_string: json_bytes.h */
#include "json_bytes.h"

#endif
