/* memprof: the text of a diff of two profiles (memprof diff) and its CI
 * gate (--limit-increase).  The model comes from profile/diff.c. */
#include "report_diff.h"
#include "format.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static uint64_t absdiff(uint64_t a, uint64_t b)
{
    return a > b ? a - b : b - a;
}

/* ------------------------------------------------------------------------ */
/* Text                                                                       */
/* ------------------------------------------------------------------------ */

static void size_str(char *buf, size_t len, uint64_t v, int precision)
{
    mp_format_size(buf, len, v > INT64_MAX ? INT64_MAX : (int64_t)v, precision);
}

/* "+1.0 MiB", "-512 B", "+0 B" */
static void size_change(char *buf, size_t len, uint64_t old_v, uint64_t new_v, int precision)
{
    char s[48];
    size_str(s, sizeof s, absdiff(old_v, new_v), precision);
    snprintf(buf, len, "%c%s", new_v < old_v ? '-' : '+', s);
}

/* "+1,234", "-5", "+0" */
static void count_change(char *buf, size_t len, uint64_t old_v, uint64_t new_v)
{
    char s[48];
    mp_format_count(s, sizeof s, absdiff(old_v, new_v));
    snprintf(buf, len, "%c%s", new_v < old_v ? '-' : '+', s);
}

/* Growth in percent of old (old > 0). */
static double growth_pct(uint64_t old_v, uint64_t new_v)
{
    double d = (double)absdiff(old_v, new_v) * 100.0 / (double)old_v;
    return new_v < old_v ? -d : d;
}

static const char *const summary_label[MP_DIFF_N_SUMMARY] = {
    [MP_DIFF_PEAK_HEAP] = "peak heap",
    [MP_DIFF_LEAKED_BYTES] = "leaked bytes",
    [MP_DIFF_LEAKED_BLOCKS] = "leaked blocks",
    [MP_DIFF_ALLOC_CALLS] = "allocation calls",
    [MP_DIFF_ALLOCATED_BYTES] = "allocated bytes",
    [MP_DIFF_TEMPORARY_CALLS] = "temporary calls",
    [MP_DIFF_PEAK_RSS] = "peak RSS",
};

static int summary_is_size(int i)
{
    return i == MP_DIFF_PEAK_HEAP || i == MP_DIFF_LEAKED_BYTES || i == MP_DIFF_ALLOCATED_BYTES ||
           i == MP_DIFF_PEAK_RSS;
}

static void write_summary(FILE *out, const struct mp_diff *d, int precision)
{
    fprintf(out, "Summary\n");
    for (int i = 0; i < MP_DIFF_N_SUMMARY; i++) {
        const struct mp_diff_value *s = &d->summary[i];
        if (!s->old_known || !s->new_known) {
            fprintf(out, "  %s: not compared (not in %s report)\n", summary_label[i],
                    !s->old_known && !s->new_known ? "either" : !s->old_known ? "the old" : "the new");
            continue;
        }
        char value[64], change[64], pct[64];
        if (summary_is_size(i)) {
            size_str(value, sizeof value, s->new_value, precision);
            size_change(change, sizeof change, s->old_value, s->new_value, precision);
        } else {
            mp_format_count(value, sizeof value, s->new_value);
            count_change(change, sizeof change, s->old_value, s->new_value);
        }
        if (s->old_value)
            snprintf(pct, sizeof pct, "%+.1f%%", growth_pct(s->old_value, s->new_value));
        else
            snprintf(pct, sizeof pct, "%s", s->new_value ? "was 0" : "+0.0%");
        fprintf(out, "  %s: %s (%s, %s)\n", summary_label[i], value, change, pct);
    }
    if (d->old_heap_note)
        fprintf(out, "  note: the old report has no heap data: %s\n", d->old_heap_note);
    if (d->new_heap_note)
        fprintf(out, "  note: the new report has no heap data: %s\n", d->new_heap_note);
}

static const char *metric_title(enum mp_diff_metric m)
{
    switch (m) {
    case MP_DIFF_PEAK: return "by bytes held at peak (size: bytes held at the heap's peak, count: allocation calls)";
    case MP_DIFF_LEAKED: return "by bytes leaked (size: bytes leaked at exit, count: leaked blocks)";
    case MP_DIFF_ALLOCATED:
    default: return "by bytes allocated (size: bytes allocated, count: allocation calls)";
    }
}

static const char *const group_title[] = { "Lines", "Files", "Functions", "Tracebacks" };
static const char *const group_item[][2] = { { "line", "lines" }, { "file", "files" }, { "function", "functions" },
                                             { "traceback", "tracebacks" } };

static void write_frame(FILE *out, const char *file, int line, const char *function, const char *module,
                        enum mp_diff_group group)
{
    if (!file)
        fprintf(out, "%s (%s)", function ? function : "[unknown]", module ? module : "[unknown]");
    else if (group == MP_DIFF_BY_FILE)
        fputs(file, out);
    else if (group == MP_DIFF_BY_FUNCTION)
        fprintf(out, "%s (%s)", function, file);
    else if (group == MP_DIFF_BY_TRACEBACK)
        fprintf(out, "%s:%d (%s)", file, line, function);
    else
        fprintf(out, "%s:%d", file, line);
}

