/* memprof tests: memprof diff across checkouts and build directories
 * (files paired by their trailing paths, --strip, --map), grouping by file,
 * function and traceback, tracemalloc's average=, and exact bytes.  Unit
 * tests build two profiles from hand-made events whose resolver puts the
 * same program under different directories; the end-to-end test builds
 * tests/fixtures/diff_app.c in two directories and diffs the saved reports. */
#define _GNU_SOURCE
#include "report/format.h"
#include "report/report_diff.h"
#include "harness.h"
#include "memprof/profile.h"
#include "memprof/report.h"

#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a program under a directory ---- */

/* The places of the program (its functions and lines), found under a root
 * directory the resolver is given as its context. */
enum place { MAKE_24, LOOP_31, MAIN_40, MAIN_41, UTIL_7, LIB_UTIL_9, MALLOC, N_PLACES };

static const struct {
    const char *function, *rel; /* rel: the file under the root; NULL: a library */
    int line;
} places[N_PLACES] = {
    [MAKE_24] = { "make_record", "src/app.c", 24 }, [LOOP_31] = { "small_loop", "src/app.c", 31 },
    [MAIN_40] = { "main", "src/app.c", 40 },        [MAIN_41] = { "main", "src/app.c", 41 },
    [UTIL_7] = { "grow", "src/util.c", 7 },         [LIB_UTIL_9] = { "lib_grow", "lib/util.c", 9 },
    [MALLOC] = { "malloc", NULL, 0 },
};

#define PC(place) (0x1000u + 0x10u * (uint64_t)(place))

struct tree {
    const char *root;           /* "/tmp/a" */
    char paths[N_PLACES][128];  /* root + "/" + rel */
};

static int resolve(void *ctx, uint64_t pc, int is_return_address, struct mp_frame_info *out, int max)
{
    struct tree *t = ctx;
    (void)is_return_address;
    ck_assert_int_ge(max, 1);
    size_t i = (pc - 0x1000) / 0x10;
    ck_assert_uint_lt(i, N_PLACES);
    if (!places[i].rel) {
        out[0] = (struct mp_frame_info){ places[i].function, NULL, 0, "/lib/libc.so.6", 1, NULL, 0, 0 };
        return 1;
    }
    snprintf(t->paths[i], sizeof t->paths[i], "%s/%s", t->root, places[i].rel);
    out[0] = (struct mp_frame_info){ places[i].function, t->paths[i], places[i].line, "/usr/bin/app", 0, t->paths[i],
                                     places[i].line - 2, places[i].line + 5 };
    return 1;
}

static uint64_t next_addr = 0x10000;

static void alloc(struct mp_profile *p, const enum place *stack, int n_stack, int calls, uint64_t size)
{
    uint64_t frames[8];
    for (int i = 0; i < n_stack; i++)
        frames[i] = PC(stack[i]);
    for (int k = 0; k < calls; k++) {
        struct mp_event ev = { .kind = MP_EV_ALLOC, .tid = 1, .addr = next_addr += 64, .size = size,
                               .nframes = (uint32_t)n_stack, .frames = frames };
        ck_assert_int_eq(mp_profile_add(p, &ev), 0);
    }
}

#define ALLOC(p, calls, size, ...)                                                                 \
    alloc(p, (const enum place[]){ __VA_ARGS__ }, sizeof((const enum place[]){ __VA_ARGS__ }) / sizeof(enum place), \
          calls, size)

/* The program: make_record 48 B from small_loop (`loop` times) and from
 * main (10 times), grow 100 B twice, lib_grow 64 B once. */
static struct mp_profile *program(struct tree *t, const char *root, int loop)
{
    t->root = root;
    struct mp_profile *p = mp_profile_new(resolve, t);
    ck_assert_ptr_nonnull(p);
    ALLOC(p, loop, 48, MALLOC, MAKE_24, LOOP_31, MAIN_40);
    ALLOC(p, 10, 48, MALLOC, MAKE_24, MAIN_41);
    ALLOC(p, 2, 100, MALLOC, UTIL_7, MAIN_41);
    ALLOC(p, 1, 64, MALLOC, LIB_UTIL_9, MAIN_41);
    return p;
}

