/* memprof: the report formats by name (see formats.h). */
#include "formats.h"

#include <string.h>

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
