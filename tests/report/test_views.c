/* memprof tests: the report's views end to end, on tests/fixtures/views.c
 * (built -O0 -g and -O2 -g).  The expected numbers come from the
 * fixture's source (its header comment derives them); the size histogram
 * and the totals are checked against valgrind --trace-malloc, which also
 * gives the one number the source does not fix (the DTVs pthread_create
 * callocs).  Each view must render from the saved JSON exactly as it was
 * printed at record time. */
#define _GNU_SOURCE
#include "harness.h"
#include "report/format.h"

#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIXTURE "tests/fixtures/views.c"

/* The fixture's marked lines. */
static int line_of(const char *marker)
{
    size_t len;
    char *src = read_file(repo_path(FIXTURE), &len);
    ck_assert_ptr_nonnull(src);
    char tag[64];
    snprintf(tag, sizeof tag, "/* %s */", marker);
    const char *at = strstr(src, tag);
    ck_assert_msg(at != NULL, "no %s in the fixture", marker);
    int line = 1;
    for (const char *c = src; c < at; c++)
        line += *c == '\n';
    free(src);
    return line;
}

/* How the report names the fixture: relative to the current directory when under it. */
static const char *fixture_name(void)
{
    static char name[PATH_MAX], cwd[PATH_MAX];
    snprintf(name, sizeof name, "%s", mp_display_path(repo_path(FIXTURE), getcwd(cwd, sizeof cwd)));
    return name;
}

static const char *place(int line, const char *function)
{
    static char buf[8][PATH_MAX + 64];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "%s:%d (%s)", fixture_name(), line, function);
    return b;
}

static void run_ok(char **argv, struct run_output *o)
{
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, o), 0);
    ck_assert_msg(o->status == 0, "%s exited %d: %s", argv[1], o->status, o->err);
}

/* The text from the line starting with `from` to the next empty line. */
static char *section(const char *text, const char *from)
{
    const char *a = strstr(text, from);
    ck_assert_msg(a != NULL && (a == text || a[-1] == '\n'), "no section [%s] in:\n%s", from, text);
    const char *b = strstr(a, "\n\n");
    size_t n = b ? (size_t)(b - a) + 1 : strlen(a);
    return strndup(a, n);
}

static void expect_section(const char *text, const char *from, const char *want)
{
    char *got = section(text, from);
    ck_assert_msg(strcmp(got, want) == 0, "section [%s]:\n got:\n%s\nwant:\n%s", from, got, want);
    free(got);
}

/* ---- valgrind's view of the program ---- */

struct truth {
    uint64_t allocs, frees, bytes;
    uint64_t bucket_calls[65], bucket_bytes[65];
    uint64_t dtv_calls;      /* calloc(17, 16): the DTVs */
};

static unsigned bucket_of(uint64_t size)
{
    return size ? 64u - (unsigned)__builtin_clzll(size) : 0u;
}

static void valgrind_truth(const char *exe, struct truth *t)
{
    memset(t, 0, sizeof *t);
    valgrind_totals(exe, 1, &t->allocs, &t->frees, &t->bytes);
    char *argv[] = { "valgrind", "--trace-malloc=yes", "--run-libc-freeres=no", (char *)exe, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 300, &o), 0);
    ck_assert_int_eq(o.status, 0);
    for (const char *l = o.err; (l = strstr(l, "-- ")); l += 3) {
        unsigned long long a, b;
        uint64_t size;
        if (sscanf(l, "-- malloc(%llu)", &a) == 1)
            size = a;
        else if (sscanf(l, "-- calloc(%llu,%llu)", &a, &b) == 2) {
            size = a * b;
            t->dtv_calls += a == 17 && b == 16;
        } else
            continue;
        t->bucket_calls[bucket_of(size)]++;
        t->bucket_bytes[bucket_of(size)] += size;
    }
    run_output_free(&o);
}

/* ---- the test ---- */

