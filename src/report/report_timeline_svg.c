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
#define LEGEND_BOTH 350.0 /* the legend starts this far left of the plot's right end */
#define LEGEND_RSS 160.0  /* (the RSS alone) */
#define FONT_PX 12.0      /* the pictures' font size */
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
        /* (12 above the plot: clear of the top tick label's box) */
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#1f4e79\">RSS</text>\n", pl->x0 - 6,
                pl->y0 - 12);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"start\" fill=\"#8b0000\">heap</text>\n",
                pl->x0 + pl->w + 6, pl->y0 - 12);
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

/* A label's box on the picture: [x, x + w) x [y, y + h). */
struct label_box {
    double x, y, w, h;
};

/* The box of a one-line text of the pictures' font, from left to left +
 * width, with its baseline at `baseline`. */
static struct label_box text_box(double left, double baseline, double width)
{
    return (struct label_box){ left, baseline - MP_SVG_ASCENT * FONT_PX, width,
                               (MP_SVG_ASCENT + MP_SVG_DESCENT) * FONT_PX };
}

/* Do a and b, each grown by `margin`, meet? */
static int boxes_meet(const struct label_box *a, const struct label_box *b, double margin)
{
    return a->x - margin < b->x + b->w && b->x - margin < a->x + a->w && a->y - margin < b->y + b->h &&
           b->y - margin < a->y + a->h;
}

/* Where the peak's label box goes: beside the marker (x, y) and the peak's
 * band (from band_x), on the side with more room, above it when it fits;
 * otherwise the nearest place inside the plot (the picture's other labels
 * are outside it) that meets neither `avoid` (the VmHWM line's label) nor
 * the marker.  Sets box->x, box->y (box->w, box->h given). */
static void place_peak_box(const struct plot *pl, struct label_box *box, double band_x, double x, double y,
                           const struct label_box *avoid)
{
    const double pad = 2;
    double lo_x = pl->x0 + pad, hi_x = pl->x0 + pl->w - pad - box->w;
    double lo_y = pl->y0 + pad, hi_y = pl->y0 + pl->h - pad - box->h;
    int right_first = x < pl->x0 + pl->w * 0.55;
    double beside[2] = { x + 6, band_x - 6 - box->w }; /* right of the marker, left of the band */
    double want_x = right_first ? beside[0] : beside[1], want_y = y - 44; /* the first baseline 30 above */
    struct label_box dot = { x - 4.5, y - 4.5, 9, 9 };
    double best_cost = -1, best_x = lo_x, best_y = lo_y;
    for (double top = lo_y; top <= hi_y + 0.01; top += 2) {
        double lefts[4] = { beside[right_first ? 0 : 1], beside[right_first ? 1 : 0], lo_x, hi_x };
        for (int i = 0; i < 4; i++) {
            struct label_box b = { lefts[i], top, box->w, box->h };
            if (b.x < lo_x - 0.01 || b.x > hi_x + 0.01 || boxes_meet(&b, avoid, 3) || boxes_meet(&b, &dot, 2))
                continue;
            /* nearest to where it is wanted; over the peak's dashed line
             * only when nothing beside it is free */
            double cost = fabs(top - want_y) + fabs(b.x - want_x) * 0.25 +
                          (i >= 2 && b.x < x && x < b.x + b.w ? 400 : 0);
            if (best_cost < 0 || cost < best_cost)
                best_cost = cost, best_x = b.x, best_y = top;
        }
    }
    box->x = best_x;
    box->y = best_y;
}

/* The peak happened after the sample at `from` and by the one at `to`: a
 * band over that interval, a dot at `to` on the heap curve, and the label
 * (kept off `avoid`, the VmHWM line's label). */
static void peak_marker(const struct plot *pl, double from, double to, double v, const struct mp_profile *p,
                        const struct mp_report_options *opt, const struct label_box *avoid)
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
    /* The label, two lines on a white box so curves do not cross it: as
     * wide as the font's widths say (the held line cut to fit the plot) */
    char label[256];
    snprintf(label, sizeof label, "peak heap %s %s", size, when);
    size_t held_max = 90;
    while (held_max > 20 && mp_svg_text_width(held, held_max, FONT_PX, 0) + 8 > pl->w - 8)
        held_max -= 5;
    double width = mp_svg_text_width(label, 0, FONT_PX, 1);
    double w2 = held[0] ? mp_svg_text_width(held, held_max, FONT_PX, 0) : 0;
    width = w2 > width ? w2 : width;
    struct label_box box = { 0, 0, width + 8, held[0] ? 36.0 : 20.0 };
    place_peak_box(pl, &box, x0, x, y, avoid);
    double lx = box.x + 4, ly = box.y + 14; /* the first line's baseline */
    fprintf(out, "<rect class=\"peak-box\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fff\" "
                 "fill-opacity=\"0.85\" rx=\"3\"/>\n", box.x, box.y, box.w, box.h);
    fprintf(out, "<text class=\"peak-label\" x=\"%.1f\" y=\"%.1f\" font-weight=\"bold\" fill=\"#8b0000\">%s</text>\n",
            lx, ly, label);
    if (held[0]) {
        fprintf(out, "<text class=\"peak-line\" x=\"%.1f\" y=\"%.1f\" fill=\"#8b0000\">", lx, ly + 15);
        mp_xml_text(out, held, held_max);
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
    /* just above the plot (the peak RSS line's label may be near the top),
     * ending at the line, or starting there when the line is too far left */
    int end = x + 4 - mp_svg_text_width(what, 0, FONT_PX, 0) >= pl->x0;
    fprintf(pl->out, "<text class=\"exit-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"#333\">%s</text>\n",
            end ? x + 4 : x - 4, pl->y0 - 5, end ? "end" : "start", what);
}

