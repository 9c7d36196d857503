/* memprof: the HTML report's parts (report_html.c writes the page of one
 * process, report_html_tree.c that of a process tree, report_html_views.c
 * the views it shares with the text report and line mode's tables). */
#ifndef MEMPROF_REPORT_HTML_H
#define MEMPROF_REPORT_HTML_H

#include <stdio.h>
#include "memprof/report.h"
#include "report_lines.h"

/* The text report's section for one view (enum mp_view bit: calls, peak,
 * leaks, temporary, largest, sizes, threads, rate, tree, callers, rss), its
 * first line an <h2> with `id` (NULL: every heading an <h3>), the rest
 * preformatted.  Nothing when the view has nothing to say.  0, or -1. */
int mp_html_text_view(FILE *out, unsigned view, const char *id, const struct mp_profile *p,
                      const struct mp_report_run *run, const struct mp_report_options *opt);

/* Text in the text report's layout ("\nTitle\nrows...\n\nTitle\n..."), each
 * title a heading (the first an <h2 id=id>, NULL: <h3>), the rows
 * preformatted. */
void mp_html_text_sections(FILE *out, const char *text, size_t len, const char *id);

/* Line mode's memory_profiler tables (--function), under an <h2 id=id>. */
int mp_html_line_tables(FILE *out, const struct mp_line_profile *lp, const struct mp_sources *src,
                        const struct mp_line_report_options *opt, const char *id);

/* The page's head (title from the run's command) and foot. */
void mp_html_page_start(FILE *out, const struct mp_report_run *run);
int mp_html_page_end(FILE *out);

/* One process's report below the page's title: what mp_write_html writes.
 * Element ids end with `suffix` ("" for a single process, "-3" for image
 * #3 of a tree), so that several fit in one page. */
int mp_html_process_body(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                         const struct mp_sources *src, const struct mp_report_options *opt, const char *suffix);

#endif
