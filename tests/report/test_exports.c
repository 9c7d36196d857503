/* memprof tests: the formats other tools read, each checked with the real
 * consumer: valgrind's ms_print reads --format=massif, `go tool pprof`
 * (Debian's golang-go) reads --format=pprof, speedscope's own importer
 * (the npm package, in headless Chromium: scripts/speedscope-import) reads
 * --format=speedscope.  Their totals must be the fixture's numbers
 * (tests/fixtures/peak.c's annotations, verified against valgrind; see
 * tests/fixtures/README).  And every format written at record time
 * (--svg, --export) is byte for byte what `memprof report` and `memprof
 * plot` write from the saved JSON. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *tmp_path(const char *name)
{
    char *p = NULL;
    ck_assert_int_ge(asprintf(&p, "%s/%s", test_tmp_dir(), name), 0);
    return p;
}

static struct run_output run_memprof(char *const *args)
{
    char *argv[64] = { (char *)memprof_path() };
    size_t n = 1;
    for (; args[n - 1]; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 300, &o), 0);
    ck_assert_msg(o.status == 0, "memprof %s %s: status %d: %s", args[0], args[1] ? args[1] : "", o.status, o.err);
    return o;
}

static void memprof_ok(char *const *args)
{
    struct run_output o = run_memprof(args);
    run_output_free(&o);
}

/* peak.c (-O0), profiled; the JSON's path (static). */
static const char *peak_json(struct fixture_spec *f)
{
    static char json[1024];
    fixture_parse("peak.c", f);
    ck_assert(f->has_total && f->has_peaktotal);
    if (!json[0]) {
        const char *exe = build_fixture("tests/fixtures/peak.c", "gcc", "-O0 -g", "exp-peak");
        ck_assert_ptr_nonnull(exe);
        snprintf(json, sizeof json, "%s/exp-peak.json", test_tmp_dir());
        char *run[] = { "-o", "/dev/null", "--json", json, (char *)exe, NULL };
        memprof_ok(run);
    }
    return json;
}

/* peak.c's report in `format`, written by memprof report to the tmp dir as
 * `name`; its path (free it). */
static char *export_peak(struct fixture_spec *f, const char *format, const char *name)
{
    const char *json = peak_json(f);
    char *out = tmp_path(name), fmt[64];
    snprintf(fmt, sizeof fmt, "--format=%s", format);
    char *args[] = { "report", (char *)json, fmt, "-o", out, NULL };
    memprof_ok(args);
    return out;
}

/* ms_print's "1,234" */
static void commas(char *buf, size_t len, uint64_t v)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%" PRIu64, v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < len; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

START_TEST(massif_read_by_ms_print)
{
    need_program("ms_print", "valgrind");
    struct fixture_spec f;
    char *out = export_peak(&f, "massif", "exp-peak.massif");
    const char *json = peak_json(&f);
    char *argv[] = { "ms_print", out, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    /* without complaint */
    ck_assert_msg(o.status == 0, "ms_print: status %d: %s", o.status, o.err);
    ck_assert_msg(o.err_len == 0, "ms_print warned: %s", o.err);
    /* the detailed peak snapshot: massif's own exact peak of peak.c
     * (@peaktotal heap), all of it under the allocation functions' node */
    char num[64], want[256];
    commas(num, sizeof num, f.peak_heap);
    snprintf(want, sizeof want, "100.00%% (%sB) (heap allocation functions) malloc/new/new[], --alloc-fns, etc.",
             num);
    ck_assert_msg(strstr(o.out, want) != NULL, "ms_print shows no '%s':\n%s", want, o.out);
    ck_assert_msg(strstr(o.out, "(peak)") != NULL, "no peak snapshot:\n%s", o.out);
    /* ... and the last one: what was never freed (@peaktotal leaked_bytes) */
    commas(num, sizeof num, f.leaked_bytes);
    snprintf(want, sizeof want, "100.00%% (%sB) (heap allocation functions)", num);
    ck_assert_msg(strstr(o.out, want) != NULL, "ms_print shows no '%s':\n%s", want, o.out);
    /* the peak's line (@peaktotal reached_line) is in the peak tree */
    snprintf(want, sizeof want, "tests/fixtures/peak.c:%d)", f.reached_line);
    ck_assert_msg(strstr(o.out, want) != NULL, "no %s in:\n%s", want, o.out);
    run_output_free(&o);

    /* The file itself: one peak snapshot, whose mem_heap_B is the JSON
     * summary's peak; snapshots numbered from 0, times in order. */
    char *text = read_file(out, NULL);
    json_error_t je;
    json_t *root = json_load_file(json, 0, &je);
    ck_assert_ptr_nonnull(root);
    int peaks = 0, next = 0;
    double last_time = -1;
    uint64_t heap = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        int num_s;
        double t;
        if (sscanf(line, "snapshot=%d", &num_s) == 1)
            ck_assert_int_eq(num_s, next++);
        if (sscanf(line, "time=%lf", &t) == 1) {
            ck_assert(t >= last_time);
            last_time = t;
        }
        if (sscanf(line, "mem_heap_B=%" SCNu64, &heap) == 1)
            continue;
        if (strcmp(line, "heap_tree=peak") == 0) {
            peaks++;
            ck_assert_uint_eq(heap, summary_u64(root, "peak_heap_bytes"));
        }
    }
    ck_assert_int_eq(peaks, 1);
    ck_assert_int_ge(next, 3);
    json_decref(root);
    free(text);
    free(out);
}
END_TEST

