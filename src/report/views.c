/* memprof: --show (which views the text report has) and --callers (whose
 * callers the callers view shows): parsing and matching. */
#define _GNU_SOURCE
#include "views.h"
#include "format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    unsigned bit;
} views[] = {
    { "summary", MP_VIEW_SUMMARY }, { "top", MP_VIEW_TOP },         { "calls", MP_VIEW_CALLS },
    { "peak", MP_VIEW_PEAK },       { "leaks", MP_VIEW_LEAKS },     { "temporary", MP_VIEW_TEMPORARY },
    { "largest", MP_VIEW_LARGEST }, { "sizes", MP_VIEW_SIZES },     { "threads", MP_VIEW_THREADS },
    { "rate", MP_VIEW_RATE },       { "tree", MP_VIEW_TREE },       { "callers", MP_VIEW_CALLERS },
    { "rss", MP_VIEW_RSS },         { "tables", MP_VIEW_TABLES },
};

const char mp_view_names[] =
    "summary, top, calls, peak, leaks, temporary, largest, sizes, threads, rate, tree, callers, rss, tables";

static unsigned view_bit(const char *name, size_t len)
{
    if (len == 3 && strncmp(name, "all", 3) == 0)
        return MP_VIEWS_ALL;
    if (len == 7 && strncmp(name, "default", 7) == 0)
        return MP_VIEWS_DEFAULT;
    for (size_t i = 0; i < sizeof views / sizeof *views; i++)
        if (strlen(views[i].name) == len && strncmp(views[i].name, name, len) == 0)
            return views[i].bit;
    return 0;
}

int mp_parse_show(const char *list, unsigned *out, char *err, size_t errlen)
{
    unsigned set = 0, add = 0, drop = 0;
    int relative = -1; /* 1: every item is +NAME or -NAME */
    const char *s = list;
    if (!*s) {
        snprintf(err, errlen, "--show takes a list of views such as summary,tree (views: %s, all)", mp_view_names);
        return -1;
    }
    for (;;) {
        size_t len = strcspn(s, ",");
        char sign = len && (*s == '+' || *s == '-') ? *s : 0;
        const char *name = sign ? s + 1 : s;
        size_t nlen = sign ? len - 1 : len;
        unsigned bit = nlen ? view_bit(name, nlen) : 0;
        if (!bit) {
            snprintf(err, errlen, "--show: unknown view '%.*s' (views: %s; all; +VIEW or -VIEW changes the default)",
                     (int)len, s, mp_view_names);
            return -1;
        }
        if (relative >= 0 && relative != (sign != 0)) {
            snprintf(err, errlen, "--show: '%.*s': give either a list of views or +VIEW/-VIEW changes to the "
                                  "default, not both", (int)len, s);
            return -1;
        }
        relative = sign != 0;
        if (sign == '-')
            drop |= bit;
        else if (sign == '+')
            add |= bit;
        else
            set |= bit;
        if (!s[len])
            break;
        s += len + 1;
    }
    *out = relative ? (MP_VIEWS_DEFAULT | add) & ~drop : set;
    if (!*out) {
        snprintf(err, errlen, "--show: '%s' leaves no view to show", list);
        return -1;
    }
    return 0;
}

int mp_callers_target_parse(const char *spec, struct mp_callers_target *t)
{
    memset(t, 0, sizeof *t);
    t->spec = spec;
    const char *colon = strrchr(spec, ':');
    if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
        long v = strlen(colon + 1) <= 9 ? strtol(colon + 1, NULL, 10) : 0;
        if (colon == spec || v <= 0)
            return -1;
        t->file = spec;
        t->file_len = (size_t)(colon - spec);
        t->line = (int)v;
        return 0;
    }
    /* a function: "name", "ns::name", "Class::method(int)"; not "file.c:" */
    return *spec && !(colon && !colon[1]) && !strchr(spec, '\n') ? 0 : -1;
}

