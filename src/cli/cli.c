/* memprof: option parsing, --help and --version. */
#define _GNU_SOURCE
#include "cli.h"
#include "ci_limits.h"
#include "cli_common.h"
#include "formats.h"
#include "capture/linemode/linemode.h"
#include "memprof/report.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MEMPROF_VERSION
#define MEMPROF_VERSION "dev"
#endif

static const char usage_line[] = "usage: memprof [OPTIONS] PROGRAM [ARGS...]  |  memprof [OPTIONS] -p PID\n";

static int add_function(struct mp_options *opt, const char *name)
{
    if (!*name) {
        fprintf(stderr, "memprof: --function takes a function name, such as --function build_table\n%s",
                usage_line);
        return -1;
    }
    opt->functions[opt->linemode.n_functions++] = name;
    return 0;
}

static void print_help(void)
{
    printf("%s", usage_line);
    printf("\n"
           "Run PROGRAM under memprof's ptrace supervisor, record every heap allocation and\n"
           "the peak RSS, and print a line-level memory report (memory_profiler style) to\n"
           "stderr.  PROGRAM's own stdin, stdout and stderr are left alone.  memprof exits\n"
           "with PROGRAM's exit status, or 128+N when it died of signal N.\n"
           "\n"
           "Options:\n"
           "  -o, --output FILE   write the text report to FILE instead of stderr (- stdout)\n"
           "      --json FILE     also write the report as JSON, the saved profile (- too)\n"
           "                      A report file is replaced only by a complete report\n"
           "      --svg FILE      also draw memory over time (RSS, heap, the peak) as SVG\n"
           "      --export F=FILE also write format F: flamegraph, svg, html, massif, pprof,\n"
           "                      speedscope, folded, json, table (repeatable; - too)\n"
           "      --weight W      what flame graphs and folded stacks measure: bytes\n"
           "                      (default), calls, peak, leaked, temporary\n"
           "      --frames F      line: frames named \"function (file:line)\" (default);\n"
           "                      function: one frame per function\n"
           "      --top N         rows per section: lines, callers... (default 10; 0: all)\n"
           "      --tables N      per-function tables to print (default 10; 0: all)\n"
           "      --precision N   digits after the point in sizes (default 1)\n"
           "      --engine E      heap engine: auto (default: the agent, breakpoints for\n"
           "                      static programs), agent, breakpoint (ptrace breakpoints\n"
           "                      on the allocator: no preload, ~100x slower), none (RSS)\n"
           "      --interval T    RSS sampling period: 10ms (default), 250ms, 1s, ...\n"
           "      --stable        leave out what varies between runs (RSS, times, addresses)\n"
           "                      and print exact byte counts: two runs of a deterministic\n"
           "                      program give byte-identical reports\n"
           "      --show LIST     the report's views, in report order: summary, top, calls,\n"
           "                      peak, leaks, temporary, largest, sizes, threads, rate,\n"
           "                      tree, callers, rss, tables; all; +VIEW,-VIEW change the\n"
           "                      default (summary,top,peak,leaks,temporary,rss,tables)\n"
           "      --callers WHERE who called WHERE (FILE:LINE or FUNCTION), with shares;\n"
           "                      repeatable; adds the callers view\n"
           "  -p, --pid PID       attach to a running process (breakpoint engine) instead of\n"
           "                      launching one; Ctrl-C (even during the setup) detaches\n"
           "                      and reports, leaving it running as it was; if memprof\n"
           "                      is killed it runs on (see memprof(1), ATTACHING)\n"
           "      --duration T    with -p: detach after T (30s, 500ms, 2m)\n"
           "      --no-mmap       leave out mapped memory: the program's own anonymous\n"
           "                      mmap/mremap and brk/sbrk (counted by default, apart from\n"
           "                      the heap: \"mapped\" columns, and the peak of heap + mapped)\n"
           "      --alloc-fn NAME an allocation wrapper (repeatable, globs: 'xmalloc*'):\n"
           "                      what it allocates is charged to its caller's line\n"
           "      --no-auto-alloc-fn  keep the wrappers memprof finds by itself (xmalloc,\n"
           "                      g_malloc, emalloc...: named so, one allocating line)\n"
           "  -h, --help          show this help\n"
           "      --version       show the version\n"
           "\n"
           "Process trees (PROGRAM's child processes are followed by default):\n"
           "      --no-follow     profile PROGRAM only; its children run without memprof\n"
           "      --follow-only GLOB  profile only processes running a matching program\n"
           "                      ('./tests/*', '*/cc1'; repeatable); the others are still\n"
           "                      followed, so their children are found\n"
           "      --no-follow-exec GLOB  a process that execs a matching program runs on\n"
           "                      without memprof, and so do its children (repeatable)\n"
           "      --wait-children yes|no  after PROGRAM exits, wait for the processes it\n"
           "                      left running (yes, default) or let them go (no)\n"
           "      --top-processes N  per-process sections in a tree report, biggest peak\n"
           "                      heap first (default 10); images under 1%% of the highest\n"
           "                      peak heap (wrappers) are folded, unless killed by a\n"
           "                      signal; 0: everything\n"
           "      --process N     the image (#N) that --svg and the one-picture --export\n"
           "                      formats draw (default: the highest peak heap), and the\n"
           "                      only one in html (default: a section for each)\n"
           "\n"
           "Line by line (memory_profiler's @profile, for native and Python code):\n"
           "      --function NAME memory after every line of NAME (repeatable; FILE.c:NAME\n"
           "                      picks one file's; globs such as 'parse_*' work); needs -g\n"
           "                      FILE.py:NAME, or NAME under python3: a Python function\n"
           "      --metric M      what the --function tables show: rss (default) or heap\n"
           "\n"
           "CI limits (the report is still written; memprof then exits with status 3):\n"
           "      --limit-heap SIZE    peak heap, e.g. 100MiB, 24MB, 512KiB, 1G\n"
           "      --limit-rss SIZE     peak RSS\n"
           "      --limit-leaks SIZE   bytes leaked, of the --leak-kinds (default: lost\n"
           "                           blocks, as valgrind's memcheck classes them)\n"
           "      (each applies to every process of the tree on its own)\n"
           "      --limit-total-rss SIZE  RSS of the processes alive at the same moment,\n"
           "                           summed (sampled every --interval)\n"
           "      --limit-status N     exit status for a broken limit (default 3)\n"
           "  KiB MiB GiB TiB and K M G T are binary (1024), KB MB GB TB decimal (1000).\n"
           "  A heap or leak limit fails when the heap was not measured.\n"
           "\n"
           "Leaks (blocks live at exit, classed as valgrind's memcheck does):\n"
           "      --leak-kinds K       what --limit-leaks counts and the report lists:\n"
           "                           definite, indirect, possible, reachable (a comma\n"
           "                           list) or all; default definite,indirect\n"
           "      --suppressions FILE  leak suppressions, LeakSanitizer's format: each\n"
           "                           leak:PATTERN matches a function, source file or\n"
           "                           library of an allocation's stack; repeatable\n"
           "      --no-default-suppressions\n"
           "                           also list the C/C++ runtimes' one-time allocations\n"
           "\n"
           "Saved reports (the --json file is the saved profile):\n"
           "  memprof report FILE.json [--format=F] [--show ...]   render it again\n"
           "  memprof plot FILE.json [-o FILE.svg]                 memory over time, as SVG\n"
           "  memprof diff OLD.json NEW.json                       what changed\n"
           "\n"
           "Build PROGRAM with -g for file:line attribution; Python programs\n"
           "(memprof python3 app.py, CPython 3.11 and 3.12) get their Python lines.\n"
           "See memprof(1).\n");
}

