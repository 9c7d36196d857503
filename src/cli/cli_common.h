/* memprof: what every command line of memprof shares (memprof, memprof
 * report, memprof diff): the messages for a bad option, whole-number
 * arguments, and output files where "-" means standard output. */
#ifndef MEMPROF_CLI_COMMON_H
#define MEMPROF_CLI_COMMON_H

#include <stddef.h>
#include <stdio.h>

struct mp_process_tree;
struct mp_report_options;

/* After getopt_long returned ':' or '?' (opterr = 0, optstring starting with
 * ':'): one line naming the problem, then `usage`, on stderr.  c is what
 * getopt_long returned; argv and optind as getopt_long left them. */
void mp_cli_option_error(int c, char *const *argv, const char *usage);

/* A whole number from 0 to max; else a one-line error (naming `name`, such
 * as "--top") and `usage` on stderr, and -1. */
int mp_cli_parse_count(const char *s, const char *name, long max, const char *usage, long *out);
/* --process N: a process tree's image number (1 or more); 0, or -1 after a
 * one-line error and the usage. */
int mp_cli_parse_process(const char *s, const char *usage, int *out);

/* The --callers specs of opt that no line that allocated matches, in any
 * image of t that has heap data (one process: mp_unmatched_callers); their
 * count, with a sentence for the first in err. */
size_t mp_cli_unmatched_callers(const struct mp_process_tree *t, const struct mp_report_options *opt, char *err,
                                size_t errlen);

#endif
