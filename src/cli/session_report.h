/* memprof: what a finished session gives the writers: one report run per
 * program image shown, in tree order, with its notes (session_report.c). */
#ifndef MEMPROF_SESSION_REPORT_H
#define MEMPROF_SESSION_REPORT_H

#include "session.h"
#include "memprof/report.h"

struct mp_session_report {
    struct mp_process_tree tree;            /* procs in tree order; a single image: tree.n == 1 */
    struct mp_process_image *procs;
    struct mp_report_run *runs;
    struct mp_image **images;       /* the image of each run */
    char **owned;                   /* every string the runs and the tree point to */
    size_t n_owned, cap_owned;
    const char ***warnings;         /* per run */
    const char **tree_warnings;
    struct mp_function_spans *function_spans; /* line mode's (its image's run points to them) */
    size_t n_function_spans;
};

/* Builds the report of a finished session (mp_session_finish done).
 * Images shown: all but placeholders (vfork children before exec), --follow-
 * only's others, and images that exec'd without allocating anything (their
 * successor stands for the process).  0, or -1 on ENOMEM. */
int mp_session_report_build(struct mp_session *s, const struct mp_run_result *result,
                            struct mp_session_report *out);
void mp_session_report_free(struct mp_session_report *r);

#endif