/* "10ms", "0.5s", "250" (milliseconds); 1 ms to 60 s. */
static int parse_interval(const char *s, uint64_t *ns)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    double scale = 1e6;
    if (strcmp(end, "s") == 0)
        scale = 1e9;
    else if (strcmp(end, "ms") != 0 && *end != '\0')
        end = NULL;
    if (errno || end == s || !end || !(v * scale >= 1e6 && v * scale <= 60e9)) {
        fprintf(stderr, "memprof: --interval takes a time from 1ms to 60s such as 10ms or 0.5s, not '%s'\n%s", s,
                usage_line);
        return -1;
    }
    *ns = (uint64_t)(v * scale);
    return 0;
}

static int parse_limit(const char *text, const char *name, uint64_t *out)
{
    if (mp_parse_size(text, out) != 0 || *out == MP_NO_LIMIT) {
        fprintf(stderr, "memprof: %s takes a size such as 100MiB, 24MB, 512KiB or 1G, not '%s'\n%s", name, text,
                usage_line);
        return -1;
    }
    return 0;
}

/* "30", "30s", "500ms", "2m": more than 0, at most a day. */
static int parse_duration(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end), scale = 1;
    if (strcmp(end, "ms") == 0)
        scale = 1e-3;
    else if (strcmp(end, "m") == 0)
        scale = 60;
    else if (strcmp(end, "s") != 0 && *end != '\0')
        end = NULL;
    if (errno || end == s || !end || !(v * scale >= 0.001 && v * scale <= 86400)) {
        fprintf(stderr, "memprof: --duration takes a time from 1ms to 24h such as 30s, 500ms or 2m, not '%s'\n%s",
                s, usage_line);
        return -1;
    }
    *out = v * scale;
    return 0;
}

