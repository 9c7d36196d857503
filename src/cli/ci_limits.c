/* memprof: size parsing and the CI limit checks. */
#define _GNU_SOURCE
#include "ci_limits.h"
#include "report/format.h"
#include "profile/leak_view.h"
#include "profile/tables.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int mp_parse_size(const char *text, uint64_t *bytes)
{
    static const struct { const char *unit; double scale; } units[] = {
        { "", 1 },         { "b", 1 },
        { "k", 1024.0 },   { "kib", 1024.0 },   { "kb", 1e3 },
        { "m", 1048576.0 },{ "mib", 1048576.0 },{ "mb", 1e6 },
        { "g", 1073741824.0 }, { "gib", 1073741824.0 }, { "gb", 1e9 },
        { "t", 1099511627776.0 }, { "tib", 1099511627776.0 }, { "tb", 1e12 },
    };
    /* Plain decimal digits with at most one point: no sign, exponent or hex. */
    size_t len = strspn(text, "0123456789.");
    const char *point = memchr(text, '.', len);
    if (len == 0 || len > 30 || (point && memchr(point + 1, '.', len - (size_t)(point - text) - 1)) ||
        (len == 1 && text[0] == '.'))
        return -1;
    char number[32];
    memcpy(number, text, len);
    number[len] = '\0';
    errno = 0;
    double v = strtod(number, NULL);
    if (errno || !isfinite(v))
        return -1;
    const char *end = text + len;
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        if (strcasecmp(end, units[i].unit) == 0) {
            double b = v * units[i].scale;
            if (b >= 18446744073709549568.0)
                return -1;
            *bytes = (uint64_t)(b + 0.5);
            return 0;
        }
    }
    return -1;
}

/* The line that held most at the peak (or leaked most), for the message. */
static const struct mp_line_stats *most_responsible(const struct mp_profile *p, enum mp_line_order order)
{
    size_t n;
    size_t *idx = mp_lines_sorted(p, order, &n);
    const struct mp_line_stats *l = n ? mp_profile_line(p, idx[0]) : NULL;
    free(idx);
    return l;
}

static void write_culprit(FILE *out, const struct mp_line_stats *l, const char *verb, uint64_t bytes,
                          const struct mp_report_options *opt)
{
    char a[64];
    if (!l)
        return;
    mp_format_size(a, sizeof a, (int64_t)bytes, opt->precision);
    fputs(" (", out);
    if (l->file)
        fprintf(out, "%s:%d", mp_display_path(l->file, opt->cwd), l->line);
    else
        fprintf(out, "%s", l->function);
    fprintf(out, " %s %s)", verb, a);
}

/* " in #3 ./b (pid 1236)" for an image of a tree; nothing for one process. */
static void write_where(FILE *out, const struct mp_report_run *run, const struct mp_report_options *opt)
{
    if (!run || !run->tree_id)
        return;
    fprintf(out, " in #%d", run->tree_id);
    for (size_t i = 0; run->command && run->command[i] && i < 8; i++)
        fprintf(out, " %s", run->command[i]);
    if (run->command && run->command[0] && run->command[1] && run->command[2] && run->command[3] &&
        run->command[4] && run->command[5] && run->command[6] && run->command[7] && run->command[8])
        fprintf(out, " ...");
    if (!opt->stable)
        fprintf(out, " (pid %d)", run->pid);
}

static int check_one(FILE *out, const char *what, const char *option, uint64_t value, uint64_t limit,
                     const struct mp_line_stats *culprit, const char *verb, uint64_t culprit_bytes,
                     const struct mp_report_run *run, const struct mp_report_options *opt)
{
    if (limit == MP_NO_LIMIT || value <= limit)
        return 0;
    char v[64], l[64];
    mp_format_size(v, sizeof v, (int64_t)value, opt->precision);
    mp_format_size(l, sizeof l, (int64_t)limit, opt->precision);
    fprintf(out, "memprof: %s %s", what, v);
    write_where(out, run, opt);
    fprintf(out, " exceeds %s %s", option, l);
    write_culprit(out, culprit, verb, culprit_bytes, opt);
    fputc('\n', out);
    return 1;
}

