/* memprof: the pictures' parts that the HTML report embeds: each picture's
 * <svg> element alone (no XML declaration), and the flame graph's script. */
#ifndef MEMPROF_PICTURES_H
#define MEMPROF_PICTURES_H

#include <stdio.h>
#include "memprof/report.h"

/* The script that makes the flame graph interactive (flamegraph_script.c). */
extern const char mp_flamegraph_script[];

/* The flame graph, element id `id` (NULL: "memprof-flamegraph"), class
 * "memprof-fg": the script brings every such graph of a page to life once
 * (report_flamegraph.c).  0, or -1 on ENOMEM or a write error. */
int mp_write_flamegraph_element(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                                const struct mp_report_options *opt, const char *id);

/* The timeline (report_timeline_svg.c).  0, or -1 on ENOMEM or a write
 * error. */
int mp_write_timeline_element(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                              const struct mp_report_options *opt);

#endif
