/* memprof: the text report of a process tree (report_processes.c). */
#ifndef MEMPROF_REPORT_TREE_H
#define MEMPROF_REPORT_TREE_H

#include <stdio.h>
#include "memprof/report.h"

/* The first line of one image's section: "=== Process #3: ./b  (pid 1236,
 * child of #1, exit status 0)"; no pid with --stable. */
void mp_text_process_section_header(FILE *out, const struct mp_report_run *run, const struct mp_report_options *opt);

/* The images that get a section: the `top_processes` with the highest peak
 * heap (then most allocations, then tree order), all when 0; unfollowed
 * images never.  Fills shown[i] (1/0) for each image; returns how many. */
size_t mp_process_sections(const struct mp_process_tree *t, size_t top_processes, unsigned char *shown);

#endif
