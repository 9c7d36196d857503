/* memprof tests: reading saved JSON reports back  (src/report/json_load.c) and
 * `memprof report` (src/cli/cmd_report.c, src/report/report_folded.c).
 *
 *  - Round trips: real runs of the fixtures (demo.c, basic.c, cxx.cpp) with
 *    --json and -o; loading the JSON and writing it again must give the same
 *    bytes, and the text report written from the loaded profile must equal
 *    the one the run wrote.  Both with and without --stable.
 *  - Bad input: every class (not JSON, truncated, schema, types, indices,
 *    negative and huge numbers, huge files, deep nesting, NUL bytes,
 *    duplicate keys, ...) gives its exact one-line error.
 *  - The fuzz corpus (tests/fuzz/corpus) replays without a crash; reports in
 *    it load and write themselves again unchanged. */
#define _GNU_SOURCE
#include "harness.h"
#include "cli/commands.h"
#include "report/json_load.h"
#include "memprof/report.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* src/report_folded.c */

static const struct mp_report_options default_opt = { .cwd = NULL, .precision = 1, .top_lines = 10, .max_tables = 10 };

enum what { AS_JSON, AS_TEXT, AS_TEXT_ALL, AS_FOLDED, AS_FOLDED_FUNCTIONS }; /* AS_TEXT_ALL: every view (--show=all) */

/* The report written from a loaded profile, as a string. */
static char *write_loaded(const struct mp_loaded_report *r, enum what what, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    ck_assert_ptr_nonnull(f);
    struct mp_report_options opt = default_opt;
    opt.stable = r->stable;
    if (what == AS_TEXT_ALL)
        opt.show = MP_VIEWS_ALL;
    opt.frames = what == AS_FOLDED_FUNCTIONS ? MP_FRAMES_FUNCTION : MP_FRAMES_LINE;
    int rc = what == AS_JSON   ? mp_write_json(f, r->profile, &r->run, r->sources, &opt)
             : what == AS_TEXT || what == AS_TEXT_ALL ? mp_write_text(f, r->profile, &r->run, r->sources, &opt)
                               : mp_write_folded(f, r->profile, &opt);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(fclose(f), 0);
    if (len)
        *len = n;
    return buf;
}

/* Every picture and export of a loaded report's images, each weight: they
 * must not fail (or crash: the suite also runs under ASan) on whatever
 * loads. */
static void every_picture(const struct mp_loaded_process_tree *r)
{
    FILE *null = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(null);
    struct mp_report_options opt = default_opt;
    opt.stable = r->stable;
    for (size_t i = 0; i < r->tree.n; i++) {
        const struct mp_profile *p = r->tree.procs[i].profile;
        const struct mp_report_run *run = r->tree.procs[i].run;
        for (int w = 0; w < MP_WEIGHT_COUNT; w++) {
            opt.weight = (enum mp_weight)w;
            opt.frames = w % 2 ? MP_FRAMES_FUNCTION : MP_FRAMES_LINE;
            ck_assert_int_eq(mp_write_flamegraph(null, p, run, &opt), 0);
            ck_assert_int_eq(mp_write_folded(null, p, &opt), 0);
        }
        ck_assert_int_eq(mp_write_timeline_svg(null, p, run, &opt), 0);
        ck_assert_int_eq(mp_write_massif(null, p, run, &opt), 0);
        ck_assert_int_eq(mp_write_pprof(null, p, run, &opt), 0);
        ck_assert_int_eq(mp_write_speedscope(null, p, run, &opt), 0);
        ck_assert_int_eq(mp_write_html(null, p, run, r->sources, &opt), 0);
    }
    fclose(null);
}

/* The same for a report loaded as a tree (either schema). */
static char *write_loaded_tree(const struct mp_loaded_process_tree *r, enum what what, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    ck_assert_ptr_nonnull(f);
    struct mp_report_options opt = default_opt;
    opt.stable = r->stable;
    opt.top_processes = 0;
    if (what == AS_TEXT_ALL)
        opt.show = MP_VIEWS_ALL;
    int text = what == AS_TEXT || what == AS_TEXT_ALL;
    const struct mp_process_tree *t = &r->tree;
    int rc;
    if (r->schema == 1)
        rc = what == AS_JSON ? mp_write_json(f, t->procs[0].profile, t->procs[0].run, r->sources, &opt)
             : text          ? mp_write_text(f, t->procs[0].profile, t->procs[0].run, r->sources, &opt)
                             : mp_write_folded(f, t->procs[0].profile, &opt);
    else
        rc = what == AS_JSON ? mp_write_process_tree_json(f, t, r->sources, &opt)
             : text          ? mp_write_process_tree_text(f, t, r->sources, &opt)
                             : mp_write_process_tree_folded(f, t, &opt);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(fclose(f), 0);
    if (len)
        *len = n;
    return buf;
}

/* The first line where a and b differ, for failure messages. */
static const char *first_difference(const char *a, const char *b, char *buf, size_t len)
{
    int line = 1;
    const char *start_a = a, *start_b = b;
    while (*a && *a == *b) {
        if (*a == '\n') {
            line++;
            start_a = a + 1;
            start_b = b + 1;
        }
        a++;
        b++;
    }
    snprintf(buf, len, "line %d:\n  expected: %.*s\n  got:      %.*s", line, (int)strcspn(start_a, "\n"), start_a,
             (int)strcspn(start_b, "\n"), start_b);
    return buf;
}

static void assert_same(const char *what, const char *expected, const char *got)
{
    char buf[4096];
    ck_assert_msg(strcmp(expected, got) == 0, "%s differs at %s", what, first_difference(expected, got, buf, sizeof buf));
}

/* Drops the lines containing `needle` (a known difference, see its caller). */
static void drop_lines(char *text, const char *needle)
{
    char *o = text;
    for (char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        int keep = !memmem(p, n, needle, strlen(needle));
        if (p[n] == '\n')
            n++;
        if (keep) {
            memmove(o, p, n);
            o += n;
        }
        p += n;
    }
    *o = '\0';
}

/* ------------------------------------------------------------------------ */
/* Round trips of real runs                                                  */
/* ------------------------------------------------------------------------ */

struct run_files {
    char json[512], text[512];
};