static void check_build(const char *flags, const char *out)
{
    const char *exe = build_fixture(FIXTURE, "gcc", flags, out);
    ck_assert_ptr_nonnull(exe);
    struct truth vg;
    valgrind_truth(exe, &vg);
    /* the program's own: 11,000 + 16 + 5 + 1 + 1 mallocs and the DTVs */
    ck_assert_uint_eq(vg.allocs, 11023 + vg.dtv_calls);
    ck_assert_uint_ge(vg.dtv_calls, 1);

    int record = line_of("VIEWS-RECORD"), loop_call = line_of("VIEWS-LOOP-CALL"),
        loop_free = line_of("VIEWS-LOOP-FREE"), small_loop = line_of("VIEWS-SMALL-LOOP"),
        direct_call = line_of("VIEWS-DIRECT-CALL"), direct_free = line_of("VIEWS-DIRECT-FREE"),
        big = line_of("VIEWS-BIG"), worker = line_of("VIEWS-WORKER"), worker_free = line_of("VIEWS-WORKER-FREE"),
        create = line_of("VIEWS-CREATE"), leak = line_of("VIEWS-LEAK");

    char text[PATH_MAX], json[PATH_MAX], spec[64];
    snprintf(text, sizeof text, "%s/%s.txt", test_tmp_dir(), out);
    snprintf(json, sizeof json, "%s/%s.json", test_tmp_dir(), out);
    snprintf(spec, sizeof spec, "views.c:%d", record);
    char *argv[] = { (char *)memprof_path(), "--stable", "--show=all", "--top=0", "--callers", "make_record",
                     "--callers", spec, "-o", text, "--json", json, (char *)exe, NULL };
    struct run_output o;
    run_ok(argv, &o);
    run_output_free(&o);
    size_t len;
    char *got = read_file(text, &len);
    ck_assert_ptr_nonnull(got);

    /* totals agree with valgrind */
    char want[8192], a[64], b[64];
    snprintf(want, sizeof want, "\n  allocations        %s calls, %s B\n", MP_COUNT_STR(a, vg.allocs),
             MP_COUNT_STR(b, vg.bytes));
    ck_assert_msg(strstr(got, want) != NULL, "want [%s] in:\n%s", want, got);

    /* the callers of make_record: 10,000 from small_loop, 1,000 from main; by function and by line
     * the same split (make_record allocates on one line) */
    const char *rows = "   allocated   share        calls      at peak   caller\n";
    snprintf(want, sizeof want,
             "Callers of make_record: 528,000 B in 11,000 calls\n%s"
             "   480,000 B   90.9%%       10,000          0 B   %s\n"
             /* main called small_loop for all of it: the same chain, on the next row */
             "                                                 %s\n"
             "    48,000 B    9.1%%        1,000          0 B   %s\n",
             rows, place(loop_call, "small_loop"), place(small_loop, "main"), place(direct_call, "main"));
    expect_section(got, "Callers of make_record:", want);
    char head[PATH_MAX + 64];
    snprintf(head, sizeof head, "Callers of %s:", place(record, "make_record"));
    char *by_line = section(got, head);
    ck_assert_str_eq(strchr(by_line, '\n'), strchr(want, '\n'));
    free(by_line);

    /* the call tree: main's call of small_loop down to make_record */
    snprintf(want, sizeof want,
             "   480,000 B    5.3%%       10,000          0 B   %s\n"
             "                                                 %s\n"
             "                                                 %s\n",
             place(small_loop, "main"), place(loop_call, "small_loop"), place(record, "make_record"));
    ck_assert_msg(strstr(got, want), "want\n%s\nin the tree of:\n%s", want, got);

    /* sizes: every bucket as valgrind's trace gives it */
    char *sizes = section(got, "Allocation sizes");
    unsigned buckets = 0;
    for (unsigned k = 0; k < 65; k++) {
        if (!vg.bucket_calls[k])
            continue;
        buckets++;
        char from[64], below[64], calls[32], bytes[64], row[256];
        mp_format_size(from, sizeof from, k ? (int64_t)1 << (k - 1) : 0, -1);
        mp_format_size(below, sizeof below, (int64_t)1 << k, -1);
        mp_format_size(bytes, sizeof bytes, (int64_t)vg.bucket_bytes[k], -1);
        snprintf(row, sizeof row, "\n%12s %12s %12s %12s   #", from, below, MP_COUNT_STR(calls, vg.bucket_calls[k]),
                 bytes);
        ck_assert_msg(strstr(sizes, row), "no bucket row [%s] in\n%s", row + 1, sizes);
    }
    /* 48, 100, 272, 4 KiB, 1 MiB, 3 MiB: six buckets, as the fixture says */
    ck_assert_uint_eq(buckets, 6);
    ck_assert_int_eq(count_lines(sizes), 2 + 6);
    free(sizes);

    /* the largest allocations, biggest first, with their user lines */
    char *largest = section(got, "Largest allocations");
    /* (a section ends at an empty line; the largest one has none inside) */
    const char *const order[] = { "  1 call of 3,145,728 B (0 live at exit) from:\n",
                                  "  5 calls of 1,048,576 B (0 live at exit) from:\n",
                                  "  16 calls of 4,096 B (0 live at exit) from:\n",
                                  "  1 call of 100 B (1 live at exit) from:\n",
                                  "  10,000 calls of 48 B (0 live at exit) from:\n",
                                  "  1,000 calls of 48 B (0 live at exit) from:\n" };
    const char *at = largest;
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        const char *next = strstr(at, order[i]);
        ck_assert_msg(next != NULL, "no [%s] after the previous entry in\n%s", order[i], largest);
        at = next + strlen(order[i]);
    }
    snprintf(want, sizeof want, "  1 call of 3,145,728 B (0 live at exit) from:\n      -> %s\n", place(big, "main"));
    ck_assert(strstr(largest, want));
    snprintf(want, sizeof want, "  10,000 calls of 48 B (0 live at exit) from:\n      -> %s\n      at %s\n      at %s\n",
             place(record, "make_record"), place(loop_call, "small_loop"), place(small_loop, "main"));
    ck_assert_msg(strstr(largest, want), "want\n%s\nin\n%s", want, largest);
    snprintf(want, sizeof want, "  %s %s of 272 B (%s live at exit) from:\n", MP_COUNT_STR(a, vg.dtv_calls),
             vg.dtv_calls == 1 ? "call" : "calls", MP_COUNT_STR(b, vg.dtv_calls));
    ck_assert_msg(strstr(largest, want), "want [%s] in\n%s", want, largest);
    free(largest);

    /* threads: the workers' numbers come from the source; main's are the rest */
    uint64_t dtv_bytes = 272 * vg.dtv_calls, peak = 5242880 + dtv_bytes;
    char c1[32], b1[64], h1[64], l1[64], pk[64];
    MP_COUNT_STR(c1, vg.allocs - 21);
    mp_format_size(b1, sizeof b1, (int64_t)(vg.bytes - 65536 - 5242880), -1);
    mp_format_size(h1, sizeof h1, (int64_t)dtv_bytes, -1);
    mp_format_size(l1, sizeof l1, (int64_t)(dtv_bytes + 100), -1);
    mp_format_size(pk, sizeof pk, (int64_t)peak, -1);
    snprintf(want, sizeof want,
             "Threads (numbered in the order memprof first saw them)\n"
             "thread        calls    allocated      at peak    most held live at exit\n"
             "     1 %12s %12s %12s  3,145,728 B %12s\n"
             "     2           16     65,536 B          0 B     65,536 B          0 B\n"
             "     3            5  5,242,880 B  5,242,880 B  5,242,880 B          0 B\n"
             "  Thread 3 held the most when the heap reached its peak: 5,242,880 B of %s (%.1f%%)\n",
             c1, b1, h1, l1, pk, 100.0 * 5242880.0 / (double)peak);
    expect_section(got, "Threads", want);

    /* the heap tables: a free() line shows what it released, as a negative net */
    snprintf(want, sizeof want, "\n%6d %12s %12s %12s %12s %12s %12s   ", loop_free, "0 B", "480,000 B", "-480,000 B",
             "0 B", "0 B", "0");
    ck_assert_msg(strstr(got, want), "want [%s] in\n%s", want, got);
    snprintf(want, sizeof want, "\n%6d %12s %12s %12s %12s %12s %12s   ", direct_free, "0 B", "48,000 B", "-48,000 B",
             "0 B", "0 B", "0");
    ck_assert(strstr(got, want));
    snprintf(want, sizeof want, "\n%6d %12s %12s %12s %12s %12s %12s   ", worker_free, "0 B", "5,308,416 B",
             "-5,308,416 B", "0 B", "0 B", "0");
    ck_assert(strstr(got, want));
    /* small_loop's call line in main: 480,000 allocated through it, held 48 at most */
    snprintf(want, sizeof want, "\n%6d %12s %12s %12s %12s %12s %12s   ", small_loop, "480,000 B", "0 B", "480,000 B",
             "48 B", "0 B", "10,000");
    ck_assert(strstr(got, want));
    largest = section(got, "Largest allocations");
    snprintf(want, sizeof want, "  1 call of 100 B (1 live at exit) from:\n      -> %s\n", place(leak, "main"));
    ck_assert_msg(strstr(largest, want), "want\n%s\nin\n%s", want, largest);
    snprintf(want, sizeof want, "  5 calls of 1,048,576 B (0 live at exit) from:\n      -> %s\n", place(worker, "worker"));
    ck_assert_msg(strstr(largest, want), "want\n%s\nin\n%s", want, largest);
    snprintf(want, sizeof want, "      -> %s\n", place(create, "run"));
    ck_assert_msg(strstr(largest, want), "the DTVs' user line is the pthread_create call:\n%s", largest);
    free(largest);

    /* the saved report renders every view the same */
    char *rargv[] = { (char *)memprof_path(), "report", "--show=all", "--top=0", "--callers", "make_record",
                      "--callers", spec, json, NULL };
    run_ok(rargv, &o);
    ck_assert_msg(strcmp(o.out, got) == 0, "memprof report differs from the run's report:\n%s\n----\n%s", o.out, got);
    run_output_free(&o);
    free(got);
}

