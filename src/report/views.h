/* memprof: the text report's views (--show) and the --callers targets:
 * names, parsing, and matching a target to the profile's line records
 * (views.c).  The views themselves are written by report_text*.c. */
#ifndef MEMPROF_VIEWS_H
#define MEMPROF_VIEWS_H

#include <stddef.h>
#include <stdint.h>
#include "memprof/profile.h"
#include "memprof/report.h"

/* The view names, in report order, separated by commas (for messages). */
extern const char mp_view_names[];

/* A --callers target: FILE:LINE (a file given by its path or its last
 * components) or a function name. */
struct mp_callers_target {
    const char *spec;
    const char *file;     /* NULL: a function */
    size_t file_len;
    int line;
};
int mp_callers_target_parse(const char *spec, struct mp_callers_target *t);

/* Marks (flags[i] = 1) the line records of p the target names and returns
 * how many allocations went through them (0: the target matched nothing
 * that allocated).  flags has mp_profile_line_count(p) entries. */
uint64_t mp_callers_target_mark(const struct mp_profile *p, const struct mp_callers_target *t,
                                const struct mp_report_options *opt, uint8_t *flags);

/* "(lines of app.c that allocated: 12, 24, 31)" or "(no function of that
 * name allocated)" for a target that matched nothing. */
void mp_callers_target_hint(const struct mp_profile *p, const struct mp_callers_target *t,
                            const struct mp_report_options *opt, char *buf, size_t len);

#endif
