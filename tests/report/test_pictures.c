/* memprof tests: the pictures, looked at.  The timeline (memprof plot,
 * --svg), the flame graph (--format=flamegraph) and the HTML report are
 * rendered in headless Chromium (scripts/chromium) and the screenshots
 * read back: not blank, and the curves' and frames' colours are there.
 * Their numbers (peak label, the line that held most, axis ranges, frame
 * widths) are checked against what the fixtures' sources say
 * (tests/fixtures/README) and against the JSON report.  The flame graph's
 * script runs in Chromium too: a click zooms, the search matches.  Two
 * synthetic reports stand for a 2-hour run and a 1 ms one. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static char *tmp_path(const char *name)
{
    char *p = NULL;
    ck_assert_int_ge(asprintf(&p, "%s/%s", test_tmp_dir(), name), 0);
    return p;
}

/* Runs memprof with argv (NULL-terminated, without argv[0]); its status. */
static int memprof(char *const *args, struct run_output *o)
{
    char *argv[64] = { (char *)memprof_path() };
    size_t n = 1;
    for (; args[n - 1]; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 300, o), 0);
    return o->status;
}

static void memprof_ok(char *const *args)
{
    struct run_output o;
    int st = memprof(args, &o);
    ck_assert_msg(st == 0, "memprof %s ... exited %d: %s", args[0], st, o.err);
    run_output_free(&o);
}

static void same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = read_file(a, &la), *y = read_file(b, &lb);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(y);
    ck_assert_msg(la == lb && memcmp(x, y, la) == 0, "%s and %s differ", a, b);
    free(x);
    free(y);
}

/* The text of the n-th <text class="CLS" ...>...</text> (0-based), entities
 * left as they are; NULL if there is none.  malloc'd. */
static char *svg_text(const char *svg, const char *cls, int nth)
{
    char key[128];
    snprintf(key, sizeof key, "<text class=\"%s\"", cls);
    const char *at = svg;
    for (int i = 0; (at = strstr(at, key)); i++, at++) {
        if (i < nth)
            continue;
        const char *start = strchr(at, '>'), *end = start ? strstr(start, "</text>") : NULL;
        ck_assert_ptr_nonnull(end);
        return strndup(start + 1, (size_t)(end - start - 1));
    }
    return NULL;
}

static int svg_count(const char *svg, const char *needle)
{
    int n = 0;
    for (const char *at = svg; (at = strstr(at, needle)); at++)
        n++;
    return n;
}

/* What a user reads: 15984 -> "15.6 KiB" (binary units, one decimal). */
static void human(char *buf, size_t len, double bytes)
{
    static const char *const units[] = { "KiB", "MiB", "GiB" };
    if (bytes < 1024) {
        snprintf(buf, len, "%.0f B", bytes);
        return;
    }
    int u = 0;
    double v = bytes / 1024;
    while (u < 2 && v >= 1023.95)
        v /= 1024, u++;
    snprintf(buf, len, "%.1f %s", v, units[u]);
}

/* The tick labels of an axis ("0 KiB", "5 KiB", ...): their count, the top
 * one's value times its unit in bytes. */
static double axis_top_bytes(const char *svg, const char *cls, int *count)
{
    double top = 0;
    int n = 0;
    for (char *t; (t = svg_text(svg, cls, n)); n++) {
        char unit[16] = "";
        double v = 0;
        ck_assert_msg(sscanf(t, "%lf %15s", &v, unit) == 2, "tick label '%s'", t);
        double scale = !strcmp(unit, "B") ? 1 : !strcmp(unit, "KiB") ? 1024 : !strcmp(unit, "MiB") ? 1048576
                       : !strcmp(unit, "GiB") ? 1073741824.0 : -1;
        ck_assert_msg(scale > 0, "tick label '%s': unknown unit", t);
        top = v * scale;
        free(t);
    }
    *count = n;
    return top;
}

/* The fixture's line with the most bytes allocated (by its @expect). */
static const struct fixture_line *biggest_line(const struct fixture_spec *f)
{
    const struct fixture_line *best = NULL;
    for (int i = 0; i < f->n_lines; i++)
        if (f->lines[i].has_expect && (!best || f->lines[i].allocated_bytes > best->allocated_bytes))
            best = &f->lines[i];
    ck_assert_ptr_nonnull(best);
    return best;
}

/* The screenshot is a picture, not a blank page: some ink, several
 * colours, and `colour` (a curve's, a frame's) drawn on at least `min`
 * pixels. */
