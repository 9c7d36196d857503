/* memprof tests: the timeline's labels never overlap each other and never
 * leave the picture.  Synthetic reports put the heap's peak where its
 * label has least room: at the right edge right under the VmHWM line (jq
 * 1.6 over 20,000 JSON lines: its label covered "peak RSS ... (VmHWM)"),
 * near the VmHWM line in the middle, at the left edge, and at the right
 * edge with the heap on its own axis (tick labels right of the plot).
 * `memprof plot` draws each; headless Chromium lays the pictures out and a
 * script in the page measures every text's box (getBBox: the font's real
 * extents, not memprof's estimate) and the peak label's white box.  Checked:
 * every text inside the picture, no two texts' boxes meet, the white box
 * holds both lines of the peak label, meets no other text and leaves the
 * peak's marker (the circle) uncovered. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 50
#define MIB (1ull << 20)

struct scenario {
    const char *name;
    double t[N];
    uint64_t rss[N], heap[N], heap_max[N];
    const char *function;
    const char *command, *exit; /* JSON: the command's array, the exit object */
};

/* A report of one line (a.c:3 in `function`) that allocated the peak. */
static void write_report(const char *path, const struct scenario *sc)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    uint64_t rss_peak = 0, peak = 0;
    for (size_t i = 0; i < N; i++) {
        rss_peak = sc->rss[i] > rss_peak ? sc->rss[i] : rss_peak;
        peak = sc->heap_max[i] > peak ? sc->heap_max[i] : peak;
    }
    fprintf(f,
            "{\"schema\": 1, \"stable\": false, \"command\": %s, \"exit\": %s,\n"
            " \"summary\": {\"peak_rss_bytes\": %" PRIu64 ", \"wall_seconds\": %.6f, \"heap_profiled\": true, "
            "\"heap_note\": null, \"engine\": \"agent\", \"alloc_calls\": 1, \"allocated_bytes\": %" PRIu64 ", "
            "\"free_calls\": 1, \"freed_bytes\": %" PRIu64 ", \"peak_heap_bytes\": %" PRIu64 ", \"leaked_bytes\": 0, "
            "\"leaked_blocks\": 0, \"temporary_calls\": 0, \"events_lost\": 0, \"unknown_frees\": 0, "
            "\"reused_live_blocks\": 0, \"truncated_stacks\": 0, \"agent_bytes\": 0},\n"
            " \"lines\": [{\"file\": \"a.c\", \"line\": 3, \"function\": \"%s\", \"alloc_calls\": 1, "
            "\"allocated_bytes\": %" PRIu64 ", \"free_calls\": 1, \"freed_bytes\": %" PRIu64 ", \"peak_bytes\": %" PRIu64
            ", \"leaked_bytes\": 0, \"leaked_blocks\": 0, \"temporary_calls\": 0}],\n"
            " \"tables\": [],\n"
            " \"peak\": {\"heap_bytes\": %" PRIu64 ", \"reached_at\": {\"file\": \"a.c\", \"line\": 3, \"function\": "
            "\"%s\"}, \"stack\": [{\"file\": \"a.c\", \"line\": 3, \"function\": \"%s\"}], \"user_frame\": 0},\n"
            " \"leaks\": [],\n \"timeline\": [",
            sc->command ? sc->command : "[\"./jq\", \"-c\", \".\"]", sc->exit ? sc->exit : "{\"code\": 0}",
            rss_peak, sc->t[N - 1], peak, peak, peak, sc->function, peak, peak, peak, peak, sc->function,
            sc->function);
    for (size_t i = 0; i < N; i++)
        fprintf(f, "%s[%.6f, %" PRIu64 ", %" PRIu64 "]", i ? ", " : "", sc->t[i], sc->rss[i], sc->heap[i]);
    fprintf(f, "],\n \"timeline_heap_max\": [");
    for (size_t i = 0; i < N; i++)
        fprintf(f, "%s%" PRIu64, i ? ", " : "", sc->heap_max[i]);
    fprintf(f, "],\n \"rss_at_exit\": null,\n \"frames\": [{\"file\": \"a.c\", \"line\": 3, \"function\": \"%s\"}],\n"
               " \"stacks\": [{\"frames\": [0], \"user_line\": 0, \"alloc_calls\": 1, \"allocated_bytes\": %" PRIu64
               ", \"leaked_bytes\": 0, \"leaked_blocks\": 0, \"peak_bytes\": %" PRIu64 ", \"peak_blocks\": 1, "
               "\"temporary_calls\": 0}],\n \"warnings\": []}\n",
            sc->function, peak, peak);
    fclose(f);
}

