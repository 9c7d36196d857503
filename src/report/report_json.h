/* memprof: the parts of the JSON and folded writers the tree writers reuse. */
#ifndef MEMPROF_REPORT_JSON_H
#define MEMPROF_REPORT_JSON_H

#include <stdio.h>
#include "memprof/report.h"

/* One report object ("{ ... }", no newline after): what mp_write_json
 * writes, with the image's place in its tree first when run->tree_id. */
int mp_json_write_object(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                         const struct mp_sources *src, const struct mp_report_options *opt);

/* n strings (fewer if a NULL comes first) as a JSON array. */
void mp_json_write_strings(FILE *out, const char *const *strings, size_t n);
/* argv as a JSON array of strings. */
void mp_json_write_command(FILE *out, char *const *command);

/* report_folded.c: the folded stacks with `first_frame` (NULL: none) as
 * every stack's outermost frame. */
int mp_write_folded_prefixed(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt,
                             const char *first_frame);

#endif
