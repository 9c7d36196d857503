/* memprof: source text for the "Line Contents" column, read before the
 * writers run (writers do no I/O besides writing). */
#ifndef MEMPROF_SOURCES_H
#define MEMPROF_SOURCES_H

#include <stddef.h>

struct mp_sources;

struct mp_sources *mp_sources_new(void);
void mp_sources_free(struct mp_sources *s);
/* Read `file` once (later calls are no-ops).  A file that cannot be read is
 * remembered as missing. */
void mp_sources_load(struct mp_sources *s, const char *file);
/* Sets one line's text without reading the file (a saved report carries
 * the lines it shows).  0, or -1 on ENOMEM. */
int mp_sources_set_line(struct mp_sources *s, const char *file, int line, const char *text);
/* Text of line `line` (1-based) without newline, or NULL. */
const char *mp_sources_line(const struct mp_sources *s, const char *file, int line);
/* Files that could not be read, in the order they were asked for. */
size_t mp_sources_missing(const struct mp_sources *s, const char *const **out);

#endif
