/* memprof: command-line options. */
#ifndef MEMPROF_CLI_H
#define MEMPROF_CLI_H

#include <stddef.h>
#include <stdint.h>
#include "capture/linemode/linemode.h"
#include "memprof/report.h"

enum mp_engine_choice { MP_ENGINE_AUTO, MP_ENGINE_AGENT, MP_ENGINE_BREAKPOINT, MP_ENGINE_NONE };

/* --svg FILE, --export FORMAT=FILE: a picture or another format written
 * from the live profile at the end (the same bytes as memprof report). */
struct mp_export {
    int format;                /* enum mp_format (formats.h) */
    const char *path;
};

struct mp_options {
    const char *output_path;   /* -o: text report; NULL: stderr */
    const char *json_path;     /* --json */
    struct mp_export *exports; /* --svg, --export (at most argc) */
    size_t n_exports;
    enum mp_weight weight;     /* --weight: the flame graph's and folded stacks' */
    enum mp_frame_names frames;/* --frames */
    int precision;
    size_t top_lines;
    size_t max_tables;
    enum mp_engine_choice engine;
    uint64_t interval_ns;      /* RSS sampling period */
    int stable;                /* --stable: nothing that varies between runs */
    uint64_t limit_heap, limit_rss, limit_leaks; /* bytes; MP_NO_LIMIT: none */
    int limit_status;          /* exit status when a limit is broken */
    unsigned leak_kinds;       /* --leak-kinds: bits 1 << enum mp_leak_kind; 0: definite and indirect */
    const char **suppression_files; /* --suppressions (repeatable), NULL-terminated */
    size_t n_suppression_files;
    int no_default_suppressions;
    struct mp_linemode_options linemode; /* --function (repeatable), --metric */
    const char **functions;    /* storage behind linemode.functions */
    int attach_pid;            /* -p PID: attach instead of launching; 0: launch */
    /* process trees */
    int follow;                /* follow child processes (default 1; --no-follow: 0) */
    const char **follow_only;  /* --follow-only GLOB (repeatable): only these programs are profiled */
    size_t n_follow_only;
    const char **no_follow_exec; /* --no-follow-exec GLOB (repeatable): let these programs go at exec */
    size_t n_no_follow_exec;
    int wait_children;         /* --wait-children=yes (default 1) or no */
    size_t top_processes;      /* --top-processes N: per-process sections (default 10; 0: all) */
    int process;               /* --process N: the image the one-image exports draw (0: highest peak heap) */
    uint64_t limit_total_rss;  /* --limit-total-rss: bytes; MP_NO_LIMIT: none */
    double duration_s;         /* --duration: detach after this long (0: until Ctrl-C or exit) */
    char **command;            /* the program and its arguments; NULL with -p */
    unsigned show;             /* --show: enum mp_view bits; 0: the default */
    const char **callers;      /* --callers (repeatable) */
    size_t n_callers;
    const char **alloc_fns;    /* --alloc-fn globs (repeatable): allocation wrappers */
    size_t n_alloc_fns;
    int auto_alloc_fn;         /* fold wrappers found automatically (--no-auto-alloc-fn: 0) */
    int mmap;                  /* count mapped memory (--no-mmap: 0) */
};

enum mp_cli_result { MP_CLI_RUN, MP_CLI_EXIT_OK, MP_CLI_USAGE_ERROR };

/* "definite,indirect", "all", "possible", ...: memcheck's --show-leak-kinds
 * words (definite indirect possible reachable all none).  0 and the bits,
 * or -1. */
int mp_parse_leak_kinds(const char *text, unsigned *mask);

/* Parses argv.  On MP_CLI_EXIT_OK (--help, --version) the text was printed;
 * on MP_CLI_USAGE_ERROR a message and the usage line went to stderr. */
enum mp_cli_result mp_parse_options(int argc, char **argv, struct mp_options *opt);
void mp_options_free(struct mp_options *opt);

#endif
