/* memprof: CI limits on peak heap, peak RSS and leaks (--limit-heap,
 * --limit-rss, --limit-leaks) and the sizes they are written in. */
#ifndef MEMPROF_CI_LIMITS_H
#define MEMPROF_CI_LIMITS_H

#include <stdint.h>
#include <stdio.h>
#include "memprof/profile.h"
#include "memprof/report.h"

#define MP_NO_LIMIT UINT64_MAX

struct mp_limits {
    uint64_t heap, rss, leaks;   /* bytes; MP_NO_LIMIT: none */
    unsigned leak_kinds;         /* what --limit-leaks counts (bits 1 << enum mp_leak_kind); 0: definite
                                    and indirect.  Suppressed stacks never count; without leak kinds
                                    (the scan could not run) every live block does. */
    uint64_t total_rss;          /* the RSS of a tree's processes alive at once, summed */
};

/* "24MiB", "24 MB", "512KiB", "1G", "1.5GiB", "4096": binary units KiB MiB
 * GiB TiB (and bare K M G T), decimal units KB MB GB TB, B or nothing for
 * bytes; case does not matter.  0 and the value, or -1. */
int mp_parse_size(const char *text, uint64_t *bytes);

/* Writes one line to `out` for each broken limit, naming the limit, the
 * measured value and the line most responsible; returns how many broke.  A
 * heap or leak limit that cannot be checked (heap not profiled) counts as
 * broken, with a line saying why. */
int mp_check_limits(FILE *out, const struct mp_limits *limits, const struct mp_profile *p,
                    const struct mp_report_run *run, const struct mp_report_options *opt);

/* The same for each program image of a tree (not those --no-follow-exec let
 * go): each line names the image ("in #3 ./b (pid 1236)").  Returns how
 * many limits broke, all images together. */
int mp_check_process_tree_limits(FILE *out, const struct mp_limits *limits, const struct mp_process_tree *tree,
                                 const struct mp_report_options *opt);

/* --limit-total-rss against the highest sum of one sampling round
 * (`peak_bytes`; the tree gives when, how many processes, the biggest).
 * 1 when broken (one line), else 0. */
int mp_check_total_rss(FILE *out, const struct mp_limits *limits, const struct mp_process_tree *tree,
                       uint64_t peak_bytes, const struct mp_report_options *opt);

#endif
