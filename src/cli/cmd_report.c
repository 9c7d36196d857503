/* memprof: `memprof report FILE.json`: load a saved report (one process,
 * or a process tree) and write it again, as the text report (the default),
 * JSON, folded stacks, the pictures (flame graph, timeline, HTML) or another
 * tool's format. */
#define _GNU_SOURCE
#include "cli.h"
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

static const char usage_line[] = "usage: memprof report FILE.json [--format=F] [-o FILE] [--weight W] [--frames F]\n"
                                 "                      [--top N] [--tables N] [--top-processes N] [--process N]\n"
                                 "                      [--precision N] [--stable] [--show LIST] [--callers WHERE]\n"
                                 "                      [--leak-kinds K]\n";

static void print_help(void)
{
    printf("%s", usage_line);
    printf("\n"
           "Read a report saved with memprof --json and write it again.  FILE.json may be\n"
           "- for standard input.\n"
           "\n"
           "Options:\n"
           "      --format F      table: the text report (default); json: the JSON report;\n"
           "                      folded: folded stacks (flamegraph.pl, inferno), one line\n"
           "                      per stack with its weight; flamegraph: an interactive\n"
           "                      flame graph (SVG); svg: memory over time (the picture\n"
           "                      memprof plot draws); massif: valgrind massif's format\n"
           "                      (ms_print, massif-visualizer); pprof: gzipped\n"
           "                      profile.proto (go tool pprof); speedscope: speedscope's\n"
           "                      JSON; html: one page with the summary, both pictures\n"
           "                      and every view of the text; a process tree's text,\n"
           "                      json, folded and html show every process (folded\n"
           "                      stacks start with a frame naming it), the other\n"
           "                      formats one (--process)\n"
           "      --weight W      what the flame graph and folded stacks measure: bytes\n"
           "                      (allocated, the default), calls, peak (held at the heap\n"
           "                      peak), leaked, temporary\n"
           "      --frames F      line: frames are \"function (file:line)\" (default);\n"
           "                      function: one frame per function\n"
           "  -o, --output FILE   write to FILE instead of standard output (- too)\n"
           "      --top N         rows per section: lines, callers... (default 10; 0: all)\n"
           "      --tables N      per-function tables to print (default 10; 0: all)\n"
           "      --top-processes N  a process tree's per-process sections (default 10;\n"
           "                      0: all)\n"
           "      --process N     the image (#N) a process tree's one-picture formats draw\n"
           "                      (default: the highest peak heap); html: only that one\n"
           "      --precision N   digits after the point in sizes (default 1)\n"
           "      --stable        leave out what varies between runs (RSS, times, addresses)\n"
           "                      and print exact byte counts\n"
           "      --show LIST     the text report's views: summary, top, calls, peak, leaks,\n"
           "                      temporary, largest, sizes, threads, rate, tree, callers,\n"
           "                      rss, tables; all; +VIEW,-VIEW change the default\n"
           "      --callers WHERE who called WHERE (FILE:LINE or FUNCTION), with shares\n"
           "      --leak-kinds K  leak kinds to list line by line: definite, indirect,\n"
           "                      possible, reachable, or all (default definite,indirect)\n"
           "  -h, --help          show this help\n"
           "\n"
           "See memprof(1).\n");
}

enum { OPT_FORMAT = 256, OPT_TOP, OPT_TABLES, OPT_PRECISION, OPT_STABLE, OPT_SHOW, OPT_CALLERS, OPT_WEIGHT,
       OPT_FRAMES, OPT_LEAK_KINDS, OPT_TOP_PROCESSES, OPT_PROCESS };

/* Parses the options into *opt, *format, *output; the index of the file
 * argument, or -1 after an error (status in *status). */
