/* memprof: the flame graph (--format=flamegraph): one self-contained,
 * interactive SVG in the manner of flamegraph.pl.  The root ("all") is at
 * the bottom, main above it, allocation sites on top; a frame's width is
 * the weight (--weight: bytes allocated by default) of the stacks through
 * it.  Frames are named "function (file:line)", so two lines of one
 * function are two frames; siblings are sorted by name.  Warm colours for
 * frames with source lines, blue-grey for those without (the C library,
 * code built without -g); a frame's colour depends only on its name.
 *
 * Every frame carries its place in weight units (data-o offset, data-v
 * value, data-d depth) and its numbers in a <title> (a browser's tooltip);
 * the script (flamegraph_script.c) zooms and searches from those.  Frames
 * narrower than 0.1 pixel at full width are left out, like flamegraph.pl. */
#define _GNU_SOURCE
#include "pictures.h"
#include "format.h"
#include "report_stacks.h"
#include "svg.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 1200.0
#define PAD 10.0
#define FRAME_H 16.0
#define TOP 70.0
#define BOTTOM 44.0
#define FONT 12.0
#define CHAR_W 7.22 /* DejaVu Sans Mono at 12px: 0.602 em */
#define MIN_W 0.1

struct fg {
    FILE *out;
    const struct mp_profile *p;
    const struct mp_tree *t;
    const struct mp_report_options *opt;
    double total, height;
};

/* "15.2 KiB (15,200 bytes), 95.1% of bytes allocated" */
static void numbers(char *buf, size_t len, uint64_t v, uint64_t total, const struct mp_report_options *opt)
{
    char count[32], size[32];
    mp_format_count(count, sizeof count, v);
    double pct = total ? 100.0 * (double)v / (double)total : 0;
    if (mp_weight_is_bytes(opt->weight)) {
        mp_format_size(size, sizeof size, (int64_t)v, opt->precision);
        snprintf(buf, len, "%s (%s bytes), %.1f%% of %s", size, count, pct, mp_weight_title(opt->weight));
    } else {
        snprintf(buf, len, "%s %s%s, %.1f%%", count, opt->weight == MP_WEIGHT_CALLS ? "call" : "temporary allocation",
                 mp_plural(v, "", "s"), pct);
    }
}

/* The label as a frame shows it: "function (file.c:12)", without the
 * file's directories (the tooltip and the search have the whole name); the
 * script's short() does the same. */
static char *short_label(const char *label)
{
    size_t n = strlen(label);
    const char *open = strrchr(label, '(');
    char *s = strdup(label);
    if (!s || !open || n < 2 || label[n - 1] != ')')
        return s;
    const char *slash = NULL;
    for (const char *c = open; *c; c++)
        if (*c == '/')
            slash = c;
    if (slash)
        snprintf(s + (open - label) + 1, n + 1 - (size_t)(open - label) - 1, "%s", slash + 1);
    return s;
}

/* The label cut to what fits in w pixels, as the script cuts it. */
static void fitted_label(FILE *out, const char *full, double w)
{
    int n = (int)((w - 6) / CHAR_W);
    if (n < 3)
        return;
    char *label = short_label(full);
    if (!label)
        return;
    size_t chars = 0;
    for (const unsigned char *s = (const unsigned char *)label; *s; s++)
        chars += (*s & 0xc0) != 0x80;
    if (chars <= (size_t)n) {
        mp_xml_text(out, label, 0);
        free(label);
        return;
    }
    /* n - 2 characters, then ".." (mp_xml_text cuts at max - 3 and adds "...") */
    char *cut = label;
    size_t keep = (size_t)n - 2, o = 0;
    for (size_t c = 0; cut[o] && (c < keep || ((unsigned char)cut[o] & 0xc0) == 0x80); o++)
        c += ((unsigned char)cut[o] & 0xc0) != 0x80;
    cut[o] = '\0';
    mp_xml_text(out, cut, 0);
    fputs("..", out);
    free(label);
}

static void frame(const struct fg *fg, uint32_t id, uint64_t offset)
{
    const struct mp_tree_node *n = &fg->t->nodes[id];
    double w = (double)n->value / fg->total * (WIDTH - 2 * PAD);
    if (w < MIN_W)
        return;
    double x = PAD + (double)offset / fg->total * (WIDTH - 2 * PAD);
    double y = fg->height - BOTTOM - (double)(n->depth + 1) * FRAME_H;
    char colour[32], nums[160];
    if (id == 0)
        snprintf(colour, sizeof colour, "rgb(200,200,200)");
    else
        mp_frame_colour(colour, sizeof colour, n->label, mp_profile_line(fg->p, n->line)->file == NULL);
    numbers(nums, sizeof nums, n->value, (uint64_t)fg->total, fg->opt);
    fprintf(fg->out, "<g class=\"f\" data-o=\"%" PRIu64 "\" data-v=\"%" PRIu64 "\" data-d=\"%u\" data-c=\"%s\"><title>",
            offset, n->value, n->depth, colour);
    mp_xml_text(fg->out, n->label, 0);
    fprintf(fg->out, "\n%s</title><rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\" rx=\"2\"/>"
                     "<text x=\"%.2f\" y=\"%.1f\">",
            nums, x, y, w, FRAME_H - 1, colour, x + 3, y + FRAME_H - 4.5);
    fitted_label(fg->out, n->label, w);
    fprintf(fg->out, "</text></g>\n");
}