/* A 5-second run sampled every 100 ms; RSS at `rss`, the heap at `heap`,
 * but for one sample, `at`, whose interval held `peak` (and RSS `rss_at`). */
static void scenario(struct scenario *sc, const char *name, uint64_t rss, uint64_t heap, size_t at, uint64_t peak,
                     uint64_t rss_at, const char *function)
{
    memset(sc, 0, sizeof *sc);
    sc->name = name;
    sc->function = function;
    for (size_t i = 0; i < N; i++) {
        sc->t[i] = 0.1 * (double)(i + 1);
        sc->rss[i] = i == at ? rss_at : rss;
        sc->heap[i] = sc->heap_max[i] = heap;
    }
    sc->heap_max[at] = peak;
}

struct box {
    char cls[32];
    double x, y, w, h;
    char text[160];
};

static int meet(const struct box *a, const struct box *b)
{
    const double slack = 0.25; /* Chromium's sub-pixel rounding */
    return a->x + slack < b->x + b->w && b->x + slack < a->x + a->w && a->y + slack < b->y + b->h &&
           b->y + slack < a->y + a->h;
}

static int holds(const struct box *outer, const struct box *inner)
{
    const double slack = 0.25;
    return inner->x + slack >= outer->x && inner->y + slack >= outer->y &&
           inner->x + inner->w <= outer->x + outer->w + slack && inner->y + inner->h <= outer->y + outer->h + slack;
}

/* The page's script: for each picture, "PIC i W H", then "TEXT class x y w
 * h text" per <text>, "BOX x y w h" for the peak label's white box and
 * "DOT cx cy r" for the peak's marker. */
static const char measure_script[] =
    "<script>\n"
    "(function () {\n"
    "  var out = [];\n"
    "  var svgs = document.querySelectorAll('svg');\n"
    "  for (var i = 0; i < svgs.length; i++) {\n"
    "    var s = svgs[i];\n"
    "    out.push('PIC ' + i + ' ' + s.getAttribute('width') + ' ' + s.getAttribute('height'));\n"
    "    var texts = s.querySelectorAll('text');\n"
    "    for (var k = 0; k < texts.length; k++) {\n"
    "      var b = texts[k].getBBox();\n"
    "      out.push('TEXT ' + (texts[k].getAttribute('class') || '-') + ' ' + b.x + ' ' + b.y + ' ' + b.width + ' ' +\n"
    "               b.height + ' ' + texts[k].textContent.replace(/\\s+/g, '_').slice(0, 150));\n"
    "    }\n"
    "    var label = s.querySelector('text.peak-label');\n"
    "    var rect = label ? label.previousElementSibling : null;\n"
    "    if (rect && rect.tagName == 'rect') {\n"
    "      var r = rect.getBBox();\n"
    "      out.push('BOX ' + r.x + ' ' + r.y + ' ' + r.width + ' ' + r.height);\n"
    "    }\n"
    "    var dots = s.querySelectorAll('circle[r=\"4.5\"]');\n"
    "    for (var d = 0; d < dots.length; d++)\n"
    "      out.push('DOT ' + dots[d].getAttribute('cx') + ' ' + dots[d].getAttribute('cy') + ' 4.5');\n"
    "  }\n"
    "  var pre = document.createElement('pre');\n"
    "  pre.id = 'boxes';\n"
    "  pre.textContent = 'BEGIN\\n' + out.join('\\n') + '\\nEND';\n"
    "  document.body.appendChild(pre);\n"
    "})();\n"
    "</script>\n";

