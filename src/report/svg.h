/* memprof: what the SVG and HTML writers share: escaping text for XML,
 * axis ticks at round numbers, colours, the run's outcome in words. */
#ifndef MEMPROF_SVG_H
#define MEMPROF_SVG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "memprof/run.h"

/* s as XML character data or attribute text: & < > " ' escaped, control
 * characters (but tab and newline) and bytes that are not UTF-8 written as
 * U+FFFD, so the
 * document stays well-formed whatever a symbol name holds.  At most
 * max_chars characters (then "..."); 0: no limit. */
void mp_xml_text(FILE *out, const char *s, size_t max_chars);

/* The pictures' font (font-family "DejaVu Sans, ...", Debian's default
 * sans-serif): how far a text reaches from its baseline, in em. */
#define MP_SVG_ASCENT 0.93
#define MP_SVG_DESCENT 0.24
/* The width in pixels of s at font_px (bold or not) as mp_xml_text writes
 * it with max_chars: DejaVu Sans' advance widths for ASCII (measured in
 * Chromium), 1 em for any other character, so a label's box is never
 * narrower than its text. */
double mp_svg_text_width(const char *s, size_t max_chars, double font_px, int bold);
/* The max_chars for mp_xml_text that keeps s within max_px (0: s fits
 * whole; at least 4, "x..."). */
size_t mp_svg_fit_chars(const char *s, double max_px, double font_px, int bold);

/* Ticks at round numbers (1, 2 or 5 times a power of ten, in `unit`s) for
 * an axis from 0 to max (in base units): the step in units, how many
 * decimals its labels need, and the number of ticks (at 0, step, ...). */
struct mp_ticks {
    double unit;        /* base units per shown unit (1024 for KiB, 1e6 for ms ...) */
    const char *suffix; /* "KiB", "ms", ... */
    double step;        /* in shown units */
    int decimals;
    int count;          /* ticks from 0 up to the last one <= max */
};
/* Bytes: B, KiB, MiB, GiB, TiB. */
void mp_ticks_bytes(struct mp_ticks *t, double max_bytes, int target);
/* Nanoseconds: us, ms, s, min, h. */
void mp_ticks_time(struct mp_ticks *t, double max_ns, int target);
/* "12.5 ms", "1.2 min": a time in the unit its own size calls for. */
void mp_format_duration(char *buf, size_t len, double ns);
/* The same in the unit of a time axis ("1100 \xc2\xb5s" on an axis in \xc2\xb5s). */
void mp_format_time_on(char *buf, size_t len, double ns, const struct mp_ticks *axis);

/* A warm colour for a frame, stable for its name (flamegraph.pl's palette);
 * `cool`: a blue-grey one for frames without line info. */
void mp_frame_colour(char *buf, size_t len, const char *name, int cool);

/* "exit status 0", "killed by signal 11 (SIGSEGV)", "detached". */
void mp_run_outcome(char *buf, size_t len, const struct mp_report_run *run);
/* The command as one line, arguments separated by spaces. */
void mp_run_command(char *buf, size_t len, const struct mp_report_run *run);

#endif
