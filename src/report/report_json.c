/* memprof: the JSON report, the saved profile.  Field names are a contract
 * (man page, section JSON): add fields, never rename them.  Objects are
 * written in a fixed order, one "lines" record per text line, so the output
 * is deterministic and easy to grep. */
#include "memprof/report.h"
#include "format.h"
#include "report_json_views.h"
#include "report_json.h"
#include "report_lines.h"
#include "symbols/sources.h"
#include "profile/leak_view.h"
#include "profile/tables.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>


static const char *const kind_names[MP_LEAK_KINDS] = { "definitely_lost", "indirectly_lost", "possibly_lost",
                                                        "still_reachable" };

/* A stack's live blocks by kind and its suppression, when there are any. */
static void write_stack_kinds(FILE *out, const struct mp_profile *p, const struct mp_stack_info *st)
{
    if (mp_profile_totals(p)->leaks_classified && st->live_blocks)
        for (int k = 0; k < MP_LEAK_KINDS; k++)
            fprintf(out, ", \"%s_bytes\": %" PRIu64 ", \"%s_blocks\": %" PRIu64, kind_names[k], st->leak_bytes[k],
                    kind_names[k], st->leak_blocks[k]);
    if (st->suppressed && st->live_blocks) {
        fprintf(out, ", \"suppressed\": ");
        mp_json_string(out, st->suppressed);
    }
}

static void write_summary(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                          const struct mp_report_options *opt)
{
    const struct mp_totals *t = mp_profile_totals(p);
    if (opt->stable)
        fprintf(out, "  \"summary\": {\"peak_rss_bytes\": null, \"wall_seconds\": null");
    else
        fprintf(out, "  \"summary\": {\"peak_rss_bytes\": %" PRIu64 ", \"wall_seconds\": %.6f",
                run->peak_rss_bytes, run->wall_seconds);
    fprintf(out, ", \"heap_profiled\": %s, \"heap_note\": ", run->engine_note ? "false" : "true");
    mp_json_string(out, run->engine_note);
    fprintf(out, ", \"engine\": ");
    mp_json_string(out, run->engine);
    fprintf(out, ",\n              \"alloc_calls\": %" PRIu64 ", \"allocated_bytes\": %" PRIu64
                 ", \"free_calls\": %" PRIu64 ", \"freed_bytes\": %" PRIu64,
            t->alloc_calls, t->allocated_bytes, t->free_calls, t->freed_bytes);
    fprintf(out, ",\n              \"peak_heap_bytes\": %" PRIu64 ", \"leaked_bytes\": %" PRIu64
                 ", \"leaked_blocks\": %" PRIu64 ", \"temporary_calls\": %" PRIu64,
            t->peak_heap_bytes, t->live_bytes, t->live_blocks, t->temporary_calls);
    for (int k = 0; k < MP_LEAK_KINDS; k++) {
        fprintf(out, "%s\"%s_bytes\": ", k ? ", " : ",\n              ", kind_names[k]);
        if (t->leaks_classified)
            fprintf(out, "%" PRIu64 ", \"%s_blocks\": %" PRIu64, t->leak_bytes[k], kind_names[k], t->leak_blocks[k]);
        else
            fprintf(out, "null, \"%s_blocks\": null", kind_names[k]);
    }
    struct mp_leak_sum sup = mp_leaks_suppressed(p);
    fprintf(out, ", \"suppressed_bytes\": %" PRIu64 ", \"suppressed_blocks\": %" PRIu64, sup.bytes, sup.blocks);
    fprintf(out, ",\n              \"events_lost\": %" PRIu64 ", \"unknown_frees\": %" PRIu64
                 ", \"reused_live_blocks\": %" PRIu64 ", \"truncated_stacks\": %" PRIu64
                 ", \"agent_bytes\": ",
            run->events_lost, t->unknown_frees, t->reused_live_blocks, t->truncated_stacks);
    if (opt->stable)
        fprintf(out, "null");
    else
        fprintf(out, "%" PRIu64, run->agent_bytes);
    fprintf(out, ",\n              \"unsited_free_calls\": %" PRIu64 ", \"unsited_freed_bytes\": %" PRIu64,
            t->unsited_free_calls, t->unsited_freed_bytes);
    /* mapped memory (added after schema 1's first fields; absent in older files) */
    fprintf(out, ",\n              \"mapped_profiled\": %s, \"map_calls\": %" PRIu64 ", \"mapped_bytes\": %" PRIu64
                 ", \"unmap_calls\": %" PRIu64 ", \"unmapped_bytes\": %" PRIu64 ", \"mapped_live_bytes\": %" PRIu64,
            run->engine_note || !run->mapped_profiled ? "false" : "true", t->map_calls, t->mapped_bytes,
            t->unmap_calls, t->unmapped_bytes, t->mapped_live_bytes);
    fprintf(out, ",\n              \"peak_mapped_bytes\": %" PRIu64 ", \"peak_total_bytes\": %" PRIu64
                 ", \"peak_total_mapped_bytes\": %" PRIu64,
            t->peak_mapped_bytes, t->map_calls ? t->peak_total_bytes : t->peak_heap_bytes,
            t->map_calls ? t->peak_total_mapped_bytes : 0);
    /* the breakpoint engine's stops; vary with the threads' schedule: not with --stable */
    if (run->has_engine_stops && !opt->stable)
        fprintf(out, ", \"engine_stops\": %" PRIu64, run->engine_stops);
    fputc('}', out);
}

