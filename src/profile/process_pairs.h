/* memprof: which program image of an OLD process tree is which of a NEW one
 * (memprof diff of two trees).
 *
 * An image is known by its command line and its place: the command lines
 * of the images above it (the one it replaced with execve, else the one
 * that forked it), up to the first.  Images are paired, in tree order,
 * first when both agree (the k-th such image of OLD with the k-th of NEW),
 * then by command line alone, then by program (argv[0]) alone; the rest are
 * new (only in NEW) or gone (only in OLD).  A pure function of the runs
 * (memprof/run.h). */
#ifndef MEMPROF_TREE_PAIRS_H
#define MEMPROF_TREE_PAIRS_H

#include <stddef.h>
#include "memprof/run.h"

struct mp_process_pair {
    long old_index, new_index;   /* positions in the arrays given; -1: none (new or gone) */
};

/* runs in tree order (tree_id = position + 1, links as run.h says).  The
 * pairs: NEW's images in tree order (paired or new), then OLD's gone ones.
 * 0, or -1 on ENOMEM. */
int mp_process_pairs(const struct mp_report_run *const *old_runs, size_t n_old,
                     const struct mp_report_run *const *new_runs, size_t n_new, struct mp_process_pair **out,
                     size_t *n_out);

#endif
