/* memprof: the text report of a process tree (report_processes.c). */
#ifndef MEMPROF_REPORT_TREE_H
#define MEMPROF_REPORT_TREE_H

#include <stdio.h>
#include "memprof/report.h"

/* The first line of one image's section: "=== Process #3: ./b  (pid 1236,
 * child of #1, exit status 0)"; no pid with --stable. */
void mp_text_process_section_header(FILE *out, const struct mp_report_run *run, const struct mp_report_options *opt);

/* The images that get a section, in the order they are written: highest
 * peak heap first, ties by image number (deterministic: --stable output
 * stays byte-identical).  At most `top_processes` (0: every followed
 * image); with a limit, images of negligible heap (mp_process_negligible)
 * that ended the usual way get none (one killed by a signal, let go or
 * detached always has one, as it keeps its row in the table).  Fills order[] (room for t->n) and returns how many. */
size_t mp_process_sections(const struct mp_process_tree *t, size_t top_processes, size_t *order);

/* An image whose peak heap is under 1% of the tree's highest (shells and
 * wrappers that only start the program that matters): 1, else 0. */
int mp_process_negligible(const struct mp_process_tree *t, size_t i);

/* The tree's summary: the table of its images, the totals, the notes on
 * the tree (the text report's part before the sections). */
void mp_text_process_tree_summary(FILE *out, const struct mp_process_tree *t, const struct mp_report_options *opt);

#endif