void mp_json_place_fields(FILE *out, const struct mp_line_stats *l, const struct mp_report_options *opt)
{
    fprintf(out, "\"file\": ");
    mp_json_string(out, mp_display_path(l->file, opt->cwd));
    fprintf(out, ", \"line\": %d, \"function\": ", l->line);
    mp_json_string(out, mp_display_function(l->function, opt->stable));
    if (!l->file) {
        fprintf(out, ", \"module\": ");
        mp_json_string(out, mp_display_path(l->module, opt->cwd));
    }
}

static void write_lines(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    int mapped = mp_profile_totals(p)->map_calls > 0;
    size_t n;
    size_t *idx = mp_lines_by_bytes(p, &n);
    fprintf(out, "  \"lines\": [");
    for (size_t i = 0; i < n; i++) {
        const struct mp_line_stats *l = mp_profile_line(p, idx[i]);
        fprintf(out, "%s\n    {", i ? "," : "");
        mp_json_place_fields(out, l, opt);
        fprintf(out, ", \"alloc_calls\": %" PRIu64 ", \"allocated_bytes\": %" PRIu64 ", \"free_calls\": %" PRIu64
                     ", \"freed_bytes\": %" PRIu64 ", \"peak_bytes\": %" PRIu64 ", \"leaked_bytes\": %" PRIu64
                     ", \"leaked_blocks\": %" PRIu64 ", \"temporary_calls\": %" PRIu64,
                l->alloc_calls, l->allocated_bytes, l->free_calls, l->freed_bytes, l->peak_bytes, l->live_bytes,
                l->live_blocks, l->temporary_calls);
        if (mapped) /* only in profiles with mapped memory */
            fprintf(out, ", \"map_calls\": %" PRIu64 ", \"mapped_bytes\": %" PRIu64 ", \"unmapped_bytes\": %" PRIu64
                         ", \"mapped_live_bytes\": %" PRIu64 ", \"peak_total_bytes\": %" PRIu64
                         ", \"peak_total_mapped_bytes\": %" PRIu64,
                    l->map_calls, l->mapped_bytes, l->unmapped_bytes, l->mapped_live_bytes, l->peak_total_bytes,
                    l->peak_total_mapped_bytes);
        fputc('}', out);
    }
    fprintf(out, "%s]", n ? "\n  " : "");
    free(idx);
}

