/* memprof: numbers, paths and names as the writers show them. */
#ifndef MEMPROF_FORMAT_H
#define MEMPROF_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "memprof/report.h"

/* "512 B", "4.0 KiB", "1.5 MiB", "2.0 GiB" (binary units, `precision` decimals). */
void mp_format_size(char *buf, size_t len, int64_t bytes, int precision);
/* "1,234,567": every count in a text report is written this way. */
void mp_format_count(char *buf, size_t len, uint64_t n);
/* mp_format_count, returning buf: for printf arguments. */
const char *mp_count_str(char *buf, size_t len, uint64_t n);
#define MP_COUNT_STR(buf, n) mp_count_str((buf), sizeof(buf), (uint64_t)(n))
/* `path` relative to `cwd` when it lies under it, else unchanged. */
const char *mp_display_path(const char *path, const char *cwd);

/* A function name as reports show it: with `stable`, names that carry a
 * raw address ("[unknown]+0x7f3a...") lose it. */
const char *mp_display_function(const char *function, int stable);

/* "file:line (function)", or "function (module)" without line info, as the
 * text reports name a line. */
void mp_text_line_name(FILE *out, const struct mp_line_stats *l, const struct mp_report_options *opt);

/* s as a JSON string (quoted, escaped), or null for NULL. */
void mp_json_string(FILE *out, const char *s);

#endif