static void write_line(FILE *out, const struct mp_diff_line *l, enum mp_diff_group group, int precision)
{
    fputs("  ", out);
    write_frame(out, l->file, l->line, l->function, l->module, group);
    switch (l->kind) {
    case MP_DIFF_MOVED: fprintf(out, " (was :%d)", l->old_line); break;
    case MP_DIFF_NEW: fputs(" (new)", out); break;
    case MP_DIFF_GONE: fputs(" (gone)", out); break;
    case MP_DIFF_SAME_PLACE: break;
    }
    char size[64], dsize[64], count[64], dcount[64], average[64];
    size_str(size, sizeof size, l->new_size, precision);
    size_change(dsize, sizeof dsize, l->old_size, l->new_size, precision);
    mp_format_count(count, sizeof count, l->new_count);
    count_change(dcount, sizeof dcount, l->old_count, l->new_count);
    fprintf(out, ": size=%s (%s), count=%s (%s)", size, dsize, count, dcount);
    if (l->new_count) { /* tracemalloc's average: the size of one, rounded to the byte */
        size_str(average, sizeof average, (l->new_size + l->new_count / 2) / l->new_count, precision);
        fprintf(out, ", average=%s", average);
    }
    fputc('\n', out);
    for (size_t i = 0; i < l->n_callers; i++) {
        const struct mp_diff_frame *f = &l->callers[i];
        fputs("      ", out);
        write_frame(out, f->file, f->line, f->function, f->module, MP_DIFF_BY_TRACEBACK);
        fputc('\n', out);
    }
}

int mp_diff_write(FILE *out, const struct mp_diff *d, const struct mp_diff_options *opt)
{
    int precision = opt ? opt->precision : 1;
    size_t top = opt ? opt->top_lines : 0;
    if (opt && opt->old_name && opt->new_name)
        fprintf(out, "memprof diff: %s -> %s\n\n", opt->old_name, opt->new_name);
    write_summary(out, d, precision);
    fprintf(out, "\n%s %s, biggest change first\n", group_title[d->group], metric_title(d->metric));
    size_t shown = top && top < d->n_lines ? top : d->n_lines;
    char more[32];
    for (size_t i = 0; i < shown; i++)
        write_line(out, &d->lines[i], d->group, precision);
    const char *const *item = group_item[d->group];
    if (!d->n_lines)
        fprintf(out, "  no %s changed\n", item[0]);
    if (shown < d->n_lines)
        fprintf(out, "  (%s more changed %s; --top 0 shows all)\n", MP_COUNT_STR(more, d->n_lines - shown),
                item[d->n_lines - shown != 1]);
    fprintf(out, "  %s allocating %s unchanged\n", MP_COUNT_STR(more, d->n_unchanged), item[d->n_unchanged != 1]);
    if (d->n_renamed) {
        size_t n = top && top < d->n_renamed ? top : d->n_renamed;
        fprintf(out, "\nFiles matched under another path (--strip, --map)\n");
        for (size_t i = 0; i < n; i++)
            fprintf(out, "  %s -> %s\n", d->renamed[i].old_path, d->renamed[i].new_path);
        if (n < d->n_renamed)
            fprintf(out, "  (%s more; --top 0 shows all)\n", MP_COUNT_STR(more, d->n_renamed - n));
    }
    fflush(out);
    return ferror(out) ? -1 : 0;
}

/* The percentage with enough digits that it does not print as the limit. */
static void pct_str(char *buf, size_t len, double pct, double limit)
{
    for (int prec = 1; prec <= 6; prec++) {
        snprintf(buf, len, "%.*f%%", prec, pct);
        if (strtod(buf, NULL) > limit)
            return;
    }
}

int mp_diff_check_limits(FILE *out, const struct mp_diff *d, double limit_pct, int precision)
{
    return mp_diff_check_limits_of(out, d, limit_pct, precision, NULL);
}

int mp_diff_check_limits_of(FILE *out, const struct mp_diff *d, double limit_pct, int precision, const char *where)
{
    static const int rows[] = { MP_DIFF_PEAK_HEAP, MP_DIFF_LEAKED_BYTES, MP_DIFF_ALLOCATED_BYTES };
    int broken = 0;
    for (size_t k = 0; k < sizeof rows / sizeof *rows; k++) {
        const struct mp_diff_value *s = &d->summary[rows[k]];
        if (s->new_value <= s->old_value)
            continue;
        char grew[64], a[64], b[64];
        if (s->old_value) {
            double pct = growth_pct(s->old_value, s->new_value);
            /* new > old * (1 + limit/100), in long double to keep large sizes exact enough */
            if ((long double)(s->new_value - s->old_value) * 100.0L <= (long double)s->old_value * limit_pct)
                continue;
            char p[48];
            pct_str(p, sizeof p, pct, limit_pct);
            snprintf(grew, sizeof grew, "grew %s", p);
        } else {
            snprintf(grew, sizeof grew, "grew from 0");
        }
        size_str(a, sizeof a, s->old_value, precision);
        size_str(b, sizeof b, s->new_value, precision);
        fprintf(out, "memprof: %s%s%s %s (%s -> %s), over --limit-increase %g%%\n", summary_label[rows[k]],
                where ? " of " : "", where ? where : "", grew, a, b, limit_pct);
        broken++;
    }
    fflush(out);
    return broken;
}
