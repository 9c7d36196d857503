/* memprof: the diff model's private parts (diff.c builds the model,
 * diff_items.c makes the items and their keys, diff_paths.c pairs the two
 * reports' source files). */
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

/* ---- diff_items.c ---- */

struct owned {
    struct mp_strtab strings;
    struct mp_diff_frame *frames;
    size_t n_frames, cap_frames;
};

/* One item of one profile (records with the same key summed). */
struct entry {
    const char *key;                       /* interned: equal pointers, same item */
    const char *file_key;                  /* by line: the moved-line rule groups by file and function */
    const char *file, *function, *module;  /* shown; module only matters when file is NULL */
    int line;
    uint64_t alloc_calls, allocated_bytes, peak_bytes, live_bytes, live_blocks;
    size_t frames_at, n_frames;            /* by traceback: the callers, in owned->frames */
    struct entry *match;                   /* its partner in the other profile */
    int moved;
};

/* The keys of one profile's files, by the file string's address. */
struct file_keys {
    const char **paths;  /* sorted by address */
    const char **keys;
    size_t n;
};

/* The distinct files of p's line records, sorted by address (keys unset). 0, or -1 on ENOMEM. */
int mp_diff_collect_files(const struct mp_profile *p, struct file_keys *fk);
/* The items of p, sorted by key, items with the same key summed; NULL on ENOMEM. */
struct entry *mp_diff_collect(const struct mp_profile *p, const struct file_keys *fk, enum mp_diff_group group,
                              struct owned *own, size_t *n_out);

#endif
