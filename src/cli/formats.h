/* memprof: the report formats by name, for `memprof report --format`,
 * `memprof plot` and the record-time exports (--svg, --export FORMAT=FILE):
 * one table, one dispatch, so every way of asking for a format writes the
 * same bytes. */
#ifndef MEMPROF_FORMATS_H
#define MEMPROF_FORMATS_H

#include <stdio.h>
#include "memprof/report.h"

enum mp_format {
    MP_FMT_TABLE, MP_FMT_JSON, MP_FMT_FOLDED, MP_FMT_FLAMEGRAPH, MP_FMT_SVG,
    MP_FMT_MASSIF, MP_FMT_PPROF, MP_FMT_SPEEDSCOPE, MP_FMT_HTML,
};

/* The format called `name`, or -1. */
int mp_format_parse(const char *name);
const char *mp_format_name(enum mp_format f);
/* "table, json, folded, ... or html", for error messages. */
const char *mp_format_names(void);
/* pprof is gzip: not for a terminal. */
int mp_format_is_binary(enum mp_format f);

/* Writes the profile in format f.  0, or -1 when writing failed. */
int mp_write_format(FILE *out, enum mp_format f, const struct mp_profile *p, const struct mp_report_run *run,
                    const struct mp_sources *src, const struct mp_report_options *opt);

/* Writes a process tree in format f: the tree's own text, JSON, folded
 * stacks and HTML (one section per image); a one-process format (the
 * pictures, massif, pprof, speedscope) draws the image opt->process names
 * (by tree number), else the one with the highest peak heap, and *shown is
 * its index (else t->n).  A tree of one image is written as one process. */
int mp_write_process_tree_format(FILE *out, enum mp_format f, const struct mp_process_tree *t, const struct mp_sources *src,
                         const struct mp_report_options *opt, size_t *shown);
/* The index of image #id, or t->n. */
size_t mp_process_tree_find(const struct mp_process_tree *t, int id);
/* The image a one-process format draws from a tree: #process when there is
 * one, else the highest peak heap (the first such in tree order). */
size_t mp_process_tree_picture_image(const struct mp_process_tree *t, int process);
/* Says on stderr which image a one-process format showed, why (`chosen`:
 * by --process), and how many others there are and how to see them
 * (nothing when shown is t->n). */
void mp_note_process_tree_format(enum mp_format f, const struct mp_process_tree *t, size_t shown, int chosen);
/* --process N names an image of t (or is 0): 0, else -1 with a sentence in
 * err. */
int mp_check_process(const struct mp_process_tree *t, int process, char *err, size_t len);

/* --weight W and --frames F: 0, or -1 after a one-line error naming the
 * choices (and the usage line). */
int mp_parse_weight(const char *s, enum mp_weight *out, const char *usage);
int mp_parse_frames(const char *s, enum mp_frame_names *out, const char *usage);

#endif