struct picture_boxes {
    double width, height;
    struct box texts[128];
    int n_texts, has_box, has_dot;
    struct box peak_box;
    double dot_x, dot_y, dot_r;
};

/* Parses the script's lines for picture `want` out of the dumped DOM. */
static void parse_boxes(const char *dom, int want, struct picture_boxes *pb)
{
    memset(pb, 0, sizeof *pb);
    const char *at = strstr(dom, "BEGIN\n");
    ck_assert_msg(at != NULL, "the measuring script did not run:\n%.1500s", dom);
    int pic = -1;
    for (const char *line = at; line && strncmp(line, "END", 3) != 0;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        int i;
        double w, h;
        if (sscanf(line, "PIC %d %lf %lf", &i, &w, &h) == 3) {
            pic = i;
            if (pic == want)
                pb->width = w, pb->height = h;
            continue;
        }
        if (pic != want)
            continue;
        struct box b = { 0 };
        if (strncmp(line, "TEXT ", 5) == 0) {
            ck_assert_int_eq(sscanf(line, "TEXT %31s %lf %lf %lf %lf %159[^\n]", b.cls, &b.x, &b.y, &b.w, &b.h, b.text),
                             6);
            ck_assert_int_lt(pb->n_texts, 128);
            pb->texts[pb->n_texts++] = b;
        } else if (sscanf(line, "BOX %lf %lf %lf %lf", &b.x, &b.y, &b.w, &b.h) == 4) {
            snprintf(b.cls, sizeof b.cls, "peak-box");
            pb->peak_box = b;
            pb->has_box = 1;
        } else if (sscanf(line, "DOT %lf %lf %lf", &pb->dot_x, &pb->dot_y, &pb->dot_r) == 3) {
            pb->has_dot = 1;
        }
    }
}

static void check_layout(const char *name, const struct picture_boxes *pb)
{
    ck_assert_msg(pb->width > 0 && pb->n_texts > 10, "%s: no picture measured", name);
    ck_assert_msg(pb->has_box && pb->has_dot, "%s: no peak label box or marker", name);
    const struct box page = { "page", 0, 0, pb->width, pb->height, "" };
    int labels = 0;
    for (int i = 0; i < pb->n_texts; i++) {
        const struct box *a = &pb->texts[i];
        ck_assert_msg(holds(&page, a), "%s: %s '%s' [%.1f %.1f %.1f x %.1f] leaves the %.0f x %.0f picture", name,
                      a->cls, a->text, a->x, a->y, a->w, a->h, pb->width, pb->height);
        for (int k = i + 1; k < pb->n_texts; k++)
            ck_assert_msg(!meet(a, &pb->texts[k]), "%s: %s '%s' [%.1f %.1f %.1f x %.1f] meets %s '%s' [%.1f %.1f %.1f x %.1f]",
                          name, a->cls, a->text, a->x, a->y, a->w, a->h, pb->texts[k].cls, pb->texts[k].text,
                          pb->texts[k].x, pb->texts[k].y, pb->texts[k].w, pb->texts[k].h);
        int peak_text = !strcmp(a->cls, "peak-label") || !strcmp(a->cls, "peak-line");
        labels += peak_text;
        const struct box *pbx = &pb->peak_box;
        if (peak_text)
            ck_assert_msg(holds(pbx, a), "%s: %s '%s' [%.1f %.1f %.1f x %.1f] sticks out of its box [%.1f %.1f %.1f x %.1f]",
                          name, a->cls, a->text, a->x, a->y, a->w, a->h, pbx->x, pbx->y, pbx->w, pbx->h);
        else
            ck_assert_msg(!meet(pbx, a), "%s: the peak label's box [%.1f %.1f %.1f x %.1f] covers %s '%s' [%.1f %.1f %.1f x %.1f]",
                          name, pbx->x, pbx->y, pbx->w, pbx->h, a->cls, a->text, a->x, a->y, a->w, a->h);
    }
    ck_assert_msg(labels == 2, "%s: %d peak label lines, want 2", name, labels);
    const struct box dot = { "dot", pb->dot_x - pb->dot_r, pb->dot_y - pb->dot_r, 2 * pb->dot_r, 2 * pb->dot_r, "" };
    ck_assert_msg(!meet(&pb->peak_box, &dot), "%s: the peak label's box covers the peak's marker at (%.1f, %.1f)", name,
                  pb->dot_x, pb->dot_y);
    ck_assert_msg(holds(&page, &pb->peak_box), "%s: the peak label's box leaves the picture", name);
}