int mp_check_callers_spec(const char *spec, char *err, size_t errlen)
{
    struct mp_callers_target t;
    if (mp_callers_target_parse(spec, &t) == 0)
        return 0;
    snprintf(err, errlen, "--callers takes FILE:LINE (such as app.c:24) or a function name, not '%s'", spec);
    return -1;
}

/* Does `path` name the file the target gives: the same path, or a path
 * that ends with "/" and the target's text? */
static int file_matches(const char *path, const struct mp_callers_target *t)
{
    if (!path)
        return 0;
    size_t n = strlen(path);
    if (n < t->file_len || strncmp(path + n - t->file_len, t->file, t->file_len) != 0)
        return 0;
    return n == t->file_len || path[n - t->file_len - 1] == '/' || t->file[0] == '/';
}

static int target_matches(const struct mp_line_stats *l, const struct mp_callers_target *t,
                          const struct mp_report_options *opt)
{
    if (!t->file)
        return strcmp(mp_display_function(l->function, opt->stable), t->spec) == 0;
    return l->line == t->line &&
           (file_matches(l->file, t) || file_matches(mp_display_path(l->file, opt->cwd), t));
}

uint64_t mp_callers_target_mark(const struct mp_profile *p, const struct mp_callers_target *t,
                                const struct mp_report_options *opt, uint8_t *flags)
{
    size_t n = mp_profile_line_count(p);
    for (size_t i = 0; i < n; i++)
        flags[i] = (uint8_t)target_matches(mp_profile_line(p, i), t, opt);
    uint64_t calls = 0;
    for (size_t i = 0; i < mp_profile_stack_count(p); i++) {
        const struct mp_stack_info *s = mp_profile_stack(p, i);
        for (uint32_t j = 0; j < s->n_frames; j++)
            if (flags[s->frame_lines[j]]) {
                calls += s->alloc_calls;
                break;
            }
    }
    return calls;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

void mp_callers_target_hint(const struct mp_profile *p, const struct mp_callers_target *t,
                            const struct mp_report_options *opt, char *buf, size_t len)
{
    if (!t->file) {
        snprintf(buf, len, "(no allocation went through a function of that name)");
        return;
    }
    size_t n = mp_profile_line_count(p), m = 0;
    int *lines = malloc((n ? n : 1) * sizeof *lines);
    struct mp_callers_target any = *t;
    for (size_t i = 0; lines && i < n; i++) {
        const struct mp_line_stats *l = mp_profile_line(p, i);
        any.line = l->line;
        if (l->incl_calls && target_matches(l, &any, opt))
            lines[m++] = l->line;
    }
    if (!m) {
        snprintf(buf, len, "(no line of %.*s allocated)", (int)t->file_len, t->file);
        free(lines);
        return;
    }
    qsort(lines, m, sizeof *lines, cmp_int);
    size_t o = (size_t)snprintf(buf, len, "(lines of %.*s that allocated:", (int)t->file_len, t->file);
    for (size_t i = 0; i < m && o + 16 < len; i++)
        if (i == 0 || lines[i] != lines[i - 1])
            o += (size_t)snprintf(buf + o, len - o, "%s %d", i ? "," : "", lines[i]);
    if (o + 2 < len)
        snprintf(buf + o, len - o, ")");
    free(lines);
}

size_t mp_unmatched_callers(const struct mp_profile *p, const struct mp_report_options *opt, char *err,
                            size_t errlen)
{
    size_t n = mp_profile_line_count(p), bad = 0;
    uint8_t *flags = malloc(n ? n : 1);
    if (!flags)
        return 0;
    for (size_t i = 0; i < opt->n_callers; i++) {
        struct mp_callers_target t;
        if (mp_callers_target_parse(opt->callers[i], &t) != 0 || mp_callers_target_mark(p, &t, opt, flags))
            continue;
        if (!bad++) {
            char hint[256];
            mp_callers_target_hint(p, &t, opt, hint, sizeof hint);
            snprintf(err, errlen, "--callers %s: no allocation went through %s %s", t.spec,
                     t.file ? "that line" : "that function", hint);
        }
    }
    free(flags);
    return bad;
}