static void check_screenshot(const char *png, const unsigned *colours, size_t n_colours, long min)
{
    struct picture img;
    picture_load(png, &img);
    long ink = picture_count_ink(&img, 0xfdf6e8), total = (long)img.width * img.height;
    ck_assert_msg(ink > total / 50, "%s looks blank: %ld of %ld pixels drawn", png, ink, total);
    ck_assert_msg(picture_distinct_colours(&img, 1000) >= 20, "%s has almost no colours", png);
    for (size_t i = 0; i < n_colours; i++)
        ck_assert_msg(picture_count_near(&img, colours[i], 40) >= min, "%s: colour #%06x is on %ld pixels, want >= %ld",
                      png, colours[i], picture_count_near(&img, colours[i], 40), min);
    picture_free(&img);
}

/* ------------------------------------------------------------------------ */
/* The timeline of a real run                                                 */
/* ------------------------------------------------------------------------ */

START_TEST(timeline_demo)
{
    need_program("chromium", "chromium");
    struct fixture_spec f;
    fixture_parse("demo.c", &f);
    const char *exe = build_fixture("tests/fixtures/demo.c", "gcc", "-O0 -g", "pic-demo");
    ck_assert_ptr_nonnull(exe);
    char *json = tmp_path("pic-demo.json"), *svg = tmp_path("pic-demo.svg"), *plot = tmp_path("pic-demo-plot.svg");
    char *png = tmp_path("pic-demo.png");
    char *run[] = { "--interval", "1ms", "-o", "/dev/null", "--json", json, "--svg", svg, (char *)exe, NULL };
    memprof_ok(run);
    /* memprof plot draws the same picture from the saved report */
    char *replot[] = { "plot", json, "-o", plot, NULL };
    memprof_ok(replot);
    same_file(svg, plot);

    char *text = read_file(svg, NULL);
    json_error_t je;
    json_t *root = json_load_file(json, 0, &je);
    ck_assert_msg(root != NULL, "%s: %s", json, je.text);
    /* demo.c: every block is live when report() allocates its line buffer,
     * so the peak is everything the program allocates (@total). */
    char want[256], size[32], held[32];
    human(size, sizeof size, (double)f.total_bytes);
    ck_assert_uint_eq(summary_u64(root, "peak_heap_bytes"), f.total_bytes);
    char *label = svg_text(text, "peak-label", 0);
    ck_assert_ptr_nonnull(label);
    snprintf(want, sizeof want, "peak heap %s ", size);
    ck_assert_msg(strncmp(label, want, strlen(want)) == 0, "peak label '%s', want '%s...'", label, want);
    /* ... and the line holding most then: the biggest @expect line, all of
     * whose blocks are live at that moment */
    const struct fixture_line *big = biggest_line(&f);
    human(held, sizeof held, (double)big->allocated_bytes);
    char *line = svg_text(text, "peak-line", 0);
    ck_assert_ptr_nonnull(line);
    snprintf(want, sizeof want, "tests/fixtures/demo.c:%d (build_table) held %s", big->line, held);
    ck_assert_str_eq(line, want);
    char *exit_label = svg_text(text, "exit-label", 0);
    ck_assert_str_eq(exit_label, "exit status 0");

    /* The time axis: its unit follows the run's length (the last sample,
     * plus 3%), its ticks cover it. */
    json_t *tl = json_object_get(root, "timeline");
    ck_assert_uint_ge(json_array_size(tl), 2);
    double last = json_number_value(json_array_get(json_array_get(tl, json_array_size(tl) - 1), 0));
    double span = last * 1.03;
    const char *unit = span < 2e-3 ? "\xc2\xb5s" : span < 2 ? "ms" : "s";
    double scale = span < 2e-3 ? 1e-6 : span < 2 ? 1e-3 : 1;
    char *xtitle = svg_text(text, "xtitle", 0);
    snprintf(want, sizeof want, "time since start (%s)", unit);
    ck_assert_str_eq(xtitle, want);
    int nx = 0;
    for (char *t; (t = svg_text(text, "xtick", nx)); nx++)
        free(t);
    ck_assert_int_ge(nx, 3);
    char *t0 = svg_text(text, "xtick", 0), *t1 = svg_text(text, "xtick", 1), *tn = svg_text(text, "xtick", nx - 1);
    double step = (atof(t1) - atof(t0)) * scale;
    ck_assert(atof(t0) == 0);
    ck_assert_msg(atof(tn) * scale <= span * (1 + 1e-9) && atof(tn) * scale + step > span,
                  "ticks end at %s %s for a run of %g s", tn, unit, span);
    /* The RSS axis reaches above the exact peak RSS, the heap's above the
     * peak heap (its own scale: 15.6 KiB next to megabytes of RSS). */
    int ny, nh;
    double rss_top = axis_top_bytes(text, "ytick", &ny), heap_top = axis_top_bytes(text, "ytick-heap", &nh);
    double peak_rss = (double)summary_u64(root, "peak_rss_bytes");
    ck_assert_msg(rss_top >= peak_rss && rss_top <= 2.5 * peak_rss, "RSS axis to %g for a peak of %g", rss_top,
                  peak_rss);
    ck_assert_msg(heap_top >= (double)f.total_bytes && heap_top <= 2.5 * (double)f.total_bytes,
                  "heap axis to %g for a peak of %" PRIu64, heap_top, f.total_bytes);
    ck_assert_int_ge(ny, 4);
    ck_assert_int_ge(nh, 4);
    /* Self-contained: nothing fetched, no script needed */
    ck_assert_int_eq(svg_count(text, "href"), 0);
    ck_assert_int_eq(svg_count(text, "<script"), 0);

    chromium_screenshot(svg, png, 980, 520);
    const unsigned colours[] = { 0x1f77b4, 0xd62728 }; /* the RSS and heap curves */
    check_screenshot(png, colours, 2, 100);
    free(label);
    free(line);
    free(exit_label);
    free(xtitle);
    free(t0);
    free(t1);
    free(tn);
    free(text);
    json_decref(root);
    free(json);
    free(svg);
    free(plot);
    free(png);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Synthetic runs: two hours, one millisecond                                 */
/* ------------------------------------------------------------------------ */

/* A report of one allocation of `peak` bytes, with the given timeline. */
static void write_report(const char *path, uint64_t peak, const double *t, const uint64_t *rss, const uint64_t *heap,
                         const uint64_t *heap_max, size_t n)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    uint64_t rss_peak = 0;
    for (size_t i = 0; i < n; i++)
        rss_peak = rss[i] > rss_peak ? rss[i] : rss_peak;
    fprintf(f,
            "{\"schema\": 1, \"stable\": false, \"command\": [\"./long-run\"], \"exit\": {\"code\": 0},\n"
            " \"summary\": {\"peak_rss_bytes\": %" PRIu64 ", \"wall_seconds\": %.6f, \"heap_profiled\": true, "
            "\"heap_note\": null, \"engine\": \"agent\", \"alloc_calls\": 1, \"allocated_bytes\": %" PRIu64 ", "
            "\"free_calls\": 1, \"freed_bytes\": %" PRIu64 ", \"peak_heap_bytes\": %" PRIu64 ", \"leaked_bytes\": 0, "
            "\"leaked_blocks\": 0, \"temporary_calls\": 0, \"events_lost\": 0, \"unknown_frees\": 0, "
            "\"reused_live_blocks\": 0, \"truncated_stacks\": 0, \"agent_bytes\": 0},\n"
            " \"lines\": [{\"file\": \"a.c\", \"line\": 3, \"function\": \"f\", \"alloc_calls\": 1, \"allocated_bytes\": "
            "%" PRIu64 ", \"free_calls\": 1, \"freed_bytes\": %" PRIu64 ", \"peak_bytes\": %" PRIu64
            ", \"leaked_bytes\": 0, \"leaked_blocks\": 0, \"temporary_calls\": 0}],\n"
            " \"tables\": [],\n"
            " \"peak\": {\"heap_bytes\": %" PRIu64 ", \"reached_at\": {\"file\": \"a.c\", \"line\": 3, \"function\": "
            "\"f\"}, \"stack\": [{\"file\": \"a.c\", \"line\": 3, \"function\": \"f\"}], \"user_frame\": 0},\n"
            " \"leaks\": [],\n \"timeline\": [",
            rss_peak, t[n - 1], peak, peak, peak, peak, peak, peak, peak);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s[%.6f, %" PRIu64 ", %" PRIu64 "]", i ? ", " : "", t[i], rss[i], heap[i]);
    fprintf(f, "],\n \"timeline_heap_max\": [");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%" PRIu64, i ? ", " : "", heap_max[i]);
    fprintf(f, "],\n \"rss_at_exit\": null,\n \"frames\": [{\"file\": \"a.c\", \"line\": 3, \"function\": \"f\"}],\n"
               " \"stacks\": [{\"frames\": [0], \"user_line\": 0, \"alloc_calls\": 1, \"allocated_bytes\": %" PRIu64
               ", \"leaked_bytes\": 0, \"leaked_blocks\": 0, \"peak_bytes\": %" PRIu64 ", \"peak_blocks\": 1, "
               "\"temporary_calls\": 0}],\n \"warnings\": []}\n",
            peak, peak);
    fclose(f);
}