START_TEST(labels_apart_and_inside)
{
    need_program("chromium", "chromium");
    static struct scenario sc[6];
    const char *long_fn = "jv_parser_next_value_with_a_rather_long_name_for_the_label";
    /* the jq case: the peak in the last sample, right under the VmHWM line */
    scenario(&sc[0], "right edge, under VmHWM", 20 * MIB, 2 * MIB, N - 1, 19 * MIB, 20 * MIB, "jvp_object_new");
    /* the same with the longest line the label shows */
    scenario(&sc[1], "right edge, long line", 20 * MIB, 2 * MIB, N - 1, 19 * MIB, 20 * MIB, long_fn);
    /* near the VmHWM line, three quarters in */
    scenario(&sc[2], "near VmHWM, 3/4 in", 20 * MIB, 2 * MIB, 37, 20 * MIB - 200 * 1024, 20 * MIB, "jvp_object_new");
    /* at the left edge, the first sample */
    scenario(&sc[3], "left edge", 20 * MIB, 2 * MIB, 0, 19 * MIB, 20 * MIB, long_fn);
    /* at the right edge, the heap on its own axis (tick labels right of the plot) */
    scenario(&sc[4], "right edge, own heap axis", 64 * MIB, 1 * MIB, N - 1, 4 * MIB, 64 * MIB, long_fn);
    /* a long command of wide letters, killed by a signal, sizes of 4 digits:
     * the title and the line under it must stop before the picture's edge
     * and the legend */
    scenario(&sc[5], "long command, killed", 1023 * MIB, 1000 * MIB, N - 1, 1023 * MIB, 1023 * MIB, long_fn);
    sc[5].command = "[\"./WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW\", "
                    "\"--MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM\"]";
    sc[5].exit = "{\"signal\": 11}";
    char page_path[600];
    snprintf(page_path, sizeof page_path, "%s/labels.html", test_tmp_dir());
    FILE *page = fopen(page_path, "w");
    ck_assert_ptr_nonnull(page);
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n", page);
    for (int i = 0; i < 6; i++) {
        char json[600], svg[600];
        snprintf(json, sizeof json, "%s/labels-%d.json", test_tmp_dir(), i);
        snprintf(svg, sizeof svg, "%s/labels-%d.svg", test_tmp_dir(), i);
        write_report(json, &sc[i]);
        char *argv[] = { (char *)memprof_path(), "plot", json, "-o", svg, NULL };
        struct run_output o;
        ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
        ck_assert_msg(o.status == 0, "memprof plot %s: %s", json, o.err);
        run_output_free(&o);
        char *text = read_file(svg, NULL);
        ck_assert_ptr_nonnull(text);
        const char *start = strstr(text, "<svg ");
        ck_assert_ptr_nonnull(start);
        fprintf(page, "<div>%s</div>\n", start);
        free(text);
    }
    fputs(measure_script, page);
    fputs("</body></html>\n", page);
    fclose(page);
    char *argv[] = { (char *)repo_path("scripts/chromium"), "dom", page_path, "3000", NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 180, &o), 0);
    ck_assert_msg(o.status == 0, "chromium: %s", o.err);
    for (int i = 0; i < 6; i++) {
        static struct picture_boxes pb;
        parse_boxes(o.out, i, &pb);
        check_layout(sc[i].name, &pb);
    }
    run_output_free(&o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("timeline_labels");
    TCase *tc = tcase_create("labels");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, labels_apart_and_inside);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
