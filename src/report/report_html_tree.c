/* memprof: the HTML report of a process tree (--format=html when memprof
 * followed children): the tree's summary as the text report has it, links
 * to the sections, then one section per program image with everything the
 * page of a single process has (summary, timeline, flame graph, views,
 * tables), the images ranked as the text ranks them (--top-processes), or
 * only the image --process names.  Element ids end in "-pN" (image #N). */
#define _GNU_SOURCE
#include "format.h"
#include "report_html.h"
#include "report_processes.h"
#include "svg.h"

#include <stdlib.h>
#include <string.h>

/* "Process #3: ./b  (pid 1236, child of #1, exit status 0)": the text
 * report's section header. */
static void section_title(FILE *out, const struct mp_report_run *run, const struct mp_report_options *opt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (mem) {
        mp_text_process_section_header(mem, run, opt);
        fclose(mem);
    }
    const char *s = buf ? buf : "";
    while (*s == '\n')
        s++;
    if (strncmp(s, "=== ", 4) == 0)
        s += 4;
    size_t n = strcspn(s, "\n");
    char *line = strndup(s, n);
    mp_xml_text(out, line ? line : "", 0);
    free(line);
    free(buf);
}

int mp_write_process_tree_html(FILE *out, const struct mp_process_tree *t, const struct mp_sources *src,
                               const struct mp_report_options *opt)
{
    if (!t->n)
        return -1;
    size_t *order = malloc(t->n * sizeof *order);
    if (!order)
        return -1;
    size_t n_shown = 0;
    if (opt->process) {
        for (size_t i = 0; i < t->n; i++)
            if (t->procs[i].run->tree_id == opt->process)
                order[n_shown++] = i;
    } else {
        n_shown = mp_process_sections(t, opt->top_processes, order);
    }
    mp_html_page_start(out, t->procs[0].run);
    /* the tree: its table, totals and notes as in the text report */
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) {
        free(order);
        return -1;
    }
    mp_text_process_tree_summary(mem, t, opt);
    if (fclose(mem) != 0) {
        free(buf);
        free(order);
        return -1;
    }
    mp_html_text_sections(out, buf, len, "tree");
    free(buf);
    fprintf(out, "<p>%s</p>\n<ul class=\"procs\">\n",
            opt->process ? "The image --process chose:" : "The images' reports, below:");
    /* links in the order the sections come (highest peak heap first) */
    for (size_t k = 0; k < n_shown; k++) {
        size_t i = order[k];
        fprintf(out, "<li><a href=\"#process-%d\">", t->procs[i].run->tree_id);
        section_title(out, t->procs[i].run, opt);
        fprintf(out, "</a></li>\n");
    }
    fprintf(out, "</ul>\n");
    size_t followed = 0;
    for (size_t i = 0; i < t->n; i++)
        followed += !t->procs[i].run->unfollowed;
    size_t hidden = followed > n_shown ? followed - n_shown : 0;
    char more[64];
    if (hidden)
        fprintf(out, "<p class=\"muted\">%s without a section: %s</p>\n",
                MP_COUNT_NOUN(more, hidden, "more image", "more images"),
                opt->process ? "memprof report FILE.json --format=html without --process shows each"
                             : "the ones shown held the highest peak heap; --top-processes=0 shows all");
    int rc = 0;
    for (size_t k = 0; k < n_shown; k++) {
        size_t i = order[k];
        const struct mp_report_run *run = t->procs[i].run;
        char sfx[32];
        snprintf(sfx, sizeof sfx, "-p%d", run->tree_id);
        fprintf(out, "<section class=\"process\" id=\"process-%d\">\n<h2 class=\"process\">", run->tree_id);
        section_title(out, run, opt);
        fprintf(out, "</h2>\n");
        rc |= mp_html_process_body(out, t->procs[i].profile, run, src, opt, sfx);
        fprintf(out, "</section>\n");
    }
    free(order);
    return mp_html_page_end(out) || rc ? -1 : 0;
}
