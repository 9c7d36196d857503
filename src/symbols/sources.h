/* memprof: source text for the "Line Contents" column, read before the
 * writers run (writers do no I/O besides writing).  Only the lines asked for
 * are kept: a report on SQLite shows a few thousand lines of the 8.6 MB
 * sqlite3.c, and reading all of it into memory was half the report's time. */
#ifndef MEMPROF_SOURCES_H
#define MEMPROF_SOURCES_H

#include <stddef.h>

struct mp_sources;

struct mp_sources *mp_sources_new(void);
void mp_sources_free(struct mp_sources *s);
/* Ask for lines first..last (1-based) of `file`, read by the next
 * mp_sources_read; first <= 0 asks for the whole file, last < first for no
 * line (only whether the file can be read: files are read, and noted as
 * missing, in the order they were first asked for).  A name in angle
 * brackets (Python's "<string>") is no file: it is not asked for. */
void mp_sources_want(struct mp_sources *s, const char *file, int first, int last);
/* Read the lines asked for since the last call: each file once, streamed,
 * keeping only those lines.  A file that cannot be read is remembered as
 * missing. */
void mp_sources_read(struct mp_sources *s);
/* Read all of `file` now (later calls are no-ops). */
void mp_sources_load(struct mp_sources *s, const char *file);
/* Sets one line's text without reading the file (a saved report carries
 * the lines it shows).  0, or -1 on ENOMEM. */
int mp_sources_set_line(struct mp_sources *s, const char *file, int line, const char *text);
/* Text of line `line` (1-based) without newline, or NULL (not asked for,
 * past the end of the file, or the file is missing). */
const char *mp_sources_line(const struct mp_sources *s, const char *file, int line);
/* Files that could not be read, in the order they were asked for. */
size_t mp_sources_missing(const struct mp_sources *s, const char *const **out);

#endif
