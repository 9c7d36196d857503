/* memprof: report writers.  Pure functions of the profile and the run's
 * outcome: they write to the stream they are given and do nothing else. */
#ifndef MEMPROF_REPORT_H
#define MEMPROF_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "memprof/profile.h"
#include "memprof/run.h"

struct mp_sources;

/* The sections of the text report (--show), in the order they are written. */
enum mp_view {
    MP_VIEW_SUMMARY = 1u << 0,   /* peak RSS, totals, peak heap, temporaries, leaks, rate */
    MP_VIEW_TOP = 1u << 1,       /* lines by bytes allocated */
    MP_VIEW_CALLS = 1u << 2,     /* lines by allocation calls */
    MP_VIEW_PEAK = 1u << 3,      /* the peak's stack, lines holding the peak */
    MP_VIEW_LEAKS = 1u << 4,     /* lines and stacks never freed */
    MP_VIEW_TEMPORARY = 1u << 5, /* lines by temporary allocations */
    MP_VIEW_LARGEST = 1u << 6,   /* the largest single allocations with their stacks */
    MP_VIEW_SIZES = 1u << 7,     /* the size histogram */
    MP_VIEW_THREADS = 1u << 8,   /* per thread; who held most at the peak */
    MP_VIEW_RATE = 1u << 9,      /* allocations per second over the run */
    MP_VIEW_TREE = 1u << 10,     /* top-down call tree from main */
    MP_VIEW_CALLERS = 1u << 11,  /* bottom-up: the callers of the top lines (or of --callers) */
    MP_VIEW_RSS = 1u << 12,      /* what the RSS at exit was made of */
    MP_VIEW_TABLES = 1u << 13,   /* one table per function */
};
#define MP_VIEWS_ALL ((1u << 14) - 1)
/* What a report shows when --show is not given: what it showed before the
 * other views existed, so reports and the diffs made of them stay the same. */
#define MP_VIEWS_DEFAULT (MP_VIEW_SUMMARY | MP_VIEW_TOP | MP_VIEW_PEAK | MP_VIEW_LEAKS | MP_VIEW_TEMPORARY | \
                          MP_VIEW_RSS | MP_VIEW_TABLES)

/* --precision's value for exact byte counts ("15,984 B"): what --stable uses. */
#define MP_PRECISION_EXACT (-1)

/* What the flame graph's and the folded stacks' widths measure (--weight). */
enum mp_weight {
    MP_WEIGHT_BYTES = 0,   /* bytes allocated (the default) */
    MP_WEIGHT_CALLS,       /* allocation calls */
    MP_WEIGHT_PEAK,        /* bytes held when the heap reached its peak */
    MP_WEIGHT_LEAKED,      /* bytes never freed (live at exit or detach) */
    MP_WEIGHT_TEMPORARY,   /* temporary allocations (calls) */
};
#define MP_WEIGHT_COUNT 5

/* How frames are named in the pictures and exports (--frames). */
enum mp_frame_names {
    MP_FRAMES_LINE = 0,    /* "function (file:line)": two lines of a function are two frames */
    MP_FRAMES_FUNCTION,    /* "function": one frame per function (folded output before 0.2) */
};

struct mp_report_options {
    const char *cwd;             /* paths under it are shown relative to it; NULL: absolute */
    int precision;               /* digits after the point in sizes (memory_profiler's --precision),
                                    or MP_PRECISION_EXACT */
    size_t top_lines;            /* rows in "Top lines"; 0: all */
    size_t max_tables;           /* per-function tables; 0: all */
    int stable;                  /* leave out what varies between runs: RSS, times, addresses;
                                    sizes are exact byte counts */
    int line_metric;             /* line mode's Mem usage: 0 RSS, 1 heap (enum mp_lm_metric) */
    unsigned show;               /* enum mp_view bits; 0: MP_VIEWS_DEFAULT */
    const char *const *callers;  /* --callers: FILE:LINE or FUNCTION each (the callers view) */
    size_t n_callers;

    enum mp_weight weight;       /* flame graph, folded stacks */
    enum mp_frame_names frames;  /* flame graph, folded stacks, speedscope */
    unsigned leak_kinds;         /* --leak-kinds: bits 1 << enum mp_leak_kind; 0: definite and indirect */
    size_t top_processes;        /* tree reports: per-process sections; 0: all */
    int process;                 /* --process N: the image (tree number) the pictures and
                                    exports of a tree draw, the only one in HTML; 0: the
                                    image with the highest peak heap (HTML: each) */
};

