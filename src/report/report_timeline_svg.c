/* memprof: the timeline picture (memprof plot, --svg, --format=svg): RSS
 * and heap over time in one self-contained SVG, like `mprof plot`.
 *
 * - RSS (blue) is the sampled resident set size; the dashed line is the
 *   kernel's exact peak (VmHWM).
 * - Heap (red) is the live requested bytes.  Samples come every --interval,
 *   and each carries the most the heap held since the previous one
 *   (heap_max_bytes), drawn as a spike at that sample: a peak between two
 *   samples is never lost.
 * - The heap peak is marked where it happened (the first sample whose
 *   interval held it) and labelled with the line that held most then; the
 *   exit (or detach) is marked at the last sample.
 * - Line mode (--function): one lane per function under the axis, with a bar
 *   for each span in which it ran (mprof's brackets).
 * - Each curve is cut to at most two points per pixel column, keeping each
 *   column's lowest and highest value, so a 2-hour run stays a few thousand
 *   points and its extremes (the peak among them) stay drawn.
 *
 * Times are taken in whole microseconds (mp_time_us), as the JSON report
 * keeps them, so the picture drawn at record time and the one drawn from
 * the saved JSON are the same bytes.  Class names on the labels (ytick,
 * xtick, peak-label, exit-label, span) are for tests and style sheets. */
#include "memprof/report.h"
#include "format.h"
#include "pictures.h"
#include "svg.h"
#include "profile/tables.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 960
#define LEFT 84.0
#define RIGHT 72.0
#define TOP 74.0
#define PLOT_H 360.0
#define LANE_H 20.0
#define MAX_LANES 8
#define FEW_SAMPLES 60    /* at most this many: each sample gets a dot */

struct point {
    double t, v; /* ns, bytes */
};

/* One y axis: bytes at the top of the plot, and its ticks. */
struct axis {
    double max;
    struct mp_ticks ticks;
};

struct plot {
    FILE *out;
    double x0, y0, w, h;
    double t_max;        /* ns at the right edge */
    struct mp_ticks time;
    struct axis rss;     /* the left axis */
    struct axis heap;    /* the right axis when the heap is drawn to its own scale, else rss's */
    int heap_own_axis;
};

static double px(const struct plot *pl, double t) { return pl->x0 + pl->w * t / pl->t_max; }
static double py(const struct plot *pl, const struct axis *a, double v) { return pl->y0 + pl->h - pl->h * v / a->max; }
static double sample_ns(uint64_t ns) { return (double)mp_time_us(ns) * 1000.0; }

/* An axis from 0 to a round number above `top` bytes. */
static void make_axis(struct axis *a, double top)
{
    if (!(top > 0))
        top = 1024;
    mp_ticks_bytes(&a->ticks, top * 1.08, 6);
    double step = a->ticks.step * a->ticks.unit;
    a->max = ceil(top * 1.08 / step) * step;
    a->ticks.count = (int)floor(a->max / step + 0.5) + 1;
}

/* Keeps, per pixel column, the lowest and the highest point (in time
 * order), and the first and last point of all; returns how many are left
 * in pts. */
static size_t downsample(const struct plot *pl, struct point *pts, size_t n)
{
    size_t columns = (size_t)pl->w;
    if (n <= 2 * columns + 2)
        return n;
    size_t o = 0, i = 0;
    pts[o++] = pts[i++];
    while (i < n - 1) {
        size_t col = (size_t)(px(pl, pts[i].t) - pl->x0);
        size_t lo = i, hi = i, j = i;
        for (; j < n - 1 && (size_t)(px(pl, pts[j].t) - pl->x0) == col; j++) {
            if (pts[j].v < pts[lo].v)
                lo = j;
            if (pts[j].v > pts[hi].v)
                hi = j;
        }
        struct point a = pts[lo < hi ? lo : hi], b = pts[lo < hi ? hi : lo];
        pts[o++] = a;
        if (lo != hi)
            pts[o++] = b;
        i = j;
    }
    pts[o++] = pts[n - 1];
    return o;
}

