/* memprof diff OLD.json NEW.json: compare two saved reports (tracemalloc's
 * compare_to) and, with --limit-increase, act as a CI gate.
 *
 * Exit status: 0, 1 when a report cannot be loaded or the output cannot be
 * written, 2 on bad usage, 3 when a --limit-increase limit was broken. */
#define _GNU_SOURCE
#include "cli_common.h"
#include "commands.h"
#include "report/report_diff.h"
#include "report/report_processes_diff.h"
#include "out_file.h"
#include "report/json_load.h"
#include "profile/process_pairs.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIFF_LIMIT_STATUS 3

static const char usage_line[] =
    "usage: memprof diff OLD.json NEW.json [--metric allocated|peak|leaked]\n"
    "                    [--group-by line|file|function|traceback] [--strip N]\n"
    "                    [--map OLD=NEW] [--limit-increase PCT] [--top N] [--stable]\n"
    "                    [--precision N] [-o FILE]\n";

static void print_help(void)
{
    printf("%s", usage_line);
    printf("\n"
           "Compare two saved reports (memprof --json FILE) the way Python's tracemalloc\n"
           "compare_to does: the summary's changes first (peak heap, leaks, allocations,\n"
           "temporaries, peak RSS), then the lines whose numbers changed, biggest change\n"
           "first.  A line is matched by file, line and function; a line that moved is\n"
           "matched by file and function when that function has one allocating line in\n"
           "each report, and shown as \"app.c:44 (was :42)\".  Files of two checkouts or\n"
           "build directories are paired by the longest trailing part of their paths\n"
           "(a/app.c and c/app.c), after --strip and --map.\n"
           "\n"
           "Options:\n"
           "      --metric M           what a line's size and count are: allocated (bytes\n"
           "                           and calls, default), peak (bytes held at the heap's\n"
           "                           peak, calls), leaked (bytes and blocks at exit)\n"
           "      --group-by G         what an item is: line (default), file, function,\n"
           "                           traceback (the whole stack from the line to main)\n"
           "      --strip N            take N leading path components off both reports'\n"
           "                           file names, as patch -pN\n"
           "      --map OLD=NEW        read the old report's paths under OLD as under NEW\n"
           "                           (repeatable; the first that applies is used)\n"
           "      --limit-increase PCT exit with status 3 when peak heap, leaked bytes or\n"
           "                           allocated bytes grew by more than PCT percent\n"
           "      --top N              changed lines to show (default 10; 0: all)\n"
           "      --stable             exact byte counts (the default when both reports\n"
           "                           were saved with --stable)\n"
           "      --precision N        digits after the point in sizes (default 1)\n"
           "  -o, --output FILE        write the comparison to FILE (default, or -: stdout)\n"
           "  -h, --help               show this help\n"
           "\n"
           "Process trees (reports of a command that started other processes): the\n"
           "images are paired by command line and place in the tree; a table shows each\n"
           "pair, then each pair whose numbers changed is compared as above.  The limit\n"
           "applies to each pair and to the tree's totals.\n"
           "\n"
           "Exit status: 0, 1 when a report cannot be read, 2 on bad usage, 3 when a\n"
           "--limit-increase limit was broken.  See memprof(1).\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fputs("memprof: ", stderr);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage_line);
    return 2;
}

static int parse_top(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 1000000)
        return -1;
    *out = (size_t)v;
    return 0;
}

/* "10", "2.5", "10%"; 0 to 1e9. */
static int parse_pct(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end != s && *end == '%')
        end++;
    if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 1e9)
        return -1;
    *out = v;
    return 0;
}

enum { OPT_METRIC = 256, OPT_LIMIT, OPT_TOP, OPT_GROUP, OPT_STRIP, OPT_MAP, OPT_STABLE, OPT_PRECISION };

/* Two single-process reports.  0, -1 (writing failed) or -2 (ENOMEM). */
static int diff_one(FILE *out, const struct mp_loaded_process_tree *o, const struct mp_loaded_process_tree *n,
                    const struct mp_diff_config *cfg, const struct mp_diff_options *dopt, double limit, int *broken)
{
    struct mp_diff d;
    *broken = 0;
    if (mp_diff_build_with(o->profiles[0], &o->runs[0], n->profiles[0], &n->runs[0], cfg, &d) != 0)
        return -2;
    int werr = mp_diff_write(out, &d, dopt);
    if (limit >= 0)
        *broken = mp_diff_check_limits(stderr, &d, limit, dopt->precision);
    mp_diff_free(&d);
    return werr ? -1 : 0;
}

/* "#3 ./b" */
static void image_name(char *buf, size_t len, const struct mp_report_run *run)
{
    snprintf(buf, len, "#%d %s", run->tree_id, run->command && run->command[0] ? run->command[0] : "?");
}

/* The tree's totals as a one-process comparison: the highest peak heap of
 * any image, leaked and allocated bytes of all. */
