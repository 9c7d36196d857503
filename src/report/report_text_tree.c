/* memprof: the call tree (top-down, from main to the lines that allocate)
 * and the callers (bottom-up: for a line or function, which callers its
 * allocations came from, and their callers, with shares), as text.  The
 * trees come from profile/calltree.c.
 *
 * Both print one row per call site, indented two spaces per level; a call
 * site that is its parent's only one and carries all of it continues the
 * parent's chain: it goes on the next row at the same depth, numbers left
 * blank, so a plain backtrace reads as a column.  Each node shows at most
 * --top children (0: all), and children below 1% of the tree's bytes are
 * folded into one "(N more ...)" row unless --top=0, as massif's threshold
 * does. */
#include "format.h"
#include "report_text_views.h"
#include "views.h"
#include "profile/calltree.h"
#include "profile/tables.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define THRESHOLD_PCT 1.0
#define MAX_STEPS 256 /* stacks have at most 48 frames, plus their inline chains */

struct printer {
    FILE *out;
    const struct mp_profile *p;
    const struct mp_report_options *opt;
    const struct mp_calltree *t;
    uint64_t total;      /* the bytes shares are taken of */
};

static void columns(const struct printer *pr, uint64_t bytes, uint64_t calls, uint64_t peak, int depth)
{
    char a[64], c[32], k[64], share[16];
    mp_format_size(a, sizeof a, bytes > INT64_MAX ? INT64_MAX : (int64_t)bytes, pr->opt->precision);
    mp_format_count(c, sizeof c, calls);
    mp_format_size(k, sizeof k, peak > INT64_MAX ? INT64_MAX : (int64_t)peak, pr->opt->precision);
    snprintf(share, sizeof share, "%.1f%%", pr->total ? 100.0 * (double)bytes / (double)pr->total : 0.0);
    fprintf(pr->out, "%12s %7s %12s %12s   %*s", a, share, c, k, 2 * depth, "");
}

static int shown(const struct printer *pr, const struct mp_tree_node *n, size_t rank)
{
    if (!pr->opt->top_lines)
        return 1;
    return rank < pr->opt->top_lines && (double)n->bytes * 100.0 >= THRESHOLD_PCT * (double)pr->total;
}

static void print_node(const struct printer *pr, uint32_t id, int depth, int steps);

/* Children of a node (or the roots): those shown, then one row for the rest. */
/* callers: the children are callers (a --callers tree), else call sites. */
static void print_children(const struct printer *pr, const uint32_t *ids, size_t n, int depth, int callers)
{
    size_t i = 0;
    while (i < n && shown(pr, &pr->t->nodes[ids[i]], i))
        print_node(pr, ids[i++], depth, 0);
    if (i == n)
        return;
    uint64_t bytes = 0, calls = 0, peak = 0;
    for (size_t j = i; j < n; j++) {
        bytes += pr->t->nodes[ids[j]].bytes;
        calls += pr->t->nodes[ids[j]].calls;
        peak += pr->t->nodes[ids[j]].peak_bytes;
    }
    char more[64];
    columns(pr, bytes, calls, peak, depth);
    fprintf(pr->out, "(%s; --top=0 shows all)\n", callers ? MP_COUNT_NOUN(more, n - i, "more caller", "more callers")
                                                          : MP_COUNT_NOUN(more, n - i, "more call site", "more call sites"));
}

/* A node's only child that carries all of it continues the same chain:
 * it is written below it, at the same depth, with blank numbers (a
 * backtrace reads as a column of places, and only branches indent). */
static int continues(const struct mp_tree_node *n, const struct mp_tree_node *child)
{
    return n->n_children == 1 && child->bytes == n->bytes && child->calls == n->calls &&
           child->peak_bytes == n->peak_bytes;
}

