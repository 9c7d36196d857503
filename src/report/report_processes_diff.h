/* memprof: the text of a diff of two process trees (report_processes_diff.c). */
#ifndef MEMPROF_REPORT_TREE_DIFF_H
#define MEMPROF_REPORT_TREE_DIFF_H

#include <stdio.h>
#include "memprof/report.h"
#include "profile/process_pairs.h"
#include "report_diff.h"

/* pairs from mp_process_pairs; diffs[k]: the comparison of pair k (NULL when
 * it is new or gone).  0, or -1 when writing failed. */
int mp_process_tree_diff_write(FILE *out, const struct mp_process_tree *old_t, const struct mp_process_tree *new_t,
                               const struct mp_process_pair *pairs, size_t n_pairs, struct mp_diff *const *diffs,
                               const struct mp_diff_options *opt);

#endif
