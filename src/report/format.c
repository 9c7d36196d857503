/* memprof: sizes, counts, paths and line names as the reports show them. */
#include "format.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mp_format_size(char *buf, size_t len, int64_t bytes, int precision)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
    uint64_t mag = bytes < 0 ? (uint64_t)(-(bytes + 1)) + 1 : (uint64_t)bytes;
    if (precision < 0) { /* MP_PRECISION_EXACT: "15,984 B" */
        char digits[32];
        mp_format_count(digits, sizeof digits, mag);
        snprintf(buf, len, "%s%s B", bytes < 0 ? "-" : "", digits);
        return;
    }
    if (mag < 1024) {
        snprintf(buf, len, "%" PRId64 " B", bytes);
        return;
    }
    double v = (double)bytes / 1024.0;
    size_t u = 0;
    /* Move up a unit when the number would print as 1024 or more after rounding. */
    for (;;) {
        char digits[64];
        snprintf(digits, sizeof digits, "%.*f", precision, v < 0 ? -v : v);
        if (u + 1 >= sizeof units / sizeof *units || strtod(digits, NULL) < 1024.0)
            break;
        v /= 1024.0;
        u++;
    }
    snprintf(buf, len, "%.*f %s", precision, v, units[u]);
}

const char *mp_display_path(const char *path, const char *cwd)
{
    if (!path || !cwd || !*cwd)
        return path;
    size_t n = strlen(cwd);
    while (n > 0 && cwd[n - 1] == '/')
        n--; /* "/" and "dir/" name the same place as "" and "dir" */
    if (strncmp(path, cwd, n) == 0 && path[n] == '/' && path[n + 1])
        return path + n + 1;
    return path;
}

const char *mp_display_function(const char *function, int stable)
{
    if (stable && function && strncmp(function, "[unknown]+0x", 12) == 0)
        return "[unknown]";
    return function;
}

uint64_t mp_time_us(uint64_t ns)
{
    return (mp_saved_time_ns(ns) + 500) / 1000;
}

void mp_json_seconds(FILE *out, uint64_t ns)
{
    fprintf(out, "%.6f", (double)ns / 1e9);
}

void mp_text_line_name(FILE *out, const struct mp_line_stats *l, const struct mp_report_options *opt)
{
    const char *fn = mp_display_function(l->function, opt->stable);
    if (l->file)
        fprintf(out, "%s:%d (%s)", mp_display_path(l->file, opt->cwd), l->line, fn);
    else
        fprintf(out, "%s (%s)", fn, mp_display_path(l->module, opt->cwd));
}

void mp_text_stack(FILE *out, const struct mp_profile *p, const struct mp_stack_info *st,
                   const struct mp_report_options *opt)
{
    for (uint32_t i = 0; i < st->n_frames; i++) {
        const struct mp_line_stats *l = mp_profile_line(p, st->frame_lines[i]);
        fprintf(out, "      %s ", st->frame_lines[i] == st->self_line ? "->" : "at");
        mp_text_line_name(out, l, opt);
        fputc('\n', out);
        if (mp_line_is_c_main(l))
            break;
    }
}

double mp_saved_seconds(double seconds)
{
    char text[64];
    snprintf(text, sizeof text, "%.6f", seconds);
    return strtod(text, NULL);
}

uint64_t mp_saved_time_ns(uint64_t ns)
{
    return (uint64_t)(mp_saved_seconds((double)ns / 1e9) * 1e9 + 0.5);
}

uint64_t mp_per_second(uint64_t n, double seconds)
{
    if (!(seconds > 0))
        return 0;
    double v = (double)n / seconds + 0.5;
    return v >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)v;
}

const char *mp_run_end_word(const struct mp_report_run *run)
{
    if (run->unfollowed)
        return "not followed";
    if (run->let_go || run->detached)
        return "let go";
    if (run->execed)
        return "exec";
    return run->signal ? "signal" : "exit";
}

void mp_text_more_lines(FILE *out, size_t more)
{
    char buf[64];
    fprintf(out, "  (%s; --top=0 shows all)\n", MP_COUNT_NOUN(buf, more, "more line", "more lines"));
}