static void curve(const struct plot *pl, const struct axis *a, const struct point *pts, size_t n, const char *colour)
{
    if (n == 0)
        return;
    FILE *out = pl->out;
    fprintf(out, "<path fill=\"%s\" fill-opacity=\"0.16\" stroke=\"none\" d=\"M%.1f %.1f", colour, px(pl, pts[0].t),
            py(pl, a, 0));
    for (size_t i = 0; i < n; i++)
        fprintf(out, " L%.1f %.1f", px(pl, pts[i].t), py(pl, a, pts[i].v));
    fprintf(out, " L%.1f %.1f Z\"/>\n", px(pl, pts[n - 1].t), py(pl, a, 0));
    fprintf(out, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" stroke-linejoin=\"round\" d=\"", colour);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%.1f %.1f", i ? " L" : "M", px(pl, pts[i].t), py(pl, a, pts[i].v));
    fprintf(out, "\"/>\n");
}

static void dots(const struct plot *pl, const struct axis *a, const struct point *pts, size_t n, const char *colour)
{
    for (size_t i = 0; i < n; i++)
        fprintf(pl->out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\" fill=\"%s\"/>\n", px(pl, pts[i].t),
                py(pl, a, pts[i].v), colour);
}

/* Tick labels of one y axis: on the left (class ytick) or the right
 * (class ytick-heap), in the axis' colour when there are two. */
static void y_labels(const struct plot *pl, const struct axis *a, int right, const char *colour)
{
    for (int i = 0; i < a->ticks.count; i++) {
        double y = py(pl, a, i * a->ticks.step * a->ticks.unit);
        fprintf(pl->out, "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"%s\">%.*f %s</text>\n",
                right ? "ytick-heap" : "ytick", right ? pl->x0 + pl->w + 6 : pl->x0 - 6, y + 4,
                right ? "start" : "end", colour, a->ticks.decimals, i * a->ticks.step, a->ticks.suffix);
    }
}

static void axes(const struct plot *pl)
{
    const struct mp_ticks *xt = &pl->time;
    FILE *out = pl->out;
    const struct axis *a = &pl->rss;
    for (int i = 0; i < a->ticks.count; i++) {
        double y = py(pl, a, i * a->ticks.step * a->ticks.unit);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", pl->x0, y,
                pl->x0 + pl->w, y);
    }
    y_labels(pl, &pl->rss, 0, pl->heap_own_axis ? "#1f4e79" : "#222");
    if (pl->heap_own_axis) {
        y_labels(pl, &pl->heap, 1, "#8b0000");
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#1f4e79\">RSS</text>\n", pl->x0 - 6,
                pl->y0 - 8);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"start\" fill=\"#8b0000\">heap</text>\n",
                pl->x0 + pl->w + 6, pl->y0 - 8);
    }
    for (int i = 0; i < xt->count; i++) {
        double x = px(pl, i * xt->step * xt->unit);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", x, pl->y0, x,
                pl->y0 + pl->h);
        fprintf(out, "<text class=\"xtick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.*f</text>\n", x,
                pl->y0 + pl->h + 16, xt->decimals, i * xt->step);
    }
    fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888\"/>\n",
            pl->x0, pl->y0, pl->w, pl->h);
    fprintf(out, "<text class=\"xtitle\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#444\">time since start "
                 "(%s)</text>\n", pl->x0 + pl->w / 2, pl->y0 + pl->h + 34, xt->suffix);
}

/* The line holding the most at the peak: "demo.c:41 (build_table) held 12.5 KiB". */
static void peak_line_text(char *buf, size_t len, const struct mp_profile *p, const struct mp_report_options *opt)
{
    size_t n;
    size_t *idx = mp_lines_sorted(p, MP_BY_PEAK, &n);
    buf[0] = '\0';
    if (idx && n) {
        const struct mp_line_stats *l = mp_profile_line(p, idx[0]);
        char size[32];
        mp_format_size(size, sizeof size, (int64_t)l->peak_bytes, opt->precision);
        const char *fn = mp_display_function(l->function, opt->stable);
        const char *path = l->file ? mp_display_path(l->file, opt->cwd) : NULL;
        if (path && strlen(path) > 40 && strrchr(path, '/'))
            path = strrchr(path, '/') + 1; /* a long path: its file name is enough here */
        if (l->file)
            snprintf(buf, len, "%s:%d (%s) held %s", path, l->line, fn, size);
        else
            snprintf(buf, len, "%s held %s", fn, size);
    }
    free(idx);
}

/* The peak happened after the sample at `from` and by the one at `to`: a
 * band over that interval, a dot at `to` on the heap curve, and the label. */