/* Leaks of the kinds asked for, suppressions taken out. */
static int check_leaks(FILE *out, const struct mp_limits *limits, const struct mp_profile *p,
                       const struct mp_report_run *run, const struct mp_report_options *opt)
{
    unsigned mask = limits->leak_kinds ? limits->leak_kinds : MP_LEAK_MASK_DEFAULT;
    struct mp_leak_sum leaked = mp_leaks_total(p, mask);
    size_t n;
    struct mp_leak_line *lines = mp_leak_lines(p, mask, &n);
    const struct mp_line_stats *culprit = n ? mp_profile_line(p, lines[0].line) : NULL;
    uint64_t culprit_bytes = n ? lines[0].bytes : 0;
    free(lines);
    const char *noun = run->detached ? "memory live at detach" : "leaked memory";
    char what[128];
    snprintf(what, sizeof what, "%s (every block: leak kinds were not computed)", noun);
    if (mp_profile_totals(p)->leaks_classified) {
        size_t o = (size_t)snprintf(what, sizeof what, "%s (%s", noun, mask == MP_LEAK_MASK_ALL ? "all kinds" : "");
        for (int k = 0; k < MP_LEAK_KINDS && mask != MP_LEAK_MASK_ALL; k++)
            if (mask & MP_LEAK_BIT(k))
                o += (size_t)snprintf(what + o, sizeof what - o, "%s%s", what[o - 1] == '(' ? "" : ", ",
                                      mp_leak_kind_name(k));
        snprintf(what + o, sizeof what - o, ")");
    }
    return check_one(out, what, "--limit-leaks", leaked.bytes, limits->leaks, culprit,
                     run->detached ? "held" : "leaked", culprit_bytes, run, opt);
}

int mp_check_limits(FILE *out, const struct mp_limits *limits, const struct mp_profile *p,
                    const struct mp_report_run *run, const struct mp_report_options *opt)
{
    const struct mp_totals *t = mp_profile_totals(p);
    const struct mp_line_stats *at_peak = most_responsible(p, MP_BY_PEAK);
    int broken = 0;
    if (run->engine_note && (limits->heap != MP_NO_LIMIT || limits->leaks != MP_NO_LIMIT)) {
        fprintf(out, "memprof: --limit-%s cannot be checked", limits->heap != MP_NO_LIMIT ? "heap" : "leaks");
        write_where(out, run, opt);
        fprintf(out, ": the heap was not profiled (%s)\n", run->engine_note);
        broken++;
    } else {
        broken += check_one(out, "peak heap", "--limit-heap", t->peak_heap_bytes, limits->heap, at_peak, "held",
                            at_peak ? at_peak->peak_bytes : 0, run, opt);
        if (!run->execed) /* execve freed what an image replaced by it held: nothing leaked */
            broken += check_leaks(out, limits, p, run, opt);
    }
    broken += check_one(out, "peak RSS", "--limit-rss", run->peak_rss_bytes, limits->rss,
                        run->engine_note ? NULL : at_peak, "held at the heap's peak",
                        at_peak ? at_peak->peak_bytes : 0, run, opt);
    return broken;
}

int mp_check_process_tree_limits(FILE *out, const struct mp_limits *limits, const struct mp_process_tree *tree,
                                 const struct mp_report_options *opt)
{
    int broken = 0;
    for (size_t i = 0; i < tree->n; i++) {
        const struct mp_report_run *run = tree->procs[i].run;
        /* let go at its exec: memprof was told to leave it alone (--no-follow-exec), or a
         * setuid program, whose heap limits cannot be checked (they fail, like an unprofiled heap) */
        if (run->unfollowed && strncmp(run->engine_note ? run->engine_note : "", "--no-follow-exec", 16) == 0)
            continue;
        broken += mp_check_limits(out, limits, tree->procs[i].profile, run, opt);
    }
    return broken;
}

int mp_check_total_rss(FILE *out, const struct mp_limits *limits, const struct mp_process_tree *tree,
                       uint64_t peak_bytes, const struct mp_report_options *opt)
{
    if (limits->total_rss == MP_NO_LIMIT || peak_bytes <= limits->total_rss)
        return 0;
    char v[64], l[64];
    mp_format_size(v, sizeof v, (int64_t)peak_bytes, opt->precision);
    mp_format_size(l, sizeof l, (int64_t)limits->total_rss, opt->precision);
    fprintf(out, "memprof: total RSS %s", v);
    if (tree->total_rss_known)
        fprintf(out, " (%zu process%s alive at %.2f s)", tree->total_rss_processes,
                mp_plural(tree->total_rss_processes, "", "es"), tree->total_rss_seconds);
    fprintf(out, " exceeds --limit-total-rss %s", l);
    for (size_t i = 0; i < tree->n; i++) {
        const struct mp_report_run *run = tree->procs[i].run;
        if (tree->total_rss_biggest && run->tree_id == tree->total_rss_biggest) {
            fprintf(out, " (the biggest then:");
            write_where(out, run, opt);
            fprintf(out, ")");
        }
    }
    fputc('\n', out);
    return 1;
}