static void profile_fixture(const char *fixture, const char *compiler, const char *out, int stable,
                            struct run_files *rf)
{
    const char *prog = build_fixture(fixture, compiler, "-O0 -g", out);
    ck_assert_ptr_nonnull(prog);
    snprintf(rf->json, sizeof rf->json, "%s/%s%s.json", test_tmp_dir(), out, stable ? "-stable" : "");
    snprintf(rf->text, sizeof rf->text, "%s/%s%s.txt", test_tmp_dir(), out, stable ? "-stable" : "");
    char *argv[] = { (char *)memprof_path(), "--json", rf->json, "-o", rf->text,
                     stable ? "--stable" : "--top=10", (char *)prog, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    ck_assert_msg(o.status == 0, "%s exited %d: %s", prog, o.status, o.err);
    run_output_free(&o);
}

static void round_trip(const char *fixture, const char *compiler, const char *out, int stable)
{
    struct run_files rf;
    profile_fixture(fixture, compiler, out, stable, &rf);
    size_t json_len;
    char *json = read_file(rf.json, &json_len), *text = read_file(rf.text, NULL);
    ck_assert_ptr_nonnull(json);
    ck_assert_ptr_nonnull(text);

    struct mp_loaded_report r;
    char err[1024];
    ck_assert_msg(mp_load_report(rf.json, &r, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(r.stable, stable);

    size_t again_len;
    char *again = write_loaded(&r, AS_JSON, &again_len);
    ck_assert_uint_eq(again_len, json_len);
    assert_same("JSON written again", json, again);

    char *text_again = write_loaded(&r, AS_TEXT, NULL);
    if (stable) {
        /* Known difference, not in this file's power: with --stable the JSON
         * writes "agent_bytes": null, but the text report still prints the
         * agent's size, so a loaded --stable report cannot print it. */
        drop_lines(text, "memprof's agent ");
    }
    assert_same("text report from the loaded JSON", text, text_again);

    /* The same through the subcommand, in-process. */
    char out_path[600];
    snprintf(out_path, sizeof out_path, "%s/%s-report.txt", test_tmp_dir(), out);
    char *argv[] = { "report", rf.json, "-o", out_path, NULL };
    ck_assert_int_eq(mp_cmd_report(4, argv), 0);
    char *via_cmd = read_file(out_path, NULL);
    ck_assert_ptr_nonnull(via_cmd);
    assert_same("memprof report FILE.json", text, via_cmd);

    snprintf(out_path, sizeof out_path, "%s/%s-report.json", test_tmp_dir(), out);
    char *argv_json[] = { "report", "--format=json", rf.json, "-o", out_path, NULL };
    ck_assert_int_eq(mp_cmd_report(5, argv_json), 0);
    free(via_cmd);
    via_cmd = read_file(out_path, NULL);
    ck_assert_ptr_nonnull(via_cmd);
    assert_same("memprof report --format=json", json, via_cmd);

    free(via_cmd);
    free(text_again);
    free(again);
    free(json);
    free(text);
    mp_loaded_report_free(&r);
}

START_TEST(round_trip_demo)
{
    round_trip("tests/fixtures/demo.c", "gcc", "jl-demo", 0);
    round_trip("tests/fixtures/demo.c", "gcc", "jl-demo", 1);
}
END_TEST

START_TEST(round_trip_basic)
{
    round_trip("tests/fixtures/basic.c", "gcc", "jl-basic", 0);
    round_trip("tests/fixtures/basic.c", "gcc", "jl-basic", 1);
}
END_TEST

START_TEST(round_trip_cxx)
{
    /* Its report notes a source file that could not be read (the loader's
     * ./elf/dl-init.c): that note comes back too. */
    round_trip("tests/fixtures/cxx.cpp", "g++", "jl-cxx", 0);
    round_trip("tests/fixtures/cxx.cpp", "g++", "jl-cxx", 1);
}
END_TEST

START_TEST(folded_demo)
{
    struct run_files rf;
    profile_fixture("tests/fixtures/demo.c", "gcc", "jl-demo-folded", 0, &rf);
    struct mp_loaded_report r;
    char err[1024];
    ck_assert_msg(mp_load_report(rf.json, &r, err, sizeof err) == 0, "%s", err);
    /* --frames=function, memprof 0.1's folded output: demo.c: build_table's
     * calloc (2400) and malloc (12800) lines fold into one stack;
     * copy_string's strdup is reached from two callers. */
    char *functions = write_loaded(&r, AS_FOLDED_FUNCTIONS, NULL);
    ck_assert_msg(strstr(functions, "main;build_table 15200\n") != NULL, "%s", functions);
    ck_assert_msg(strstr(functions, "main;report 128\n") != NULL, "%s", functions);
    ck_assert_msg(strstr(functions, "main;build_table;copy_string;") != NULL, "%s", functions);
    ck_assert_msg(strstr(functions, "main;rename_record;copy_string;") != NULL, "%s", functions);
    free(functions);
    /* The default: "function (file:line)" frames, so the two lines stay
     * apart (@expect on demo.c:37 and :41; main calls build_table on :75,
     * rename_record on :76, report on :77). */
    char *folded = write_loaded(&r, AS_FOLDED, NULL);
    ck_assert_msg(strstr(folded, "main (tests/fixtures/demo.c:75);build_table (tests/fixtures/demo.c:37) 2400\n"),
                  "%s", folded);
    ck_assert_msg(strstr(folded, "main (tests/fixtures/demo.c:75);build_table (tests/fixtures/demo.c:41) 12800\n"),
                  "%s", folded);
    ck_assert_msg(strstr(folded, "main (tests/fixtures/demo.c:77);report (tests/fixtures/demo.c:55) 128\n"), "%s",
                  folded);
    ck_assert_msg(strstr(folded, "main (tests/fixtures/demo.c:76);rename_record (tests/fixtures/demo.c:50);"
                                 "copy_string (tests/fixtures/demo.c:29);"),
                  "%s", folded);
    /* Sorted, one "stack bytes" per line, bytes adding up to the total. */
    uint64_t sum = 0;
    const char *prev = NULL;
    for (char *line = folded; *line;) {
        char *nl = strchr(line, '\n');
        ck_assert_ptr_nonnull(nl);
        *nl = '\0';
        char *sp = strrchr(line, ' ');
        ck_assert_ptr_nonnull(sp);
        sum += strtoull(sp + 1, NULL, 10);
        if (prev)
            ck_assert_msg(strcmp(prev, line) < 0, "not sorted: '%s' then '%s'", prev, line);
        prev = line;
        line = nl + 1;
    }
    ck_assert_uint_eq(sum, mp_profile_totals(r.profile)->allocated_bytes);
    free(folded);
    mp_loaded_report_free(&r);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* A small hand-made report and its variants                                 */
/* ------------------------------------------------------------------------ */

static const char base[] =
    "{\"schema\": 1, \"stable\": false, \"command\": [\"./a\"], \"exit\": {\"code\": 0},\n"
    " \"summary\": {\"peak_rss_bytes\": 4096, \"wall_seconds\": 0.5, \"heap_profiled\": true, \"heap_note\": null, "
    "\"engine\": \"agent\", \"alloc_calls\": 1, \"allocated_bytes\": 8, \"free_calls\": 0, \"freed_bytes\": 0, "
    "\"peak_heap_bytes\": 8, \"leaked_bytes\": 8, \"leaked_blocks\": 1, \"temporary_calls\": 0, \"events_lost\": 0, "
    "\"unknown_frees\": 0, \"reused_live_blocks\": 0, \"truncated_stacks\": 0, \"agent_bytes\": 0},\n"
    " \"lines\": [{\"file\": \"a.c\", \"line\": 3, \"function\": \"f\", \"alloc_calls\": 1, \"allocated_bytes\": 8, "
    "\"free_calls\": 0, \"freed_bytes\": 0, \"peak_bytes\": 8, \"leaked_bytes\": 8, \"leaked_blocks\": 1, "
    "\"temporary_calls\": 0}],\n"
    " \"tables\": [{\"file\": \"a.c\", \"function\": \"f\", \"rows\": [{\"line\": 2, \"mem_usage_bytes\": 0, "
    "\"increment_bytes\": 0, \"occurrences\": 0, \"allocated_bytes\": 0, \"text\": \"void f(void) {\"}, {\"line\": 3, "
    "\"mem_usage_bytes\": 8, \"increment_bytes\": 8, \"occurrences\": 1, \"allocated_bytes\": 8, \"text\": \"  p = "
    "malloc(8);\"}]}],\n"
    " \"peak\": {\"heap_bytes\": 8, \"reached_at\": {\"file\": \"a.c\", \"line\": 3, \"function\": \"f\"}, \"stack\": "
    "[{\"file\": \"a.c\", \"line\": 3, \"function\": \"f\"}, {\"file\": null, \"line\": 0, \"function\": \"_start\", "
    "\"module\": \"a\"}], \"user_frame\": 0},\n"
    " \"leaks\": [],\n"
    " \"timeline\": [[0.000, 4096, 0], [0.010, 4096, 8]],\n"
    " \"rss_at_exit\": null,\n"
    " \"frames\": [{\"file\": \"a.c\", \"line\": 3, \"function\": \"f\"}, {\"file\": null, \"line\": 0, \"function\": "
    "\"_start\", \"module\": \"a\"}],\n"
    " \"stacks\": [{\"frames\": [0, 1], \"user_line\": 0, \"alloc_calls\": 1, \"allocated_bytes\": 8, "
    "\"leaked_bytes\": 8, \"leaked_blocks\": 1}],\n"
    " \"warnings\": []}\n";

/* s with the first `from` replaced by `to` (which must be there). */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    ck_assert_msg(at != NULL, "'%s' is not in the report", from);
    char *r = NULL;
    ck_assert_int_ge(asprintf(&r, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from)), 0);
    return r;
}

static char *variant(const char *from, const char *to)
{
    return replace(base, from, to);
}

/* What memprof report and memprof diff read with: the tree loader, which
 * takes both schemas.  Every error twice: the arrays parsed whole, and one
 * element at a time (json_load_lazy.c): the same line either way. */
static void expect_error_len(const char *data, size_t len, const char *expected)
{
    for (int piecewise = 0; piecewise < 2; piecewise++) {
        struct mp_loaded_process_tree r;
        char err[1024];
        memset(err, 'x', sizeof err);
        mp_load_report_piecewise_from(piecewise ? 0 : (size_t)-1);
        ck_assert_int_eq(mp_load_process_tree_buffer(data, len, "t.json", &r, err, sizeof err), -1);
        ck_assert_ptr_null(r.profiles);
        ck_assert_uint_eq(r.tree.n, 0);
        ck_assert_msg(strcmp(err, expected) == 0, "%s: got \"%s\", expected \"%s\"",
                      piecewise ? "piece by piece" : "whole", err, expected);
        mp_loaded_process_tree_free(&r); /* harmless after a failure */
    }
    mp_load_report_piecewise_from(256u << 10);
}

static void expect_error(const char *data, const char *expected)
{
    expect_error_len(data, strlen(data), expected);
}

static void expect_variant_error(const char *from, const char *to, const char *expected)
{
    char *s = variant(from, to);
    expect_error(s, expected);
    free(s);
}

START_TEST(base_report_loads)
{
    struct mp_loaded_report r;
    char err[1024];
    ck_assert_msg(mp_load_report_buffer(base, strlen(base), "t.json", &r, err, sizeof err) == 0, "%s", err);
    const struct mp_totals *t = mp_profile_totals(r.profile);
    ck_assert_uint_eq(t->alloc_calls, 1);
    ck_assert_uint_eq(t->peak_stack, 0);
    ck_assert_uint_eq(mp_profile_line_count(r.profile), 2);
    const struct mp_line_stats *l = mp_profile_line(r.profile, 0);
    ck_assert_str_eq(l->func_file, "a.c");
    ck_assert_int_eq(l->func_first_line, 2);
    ck_assert_int_eq(l->func_last_line, 3);
    ck_assert_uint_eq(l->incl_max_live_bytes, 8);
    ck_assert_uint_eq(l->incl_freed_bytes, 0);
    ck_assert_str_eq(r.run.command[0], "./a");
    ck_assert_ptr_null(r.run.command[1]);
    char *text = write_loaded(&r, AS_TEXT, NULL);
    /* a report from before the free sites: nothing freed on the line, so Net is what it allocated */
    ck_assert_msg(strstr(text, "     3          8 B          0 B          8 B          8 B          8 B            1     p = malloc(8);\n") != NULL, "%s", text);
    /* a report from before the views: they show what it has, and nothing of what it lacks */
    free(text);
    text = write_loaded(&r, AS_TEXT_ALL, NULL);
    ck_assert_ptr_null(strstr(text, "\nAllocation sizes"));
    ck_assert_ptr_null(strstr(text, "\nLargest allocations"));
    ck_assert_ptr_null(strstr(text, "\nThreads"));
    ck_assert_ptr_nonnull(strstr(text, "\nCall tree"));
    char *folded = write_loaded(&r, AS_FOLDED, NULL);
    ck_assert_str_eq(folded, "_start;f (a.c:3) 8\n");
    /* What it writes loads again and writes itself unchanged. */
    size_t n;
    char *json = write_loaded(&r, AS_JSON, &n);
    struct mp_loaded_report r2;
    ck_assert_msg(mp_load_report_buffer(json, n, "again.json", &r2, err, sizeof err) == 0, "%s", err);
    char *json2 = write_loaded(&r2, AS_JSON, NULL);
    assert_same("JSON written twice", json, json2);
    free(json2);
    free(json);
    free(folded);
    free(text);
    mp_loaded_report_free(&r2);
    mp_loaded_report_free(&r);
}
END_TEST

/* Leak kinds (added after schema 1 first shipped): read when present, and
 * checked against what the stacks leaked; the base report has none. */
#define KINDS(d, db, i, ib, p, pb, r, rb)                                                                            \
    "\"definitely_lost_bytes\": " #d ", \"definitely_lost_blocks\": " #db ", \"indirectly_lost_bytes\": " #i         \
    ", \"indirectly_lost_blocks\": " #ib ", \"possibly_lost_bytes\": " #p ", \"possibly_lost_blocks\": " #pb          \
    ", \"still_reachable_bytes\": " #r ", \"still_reachable_blocks\": " #rb

START_TEST(leak_kinds_load_and_are_checked)
{
    char *with_summary = variant("\"agent_bytes\": 0}", "\"agent_bytes\": 0, " KINDS(8, 1, 0, 0, 0, 0, 0, 0) "}");
    char *both = replace(with_summary, "\"leaked_bytes\": 8, \"leaked_blocks\": 1}]",
                         "\"leaked_bytes\": 8, \"leaked_blocks\": 1, " KINDS(8, 1, 0, 0, 0, 0, 0, 0)
                         ", \"suppressed\": \"leak:f (my.supp:1)\"}]");
    struct mp_loaded_report r;
    char err[1024];
    ck_assert_msg(mp_load_report_buffer(both, strlen(both), "t.json", &r, err, sizeof err) == 0, "%s", err);
    const struct mp_totals *t = mp_profile_totals(r.profile);
    ck_assert(t->leaks_classified);
    ck_assert_uint_eq(t->leak_bytes[MP_LEAK_DEFINITE], 8);
    ck_assert_uint_eq(mp_profile_stack(r.profile, 0)->leak_blocks[MP_LEAK_DEFINITE], 1);
    ck_assert_str_eq(mp_profile_stack(r.profile, 0)->suppressed, "leak:f (my.supp:1)");
    char *text = write_loaded(&r, AS_TEXT, NULL);
    ck_assert_msg(strstr(text, "Leaks: 8 B in 1 block never freed, by memcheck's kinds\n"
                               "  definitely lost    8 B in 1 block, suppressed 8 B in 1 block\n") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "         8 B            1   leak:f (my.supp:1)\n") != NULL, "%s", text);
    free(text);
    /* written again, it loads again and writes itself unchanged */
    size_t n;
    char *json = write_loaded(&r, AS_JSON, &n);
    struct mp_loaded_report r2;
    ck_assert_msg(mp_load_report_buffer(json, n, "again.json", &r2, err, sizeof err) == 0, "%s", err);
    char *json2 = write_loaded(&r2, AS_JSON, NULL);
    assert_same("JSON with leak kinds written twice", json, json2);
    free(json);
    free(json2);
    mp_loaded_report_free(&r2);
    mp_loaded_report_free(&r);
    /* null kinds (the scan did not run) are as good as none */
    char *nulls = variant("\"agent_bytes\": 0}", "\"agent_bytes\": 0, "
                          KINDS(null, null, null, null, null, null, null, null) "}");
    ck_assert_msg(mp_load_report_buffer(nulls, strlen(nulls), "t.json", &r, err, sizeof err) == 0, "%s", err);
    ck_assert(!mp_profile_totals(r.profile)->leaks_classified);
    mp_loaded_report_free(&r);
    free(nulls);
    /* a stack's kinds must add up to what it leaked */
    char *wrong = replace(with_summary, "\"leaked_bytes\": 8, \"leaked_blocks\": 1}]",
                          "\"leaked_bytes\": 8, \"leaked_blocks\": 1, " KINDS(4, 1, 0, 0, 0, 0, 0, 0) "}]");
    expect_error(wrong, "t.json:10:13: stacks[0]: leak kinds add up to 4 bytes in 1 block, not leaked_bytes and "
                        "leaked_blocks");
    free(wrong);
    /* a stack with live blocks needs kinds when the summary has them */
    expect_error(with_summary, "t.json:10:13: stacks[0]: missing field \"definitely_lost_bytes\" (summary has leak "
                               "kinds)");
    /* some kinds and not others */
    expect_variant_error("\"agent_bytes\": 0}", "\"agent_bytes\": 0, \"definitely_lost_bytes\": 8}",
                         "t.json:2:13: summary: missing field \"definitely_lost_blocks\"");
    free(with_summary);
    free(both);
}
END_TEST

START_TEST(stable_unknown_frames)
{
    /* --stable shows every "[unknown]+0x..." as "[unknown]", so two frames
     * can show the same place; they stay two frames. */
    char *s = variant("\"stable\": false", "\"stable\": true");
    char *t = NULL;
    const char *from = "],\n \"stacks\"";
    char *at = strstr(s, from);
    ck_assert_ptr_nonnull(at);
    ck_assert_int_ge(asprintf(&t, "%.*s, {\"file\": null, \"line\": 0, \"function\": \"[unknown]\", \"module\": \"a\"}, "
                                  "{\"file\": null, \"line\": 0, \"function\": \"[unknown]\", \"module\": \"a\"}%s",
                              (int)(at - s), s, at),
                     0);
    free(s);
    s = t;
    t = NULL;
    ck_assert_int_ge(asprintf(&t, "%.*s, {\"frames\": [0, 2, 1], \"user_line\": 0, \"alloc_calls\": 0, "
                                  "\"allocated_bytes\": 0, \"leaked_bytes\": 0, \"leaked_blocks\": 0}, {\"frames\": "
                                  "[0, 3, 1], \"user_line\": 0, \"alloc_calls\": 0, \"allocated_bytes\": 0, "
                                  "\"leaked_bytes\": 0, \"leaked_blocks\": 0}%s",
                              (int)(strstr(s, "],\n \"warnings\"") - s), s, strstr(s, "],\n \"warnings\"")),
                     0);
    free(s);
    s = t;
    /* Its volatile fields are null, as --stable writes them. */
    t = NULL;
    char *p = strstr(s, "\"peak_rss_bytes\": 4096, \"wall_seconds\": 0.5");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_ge(asprintf(&t, "%.*s\"peak_rss_bytes\": null, \"wall_seconds\": null%s", (int)(p - s), s,
                              p + strlen("\"peak_rss_bytes\": 4096, \"wall_seconds\": 0.5")),
                     0);
    free(s);
    s = t;
    struct mp_loaded_report r;
    char err[1024];
    ck_assert_msg(mp_load_report_buffer(s, strlen(s), "s.json", &r, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(r.stable, 1);
    ck_assert_uint_eq(mp_profile_line_count(r.profile), 4);
    ck_assert_uint_eq(mp_profile_stack_count(r.profile), 3);
    size_t n;
    char *json = write_loaded(&r, AS_JSON, &n);
    /* Written again it is a fixed point (the timeline is dropped: --stable). */
    struct mp_loaded_report r2;
    ck_assert_msg(mp_load_report_buffer(json, n, "again.json", &r2, err, sizeof err) == 0, "%s", err);
    char *json2 = write_loaded(&r2, AS_JSON, NULL);
    assert_same("stable JSON written twice", json, json2);
    ck_assert_msg(strstr(json, "\"function\": \"[unknown]\", \"module\": \"a\"}, {\"file\": null, \"line\": 0, "
                               "\"function\": \"[unknown]\", \"module\": \"a\"}") != NULL,
                  "%s", json);
    ck_assert_msg(strstr(json, "\"peak_rss_bytes\": null, \"wall_seconds\": null") != NULL, "%s", json);
    free(json2);
    free(json);
    free(s);
    mp_loaded_report_free(&r2);
    mp_loaded_report_free(&r);
    /* Without --stable, a repeated frame is an error. */
    expect_variant_error("\"function\": \"_start\", \"module\": \"a\"}],\n \"stacks\"",
                         "\"function\": \"_start\", \"module\": \"a\"}, {\"file\": \"a.c\", \"line\": 3, \"function\": "
                         "\"f\"}],\n \"stacks\"",
                         "t.json:9:122: frames[2]: repeats frames[0]");
}
END_TEST

START_TEST(bad_syntax)
{
    expect_error("hello", "t.json:1:5: '[' or '{' expected near 'hello'");
    expect_error("", "t.json:1:0: '[' or '{' expected near end of file");
    expect_error_len(base, 700, "t.json:4:36: premature end of input near '\"functio'");
    expect_error_len(base, strlen(base) - 3, "t.json:11:14: ']' expected near end of file");
    expect_error("{\"schema\": 1} x", "t.json:1:15: end of file expected near 'x'");
    expect_error("{\"schema\": 1, \"schema\": 1}", "t.json:1:22: duplicate object key near '\"schema\"'");
    expect_error("{\"schema\": 1, \"command\": [\"a\\u0000b\"]}",
                 "t.json:1:36: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"a\\u0000b\"'");
    expect_error_len("{\"schema\": 1,\n \"a\": \"x\0y\"}", 25, "t.json:2:9: NUL byte in the file: not JSON text");
    expect_error("{\"schema\": 1, \"command\": [\"\xff\"]}", "t.json:1:27: unable to decode byte 0xff near '\"'");
    expect_error("{\"schema\": 99999999999999999999}",
                 "t.json:1:31: too big integer near '99999999999999999999'");
    expect_error("{\"schema\": 1e999}", "t.json:1:16: real number overflow near '1e999'");
    char deep[5000];
    memset(deep, '[', sizeof deep - 1);
    deep[sizeof deep - 1] = '\0';
    expect_error(deep, "t.json:1:2049: maximum parsing depth reached near '['");
}
END_TEST

START_TEST(bad_schema)
{
    expect_error("[1, 2]", "t.json: not a memprof report (the top level is an array, not an object)");
    expect_error("{\"a\": 1}", "t.json: not a memprof report (no \"schema\" field)");
    expect_error("{\n  \"schema\": 3}",
                 "t.json:2:13: written by a newer memprof (schema 3); this memprof reads schemas 1 and 2");
    expect_error("{\"schema\": 0}", "t.json:1:12: unknown schema 0; this memprof reads schemas 1 and 2");
    expect_error("{\"schema\": \"1\"}", "t.json:1:12: not a memprof report (\"schema\" is a string, not a number)");
    expect_error("{\"schema\": 1}", "t.json:1:1: missing field \"command\"");
    expect_variant_error("\"stable\": false", "\"stable\": 0", "t.json:1:25: stable: expected a boolean, found an integer");
}
END_TEST

START_TEST(bad_fields)
{
    /* Wrong types. */
    expect_variant_error("\"alloc_calls\": 1", "\"alloc_calls\": \"1\"",
                         "t.json:2:135: summary.alloc_calls: expected a non-negative integer, found a string");
    expect_variant_error("\"command\": [\"./a\"]", "\"command\": \"./a\"",
                         "t.json:1:43: command: expected an array, found a string");
    expect_variant_error("\"command\": [\"./a\"]", "\"command\": [1]",
                         "t.json:1:44: command[0]: expected a string, found an integer");
    expect_variant_error("\"summary\": {", "\"summary\": [], \"x\": {",
                         "t.json:2:13: summary: expected an object, found an array");
    expect_variant_error("\"function\": \"f\", \"rows\"", "\"function\": null, \"rows\"",
                         "t.json:4:41: tables[0].function: expected a string, found null");
    expect_variant_error("\"text\": \"void f(void) {\"", "\"text\": 7",
                         "t.json:4:159: tables[0].rows[0].text: expected a string or null, found an integer");
    expect_variant_error("\"allocated_bytes\": 8", "\"allocated_bytes\": 8.0",
                         "t.json:2:157: summary.allocated_bytes: expected a non-negative integer, found a number "
                         "with a fraction or exponent");
    expect_variant_error("\"wall_seconds\": 0.5", "\"wall_seconds\": \"0.5\"",
                         "t.json:2:54: summary.wall_seconds: expected a number of seconds, found a string");
    expect_variant_error("\"heap_profiled\": true", "\"heap_profiled\": 1",
                         "t.json:2:76: summary.heap_profiled: expected a boolean, found an integer");
    expect_variant_error("\"heap_profiled\": true", "\"heap_profiled\": false",
                         "t.json:2:76: summary.heap_profiled: must be true when heap_note is null");
    expect_variant_error("\"timeline\": [[0.000, 4096, 0]", "\"timeline\": [[0.000, 4096]",
                         "t.json:7:15: timeline[0]: expected [seconds, rss_bytes, heap_bytes], found an array");
    expect_variant_error("\"peak_rss_bytes\": 4096", "\"peak_rss_bytes\": null",
                         "t.json:2:32: summary.peak_rss_bytes: expected a non-negative integer, found null");
    /* Missing fields. */
    expect_variant_error(",\n \"warnings\": []", "", "t.json:1:1: missing field \"warnings\"");
    expect_variant_error("\"line\": 3, \"function\": \"f\", \"alloc_calls\"", "\"function\": \"f\", \"alloc_calls\"",
                         "t.json:3:12: lines[0]: missing field \"line\"");
    expect_variant_error("{\"code\": 0}", "{}", "t.json:1:60: exit: missing field \"code\"");
    expect_variant_error("{\"code\": 0}", "{\"code\": 0, \"signal\": 9}",
                         "t.json:1:60: exit: has both \"code\" and \"signal\"");
    /* Negative, huge and out-of-range numbers. */
    expect_variant_error("\"free_calls\": 0", "\"free_calls\": -1",
                         "t.json:2:174: summary.free_calls: expected a non-negative integer, found a negative integer");
    expect_variant_error("\"line\": 3", "\"line\": -3", "t.json:3:36: lines[0].line: -3 is out of range (0 to 2147483647)");
    expect_variant_error("\"line\": 3", "\"line\": 9223372036854775807",
                         "t.json:3:36: lines[0].line: 9223372036854775807 is out of range (0 to 2147483647)");
    expect_variant_error("\"leaked_blocks\": 1", "\"leaked_blocks\": 18446744073709551616",
                         "t.json:2:272: too big integer near '18446744073709551616'");
    expect_variant_error("{\"code\": 0}", "{\"signal\": 0}",
                         "t.json:1:71: exit.signal: 0 is out of range (1 to 2147483647)");
    expect_variant_error("{\"code\": 0}", "{\"code\": 4294967296}",
                         "t.json:1:69: exit.code: 4294967296 is out of range (-2147483648 to 2147483647)");
    expect_variant_error("\"wall_seconds\": 0.5", "\"wall_seconds\": -0.5",
                         "t.json:2:54: summary.wall_seconds: -0.5 seconds is out of range (0 to 1e+10)");
    expect_variant_error("[0.010, 4096, 8]", "[1e300, 4096, 8]",
                         "t.json:7:34: timeline[1][0]: 1e+300 seconds is out of range (0 to 1e+10)");
}
END_TEST

START_TEST(bad_references)
{
    /* Indices out of range. */
    expect_variant_error("\"frames\": [0, 1]", "\"frames\": [0, 2]",
                         "t.json:10:28: stacks[0].frames[1]: 2 is out of range (0 to 1)");
    expect_variant_error("\"frames\": [0, 1]", "\"frames\": [0, -1]",
                         "t.json:10:28: stacks[0].frames[1]: -1 is out of range (0 to 1)");
    expect_variant_error("\"user_line\": 0", "\"user_line\": 4294967295",
                         "t.json:10:45: stacks[0].user_line: 4294967295 is out of range (0 to 1)");
    expect_variant_error("\"frames\": [0, 1]", "\"frames\": {}",
                         "t.json:10:24: stacks[0].frames: expected an array, found an object");
    /* Places that are not frames, or listed twice. */
    expect_variant_error("\"line\": 3, \"function\": \"f\", \"alloc_calls\"", "\"line\": 4, \"function\": \"f\", \"alloc_calls\"",
                         "t.json:3:12: lines[0]: a.c:4 (f) is not in \"frames\"");
    expect_variant_error("\"temporary_calls\": 0}],\n \"tables\"",
                         "\"temporary_calls\": 0}, {\"file\": \"a.c\", \"line\": 3, \"function\": \"f\", \"alloc_calls\": "
                         "1, \"allocated_bytes\": 8, \"free_calls\": 0, \"freed_bytes\": 0, \"peak_bytes\": 8, "
                         "\"leaked_bytes\": 8, \"leaked_blocks\": 1, \"temporary_calls\": 0}],\n \"tables\"",
                         "t.json:3:210: lines[1]: a.c:3 (f) is listed twice");
    /* Tables. */
    expect_variant_error("{\"line\": 3, \"mem_usage_bytes\": 8", "{\"line\": 4, \"mem_usage_bytes\": 8",
                         "t.json:4:187: tables[0].rows[1].line: expected line 3: rows are the function's consecutive "
                         "lines");
    expect_variant_error("\"occurrences\": 0, \"allocated_bytes\": 0", "\"occurrences\": 0, \"allocated_bytes\": 5",
                         "t.json:4:55: tables[0].rows[0]: a line with no occurrences has nonzero counters");
    expect_variant_error("\"occurrences\": 1, \"allocated_bytes\": 8", "\"occurrences\": 0, \"allocated_bytes\": 0",
                         "t.json:4:178: tables[0].rows[1]: a line with no occurrences has nonzero counters");
    expect_variant_error("\"rows\": [{\"line\": 2", "\"rows\": [], \"x\": [{\"line\": 2",
                         "t.json:4:54: tables[0].rows: a table has at least one row");
    expect_variant_error("\"line\": 2, \"mem_usage_bytes\": 0", "\"line\": 2147483647, \"mem_usage_bytes\": 0",
                         "t.json:4:196: tables[0].rows[1].line: expected line 2147483648: rows are the function's consecutive lines");
    expect_variant_error("\"function\": \"f\", \"rows\"", "\"function\": \"g\", \"rows\"",
                         "t.json:4:178: tables[0].rows[1]: a.c:3 (g) is not in \"frames\"");
    expect_variant_error("\"tables\": [{\"file\": \"a.c\", \"function\": \"f\", \"rows\": [{\"line\": 2, "
                         "\"mem_usage_bytes\": 0, \"increment_bytes\": 0, \"occurrences\": 0, \"allocated_bytes\": 0, "
                         "\"text\": \"void f(void) {\"}, ",
                         "\"tables\": [{\"file\": \"a.c\", \"function\": \"f\", \"rows\": [{\"line\": 2, "
                         "\"mem_usage_bytes\": 0, \"increment_bytes\": 0, \"occurrences\": 0, \"allocated_bytes\": 0, "
                         "\"text\": \"void f(void) {\"}]}, {\"file\": \"a.c\", \"function\": \"f\", \"rows\": [",
                         "t.json:4:54: tables[0].rows: no row has occurrences or frees: a table lists a function that allocated or freed");
    /* Two tables of one function (they would merge into one spanning both). */
    char *two = variant("\"function\": \"_start\", \"module\": \"a\"}],\n \"stacks\"",
                        "\"function\": \"_start\", \"module\": \"a\"}, {\"file\": \"a.c\", \"line\": 900, "
                        "\"function\": \"f\"}],\n \"stacks\"");
    char *three = replace(two, "]}],\n \"peak\"",
                          "]}, {\"file\": \"a.c\", \"function\": \"f\", \"rows\": [{\"line\": 900, \"mem_usage_bytes\": 1, "
                          "\"increment_bytes\": 0, \"occurrences\": 1, \"allocated_bytes\": 1, \"text\": null}]}],\n \"peak\"");
    expect_error(three, "t.json:4:305: tables[1]: a second table for f in a.c (first: tables[0])");
    free(three);
    free(two);
    /* Line numbers cost memory in the sources: bounded by the report's size. */
    two = variant("\"function\": \"_start\", \"module\": \"a\"}],\n \"stacks\"",
                  "\"function\": \"_start\", \"module\": \"a\"}, {\"file\": \"a.c\", \"line\": 2000000000, "
                  "\"function\": \"g\"}],\n \"stacks\"");
    three = replace(two, "]}],\n \"peak\"",
                    "]}, {\"file\": \"a.c\", \"function\": \"g\", \"rows\": [{\"line\": 2000000000, \"mem_usage_bytes\": "
                    "1, \"increment_bytes\": 0, \"occurrences\": 1, \"allocated_bytes\": 1, \"text\": \"x\"}]}],\n \"peak\"");
    expect_error(three, "t.json:4:12: tables: source lines up to 2000000000 in all: too many for a report of 1764 bytes");
    free(three);
    free(two);
    /* Peak. */
    expect_variant_error("{\"heap_bytes\": 8", "{\"heap_bytes\": 9",
                         "t.json:5:25: peak.heap_bytes: differs from summary.peak_heap_bytes");
    expect_variant_error("\"function\": \"_start\", \"module\": \"a\"}], \"user_frame\"",
                         "\"function\": \"_start\", \"module\": \"b\"}], \"user_frame\"",
                         "t.json:5:96: peak.stack: matches no entry of \"stacks\"");
    expect_variant_error("\"user_frame\": 0", "\"user_frame\": -2",
                         "t.json:5:221: peak.user_frame: -2 is out of range (-1 to 2147483647)");
}
END_TEST

START_TEST(bad_sizes)
{
    /* Huge input: refused before it is read or parsed. */
    char one = '{';
    expect_error_len(&one, ((size_t)1 << 30) + 1,
                     "t.json: larger than 1 GiB (1073741825 bytes): too big for a memprof report");
    char path[512], err[1024];
    snprintf(path, sizeof path, "%s/jl-huge.json", test_tmp_dir());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, ((off_t)1 << 30) + 1), 0); /* sparse */
    close(fd);
    struct mp_loaded_report r;
    ck_assert_int_eq(mp_load_report(path, &r, err, sizeof err), -1);
    char expected[1024];
    snprintf(expected, sizeof expected, "%s: larger than 1 GiB (1073741825 bytes): too big for a memprof report", path);
    ck_assert_str_eq(err, expected);
    unlink(path);
    /* A timeline longer than memprof keeps. */
    size_t cap = strlen(base) + 8300 * 16;
    char *big = malloc(cap);
    const char *tl = strstr(base, "[[0.000, 4096, 0]");
    size_t o = (size_t)(tl - base);
    memcpy(big, base, o);
    big[o++] = '[';
    for (int i = 0; i < 8193; i++)
        o += (size_t)snprintf(big + o, cap - o, "%s[0, 1, 2]", i ? "," : "");
    snprintf(big + o, cap - o, "%s", strstr(base, "],\n \"rss_at_exit\""));
    expect_error(big, "t.json:7:14: timeline: 8193 samples: memprof keeps at most 8192");
    free(big);
    /* Files that cannot be read. */
    ck_assert_int_eq(mp_load_report("/nonexistent/p.json", &r, err, sizeof err), -1);
    ck_assert_str_eq(err, "/nonexistent/p.json: cannot read: No such file or directory");
    ck_assert_int_eq(mp_load_report("/", &r, err, sizeof err), -1);
    ck_assert_str_eq(err, "/: cannot read: Is a directory");
    /* A short error buffer is cut, not overrun. */
    char small[8];
    ck_assert_int_eq(mp_load_report_buffer("[1]", 3, "t.json", &r, small, sizeof small), -1);
    ck_assert_str_eq(small, "t.json:");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* memprof report: arguments                                                 */
/* ------------------------------------------------------------------------ */

static int cmd(int argc, char **argv)
{
    return mp_cmd_report(argc, argv);
}

/* The fields the pictures added: optional, checked when there. */
START_TEST(picture_fields)
{
    /* timeline_heap_max: one per sample, never below the heap level */
    const char *tl = "\"timeline\": [[0.000, 4096, 0], [0.010, 4096, 8]],";
    char *with = variant(tl, "\"timeline\": [[0.000, 4096, 0], [0.010, 4096, 8]],\n \"timeline_heap_max\": [5, 8],");
    struct mp_loaded_report r;
    char err[1024];
    ck_assert_msg(mp_load_report_buffer(with, strlen(with), "t.json", &r, err, sizeof err) == 0, "%s", err);
    const struct mp_sample *samples;
    ck_assert_uint_eq(mp_profile_timeline(r.profile, &samples), 2);
    ck_assert_uint_eq(samples[0].heap_max_bytes, 5);
    ck_assert_uint_eq(samples[1].heap_max_bytes, 8);
    mp_loaded_report_free(&r);
    free(with);
    /* without it (an older report) the heap levels stand in */
    ck_assert_int_eq(mp_load_report_buffer(base, strlen(base), "t.json", &r, err, sizeof err), 0);
    ck_assert_uint_eq(mp_profile_timeline(r.profile, &samples), 2);
    ck_assert_uint_eq(samples[1].heap_max_bytes, 8);
    ck_assert_uint_eq(mp_profile_stack(r.profile, 0)->peak_bytes, 0); /* no per-stack peak either */
    mp_loaded_report_free(&r);
    expect_variant_error(tl, "\"timeline\": [[0.000, 4096, 0], [0.010, 4096, 8]], \"timeline_heap_max\": [5],",
                         "t.json:7:73: timeline_heap_max: 1 values for the 2 samples of \"timeline\"");
    expect_variant_error(tl, "\"timeline\": [[0.000, 4096, 0], [0.010, 4096, 8]], \"timeline_heap_max\": [5, 7],",
                         "t.json:7:77: timeline_heap_max[1]: is less than the heap level timeline[1][2]");

    /* function_spans: in time order, each [start, end] */
    const char *w = "\"warnings\": []";
    char *spans = variant(w, "\"warnings\": [], \"function_spans\": [{\"function\": \"f\", \"file\": \"a.c\", "
                             "\"calls\": 3, \"spans\": [[0.001, 0.002], [0.004, 0.0045]]}]");
    ck_assert_msg(mp_load_report_buffer(spans, strlen(spans), "t.json", &r, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(r.run.n_function_spans, 1);
    ck_assert_str_eq(r.run.function_spans[0].function, "f");
    ck_assert_uint_eq(r.run.function_spans[0].calls, 3);
    ck_assert_uint_eq(r.run.function_spans[0].n_spans, 2);
    ck_assert_uint_eq(r.run.function_spans[0].spans[1].start_ns, 4000000);
    ck_assert_uint_eq(r.run.function_spans[0].spans[1].end_ns, 4500000);
    /* written again, they come back */
    size_t n;
    char *json = write_loaded(&r, AS_JSON, &n);
    ck_assert_msg(strstr(json, "\"function_spans\": [\n    {\"function\": \"f\", \"file\": \"a.c\", \"calls\": 3, "
                               "\"spans\": [[0.001000, 0.002000], [0.004000, 0.004500]]}\n  ]") != NULL, "%s", json);
    free(json);
    mp_loaded_report_free(&r);
    free(spans);
    expect_variant_error(w, "\"warnings\": [], \"function_spans\": [{\"function\": \"f\", \"file\": null, \"calls\": "
                            "1, \"spans\": [[0.002, 0.001]]}]",
                         "t.json:11:91: function_spans[0].spans[0]: ends before it starts");
    expect_variant_error(w, "\"warnings\": [], \"function_spans\": [{\"function\": \"f\", \"file\": null, \"calls\": "
                            "1, \"spans\": [[0.002, 0.003], [0.001, 0.004]]}]",
                         "t.json:11:107: function_spans[0].spans[1]: starts before the previous span ends: spans "
                         "are in time order");
    expect_variant_error(w, "\"warnings\": [], \"function_spans\": [{\"function\": \"f\", \"spans\": []}]",
                         "t.json:11:37: function_spans[0]: missing field \"file\"");

    /* attach: a process memprof attached to */
    char *attach = variant("\"exit\": {\"code\": 0},", "\"exit\": {\"code\": 0}, \"attach\": {\"pid\": 42, "
                                                      "\"detached\": true},");
    ck_assert_msg(mp_load_report_buffer(attach, strlen(attach), "t.json", &r, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(r.run.attached_pid, 42);
    ck_assert_int_eq(r.run.detached, 1);
    mp_loaded_report_free(&r);
    free(attach);
    expect_variant_error("\"exit\": {\"code\": 0},", "\"exit\": {\"code\": 0}, \"attach\": {\"pid\": 42, "
                                                   "\"detached\": 1},",
                         "t.json:1:107: attach.detached: expected a boolean, found an integer");
}
END_TEST

START_TEST(report_arguments)
{
    char *none[] = { "report", NULL };
    ck_assert_int_eq(cmd(1, none), 2);
    char *two[] = { "report", "a.json", "b.json", NULL };
    ck_assert_int_eq(cmd(3, two), 2);
    char *format[] = { "report", "--format=bmp", "a.json", NULL };
    ck_assert_int_eq(cmd(3, format), 2);
    char *weight[] = { "report", "--weight=size", "a.json", NULL };
    ck_assert_int_eq(cmd(3, weight), 2);
    char *frames[] = { "report", "--frames=file", "a.json", NULL };
    ck_assert_int_eq(cmd(3, frames), 2);
    char *top[] = { "report", "a.json", "--top", "x", NULL };
    ck_assert_int_eq(cmd(4, top), 2);
    char *prec[] = { "report", "a.json", "--precision=10", NULL };
    ck_assert_int_eq(cmd(3, prec), 2);
    char *unknown[] = { "report", "--frobnicate", "a.json", NULL };
    ck_assert_int_eq(cmd(3, unknown), 2);
    char *value[] = { "report", "a.json", "-o", NULL };
    ck_assert_int_eq(cmd(3, value), 2);
    char *missing[] = { "report", "/nonexistent/a.json", NULL };
    ck_assert_int_eq(cmd(2, missing), 1);
    char *help[] = { "report", "--help", NULL };
    ck_assert_int_eq(cmd(2, help), 0);

    char in[512], out[512];
    snprintf(in, sizeof in, "%s/jl-base.json", test_tmp_dir());
    snprintf(out, sizeof out, "%s/jl-base.folded", test_tmp_dir());
    FILE *f = fopen(in, "w");
    ck_assert_ptr_nonnull(f);
    fputs(base, f);
    fclose(f);
    char *folded[] = { "report", "--format", "folded", "-o", out, in, NULL };
    ck_assert_int_eq(cmd(6, folded), 0);
    char *got = read_file(out, NULL);
    ck_assert_str_eq(got, "_start;f (a.c:3) 8\n");
    free(got);
    char *calls[] = { "report", "--format=folded", "--weight=calls", "--frames=function", "-o", out, in, NULL };
    ck_assert_int_eq(cmd(7, calls), 0);
    got = read_file(out, NULL);
    ck_assert_str_eq(got, "_start;f 1\n");
    free(got);
    char *unwritable[] = { "report", in, "-o", "/nonexistent/out.txt", NULL };
    ck_assert_int_eq(cmd(4, unwritable), 1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The fuzz corpus                                                           */
/* ------------------------------------------------------------------------ */

START_TEST(fuzz_corpus_replays)
{
    const char *dir = repo_path("tests/fuzz/corpus");
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    struct dirent *e;
    int files = 0, loaded = 0, reports = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        char *data = read_file(path, &len);
        ck_assert_ptr_nonnull(data);
        files++;
        struct mp_loaded_process_tree r, pw;
        char err[1024], err_pw[1024];
        /* piece by piece, the same outcome */
        mp_load_report_piecewise_from(0);
        int rc_pw = mp_load_process_tree_buffer(data, len, e->d_name, &pw, err_pw, sizeof err_pw);
        mp_load_report_piecewise_from((size_t)-1);
        int rc_whole = mp_load_process_tree_buffer(data, len, e->d_name, &r, err, sizeof err);
        mp_load_report_piecewise_from(256u << 10);
        ck_assert_msg(rc_pw == rc_whole && (rc_whole == 0 || strcmp(err, err_pw) == 0),
                      "%s: whole: %s; piece by piece: %s", e->d_name, rc_whole ? err : "loads", rc_pw ? err_pw : "loads");
        if (rc_pw == 0) {
            char *a = write_loaded_tree(&r, AS_JSON, NULL), *b = write_loaded_tree(&pw, AS_JSON, NULL);
            assert_same(e->d_name, a, b);
            free(a);
            free(b);
            mp_loaded_process_tree_free(&pw);
        }
        if (rc_whole != 0) {
            ck_assert_msg(err[0] && !strchr(err, '\n'), "%s: error is not one line: %s", e->d_name, err);
            ck_assert_msg(strncmp(err, e->d_name, strlen(e->d_name)) == 0, "%s: error does not name it: %s",
                          e->d_name, err);
            free(data);
            continue;
        }
        loaded++;
        size_t n;
        char *json = write_loaded_tree(&r, AS_JSON, &n);
        free(write_loaded_tree(&r, AS_TEXT_ALL, NULL)); /* every view, on every report that loads */
        free(write_loaded_tree(&r, AS_FOLDED, NULL));
        every_picture(&r);
        /* Real reports (report-*.json) write themselves again byte for byte;
         * if the writer gains a field, regenerate them (scripts/fuzz says how). */
        if (strncmp(e->d_name, "report-", 7) == 0) {
            reports++;
            ck_assert_msg(n == len && memcmp(json, data, len) == 0, "%s does not round-trip", e->d_name);
        }
        /* Anything that loads is a fixed point once written again. */
        struct mp_loaded_process_tree r2;
        ck_assert_msg(mp_load_process_tree_buffer(json, n, e->d_name, &r2, err, sizeof err) == 0, "%s written again: %s",
                      e->d_name, err);
        char *json2 = write_loaded_tree(&r2, AS_JSON, NULL);
        assert_same(e->d_name, json, json2);
        free(json2);
        free(json);
        mp_loaded_process_tree_free(&r2);
        mp_loaded_process_tree_free(&r);
        free(data);
    }
    closedir(d);
    ck_assert_int_gt(files, 0);
    ck_assert_int_gt(reports, 0);
    ck_assert_int_gt(loaded, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json_load");
    TCase *tc = tcase_create("load");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, round_trip_demo);
    tcase_add_test(tc, round_trip_basic);
    tcase_add_test(tc, round_trip_cxx);
    tcase_add_test(tc, folded_demo);
    tcase_add_test(tc, picture_fields);
    tcase_add_test(tc, base_report_loads);
    tcase_add_test(tc, leak_kinds_load_and_are_checked);
    tcase_add_test(tc, stable_unknown_frames);
    tcase_add_test(tc, bad_syntax);
    tcase_add_test(tc, bad_schema);
    tcase_add_test(tc, bad_fields);
    tcase_add_test(tc, bad_references);
    tcase_add_test(tc, bad_sizes);
    tcase_add_test(tc, report_arguments);
    tcase_add_test(tc, fuzz_corpus_replays);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