static void peak_marker(const struct plot *pl, double from, double to, double v, const struct mp_profile *p,
                        const struct mp_report_options *opt)
{
    FILE *out = pl->out;
    char size[32], when[96], a[32], b[32], held[1024];
    mp_format_size(size, sizeof size, (int64_t)mp_profile_totals(p)->peak_heap_bytes, opt->precision);
    mp_format_time_on(b, sizeof b, to, &pl->time);
    double x0 = px(pl, from), x = px(pl, to), y = py(pl, &pl->heap, v);
    if (x - x0 >= 3) {
        mp_format_time_on(a, sizeof a, from, &pl->time);
        snprintf(when, sizeof when, "between %s and %s", a, b);
    } else {
        snprintf(when, sizeof when, "at %s", b);
    }
    peak_line_text(held, sizeof held, p, opt);
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#b22222\" stroke-dasharray=\"3 3\"/>\n",
            x, y, x, pl->y0 + pl->h);
    fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"#b22222\" stroke=\"#fff\"/>\n", x, y);
    /* The label: on the side with more room, above the marker when it fits
     * (under it otherwise), on a white box so curves do not cross it. */
    char label[256];
    snprintf(label, sizeof label, "peak heap %s %s", size, when);
    size_t held_chars = 0;
    for (const unsigned char *c = (const unsigned char *)held; *c; c++)
        held_chars += (*c & 0xc0) != 0x80;
    double width = (double)strlen(label) * 7.2, w2 = (double)(held_chars > 90 ? 90 : held_chars) * 6.6;
    width = w2 > width ? w2 : width;
    int right = x < pl->x0 + pl->w * 0.55;
    double lx = right ? x + 10 : x0 - 10;
    double ly = y - 30 > pl->y0 + 16 ? y - 30 : y + 22; /* baseline of the first line */
    if (ly > pl->y0 + pl->h - 24)
        ly = pl->y0 + pl->h - 24;
    /* a peak interval wide enough to leave no room on either side: the
     * label goes over the band, inside the picture */
    /* (from the picture's edge, the text running inward: the box's width
     * is an estimate) */
    if (!right && lx - width - 4 < 2)
        right = 1, lx = pl->x0 + 6;
    else if (right && lx + width + 4 > WIDTH - 2)
        right = 0, lx = pl->x0 + pl->w - 6;
    double box_x = right ? lx - 4 : lx - width - 4;
    fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fff\" fill-opacity=\"0.85\" "
                 "rx=\"3\"/>\n", box_x, ly - 14, width + 8, held[0] ? 36.0 : 20.0);
    fprintf(out, "<text class=\"peak-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-weight=\"bold\" "
                 "fill=\"#8b0000\">%s</text>\n",
            lx, ly, right ? "start" : "end", label);
    if (held[0]) {
        fprintf(out, "<text class=\"peak-line\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"#8b0000\">", lx, ly + 15,
                right ? "start" : "end");
        mp_xml_text(out, held, 90);
        fprintf(out, "</text>\n");
    }
}

static void exit_marker(const struct plot *pl, double t, const struct mp_report_run *run)
{
    char what[96];
    mp_run_outcome(what, sizeof what, run);
    double x = px(pl, t);
    fprintf(pl->out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\" stroke-width=\"1.2\"/>\n",
            x, pl->y0, x, pl->y0 + pl->h);
    /* just above the plot: the peak RSS line's label may be near the top */
    fprintf(pl->out, "<text class=\"exit-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#333\">%s</text>\n",
            x + 4, pl->y0 - 5, what);
}

/* The legend, above the plot's right end (the plot itself stays free for
 * the curves and the peak's label). */
static void legend(const struct plot *pl, int heap)
{
    FILE *out = pl->out;
    double right = pl->x0 + pl->w, y = pl->y0 - 30;
    double x = heap ? right - 350 : right - 160;
    fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"16\" height=\"4\" fill=\"#1f77b4\"/><text x=\"%.1f\" "
                 "y=\"%.1f\">RSS (resident memory)</text>\n", x, y - 4, x + 22, y);
    if (heap)
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"16\" height=\"4\" fill=\"#d62728\"/><text x=\"%.1f\" "
                     "y=\"%.1f\">heap (live requested bytes)</text>\n", x + 178, y - 4, x + 200, y);
}

