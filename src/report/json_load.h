/* memprof: reading a saved JSON report back (memprof report, memprof diff).
 *
 * The JSON report is the saved profile: loading it rebuilds an mp_profile
 * (through the restore API in memprof/profile.h), the source lines it shows
 * and the run's outcome, so every writer can render it again. */
#ifndef MEMPROF_JSON_LOAD_H
#define MEMPROF_JSON_LOAD_H

#include <stddef.h>
#include "memprof/profile.h"
#include "memprof/report.h"

struct mp_sources;

struct mp_loaded_report {
    struct mp_profile *profile;
    struct mp_sources *sources;
    struct mp_report_run run;     /* strings owned by the loaded report */
    int stable;                   /* the report was written with --stable */
    void *owned;                  /* private: whatever backs run's strings */
};

/* Loads `path` ("-" reads standard input).  0 on success; -1 with one line
 * in err naming the file, the position (line:column or byte offset) and the
 * problem, e.g. "prof.json:3:14: expected ',' or '}'" or
 * "prof.json: not a memprof report (no \"schema\" field)". */
int mp_load_report(const char *path, struct mp_loaded_report *out, char *err, size_t errlen);
/* The same from memory (the fuzz target's entry point). */
int mp_load_report_buffer(const char *data, size_t len, const char *name, struct mp_loaded_report *out,
                          char *err, size_t errlen);
void mp_loaded_report_free(struct mp_loaded_report *r);

#endif