static int parse(int argc, char **argv, struct mp_report_options *opt, const char **callers, enum mp_format *format,
                 const char **output, int *status)
{
    static const struct option longopts[] = {
        { "format", required_argument, NULL, OPT_FORMAT },
        { "output", required_argument, NULL, 'o' },
        { "top", required_argument, NULL, OPT_TOP },
        { "tables", required_argument, NULL, OPT_TABLES },
        { "precision", required_argument, NULL, OPT_PRECISION },
        { "stable", no_argument, NULL, OPT_STABLE },
        { "show", required_argument, NULL, OPT_SHOW },
        { "callers", required_argument, NULL, OPT_CALLERS },
        { "weight", required_argument, NULL, OPT_WEIGHT },
        { "frames", required_argument, NULL, OPT_FRAMES },
        { "leak-kinds", required_argument, NULL, OPT_LEAK_KINDS },
        { "top-processes", required_argument, NULL, OPT_TOP_PROCESSES },
        { "process", required_argument, NULL, OPT_PROCESS },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    long v;
    char err[1024];
    *status = 2;
    opterr = 0;
    optind = 0; /* a full restart of glibc's getopt, whatever scanned before */
    while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_FORMAT: {
            int f = mp_format_parse(optarg);
            if (f < 0) {
                fprintf(stderr, "memprof: unknown format '%s': use %s\n%s", optarg, mp_format_names(), usage_line);
                return -1;
            }
            *format = (enum mp_format)f;
            break;
        }
        case OPT_WEIGHT:
            if (mp_parse_weight(optarg, &opt->weight, usage_line)) return -1;
            break;
        case OPT_FRAMES:
            if (mp_parse_frames(optarg, &opt->frames, usage_line)) return -1;
            break;
        case 'o': *output = optarg; break;
        case OPT_TOP:
            if (mp_cli_parse_count(optarg, "--top", 1000000, usage_line, &v)) return -1;
            opt->top_lines = (size_t)v;
            break;
        case OPT_TABLES:
            if (mp_cli_parse_count(optarg, "--tables", 1000000, usage_line, &v)) return -1;
            opt->max_tables = (size_t)v;
            break;
        case OPT_PRECISION:
            if (mp_cli_parse_count(optarg, "--precision", 9, usage_line, &v)) return -1;
            opt->precision = (int)v;
            break;
        case OPT_STABLE: opt->stable = 1; break;
        case OPT_TOP_PROCESSES:
            if (mp_cli_parse_count(optarg, "--top-processes", 1000000, usage_line, &v)) return -1;
            opt->top_processes = (size_t)v;
            break;
        case OPT_PROCESS:
            if (mp_cli_parse_process(optarg, usage_line, &opt->process)) return -1;
            break;
        case OPT_SHOW:
        case OPT_CALLERS:
            if (c == OPT_SHOW ? mp_parse_show(optarg, &opt->show, err, sizeof err)
                              : mp_check_callers_spec(optarg, err, sizeof err)) {
                fprintf(stderr, "memprof: %s\n%s", err, usage_line);
                return -1;
            }
            if (c == OPT_CALLERS)
                callers[opt->n_callers++] = optarg;
            break;
        case OPT_LEAK_KINDS:
            if (mp_parse_leak_kinds(optarg, &opt->leak_kinds) != 0 || opt->leak_kinds == 0) {
                fprintf(stderr, "memprof: --leak-kinds takes a comma list of definite, indirect, possible and "
                                "reachable, or all, not '%s'\n%s", optarg, usage_line);
                return -1;
            }
            break;
        case 'h': print_help(); *status = 0; return -1;
        default:
            mp_cli_option_error(c, argv, usage_line);
            return -1;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "memprof: no report given: memprof report FILE.json\n%s", usage_line);
        return -1;
    }
    if (argc - optind > 1) {
        fprintf(stderr, "memprof: one report at a time, not '%s' too (memprof diff compares two)\n%s",
                argv[optind + 1], usage_line);
        return -1;
    }
    int to_stdout = !*output || strcmp(*output, "-") == 0;
    if (to_stdout && mp_format_is_binary(*format) && isatty(STDOUT_FILENO)) {
        fprintf(stderr, "memprof: --format=%s writes binary data (gzip): give -o FILE or redirect the output\n",
                mp_format_name(*format));
        return -1;
    }
    return optind;
}

/* argv[0] is the subcommand's name ("report"), as getopt expects. */
int mp_cmd_report(int argc, char **argv)
{
    enum mp_format format = MP_FMT_TABLE;
    const char *output = NULL;
    struct mp_report_options opt = { .cwd = NULL, .precision = 1, .top_lines = 10, .max_tables = 10,
                                     .top_processes = 10 };
    /* --callers can appear at most argc times */
    const char **callers = calloc((size_t)argc + 1, sizeof *callers);
    if (!callers) {
        fprintf(stderr, "memprof: out of memory\n");
        return 1;
    }
    opt.callers = callers;
    int status, file = parse(argc, argv, &opt, callers, &format, &output, &status);
    if (file < 0) {
        free(callers);
        return status;
    }
    struct mp_loaded_process_tree rep;
    char err[1024];
    if (mp_load_process_tree(argv[file], &rep, err, sizeof err) != 0) {
        fprintf(stderr, "memprof: %s\n", err);
        free(callers);
        return 1;
    }
    const struct mp_process_tree *t = &rep.tree;
    opt.stable = opt.stable || rep.stable;
    if (opt.stable)
        opt.precision = MP_PRECISION_EXACT;
    if (mp_check_process(t, opt.process, err, sizeof err)) {
        fprintf(stderr, "memprof: %s\n", err);
        mp_loaded_process_tree_free(&rep);
        free(callers);
        return 2;
    }
    /* a --callers that names nothing is a mistake to say before writing anything */
    if (opt.n_callers && mp_cli_unmatched_callers(t, &opt, err, sizeof err)) {
        fprintf(stderr, "memprof: %s\n", err);
        mp_loaded_process_tree_free(&rep);
        free(callers);
        return 2;
    }
    /* the file is replaced only by a complete report (out_file.h) */
    struct mp_out_file out;
    int rc = -1;
    if (mp_out_open(&out, output ? output : "-") == 0) {
        size_t shown;
        rc = mp_write_process_tree_format(out.f, format, t, rep.sources, &opt, &shown);
        if (rc)
            mp_out_abort(&out); /* the old file stays */
        else
            rc = mp_out_commit(&out);
        if (!rc)
            mp_note_process_tree_format(format, t, shown, opt.process != 0);
        if (rc)
            fprintf(stderr, "memprof: writing the report failed: %s\n", strerror(errno));
    }
    mp_loaded_process_tree_free(&rep);
    free(callers);
    return rc ? 1 : 0;
}
