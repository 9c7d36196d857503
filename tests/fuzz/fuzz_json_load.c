/* memprof fuzz target: the JSON report loader (src/json_load.c) and every
 * writer (every view of the text report) fed by what it accepts.  Built and run by scripts/fuzz (libFuzzer,
 * ASan, UBSan).  A load either fails with one error line naming the input,
 * or gives a profile that every writer can render. */
#include "report/json_load.h"
#include "memprof/report.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* src/report_folded.c */

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        abort();
    struct mp_loaded_report r;
    char err[1024];
    if (mp_load_report_buffer((const char *)data, size, "fuzz.json", &r, err, sizeof err) != 0) {
        /* The contract: one line, naming the input. */
        if (strncmp(err, "fuzz.json", 9) != 0 || strchr(err, '\n'))
            abort();
        return 0;
    }
    /* every view, and the callers of a function and of a line */
    static const char *const callers[] = { "main", "a.c:3" };
    struct mp_report_options opt = { .cwd = NULL, .precision = 1, .top_lines = 10, .max_tables = 10,
                                     .stable = r.stable, .show = MP_VIEWS_ALL, .callers = callers, .n_callers = 2 };
    if (mp_write_text(devnull, r.profile, &r.run, r.sources, &opt) != 0 ||
        mp_write_json(devnull, r.profile, &r.run, r.sources, &opt) != 0 ||
        mp_write_folded(devnull, r.profile, &opt) != 0)
        abort();
    /* the pictures and the other tools' formats, each weight */
    for (int w = 0; w < MP_WEIGHT_COUNT; w++) {
        opt.weight = (enum mp_weight)w;
        opt.frames = w % 2 ? MP_FRAMES_FUNCTION : MP_FRAMES_LINE;
        if (mp_write_flamegraph(devnull, r.profile, &r.run, &opt) != 0 ||
            mp_write_folded(devnull, r.profile, &opt) != 0)
            abort();
    }
    if (mp_write_timeline_svg(devnull, r.profile, &r.run, &opt) != 0 ||
        mp_write_massif(devnull, r.profile, &r.run, &opt) != 0 ||
        mp_write_pprof(devnull, r.profile, &r.run, &opt) != 0 ||
        mp_write_speedscope(devnull, r.profile, &r.run, &opt) != 0 ||
        mp_write_html(devnull, r.profile, &r.run, r.sources, &opt) != 0)
        abort();
    opt.top_lines = opt.max_tables = 0;
    opt.precision = 9;
    opt.stable = !opt.stable;
    mp_write_text(devnull, r.profile, &r.run, r.sources, &opt);
    mp_loaded_report_free(&r);
    return 0;
}
