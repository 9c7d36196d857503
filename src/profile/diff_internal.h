/* memprof: the diff model's private parts (diff.c builds the model,
 * diff_paths.c pairs the two reports' source files). */
#ifndef MEMPROF_DIFF_INTERNAL_H
#define MEMPROF_DIFF_INTERNAL_H

#include "diff.h"
#include "base/strtab.h"

/* One source file of a report: its path as the report shows it, as the
 * user rewrote it (--strip, --map), and the key it is matched by: equal
 * keys in the two reports are the same file. */
struct mp_diff_file {
    const char *path, *rewritten, *key;
};

struct mp_diff_files {
    struct mp_strtab *strings;
    struct mp_diff_file *old_files, *new_files;
    size_t n_old, n_new;
};

/* Sets every file's rewritten path and key.  0, or -1 on ENOMEM. */
int mp_diff_pair_files(struct mp_diff_files *f, const struct mp_diff_paths *paths);

#endif