START_TEST(views_O0)
{
    check_build("-O0 -g -pthread", "views_O0");
}
END_TEST

START_TEST(views_O2)
{
    check_build("-O2 -g -pthread", "views_O2");
}
END_TEST

/* Without --stable every view (rate, thread ids, times) still renders from
 * the saved JSON exactly as at record time. */
START_TEST(views_render_from_json)
{
    const char *exe = build_fixture(FIXTURE, "gcc", "-O0 -g -pthread", "views_json");
    ck_assert_ptr_nonnull(exe);
    char text[PATH_MAX], json[PATH_MAX];
    snprintf(text, sizeof text, "%s/views_json.txt", test_tmp_dir());
    snprintf(json, sizeof json, "%s/views_json.json", test_tmp_dir());
    char *argv[] = { (char *)memprof_path(), "--show=all", "--callers", "make_record", "-o", text, "--json", json,
                     (char *)exe, NULL };
    struct run_output o;
    run_ok(argv, &o);
    run_output_free(&o);
    size_t len;
    char *got = read_file(text, &len);
    ck_assert_ptr_nonnull(strstr(got, "\nAllocation rate (the run in "));
    ck_assert_ptr_nonnull(strstr(got, "\n  allocation rate    "));
    char *rargv[] = { (char *)memprof_path(), "report", "--show=all", "--callers", "make_record", json, NULL };
    run_ok(rargv, &o);
    ck_assert_msg(strcmp(o.out, got) == 0, "memprof report differs from the run's report:\n%s\n----\n%s", o.out, got);
    run_output_free(&o);
    /* and the JSON again, byte for byte */
    char *jargv[] = { (char *)memprof_path(), "report", "--format=json", json, NULL };
    run_ok(jargv, &o);
    char *saved = read_file(json, &len);
    ck_assert_str_eq(o.out, saved);
    free(saved);
    run_output_free(&o);

    /* a --callers that names nothing: one line naming what did allocate, status 2, nothing written */
    char *bad[] = { (char *)memprof_path(), "report", "--callers", "views.c:1", json, NULL };
    ck_assert_int_eq(run_cmd(bad, NULL, NULL, 30, &o), 0);
    ck_assert_int_eq(o.status, 2);
    ck_assert_str_eq(o.out, "");
    const char *prefix = "memprof: --callers views.c:1: no allocation went through that line (lines of views.c "
                         "that allocated: ";
    ck_assert_msg(strncmp(o.err, prefix, strlen(prefix)) == 0 && count_lines(o.err) == 1, "%s", o.err);
    char num[32];
    snprintf(num, sizeof num, " %d,", line_of("VIEWS-RECORD"));  /* make_record's line is among them */
    ck_assert_msg(strstr(o.err, num), "%s", o.err);
    snprintf(num, sizeof num, " %d)", line_of("VIEWS-LEAK"));     /* the last one */
    ck_assert_msg(strstr(o.err, num), "%s", o.err);
    run_output_free(&o);
    char *nofn[] = { (char *)memprof_path(), "report", "--callers", "no_such_function", json, NULL };
    ck_assert_int_eq(run_cmd(nofn, NULL, NULL, 30, &o), 0);
    ck_assert_int_eq(o.status, 2);
    ck_assert_str_eq(o.err, "memprof: --callers no_such_function: no allocation went through that function (no "
                            "allocation went through a function of that name)\n");
    run_output_free(&o);
    free(got);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("views");
    TCase *tc = tcase_create("views");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, views_O0);
    tcase_add_test(tc, views_O2);
    tcase_add_test(tc, views_render_from_json);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