START_TEST(massif_long_run)
{
    /* peak.c's report with the timeline of a long run (what memprof keeps
     * of one: 8000 samples), the peak in sample 4321's interval: at most
     * 100 snapshots, still exactly one at the peak, ms_print content. */
    need_program("ms_print", "valgrind");
    struct fixture_spec f;
    const char *json = peak_json(&f);
    char *long_json = tmp_path("exp-long.json"), *out = tmp_path("exp-long.massif");
    static const char script[] =
        "import json, sys\n"
        "d = json.load(open(sys.argv[1]))\n"
        "peak = d['summary']['peak_heap_bytes']\n"
        "d['timeline'] = [[0.5 * (i + 1), 10 << 20, (i * 7919) % (peak // 2)] for i in range(8000)]\n"
        "d['timeline_heap_max'] = [peak if i == 4321 else s[2] for i, s in enumerate(d['timeline'])]\n"
        "d['timeline_allocations'] = [[i, 16 * i] for i in range(8000)]\n"
        "json.dump(d, open(sys.argv[2], 'w'))\n";
    char *py[] = { "python3", "-c", (char *)script, (char *)json, long_json, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(py, NULL, NULL, 120, &o), 0);
    ck_assert_msg(o.status == 0, "%s", o.err);
    run_output_free(&o);
    char *args[] = { "report", long_json, "--format=massif", "-o", out, NULL };
    memprof_ok(args);
    char *ms[] = { "ms_print", out, NULL };
    ck_assert_int_eq(run_cmd(ms, NULL, NULL, 120, &o), 0);
    ck_assert_msg(o.status == 0 && o.err_len == 0, "ms_print: %d %s", o.status, o.err);
    ck_assert_ptr_nonnull(strstr(o.out, "(peak)"));
    run_output_free(&o);
    char *text = read_file(out, NULL);
    int snapshots = 0, peaks = 0;
    uint64_t heap = 0;
    double t = 0, peak_time = -1;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        snapshots += strncmp(line, "snapshot=", 9) == 0;
        sscanf(line, "time=%lf", &t);
        sscanf(line, "mem_heap_B=%" SCNu64, &heap);
        if (strcmp(line, "heap_tree=peak") == 0) {
            peaks++;
            ck_assert_uint_eq(heap, f.peak_heap);
            peak_time = t;
        }
    }
    ck_assert_int_le(snapshots, 104);
    ck_assert_int_ge(snapshots, 90);
    ck_assert_int_eq(peaks, 1);
    ck_assert_msg(peak_time > 2160999 && peak_time < 2161001,
                  "the peak snapshot at %g ms, want 2161000 (sample 4321, at 2161 s)", peak_time);
    free(text);
    free(long_json);
    free(out);
}
END_TEST