/* A process tree: one profile and run per program image, in tree order
 * (procs[0] is the target's first image).  Written when the tree has more
 * than one image; a single image gets the single-process writers. */
struct mp_process_image {
    const struct mp_profile *profile;
    const struct mp_report_run *run;
};

struct mp_process_tree {
    const struct mp_process_image *procs;
    size_t n;
    size_t top_last;             /* the target's last image: the tree's command ended as it did */
    /* the highest sum of the RSS of the processes alive at one moment (sampled) */
    int total_rss_known;
    uint64_t total_rss_bytes;
    double total_rss_seconds;
    size_t total_rss_processes;
    int total_rss_biggest;       /* tree id of the biggest process then, 0: unknown */
    uint64_t events_lost;        /* lost events whose process is unknown */
    const char *const *warnings; /* about the tree as a whole */
    size_t n_warnings;
};

/* Parses a --show list ("summary,tree", "all", "+sizes,-tables": items
 * with + or - change the default) into *views.  0, or -1 with one sentence
 * in err naming the bad item and the view names. */
int mp_parse_show(const char *list, unsigned *views, char *err, size_t errlen);
/* Checks one --callers spec (FILE:LINE or FUNCTION); -1 with a sentence in err. */
int mp_check_callers_spec(const char *spec, char *err, size_t errlen);
/* The --callers specs that match no line of p that allocated, with a
 * sentence for the first in err; 0 when all match. */
size_t mp_unmatched_callers(const struct mp_profile *p, const struct mp_report_options *opt, char *err,
                            size_t errlen);

/* Both return 0, or -1 when writing failed. */
int mp_write_text(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                  const struct mp_sources *src, const struct mp_report_options *opt);
int mp_write_json(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                  const struct mp_sources *src, const struct mp_report_options *opt);
/* Folded stacks for flamegraph.pl: "main (a.c:9);f (a.c:3) WEIGHT" per
 * stack, sorted (report_folded.c). */
int mp_write_folded(FILE *out, const struct mp_profile *p, const struct mp_report_options *opt);

/* The pictures and the other tools' formats.  Each is its own file in
 * src/report/, a pure function of the profile and the run; each returns 0,
 * or -1 when writing failed (or, for pprof, when memory ran out). */

/* RSS and heap over time, one self-contained SVG (report_timeline_svg.c). */
int mp_write_timeline_svg(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                          const struct mp_report_options *opt);
/* An interactive flame graph of opt->weight, one self-contained SVG
 * (report_flamegraph.c). */
int mp_write_flamegraph(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                        const struct mp_report_options *opt);
/* valgrind massif's massif.out format, for ms_print and massif-visualizer
 * (report_massif.c). */
int mp_write_massif(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                    const struct mp_report_options *opt);
/* pprof's profile.proto, gzipped, for go tool pprof (report_pprof.c). */
int mp_write_pprof(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                   const struct mp_report_options *opt);
/* speedscope's file format, one profile per weight (report_speedscope.c). */
int mp_write_speedscope(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                        const struct mp_report_options *opt);
/* One HTML file: summary, timeline, flame graph, tables (report_html.c). */
int mp_write_html(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                  const struct mp_sources *src, const struct mp_report_options *opt);

/* --weight's names ("bytes", "calls", "peak", "leaked", "temporary"):
 * the weight, or -1 for an unknown name. */
int mp_weight_parse(const char *name);
const char *mp_weight_name(enum mp_weight w);
/* A process tree (report_processes.c, report_processes_json.c): the tree summary,
 * then one section per process (the text and JSON writers above, each), at
 * most opt->top_processes of them in the text.  Folded stacks get a first
 * frame naming the process ("#2 ./a"). */
int mp_write_process_tree_text(FILE *out, const struct mp_process_tree *t, const struct mp_sources *src,
                               const struct mp_report_options *opt);
int mp_write_process_tree_json(FILE *out, const struct mp_process_tree *t, const struct mp_sources *src,
                               const struct mp_report_options *opt);
int mp_write_process_tree_folded(FILE *out, const struct mp_process_tree *t, const struct mp_report_options *opt);
/* One HTML page: the tree's summary, then one section per image (each with
 * its pictures and views), as many as the text has; only opt->process's
 * when set (report_html_tree.c). */
int mp_write_process_tree_html(FILE *out, const struct mp_process_tree *t, const struct mp_sources *src,
                               const struct mp_report_options *opt);

#endif
