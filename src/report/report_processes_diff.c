/* memprof: the text of a diff of two process trees (memprof diff of schema-2
 * reports): a table of the paired images (OLD's number, NEW's, peak heap and
 * allocations with their changes, the command), then, for each pair whose
 * numbers changed, the one-process comparison (mp_diff_write).  Images only
 * in NEW are "new", only in OLD "gone".  The pairing is profile/process_pairs.h's. */
#include "report_processes_diff.h"
#include "format.h"

#include <inttypes.h>
#include <string.h>

static void write_command(FILE *out, char *const *command, size_t max)
{
    size_t used = 0;
    for (size_t i = 0; command && command[i]; i++) {
        size_t len = strlen(command[i]) + (i ? 1 : 0);
        if (used + len > max) {
            fputs(" ...", out);
            return;
        }
        fprintf(out, "%s%s", i ? " " : "", command[i]);
        used += len;
    }
}

static int pair_changed(const struct mp_diff *d)
{
    if (!d)
        return 1;
    for (int i = 0; i < MP_DIFF_N_SUMMARY; i++)
        if (d->summary[i].old_known && d->summary[i].new_known && d->summary[i].old_value != d->summary[i].new_value)
            return 1;
    return d->n_lines > 0;
}

static void change(char *buf, size_t len, uint64_t o, uint64_t n, int size, int precision)
{
    char v[48], c[48];
    uint64_t delta = o > n ? o - n : n - o;
    if (size) {
        mp_format_size(v, sizeof v, (int64_t)n, precision);
        mp_format_size(c, sizeof c, (int64_t)delta, precision);
    } else {
        mp_format_count(v, sizeof v, n);
        mp_format_count(c, sizeof c, delta);
    }
    snprintf(buf, len, "%s (%c%s)", v, n < o ? '-' : '+', c);
}

int mp_process_tree_diff_write(FILE *out, const struct mp_process_tree *old_t, const struct mp_process_tree *new_t,
                               const struct mp_process_pair *pairs, size_t n_pairs, struct mp_diff *const *diffs,
                               const struct mp_diff_options *opt)
{
    int precision = opt ? opt->precision : 1;
    if (opt && opt->old_name && opt->new_name)
        fprintf(out, "memprof diff: %s -> %s\n\n", opt->old_name, opt->new_name);
    size_t paired = 0, changed = 0;
    for (size_t k = 0; k < n_pairs; k++)
        if (pairs[k].old_index >= 0 && pairs[k].new_index >= 0) {
            paired++;
            changed += pair_changed(diffs[k]);
        }
    char a[64], b[32], c[32];
    fprintf(out, "Process trees: %s in the old report, %s in the new, %s paired (by command line and "
                 "place in the tree, else by command line, else by program)\n",
            MP_COUNT_NOUN(a, old_t->n, "image", "images"), MP_COUNT_STR(b, new_t->n), MP_COUNT_STR(c, paired));
    fprintf(out, "%5s %5s  %-26s %-20s  %s\n", "old", "new", "peak heap", "allocations", "command");
    for (size_t k = 0; k < n_pairs; k++) {
        const struct mp_process_pair *p = &pairs[k];
        const struct mp_process_image *op = p->old_index >= 0 ? &old_t->procs[p->old_index] : NULL;
        const struct mp_process_image *np = p->new_index >= 0 ? &new_t->procs[p->new_index] : NULL;
        char o_id[16] = "-", n_id[16] = "-", heap[128], calls[128];
        if (op)
            snprintf(o_id, sizeof o_id, "#%d", op->run->tree_id);
        if (np)
            snprintf(n_id, sizeof n_id, "#%d", np->run->tree_id);
        const struct mp_totals *ot = op ? mp_profile_totals(op->profile) : NULL;
        const struct mp_totals *nt = np ? mp_profile_totals(np->profile) : NULL;
        if (op && np) {
            change(heap, sizeof heap, ot->peak_heap_bytes, nt->peak_heap_bytes, 1, precision);
            change(calls, sizeof calls, ot->alloc_calls, nt->alloc_calls, 0, precision);
        } else {
            const struct mp_totals *t = nt ? nt : ot;
            char v[48];
            mp_format_size(v, sizeof v, (int64_t)t->peak_heap_bytes, precision);
            snprintf(heap, sizeof heap, "%s (%s)", v, nt ? "new" : "gone");
            mp_format_count(v, sizeof v, t->alloc_calls);
            snprintf(calls, sizeof calls, "%s", v);
        }
        fprintf(out, "%5s %5s  %-26s %-20s  ", o_id, n_id, heap, calls);
        write_command(out, (np ? np : op)->run->command, 60);
        fputc('\n', out);
    }
    if (paired > changed)
        fprintf(out, "  %s unchanged\n", MP_COUNT_NOUN(a, paired - changed, "paired image", "paired images"));
    struct mp_diff_options section = { .old_name = NULL, .new_name = NULL, .precision = precision,
                                       .top_lines = opt ? opt->top_lines : 10 };
    for (size_t k = 0; k < n_pairs; k++) {
        const struct mp_process_pair *p = &pairs[k];
        if (p->old_index < 0 || p->new_index < 0 || !pair_changed(diffs[k]))
            continue;
        const struct mp_report_run *o = old_t->procs[p->old_index].run, *n = new_t->procs[p->new_index].run;
        fprintf(out, "\n=== #%d -> #%d: ", o->tree_id, n->tree_id);
        write_command(out, n->command, 200);
        fprintf(out, "\n");
        if (mp_diff_write(out, diffs[k], &section) != 0)
            return -1;
    }
    fflush(out);
    return ferror(out) ? -1 : 0;
}