static char *diff_text(const struct mp_profile *o, const struct mp_profile *n, const struct mp_diff_config *cfg,
                       int precision)
{
    struct mp_diff d;
    ck_assert_int_eq(mp_diff_build_with(o, NULL, n, NULL, cfg, &d), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    struct mp_diff_options opt = { .precision = precision, .top_lines = 0 };
    ck_assert_int_eq(mp_diff_write(f, &d, &opt), 0);
    fclose(f);
    mp_diff_free(&d);
    return buf;
}

/* The text from "\n<title>" on. */
static const char *from(const char *text, const char *title)
{
    const char *at = strstr(text, title);
    ck_assert_msg(at != NULL, "no [%s] in:\n%s", title, text);
    return at;
}

/* ---- unit tests ---- */

/* Two checkouts, /tmp/a and /tmp/c: every file pairs with its copy (three
 * files, two named util.c: the longer shared tail decides), so the only
 * change is make_record's, called 10 more times from small_loop. */
START_TEST(checkouts_pair_by_trailing_path)
{
    struct tree ta, tc;
    struct mp_profile *o = program(&ta, "/tmp/a", 100), *n = program(&tc, "/tmp/c", 110);
    struct mp_diff_config cfg = { .metric = MP_DIFF_ALLOCATED, .group = MP_DIFF_BY_LINE };
    char *got = diff_text(o, n, &cfg, 1);
    /* 100 + 10 = 110 calls -> 120; 5,280 B -> 5,760 B */
    ck_assert_str_eq(from(got, "\nLines"),
                     "\nLines by bytes allocated (size: bytes allocated, count: allocation calls), biggest change first\n"
                     "  /tmp/c/src/app.c:24: size=5.6 KiB (+480 B), count=120 (+10), average=48 B\n"
                     "  2 allocating lines unchanged\n"
                     "\nFiles matched under another path (--strip, --map)\n"
                     "  /tmp/a/lib/util.c -> /tmp/c/lib/util.c\n"
                     "  /tmp/a/src/app.c -> /tmp/c/src/app.c\n"
                     "  /tmp/a/src/util.c -> /tmp/c/src/util.c\n");
    free(got);
    mp_profile_free(o);
    mp_profile_free(n);
}
END_TEST

/* A file whose best match is not unique stays unpaired; --map decides. */
START_TEST(ambiguous_pairs_wait_for_map)
{
    struct tree ta, tb;
    /* OLD: /x/old/src/app.c:24; NEW: /y/p/src/app.c:24 and /y/q/src/app.c:31, both sharing
     * "src/app.c" with OLD's (each PC is resolved once, under the root set when first seen) */
    ta.root = "/x/old";
    struct mp_profile *o = mp_profile_new(resolve, &ta);
    ALLOC(o, 3, 48, MALLOC, MAKE_24);
    tb.root = "/y/p";
    struct mp_profile *n = mp_profile_new(resolve, &tb);
    ALLOC(n, 3, 48, MALLOC, MAKE_24);
    tb.root = "/y/q";
    ALLOC(n, 4, 48, MALLOC, LOOP_31);
    struct mp_diff_config cfg = { .metric = MP_DIFF_ALLOCATED, .group = MP_DIFF_BY_LINE };
    char *got = diff_text(o, n, &cfg, 1);
    ck_assert_str_eq(from(got, "\nLines"),
                     "\nLines by bytes allocated (size: bytes allocated, count: allocation calls), biggest change first\n"
                     "  /y/q/src/app.c:31 (new): size=192 B (+192 B), count=4 (+4), average=48 B\n"
                     "  /x/old/src/app.c:24 (gone): size=0 B (-144 B), count=0 (-3)\n"
                     "  /y/p/src/app.c:24 (new): size=144 B (+144 B), count=3 (+3), average=48 B\n"
                     "  0 allocating lines unchanged\n");
    free(got);
    const char *maps[] = { "/x/old/=/y/p" }; /* a trailing slash names the same directory */
    cfg.paths.maps = maps;
    cfg.paths.n_maps = 1;
    got = diff_text(o, n, &cfg, 1);
    ck_assert_str_eq(from(got, "\nLines"),
                     "\nLines by bytes allocated (size: bytes allocated, count: allocation calls), biggest change first\n"
                     "  /y/q/src/app.c:31 (new): size=192 B (+192 B), count=4 (+4), average=48 B\n"
                     "  1 allocating line unchanged\n"
                     "\nFiles matched under another path (--strip, --map)\n"
                     "  /x/old/src/app.c -> /y/p/src/app.c\n");
    free(got);
    mp_profile_free(o);
    mp_profile_free(n);
}
END_TEST

/* --strip and --map, patch's way. */
START_TEST(strip_and_map)
{
    struct tree ta, tb;
    /* OLD /build/one: grow (src/util.c:7) 2 x 100 B; NEW /work/two: the same, and lib_grow
     * (lib/util.c:9) 64 B.  Both from main (src/app.c:41). */
    ta.root = "/build/one";
    struct mp_profile *o = mp_profile_new(resolve, &ta);
    ALLOC(o, 2, 100, MALLOC, UTIL_7, MAIN_41);
    tb.root = "/work/two";
    struct mp_profile *n = mp_profile_new(resolve, &tb);
    ALLOC(n, 2, 100, MALLOC, UTIL_7, MAIN_41);
    ALLOC(n, 1, 64, MALLOC, LIB_UTIL_9, MAIN_41);
    const char *lib_new = "\nLines by bytes allocated (size: bytes allocated, count: allocation calls), biggest change "
                          "first\n"
                          "  /work/two/lib/util.c:9 (new): size=64 B (+64 B), count=1 (+1), average=64 B\n"
                          "  1 allocating line unchanged\n"
                          "\nFiles matched under another path (--strip, --map)\n"
                          "  /build/one/src/app.c -> /work/two/src/app.c\n"
                          "  /build/one/src/util.c -> /work/two/src/util.c\n";
    /* by the trailing path: src/util.c shares 2 components with OLD's, lib/util.c 1 */
    struct mp_diff_config cfg = { .metric = MP_DIFF_ALLOCATED, .group = MP_DIFF_BY_LINE };
    char *got = diff_text(o, n, &cfg, 1);
    ck_assert_str_eq(from(got, "\nLines"), lib_new);
    free(got);
    /* --strip 3 takes "/build/one/" and "/work/two/" off (3 slashes): equal paths, the same result */
    cfg.paths.strip = 3;
    got = diff_text(o, n, &cfg, MP_PRECISION_EXACT);
    ck_assert_str_eq(from(got, "\nLines"), lib_new);
    free(got);
    /* --map: the old src/ is the new lib/, so OLD's grow is gone and NEW's grow is new;
     * app.c still pairs by its name.  A map that applies to nothing is harmless. */
    cfg.paths.strip = 0;
    const char *maps[] = { "/nowhere=/x", "/build/one/src=/work/two/lib" };
    cfg.paths.maps = maps;
    cfg.paths.n_maps = 2;
    got = diff_text(o, n, &cfg, MP_PRECISION_EXACT);
    ck_assert_str_eq(from(got, "\nLines"),
                     "\nLines by bytes allocated (size: bytes allocated, count: allocation calls), biggest change first\n"
                     "  /build/one/src/util.c:7 (gone): size=0 B (-200 B), count=0 (-2)\n"
                     "  /work/two/src/util.c:7 (new): size=200 B (+200 B), count=2 (+2), average=100 B\n"
                     "  /work/two/lib/util.c:9 (new): size=64 B (+64 B), count=1 (+1), average=64 B\n"
                     "  0 allocating lines unchanged\n"
                     "\nFiles matched under another path (--strip, --map)\n"
                     "  /build/one/src/app.c -> /work/two/src/app.c\n"
                     "  /build/one/src/util.c -> /work/two/lib/util.c\n");
    free(got);
    mp_profile_free(o);
    mp_profile_free(n);
}
END_TEST

/* tracemalloc's key types: by file, by function, by traceback. */
START_TEST(group_by_file_function_traceback)
{
    struct tree ta, tc;
    struct mp_profile *o = program(&ta, "/tmp/a", 100), *n = program(&tc, "/tmp/c", 110);
    struct mp_diff_config cfg = { .metric = MP_DIFF_ALLOCATED, .group = MP_DIFF_BY_FILE };
    char *got = diff_text(o, n, &cfg, MP_PRECISION_EXACT);
    /* src/app.c: make_record 110 + 10 = 120 calls (5,760 B) from 110 (5,280 B); the util.c files unchanged */
    ck_assert_str_eq(from(got, "\nFiles by"),
                     "\nFiles by bytes allocated (size: bytes allocated, count: allocation calls), biggest change first\n"
                     "  /tmp/c/src/app.c: size=5,760 B (+480 B), count=120 (+10), average=48 B\n"
                     "  2 allocating files unchanged\n"
                     "\nFiles matched under another path (--strip, --map)\n"
                     "  /tmp/a/lib/util.c -> /tmp/c/lib/util.c\n"
                     "  /tmp/a/src/app.c -> /tmp/c/src/app.c\n"
                     "  /tmp/a/src/util.c -> /tmp/c/src/util.c\n");
    free(got);
    cfg.group = MP_DIFF_BY_FUNCTION;
    got = diff_text(o, n, &cfg, MP_PRECISION_EXACT);
    ck_assert_ptr_nonnull(strstr(got, "\nFunctions by bytes allocated (size: bytes allocated, count: allocation calls), "
                                      "biggest change first\n"
                                      "  make_record (/tmp/c/src/app.c): size=5,760 B (+480 B), count=120 (+10), "
                                      "average=48 B\n"
                                      "  2 allocating functions unchanged\n"));
    free(got);
    /* by traceback: make_record's two stacks apart; only small_loop's changed */
    cfg.group = MP_DIFF_BY_TRACEBACK;
    got = diff_text(o, n, &cfg, MP_PRECISION_EXACT);
    ck_assert_ptr_nonnull(strstr(got, "\nTracebacks by bytes allocated (size: bytes allocated, count: allocation calls), "
                                      "biggest change first\n"
                                      "  /tmp/c/src/app.c:24 (make_record): size=5,280 B (+480 B), count=110 (+10), "
                                      "average=48 B\n"
                                      "      /tmp/c/src/app.c:31 (small_loop)\n"
                                      "      /tmp/c/src/app.c:40 (main)\n"
                                      "  3 allocating tracebacks unchanged\n"));
    free(got);
    mp_profile_free(o);
    mp_profile_free(n);
}
END_TEST

/* The average is the size of one item, rounded to the byte, and not shown
 * for an item with no calls left (tracemalloc's rule). */
START_TEST(average_rounds_and_skips_empty)
{
    struct tree ta, tc;
    ta.root = tc.root = "/t";
    struct mp_profile *o = mp_profile_new(resolve, &ta), *n = mp_profile_new(resolve, &tc);
    ALLOC(o, 1, 10, MALLOC, UTIL_7);
    ALLOC(n, 3, 10, MALLOC, MAKE_24);
    ALLOC(n, 1, 11, MALLOC, MAKE_24); /* 41 B in 4 calls: 10.25 -> 10 B */
    ALLOC(n, 2, 5, MALLOC, LOOP_31);
    ALLOC(n, 1, 6, MALLOC, LOOP_31);  /* 16 B in 3: 5.33 -> 5 B */
    ALLOC(n, 1, 2, MALLOC, MAIN_40);
    ALLOC(n, 1, 3, MALLOC, MAIN_40);  /* 5 B in 2: 2.5 -> 3 B (half up) */
    struct mp_diff_config cfg = { .metric = MP_DIFF_ALLOCATED, .group = MP_DIFF_BY_LINE };
    char *got = diff_text(o, n, &cfg, 1);
    ck_assert_str_eq(from(got, "\nLines"),
                     "\nLines by bytes allocated (size: bytes allocated, count: allocation calls), biggest change first\n"
                     "  /t/src/app.c:24 (new): size=41 B (+41 B), count=4 (+4), average=10 B\n"
                     "  /t/src/app.c:31 (new): size=16 B (+16 B), count=3 (+3), average=5 B\n"
                     "  /t/src/util.c:7 (gone): size=0 B (-10 B), count=0 (-1)\n"
                     "  /t/src/app.c:40 (new): size=5 B (+5 B), count=2 (+2), average=3 B\n"
                     "  0 allocating lines unchanged\n");
    free(got);
    mp_profile_free(o);
    mp_profile_free(n);
}
END_TEST

/* ---- end to end: two build directories ---- */

static void run_ok(char **argv, struct run_output *o, int want_status)
{
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, o), 0);
    ck_assert_msg(o->status == want_status, "%s %s: exit %d\n%s", argv[0], argv[1], o->status, o->err);
}