/* steps: nodes printed so far on this path (a bound on the recursion). */
static void print_node(const struct printer *pr, uint32_t id, int depth, int steps)
{
    const struct mp_tree_node *n = &pr->t->nodes[id];
    const struct mp_tree_node *parent = n->parent != UINT32_MAX ? &pr->t->nodes[n->parent] : NULL;
    if (parent && parent->line != MP_TREE_TARGET && continues(parent, n))
        fprintf(pr->out, "%12s %7s %12s %12s   %*s", "", "", "", "", 2 * depth, "");
    else
        columns(pr, n->bytes, n->calls, n->peak_bytes, depth);
    mp_text_line_name(pr->out, mp_profile_line(pr->p, n->line), pr->opt);
    fputc('\n', pr->out);
    if (steps + 1 >= MAX_STEPS || !n->n_children)
        return;
    const struct mp_tree_node *only = &pr->t->nodes[pr->t->child_ids[n->first_child]];
    if (continues(n, only))
        print_node(pr, pr->t->child_ids[n->first_child], depth, steps + 1);
    else
        print_children(pr, pr->t->child_ids + n->first_child, n->n_children, depth + 1,
                       pr->t->nodes[0].line == MP_TREE_TARGET);
}

static void header(FILE *out, const char *last)
{
    fprintf(out, "%12s %7s %12s %12s   %s\n", "allocated", "share", "calls", "at peak", last);
}

void mp_text_tree(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    struct mp_calltree t;
    if (mp_calltree_top_down(p, &t) != 0 || !t.n_roots) {
        mp_calltree_free(&t);
        return;
    }
    struct printer pr = { out, p, opt, &t, mp_profile_totals(p)->allocated_bytes };
    fprintf(out, "\nCall tree (top-down from main and thread start routines: what each call site allocated, "
                 "itself and through its callees)\n");
    header(out, "call site");
    print_children(&pr, t.roots, t.n_roots, 0, 0);
    mp_calltree_free(&t);
}

/* One target's callers: a header, the tree below its root. */
static void callers_of(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt,
                       const uint8_t *flags, const char *name, const struct mp_line_stats *line)
{
    struct mp_calltree t;
    if (mp_calltree_callers(p, flags, &t) != 0)
        return;
    const struct mp_tree_node *root = &t.nodes[0];
    char a[64], c[64];
    mp_format_size(a, sizeof a, root->bytes > INT64_MAX ? INT64_MAX : (int64_t)root->bytes, opt->precision);
    fprintf(out, "\nCallers of ");
    if (line)
        mp_text_line_name(out, line, opt);
    else
        fputs(name, out);
    fprintf(out, ": %s in %s\n", a, MP_COUNT_NOUN(c, root->calls, "call", "calls"));
    if (root->n_children) {
        struct printer pr = { out, p, opt, &t, root->bytes };
        header(out, "caller");
        print_children(&pr, t.child_ids + root->first_child, root->n_children, 0, 1);
    } else {
        fprintf(out, "  (no caller inside the program: its stacks start here, in main, a thread or unknown code)\n");
    }
    mp_calltree_free(&t);
}

void mp_text_callers(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt)
{
    size_t n_lines = mp_profile_line_count(p);
    uint8_t *flags = calloc(n_lines ? n_lines : 1, 1);
    if (!flags)
        return;
    if (opt->n_callers) {
        for (size_t i = 0; i < opt->n_callers; i++) {
            struct mp_callers_target t;
            if (mp_callers_target_parse(opt->callers[i], &t) != 0)
                continue;
            if (!mp_callers_target_mark(p, &t, opt, flags)) {
                char hint[256];
                mp_callers_target_hint(p, &t, opt, hint, sizeof hint);
                fprintf(out, "\nCallers of %s: no allocation went through it %s\n", t.spec, hint);
                continue;
            }
            /* a line named once is shown by its place and function */
            size_t one = SIZE_MAX;
            for (size_t k = 0; k < n_lines && t.file; k++)
                if (flags[k])
                    one = one == SIZE_MAX ? k : SIZE_MAX - 1;
            callers_of(out, p, opt, flags, t.spec, one < SIZE_MAX - 1 ? mp_profile_line(p, one) : NULL);
        }
    } else {
        /* no target given: the top lines by bytes allocated */
        size_t n;
        size_t *idx = mp_lines_by_bytes(p, &n);
        size_t shown = opt->top_lines && opt->top_lines < n ? opt->top_lines : n;
        for (size_t i = 0; idx && i < shown; i++) {
            memset(flags, 0, n_lines);
            flags[idx[i]] = 1;
            callers_of(out, p, opt, flags, NULL, mp_profile_line(p, idx[i]));
        }
        free(idx);
    }
    free(flags);
}
