/* memprof: folded stacks (Brendan Gregg's format, the input of
 * flamegraph.pl, inferno, speedscope): one line per distinct stack, frames
 * outermost first separated by ';', then a space and the stack's weight
 * (--weight: bytes allocated by default):
 *
 *     main (demo.c:75);build_table (demo.c:40);copy_string (demo.c:29);__GI___strdup 650
 *
 * Frames are named "function (file:line)", so two lines of one function are
 * two frames (--frames=function names them "function" alone, as memprof 0.1
 * did).  Like the text report's backtraces, a stack starts at main when main
 * is on it (the C runtime's start-up frames say nothing); frames inside it,
 * runtime ones included, are all kept.  Stacks that show the same names are
 * merged and the lines are sorted, so the output is deterministic. */
#include "memprof/report.h"
#include "report_stacks.h"
#include "format.h"
#include "report_json.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct folded {
    char *stack;
    uint64_t weight;
};

static int cmp_folded(const void *a, const void *b)
{
    return strcmp(((const struct folded *)a)->stack, ((const struct folded *)b)->stack);
}

/* A frame's name, with what would break the format (';' separates frames,
 * a line is one stack) replaced. */
static void put_name(char *dst, size_t *o, const char *name)
{
    for (const char *s = name; *s; s++)
        dst[(*o)++] = *s == ';' ? ':' : (*s == '\n' || *s == '\r') ? ' ' : *s;
}

static char *fold(const struct mp_profile *p, const struct mp_stack_info *st, struct mp_strtab *labels,
                  const struct mp_report_options *opt)
{
    uint32_t outer = mp_stack_shown_frames(p, st);
    const char **names = malloc((outer ? outer : 1) * sizeof *names);
    char *s = NULL;
    size_t len = 1;
    if (!names)
        return NULL;
    for (uint32_t i = 0; i < outer; i++) {
        if (!(names[i] = mp_frame_label(labels, mp_profile_line(p, st->frame_lines[i]), opt)))
            goto out;
        len += strlen(names[i]) + 1;
    }
    if (!(s = malloc(len)))
        goto out;
    size_t o = 0;
    for (uint32_t i = outer; i-- > 0;) {
        put_name(s, &o, names[i]);
        if (i)
            s[o++] = ';';
    }
    s[o] = '\0';
out:
    free(names);
    return s;
}

int mp_write_folded(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    return mp_write_folded_prefixed(out, p, opt, NULL);
}

int mp_write_folded_prefixed(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt,
                             const char *first_frame)
{
    size_t n_stacks = mp_profile_stack_count(p), n = 0;
    struct folded *f = calloc(n_stacks ? n_stacks : 1, sizeof *f);
    struct mp_strtab labels;
    int rc = 0;
    if (!f)
        return -1;
    mp_strtab_init(&labels);
    for (size_t i = 0; i < n_stacks; i++) {
        const struct mp_stack_info *st = mp_profile_stack(p, i);
        uint64_t w = mp_stack_weight(st, opt->weight);
        if (w == 0 || st->n_frames == 0)
            continue;
        if (!(f[n].stack = fold(p, st, &labels, opt))) {
            rc = -1;
            goto out;
        }
        f[n++].weight = w;
    }
    qsort(f, n, sizeof *f, cmp_folded);
    for (size_t i = 0; i < n;) {
        uint64_t weight = 0;
        size_t j = i;
        for (; j < n && strcmp(f[j].stack, f[i].stack) == 0; j++)
            weight += f[j].weight;
        fprintf(out, "%s%s%s %" PRIu64 "\n", first_frame ? first_frame : "", first_frame ? ";" : "", f[i].stack,
                weight);
        i = j;
    }
    fflush(out);
    rc = ferror(out) ? -1 : 0;
out:
    for (size_t i = 0; i < n; i++)
        free(f[i].stack);
    free(f);
    mp_strtab_free(&labels);
    return rc;
}