/* --svg FILE (format svg) and --export FORMAT=FILE (format -1) */
static int add_export(struct mp_options *opt, int format, const char *arg)
{
    const char *path = arg;
    if (format >= 0 && !*arg) {
        fprintf(stderr, "memprof: --svg needs a file name, such as --svg memory.svg\n%s", usage_line);
        return -1;
    }
    if (format < 0) {
        const char *eq = strchr(arg, '=');
        char name[32];
        if (eq && (size_t)(eq - arg) < sizeof name) {
            memcpy(name, arg, (size_t)(eq - arg));
            name[eq - arg] = '\0';
            format = mp_format_parse(name);
            path = eq + 1;
        }
        if (!eq || format < 0 || !*path) {
            fprintf(stderr, "memprof: --export takes FORMAT=FILE with FORMAT one of %s, such as "
                            "--export flamegraph=heap.svg, not '%s'\n%s", mp_format_names(), arg, usage_line);
            return -1;
        }
    }
    opt->exports[opt->n_exports++] = (struct mp_export){ format, path };
    return 0;
}

enum { OPT_JSON = 256, OPT_DURATION, OPT_TOP, OPT_TABLES, OPT_PRECISION, OPT_ENGINE, OPT_VERSION, OPT_INTERVAL, OPT_STABLE,
       OPT_LIMIT_HEAP, OPT_LIMIT_RSS, OPT_LIMIT_LEAKS, OPT_LIMIT_STATUS, OPT_FUNCTION, OPT_METRIC, OPT_SHOW,
       OPT_CALLERS, OPT_SVG, OPT_EXPORT, OPT_WEIGHT, OPT_FRAMES, OPT_LEAK_KINDS, OPT_SUPPRESSIONS,
       OPT_NO_DEFAULT_SUPPRESSIONS, OPT_MMAP, OPT_NO_MMAP, OPT_ALLOC_FN, OPT_NO_AUTO_ALLOC_FN, OPT_NO_FOLLOW,
       OPT_FOLLOW_ONLY, OPT_NO_FOLLOW_EXEC, OPT_WAIT_CHILDREN, OPT_TOP_PROCESSES, OPT_LIMIT_TOTAL_RSS, OPT_PROCESS };

/* A --follow-only / --no-follow-exec pattern: a shell glob, not empty. */
static int add_glob(const char **list, size_t *n, const char *glob, const char *name)
{
    if (!*glob) {
        fprintf(stderr, "memprof: %s takes a program name or glob, such as %s '*/cc1'\n%s", name, name, usage_line);
        return -1;
    }
    list[(*n)++] = glob;
    return 0;
}

int mp_parse_leak_kinds(const char *text, unsigned *mask)
{
    static const char *const words[] = { "definite", "indirect", "possible", "reachable" };
    unsigned m = 0;
    const char *p = text;
    if (!*p)
        return -1;
    for (;;) {
        size_t len = strcspn(p, ",");
        int found = 0;
        if (len == 3 && strncmp(p, "all", 3) == 0)
            m |= 0xf, found = 1;
        else if (len == 4 && strncmp(p, "none", 4) == 0)
            found = 1;
        for (unsigned k = 0; k < 4 && !found; k++)
            if (strlen(words[k]) == len && strncmp(p, words[k], len) == 0)
                m |= 1u << k, found = 1;
        if (!found)
            return -1;
        if (!p[len])
            break;
        p += len + 1;
    }
    *mask = m;
    return 0;
}