static void lanes(const struct plot *pl, const struct mp_report_run *run, double top)
{
    FILE *out = pl->out;
    size_t n = run->n_function_spans < MAX_LANES ? run->n_function_spans : MAX_LANES;
    for (size_t f = 0; f < n; f++) {
        const struct mp_function_spans *fs = &run->function_spans[f];
        double y = top + (double)f * LANE_H;
        fprintf(out, "<g class=\"lane\"><title>");
        mp_xml_text(out, fs->function, 0);
        fprintf(out, ": %" PRIu64 " call%s (line mode)</title>\n", fs->calls, mp_plural(fs->calls, "", "s"));
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f3f3f3\"/>\n", pl->x0, y,
                pl->w, LANE_H - 4);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#444\">", pl->x0 - 6, y + 12);
        mp_xml_text(out, fs->function, 13);
        fprintf(out, "</text>\n");
        for (size_t i = 0; i < fs->n_spans; i++) {
            double a = px(pl, sample_ns(fs->spans[i].start_ns)), b = px(pl, sample_ns(fs->spans[i].end_ns));
            char from[32], to[32];
            mp_format_time_on(from, sizeof from, sample_ns(fs->spans[i].start_ns), &pl->time);
            mp_format_time_on(to, sizeof to, sample_ns(fs->spans[i].end_ns), &pl->time);
            fprintf(out, "<rect class=\"span\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#6a3d9a\">"
                         "<title>", a, y + 2, b - a < 1.5 ? 1.5 : b - a, LANE_H - 8);
            mp_xml_text(out, fs->function, 0);
            fprintf(out, " ran from %s to %s</title></rect>\n", from, to);
        }
        fprintf(out, "</g>\n");
    }
    if (run->n_function_spans > n)
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#444\">and %zu more functions (see the JSON report)</text>\n",
                pl->x0, top + (double)n * LANE_H + 12, run->n_function_spans - n);
}

static void header(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                   const struct mp_report_options *opt, double height)
{
    char cmd[512], size[32], outcome[96], peak_rss[32];
    mp_run_command(cmd, sizeof cmd, run);
    mp_run_outcome(outcome, sizeof outcome, run);
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d %.0f\" "
                 "font-family=\"DejaVu Sans, Verdana, Arial, sans-serif\" font-size=\"12\">\n",
            WIDTH, height, WIDTH, height);
    fprintf(out, "<title>memprof: memory over time: ");
    mp_xml_text(out, cmd, 200);
    fprintf(out, "</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n");
    fprintf(out, "<text x=\"%.1f\" y=\"26\" font-size=\"17\" font-weight=\"bold\">Memory over time: ", LEFT);
    mp_xml_text(out, cmd, 70);
    fprintf(out, "</text>\n<text x=\"%.1f\" y=\"46\" fill=\"#444\">", LEFT);
    mp_format_size(size, sizeof size, (int64_t)mp_profile_totals(p)->peak_heap_bytes, opt->precision);
    if (!opt->stable) {
        mp_format_size(peak_rss, sizeof peak_rss, (int64_t)run->peak_rss_bytes, opt->precision);
        fprintf(out, "peak RSS %s \xc2\xb7 ", peak_rss);
    }
    if (!run->engine_note)
        fprintf(out, "peak heap %s \xc2\xb7 ", size);
    fprintf(out, "%s", outcome);
    if (run->engine_note) {
        fprintf(out, " \xc2\xb7 <tspan fill=\"#8b0000\">heap not profiled: ");
        mp_xml_text(out, run->engine_note, 60);
        fprintf(out, "</tspan>");
    }
    fprintf(out, "</text>\n");
}

