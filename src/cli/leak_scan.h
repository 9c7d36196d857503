/* memprof: classing a process's live blocks by leak kind when it ends. */
#ifndef MEMPROF_LEAK_SCAN_H
#define MEMPROF_LEAK_SCAN_H

#include <stddef.h>
#include <sys/types.h>
#include "memprof/profile.h"

/* Process pid is stopped (every thread in tids[]) with its address space
 * intact, and p holds every event it made up to now: class p's live
 * blocks (mp_profile_set_leak_kinds).  attached: memprof did not see the
 * process start, so blocks it never saw may hold pointers.  0, or -1 with
 * a sentence for the report's notes in `note`. */
int mp_classify_leaks(struct mp_profile *p, pid_t pid, const pid_t *tids, size_t n_tids, int attached, char *note,
                      size_t notelen);

struct mp_suppressions;
/* The suppressions of a run: the built-in list unless no_defaults, then
 * each file.  NULL with one line in err (a usage error) when a file cannot
 * be read or parsed. */
struct mp_suppressions *mp_load_suppressions(const char *const *files, size_t n, int no_defaults, char *err,
                                             size_t errlen);

#endif