/* diff_app.c copied into <tmp>/<dir>/src/ and built there with -DSCALE, then profiled. */
static void build_and_profile(const char *dir, int scale, char *json, size_t len)
{
    char src_dir[PATH_MAX], src[PATH_MAX + 32], exe[PATH_MAX + 32], flags[64];
    snprintf(src_dir, sizeof src_dir, "%s/%s", test_tmp_dir(), dir);
    mkdir(src_dir, 0755);
    snprintf(src_dir, sizeof src_dir, "%s/%s/src", test_tmp_dir(), dir);
    mkdir(src_dir, 0755);
    snprintf(src, sizeof src, "%s/diff_app.c", src_dir);
    snprintf(exe, sizeof exe, "%s/app", src_dir);
    size_t n;
    char *text = read_file(repo_path("tests/fixtures/diff_app.c"), &n);
    ck_assert_ptr_nonnull(text);
    FILE *f = fopen(src, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, n, f), n);
    fclose(f);
    free(text);
    snprintf(flags, sizeof flags, "-DSCALE=%d", scale);
    char *cc[] = { "gcc", "-O0", "-g", flags, "-o", exe, src, NULL };
    struct run_output o;
    run_ok(cc, &o, 0);
    run_output_free(&o);
    snprintf(json, len, "%s/%s.json", test_tmp_dir(), dir);
    char *argv[] = { (char *)memprof_path(), "--stable", "-o", "/dev/null", "--json", json, exe, NULL };
    run_ok(argv, &o, 0);
    run_output_free(&o);
}