static void write_tables(FILE *out, const struct mp_profile *p, const struct mp_sources *src,
                         const struct mp_report_options *opt)
{
    int mapped = mp_profile_totals(p)->map_calls > 0;
    struct mp_tables tables;
    fprintf(out, "  \"tables\": [");
    if (mp_tables_build(p, &tables) != 0) {
        fprintf(out, "]");
        return;
    }
    for (size_t i = 0; i < tables.n; i++) {
        const struct mp_table *t = &tables.tables[i];
        fprintf(out, "%s\n    {\"file\": ", i ? "," : "");
        mp_json_string(out, mp_display_path(t->file, opt->cwd));
        fprintf(out, ", \"function\": ");
        mp_json_string(out, mp_display_function(t->function, opt->stable));
        fprintf(out, ", \"rows\": [");
        for (size_t r = 0; r < t->n_rows; r++) {
            const struct mp_table_row *row = &t->rows[r];
            fprintf(out, "%s\n      {\"line\": %d, \"mem_usage_bytes\": %" PRIu64 ", \"increment_bytes\": %" PRId64
                         ", \"occurrences\": %" PRIu64 ", \"allocated_bytes\": %" PRIu64
                         ", \"site_free_calls\": %" PRIu64 ", \"site_freed_bytes\": %" PRIu64
                         ", \"net_bytes\": %" PRId64,
                    r ? "," : "", row->line, row->mem_usage_bytes, row->increment_bytes, row->occurrences,
                    row->allocated_bytes, row->site_free_calls, row->site_freed_bytes, row->net_bytes);
            if (mapped) /* only in profiles with mapped memory */
                fprintf(out, ", \"mapped_usage_bytes\": %" PRIu64 ", \"mapped_increment_bytes\": %" PRId64
                             ", \"mapped_bytes\": %" PRIu64,
                        row->mapped_usage_bytes, row->mapped_increment_bytes, row->mapped_bytes);
            fprintf(out, ", \"text\": ");
            mp_json_string(out, mp_sources_line(src, t->file, row->line));
            fputc('}', out);
        }
        fprintf(out, "]}");
    }
    fprintf(out, "%s]", tables.n ? "\n  " : "");
    mp_tables_free(&tables);
}

static void write_place(FILE *out, const struct mp_line_stats *l, const struct mp_report_options *opt)
{
    fputc('{', out);
    mp_json_place_fields(out, l, opt);
    fputc('}', out);
}

void mp_json_stack(FILE *out, const struct mp_profile *p, const struct mp_stack_info *st,
                   const struct mp_report_options *opt)
{
    int user_frame = -1;
    fprintf(out, "\"stack\": [");
    for (uint32_t i = 0; i < st->n_frames; i++) {
        fputs(i ? ", " : "", out);
        write_place(out, mp_profile_line(p, st->frame_lines[i]), opt);
        if (user_frame < 0 && st->frame_lines[i] == st->self_line)
            user_frame = (int)i;
    }
    fprintf(out, "], \"user_frame\": %d", user_frame);
}

#define LEAK_STACKS 10

static void write_peak_and_leaks(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    const struct mp_totals *t = mp_profile_totals(p);
    fprintf(out, "  \"peak\": ");
    if (t->peak_stack == UINT32_MAX) {
        fprintf(out, "null");
    } else {
        const struct mp_stack_info *st = mp_profile_stack(p, t->peak_stack);
        fprintf(out, "{\"heap_bytes\": %" PRIu64 ", \"reached_at\": ", t->peak_heap_bytes);
        write_place(out, mp_profile_line(p, st->self_line), opt);
        fprintf(out, ",\n           ");
        mp_json_stack(out, p, st, opt);
        fputc('}', out);
    }
    size_t n;
    size_t *idx = mp_stacks_by_live(p, &n);
    fprintf(out, ",\n  \"leaks\": [");
    for (size_t i = 0; i < n && i < LEAK_STACKS; i++) {
        const struct mp_stack_info *st = mp_profile_stack(p, idx[i]);
        fprintf(out, "%s\n    {\"bytes\": %" PRIu64 ", \"blocks\": %" PRIu64 ", ", i ? "," : "", st->live_bytes,
                st->live_blocks);
        mp_json_stack(out, p, st, opt);
        write_stack_kinds(out, p, st);
        fputc('}', out);
    }
    fprintf(out, "%s]", n ? "\n  " : "");
    free(idx);
    if (t->map_calls && t->peak_total_stack != UINT32_MAX) {
        const struct mp_stack_info *st = mp_profile_stack(p, t->peak_total_stack);
        fprintf(out, ",\n  \"peak_total\": {\"bytes\": %" PRIu64 ", \"mapped_bytes\": %" PRIu64 ", \"reached_at\": ",
                t->peak_total_bytes, t->peak_total_mapped_bytes);
        write_place(out, mp_profile_line(p, st->self_line), opt);
        fputc('}', out);
    }
}

static void write_folded(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    const struct mp_folded *f;
    size_t n = mp_profile_folded(p, &f);
    fprintf(out, ",\n  \"folded_functions\": [");
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%s{\"function\": ", i ? ", " : "");
        mp_json_string(out, mp_display_function(f[i].function, opt->stable));
        fprintf(out, ", \"automatic\": %s, \"calls\": %" PRIu64 "}", f[i].automatic ? "true" : "false", f[i].calls);
    }
    fputc(']', out);
}

