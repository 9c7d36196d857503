/* memprof: the report formats by name (see formats.h). */
#include "base/count.h"
#include "formats.h"

#include <string.h>

#include "memprof/profile.h"
#include "memprof/run.h"

static const char *const names[] = {
    [MP_FMT_TABLE] = "table", [MP_FMT_JSON] = "json", [MP_FMT_FOLDED] = "folded",
    [MP_FMT_FLAMEGRAPH] = "flamegraph", [MP_FMT_SVG] = "svg", [MP_FMT_MASSIF] = "massif",
    [MP_FMT_PPROF] = "pprof", [MP_FMT_SPEEDSCOPE] = "speedscope", [MP_FMT_HTML] = "html",
};

int mp_format_parse(const char *name)
{
    for (size_t f = 0; f < sizeof names / sizeof *names; f++)
        if (strcmp(name, names[f]) == 0)
            return (int)f;
    return -1;
}

const char *mp_format_name(enum mp_format f)
{
    return (size_t)f < sizeof names / sizeof *names ? names[f] : "?";
}

const char *mp_format_names(void)
{
    return "table, json, folded, flamegraph, svg, massif, pprof, speedscope or html";
}

int mp_format_is_binary(enum mp_format f)
{
    return f == MP_FMT_PPROF;
}

int mp_write_format(FILE *out, enum mp_format f, const struct mp_profile *p, const struct mp_report_run *run,
                    const struct mp_sources *src, const struct mp_report_options *opt)
{
    switch (f) {
    case MP_FMT_JSON: return mp_write_json(out, p, run, src, opt);
    case MP_FMT_FOLDED: return mp_write_folded(out, p, opt);
    case MP_FMT_FLAMEGRAPH: return mp_write_flamegraph(out, p, run, opt);
    case MP_FMT_SVG: return mp_write_timeline_svg(out, p, run, opt);
    case MP_FMT_MASSIF: return mp_write_massif(out, p, run, opt);
    case MP_FMT_PPROF: return mp_write_pprof(out, p, run, opt);
    case MP_FMT_SPEEDSCOPE: return mp_write_speedscope(out, p, run, opt);
    case MP_FMT_HTML: return mp_write_html(out, p, run, src, opt);
    default: return mp_write_text(out, p, run, src, opt);
    }
}

size_t mp_process_tree_find(const struct mp_process_tree *t, int id)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->procs[i].run->tree_id == id)
            return i;
    return t->n;
}

size_t mp_process_tree_picture_image(const struct mp_process_tree *t, int process)
{
    size_t best = process ? mp_process_tree_find(t, process) : t->n;
    if (best < t->n)
        return best;
    best = 0;
    for (size_t i = 1; i < t->n; i++)
        if (mp_profile_totals(t->procs[i].profile)->peak_heap_bytes >
            mp_profile_totals(t->procs[best].profile)->peak_heap_bytes)
            best = i;
    return best;
}

int mp_write_process_tree_format(FILE *out, enum mp_format f, const struct mp_process_tree *t, const struct mp_sources *src,
                         const struct mp_report_options *opt, size_t *shown)
{
    *shown = t->n;
    if (t->n == 1)
        return mp_write_format(out, f, t->procs[0].profile, t->procs[0].run, src, opt);
    switch (f) {
    case MP_FMT_TABLE: return mp_write_process_tree_text(out, t, src, opt);
    case MP_FMT_JSON: return mp_write_process_tree_json(out, t, src, opt);
    case MP_FMT_FOLDED: return mp_write_process_tree_folded(out, t, opt);
    case MP_FMT_HTML: return mp_write_process_tree_html(out, t, src, opt);
    default:
        *shown = mp_process_tree_picture_image(t, opt->process);
        return mp_write_format(out, f, t->procs[*shown].profile, t->procs[*shown].run, src, opt);
    }
}

void mp_note_process_tree_format(enum mp_format f, const struct mp_process_tree *t, size_t shown, int chosen)
{
    if (shown >= t->n)
        return;
    const struct mp_report_run *run = t->procs[shown].run;
    size_t others = 0;
    for (size_t i = 0; i < t->n; i++)
        others += i != shown && !t->procs[i].run->unfollowed;
    fprintf(stderr, "memprof: the %s output shows one process of the tree, #%d", mp_format_name(f), run->tree_id);
    for (char *const *a = run->command; a && *a; a++)
        fprintf(stderr, " %s", *a);
    char n[64];
    fprintf(stderr, " (%s); %s: --process N draws another, the html output shows each\n",
            chosen ? "chosen by --process" : "the highest peak heap", MP_COUNT_NOUN(n, others, "other", "others"));
}

int mp_check_process(const struct mp_process_tree *t, int process, char *err, size_t len)
{
    if (!process || mp_process_tree_find(t, process) < t->n)
        return 0;
    if (t->n == 1)
        snprintf(err, len, "--process %d: the report has one process, #%d: drop --process", process,
                 t->procs[0].run->tree_id ? t->procs[0].run->tree_id : 1);
    else
        snprintf(err, len, "--process %d: the tree has no process #%d (its images are #%d to #%d; the text report "
                 "lists them)", process, process, t->procs[0].run->tree_id, t->procs[t->n - 1].run->tree_id);
    return -1;
}

int mp_parse_weight(const char *s, enum mp_weight *out, const char *usage)
{
    int w = mp_weight_parse(s);
    if (w < 0) {
        fprintf(stderr, "memprof: unknown weight '%s': use bytes, calls, peak, leaked or temporary\n%s", s, usage);
        return -1;
    }
    *out = (enum mp_weight)w;
    return 0;
}

int mp_parse_frames(const char *s, enum mp_frame_names *out, const char *usage)
{
    if (strcmp(s, "line") == 0)
        *out = MP_FRAMES_LINE;
    else if (strcmp(s, "function") == 0)
        *out = MP_FRAMES_FUNCTION;
    else {
        fprintf(stderr, "memprof: unknown frame naming '%s': use line (function (file:line)) or function\n%s", s,
                usage);
        return -1;
    }
    return 0;
}