/* The points of the n-th curve (a path with stroke-width 1.6): count and
 * the smallest y (the highest point). */
static int curve_points(const char *svg, int nth, double *min_y, double *x_at_min)
{
    const char *at = svg;
    for (int i = 0; i <= nth; i++) {
        at = strstr(at, "stroke-width=\"1.6\"");
        ck_assert_ptr_nonnull(at);
        at++;
    }
    const char *d = strstr(at, " d=\"");
    ck_assert_ptr_nonnull(d);
    d += 4;
    int n = 0;
    *min_y = 1e9;
    while (*d && *d != '"') {
        if (*d == 'M' || *d == 'L')
            d++;
        char *end;
        double x = strtod(d, &end), y = strtod(end, &end);
        ck_assert_ptr_ne(end, d);
        if (y < *min_y) {
            *min_y = y;
            *x_at_min = x;
        }
        n++;
        d = end;
        while (*d == ' ')
            d++;
    }
    return n;
}

START_TEST(timeline_two_hours)
{
    /* What memprof keeps of a 2-hour run at --interval 10ms: merged down to
     * at most 2 * 4096 samples, here 5625 samples 1.28 s apart.  The heap
     * wanders between 100 and 300 MiB; once, for less than a sample
     * interval, it held 1 GiB: only that sample's heap_max says so. */
    const size_t n = 5625, spike = 3001;
    const uint64_t peak = (uint64_t)1 << 30;
    double *t = calloc(n, sizeof *t);
    uint64_t *rss = calloc(n, sizeof *rss), *heap = calloc(n, sizeof *heap), *heap_max = calloc(n, sizeof *heap_max);
    for (size_t i = 0; i < n; i++) {
        t[i] = (double)(i + 1) * 1.28;
        heap[i] = ((100 + (i * 7919) % 200) << 20);
        heap_max[i] = i == spike ? peak : heap[i];
        rss[i] = heap[i] + ((64 + i % 50) << 20);
    }
    char *json = tmp_path("pic-long.json"), *svg = tmp_path("pic-long.svg"), *png = tmp_path("pic-long.png");
    write_report(json, peak, t, rss, heap, heap_max, n);
    char *plot[] = { "plot", json, "-o", svg, NULL };
    memprof_ok(plot);
    char *text = read_file(svg, NULL);
    /* at most two points per pixel column (the plot is 804 px wide), plus
     * the first and the last */
    double rss_min_y, heap_min_y, x_rss, x_heap;
    int n_rss = curve_points(text, 0, &rss_min_y, &x_rss), n_heap = curve_points(text, 1, &heap_min_y, &x_heap);
    ck_assert_msg(n_rss <= 2 * 804 + 2 && n_rss > 800, "RSS curve: %d points", n_rss);
    ck_assert_msg(n_heap <= 2 * 804 + 2 && n_heap > 800, "heap curve: %d points", n_heap);
    /* The spike survived: the heap curve's highest point is the marked peak. */
    char *circle = strstr(text, "r=\"4.5\"");
    ck_assert_ptr_nonnull(circle);
    while (circle > text && strncmp(circle, "<circle", 7))
        circle--;
    double cx, cy;
    ck_assert_int_eq(sscanf(circle, "<circle cx=\"%lf\" cy=\"%lf\"", &cx, &cy), 2);
    ck_assert_msg(fabs(heap_min_y - cy) < 0.11 && fabs(x_heap - cx) < 0.11,
                  "the heap curve peaks at (%g, %g), the marker is at (%g, %g)", x_heap, heap_min_y, cx, cy);
    /* at 3842.56 s: 64.0 min, on an axis in minutes up to 120 */
    char *label = svg_text(text, "peak-label", 0);
    ck_assert_str_eq(label, "peak heap 1.0 GiB at 64.0 min");
    char *xtitle = svg_text(text, "xtitle", 0);
    ck_assert_str_eq(xtitle, "time since start (min)");
    int nx = 0;
    for (char *x; (x = svg_text(text, "xtick", nx)); nx++)
        free(x);
    char *last = svg_text(text, "xtick", nx - 1);
    ck_assert_msg(atof(last) == 120 || atof(last) == 100, "the time axis ends at %s min", last);
    ck_assert_int_le(nx, 12);
    chromium_screenshot(svg, png, 980, 520);
    const unsigned colours[] = { 0x1f77b4, 0xd62728 };
    check_screenshot(png, colours, 2, 300);
    free(last);
    free(label);
    free(xtitle);
    free(text);
    free(t);
    free(rss);
    free(heap);
    free(heap_max);
    free(json);
    free(svg);
    free(png);
}
END_TEST