static void tree_totals(const struct mp_process_tree *t, struct mp_diff_value *peak, struct mp_diff_value *leaked,
                        struct mp_diff_value *allocated, int is_new)
{
    uint64_t p = 0, l = 0, a = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct mp_totals *tot = mp_profile_totals(t->procs[i].profile);
        if (t->procs[i].run->engine_note)
            continue;
        p = tot->peak_heap_bytes > p ? tot->peak_heap_bytes : p;
        l += tot->live_bytes;
        a += tot->allocated_bytes;
    }
    if (is_new) {
        peak->new_value = p, leaked->new_value = l, allocated->new_value = a;
        peak->new_known = leaked->new_known = allocated->new_known = 1;
    } else {
        peak->old_value = p, leaked->old_value = l, allocated->old_value = a;
        peak->old_known = leaked->old_known = allocated->old_known = 1;
    }
}

/* Two trees (or a tree and one process).  0, -1 (writing failed) or -2 (ENOMEM). */
static int diff_trees(FILE *out, const struct mp_loaded_process_tree *o, const struct mp_loaded_process_tree *n,
                      const struct mp_diff_config *cfg, const struct mp_diff_options *dopt, double limit, int *broken)
{
    const struct mp_process_tree *ot = &o->tree, *nt = &n->tree;
    const struct mp_report_run **oruns = calloc(ot->n, sizeof *oruns), **nruns = calloc(nt->n, sizeof *nruns);
    struct mp_process_pair *pairs = NULL;
    size_t n_pairs = 0;
    struct mp_diff **diffs = NULL;
    int rc = -2;
    *broken = 0;
    if (!oruns || !nruns)
        goto out;
    for (size_t i = 0; i < ot->n; i++)
        oruns[i] = ot->procs[i].run;
    for (size_t i = 0; i < nt->n; i++)
        nruns[i] = nt->procs[i].run;
    if (mp_process_pairs(oruns, ot->n, nruns, nt->n, &pairs, &n_pairs) != 0 ||
        !(diffs = calloc(n_pairs ? n_pairs : 1, sizeof *diffs)))
        goto out;
    for (size_t k = 0; k < n_pairs; k++) {
        if (pairs[k].old_index < 0 || pairs[k].new_index < 0)
            continue;
        const struct mp_process_image *op = &ot->procs[pairs[k].old_index], *np = &nt->procs[pairs[k].new_index];
        if (!(diffs[k] = malloc(sizeof *diffs[k])))
            goto out;
        if (mp_diff_build_with(op->profile, op->run, np->profile, np->run, cfg, diffs[k]) != 0) {
            free(diffs[k]);
            diffs[k] = NULL;
            goto out;
        }
    }
    rc = mp_process_tree_diff_write(out, ot, nt, pairs, n_pairs, diffs, dopt) ? -1 : 0;
    if (limit >= 0) {
        for (size_t k = 0; k < n_pairs; k++) {
            if (!diffs[k])
                continue;
            char where[300];
            image_name(where, sizeof where, nt->procs[pairs[k].new_index].run);
            *broken += mp_diff_check_limits_of(stderr, diffs[k], limit, dopt->precision, where);
        }
        struct mp_diff totals;
        memset(&totals, 0, sizeof totals);
        tree_totals(ot, &totals.summary[MP_DIFF_PEAK_HEAP], &totals.summary[MP_DIFF_LEAKED_BYTES],
                    &totals.summary[MP_DIFF_ALLOCATED_BYTES], 0);
        tree_totals(nt, &totals.summary[MP_DIFF_PEAK_HEAP], &totals.summary[MP_DIFF_LEAKED_BYTES],
                    &totals.summary[MP_DIFF_ALLOCATED_BYTES], 1);
        *broken += mp_diff_check_limits_of(stderr, &totals, limit, dopt->precision, "the whole tree");
    }
out:
    for (size_t k = 0; diffs && k < n_pairs; k++)
        if (diffs[k]) {
            mp_diff_free(diffs[k]);
            free(diffs[k]);
        }
    free(diffs);
    free(pairs);
    free(oruns);
    free(nruns);
    return rc;
}

