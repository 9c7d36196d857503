/* memprof: a process tree as JSON (schema 2) and as folded stacks.
 *
 * Schema 2: the command and how it ended, "tree" (the totals and which
 * image stood out), "warnings" about the tree, and "processes": one object
 * per program image in tree order, each a whole schema-1 report (what
 * mp_write_json writes for one process, "schema": 1 included, so one can be
 * cut out and read alone) with its place in the tree first: "id" (tree
 * order, from 1), "pid" (null with --stable), "parent", "exec_of" (ids or
 * null), "forked", "ended", "start_seconds". */
#include "memprof/report.h"
#include "format.h"
#include "report_json.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void write_tree_summary(FILE *out, const struct mp_process_tree *t, const struct mp_report_options *opt)
{
    uint64_t calls = 0, bytes = 0, frees = 0, freed = 0, leaked = 0, blocks = 0, lost = t->events_lost;
    int peak_id = 0, rss_id = 0, profiled = 0;
    uint64_t peak = 0, rss = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct mp_report_run *run = t->procs[i].run;
        const struct mp_totals *tot = mp_profile_totals(t->procs[i].profile);
        lost += run->events_lost;
        if (!run->unfollowed && run->peak_rss_bytes > rss) {
            rss = run->peak_rss_bytes;
            rss_id = run->tree_id;
        }
        if (run->engine_note || run->unfollowed)
            continue;
        profiled++;
        calls += tot->alloc_calls;
        bytes += tot->allocated_bytes;
        frees += tot->free_calls;
        freed += tot->freed_bytes;
        leaked += tot->live_bytes;
        blocks += tot->live_blocks;
        if (!peak_id || tot->peak_heap_bytes > peak) {
            peak = tot->peak_heap_bytes;
            peak_id = run->tree_id;
        }
    }
    fprintf(out, "  \"tree\": {\"images\": %zu, \"heap_profiled_images\": %d", t->n, profiled);
    fprintf(out, ",\n           \"alloc_calls\": %" PRIu64 ", \"allocated_bytes\": %" PRIu64 ", \"free_calls\": %" PRIu64
                 ", \"freed_bytes\": %" PRIu64 ", \"leaked_bytes\": %" PRIu64 ", \"leaked_blocks\": %" PRIu64,
            calls, bytes, frees, freed, leaked, blocks);
    fprintf(out, ",\n           \"events_lost\": %" PRIu64 ", \"peak_heap_bytes\": %" PRIu64 ", \"peak_heap_image\": ",
            lost, peak);
    if (peak_id)
        fprintf(out, "%d", peak_id);
    else
        fprintf(out, "null");
    if (opt->stable || !rss_id)
        fprintf(out, ",\n           \"peak_rss_bytes\": null, \"peak_rss_image\": null");
    else
        fprintf(out, ",\n           \"peak_rss_bytes\": %" PRIu64 ", \"peak_rss_image\": %d", rss, rss_id);
    if (opt->stable || !t->total_rss_known)
        fprintf(out, ",\n           \"total_rss_bytes\": null, \"total_rss_seconds\": null, \"total_rss_processes\": null}");
    else
        fprintf(out, ",\n           \"total_rss_bytes\": %" PRIu64 ", \"total_rss_seconds\": %.6f, "
                     "\"total_rss_processes\": %zu}",
                t->total_rss_bytes, t->total_rss_seconds, t->total_rss_processes);
}

int mp_write_process_tree_json(FILE *out, const struct mp_process_tree *t, const struct mp_sources *src,
                               const struct mp_report_options *opt)
{
    if (!t->n)
        return -1;
    const struct mp_report_run *first = t->procs[0].run, *last = t->procs[t->top_last].run;
    fprintf(out, "{\n  \"schema\": 2,\n  \"stable\": %s,\n  \"command\": ", opt->stable ? "true" : "false");
    mp_json_write_command(out, first->command);
    fprintf(out, ",\n  \"exit\": ");
    if (last->let_go || last->detached)
        fprintf(out, "null");
    else if (last->signal)
        fprintf(out, "{\"signal\": %d}", last->signal);
    else
        fprintf(out, "{\"code\": %d}", last->exit_code);
    fprintf(out, ",\n");
    write_tree_summary(out, t, opt);
    fprintf(out, ",\n  \"warnings\": ");
    mp_json_write_strings(out, t->warnings, t->n_warnings);
    fprintf(out, ",\n  \"processes\": [\n");
    for (size_t i = 0; i < t->n; i++) {
        if (mp_json_write_object(out, t->procs[i].profile, t->procs[i].run, src, opt) != 0)
            return -1;
        fputs(i + 1 < t->n ? ",\n" : "\n", out);
    }
    fprintf(out, "  ]\n}\n");
    fflush(out);
    return ferror(out) ? -1 : 0;
}

/* The process's first frame: "#2 cc1" (';' and newlines would break the format). */
static void process_frame(char *buf, size_t len, const struct mp_report_run *run)
{
    const char *prog = run->command && run->command[0] ? run->command[0] : "?";
    const char *slash = strrchr(prog, '/');
    snprintf(buf, len, "#%d %s", run->tree_id, slash && slash[1] ? slash + 1 : prog);
    for (char *c = buf; *c; c++)
        if (*c == ';' || *c == '\n' || *c == '\r')
            *c = ' ';
}

int mp_write_process_tree_folded(FILE *out, const struct mp_process_tree *t, const struct mp_report_options *opt)
{
    for (size_t i = 0; i < t->n; i++) {
        char frame[256];
        process_frame(frame, sizeof frame, t->procs[i].run);
        if (mp_write_folded_prefixed(out, t->procs[i].profile, opt, frame) != 0)
            return -1;
    }
    return 0;
}
