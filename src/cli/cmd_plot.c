/* memprof: `memprof plot PROFILE.json [-o FILE.svg]`: the timeline picture
 * (RSS and heap over time) of a saved report, like `mprof plot`.  The same
 * SVG as `memprof report --format=svg` and as `--svg FILE` at record time. */
#define _GNU_SOURCE
#include "cli_common.h"
#include "commands.h"
#include "formats.h"
#include "out_file.h"
#include "report/json_load.h"
#include "memprof/report.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_line[] = "usage: memprof plot PROFILE.json [-o FILE.svg]\n";

static void print_help(void)
{
    printf("%s", usage_line);
    printf("\n"
           "Draw RSS and heap over time from a report saved with memprof --json, as one\n"
           "self-contained SVG: the heap peak marked and labelled with the line that held\n"
           "most, the exit marked, --function spans under the time axis.  Any browser\n"
           "shows it.  PROFILE.json may be - for standard input.\n"
           "\n"
           "Options:\n"
           "  -o, --output FILE   write to FILE (- for standard output); without it the SVG\n"
           "                      goes to standard output, or, when that is a terminal, to\n"
           "                      PROFILE.svg beside the report\n"
           "      --precision N   digits after the point in sizes (default 1)\n"
           "      --process N     of a process tree, draw image #N (default: the one with\n"
           "                      the highest peak heap)\n"
           "  -h, --help          show this help\n"
           "\n"
           "See memprof(1).\n");
}

/* "dir/prof.json" -> "dir/prof.svg" (malloc'd). */
static char *svg_name(const char *json)
{
    size_t n = strlen(json);
    if (n > 5 && strcmp(json + n - 5, ".json") == 0)
        n -= 5;
    char *s = malloc(n + 5);
    if (s) {
        memcpy(s, json, n);
        memcpy(s + n, ".svg", 5);
    }
    return s;
}

enum { OPT_PRECISION = 256, OPT_PROCESS };

int mp_cmd_plot(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "output", required_argument, NULL, 'o' },
        { "precision", required_argument, NULL, OPT_PRECISION },
        { "process", required_argument, NULL, OPT_PROCESS },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *output = NULL;
    struct mp_report_options opt = { .precision = 1 };
    int c;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case OPT_PRECISION: {
            long v;
            if (mp_cli_parse_count(optarg, "--precision", 9, usage_line, &v)) return 2;
            opt.precision = (int)v;
            break;
        }
        case OPT_PROCESS:
            if (mp_cli_parse_process(optarg, usage_line, &opt.process)) return 2;
            break;
        case 'h': print_help(); return 0;
        default:
            mp_cli_option_error(c, argv, usage_line);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "memprof: no report given: memprof plot PROFILE.json (saved with memprof --json)\n%s",
                usage_line);
        return 2;
    }
    if (argc - optind > 1) {
        fprintf(stderr, "memprof: one report at a time, not '%s' too\n%s", argv[optind + 1], usage_line);
        return 2;
    }
    const char *input = argv[optind];
    char *derived = NULL;
    if (!output && isatty(STDOUT_FILENO)) {
        if (strcmp(input, "-") == 0) {
            fprintf(stderr, "memprof: the report comes from standard input: give -o FILE.svg\n%s", usage_line);
            return 2;
        }
        if (!(output = derived = svg_name(input))) {
            fprintf(stderr, "memprof: out of memory\n");
            return 1;
        }
    }
    struct mp_loaded_process_tree rep;
    char err[1024];
    if (mp_load_process_tree(input, &rep, err, sizeof err) != 0) {
        fprintf(stderr, "memprof: %s\n", err);
        free(derived);
        return 1;
    }
    if (mp_check_process(&rep.tree, opt.process, err, sizeof err)) {
        fprintf(stderr, "memprof: %s\n", err);
        mp_loaded_process_tree_free(&rep);
        free(derived);
        return 2;
    }
    /* a process tree's picture is --process's image, or the highest peak heap */
    size_t shown = mp_process_tree_picture_image(&rep.tree, opt.process);
    const struct mp_sample *samples;
    if (mp_profile_timeline(rep.tree.procs[shown].profile, &samples) == 0) {
        fprintf(stderr, "memprof: %s has no timeline to plot: %s\n", strcmp(input, "-") ? input : "<stdin>",
                rep.stable ? "it was recorded with --stable, which leaves times out; record it again without"
                           : "no RSS sample was taken");
        mp_loaded_process_tree_free(&rep);
        free(derived);
        return 1;
    }
    opt.stable = rep.stable;
    struct mp_out_file out; /* replaced only by a complete picture (out_file.h) */
    int rc = 1;
    if (mp_out_open(&out, output ? output : "-") == 0) {
        rc = mp_write_process_tree_format(out.f, MP_FMT_SVG, &rep.tree, rep.sources, &opt, &shown);
        if (rc)
            mp_out_abort(&out); /* the old file stays */
        else
            rc = mp_out_commit(&out);
        if (rc)
            fprintf(stderr, "memprof: writing the picture failed: %s\n", strerror(errno));
        else {
            mp_note_process_tree_format(MP_FMT_SVG, &rep.tree, shown, opt.process != 0);
            if (derived)
                fprintf(stderr, "memprof: wrote %s\n", derived);
        }
        rc = rc ? 1 : 0;
    }
    mp_loaded_process_tree_free(&rep);
    free(derived);
    return rc;
}