/* Depth first, children in their sorted order; without recursion (stacks
 * can be hundreds of frames deep). */
static int frames(const struct fg *fg)
{
    const struct mp_tree *t = fg->t;
    uint64_t *offset = malloc(t->n * sizeof *offset);
    uint32_t *todo = malloc(t->n * sizeof *todo);
    if (!offset || !todo) {
        free(offset);
        free(todo);
        return -1;
    }
    size_t n_todo = 0;
    offset[0] = 0;
    todo[n_todo++] = 0;
    while (n_todo) {
        uint32_t id = todo[--n_todo];
        frame(fg, id, offset[id]);
        /* children left to right: push in reverse so the first pops first */
        uint64_t o = offset[id];
        size_t first = n_todo;
        for (uint32_t c = t->nodes[id].first_child; c != UINT32_MAX; c = t->nodes[c].next_sibling) {
            offset[c] = o;
            o += t->nodes[c].value;
            todo[n_todo++] = c;
        }
        for (size_t a = first, b = n_todo; a + 1 < b; a++, b--) {
            uint32_t tmp = todo[a];
            todo[a] = todo[b - 1];
            todo[b - 1] = tmp;
        }
    }
    free(offset);
    free(todo);
    return 0;
}

int mp_write_flamegraph_element(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                                const struct mp_report_options *opt, const char *id)
{
    struct mp_tree t;
    if (mp_tree_build(&t, p, opt->weight, 1, opt) != 0 || mp_tree_sort(&t, 0) != 0) {
        mp_tree_free(&t);
        return -1;
    }
    uint64_t total = t.nodes[0].value;
    double height = TOP + (double)(t.max_depth + 1) * FRAME_H + BOTTOM;
    if (total == 0)
        height = TOP + 80 + BOTTOM;
    char cmd[512], size[160];
    mp_run_command(cmd, sizeof cmd, run);
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"%s\" class=\"memprof-fg\" width=\"%.0f\" height=\"%.0f\" "
                 "viewBox=\"0 0 %.0f %.0f\" data-x0=\"%.0f\" data-w=\"%.0f\" data-char=\"%.2f\" data-total=\"%" PRIu64
                 "\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"%.0f\">\n",
            id ? id : "memprof-flamegraph", WIDTH, height, WIDTH, height, PAD, WIDTH - 2 * PAD, CHAR_W, total, FONT);
    fprintf(out, "<title>memprof flame graph: %s: ", mp_weight_title(opt->weight));
    mp_xml_text(out, cmd, 200);
    fprintf(out, "</title>\n<style>g.f { cursor: pointer; } g.f:hover rect { stroke: #000; stroke-width: 0.6; } "
                 ".fg-button { cursor: pointer; }</style>\n");
    fprintf(out, "<rect width=\"100%%\" height=\"100%%\" fill=\"#fdf6e8\"/>\n");
    fprintf(out, "<text x=\"%.0f\" y=\"24\" text-anchor=\"middle\" font-size=\"17\" font-family=\"DejaVu Sans, Verdana, "
                 "sans-serif\" font-weight=\"bold\">Heap flame graph: %s</text>\n",
            WIDTH / 2, mp_weight_title(opt->weight));
    char count[32], amount[64];
    mp_format_count(count, sizeof count, total);
    mp_format_size(amount, sizeof amount, (int64_t)total, opt->precision);
    if (mp_weight_is_bytes(opt->weight))
        snprintf(size, sizeof size, "%s (%s bytes)", amount, count);
    else
        snprintf(size, sizeof size, "%s", count);
    fprintf(out, "<text x=\"%.0f\" y=\"44\" text-anchor=\"middle\" fill=\"#555\">", WIDTH / 2);
    mp_xml_text(out, cmd, 110);
    fprintf(out, "</text>\n<text class=\"fg-total\" x=\"%.0f\" y=\"60\" text-anchor=\"middle\" fill=\"#555\">total: ",
            WIDTH / 2);
    mp_xml_text(out, size, 0);
    fprintf(out, "</text>\n");
    fprintf(out, "<text class=\"fg-unzoom fg-button\" x=\"%.0f\" y=\"24\" opacity=\"0\">Reset zoom</text>\n", PAD);
    fprintf(out, "<text class=\"fg-search fg-button\" x=\"%.0f\" y=\"24\" text-anchor=\"end\" opacity=\"0.6\">Search"
                 "</text>\n", WIDTH - PAD);
    fprintf(out, "<text class=\"fg-matched\" x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\"></text>\n", WIDTH - PAD,
            height - 14);
    fprintf(out, "<text class=\"fg-details\" x=\"%.0f\" y=\"%.0f\"> </text>\n", PAD, height - 14);
    int rc = 0;
    if (total == 0) {
        fprintf(out, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\" font-size=\"15\">Nothing to draw: no %s</text>\n",
                WIDTH / 2, TOP + 40, mp_weight_title(opt->weight));
    } else {
        struct fg fg = { out, p, &t, opt, (double)total, height };
        rc = frames(&fg);
    }
    fprintf(out, "<script type=\"text/ecmascript\"><![CDATA[\n%s]]></script>\n</svg>\n", mp_flamegraph_script);
    mp_tree_free(&t);
    fflush(out);
    return rc || ferror(out) ? -1 : 0;
}

int mp_write_flamegraph(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                        const struct mp_report_options *opt)
{
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n");
    return mp_write_flamegraph_element(out, p, run, opt, NULL);
}
