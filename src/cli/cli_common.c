/* memprof: option errors, counts and caller specs shared by every command
 * line (see cli_common.h; output files are out_file.c's). */
#define _GNU_SOURCE
#include "cli_common.h"
#include "memprof/report.h"
#include "memprof/run.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

void mp_cli_option_error(int c, char *const *argv, const char *usage)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    if (c == ':') {
        fprintf(stderr, "memprof: option %s needs a value\n%s", arg, usage);
        return;
    }
    if (strncmp(arg, "--", 2) == 0) {
        const char *eq = strchr(arg, '=');
        int len = eq ? (int)(eq - arg) : (int)strlen(arg);
        if (eq && optopt)  /* a known option that takes no value got one */
            fprintf(stderr, "memprof: option %.*s takes no value: write %.*s, not %s\n%s", len, arg, len, arg,
                    arg, usage);
        else if (len == 8 && strncmp(arg, "--format", 8) == 0 && strstr(usage, " PROGRAM ")) /* report's, on a run */
            fprintf(stderr, "memprof: unknown option --format: a run writes other formats with --export FORMAT=FILE "
                            "(memprof report FILE.json --format=FORMAT renders a saved report)\n%s", usage);
        else
            fprintf(stderr, "memprof: unknown option %.*s\n%s", len, arg, usage);
        return;
    }
    if (optopt)
        fprintf(stderr, "memprof: unknown option -%c\n%s", optopt, usage);
    else
        fprintf(stderr, "memprof: unknown option %s\n%s", arg, usage);
}

int mp_cli_parse_count(const char *s, const char *name, long max, const char *usage, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > max) {
        fprintf(stderr, "memprof: %s takes a whole number from 0 to %ld, not '%s'\n%s", name, max, s, usage);
        return -1;
    }
    *out = v;
    return 0;
}

int mp_cli_parse_process(const char *s, const char *usage, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (s[0] == '#')
        v = strtol(s + 1, &end, 10);
    if (errno || end == s || *end || v < 1 || v > 1000000000) {
        fprintf(stderr, "memprof: --process takes a process number of the tree (#N in the text report: 1, 2, ...), "
                        "not '%s'\n%s", s, usage);
        return -1;
    }
    *out = (int)v;
    return 0;
}

size_t mp_cli_unmatched_callers(const struct mp_process_tree *t, const struct mp_report_options *opt, char *err,
                                size_t errlen)
{
    size_t unmatched = 0;
    for (size_t c = 0; c < opt->n_callers; c++) {
        struct mp_report_options one = *opt;
        one.callers = &opt->callers[c];
        one.n_callers = 1;
        char first[1024] = "";
        int with_heap = 0, matched = 0;
        for (size_t i = 0; i < t->n && !matched; i++) {
            if (t->procs[i].run->engine_note)
                continue; /* RSS only: nothing to match */
            with_heap = 1;
            char e[1024];
            if (!mp_unmatched_callers(t->procs[i].profile, &one, e, sizeof e))
                matched = 1;
            else if (!first[0])
                snprintf(first, sizeof first, "%s", e);
        }
        if (with_heap && !matched && unmatched++ == 0)
            snprintf(err, errlen, "%s", first);
    }
    return unmatched;
}