/* Every line record (stack frames included) and every stack, frames given
 * as indices into "frames": enough to rebuild the profile (memprof report). */
static void write_frames_and_stacks(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    size_t n_lines = mp_profile_line_count(p), n_stacks = mp_profile_stack_count(p);
    fprintf(out, "  \"frames\": [");
    for (size_t i = 0; i < n_lines; i++) {
        const struct mp_line_stats *l = mp_profile_line(p, i);
        fputs(i ? (i % 2 ? ", " : ",\n    ") : "\n    ", out);
        fputc('{', out);
        mp_json_place_fields(out, l, opt);
        fputs(l->is_runtime ? ", \"runtime\": true}" : "}", out);
    }
    fprintf(out, "%s],\n  \"stacks\": [", n_lines ? "\n  " : "");
    for (size_t i = 0; i < n_stacks; i++) {
        const struct mp_stack_info *st = mp_profile_stack(p, i);
        fprintf(out, "%s\n    {\"frames\": [", i ? "," : "");
        for (uint32_t j = 0; j < st->n_frames; j++)
            fprintf(out, "%s%u", j ? ", " : "", st->frame_lines[j]);
        fprintf(out, "], \"user_line\": %u, \"alloc_calls\": %" PRIu64 ", \"allocated_bytes\": %" PRIu64
                     ", \"leaked_bytes\": %" PRIu64 ", \"leaked_blocks\": %" PRIu64 ", \"peak_bytes\": %" PRIu64
                     ", \"peak_blocks\": %" PRIu64 ", \"temporary_calls\": %" PRIu64,
                st->self_line, st->alloc_calls, st->allocated_bytes, st->live_bytes, st->live_blocks, st->peak_bytes,
                st->peak_blocks, st->temporary_calls);
        write_stack_kinds(out, p, st);
        if (st->map_calls) /* only stacks that mapped memory */
            fprintf(out, ", \"map_calls\": %" PRIu64 ", \"mapped_bytes\": %" PRIu64 ", \"mapped_live_bytes\": %" PRIu64,
                    st->map_calls, st->mapped_bytes, st->mapped_live_bytes);
        fputc('}', out);
    }
    fprintf(out, "%s]", n_stacks ? "\n  " : "");
}

static void write_timeline(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                           const struct mp_report_options *opt)
{
    const struct mp_sample *samples;
    size_t n = opt->stable ? 0 : mp_profile_timeline(p, &samples);
    fprintf(out, "  \"timeline\": [");
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s[%.6f, %" PRIu64 ", %" PRIu64 "]", i ? (i % 4 ? ", " : ",\n    ") : "\n    ",
                (double)samples[i].time_ns / 1e9, samples[i].rss_bytes, samples[i].heap_bytes);
    fprintf(out, "%s],\n", n ? "\n  " : "");
    mp_json_timeline_allocations(out, p, opt);
    fprintf(out, ",\n  \"timeline_heap_max\": [");
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%" PRIu64, i ? (i % 8 ? ", " : ",\n    ") : "\n    ", samples[i].heap_max_bytes);
    fprintf(out, "%s]", n ? "\n  " : "");
    const struct mp_rss_breakdown *b = &run->rss_at_exit;
    if (b->valid && !opt->stable)
        fprintf(out, ",\n  \"rss_at_exit\": {\"total_bytes\": %" PRIu64 ", \"heap_bytes\": %" PRIu64
                     ", \"stack_bytes\": %" PRIu64 ", \"code_bytes\": %" PRIu64 ", \"file_data_bytes\": %" PRIu64
                     ", \"shared_bytes\": %" PRIu64 "}",
                b->total, b->heap, b->stacks, b->code, b->file_data, b->shared);
    else
        fprintf(out, ",\n  \"rss_at_exit\": null");
}

