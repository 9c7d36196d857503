/* memprof: report files written whole or not at all.  The report goes to a
 * temporary file beside FILE (same directory, so same file system), which
 * replaces FILE by rename(2) only once it is complete: a run that fails,
 * a write error or a kill before that leaves the previous report at FILE
 * as it was, and no empty or half-written file.  FILE's permissions are
 * kept (a new file gets 0666 minus the umask, as fopen would give it); a
 * symbolic link is followed and its target replaced.  Something that is
 * not a regular file (a terminal, /dev/stdout, a pipe) is written
 * directly, and "-" is standard output. */
#ifndef MEMPROF_OUT_FILE_H
#define MEMPROF_OUT_FILE_H

#include <stdio.h>

struct mp_out_file {
    FILE *f;        /* write here */
    char *path;     /* where it goes in the end */
    char *tmp;      /* the temporary file, or NULL when writing in place */
};

/* 0, or -1 after one line on stderr naming the path and the way out. */
int mp_out_open(struct mp_out_file *o, const char *path);
/* Whether mp_out_open(path) would work, checked before the run so that a
 * bad path is a usage error, not a lost profile; leaves nothing behind.
 * 0, or -1 after the same line on stderr. */
int mp_out_check(const char *path);
/* Closes and puts the file in place.  0, or -1 (errno set; the temporary
 * file is removed, FILE untouched). */
int mp_out_commit(struct mp_out_file *o);
/* Closes and removes the temporary file: FILE stays as it was. */
void mp_out_abort(struct mp_out_file *o);

#endif