/* "Total samples = 12345B" in go tool pprof -top -unit=B. */
static uint64_t pprof_total(const char *file, const char *sample_index)
{
    char si[64];
    snprintf(si, sizeof si, "-sample_index=%s", sample_index);
    char *argv[] = { "go", "tool", "pprof", "-top", "-unit=B", si, (char *)file, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    ck_assert_msg(o.status == 0, "go tool pprof %s: status %d: %s", sample_index, o.status, o.err);
    const char *t = strstr(o.out, "Total samples = ");
    ck_assert_msg(t != NULL, "go tool pprof %s:\n%s\n%s", sample_index, o.out, o.err);
    char type[64];
    snprintf(type, sizeof type, "Type: %s\n", sample_index);
    ck_assert_msg(strstr(o.out, type) != NULL, "go tool pprof shows another type:\n%s", o.out);
    uint64_t v = strtoull(t + 16, NULL, 10);
    run_output_free(&o);
    return v;
}

START_TEST(pprof_read_by_go_tool_pprof)
{
    need_program("go", "golang-go");
    struct fixture_spec f;
    char *out = export_peak(&f, "pprof", "exp-peak.pb.gz");
    /* totals: the fixture's @total and @peaktotal (valgrind's numbers) */
    ck_assert_uint_eq(pprof_total(out, "alloc_objects"), f.total_calls);
    ck_assert_uint_eq(pprof_total(out, "alloc_space"), f.total_bytes);
    ck_assert_uint_eq(pprof_total(out, "inuse_objects"), f.leaked_blocks);
    ck_assert_uint_eq(pprof_total(out, "inuse_space"), f.leaked_bytes);
    ck_assert_uint_eq(pprof_total(out, "peak_space"), f.peak_heap);
    /* the blocks live at the peak: four lines of peak.c held some (its
     * header: early, big, the calloc line x4, the helper): 7 blocks */
    ck_assert_uint_eq(pprof_total(out, "peak_objects"), 7);
    /* alloc_space is what it shows by default, and lines are there */
    char *argv[] = { "go", "tool", "pprof", "-top", "-lines", "-unit=B", out, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    ck_assert_msg(strstr(o.out, "Type: alloc_space\n") != NULL, "%s", o.out);
    char want[128];
    snprintf(want, sizeof want, "tests/fixtures/peak.c:%d", f.reached_line);
    ck_assert_msg(strstr(o.out, want) != NULL, "no %s in:\n%s", want, o.out);
    run_output_free(&o);
    free(out);
}
END_TEST

/* speedscope's way of showing a total: "15.61 KB", "1,203". */
static void speedscope_value(char *buf, size_t len, uint64_t v, int bytes)
{
    if (!bytes)
        commas(buf, len, v);
    else if (v < 1024)
        snprintf(buf, len, "%" PRIu64 " B", v);
    else if (v < 1024 * 1024)
        snprintf(buf, len, "%.2f KB", (double)v / 1024);
    else
        snprintf(buf, len, "%.2f MB", (double)v / (1024 * 1024));
}

START_TEST(speedscope_read_by_its_importer)
{
    need_program("chromium", "chromium");
    struct fixture_spec f;
    char *out = export_peak(&f, "speedscope", "exp-peak.speedscope.json");
    /* speedscope's file format, read here first: every profile's weights
     * add up to its endValue, every sample's frames exist */
    json_error_t je;
    json_t *root = json_load_file(out, 0, &je);
    ck_assert_msg(root != NULL, "%s: %s", out, je.text);
    ck_assert_str_eq(json_string_value(json_object_get(root, "$schema")),
                     "https://www.speedscope.app/file-format-schema.json");
    size_t n_frames = json_array_size(json_object_get(json_object_get(root, "shared"), "frames"));
    json_t *profiles = json_object_get(root, "profiles");
    ck_assert_uint_eq(json_array_size(profiles), 5);
    const uint64_t want[5] = { f.total_bytes, f.total_calls, f.peak_heap, f.leaked_bytes, f.temporary_calls };
    for (size_t i = 0; i < 5; i++) {
        json_t *p = json_array_get(profiles, i), *samples = json_object_get(p, "samples");
        json_t *weights = json_object_get(p, "weights");
        ck_assert_str_eq(json_string_value(json_object_get(p, "type")), "sampled");
        ck_assert_uint_eq(json_array_size(samples), json_array_size(weights));
        uint64_t sum = 0;
        for (size_t k = 0; k < json_array_size(weights); k++) {
            sum += (uint64_t)json_integer_value(json_array_get(weights, k));
            json_t *stack = json_array_get(samples, k);
            ck_assert_uint_ge(json_array_size(stack), 1);
            for (size_t j = 0; j < json_array_size(stack); j++)
                ck_assert_uint_lt((uint64_t)json_integer_value(json_array_get(stack, j)), n_frames);
        }
        ck_assert_uint_eq(sum, want[i]);
        ck_assert_uint_eq((uint64_t)json_integer_value(json_object_get(p, "endValue")), want[i]);
    }
    /* ... and by speedscope itself: it imports the file and shows the five
     * profiles with those totals */
    char *argv[] = { (char *)repo_path("scripts/speedscope-import"), out, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 300, &o), 0);
    ck_assert_msg(o.status == 0, "speedscope did not import %s (status %d): %s\n%s", out, o.status, o.err, o.out);
    const char *names[5] = { "bytes allocated", "allocation calls", "bytes at the heap peak", "bytes leaked",
                             "temporary allocations" };
    for (size_t i = 0; i < 5; i++) {
        char value[64], line[256];
        speedscope_value(value, sizeof value, want[i], i == 0 || i == 2 || i == 3);
        snprintf(line, sizeof line, "profile: %s\t%s\n", names[i], value);
        ck_assert_msg(strstr(o.out, line) != NULL, "speedscope shows no '%s':\n%s", line, o.out);
    }
    run_output_free(&o);
    json_decref(root);
    free(out);
}
END_TEST

START_TEST(folded_weights)
{
    struct fixture_spec f;
    const char *json = peak_json(&f);
    const struct { const char *weight; uint64_t total; } want[] = {
        { "bytes", f.total_bytes }, { "calls", f.total_calls }, { "peak", f.peak_heap },
        { "leaked", f.leaked_bytes }, { "temporary", f.temporary_calls },
    };
    for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
        char weight[32];
        snprintf(weight, sizeof weight, "--weight=%s", want[w].weight);
        char *args[] = { "report", (char *)json, "--format=folded", weight, NULL };
        struct run_output o = run_memprof(args);
        uint64_t sum = 0;
        for (char *line = strtok(o.out, "\n"); line; line = strtok(NULL, "\n")) {
            char *sp = strrchr(line, ' ');
            ck_assert_ptr_nonnull(sp);
            sum += strtoull(sp + 1, NULL, 10);
            ck_assert_msg(strstr(line, "main (tests/fixtures/peak.c:") == line || strncmp(line, "main", 4),
                          "frames lack file:line: %s", line);
        }
        ck_assert_msg(sum == want[w].total, "--weight=%s: %" PRIu64 ", want %" PRIu64, want[w].weight, sum,
                      want[w].total);
        run_output_free(&o);
    }
}
END_TEST

