/* memprof fuzz target: the JSON report loader (src/report/json_load*.c:
 * both schemas, one process or a tree) and every writer (every view of the
 * text report) fed by what it accepts.  Built and run by scripts/fuzz (libFuzzer,
 * ASan, UBSan).  A load either fails with one error line naming the input,
 * or gives a profile that every writer can render. */
#define _GNU_SOURCE
#include "report/json_load.h"
#include "memprof/report.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        abort();
    struct mp_loaded_process_tree r, pw;
    char err[1024], err_pw[1024];
    /* The big arrays read one element at a time (json_load_lazy.c) must
     * give the very same outcome as the whole document. */
    mp_load_report_piecewise_from(0);
    int rc_pw = mp_load_process_tree_buffer((const char *)data, size, "fuzz.json", &pw, err_pw, sizeof err_pw);
    mp_load_report_piecewise_from((size_t)-1);
    int rc = mp_load_process_tree_buffer((const char *)data, size, "fuzz.json", &r, err, sizeof err);
    if (rc != rc_pw || (rc != 0 && strcmp(err, err_pw) != 0))
        abort();
    if (rc_pw == 0) {
        char *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        FILE *fa = open_memstream(&a, &na), *fb = open_memstream(&b, &nb);
        struct mp_report_options o = { .precision = 1, .top_lines = 10, .max_tables = 10, .stable = r.stable };
        if (!fa || !fb || mp_write_process_tree_json(fa, &r.tree, r.sources, &o) != 0 ||
            mp_write_process_tree_json(fb, &pw.tree, pw.sources, &o) != 0)
            abort();
        fclose(fa);
        fclose(fb);
        if (na != nb || memcmp(a, b, na) != 0)
            abort();
        free(a);
        free(b);
        mp_loaded_process_tree_free(&pw);
    }
    if (rc != 0) {
        /* The contract: one line, naming the input. */
        if (strncmp(err, "fuzz.json", 9) != 0 || strchr(err, '\n'))
            abort();
        return 0;
    }
    /* every view, and the callers of a function and of a line */
    static const char *const callers[] = { "main", "a.c:3" };
    struct mp_report_options opt = { .cwd = NULL, .precision = 1, .top_lines = 10, .max_tables = 10,
                                     .stable = r.stable, .show = MP_VIEWS_ALL, .callers = callers, .n_callers = 2,
                                     .top_processes = 10 };
    const struct mp_process_tree *t = &r.tree;
    /* the pictures and the other tools' formats of every image, each weight */
    for (size_t i = 0; i < t->n; i++) {
        const struct mp_profile *p = t->procs[i].profile;
        const struct mp_report_run *run = t->procs[i].run;
        for (int w = 0; w < MP_WEIGHT_COUNT; w++) {
            opt.weight = (enum mp_weight)w;
            opt.frames = w % 2 ? MP_FRAMES_FUNCTION : MP_FRAMES_LINE;
            if (mp_write_flamegraph(devnull, p, run, &opt) != 0 || mp_write_folded(devnull, p, &opt) != 0)
                abort();
        }
        if (mp_write_timeline_svg(devnull, p, run, &opt) != 0 || mp_write_massif(devnull, p, run, &opt) != 0 ||
            mp_write_pprof(devnull, p, run, &opt) != 0 || mp_write_speedscope(devnull, p, run, &opt) != 0 ||
            mp_write_html(devnull, p, run, r.sources, &opt) != 0)
            abort();
    }
    opt.weight = MP_WEIGHT_BYTES;
    opt.frames = MP_FRAMES_LINE;
    for (int round = 0; round < 2; round++) {
        int failed;
        if (r.schema == 1)
            failed = mp_write_text(devnull, t->procs[0].profile, t->procs[0].run, r.sources, &opt) != 0 ||
                     mp_write_json(devnull, t->procs[0].profile, t->procs[0].run, r.sources, &opt) != 0 ||
                     mp_write_folded(devnull, t->procs[0].profile, &opt) != 0;
        else
            failed = mp_write_process_tree_text(devnull, t, r.sources, &opt) != 0 ||
                     mp_write_process_tree_json(devnull, t, r.sources, &opt) != 0 ||
                     mp_write_process_tree_folded(devnull, t, &opt) != 0;
        if (failed && round == 0)
            abort();
        opt.top_lines = opt.max_tables = opt.top_processes = 0;
        opt.precision = 9;
        opt.stable = !opt.stable;
    }
    mp_loaded_process_tree_free(&r);
    return 0;
}