START_TEST(two_build_directories)
{
    char old_json[PATH_MAX], new_json[PATH_MAX];
    build_and_profile("checkout_a", 1, old_json, sizeof old_json);
    build_and_profile("checkout_c", 2, new_json, sizeof new_json);
    size_t len;
    char *src = read_file(repo_path("tests/fixtures/diff_app.c"), &len);
    int doubles = 1;
    for (const char *c = src; c < strstr(src, "/* DIFF-DOUBLES */"); c++)
        doubles += *c == '\n';
    free(src);
    struct run_output o;
    char *argv[] = { (char *)memprof_path(), "diff", old_json, new_json, NULL };
    run_ok(argv, &o, 0);
    /* the doubled line is the same line in both checkouts, not "(gone)" and "(new)"; both reports
     * were --stable, so exact bytes: 4 x 64 KiB -> 4 x 128 KiB */
    char want[PATH_MAX * 3], cwd[PATH_MAX];
    /* reports show paths under the current directory relative to it */
    const char *tmp = mp_display_path(test_tmp_dir(), getcwd(cwd, sizeof cwd));
    snprintf(want, sizeof want,
             "biggest change first\n"
             "  %s/checkout_c/src/diff_app.c:%d: size=524,288 B (+262,144 B), count=4 (+0), average=131,072 B\n"
             "  2 allocating lines unchanged\n"
             "\nFiles matched under another path (--strip, --map)\n"
             "  %s/checkout_a/src/diff_app.c -> %s/checkout_c/src/diff_app.c\n",
             tmp, doubles, tmp, tmp);
    ck_assert_msg(strstr(o.out, want) != NULL, "want\n%s\nin\n%s", want, o.out);
    ck_assert_ptr_null(strstr(o.out, "(gone)"));
    run_output_free(&o);
    /* --strip: the same pairing, the paths shown as the new report has them */
    char *strip[] = { (char *)memprof_path(), "diff", "--strip=1", "--group-by", "file", old_json, new_json, NULL };
    run_ok(strip, &o, 0);
    ck_assert_msg(strstr(o.out, "/checkout_c/src/diff_app.c: size=524,420 B (+262,144 B), count=6 (+0), "
                                "average=87,403 B\n  0 allocating files unchanged\n"), "%s", o.out);
    run_output_free(&o);
    /* the usage errors of the new options */
    char *bad_map[] = { (char *)memprof_path(), "diff", "--map", "nothing", old_json, new_json, NULL };
    run_ok(bad_map, &o, 2);
    ck_assert_msg(strncmp(o.err, "memprof: --map takes OLD=NEW (a leading path of the old report and what it is in "
                                 "the new one), not 'nothing'\n", 108) == 0, "%s", o.err);
    run_output_free(&o);
    char *bad_group[] = { (char *)memprof_path(), "diff", "--group-by", "module", old_json, new_json, NULL };
    run_ok(bad_group, &o, 2);
    ck_assert_msg(strncmp(o.err, "memprof: unknown --group-by 'module': use line, file, function or traceback\n",
                          75) == 0, "%s", o.err);
    run_output_free(&o);
    char *bad_strip[] = { (char *)memprof_path(), "diff", "--strip", "-1", old_json, new_json, NULL };
    run_ok(bad_strip, &o, 2);
    run_output_free(&o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("diff across checkouts");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, checkouts_pair_by_trailing_path);
    tcase_add_test(tc, ambiguous_pairs_wait_for_map);
    tcase_add_test(tc, strip_and_map);
    tcase_add_test(tc, group_by_file_function_traceback);
    tcase_add_test(tc, average_rounds_and_skips_empty);
    suite_add_tcase(s, tc);
    tc = tcase_create("end_to_end");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, two_build_directories);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