enum mp_cli_result mp_parse_options(int argc, char **argv, struct mp_options *opt)
{
    static const struct option longopts[] = {
        { "output", required_argument, NULL, 'o' },
        { "json", required_argument, NULL, OPT_JSON },
        { "svg", required_argument, NULL, OPT_SVG },
        { "export", required_argument, NULL, OPT_EXPORT },
        { "weight", required_argument, NULL, OPT_WEIGHT },
        { "frames", required_argument, NULL, OPT_FRAMES },
        { "top", required_argument, NULL, OPT_TOP },
        { "tables", required_argument, NULL, OPT_TABLES },
        { "precision", required_argument, NULL, OPT_PRECISION },
        { "engine", required_argument, NULL, OPT_ENGINE },
        { "interval", required_argument, NULL, OPT_INTERVAL },
        { "stable", no_argument, NULL, OPT_STABLE },
        { "limit-heap", required_argument, NULL, OPT_LIMIT_HEAP },
        { "limit-rss", required_argument, NULL, OPT_LIMIT_RSS },
        { "limit-leaks", required_argument, NULL, OPT_LIMIT_LEAKS },
        { "limit-status", required_argument, NULL, OPT_LIMIT_STATUS },
        { "function", required_argument, NULL, OPT_FUNCTION },
        { "metric", required_argument, NULL, OPT_METRIC },
        { "show", required_argument, NULL, OPT_SHOW },
        { "callers", required_argument, NULL, OPT_CALLERS },
        { "leak-kinds", required_argument, NULL, OPT_LEAK_KINDS },
        { "suppressions", required_argument, NULL, OPT_SUPPRESSIONS },
        { "no-default-suppressions", no_argument, NULL, OPT_NO_DEFAULT_SUPPRESSIONS },
        { "no-follow", no_argument, NULL, OPT_NO_FOLLOW },
        { "follow-only", required_argument, NULL, OPT_FOLLOW_ONLY },
        { "no-follow-exec", required_argument, NULL, OPT_NO_FOLLOW_EXEC },
        { "wait-children", required_argument, NULL, OPT_WAIT_CHILDREN },
        { "top-processes", required_argument, NULL, OPT_TOP_PROCESSES },
        { "process", required_argument, NULL, OPT_PROCESS },
        { "limit-total-rss", required_argument, NULL, OPT_LIMIT_TOTAL_RSS },
        { "pid", required_argument, NULL, 'p' },
        { "duration", required_argument, NULL, OPT_DURATION },
        { "mmap", no_argument, NULL, OPT_MMAP },
        { "no-mmap", no_argument, NULL, OPT_NO_MMAP },
        { "alloc-fn", required_argument, NULL, OPT_ALLOC_FN },
        { "no-auto-alloc-fn", no_argument, NULL, OPT_NO_AUTO_ALLOC_FN },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 },
    };
    memset(opt, 0, sizeof *opt);
    opt->precision = 1;
    opt->top_lines = 10;
    opt->max_tables = 10;
    opt->engine = MP_ENGINE_AUTO;
    opt->interval_ns = 10 * 1000 * 1000;
    opt->limit_status = 3;
    opt->limit_heap = opt->limit_rss = opt->limit_leaks = opt->limit_total_rss = MP_NO_LIMIT;
    opt->auto_alloc_fn = 1;
    opt->mmap = 1;
    opt->follow = 1;
    opt->wait_children = 1;
    opt->top_processes = 10;
    /* --function, --callers, --alloc-fn and the globs can appear at most argc times: no growing needed. */
    opt->functions = calloc((size_t)argc + 1, sizeof *opt->functions);
    opt->callers = calloc((size_t)argc + 1, sizeof *opt->callers);
    opt->exports = calloc((size_t)argc + 1, sizeof *opt->exports);
    opt->suppression_files = calloc((size_t)argc + 1, sizeof *opt->suppression_files);
    opt->alloc_fns = calloc((size_t)argc + 1, sizeof *opt->alloc_fns);
    opt->follow_only = calloc((size_t)argc + 1, sizeof *opt->follow_only);
    opt->no_follow_exec = calloc((size_t)argc + 1, sizeof *opt->no_follow_exec);
    if (!opt->functions || !opt->callers || !opt->exports || !opt->suppression_files || !opt->alloc_fns ||
        !opt->follow_only || !opt->no_follow_exec) {
        fprintf(stderr, "memprof: out of memory\n");
        return MP_CLI_USAGE_ERROR;
    }
    opt->linemode.functions = opt->functions;
    opt->linemode.metric = MP_LM_METRIC_RSS;
    opterr = 0;
    optind = 1;
    int c;
    long v;
    while ((c = getopt_long(argc, argv, "+:o:p:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': opt->output_path = optarg; break;
        case OPT_JSON: opt->json_path = optarg; break;
        case OPT_SVG:
            if (add_export(opt, MP_FMT_SVG, optarg)) return MP_CLI_USAGE_ERROR;
            break;
        case OPT_EXPORT:
            if (add_export(opt, -1, optarg)) return MP_CLI_USAGE_ERROR;
            break;
        case OPT_WEIGHT:
            if (mp_parse_weight(optarg, &opt->weight, usage_line)) return MP_CLI_USAGE_ERROR;
            break;
        case OPT_FRAMES:
            if (mp_parse_frames(optarg, &opt->frames, usage_line)) return MP_CLI_USAGE_ERROR;
            break;
        case OPT_TOP:
            if (mp_cli_parse_count(optarg, "--top", 1000000, usage_line, &v)) return MP_CLI_USAGE_ERROR;
            opt->top_lines = (size_t)v;
            break;
        case OPT_TABLES:
            if (mp_cli_parse_count(optarg, "--tables", 1000000, usage_line, &v)) return MP_CLI_USAGE_ERROR;
            opt->max_tables = (size_t)v;
            break;
        case OPT_PRECISION:
            if (mp_cli_parse_count(optarg, "--precision", 9, usage_line, &v)) return MP_CLI_USAGE_ERROR;
            opt->precision = (int)v;
            break;
        case OPT_ENGINE:
            if (strcmp(optarg, "auto") == 0) opt->engine = MP_ENGINE_AUTO;
            else if (strcmp(optarg, "agent") == 0) opt->engine = MP_ENGINE_AGENT;
            else if (strcmp(optarg, "breakpoint") == 0) opt->engine = MP_ENGINE_BREAKPOINT;
            else if (strcmp(optarg, "none") == 0) opt->engine = MP_ENGINE_NONE;
            else {
                fprintf(stderr, "memprof: unknown engine '%s': use auto, agent, breakpoint or none\n%s", optarg,
                        usage_line);
                return MP_CLI_USAGE_ERROR;
            }
            break;
        case OPT_INTERVAL:
            if (parse_interval(optarg, &opt->interval_ns)) return MP_CLI_USAGE_ERROR;
            break;
        case OPT_STABLE: opt->stable = 1; break;
        case OPT_LIMIT_HEAP:
            if (parse_limit(optarg, "--limit-heap", &opt->limit_heap)) return MP_CLI_USAGE_ERROR;
            break;
        case OPT_LIMIT_RSS:
            if (parse_limit(optarg, "--limit-rss", &opt->limit_rss)) return MP_CLI_USAGE_ERROR;
            break;
        case OPT_LIMIT_LEAKS:
            if (parse_limit(optarg, "--limit-leaks", &opt->limit_leaks)) return MP_CLI_USAGE_ERROR;
            break;
        case OPT_LIMIT_STATUS:
            if (mp_cli_parse_count(optarg, "--limit-status", 255, usage_line, &v)) return MP_CLI_USAGE_ERROR;
            opt->limit_status = (int)v;
            break;
        case OPT_FUNCTION:
            if (add_function(opt, optarg)) return MP_CLI_USAGE_ERROR;
            break;
        case OPT_NO_FOLLOW: opt->follow = 0; break;
        case OPT_FOLLOW_ONLY:
            if (add_glob(opt->follow_only, &opt->n_follow_only, optarg, "--follow-only")) return MP_CLI_USAGE_ERROR;
            break;
        case OPT_NO_FOLLOW_EXEC:
            if (add_glob(opt->no_follow_exec, &opt->n_no_follow_exec, optarg, "--no-follow-exec"))
                return MP_CLI_USAGE_ERROR;
            break;
        case OPT_WAIT_CHILDREN:
            if (strcmp(optarg, "yes") == 0) opt->wait_children = 1;
            else if (strcmp(optarg, "no") == 0) opt->wait_children = 0;
            else {
                fprintf(stderr, "memprof: --wait-children takes yes or no, not '%s'\n%s", optarg, usage_line);
                return MP_CLI_USAGE_ERROR;
            }
            break;
        case OPT_TOP_PROCESSES:
            if (mp_cli_parse_count(optarg, "--top-processes", 1000000, usage_line, &v)) return MP_CLI_USAGE_ERROR;
            opt->top_processes = (size_t)v;
            break;
        case OPT_PROCESS:
            if (mp_cli_parse_process(optarg, usage_line, &opt->process)) return MP_CLI_USAGE_ERROR;
            break;
        case OPT_LIMIT_TOTAL_RSS:
            if (parse_limit(optarg, "--limit-total-rss", &opt->limit_total_rss)) return MP_CLI_USAGE_ERROR;
            break;
        case OPT_METRIC:
            if (strcmp(optarg, "rss") == 0) opt->linemode.metric = MP_LM_METRIC_RSS;
            else if (strcmp(optarg, "heap") == 0) opt->linemode.metric = MP_LM_METRIC_HEAP;
            else {
                fprintf(stderr, "memprof: unknown metric '%s': use rss or heap\n%s", optarg, usage_line);
                return MP_CLI_USAGE_ERROR;
            }
            break;
        case OPT_SHOW:
        case OPT_CALLERS: {
            char err[512];
            if (c == OPT_SHOW ? mp_parse_show(optarg, &opt->show, err, sizeof err)
                              : mp_check_callers_spec(optarg, err, sizeof err)) {
                fprintf(stderr, "memprof: %s\n%s", err, usage_line);
                return MP_CLI_USAGE_ERROR;
            }
            if (c == OPT_CALLERS)
                opt->callers[opt->n_callers++] = optarg;
            break;
        }
        case OPT_LEAK_KINDS:
            if (mp_parse_leak_kinds(optarg, &opt->leak_kinds) != 0 || opt->leak_kinds == 0) {
                fprintf(stderr, "memprof: --leak-kinds takes a comma list of definite, indirect, possible and "
                                "reachable, or all, not '%s'\n%s", optarg, usage_line);
                return MP_CLI_USAGE_ERROR;
            }
            break;
        case OPT_SUPPRESSIONS:
            if (!*optarg) {
                fprintf(stderr, "memprof: --suppressions takes a file of leak:PATTERN lines\n%s", usage_line);
                return MP_CLI_USAGE_ERROR;
            }
            opt->suppression_files[opt->n_suppression_files++] = optarg;
            break;
        case OPT_NO_DEFAULT_SUPPRESSIONS: opt->no_default_suppressions = 1; break;
        case 'p':
            if (mp_cli_parse_count(optarg, "-p", 0x7fffffff, usage_line, &v)) return MP_CLI_USAGE_ERROR;
            if (v == 0) {
                fprintf(stderr, "memprof: -p takes the pid of a running process, such as -p 1234\n%s", usage_line);
                return MP_CLI_USAGE_ERROR;
            }
            opt->attach_pid = (int)v;
            break;
        case OPT_DURATION:
            if (parse_duration(optarg, &opt->duration_s)) return MP_CLI_USAGE_ERROR;
            break;
        case OPT_MMAP: opt->mmap = 1; break;
        case OPT_NO_MMAP: opt->mmap = 0; break;
        case OPT_ALLOC_FN:
            if (!*optarg) {
                fprintf(stderr, "memprof: --alloc-fn takes a function name or glob, such as --alloc-fn xmalloc\n%s",
                        usage_line);
                return MP_CLI_USAGE_ERROR;
            }
            opt->alloc_fns[opt->n_alloc_fns++] = optarg;
            break;
        case OPT_NO_AUTO_ALLOC_FN: opt->auto_alloc_fn = 0; break;
        case 'h': print_help(); return MP_CLI_EXIT_OK;
        case OPT_VERSION: printf("memprof %s\n", MEMPROF_VERSION); return MP_CLI_EXIT_OK;
        default:
            mp_cli_option_error(c, argv, usage_line);
            return MP_CLI_USAGE_ERROR;
        }
    }
    if (opt->output_path && opt->json_path && strcmp(opt->output_path, "-") == 0 &&
        strcmp(opt->json_path, "-") == 0) {
        fprintf(stderr, "memprof: -o - and --json - would both write to standard output: send one to a file\n%s",
                usage_line);
        return MP_CLI_USAGE_ERROR;
    }
    int dashes = (opt->output_path && strcmp(opt->output_path, "-") == 0) +
                 (opt->json_path && strcmp(opt->json_path, "-") == 0);
    for (size_t i = 0; i < opt->n_exports; i++) {
        if (opt->stable && opt->exports[i].format == MP_FMT_SVG) {
            fprintf(stderr, "memprof: the SVG picture (%s) draws memory over time, which --stable leaves out: drop one "
                            "of them\n%s", opt->exports[i].path, usage_line);
            return MP_CLI_USAGE_ERROR;
        }
        dashes += strcmp(opt->exports[i].path, "-") == 0;
        if (strcmp(opt->exports[i].path, "-") == 0 && mp_format_is_binary((enum mp_format)opt->exports[i].format) &&
            isatty(STDOUT_FILENO)) {
            fprintf(stderr, "memprof: --export %s=- would write binary data (gzip) to the terminal: give a file name\n%s",
                    mp_format_name((enum mp_format)opt->exports[i].format), usage_line);
            return MP_CLI_USAGE_ERROR;
        }
    }
    if (dashes > 1) {
        fprintf(stderr, "memprof: two outputs would write to standard output (-): send all but one to files\n%s",
                usage_line);
        return MP_CLI_USAGE_ERROR;
    }
    if (!opt->follow && (opt->n_follow_only || opt->n_no_follow_exec || opt->limit_total_rss != MP_NO_LIMIT)) {
        fprintf(stderr, "memprof: --no-follow profiles one process: drop %s\n%s",
                opt->n_follow_only ? "--follow-only" : opt->n_no_follow_exec ? "--no-follow-exec" : "--limit-total-rss",
                usage_line);
        return MP_CLI_USAGE_ERROR;
    }
    if (opt->attach_pid) {
        const char *bad = optind < argc ? "a program to run" : opt->engine == MP_ENGINE_AGENT ? "--engine=agent"
                          : opt->linemode.n_functions ? "--function"
                          : opt->n_follow_only ? "--follow-only (an attached process's children are not followed)"
                          : opt->n_no_follow_exec ? "--no-follow-exec (an attached process's children are not followed)"
                          : opt->limit_total_rss != MP_NO_LIMIT ? "--limit-total-rss" : NULL;
        if (bad) {
            fprintf(stderr, "memprof: -p attaches to a running process: drop %s\n%s", bad, usage_line);
            return MP_CLI_USAGE_ERROR;
        }
        return MP_CLI_RUN;
    }
    if (opt->duration_s > 0) {
        fprintf(stderr, "memprof: --duration goes with -p PID (a launched program runs to its end)\n%s", usage_line);
        return MP_CLI_USAGE_ERROR;
    }
    if (optind >= argc) {
        fprintf(stderr, "memprof: no program given: memprof ./app [ARGS...]\n%s", usage_line);
        return MP_CLI_USAGE_ERROR;
    }
    opt->command = argv + optind;
    return MP_CLI_RUN;
}

void mp_options_free(struct mp_options *opt)
{
    free(opt->functions);
    free(opt->follow_only);
    free(opt->no_follow_exec);
    opt->functions = NULL;
    free(opt->callers);
    opt->callers = NULL;
    free(opt->exports);
    opt->exports = NULL;
    free(opt->suppression_files);
    opt->suppression_files = NULL;
    free(opt->alloc_fns);
    opt->alloc_fns = NULL;
    opt->follow_only = opt->no_follow_exec = NULL;
}