/* Line mode: when each chosen function ran (times: left out with --stable). */
static void write_function_spans(FILE *out, const struct mp_report_run *run, const struct mp_report_options *opt)
{
    if (opt->stable || run->n_function_spans == 0)
        return;
    fprintf(out, ",\n  \"function_spans\": [");
    for (size_t f = 0; f < run->n_function_spans; f++) {
        const struct mp_function_spans *fs = &run->function_spans[f];
        fprintf(out, "%s\n    {\"function\": ", f ? "," : "");
        mp_json_string(out, fs->function);
        fprintf(out, ", \"file\": ");
        mp_json_string(out, mp_display_path(fs->file, opt->cwd));
        fprintf(out, ", \"calls\": %" PRIu64 ", \"spans\": [", fs->calls);
        for (size_t i = 0; i < fs->n_spans; i++) {
            fputs(i ? (i % 4 ? ", [" : ",\n      [") : "[", out);
            mp_json_seconds(out, fs->spans[i].start_ns);
            fputs(", ", out);
            mp_json_seconds(out, fs->spans[i].end_ns);
            fputc(']', out);
        }
        fprintf(out, "]}");
    }
    fprintf(out, "\n  ]");
}

/* An image of a tree: where it is in the tree (tree ids; pid null with --stable). */
static void write_tree_fields(FILE *out, const struct mp_report_run *run, const struct mp_report_options *opt)
{
    fprintf(out, "\n  \"id\": %d, \"pid\": ", run->tree_id);
    if (opt->stable)
        fprintf(out, "null");
    else
        fprintf(out, "%d", run->pid);
    fprintf(out, ", \"parent\": ");
    if (run->tree_parent)
        fprintf(out, "%d", run->tree_parent);
    else
        fprintf(out, "null");
    fprintf(out, ", \"exec_of\": ");
    if (run->tree_exec_of)
        fprintf(out, "%d", run->tree_exec_of);
    else
        fprintf(out, "null");
    fprintf(out, ", \"forked\": %s, \"ended\": ", run->forked ? "true" : "false");
    mp_json_string(out, mp_run_end_word(run));
    if (opt->stable)
        fprintf(out, ", \"start_seconds\": null,");
    else
        fprintf(out, ", \"start_seconds\": %.6f,", run->start_seconds);
}

void mp_json_write_strings(FILE *out, const char *const *strings, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n && strings[i]; i++) {
        if (i)
            fputs(", ", out);
        mp_json_string(out, strings[i]);
    }
    fputc(']', out);
}

void mp_json_write_command(FILE *out, char *const *command)
{
    mp_json_write_strings(out, (const char *const *)command, command ? SIZE_MAX : 0);
}

int mp_write_json(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                  const struct mp_sources *src, const struct mp_report_options *opt)
{
    if (mp_json_write_object(out, p, run, src, opt) != 0)
        return -1;
    fputc('\n', out);
    fflush(out);
    return ferror(out) ? -1 : 0;
}

int mp_json_write_object(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                         const struct mp_sources *src, const struct mp_report_options *opt)
{
    fprintf(out, "{\n  \"schema\": 1,\n  \"stable\": %s,", opt->stable ? "true" : "false");
    if (run->tree_id)
        write_tree_fields(out, run, opt);
    fprintf(out, "\n  \"command\": ");
    mp_json_write_command(out, run->command);
    fprintf(out, ",\n  \"exit\": ");
    if (run->signal)
        fprintf(out, "{\"signal\": %d}", run->signal);
    else
        fprintf(out, "{\"code\": %d}", run->exit_code);
    if (run->attached_pid) {
        fprintf(out, ",\n  \"attach\": {\"pid\": ");
        if (opt->stable)
            fprintf(out, "null");
        else
            fprintf(out, "%d", run->attached_pid);
        fprintf(out, ", \"detached\": %s}", run->detached ? "true" : "false");
    }
    fprintf(out, ",\n");
    write_summary(out, p, run, opt);
    fprintf(out, ",\n");
    write_lines(out, p, opt);
    fprintf(out, ",\n");
    write_tables(out, p, src, opt);
    fprintf(out, ",\n");
    write_peak_and_leaks(out, p, opt);
    fprintf(out, ",\n");
    write_timeline(out, p, run, opt);
    write_function_spans(out, run, opt);
    fprintf(out, ",\n");
    write_frames_and_stacks(out, p, opt);
    fprintf(out, ",\n");
    mp_json_views(out, p, opt);
    write_folded(out, p, opt);
    fprintf(out, ",\n  \"warnings\": ");
    mp_json_write_strings(out, run->warnings, run->n_warnings);
    if (run->line_profile) {
        struct mp_line_report_options lopt = { opt->cwd, opt->precision, (enum mp_lm_metric)opt->line_metric };
        fprintf(out, ",\n");
        mp_write_line_tables_json(out, run->line_profile, src, &lopt);
    }
    fprintf(out, "\n}");
    return ferror(out) ? -1 : 0;
}
