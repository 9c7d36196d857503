/* memprof symbolizer: memprof's private cache directory, opened safely.
 * $XDG_CACHE_HOME/memprof/LEAF, else $HOME/.cache/memprof/LEAF, as a
 * directory descriptor: every directory from the base down must be owned
 * by the effective user and not writable by group or others, and none
 * below the base may be a symlink (each part is opened with O_NOFOLLOW
 * relative to the one above it; missing parts are made 0700).  Root with
 * another user's HOME or XDG_CACHE_HOME (sudo -E, su without -) gets no
 * cache.  All file work is then done relative to the descriptor. */
#ifndef MEMPROF_SYM_CACHE_DIR_H
#define MEMPROF_SYM_CACHE_DIR_H

#include <sys/types.h>

/* Why there is no directory, when it is because one on the way exists but
 * is not the user's alone (else dir is ""). */
struct sym_cache_refusal {
    char dir[4096];
    int writable;  /* writable by group or others */
    uid_t owner;   /* its owner, when that is not the effective user */
};

/* The directory's descriptor and *path (malloc'd, for messages and
 * libdwfl's file name), or -1 when there is none that is safe to use
 * (*why, if why, says so when a directory is not private). */
int sym_cache_dir_open(const char *leaf, char **path, struct sym_cache_refusal *why);

#endif