/* A peak whose interval spans the whole run (two samples, the first at the
 * start, the peak in the last): the label has no room on either side of
 * the band and goes over it, its box inside the picture (it was drawn
 * left of the band's start, off the picture's left edge). */
START_TEST(timeline_peak_label_inside)
{
    double t[3] = { 0.001, 0.002, 1.0 };
    uint64_t rss[3] = { 1 << 20, 2 << 20, 3 << 20 }, heap[3] = { 0, 0, 0 }, heap_max[3] = { 0, 0, 100 << 10 };
    char *json = tmp_path("pic-label.json"), *svg = tmp_path("pic-label.svg");
    write_report(json, 100 << 10, t, rss, heap, heap_max, 3);
    char *plot[] = { "plot", json, "-o", svg, NULL };
    memprof_ok(plot);
    char *text = read_file(svg, NULL);
    const char *label = strstr(text, "<text class=\"peak-label\"");
    ck_assert_ptr_nonnull(label);
    const char *box = label;
    while (box > text && strncmp(box, "<rect", 5))
        box--;
    double x, y, w, h;
    ck_assert_int_eq(sscanf(strstr(box, " x="), " x=\"%lf\" y=\"%lf\" width=\"%lf\" height=\"%lf\"", &x, &y, &w, &h), 4);
    int svg_width;
    ck_assert_int_eq(sscanf(strstr(text, "<svg "), "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\"", &svg_width),
                     1);
    ck_assert_msg(x >= 0 && x + w <= svg_width, "the label's box [%g, %g] is not inside [0, %d]", x, x + w,
                  svg_width);
    free(text);
    free(json);
    free(svg);
}
END_TEST