int mp_write_timeline_element(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                              const struct mp_report_options *opt)
{
    const struct mp_sample *s;
    size_t n = opt->stable ? 0 : mp_profile_timeline(p, &s);
    size_t n_lanes = opt->stable ? 0 : run->n_function_spans;
    if (n_lanes > MAX_LANES)
        n_lanes = MAX_LANES + 1; /* the "and N more" line */
    double lanes_top = TOP + PLOT_H + 48;
    double height = lanes_top + (double)n_lanes * LANE_H + 16;
    struct point *rss = malloc((n ? n : 1) * sizeof *rss), *heap = malloc((2 * n + 1) * sizeof *heap);
    if (!rss || !heap) {
        free(rss);
        free(heap);
        return -1;
    }
    header(out, p, run, opt, height);
    struct plot pl = { .out = out, .x0 = LEFT, .y0 = TOP, .w = WIDTH - LEFT - RIGHT, .h = PLOT_H, .t_max = 1 };
    if (n == 0) {
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888\"/>\n",
                pl.x0, pl.y0, pl.w, pl.h);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"15\">%s</text>\n",
                pl.x0 + pl.w / 2, pl.y0 + pl.h / 2,
                opt->stable ? "No timeline: --stable reports leave times out"
                            : "No timeline: no RSS sample was taken");
        fprintf(out, "</svg>\n");
        free(rss);
        free(heap);
        fflush(out);
        return ferror(out) ? -1 : 0;
    }
    const struct mp_totals *t = mp_profile_totals(p);
    int heap_shown = run->engine_note == NULL;
    double t_end = 0, t_exit = 0, rss_top = (double)run->peak_rss_bytes, heap_top = (double)t->peak_heap_bytes;
    double t_peak = 0, t_before_peak = 0, v_peak = -1;
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) {
        double at = sample_ns(s[i].time_ns);
        rss[i] = (struct point){ at, (double)s[i].rss_bytes };
        if (heap_shown && s[i].heap_max_bytes > s[i].heap_bytes)
            heap[nh++] = (struct point){ at, (double)s[i].heap_max_bytes };
        if (heap_shown)
            heap[nh++] = (struct point){ at, (double)s[i].heap_bytes };
        if ((double)s[i].heap_max_bytes > v_peak) { /* the first sample whose interval held the most */
            v_peak = (double)s[i].heap_max_bytes;
            t_peak = at;
            t_before_peak = i ? sample_ns(s[i - 1].time_ns) : at;
        }
        t_exit = t_end = at > t_end ? at : t_end;
        rss_top = (double)s[i].rss_bytes > rss_top ? (double)s[i].rss_bytes : rss_top;
        heap_top = (double)s[i].heap_max_bytes > heap_top ? (double)s[i].heap_max_bytes : heap_top;
    }
    for (size_t f = 0; f < run->n_function_spans; f++)
        for (size_t i = 0; i < run->function_spans[f].n_spans; i++)
            if (sample_ns(run->function_spans[f].spans[i].end_ns) > t_end)
                t_end = sample_ns(run->function_spans[f].spans[i].end_ns);
    /* A heap much smaller than RSS gets its own scale on the right, or its
     * curve would be a flat line at the bottom. */
    pl.heap_own_axis = heap_shown && heap_top > 0 && heap_top * 4 < rss_top;
    make_axis(&pl.rss, pl.heap_own_axis || !heap_shown || heap_top < rss_top ? rss_top : heap_top);
    if (pl.heap_own_axis)
        make_axis(&pl.heap, heap_top);
    else
        pl.heap = pl.rss;
    pl.t_max = (t_end > 0 ? t_end : 1000) * 1.03;
    mp_ticks_time(&pl.time, pl.t_max, 8);
    axes(&pl);
    if (heap_shown && t->peak_heap_bytes > 0 && px(&pl, t_peak) - px(&pl, t_before_peak) >= 3)
        fprintf(out, "<rect class=\"peak-band\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#d62728\" "
                     "fill-opacity=\"0.08\"/>\n",
                px(&pl, t_before_peak), pl.y0, px(&pl, t_peak) - px(&pl, t_before_peak), pl.h);
    size_t n_rss = downsample(&pl, rss, n);
    curve(&pl, &pl.rss, rss, n_rss, "#1f77b4");
    if (n <= FEW_SAMPLES)
        dots(&pl, &pl.rss, rss, n_rss, "#1f77b4");
    if (heap_shown) {
        size_t n_heap = downsample(&pl, heap, nh);
        curve(&pl, &pl.heap, heap, n_heap, "#d62728");
        if (n <= FEW_SAMPLES)
            dots(&pl, &pl.heap, heap, n_heap, "#d62728");
    }
    if (run->peak_rss_bytes) {
        char size[32];
        mp_format_size(size, sizeof size, (int64_t)run->peak_rss_bytes, opt->precision);
        double y = py(&pl, &pl.rss, (double)run->peak_rss_bytes);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1f77b4\" "
                     "stroke-dasharray=\"6 4\"/>\n", pl.x0, y, pl.x0 + pl.w, y);
        fprintf(out, "<text class=\"rss-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#1f4e79\">peak RSS %s "
                     "(VmHWM)</text>\n", pl.x0 + pl.w - 4, y - 5, size);
    }
    exit_marker(&pl, t_exit, run);
    if (heap_shown && t->peak_heap_bytes > 0)
        peak_marker(&pl, t_before_peak, t_peak, (double)t->peak_heap_bytes, p, opt);
    legend(&pl, heap_shown);
    lanes(&pl, run, lanes_top);
    fprintf(out, "</svg>\n");
    free(rss);
    free(heap);
    fflush(out);
    return ferror(out) ? -1 : 0;
}

int mp_write_timeline_svg(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                          const struct mp_report_options *opt)
{
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    return mp_write_timeline_element(out, p, run, opt);
}