START_TEST(record_time_equals_report)
{
    const char *exe = build_fixture("tests/fixtures/peak.c", "gcc", "-O2 -g", "exp-rec-peak");
    ck_assert_ptr_nonnull(exe);
    static const char *const formats[] = { "table", "json", "folded", "flamegraph", "svg", "massif", "pprof",
                                           "speedscope", "html" };
    const size_t n = sizeof formats / sizeof *formats;
    char *json = tmp_path("exp-rec.json"), *svg = tmp_path("exp-rec-svg.svg");
    /* --tables 1: the JSON keeps every table's source lines all the same */
    char *args[64] = { "--weight=peak", "--frames=function", "--tables", "1", "-o", "/dev/null", "--json", json,
                       "--svg", svg };
    size_t a = 10;
    char *files[16], *exports[16];
    for (size_t i = 0; i < n; i++) {
        files[i] = NULL;
        ck_assert_int_ge(asprintf(&files[i], "%s/exp-rec.%s", test_tmp_dir(), formats[i]), 0);
        ck_assert_int_ge(asprintf(&exports[i], "%s=%s", formats[i], files[i]), 0);
        args[a++] = "--export";
        args[a++] = exports[i];
    }
    args[a++] = (char *)exe;
    args[a] = NULL;
    memprof_ok(args);
    for (size_t i = 0; i < n; i++) {
        char *again = NULL, format[64];
        ck_assert_int_ge(asprintf(&again, "%s/exp-again.%s", test_tmp_dir(), formats[i]), 0);
        snprintf(format, sizeof format, "--format=%s", formats[i]);
        char *report[] = { "report", json, format, "--weight=peak", "--frames=function", "--tables", "1", "-o", again,
                           NULL };
        memprof_ok(report);
        size_t la, lb;
        char *x = read_file(files[i], &la), *y = read_file(again, &lb);
        ck_assert_msg(la > 0 && la == lb && memcmp(x, y, la) == 0, "--export %s and memprof report --format=%s differ",
                      formats[i], formats[i]);
        free(x);
        free(y);
        free(again);
    }
    /* --svg is --export svg, and memprof plot draws it again */
    char *plot_out = tmp_path("exp-rec-plot.svg");
    char *plot[] = { "plot", json, "-o", plot_out, NULL };
    memprof_ok(plot);
    size_t la, lb, lc;
    char *x = read_file(svg, &la), *y = read_file(plot_out, &lb), *z = read_file(files[4], &lc);
    ck_assert(la == lb && memcmp(x, y, la) == 0);
    ck_assert(la == lc && memcmp(x, z, la) == 0);
    free(x);
    free(y);
    free(z);
    for (size_t i = 0; i < n; i++) {
        free(files[i]);
        free(exports[i]);
    }
    free(plot_out);
    free(json);
    free(svg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("exports");
    TCase *tc = tcase_create("exports");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, massif_read_by_ms_print);
    tcase_add_test(tc, massif_long_run);
    tcase_add_test(tc, pprof_read_by_go_tool_pprof);
    tcase_add_test(tc, speedscope_read_by_its_importer);
    tcase_add_test(tc, folded_weights);
    tcase_add_test(tc, record_time_equals_report);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
