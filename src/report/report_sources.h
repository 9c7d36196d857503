/* memprof: which source lines the reports show, read before the writers run
 * (they do no I/O besides writing). */
#ifndef MEMPROF_REPORT_SOURCES_H
#define MEMPROF_REPORT_SOURCES_H

#include "memprof/profile.h"
#include "symbols/sources.h"

/* Reads into src the lines the per-function tables show (mp_tables_build's
 * rows) of the first max_tables tables (0: all; the JSON report has all),
 * nothing else of their files. */
void mp_report_load_sources(struct mp_sources *src, const struct mp_profile *p, size_t max_tables);

#endif