/* The legend, above the plot's right end (the plot itself stays free for
 * the curves and the peak's label). */
static void legend(const struct plot *pl, int heap)
{
    FILE *out = pl->out;
    double right = pl->x0 + pl->w, y = pl->y0 - 30;
    double x = right - (heap ? LEGEND_BOTH : LEGEND_RSS);
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
    double cmd_room = WIDTH - 8 - LEFT - mp_svg_text_width("Memory over time: ", 0, 17, 1);
    size_t cmd_chars = mp_svg_fit_chars(cmd, cmd_room, 17, 1);
    mp_xml_text(out, cmd, cmd_chars && cmd_chars < 70 ? cmd_chars : 70);
    fprintf(out, "</text>\n<text x=\"%.1f\" y=\"46\" fill=\"#444\">", LEFT);
    /* the line under the title ends before the legend on its right (cut
     * short if need be: the outcome is on the plot too) */
    double room = WIDTH - RIGHT - (run->engine_note ? LEGEND_RSS : LEGEND_BOTH) - 12 - LEFT;
    char line[256];
    int at = 0;
    if (!opt->stable) {
        mp_format_size(peak_rss, sizeof peak_rss, (int64_t)run->peak_rss_bytes, opt->precision);
        at += snprintf(line + at, sizeof line - (size_t)at, "peak RSS %s \xc2\xb7 ", peak_rss);
    }
    mp_format_size(size, sizeof size, (int64_t)mp_profile_totals(p)->peak_heap_bytes, opt->precision);
    if (!run->engine_note)
        at += snprintf(line + at, sizeof line - (size_t)at, "peak heap %s \xc2\xb7 ", size);
    snprintf(line + at, sizeof line - (size_t)at, "%s", outcome);
    mp_xml_text(out, line, mp_svg_fit_chars(line, room, FONT_PX, 0));
    static const char not_profiled[] = " \xc2\xb7 heap not profiled: ";
    room -= mp_svg_text_width(line, 0, FONT_PX, 0) + mp_svg_text_width(not_profiled, 0, FONT_PX, 0);
    if (run->engine_note && room >= mp_svg_text_width("MMM...", 0, FONT_PX, 0)) {
        size_t fit = mp_svg_fit_chars(run->engine_note, room, FONT_PX, 0);
        fprintf(out, " \xc2\xb7 <tspan fill=\"#8b0000\">heap not profiled: ");
        mp_xml_text(out, run->engine_note, fit && fit < 60 ? fit : 60);
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
    struct label_box rss_label = { 0, 0, 0, 0 }; /* none */
    if (run->peak_rss_bytes) {
        char text[64], size[32];
        mp_format_size(size, sizeof size, (int64_t)run->peak_rss_bytes, opt->precision);
        snprintf(text, sizeof text, "peak RSS %s (VmHWM)", size);
        double y = py(&pl, &pl.rss, (double)run->peak_rss_bytes), baseline = y - 5 > pl.y0 + 14 ? y - 5 : pl.y0 + 14;
        double width = mp_svg_text_width(text, 0, FONT_PX, 0);
        rss_label = text_box(pl.x0 + pl.w - 4 - width, baseline, width);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1f77b4\" "
                     "stroke-dasharray=\"6 4\"/>\n", pl.x0, y, pl.x0 + pl.w, y);
        fprintf(out, "<text class=\"rss-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#1f4e79\">%s</text>\n",
                pl.x0 + pl.w - 4, baseline, text);
    }
    exit_marker(&pl, t_exit, run);
    if (heap_shown && t->peak_heap_bytes > 0)
        peak_marker(&pl, t_before_peak, t_peak, (double)t->peak_heap_bytes, p, opt, &rss_label);
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