START_TEST(timeline_one_millisecond)
{
    /* Three samples in 1.1 ms; the peak (40 KiB) between the last two. */
    const double t[] = { 0.0002, 0.0006, 0.0011 };
    const uint64_t rss[] = { 1 << 20, 3 << 20, 3 << 20 }, heap[] = { 0, 4096, 8 }, heap_max[] = { 0, 4096, 40960 };
    char *json = tmp_path("pic-short.json"), *svg = tmp_path("pic-short.svg");
    write_report(json, 40960, t, rss, heap, heap_max, 3);
    char *plot[] = { "plot", json, "-o", svg, NULL };
    memprof_ok(plot);
    char *text = read_file(svg, NULL);
    char *label = svg_text(text, "peak-label", 0), *xtitle = svg_text(text, "xtitle", 0);
    ck_assert_str_eq(label, "peak heap 40.0 KiB between 600 \xc2\xb5s and 1100 \xc2\xb5s");
    ck_assert_str_eq(xtitle, "time since start (\xc2\xb5s)");
    /* ticks every 200 us up to 1000 (the axis ends at 1.1 ms + 3%) */
    char *t1 = svg_text(text, "xtick", 1), *t5 = svg_text(text, "xtick", 5), *t6 = svg_text(text, "xtick", 6);
    ck_assert_str_eq(t1, "200");
    ck_assert_str_eq(t5, "1000");
    ck_assert_ptr_null(t6);
    /* each of the few samples is drawn as a dot */
    ck_assert_int_ge(svg_count(text, "r=\"2.2\""), 6);
    free(t1);
    free(t5);
    free(label);
    free(xtitle);
    free(text);
    free(json);
    free(svg);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Line mode's spans                                                          */
/* ------------------------------------------------------------------------ */

START_TEST(timeline_line_mode_spans)
{
    const char *exe = build_fixture("tests/fixtures/linemode.c", "gcc", "-O0 -g", "pic-linemode");
    ck_assert_ptr_nonnull(exe);
    char *json = tmp_path("pic-lm.json"), *svg = tmp_path("pic-lm.svg");
    /* --interval 60s: the sampler thread adds no sample while the program
     * runs (whose timing under load is anyone's): the timeline's samples in
     * touch() are line mode's RSS reads at its traps, taken with the thread
     * stopped at the same moments as the span's ends, and of those only the
     * new highs (the others are closer together than --interval) */
    char *run[] = { "--function", "touch", "--interval", "60s", "-o", "/dev/null", "--json", json, "--svg", svg,
                    (char *)exe, NULL };
    memprof_ok(run);
    json_error_t je;
    json_t *root = json_load_file(json, 0, &je);
    ck_assert_msg(root != NULL, "%s", je.text);
    json_t *fs = json_object_get(root, "function_spans");
    ck_assert_uint_eq(json_array_size(fs), 1);
    json_t *touch = json_array_get(fs, 0);
    ck_assert_str_eq(json_string_value(json_object_get(touch, "function")), "touch");
    ck_assert_uint_eq(obj_u64(touch, "calls"), 1); /* main calls it once */
    json_t *spans = json_object_get(touch, "spans");
    ck_assert_uint_eq(json_array_size(spans), 1);
    double start = json_number_value(json_array_get(json_array_get(spans, 0), 0));
    double end = json_number_value(json_array_get(json_array_get(spans, 0), 1));
    ck_assert(start < end);
    /* touch() writes 64 MiB and frees them before it returns (linemode.c):
     * every sample at least 32 MiB above the first falls inside its span.
     * The trap on the line after the memset reads the new high: it is one.
     * The loop's 33 traps and the free line's read the same RSS (they touch
     * no new memory; at most a page or two of code, stack or `counter` seen
     * for the first time makes a higher one) and are thinned: not 34 samples
     * as when every trap was one, at most 3. */
    json_t *tl = json_object_get(root, "timeline");
    double base = json_number_value(json_array_get(json_array_get(tl, 0), 1));
    int inside = 0;
    for (size_t i = 0; i < json_array_size(tl); i++) {
        json_t *s = json_array_get(tl, i);
        double at = json_number_value(json_array_get(s, 0)), r = json_number_value(json_array_get(s, 1));
        if (r >= base + (32 << 20)) {
            ck_assert_msg(at >= start && at <= end, "RSS %g at %g s outside touch's span [%g, %g]", r, at, start, end);
            inside++;
        }
    }
    ck_assert_int_ge(inside, 1);
    ck_assert_int_le(inside, 3);
    /* the lane: touch's name and one bar */
    char *text = read_file(svg, NULL);
    ck_assert_int_eq(svg_count(text, "<g class=\"lane\">"), 1);
    ck_assert_int_eq(svg_count(text, "class=\"span\""), 1);
    ck_assert_ptr_nonnull(strstr(text, ">touch</text>"));
    free(text);
    json_decref(root);
    free(json);
    free(svg);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The flame graph and the HTML report                                        */
/* ------------------------------------------------------------------------ */

/* data-v of the frame labelled `label` ("all" for the root), or -1. */
static long long frame_value(const char *svg, const char *label)
{
    char key[512];
    snprintf(key, sizeof key, "<title>%s\n", label);
    const char *t = strstr(svg, key);
    if (!t)
        return -1;
    const char *g = t;
    while (g > svg && strncmp(g, "<g class=\"f\"", 12))
        g--;
    const char *v = strstr(g, "data-v=\"");
    ck_assert_ptr_nonnull(v);
    return atoll(v + 8);
}

static char *demo_json(const char *name)
{
    const char *exe = build_fixture("tests/fixtures/demo.c", "gcc", "-O0 -g", "pic-fg-demo");
    ck_assert_ptr_nonnull(exe);
    char *json = tmp_path(name);
    char *run[] = { "-o", "/dev/null", "--json", json, (char *)exe, NULL };
    memprof_ok(run);
    return json;
}

START_TEST(flamegraph_demo)
{
    need_program("chromium", "chromium");
    struct fixture_spec f;
    fixture_parse("demo.c", &f);
    char *json = demo_json("pic-fg.json"), *svg = tmp_path("pic-fg.svg"), *png = tmp_path("pic-fg.png");
    /* The root of each weight is the run's total, from demo.c's source:
     * bytes and calls its @total; peak: everything is live when report()
     * allocates; leaked: the 6 bytes rename_record drops (656 - 650 on the
     * strdup line); temporary: report()'s buffer, freed before the next
     * allocation, is the only block freed that soon. */
    const struct fixture_line *strdup_line = fixture_line_at(&f, 29);
    ck_assert_ptr_nonnull(strdup_line);
    const struct { const char *weight; long long total; } want[] = {
        { "bytes", (long long)f.total_bytes },
        { "calls", (long long)f.total_calls },
        { "peak", (long long)f.total_bytes },
        { "leaked", (long long)(strdup_line->allocated_bytes - strdup_line->freed_bytes) },
        { "temporary", 1 },
    };
    for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
        char weight[32];
        snprintf(weight, sizeof weight, "--weight=%s", want[w].weight);
        char *args[] = { "report", json, "--format=flamegraph", weight, "-o", svg, NULL };
        memprof_ok(args);
        char *text = read_file(svg, NULL);
        ck_assert_msg(frame_value(text, "all") == want[w].total, "--weight=%s: root %lld, want %lld", want[w].weight,
                      frame_value(text, "all"), want[w].total);
        free(text);
    }
    /* bytes: two lines of build_table are two frames, with their @expect bytes */
    char *args[] = { "report", json, "--format=flamegraph", "-o", svg, NULL };
    memprof_ok(args);
    char *text = read_file(svg, NULL);
    const int lines[] = { 37, 41 };
    for (size_t i = 0; i < 2; i++) {
        char label[128];
        snprintf(label, sizeof label, "build_table (tests/fixtures/demo.c:%d)", lines[i]);
        const struct fixture_line *l = fixture_line_at(&f, lines[i]);
        ck_assert_msg(frame_value(text, label) == (long long)l->allocated_bytes, "%s: %lld", label,
                      frame_value(text, label));
    }
    ck_assert_ptr_nonnull(strstr(text, "<title>main (tests/fixtures/demo.c:75)\n"));
    /* self-contained: the script is inside, nothing is fetched */
    ck_assert_int_eq(svg_count(text, "<script"), 1);
    ck_assert_int_eq(svg_count(text, "href"), 0);
    ck_assert_int_eq(svg_count(text, "http://") + svg_count(text, "https://"), 1); /* the xmlns */
    chromium_screenshot(svg, png, 1200, 260);
    const unsigned warm[] = { 0xe06020 };
    check_screenshot(png, warm, 0, 0);
    struct picture img;
    picture_load(png, &img);
    long warm_px = 0;
    for (long i = 0; i < (long)img.width * img.height; i++) {
        const unsigned char *px = img.rgba + 4 * i;
        warm_px += px[0] >= 200 && px[2] <= 60 && px[1] <= 235; /* flamegraph.pl's hot palette */
    }
    ck_assert_msg(warm_px > 5000, "only %ld pixels of frames", warm_px);
    picture_free(&img);
    free(text);
    free(json);
    free(svg);
    free(png);
}
END_TEST

/* The page with a script that clicks and searches like a user, and writes
 * what it saw into the title. */
static const char interaction_test[] =
    "<script>\n"
    "(function () {\n"
    "  var out = [];\n"
    "  function frame(prefix) {\n"
    "    var fs = document.querySelectorAll('#memprof-flamegraph g.f');\n"
    "    for (var i = 0; i < fs.length; i++)\n"
    "      if (fs[i].querySelector('title').textContent.indexOf(prefix) === 0) return fs[i];\n"
    "    return null;\n"
    "  }\n"
    "  var root = document.getElementById('memprof-flamegraph');\n"
    "  var w = +root.getAttribute('data-w');\n"
    "  var big = frame('build_table (tests/fixtures/demo.c:41)'), small = frame('build_table (tests/fixtures/demo.c:37)');\n"
    "  var main = frame('main (tests/fixtures/demo.c:75)');\n"
    "  big.dispatchEvent(new MouseEvent('click', {bubbles: true}));\n"
    "  out.push('zoom=' + (+big.querySelector('rect').getAttribute('width')).toFixed(0) + '/' + w);\n"
    "  out.push('other=' + small.style.display);\n"
    "  out.push('text=' + big.querySelector('text').textContent);\n"
    "  out.push('caller=' + (+main.querySelector('rect').getAttribute('width')).toFixed(0) + ':' + "
    "main.getAttribute('opacity'));\n"
    "  frame('all').dispatchEvent(new MouseEvent('click', {bubbles: true}));\n"
    "  out.push('reset=' + (small.style.display || 'shown'));\n"
    "  window.prompt = function () { return 'copy_string'; };\n"
    "  document.querySelector('#memprof-flamegraph .fg-search').dispatchEvent(new MouseEvent('click'));\n"
    "  out.push('search=' + document.querySelector('#memprof-flamegraph .fg-matched').textContent);\n"
    "  big.dispatchEvent(new MouseEvent('mouseover'));\n"
    "  out.push('hover=' + document.querySelector('#memprof-flamegraph .fg-details').textContent);\n"
    "  document.title = 'RESULT ' + out.join(' | ');\n"
    "})();\n"
    "</script>\n";

START_TEST(html_report_and_flamegraph_script)
{
    need_program("chromium", "chromium");
    struct fixture_spec f;
    fixture_parse("demo.c", &f);
    char *json = demo_json("pic-html.json"), *html = tmp_path("pic.html"), *png = tmp_path("pic-html.png");
    char *args[] = { "report", json, "--format=html", "-o", html, NULL };
    memprof_ok(args);
    size_t len;
    char *page = read_file(html, &len);
    /* One file, nothing from the network */
    ck_assert_int_eq(svg_count(page, "<link"), 0);
    ck_assert_int_eq(svg_count(page, "src="), 0);
    ck_assert_int_eq(svg_count(page, "<img"), 0);
    ck_assert_int_eq(svg_count(page, "url("), 0);
    /* summary, both pictures, the tables with their source */
    const char *sections[] = { "id=\"summary\"", "id=\"timeline\"", "id=\"flamegraph\"", "id=\"top\"",
                               "id=\"peak\"", "id=\"leaks\"", "id=\"tables\"", "class=\"peak-label\"",
                               "id=\"memprof-flamegraph\"" };
    for (size_t i = 0; i < sizeof sections / sizeof *sections; i++)
        ck_assert_msg(strstr(page, sections[i]) != NULL, "no %s in the HTML report", sections[i]);
    ck_assert_ptr_nonnull(strstr(page, "table[i].samples = malloc(NSAMPLES * sizeof(double));"));
    chromium_screenshot(html, png, 1280, 1800);
    const unsigned colours[] = { 0x1f77b4, 0xd62728 };
    check_screenshot(png, colours, 2, 100);

    /* The flame graph's script, run by Chromium on the page */
    char *test_page = tmp_path("pic-html-test.html");
    FILE *out = fopen(test_page, "w");
    ck_assert_ptr_nonnull(out);
    char *body_end = strstr(page, "</body>");
    ck_assert_ptr_nonnull(body_end);
    fwrite(page, 1, (size_t)(body_end - page), out);
    fputs(interaction_test, out);
    fputs(body_end, out);
    fclose(out);
    char *argv[] = { (char *)repo_path("scripts/chromium"), "dom", test_page, "3000", NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 180, &o), 0);
    ck_assert_msg(o.status == 0, "chromium: %s", o.err);
    char *title = strstr(o.out, "<title>RESULT ");
    ck_assert_msg(title != NULL, "the test script did not run:\n%.2000s", o.out);
    /* zoomed: the frame fills the width (its name shown in full, the file
     * without directories), its sibling is hidden, its caller
     * stays (faded) at full width; the root undoes it.  Search: copy_string's
     * share is the strdup line's bytes (656 of 15984: 4.1%). */
    const struct fixture_line *l29 = fixture_line_at(&f, 29);
    char want[512];
    snprintf(want, sizeof want,
             "<title>RESULT zoom=1180/1180 | other=none | text=build_table (demo.c:41) | caller=1180:0.6 | reset=shown | "
             "search=Matched: %.1f%% | "
             "hover=build_table (tests/fixtures/demo.c:41): ",
             100.0 * (double)l29->allocated_bytes / (double)f.total_bytes);
    ck_assert_msg(strncmp(title, want, strlen(want)) == 0, "got  %.300s\nwant %s", title, want);
    run_output_free(&o);
    free(page);
    free(test_page);
    free(json);
    free(html);
    free(png);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The command line                                                          */
/* ------------------------------------------------------------------------ */

static void expect_error(char *const *args, int status, const char *message)
{
    struct run_output o;
    int st = memprof(args, &o);
    ck_assert_msg(st == status, "memprof %s %s: status %d, want %d (%s)", args[0], args[1] ? args[1] : "", st,
                  status, o.err);
    ck_assert_msg(strstr(o.err, message) != NULL, "stderr '%s' lacks '%s'", o.err, message);
    ck_assert_int_le(count_lines(o.err), 5); /* one line, and maybe the usage (four lines for report) */
    run_output_free(&o);
}

START_TEST(command_line)
{
    char *stable_svg[] = { "--stable", "--svg", "x.svg", "true", NULL };
    expect_error(stable_svg, 2, "--stable leaves out");
    char *bad_export[] = { "--export", "png=x.png", "true", NULL };
    expect_error(bad_export, 2, "--export takes FORMAT=FILE");
    char *no_file[] = { "--export", "flamegraph=", "true", NULL };
    expect_error(no_file, 2, "--export takes FORMAT=FILE");
    char *weight[] = { "--weight", "size", "true", NULL };
    expect_error(weight, 2, "unknown weight 'size'");
    char *frames[] = { "--frames", "files", "true", NULL };
    expect_error(frames, 2, "unknown frame naming 'files'");
    char *unwritable[] = { "--svg", "/nonexistent/x.svg", "true", NULL };
    expect_error(unwritable, 1, "cannot write /nonexistent/x.svg");
    char *plot_none[] = { "plot", NULL };
    expect_error(plot_none, 2, "no report given");
    char *plot_missing[] = { "plot", "/nonexistent.json", "-o", "x.svg", NULL };
    expect_error(plot_missing, 1, "/nonexistent.json: cannot read");
    char *unknown_format[] = { "report", "x.json", "--format=png", NULL };
    expect_error(unknown_format, 2, "unknown format 'png'");

    /* A --stable report has no times: plot says so and draws nothing. */
    const char *exe = build_fixture("tests/fixtures/demo.c", "gcc", "-O0 -g", "pic-cli-demo");
    char *json = tmp_path("pic-stable.json"), *svg = tmp_path("pic-stable.svg");
    char *run[] = { "--stable", "-o", "/dev/null", "--json", json, (char *)exe, NULL };
    memprof_ok(run);
    char *plot[] = { "plot", json, "-o", svg, NULL };
    expect_error(plot, 1, "has no timeline to plot: it was recorded with --stable");
    /* The other pictures work on it, and say where times are missing */
    char *html[] = { "report", json, "--format=html", "-o", svg, NULL };
    memprof_ok(html);
    char *page = read_file(svg, NULL);
    ck_assert_ptr_nonnull(strstr(page, "No timeline: --stable reports leave times out."));
    free(page);
    free(json);
    free(svg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pictures");
    TCase *tc = tcase_create("pictures");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, timeline_demo);
    tcase_add_test(tc, timeline_two_hours);
    tcase_add_test(tc, timeline_one_millisecond);
    tcase_add_test(tc, timeline_line_mode_spans);
    tcase_add_test(tc, timeline_peak_label_inside);
    tcase_add_test(tc, flamegraph_demo);
    tcase_add_test(tc, html_report_and_flamegraph_script);
    tcase_add_test(tc, command_line);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
