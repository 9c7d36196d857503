/* memprof: the text report's leaks section.  Classified (the reachability
 * scan ran): a table of memcheck's four kinds, then for each kind that
 * --leak-kinds selects the lines holding it and its biggest stacks, then
 * what the suppressions took out.  Not classified (a report from before
 * leak kinds, or a scan that could not run: the notes say why): every
 * block live at exit, as one list. */
#include "format.h"
#include "report_text_views.h"
#include "profile/leak_view.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define LEAK_STACKS_SHOWN 3

static size_t limit(size_t n, size_t max)
{
    return max && max < n ? max : n;
}

static unsigned mask_of(const struct mp_report_options *opt)
{
    return opt->leak_kinds ? opt->leak_kinds : MP_LEAK_MASK_DEFAULT;
}

static void write_amount(FILE *out, uint64_t bytes, uint64_t blocks, const struct mp_report_options *opt)
{
    char a[64], b[64];
    mp_format_size(a, sizeof a, (int64_t)bytes, opt->precision);
    fprintf(out, "%s in %s", a, MP_COUNT_NOUN(b, blocks, "block", "blocks"));
}

/* The lines and the biggest stacks of the kinds in mask. */
static void write_detail(FILE *out, const struct mp_profile *p, const struct mp_report_run *run, unsigned mask,
                         const struct mp_report_options *opt)
{
    size_t n;
    struct mp_leak_line *lines = mp_leak_lines(p, mask, &n);
    /* memprof -p: the process goes on, and may free them later */
    fprintf(out, "%12s %12s   %s\n", run->detached ? "live" : "leaked", "blocks", "line");
    size_t shown = limit(n, opt->top_lines);
    for (size_t i = 0; i < shown; i++) {
        char a[64], b[64];
        mp_format_size(a, sizeof a, (int64_t)lines[i].bytes, opt->precision);
        mp_format_count(b, sizeof b, lines[i].blocks);
        fprintf(out, "%12s %12s   ", a, b);
        mp_text_line_name(out, mp_profile_line(p, lines[i].line), opt);
        fputc('\n', out);
    }
    if (shown < n)
        mp_text_more_lines(out, n - shown);
    free(lines);
    size_t *stacks = mp_leak_stacks(p, mask, &n);
    for (size_t i = 0; i < limit(n, LEAK_STACKS_SHOWN); i++) {
        const struct mp_stack_info *st = mp_profile_stack(p, stacks[i]);
        struct mp_leak_sum s = mp_stack_leaks(p, st, mask);
        fputs("  ", out);
        write_amount(out, s.bytes, s.blocks, opt);
        fputs(" allocated from:\n", out);
        mp_text_stack(out, p, st, opt);
    }
    free(stacks);
}

/* One row per suppression that matched, biggest first. */
static void write_suppressed(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    struct mp_leak_sum all = mp_leaks_suppressed(p);
    if (!all.blocks)
        return;
    size_t n_stacks = mp_profile_stack_count(p), n = 0;
    struct row { const char *rule; uint64_t bytes, blocks; } *rows = calloc(n_stacks ? n_stacks : 1, sizeof *rows);
    if (!rows)
        return;
    for (size_t i = 0; i < n_stacks; i++) {
        const struct mp_stack_info *st = mp_profile_stack(p, i);
        if (!st->suppressed || !st->live_blocks)
            continue;
        size_t r = 0;
        while (r < n && strcmp(rows[r].rule, st->suppressed) != 0)
            r++;
        if (r == n)
            rows[n++].rule = st->suppressed;
        rows[r].bytes += st->live_bytes;
        rows[r].blocks += st->live_blocks;
    }
    for (size_t i = 1; i < n; i++) /* few rows: insertion sort, bytes then rule */
        for (size_t j = i; j > 0 && (rows[j].bytes > rows[j - 1].bytes ||
                                     (rows[j].bytes == rows[j - 1].bytes && strcmp(rows[j].rule, rows[j - 1].rule) < 0));
             j--) {
            struct row t = rows[j];
            rows[j] = rows[j - 1];
            rows[j - 1] = t;
        }
    int builtin = 0;
    for (size_t i = 0; i < n; i++)
        builtin |= strstr(rows[i].rule, "(built-in)") != NULL;
    fputs("\nSuppressed: ", out);
    write_amount(out, all.bytes, all.blocks, opt);
    fputs(builtin ? " (--no-default-suppressions shows the built-in ones)\n" : "\n", out);
    for (size_t i = 0; i < n; i++) {
        char a[64], b[64];
        mp_format_size(a, sizeof a, (int64_t)rows[i].bytes, opt->precision);
        mp_format_count(b, sizeof b, rows[i].blocks);
        fprintf(out, "%12s %12s   %s\n", a, b, rows[i].rule);
    }
    free(rows);
}

static void write_classified(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                             const struct mp_report_options *opt)
{
    const struct mp_totals *t = mp_profile_totals(p);
    unsigned mask = mask_of(opt);
    fputs(run->detached ? "\nLive at detach: " : "\nLeaks: ", out);
    write_amount(out, t->live_bytes, t->live_blocks, opt);
    fputs(run->detached ? " allocated while attached, by memcheck's kinds\n" : " never freed, by memcheck's kinds\n",
          out);
    for (int k = 0; k < MP_LEAK_KINDS; k++) {
        fprintf(out, "  %-18s ", mp_leak_kind_title(k));
        write_amount(out, t->leak_bytes[k], t->leak_blocks[k], opt);
        struct mp_leak_sum sup = mp_leaks_suppressed_kind(p, k);
        if (sup.blocks) {
            fputs(", suppressed ", out);
            write_amount(out, sup.bytes, sup.blocks, opt);
        }
        fputs(mask & MP_LEAK_BIT(k) ? "" : (t->leak_blocks[k] > sup.blocks ? "  (--leak-kinds=all lists them)" : ""),
              out);
        fputc('\n', out);
    }
    for (int k = 0; k < MP_LEAK_KINDS; k++) {
        if (!(mask & MP_LEAK_BIT(k)))
            continue;
        struct mp_leak_sum s = mp_leaks_total(p, MP_LEAK_BIT(k));
        if (!s.blocks)
            continue;
        char title[64];
        snprintf(title, sizeof title, "%s", mp_leak_kind_title(k));
        title[0] = (char)(title[0] - 'a' + 'A');
        fprintf(out, "\n%s: ", title);
        write_amount(out, s.bytes, s.blocks, opt);
        fputc('\n', out);
        write_detail(out, p, run, MP_LEAK_BIT(k), opt);
    }
    write_suppressed(out, p, opt);
}

void mp_text_leaks(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                   const struct mp_report_options *opt)
{
    const struct mp_totals *t = mp_profile_totals(p);
    if (t->live_blocks == 0) {
        fprintf(out, run->detached ? "\nLive at detach: none\n" : "\nLeaks: none (every block was freed)\n");
        return;
    }
    if (t->leaks_classified) {
        write_classified(out, p, run, opt);
        return;
    }
    if (run->detached) /* memprof -p: the process goes on, and may free them later */
        fputs("\nLive at detach: ", out);
    else
        fputs("\nLeaks: ", out);
    write_amount(out, t->live_bytes, t->live_blocks, opt);
    fputs(run->detached ? " allocated while attached\n" : " never freed\n", out);
    write_detail(out, p, run, MP_LEAK_MASK_ALL, opt);
    write_suppressed(out, p, opt);
}
