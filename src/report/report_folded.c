/* memprof: folded stacks (Brendan Gregg's format, the input of
 * flamegraph.pl): one line per distinct stack, frames outermost first
 * separated by ';', then a space and the bytes allocated through it:
 *
 *     main;build_table;copy_string;__GI___strdup 650
 *
 * Like the text report's backtraces, a stack starts at main when main is on
 * it (the C runtime's start-up frames say nothing); frames inside it,
 * runtime ones included, are all kept.  Stacks that show the same names are
 * merged and the lines are sorted, so the output is deterministic. */
#include "memprof/report.h"
#include "format.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Declared here until it has a place in memprof/report.h. */

struct folded {
    char *stack;
    uint64_t bytes;
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

static char *fold(const struct mp_profile *p, const struct mp_stack_info *st, int stable)
{
    uint32_t outer = st->n_frames;
    for (uint32_t i = 0; i < st->n_frames; i++) {
        if (strcmp(mp_profile_line(p, st->frame_lines[i])->function, "main") == 0) {
            outer = i + 1;
            break;
        }
    }
    size_t len = 1;
    for (uint32_t i = 0; i < outer; i++)
        len += strlen(mp_display_function(mp_profile_line(p, st->frame_lines[i])->function, stable)) + 1;
    char *s = malloc(len);
    if (!s)
        return NULL;
    size_t o = 0;
    for (uint32_t i = outer; i-- > 0;) {
        put_name(s, &o, mp_display_function(mp_profile_line(p, st->frame_lines[i])->function, stable));
        if (i)
            s[o++] = ';';
    }
    s[o] = '\0';
    return s;
}

int mp_write_folded(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    size_t n_stacks = mp_profile_stack_count(p), n = 0;
    struct folded *f = calloc(n_stacks ? n_stacks : 1, sizeof *f);
    int rc = 0;
    if (!f)
        return -1;
    for (size_t i = 0; i < n_stacks; i++) {
        const struct mp_stack_info *st = mp_profile_stack(p, i);
        if (st->allocated_bytes == 0 || st->n_frames == 0)
            continue;
        if (!(f[n].stack = fold(p, st, opt->stable))) {
            rc = -1;
            goto out;
        }
        f[n++].bytes = st->allocated_bytes;
    }
    qsort(f, n, sizeof *f, cmp_folded);
    for (size_t i = 0; i < n;) {
        uint64_t bytes = 0;
        size_t j = i;
        for (; j < n && strcmp(f[j].stack, f[i].stack) == 0; j++)
            bytes += f[j].bytes;
        fprintf(out, "%s %" PRIu64 "\n", f[i].stack, bytes);
        i = j;
    }
    fflush(out);
    rc = ferror(out) ? -1 : 0;
out:
    for (size_t i = 0; i < n; i++)
        free(f[i].stack);
    free(f);
    return rc;
}