int mp_cmd_diff(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "metric", required_argument, NULL, OPT_METRIC },
        { "limit-increase", required_argument, NULL, OPT_LIMIT },
        { "top", required_argument, NULL, OPT_TOP },
        { "group-by", required_argument, NULL, OPT_GROUP },
        { "strip", required_argument, NULL, OPT_STRIP },
        { "map", required_argument, NULL, OPT_MAP },
        { "stable", no_argument, NULL, OPT_STABLE },
        { "precision", required_argument, NULL, OPT_PRECISION },
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct mp_diff_config cfg = { .metric = MP_DIFF_ALLOCATED, .group = MP_DIFF_BY_LINE };
    int stable = 0, precision = 1;
    long v;
    double limit = -1;
    size_t top = 10;
    const char *out_path = NULL;

    /* argv[0] is the subcommand's name ("diff"), as getopt expects; getopt
     * permutes what it parses (options may follow the files), so it gets a
     * copy. */
    char **args = calloc((size_t)argc + 1, sizeof *args);
    const char **maps = calloc((size_t)argc + 1, sizeof *maps); /* --map: at most argc of them */
    cfg.paths.maps = maps;
    if (!args || !maps) {
        free(args);
        free(maps);
        fprintf(stderr, "memprof: out of memory\n");
        return 1;
    }
    for (int i = 0; i < argc; i++)
        args[i] = argv[i];
    int nargs = argc, status = 0;
    if (nargs < 1) {
        status = usage_error("diff needs two reports, OLD and NEW%s", "");
        goto done;
    }

    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(nargs, args, ":o:h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_METRIC:
            if (strcmp(optarg, "allocated") == 0) cfg.metric = MP_DIFF_ALLOCATED;
            else if (strcmp(optarg, "peak") == 0) cfg.metric = MP_DIFF_PEAK;
            else if (strcmp(optarg, "leaked") == 0) cfg.metric = MP_DIFF_LEAKED;
            else {
                status = usage_error("unknown metric '%s': use allocated, peak or leaked", optarg);
                goto done;
            }
            break;
        case OPT_LIMIT:
            if (parse_pct(optarg, &limit)) {
                status = usage_error("--limit-increase takes a percentage such as 10 or 2.5, not '%s'", optarg);
                goto done;
            }
            break;
        case OPT_TOP:
            if (parse_top(optarg, &top)) {
                status = usage_error("--top takes a whole number from 0 to 1000000, not '%s'", optarg);
                goto done;
            }
            break;
        case OPT_GROUP:
            if (strcmp(optarg, "line") == 0) cfg.group = MP_DIFF_BY_LINE;
            else if (strcmp(optarg, "file") == 0) cfg.group = MP_DIFF_BY_FILE;
            else if (strcmp(optarg, "function") == 0) cfg.group = MP_DIFF_BY_FUNCTION;
            else if (strcmp(optarg, "traceback") == 0) cfg.group = MP_DIFF_BY_TRACEBACK;
            else {
                status = usage_error("unknown --group-by '%s': use line, file, function or traceback", optarg);
                goto done;
            }
            break;
        case OPT_STRIP:
            if (mp_cli_parse_count(optarg, "--strip", 255, usage_line, &v)) {
                status = 2;
                goto done;
            }
            cfg.paths.strip = (int)v;
            break;
        case OPT_MAP:
            if (!strchr(optarg, '=') || optarg[0] == '=') {
                status = usage_error("--map takes OLD=NEW (a leading path of the old report and what it is in the "
                                     "new one), not '%s'", optarg);
                goto done;
            }
            maps[cfg.paths.n_maps++] = optarg;
            break;
        case OPT_STABLE: stable = 1; break;
        case OPT_PRECISION:
            if (mp_cli_parse_count(optarg, "--precision", 9, usage_line, &v)) {
                status = 2;
                goto done;
            }
            precision = (int)v;
            break;
        case 'o': out_path = optarg; break;
        case 'h': print_help(); goto done;
        default:
            mp_cli_option_error(c, args, usage_line);
            status = 2;
            goto done;
        }
    }
    if (nargs - optind != 2) {
        if (nargs - optind < 2)
            status = usage_error("diff needs two reports, OLD and NEW%s", "");
        else
            status = usage_error("diff compares two reports, not more: '%s' is one too many", args[optind + 2]);
        goto done;
    }

    const char *old_path = args[optind], *new_path = args[optind + 1];
    struct mp_loaded_process_tree old_r = { 0 }, new_r = { 0 };
    char err[1024];
    if (mp_load_process_tree(old_path, &old_r, err, sizeof err) != 0) {
        fprintf(stderr, "memprof: %s\n", err);
        status = 1;
        goto done;
    }
    if (mp_load_process_tree(new_path, &new_r, err, sizeof err) != 0) {
        fprintf(stderr, "memprof: %s\n", err);
        mp_loaded_process_tree_free(&old_r);
        status = 1;
        goto done;
    }
    struct mp_out_file file; /* replaced only by a complete comparison (out_file.h) */
    if (mp_out_open(&file, out_path ? out_path : "-") != 0) {
        status = 1;
        goto unload;
    }
    /* exact bytes: asked for, or both reports were saved for diffing */
    if (stable || (old_r.stable && new_r.stable))
        precision = MP_PRECISION_EXACT;
    struct mp_diff_options dopt = { .old_name = old_path, .new_name = new_path, .precision = precision,
                                    .top_lines = top };
    int broken = 0;
    int werr = old_r.schema == 1 && new_r.schema == 1 ? diff_one(file.f, &old_r, &new_r, &cfg, &dopt, limit, &broken)
                                                      : diff_trees(file.f, &old_r, &new_r, &cfg, &dopt, limit, &broken);
    if (werr)
        mp_out_abort(&file); /* the old file stays */
    else if (mp_out_commit(&file) != 0)
        werr = -1;
    if (werr == -2) {
        fprintf(stderr, "memprof: out of memory\n");
        status = 1;
    } else if (werr) {
        fprintf(stderr, "memprof: writing the comparison failed: %s\n", strerror(errno));
        status = 1;
    }
    if (broken > 0 && status == 0)
        status = DIFF_LIMIT_STATUS;
unload:
    mp_loaded_process_tree_free(&new_r);
    mp_loaded_process_tree_free(&old_r);
done:
    free(args);
    free(maps);
    return status;
}
