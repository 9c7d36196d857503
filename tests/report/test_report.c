/* memprof tests: the writers, byte for byte.  A small profile is built with a
 * fake resolver whose frames point at a real source file written to the temp
 * directory; the text report, the JSON report, the table model, the line
 * ordering and the formatting helpers are checked against values derived by
 * hand from the events fed in. */
#define _GNU_SOURCE
#include "report/format.h"
#include "harness.h"
#include "memprof/profile.h"
#include "memprof/report.h"
#include "symbols/sources.h"
#include "profile/tables.h"

#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* The source file and the fake resolver                                      */
/* ------------------------------------------------------------------------ */

static const char *const app_lines[] = {
    "#include <stdlib.h>",               /* 1 */
    "char *make(size_t n)",              /* 2 */
    "{",                                 /* 3 */
    "    return malloc(n);",             /* 4 */
    "}",                                 /* 5 */
    "int main(void)",                    /* 6 */
    "{",                                 /* 7 */
    "    char *a = make(4096);",         /* 8 */
    "    char *b = malloc(512);",        /* 9 */
    "    char *c = calloc(1, 1024);",    /* 10 */
    "    free(a);",                      /* 11 */
    "    puts(\"a \\\"quoted\\\" \\\\ line\");", /* 12 */
    "}",                                 /* 13 */
};

#define GONE "/zzz-memprof-missing/gone.c"
#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"
#define LIBFOO "/usr/lib/libfoo.so"

static char dir[PATH_MAX];      /* the temp directory: opt.cwd */
static char app[PATH_MAX + 16]; /* dir/app.c */
static char exe[PATH_MAX + 16]; /* dir/app */

struct fake_pc {
    uint64_t pc;
    struct mp_frame_info f;
};

static struct fake_pc fakes[32];
static size_t n_fakes;

static void fake(uint64_t pc, const char *function, const char *file, int line, const char *module, int runtime,
                 int first, int last)
{
    ck_assert_uint_lt(n_fakes, sizeof fakes / sizeof *fakes);
    fakes[n_fakes++] = (struct fake_pc){ pc, { function, file, line, module, runtime, file, first, last } };
}

static int fake_resolve(void *ctx, uint64_t pc, int is_return_address, struct mp_frame_info *out, int max)
{
    (void)ctx;
    (void)is_return_address;
    ck_assert_int_ge(max, 1);
    for (size_t i = 0; i < n_fakes; i++)
        if (fakes[i].pc == pc) {
            out[0] = fakes[i].f;
            return 1;
        }
    ck_abort_msg("unexpected pc 0x%llx", (unsigned long long)pc);
    return 0;
}

/* Made once by main and removed at its end (a failing test skips checked
 * teardowns); setup (re)writes the source file in it. */
static int make_dir(void)
{
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/report_%ld", test_tmp_dir(), (long)getpid());
    if (mkdir(want, 0755) != 0 || !realpath(want, dir)) {
        perror(want);
        return -1;
    }
    snprintf(app, sizeof app, "%s/app.c", dir);
    snprintf(exe, sizeof exe, "%s/app", dir);
    return 0;
}

static void remove_dir(void)
{
    unlink(app);
    rmdir(dir);
}

static void setup(void)
{
    FILE *f = fopen(app, "w");
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < sizeof app_lines / sizeof *app_lines; i++)
        fprintf(f, "%s\n", app_lines[i]);
    ck_assert_int_eq(fclose(f), 0);

    n_fakes = 0;
    fake(0x100, "make", app, 4, exe, 0, 2, 5);
    fake(0x200, "main", app, 8, exe, 0, 6, 13);
    fake(0x300, "main", app, 9, exe, 0, 6, 13);
    fake(0x350, "main", app, 10, exe, 0, 6, 13);
    fake(0x360, "main", app, 11, exe, 0, 6, 13); /* free(a): a free site */
    fake(0x400, "malloc", NULL, 0, LIBC, 1, 0, 0);
    fake(0x500, "other", GONE, 3, exe, 0, 1, 4);
    fake(0x600, "libfoo.so+0x40", NULL, 0, LIBFOO, 0, 0, 0);
    /* for the ordering tests */
    fake(0x1001, "f", "/b.c", 5, exe, 0, 1, 9);
    fake(0x1002, "g", "/a.c", 7, exe, 0, 1, 9);
    fake(0x1003, "h", "/a.c", 3, exe, 0, 1, 9);
    fake(0x1004, "e", "/a.c", 3, exe, 0, 1, 9);
    fake(0x1005, "z", "/a.c", 9, exe, 0, 1, 9);
    fake(0x1006, "y", "/z.c", 1, exe, 0, 1, 2);
    fake(0x1007, "x", "/a.c", 8, exe, 0, 1, 9);
    /* beyond main */
    fake(0x700, "__libc_start_call_main", "../sysdeps/nptl/libc_start_call_main.h", 58, LIBC, 1, 0, 0);
}

static void ev_alloc(struct mp_profile *p, uint64_t addr, uint64_t size, const uint64_t *frames, uint32_t n,
                     int truncated)
{
    struct mp_event ev = { .kind = MP_EV_ALLOC, .tid = 1, .addr = addr, .size = size, .nframes = n,
                           .truncated = (uint32_t)truncated, .frames = frames };
    ck_assert_int_eq(mp_profile_add(p, &ev), 0);
}

/* A free; `site` (0: none) is the return address of the free call. */
static void ev_free(struct mp_profile *p, uint64_t addr, uint64_t site)
{
    struct mp_event ev = { .kind = MP_EV_FREE, .tid = 1, .addr = addr, .nframes = site ? 1 : 0, .frames = &site };
    ck_assert_int_eq(mp_profile_add(p, &ev), 0);
}

/* The profile every writer test reads:
 *  E1 ALLOC a1 4096    malloc <- make:4 <- main:8
 *  E2 ALLOC a2  512    malloc <- main:9
 *  E3 FREE  a1      called from main:11 (a free site)
 *  E4 ALLOC a3 4096    other (gone.c:3)
 *  E5 ALLOC a4 1.5 MiB libfoo.so+0x40 (no debug info, not runtime)
 *  E6 FREE  0xbad      unknown
 *  E7 ALLOC a5  512    malloc <- main:9   (truncated stack)
 *  E8 ALLOC a6 1024    malloc <- main:10
 *  E9 FREE  a4      without a call site
 * Totals: 6 allocs, 4096+512+4096+1572864+512+1024 = 1583104 bytes;
 * 2 frees, 4096+1572864 = 1576960 bytes; live 6144 in 4 blocks;
 * live after each event: 4096 4608 512 4608 1577472 . 1577984 1579008 6144,
 * so the peak is 1579008. */
static struct mp_profile *build_profile(void)
{
    static const uint64_t s1[] = { 0x400, 0x100, 0x200 };
    static const uint64_t s2[] = { 0x400, 0x300 };
    static const uint64_t s3[] = { 0x500 };
    static const uint64_t s4[] = { 0x600 };
    static const uint64_t s5[] = { 0x400, 0x350 };
    struct mp_profile *p = mp_profile_new(fake_resolve, NULL);
    ck_assert_ptr_nonnull(p);
    ev_alloc(p, 0xa1, 4096, s1, 3, 0);
    ev_alloc(p, 0xa2, 512, s2, 2, 0);
    ev_free(p, 0xa1, 0x360);
    ev_alloc(p, 0xa3, 4096, s3, 1, 0);
    ev_alloc(p, 0xa4, 1572864, s4, 1, 0);
    ev_free(p, 0xbad, 0);
    ev_alloc(p, 0xa5, 512, s2, 2, 1);
    ev_alloc(p, 0xa6, 1024, s5, 2, 0);
    ev_free(p, 0xa4, 0);
    return p;
}

/* What main.c does before writing. */
static struct mp_sources *load_sources(const struct mp_profile *p)
{
    struct mp_sources *src = mp_sources_new();
    ck_assert_ptr_nonnull(src);
    for (size_t i = 0; i < mp_profile_line_count(p); i++) {
        const struct mp_line_stats *l = mp_profile_line(p, i);
        if (l->func_file && l->incl_calls)
            mp_sources_load(src, l->func_file);
    }
    return src;
}

static char *const command[] = { "./app", "arg", NULL };

static struct mp_report_run default_run(void)
{
    struct mp_report_run run = { 0 };
    run.command = command;
    run.exited = 1;
    run.exit_code = 0;
    run.peak_rss_bytes = 10485760;
    run.wall_seconds = 1.5;
    run.engine = "agent";
    return run;
}

static char *text_report(const struct mp_profile *p, const struct mp_report_run *run, const struct mp_sources *src,
                         const struct mp_report_options *opt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(mp_write_text(f, p, run, src, opt), 0);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_uint_eq(strlen(buf), len);
    return buf;
}

static char *json_report(const struct mp_profile *p, const struct mp_report_run *run, const struct mp_sources *src,
                         const struct mp_report_options *opt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(mp_write_json(f, p, run, src, opt), 0);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_uint_eq(strlen(buf), len);
    return buf;
}

/* Compare line by line, so a failure names the first differing line. */
static void expect_text(const char *got, const char *want)
{
    int line = 1;
    const char *g = got, *w = want;
    while (*g || *w) {
        const char *ge = strchr(g, '\n'), *we = strchr(w, '\n');
        size_t gl = ge ? (size_t)(ge - g) : strlen(g), wl = we ? (size_t)(we - w) : strlen(w);
        ck_assert_msg(gl == wl && memcmp(g, w, gl) == 0 && (ge != NULL) == (we != NULL),
                      "line %d differs:\n got: [%.*s]\nwant: [%.*s]", line, (int)gl, g, (int)wl, w);
        if (!ge || !we)
            break;
        g = ge + 1;
        w = we + 1;
        line++;
    }
    ck_assert_str_eq(got, want);
}

/* A row of a line that did nothing: "%6d" then blank cells (6 x 13 + 3 = 81 spaces). */
#define BLANK81 "                                                                                 "
/* The heap tables' header: what each column holds (not memory_profiler's,
 * which line mode keeps). */
#define TABLE_HEAD                                                                                 \
    "Line #    Allocated   Freed here          Net     Max held  Held at end  Alloc calls   Line Contents\n" \
    "====================================================================================================\n"

/* ------------------------------------------------------------------------ */
/* Text                                                                       */
/* ------------------------------------------------------------------------ */

/* The sections between "Top lines" and the tables for build_profile():
 * the peak (1579008) was reached by E8 (malloc <- main:10), whose stack
 * ends at main; at that moment libfoo held 1572864 (99.61%), gone.c:3 4096
 * (0.26%), main:9 1024 in 2 blocks and main:10 1024 (0.06% each; the 2
 * calls put main:9 first), make:4 nothing (freed by E3).  Leaked: gone.c:3
 * 4096 in 1 block, main:9 1024 in 2 (one stack: E2 and E7 have the same
 * frames), main:10 1024 in 1.  No temporaries: E3 frees a1 after E2, E9
 * frees a4 after E7 and E8.  No RSS-at-exit section: rss_at_exit.valid is
 * 0. */
#define PEAK_AND_LEAKS_HEAD                                                                        \
    "\n"                                                                                           \
    "Peak heap 1.5 MiB, reached at app.c:10 (main)\n"                                              \
    "      at malloc (/lib/x86_64-linux-gnu/libc.so.6)\n"                                          \
    "      -> app.c:10 (main)\n"                                                                   \
    "\n"                                                                                           \
    "Lines holding the peak\n"                                                                     \
    "        held        share   line\n"
#define PEAK_LINES_ALL                                                                             \
    "     1.5 MiB        99.6%   libfoo.so+0x40 (/usr/lib/libfoo.so)\n"                             \
    "     4.0 KiB         0.3%   /zzz-memprof-missing/gone.c:3 (other)\n"                           \
    "     1.0 KiB         0.1%   app.c:9 (main)\n"                                                 \
    "     1.0 KiB         0.1%   app.c:10 (main)\n"
#define LEAKS_HEAD                                                                                 \
    "\n"                                                                                           \
    "Leaks: 6.0 KiB in 4 blocks never freed\n"                                                     \
    "      leaked       blocks   line\n"
#define LEAK_LINES_ALL                                                                             \
    "     4.0 KiB            1   /zzz-memprof-missing/gone.c:3 (other)\n"                           \
    "     1.0 KiB            2   app.c:9 (main)\n"                                                 \
    "     1.0 KiB            1   app.c:10 (main)\n"
#define LEAK_STACKS                                                                                \
    "  4.0 KiB in 1 block allocated from:\n"                                                      \
    "      -> /zzz-memprof-missing/gone.c:3 (other)\n"                                             \
    "  1.0 KiB in 2 blocks allocated from:\n"                                                      \
    "      at malloc (/lib/x86_64-linux-gnu/libc.so.6)\n"                                          \
    "      -> app.c:9 (main)\n"                                                                    \
    "  1.0 KiB in 1 block allocated from:\n"                                                      \
    "      at malloc (/lib/x86_64-linux-gnu/libc.so.6)\n"                                          \
    "      -> app.c:10 (main)\n"
#define PEAK_AND_LEAKS_TEXT PEAK_AND_LEAKS_HEAD PEAK_LINES_ALL LEAKS_HEAD LEAK_LINES_ALL LEAK_STACKS

static const char *expected_default_text(void)
{
    return "memprof: ./app arg  (exit status 0)\n"
           "\n"
           "Summary\n"
           "  peak RSS           10.0 MiB\n"
           "  allocations        6 calls, 1.5 MiB\n"
           /* 6 / 1.5 s = 4; 1583104 / 1.5 = 1055403 B = 1.0 MiB */
           "  allocation rate    4 calls/s, 1.0 MiB/s over 1.500 s\n"
           "  frees              2 calls, 1.5 MiB\n"
           "  peak heap          1.5 MiB, reached at app.c:10 (main)\n"
           "  temporary          0 calls\n"
           "  leaked at exit     6.0 KiB in 4 blocks\n"
           "\n"
           "Top lines by bytes allocated\n"
           "   allocated        calls live at exit   line\n"
           "     1.5 MiB            1          0 B   libfoo.so+0x40 (/usr/lib/libfoo.so)\n"
           "     4.0 KiB            1          0 B   app.c:4 (make)\n"
           "     4.0 KiB            1      4.0 KiB   /zzz-memprof-missing/gone.c:3 (other)\n"
           "     1.0 KiB            2      1.0 KiB   app.c:9 (main)\n"
           "     1.0 KiB            1      1.0 KiB   app.c:10 (main)\n"
           PEAK_AND_LEAKS_TEXT
           "\n"
           "Filename: app.c\n"
           "\n" TABLE_HEAD
           "     6" BLANK81 "int main(void)\n"
           "     7" BLANK81 "{\n"
           /* inclusive bytes, frees called on the line, the difference, the most held, what is still
            * held at the end, calls */
           "     8      4.0 KiB          0 B      4.0 KiB      4.0 KiB          0 B            1   " "    char *a = make(4096);\n"
           "     9      1.0 KiB          0 B      1.0 KiB      1.0 KiB      1.0 KiB            2   " "    char *b = malloc(512);\n"
           "    10      1.0 KiB          0 B      1.0 KiB      1.0 KiB      1.0 KiB            1   " "    char *c = calloc(1, 1024);\n"
           /* E3: free(a) on this line released make's 4 KiB */
           "    11          0 B      4.0 KiB     -4.0 KiB          0 B          0 B            0   " "    free(a);\n"
           "    12" BLANK81 "    puts(\"a \\\"quoted\\\" \\\\ line\");\n"
           "    13" BLANK81 "}\n"
           "\n"
           "Filename: app.c\n"
           "\n" TABLE_HEAD
           "     2" BLANK81 "char *make(size_t n)\n"
           "     3" BLANK81 "{\n"
           "     4      4.0 KiB          0 B      4.0 KiB      4.0 KiB          0 B            1   " "    return malloc(n);\n"
           "     5" BLANK81 "}\n"
           "\n"
           "Filename: /zzz-memprof-missing/gone.c\n"
           "\n" TABLE_HEAD
           "     1" BLANK81 "\n"
           "     2" BLANK81 "\n"
           "     3      4.0 KiB          0 B      4.0 KiB      4.0 KiB      4.0 KiB            1   " "\n"
           "     4" BLANK81 "\n"
           "\n"
           "Notes\n"
           "  1 free of a block allocated before profiling started was not counted\n"
           /* E9 */
           "  1 free was called from code with no line of the program (operator delete, library code) or "
           "came without a call site: the tables' Freed column leaves it out\n"
           "  1 allocation had a stack deeper than 48 frames: outer callers are not charged\n"
           "  source file /zzz-memprof-missing/gone.c not found: its Line Contents column is empty\n";
}

START_TEST(text_report_exact)
{
    /* The temp dir must sort before GONE for the file tie-breaks below. */
    ck_assert_int_lt(strcmp(dir, "/zzz"), 0);
    struct mp_profile *p = build_profile();
    struct mp_sources *src = load_sources(p);
    struct mp_report_run run = default_run();
    struct mp_report_options opt = { .cwd = dir, .precision = 1, .top_lines = 0, .max_tables = 0 };
    char *got = text_report(p, &run, src, &opt);
    expect_text(got, expected_default_text());
    /* Deterministic: a second run is byte-identical. */
    char *again = text_report(p, &run, src, &opt);
    ck_assert_str_eq(got, again);
    free(again);
    free(got);
    mp_sources_free(src);
    mp_profile_free(p);
}
END_TEST

START_TEST(text_report_precision_3)
{
    struct mp_profile *p = build_profile();
    struct mp_sources *src = load_sources(p);
    struct mp_report_run run = default_run();
    struct mp_report_options opt = { .cwd = dir, .precision = 3, .top_lines = 0, .max_tables = 0 };
    char *got = text_report(p, &run, src, &opt);
    /* 1583104 / 2^20 = 1.509765625, 1576960 / 2^20 = 1.50390625, 1579008 / 2^20 = 1.505859375 */
    const char *want_summary = "memprof: ./app arg  (exit status 0)\n"
                               "\n"
                               "Summary\n"
                               "  peak RSS           10.000 MiB\n"
                               "  allocations        6 calls, 1.510 MiB\n"
                               /* 1055403 / 2^20 = 1.00651 */
                               "  allocation rate    4 calls/s, 1.007 MiB/s over 1.500 s\n"
                               "  frees              2 calls, 1.504 MiB\n"
                               "  peak heap          1.506 MiB, reached at app.c:10 (main)\n"
                               "  temporary          0 calls\n"
                               "  leaked at exit     6.000 KiB in 4 blocks\n";
    ck_assert_msg(strncmp(got, want_summary, strlen(want_summary)) == 0, "summary:\n%s", got);
    ck_assert_ptr_nonnull(
        strstr(got, "\n   1.500 MiB            1          0 B   libfoo.so+0x40 (/usr/lib/libfoo.so)\n"));
    ck_assert_ptr_nonnull(strstr(got, "\n   4.000 KiB            1          0 B   app.c:4 (make)\n"));
    ck_assert_ptr_nonnull(strstr(got, "\n" "     8    4.000 KiB          0 B    4.000 KiB    4.000 KiB          0 B            1   " "    char *a = make(4096);\n"));
    ck_assert_ptr_nonnull(strstr(got, "\n" "     9    1.000 KiB          0 B    1.000 KiB    1.000 KiB    1.000 KiB            2   " "    char *b = malloc(512);\n"));
    ck_assert_ptr_nonnull(strstr(got, "\n" "    11          0 B    4.000 KiB   -4.000 KiB          0 B          0 B            0   " "    free(a);\n"));
    /* bytes below 1 KiB have no decimals whatever the precision */
    ck_assert_ptr_null(strstr(got, "0.000 B"));
    free(got);
    mp_sources_free(src);
    mp_profile_free(p);
}
END_TEST

START_TEST(text_report_absolute_paths_without_cwd)
{
    struct mp_profile *p = build_profile();
    struct mp_sources *src = load_sources(p);
    struct mp_report_run run = default_run();
    struct mp_report_options opt = { .cwd = NULL, .precision = 1, .top_lines = 0, .max_tables = 0 };
    char *got = text_report(p, &run, src, &opt);
    char want[PATH_MAX * 2];
    snprintf(want, sizeof want, "\n     4.0 KiB            1          0 B   %s:4 (make)\n", app);
    ck_assert_ptr_nonnull(strstr(got, want));
    snprintf(want, sizeof want, "\nFilename: %s\n\n" TABLE_HEAD "     6" BLANK81 "int main(void)\n", app);
    ck_assert_ptr_nonnull(strstr(got, want));
    ck_assert_ptr_null(strstr(got, "Filename: app.c"));
    free(got);
    /* A cwd that is only a string prefix of the directory is not a parent. */
    char prefix[PATH_MAX];
    snprintf(prefix, sizeof prefix, "%.*s", (int)strlen(dir) - 1, dir);
    opt.cwd = prefix;
    got = text_report(p, &run, src, &opt);
    snprintf(want, sizeof want, "\nFilename: %s\n", app);
    ck_assert_ptr_nonnull(strstr(got, want));
    free(got);
    mp_sources_free(src);
    mp_profile_free(p);
}
END_TEST

START_TEST(text_report_limits)
{
    struct mp_profile *p = build_profile();
    struct mp_sources *src = load_sources(p);
    struct mp_report_run run = default_run();
    struct mp_report_options opt = { .cwd = dir, .precision = 1, .top_lines = 2, .max_tables = 1 };
    char *got = text_report(p, &run, src, &opt);
    const char *want = "memprof: ./app arg  (exit status 0)\n"
                       "\n"
                       "Summary\n"
                       "  peak RSS           10.0 MiB\n"
                       "  allocations        6 calls, 1.5 MiB\n"
                       "  allocation rate    4 calls/s, 1.0 MiB/s over 1.500 s\n"
                       "  frees              2 calls, 1.5 MiB\n"
                       "  peak heap          1.5 MiB, reached at app.c:10 (main)\n"
                       "  temporary          0 calls\n"
                       "  leaked at exit     6.0 KiB in 4 blocks\n"
                       "\n"
                       "Top lines by bytes allocated\n"
                       "   allocated        calls live at exit   line\n"
                       "     1.5 MiB            1          0 B   libfoo.so+0x40 (/usr/lib/libfoo.so)\n"
                       "     4.0 KiB            1          0 B   app.c:4 (make)\n"
                       "  (3 more lines; --top=0 shows all)\n"
                       PEAK_AND_LEAKS_HEAD
                       "     1.5 MiB        99.6%   libfoo.so+0x40 (/usr/lib/libfoo.so)\n"
                       "     4.0 KiB         0.3%   /zzz-memprof-missing/gone.c:3 (other)\n"
                       "  (2 more lines; --top=0 shows all)\n"
                       LEAKS_HEAD
                       "     4.0 KiB            1   /zzz-memprof-missing/gone.c:3 (other)\n"
                       "     1.0 KiB            2   app.c:9 (main)\n"
                       "  (1 more line; --top=0 shows all)\n"
                       /* the three biggest stacks whatever --top says */
                       LEAK_STACKS
                       "\n"
                       "Filename: app.c\n"
                       "\n" TABLE_HEAD
                       "     6" BLANK81 "int main(void)\n"
                       "     7" BLANK81 "{\n"
                       "     8      4.0 KiB          0 B      4.0 KiB      4.0 KiB          0 B            1   " "    char *a = make(4096);\n"
                       "     9      1.0 KiB          0 B      1.0 KiB      1.0 KiB      1.0 KiB            2   " "    char *b = malloc(512);\n"
                       "    10      1.0 KiB          0 B      1.0 KiB      1.0 KiB      1.0 KiB            1   " "    char *c = calloc(1, 1024);\n"
                       "    11          0 B      4.0 KiB     -4.0 KiB          0 B          0 B            0   " "    free(a);\n"
                       "    12" BLANK81 "    puts(\"a \\\"quoted\\\" \\\\ line\");\n"
                       "    13" BLANK81 "}\n"
                       "\n"
                       "(2 more functions allocated or freed; --tables=0 shows all)\n"
                       "\n"
                       "Notes\n"
                       "  1 free of a block allocated before profiling started was not counted\n"
                       "  1 free was called from code with no line of the program (operator delete, library "
                       "code) or came without a call site: the tables' Freed column leaves it out\n"
                       "  1 allocation had a stack deeper than 48 frames: outer callers are not charged\n"
                       "  source file /zzz-memprof-missing/gone.c not found: its Line Contents column is empty\n";
    expect_text(got, want);
    free(got);
    /* Limits at least as large as what there is: no "more" lines. */
    opt.top_lines = 5;
    opt.max_tables = 3;
    got = text_report(p, &run, src, &opt);
    expect_text(got, expected_default_text());
    free(got);
    mp_sources_free(src);
    mp_profile_free(p);
}
END_TEST

START_TEST(text_report_signal_note_warnings)
{
    struct mp_profile *p = mp_profile_new(fake_resolve, NULL);
    struct mp_report_run run = default_run();
    run.exited = 0;
    run.signal = 9;
    run.engine = "none";
    run.engine_note = "the target is statically linked";
    run.events_lost = 3;
    const char *const warnings[] = { "first warning", "second warning" };
    run.warnings = warnings;
    run.n_warnings = 2;
    struct mp_report_options opt = { .cwd = dir, .precision = 1, .top_lines = 0, .max_tables = 0 };
    char *got = text_report(p, &run, NULL, &opt);
    expect_text(got, "memprof: ./app arg  (killed by signal 9, Killed)\n"
                     "\n"
                     "Summary\n"
                     "  peak RSS           10.0 MiB\n"
                     "  heap               not profiled: the target is statically linked\n"
                     "\n"
                     "Notes\n"
                     "  3 allocator events were lost (their thread died while recording)\n"
                     "  first warning\n"
                     "  second warning\n");
    free(got);

    /* An empty heap profile: summary with zeros, no peak (nothing reached one), "Leaks: none",
     * no top lines, no tables, no notes. */
    run = default_run();
    run.exit_code = 3;
    run.peak_rss_bytes = 512;
    got = text_report(p, &run, NULL, &opt);
    expect_text(got, "memprof: ./app arg  (exit status 3)\n"
                     "\n"
                     "Summary\n"
                     "  peak RSS           512 B\n"
                     "  allocations        0 calls, 0 B\n"
                     "  frees              0 calls, 0 B\n"
                     "  peak heap          0 B\n"
                     "  temporary          0 calls\n"
                     "  leaked at exit     0 B in 0 blocks\n"
                     "\n"
                     "Leaks: none (every block was freed)\n");
    free(got);
    mp_profile_free(p);
}
END_TEST

START_TEST(text_report_reused_note_and_counts)
{
    /* 1234 allocations at one address: every one after the first reuses a live block. */
    struct mp_profile *p = mp_profile_new(fake_resolve, NULL);
    static const uint64_t s[] = { 0x400, 0x300 };
    for (int i = 0; i < 1234; i++)
        ev_alloc(p, 0x10, 2048, s, 2, 0);
    struct mp_report_run run = default_run();
    struct mp_report_options opt = { .cwd = dir, .precision = 1, .top_lines = 0, .max_tables = 0 };
    struct mp_sources *src = load_sources(p);
    char *got = text_report(p, &run, src, &opt);
    /* 1234 * 2048 = 2527232 = 2.41 MiB */
    ck_assert_ptr_nonnull(strstr(got, "\n  allocations        1,234 calls, 2.4 MiB\n"));
    ck_assert_ptr_nonnull(strstr(got, "\n  leaked at exit     2.0 KiB in 1 block\n"));
    ck_assert_ptr_nonnull(strstr(got, "\n  1,233 allocations reused an address memprof still saw live (a free it "
                                      "never saw)\n"));
    /* Table row: 2.4 MiB allocated, none freed on the line, held at most
     * 2 KiB at once; 1234 calls, with a thousands separator like every count
     * in the text report. */
    ck_assert_ptr_nonnull(strstr(got, "\n" "     9      2.4 MiB          0 B      2.4 MiB      2.0 KiB      2.0 KiB        1,234   " "    char *b = malloc(512);\n"));
    /* Top line: 2.4 MiB in 1,234 calls, of which only the last 2 KiB block is
     * still live: the summary says so, the line must agree with it. */
    ck_assert_msg(strstr(got, "\n     2.4 MiB        1,234      2.0 KiB   app.c:9 (main)\n") != NULL,
                  "top line's live-at-exit disagrees with the summary:\n%s", got);
    free(got);
    mp_sources_free(src);
    mp_profile_free(p);
}
END_TEST

START_TEST(text_report_write_error)
{
    struct mp_profile *p = build_profile();
    struct mp_report_run run = default_run();
    struct mp_report_options opt = { .cwd = dir, .precision = 1, .top_lines = 0, .max_tables = 0 };
    FILE *f = fopen("/dev/null", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(mp_write_text(f, p, &run, NULL, &opt), -1);
    fclose(f);
    f = fopen("/dev/null", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(mp_write_json(f, p, &run, NULL, &opt), -1);
    fclose(f);
    mp_profile_free(p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Tables and orderings                                                       */
/* ------------------------------------------------------------------------ */

START_TEST(tables_model)
{
    struct mp_profile *p = build_profile();
    struct mp_tables t;
    ck_assert_int_eq(mp_tables_build(p, &t), 0);
    ck_assert_uint_eq(t.n, 3);
    /* all three at 4096: by file (dir/app.c < /zzz...), then function (main < make) */
    ck_assert_str_eq(t.tables[0].function, "main");
    ck_assert_str_eq(t.tables[0].file, app);
    ck_assert_int_eq(t.tables[0].first_line, 6);
    ck_assert_int_eq(t.tables[0].last_line, 13);
    ck_assert_uint_eq(t.tables[0].n_rows, 8);
    ck_assert_uint_eq(t.tables[0].bytes, 4096);
    ck_assert_str_eq(t.tables[1].function, "make");
    ck_assert_int_eq(t.tables[1].first_line, 2);
    ck_assert_int_eq(t.tables[1].last_line, 5);
    ck_assert_uint_eq(t.tables[1].bytes, 4096);
    ck_assert_str_eq(t.tables[2].function, "other");
    ck_assert_str_eq(t.tables[2].file, GONE);
    ck_assert_uint_eq(t.tables[2].n_rows, 4);

    const struct mp_table_row *r = t.tables[0].rows;
    for (size_t i = 0; i < 8; i++) {
        ck_assert_int_eq(r[i].line, 6 + (int)i);
        ck_assert_int_eq(r[i].has_data, i >= 2 && i <= 5);
    }
    /* main:11, free(a): freed make's 4096 (E3), allocated nothing */
    ck_assert_uint_eq(r[5].occurrences, 0);
    ck_assert_uint_eq(r[5].allocated_bytes, 0);
    ck_assert_uint_eq(r[5].site_free_calls, 1);
    ck_assert_uint_eq(r[5].site_freed_bytes, 4096);
    ck_assert_int_eq(r[5].net_bytes, -4096);
    ck_assert_int_eq(r[2].net_bytes, 4096);
    /* main:8: 4096 through make, freed */
    ck_assert_uint_eq(r[2].mem_usage_bytes, 4096);
    ck_assert_int_eq(r[2].increment_bytes, 0);
    ck_assert_uint_eq(r[2].occurrences, 1);
    ck_assert_uint_eq(r[2].allocated_bytes, 4096);
    /* main:9: 2 x 512, never freed */
    ck_assert_uint_eq(r[3].mem_usage_bytes, 1024);
    ck_assert_int_eq(r[3].increment_bytes, 1024);
    ck_assert_uint_eq(r[3].occurrences, 2);
    ck_assert_uint_eq(r[3].allocated_bytes, 1024);
    /* main:10 */
    ck_assert_uint_eq(r[4].mem_usage_bytes, 1024);
    ck_assert_int_eq(r[4].increment_bytes, 1024);
    ck_assert_uint_eq(r[4].occurrences, 1);
    mp_tables_free(&t);
    ck_assert_uint_eq(t.n, 0);
    ck_assert_ptr_null(t.tables);
    mp_profile_free(p);
}
END_TEST

START_TEST(tables_order_by_bytes_then_file_then_function)
{
    struct mp_profile *p = mp_profile_new(fake_resolve, NULL);
    static const uint64_t sf[] = { 0x1001 };          /* f /b.c:5 */
    static const uint64_t sg[] = { 0x1002 };          /* g /a.c:7 */
    static const uint64_t sy[] = { 0x1006 };          /* y /z.c:1 */
    static const uint64_t sz[] = { 0x1005, 0x1006 };  /* z /a.c:9 <- y /z.c:1 */
    ev_alloc(p, 1, 300, sf, 1, 0);
    ev_alloc(p, 2, 200, sg, 1, 0);
    ev_alloc(p, 3, 100, sy, 1, 0);
    ev_alloc(p, 4, 100, sz, 2, 0);
    /* f: 300; g: 200; y: 200 (its line 1 carries both); z: 100 */
    struct mp_tables t;
    ck_assert_int_eq(mp_tables_build(p, &t), 0);
    ck_assert_uint_eq(t.n, 4);
    ck_assert_str_eq(t.tables[0].function, "f");
    ck_assert_uint_eq(t.tables[0].bytes, 300);
    ck_assert_str_eq(t.tables[1].function, "g"); /* 200, /a.c before /z.c */
    ck_assert_uint_eq(t.tables[1].bytes, 200);
    ck_assert_str_eq(t.tables[2].function, "y");
    ck_assert_uint_eq(t.tables[2].bytes, 200);
    ck_assert_uint_eq(t.tables[2].rows[0].occurrences, 2);
    ck_assert_str_eq(t.tables[3].function, "z");
    ck_assert_uint_eq(t.tables[3].bytes, 100);
    mp_tables_free(&t);
    mp_profile_free(p);

    /* No line info at all: no tables. */
    p = mp_profile_new(fake_resolve, NULL);
    static const uint64_t sn[] = { 0x600 };
    ev_alloc(p, 1, 10, sn, 1, 0);
    ck_assert_int_eq(mp_tables_build(p, &t), 0);
    ck_assert_uint_eq(t.n, 0);
    mp_tables_free(&t);
    mp_profile_free(p);
}
END_TEST

START_TEST(top_lines_order)
{
    struct mp_profile *p = mp_profile_new(fake_resolve, NULL);
    static const uint64_t sf[] = { 0x1001 }; /* /b.c:5 f */
    static const uint64_t sg[] = { 0x1002 }; /* /a.c:7 g */
    static const uint64_t sh[] = { 0x1003 }; /* /a.c:3 h */
    static const uint64_t se[] = { 0x1004 }; /* /a.c:3 e */
    static const uint64_t sz[] = { 0x1005 }; /* /a.c:9 z */
    static const uint64_t sy[] = { 0x1006 }; /* /z.c:1 y */
    static const uint64_t sx[] = { 0x1007, 0x1005 }; /* /a.c:8 x <- z: z gets only inclusive */
    ev_alloc(p, 1, 100, sf, 1, 0);
    ev_alloc(p, 2, 100, sg, 1, 0);
    ev_alloc(p, 3, 100, sh, 1, 0);
    ev_alloc(p, 4, 100, se, 1, 0);
    ev_alloc(p, 5, 50, sz, 1, 0);
    ev_alloc(p, 6, 50, sz, 1, 0);
    ev_alloc(p, 7, 200, sy, 1, 0);
    ev_alloc(p, 8, 30, sx, 2, 0);
    size_t n;
    size_t *idx = mp_lines_by_bytes(p, &n);
    ck_assert_ptr_nonnull(idx);
    /* y 200; z 100 in 2 calls; then 100 in 1 call by file, line, function:
     * /a.c:3 e, /a.c:3 h, /a.c:7 g, /b.c:5 f; then x 30. */
    const char *want[] = { "y", "z", "e", "h", "g", "f", "x" };
    ck_assert_uint_eq(n, 7);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(mp_profile_line(p, idx[i])->function, want[i]);
    free(idx);
    mp_profile_free(p);

    p = mp_profile_new(fake_resolve, NULL);
    idx = mp_lines_by_bytes(p, &n);
    ck_assert_uint_eq(n, 0);
    free(idx);
    mp_profile_free(p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* JSON                                                                       */
/* ------------------------------------------------------------------------ */

/* Loads the JSON with python3 and prints json.dumps(eval(expr), sort_keys=True)
 * for each expression, one per line. */
static char *py_query(const char *json, const char *const *exprs, size_t n)
{
    static const char script[] =
        "import json, sys\n"
        "d = json.load(sys.stdin)\n"
        "for e in sys.argv[1:]:\n"
        "    print(json.dumps(eval(e, {'d': d}), sort_keys=True))\n";
    char *argv[64] = { "python3", "-c", (char *)script };
    ck_assert_uint_lt(n + 4, 64);
    for (size_t i = 0; i < n; i++)
        argv[3 + i] = (char *)exprs[i];
    argv[3 + n] = NULL;
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, json, NULL, 60, &o), 0);
    ck_assert_msg(o.status == 0, "python3 rejected the JSON (%d): %.1500s\n%.1500s", o.status, o.err, json);
    char *out = strdup(o.out);
    run_output_free(&o);
    return out;
}

struct query {
    const char *expr, *want;
};

static void check_queries(const char *json, const struct query *q, size_t n)
{
    const char *exprs[60];
    char want[16384] = "";
    for (size_t i = 0; i < n; i++) {
        exprs[i] = q[i].expr;
        strcat(want, q[i].want);
        strcat(want, "\n");
    }
    char *got = py_query(json, exprs, n);
    const char *g = got, *w = want;
    for (size_t i = 0; i < n; i++) {
        const char *ge = strchr(g, '\n'), *we = strchr(w, '\n');
        ck_assert_ptr_nonnull(ge);
        ck_assert_msg((size_t)(ge - g) == (size_t)(we - w) && memcmp(g, w, (size_t)(ge - g)) == 0,
                      "%s\n got: %.*s\nwant: %.*s", q[i].expr, (int)(ge - g), g, (int)(we - w), w);
        g = ge + 1;
        w = we + 1;
    }
    ck_assert_str_eq(got, want);
    free(got);
}

START_TEST(json_report_fields)
{
    struct mp_profile *p = build_profile();
    struct mp_sources *src = load_sources(p);
    struct mp_report_run run = default_run();
    run.events_lost = 2;
    run.agent_bytes = 65536;
    const char *const warnings[] = { "say \"hi\"" };
    run.warnings = warnings;
    run.n_warnings = 1;
    struct mp_report_options opt = { .cwd = dir, .precision = 1, .top_lines = 2, .max_tables = 1 }; /* limits are for the text report only */
    char *json = json_report(p, &run, src, &opt);
    char line12_check[PATH_MAX + 128];
    snprintf(line12_check, sizeof line12_check,
             "d['tables'][0]['rows'][6]['text'] == open('%s').read().split('\\n')[11]", app);
    const struct query q[] = {
        /* fields may be added, never removed or renamed: check that these are there */
        { "[k for k in ['command', 'exit', 'leaks', 'lines', 'peak', 'rss_at_exit', 'schema', 'summary', 'tables', "
          "'timeline', 'warnings'] if k not in d]",
          "[]" },
        { "d['schema']", "1" },
        { "d['command']", "[\"./app\", \"arg\"]" },
        { "d['exit']", "{\"code\": 0}" },
        { "d['summary']['peak_rss_bytes']", "10485760" },
        { "d['summary']['wall_seconds']", "1.5" },
        { "d['summary']['alloc_calls']", "6" },
        { "d['summary']['free_calls']", "2" },
        { "d['summary']['allocated_bytes']", "1583104" },
        { "d['summary']['freed_bytes']", "1576960" },
        { "d['summary']['peak_heap_bytes']", "1579008" },
        { "d['summary']['leaked_bytes']", "6144" },
        { "d['summary']['leaked_blocks']", "4" },
        { "d['summary']['temporary_calls']", "0" },
        { "d['summary']['events_lost']", "2" },
        { "d['summary']['unknown_frees']", "1" },
        { "d['summary']['truncated_stacks']", "1" },
        { "d['summary']['agent_bytes']", "65536" },
        { "d['summary']['heap_profiled']", "true" },
        { "d['summary']['engine']", "\"agent\"" },
        { "[[l['file'], l['line'], l['function'], l['alloc_calls'], l['allocated_bytes'], l['free_calls'], "
          "l['freed_bytes']] for l in d['lines']]",
          "[[null, 0, \"libfoo.so+0x40\", 1, 1572864, 1, 1572864], [\"app.c\", 4, \"make\", 1, 4096, 1, 4096], "
          "[\"/zzz-memprof-missing/gone.c\", 3, \"other\", 1, 4096, 0, 0], [\"app.c\", 9, \"main\", 2, 1024, 0, 0], "
          "[\"app.c\", 10, \"main\", 1, 1024, 0, 0]]" },
        { "d['lines'][0]['module']", "\"/usr/lib/libfoo.so\"" },
        { "[k for k in ['alloc_calls', 'allocated_bytes', 'file', 'free_calls', 'freed_bytes', 'function', 'line', "
          "'peak_bytes', 'leaked_bytes', 'leaked_blocks', 'temporary_calls'] if k not in d['lines'][1]]",
          "[]" },
        /* per line: held at the peak (1579008: E8), leaked, temporaries */
        { "[[l['function'], l['line'], l['peak_bytes'], l['leaked_bytes'], l['leaked_blocks'], l['temporary_calls']] "
          "for l in d['lines']]",
          "[[\"libfoo.so+0x40\", 0, 1572864, 0, 0, 0], [\"make\", 4, 0, 0, 0, 0], [\"other\", 3, 4096, 4096, 1, 0], "
          "[\"main\", 9, 1024, 1024, 2, 0], [\"main\", 10, 1024, 1024, 1, 0]]" },
        /* the peak: reached by E8, malloc <- main:10; every frame, runtime ones included */
        { "d['peak']['heap_bytes']", "1579008" },
        { "d['peak']['reached_at']", "{\"file\": \"app.c\", \"function\": \"main\", \"line\": 10}" },
        { "d['peak']['stack']",
          "[{\"file\": null, \"function\": \"malloc\", \"line\": 0, \"module\": \"/lib/x86_64-linux-gnu/libc.so.6\"}, "
          "{\"file\": \"app.c\", \"function\": \"main\", \"line\": 10}]" },
        /* leaks by stack: biggest first, then more blocks first; E2 and E7 share a stack */
        { "[[k['bytes'], k['blocks'], [[f['file'], f['line'], f['function']] for f in k['stack']]] for k in d['leaks']]",
          "[[4096, 1, [[\"/zzz-memprof-missing/gone.c\", 3, \"other\"]]], "
          "[1024, 2, [[null, 0, \"malloc\"], [\"app.c\", 9, \"main\"]]], "
          "[1024, 1, [[null, 0, \"malloc\"], [\"app.c\", 10, \"main\"]]]]" },
        { "d['timeline']", "[]" },
        { "d['rss_at_exit']", "null" },
        { "[[t['file'], t['function'], [r['line'] for r in t['rows']]] for t in d['tables']]",
          "[[\"app.c\", \"main\", [6, 7, 8, 9, 10, 11, 12, 13]], [\"app.c\", \"make\", [2, 3, 4, 5]], "
          "[\"/zzz-memprof-missing/gone.c\", \"other\", [1, 2, 3, 4]]]" },
        { "sorted(d['tables'][0])", "[\"file\", \"function\", \"rows\"]" },
        { "d['tables'][0]['rows'][2]",
          "{\"allocated_bytes\": 4096, \"increment_bytes\": 0, \"line\": 8, \"mem_usage_bytes\": 4096, "
          "\"net_bytes\": 4096, \"occurrences\": 1, \"site_free_calls\": 0, \"site_freed_bytes\": 0, "
          "\"text\": \"    char *a = make(4096);\"}" },
        { "d['tables'][0]['rows'][3]",
          "{\"allocated_bytes\": 1024, \"increment_bytes\": 1024, \"line\": 9, \"mem_usage_bytes\": 1024, "
          "\"net_bytes\": 1024, \"occurrences\": 2, \"site_free_calls\": 0, \"site_freed_bytes\": 0, "
          "\"text\": \"    char *b = malloc(512);\"}" },
        /* free(a) (E3) on main:11: the line's negative net effect */
        { "d['tables'][0]['rows'][5]",
          "{\"allocated_bytes\": 0, \"increment_bytes\": 0, \"line\": 11, \"mem_usage_bytes\": 0, "
          "\"net_bytes\": -4096, \"occurrences\": 0, \"site_free_calls\": 1, \"site_freed_bytes\": 4096, "
          "\"text\": \"    free(a);\"}" },
        /* line records: malloc 0, make:4 1, main:8 2, main:9 3, main:11 4 (E3's site), gone.c:3 5,
         * libfoo 6, main:10 7 */
        { "d['free_sites']",
          "[{\"file\": \"app.c\", \"frame\": 4, \"free_calls\": 1, \"freed_bytes\": 4096, \"function\": \"main\", "
          "\"line\": 11}]" },
        { "[d['summary']['unsited_free_calls'], d['summary']['unsited_freed_bytes']]", "[1, 1572864]" },
        /* stacks s1..s5 at the peak (after E8): s1 freed, s2 E2+E7, s3, s4, s5 */
        { "[s['peak_bytes'] for s in d['stacks']]", "[0, 1024, 4096, 1572864, 1024]" },
        /* 512 B x2 (bits 10), 1024 (11), 4096 x2 (13), 1.5 MiB (21) */
        { "[[b['bits'], b['from'], b['below'], b['calls'], b['bytes']] for b in d['size_histogram']]",
          "[[10, 512, 1024, 2, 1024], [11, 1024, 2048, 1, 1024], [13, 4096, 8192, 2, 8192], "
          "[21, 1048576, 2097152, 1, 1572864]]" },
        /* biggest first; the two 4 KiB entries (1 call each) by stack index */
        { "[[e['size'], e['calls'], e['leaked_blocks'], e['stack_index'], e['user_line']['line']] for e in "
          "d['largest']]",
          "[[1572864, 1, 0, 3, 0], [4096, 1, 0, 0, 4], [4096, 1, 1, 2, 3], [1024, 1, 1, 4, 10], [512, 2, 2, 1, 9]]" },
        { "d['threads']",
          "[{\"alloc_calls\": 6, \"allocated_bytes\": 1583104, \"free_calls\": 2, \"freed_bytes\": 1576960, "
          "\"leaked_blocks\": 4, \"leaked_bytes\": 6144, \"max_live_bytes\": 1579008, \"peak_bytes\": 1579008, "
          "\"thread\": 1, \"tid\": 1}]" },
        { "d['timeline_allocations']", "[]" },
        { "d['tables'][0]['rows'][0]['text']", "\"int main(void)\"" },
        { line12_check, "true" },
        { "d['tables'][1]['rows'][2]",
          "{\"allocated_bytes\": 4096, \"increment_bytes\": 0, \"line\": 4, \"mem_usage_bytes\": 4096, "
          "\"net_bytes\": 4096, \"occurrences\": 1, \"site_free_calls\": 0, \"site_freed_bytes\": 0, "
          "\"text\": \"    return malloc(n);\"}" },
        { "d['tables'][2]['rows'][2]",
          "{\"allocated_bytes\": 4096, \"increment_bytes\": 4096, \"line\": 3, \"mem_usage_bytes\": 4096, "
          "\"net_bytes\": 4096, \"occurrences\": 1, \"site_free_calls\": 0, \"site_freed_bytes\": 0, "
          "\"text\": null}" },
        { "d['warnings']", "[\"say \\\"hi\\\"\"]" },
    };
    check_queries(json, q, sizeof q / sizeof *q);
    /* Deterministic and one record per line. */
    char *again = json_report(p, &run, src, &opt);
    ck_assert_str_eq(json, again);
    free(again);
    ck_assert_ptr_nonnull(strstr(json, "\n    {\"file\": \"app.c\", \"line\": 4, \"function\": \"make\", "
                                       "\"alloc_calls\": 1, \"allocated_bytes\": 4096, \"free_calls\": 1, "
                                       "\"freed_bytes\": 4096, \"peak_bytes\": 0, \"leaked_bytes\": 0, "
                                       "\"leaked_blocks\": 0, \"temporary_calls\": 0}"));
    ck_assert_ptr_nonnull(strstr(json, "{\n  \"schema\": 1,\n"));
    free(json);
    mp_sources_free(src);
    mp_profile_free(p);
}
END_TEST

START_TEST(json_escaping_signal_and_empty)
{
    struct mp_profile *p = mp_profile_new(fake_resolve, NULL);
    char *const cmd[] = { "./app", "a\"b\\c\n\t\001z\r", "x\037y\x7f", NULL };
    struct mp_report_run run = default_run();
    run.command = cmd;
    run.exited = 0;
    run.signal = 9;
    run.engine = "none";
    run.engine_note = "no heap";
    struct mp_report_options opt = { .cwd = dir, .precision = 1, .top_lines = 0, .max_tables = 0 };
    char *json = json_report(p, &run, NULL, &opt);
    ck_assert_ptr_nonnull(
        strstr(json, "\"command\": [\"./app\", \"a\\\"b\\\\c\\n\\t\\u0001z\\r\", \"x\\u001fy\x7f\"]"));
    const struct query q[] = {
        { "d['command'] == ['./app', 'a\"b\\\\c\\n\\t\\x01z\\r', 'x\\x1fy\\x7f']", "true" },
        { "d['exit']", "{\"signal\": 9}" },
        { "d['summary']['heap_profiled']", "false" },
        { "d['summary']['engine']", "\"none\"" },
        { "d['summary']['alloc_calls']", "0" },
        { "d['lines']", "[]" },
        { "d['tables']", "[]" },
        { "d['warnings']", "[]" },
        { "d['peak']", "null" },
        { "d['leaks']", "[]" },
        { "d['timeline']", "[]" },
        { "d['rss_at_exit']", "null" },
        { "[d['summary'][k] for k in ['peak_heap_bytes', 'leaked_bytes', 'leaked_blocks', 'temporary_calls']]",
          "[0, 0, 0, 0]" },
    };
    check_queries(json, q, sizeof q / sizeof *q);
    free(json);

    /* No command at all, no engine name. */
    run.command = NULL;
    run.engine = NULL;
    json = json_report(p, &run, NULL, &opt);
    const struct query q2[] = {
        { "d['command']", "[]" },
        { "d['summary']['engine']", "null" },
    };
    check_queries(json, q2, sizeof q2 / sizeof *q2);
    free(json);
    mp_profile_free(p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Peak, leaks, temporaries, timeline, RSS at exit                            */
/* ------------------------------------------------------------------------ */

static void ev_alloc_t(struct mp_profile *p, uint32_t tid, uint64_t addr, uint64_t size, const uint64_t *frames,
                       uint32_t n)
{
    struct mp_event ev = { .kind = MP_EV_ALLOC, .tid = tid, .addr = addr, .size = size, .nframes = n,
                           .frames = frames };
    ck_assert_int_eq(mp_profile_add(p, &ev), 0);
}

static void ev_free_t(struct mp_profile *p, uint32_t tid, uint64_t addr)
{
    struct mp_event ev = { .kind = MP_EV_FREE, .tid = tid, .addr = addr };
    ck_assert_int_eq(mp_profile_add(p, &ev), 0);
}

static void ev_sample(struct mp_profile *p, uint64_t time_ns, uint64_t rss)
{
    struct mp_event ev = { .kind = MP_EV_SAMPLE, .time_ns = time_ns, .rss_bytes = rss };
    ck_assert_int_eq(mp_profile_add(p, &ev), 0);
}

/* A profile where everything is freed, with temporaries and samples:
 *  T1 t1 ALLOC b1  100 malloc <- main:9
 *  S  1 ms, rss 1 MiB: heap 100
 *  T2 t1 FREE  b1      temporary (t1 did not allocate since)
 *  T3 t1 ALLOC b2  300 malloc <- main:10
 *  S  250 ms, rss 2 MiB: heap 300
 *  T4 t1 ALLOC b3 2048 malloc <- make:4 <- main:8 <- __libc_start_call_main: live 2348, the peak
 *  S  1.234567890 s, rss 3 MiB: heap 2348
 *  T5 t1 FREE  b3      temporary
 *  T6 t1 FREE  b2      not temporary (t1 allocated b3 after b2)
 *  T7 t2 ALLOC b5   50 malloc <- main:10
 *  T8 t1 ALLOC b6   60 malloc <- main:9
 *  T9 t1 FREE  b5      temporary: freed by t1, but t2 did not allocate since
 *  T10 t1 FREE b6      temporary
 *  S  2 s, rss 1.5 MiB: heap 0
 * Totals: 5 calls, 2558 bytes, 5 frees; peak 2348 reached at make:4;
 * temporaries main:9 2 of 2 calls, main:10 1 of 2, make:4 1 of 1. */
static struct mp_profile *build_temporaries_profile(void)
{
    static const uint64_t s1[] = { 0x400, 0x100, 0x200, 0x700 };
    static const uint64_t s2[] = { 0x400, 0x300 };
    static const uint64_t s5[] = { 0x400, 0x350 };
    struct mp_profile *p = mp_profile_new(fake_resolve, NULL);
    ck_assert_ptr_nonnull(p);
    ev_alloc_t(p, 1, 0xb1, 100, s2, 2);
    ev_sample(p, 1000000, 1048576);
    ev_free_t(p, 1, 0xb1);
    ev_alloc_t(p, 1, 0xb2, 300, s5, 2);
    ev_sample(p, 250000000, 2097152);
    ev_alloc_t(p, 1, 0xb3, 2048, s1, 4);
    ev_sample(p, 1234567890, 3145728);
    ev_free_t(p, 1, 0xb3);
    ev_free_t(p, 1, 0xb2);
    ev_alloc_t(p, 2, 0xb5, 50, s5, 2);
    ev_alloc_t(p, 1, 0xb6, 60, s2, 2);
    ev_free_t(p, 1, 0xb5);
    ev_free_t(p, 1, 0xb6);
    ev_sample(p, 2000000000, 1572864);
    return p;
}

static struct mp_report_run run_with_rss_at_exit(void)
{
    struct mp_report_run run = default_run();
    run.rss_at_exit = (struct mp_rss_breakdown){ .valid = 1, .total = 7544832, .heap = 4194304, .stacks = 139264,
                                                 .code = 2097152, .file_data = 1048576, .shared = 65536 };
    return run;
}

/* The part of a text report from `from` up to (not including) `to`. */
static char *text_between(const char *text, const char *from, const char *to)
{
    const char *a = strstr(text, from);
    ck_assert_msg(a != NULL, "no [%s] in:\n%s", from, text);
    const char *b = to ? strstr(a + 1, to) : NULL;
    size_t n = b ? (size_t)(b - a) : strlen(a);
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, a, n);
    s[n] = '\0';
    return s;
}

START_TEST(text_report_temporaries_and_rss_at_exit)
{
    struct mp_profile *p = build_temporaries_profile();
    struct mp_sources *src = load_sources(p);
    struct mp_report_run run = run_with_rss_at_exit();
    struct mp_report_options opt = { .cwd = dir, .precision = 1, .top_lines = 0, .max_tables = 0 };
    char *got = text_report(p, &run, src, &opt);
    /* 2558 / 1024 = 2.498, 2348 / 1024 = 2.293; 2048 / 2348 = 87.22%, 300 / 2348 = 12.78% */
    char *head = text_between(got, "memprof: ", "\nFilename: ");
    expect_text(head, "memprof: ./app arg  (exit status 0)\n"
                      "\n"
                      "Summary\n"
                      "  peak RSS           10.0 MiB\n"
                      "  allocations        5 calls, 2.5 KiB\n"
                      /* 5 / 1.5 s = 3.3; 2558 / 1.5 = 1705 B = 1.67 KiB */
                      "  allocation rate    3 calls/s, 1.7 KiB/s over 1.500 s\n"
                      "  frees              5 calls, 2.5 KiB\n"
                      "  peak heap          2.3 KiB, reached at app.c:4 (make)\n"
                      "  temporary          4 calls\n"
                      "  leaked at exit     0 B in 0 blocks\n"
                      "\n"
                      "Top lines by bytes allocated\n"
                      "   allocated        calls live at exit   line\n"
                      "     2.0 KiB            1          0 B   app.c:4 (make)\n"
                      "       350 B            2          0 B   app.c:10 (main)\n"
                      "       160 B            2          0 B   app.c:9 (main)\n"
                      "\n"
                      /* the stack stops at main: __libc_start_call_main is not shown */
                      "Peak heap 2.3 KiB, reached at app.c:4 (make)\n"
                      "      at malloc (/lib/x86_64-linux-gnu/libc.so.6)\n"
                      "      -> app.c:4 (make)\n"
                      "      at app.c:8 (main)\n"
                      "\n"
                      "Lines holding the peak\n"
                      "        held        share   line\n"
                      "     2.0 KiB        87.2%   app.c:4 (make)\n"
                      "       300 B        12.8%   app.c:10 (main)\n"
                      "\n"
                      "Leaks: none (every block was freed)\n"
                      "\n"
                      /* by temporaries, then calls: main:10 (2 calls) before make:4 (1) */
                      "Temporary allocations (freed before their thread allocated again)\n"
                      "   temporary     of calls   line\n"
                      "           2            2   app.c:9 (main)\n"
                      "           1            2   app.c:10 (main)\n"
                      "           1            1   app.c:4 (make)\n"
                      "\n"
                      "RSS at exit: 7.2 MiB\n"
                      "     4.0 MiB   malloc heap and anonymous memory (0 B of it live blocks; the rest is allocator\n"
                      "               overhead and free memory the allocator keeps)\n"
                      "   136.0 KiB   stacks (main and threads)\n"
                      "     2.0 MiB   code (executable mappings)\n"
                      "     1.0 MiB   other file-backed mappings (data, read-only data, mapped files)\n"
                      "    64.0 KiB   shared memory (memprof's event ring is one)\n");
    free(head);
    /* The runtime frame outside main makes no table, and no note but the
     * one on the frees without a call site (all five). */
    ck_assert_ptr_null(strstr(got, "libc_start"));
    char *notes = text_between(got, "\nNotes\n", NULL);
    expect_text(notes, "\nNotes\n"
                       "  5 frees were called from code with no line of the program (operator delete, library "
                       "code) or came without a call site: the tables' Freed column leaves them out\n");
    free(notes);
    char *again = text_report(p, &run, src, &opt);
    ck_assert_str_eq(got, again);
    free(again);
    free(got);

    /* --top 1: one row per section and a "more" line. */
    opt.top_lines = 1;
    got = text_report(p, &run, src, &opt);
    head = text_between(got, "\nLines holding the peak\n", "\nRSS at exit");
    expect_text(head, "\nLines holding the peak\n"
                      "        held        share   line\n"
                      "     2.0 KiB        87.2%   app.c:4 (make)\n"
                      "  (1 more line; --top=0 shows all)\n"
                      "\n"
                      "Leaks: none (every block was freed)\n"
                      "\n"
                      "Temporary allocations (freed before their thread allocated again)\n"
                      "   temporary     of calls   line\n"
                      "           2            2   app.c:9 (main)\n"
                      "  (2 more lines; --top=0 shows all)\n");
    free(head);
    free(got);

    /* RSS at exit with live blocks: the heap line says how much of it they are. */
    mp_sources_free(src);
    mp_profile_free(p);
    p = build_profile();
    src = load_sources(p);
    got = text_report(p, &run, src, &opt);
    ck_assert_ptr_nonnull(strstr(got, "\n     4.0 MiB   malloc heap and anonymous memory (6.0 KiB of it live blocks; "
                                      "the rest is allocator\n"));
    /* no temporaries: no section */
    ck_assert_ptr_null(strstr(got, "Temporary allocations"));
    free(got);
    mp_sources_free(src);
    mp_profile_free(p);
}
END_TEST

/* Twelve stacks leak: the biggest three get their stacks in the text, the
 * ten biggest in the JSON; ties on bytes and blocks go by the innermost
 * frame's file, line, function. */
static struct mp_profile *build_many_leaks_profile(void)
{
    static const uint64_t sf[] = { 0x1001 }, sg[] = { 0x1002 }, sh[] = { 0x1003 }, se[] = { 0x1004 },
                          sz[] = { 0x1005 }, sy[] = { 0x1006 }, sx[] = { 0x1007, 0x1005 },
                          s1[] = { 0x400, 0x100, 0x200 }, s2[] = { 0x400, 0x300 }, s3[] = { 0x500 },
                          s4[] = { 0x600 }, s5[] = { 0x400, 0x350 }, sfree[] = { 0x1003, 0x200 };
    struct mp_profile *p = mp_profile_new(fake_resolve, NULL);
    ck_assert_ptr_nonnull(p);
    ev_alloc_t(p, 1, 0x01, 500, sf, 1);   /* f /b.c:5 */
    ev_alloc_t(p, 1, 0x02, 500, sg, 1);   /* g /a.c:7: same bytes and blocks as f, sorts first */
    ev_alloc_t(p, 1, 0x03, 1200, sh, 1);  /* h /a.c:3 */
    ev_alloc_t(p, 1, 0x04, 1100, se, 1);  /* e /a.c:3 */
    ev_alloc_t(p, 1, 0x05, 450, sz, 1);   /* z /a.c:9: 900 in 2 blocks */
    ev_alloc_t(p, 1, 0x06, 450, sz, 1);
    ev_alloc_t(p, 1, 0x07, 800, sy, 1);   /* y /z.c:1 */
    ev_alloc_t(p, 1, 0x08, 700, sx, 2);   /* x /a.c:8 <- z */
    ev_alloc_t(p, 1, 0x09, 600, s1, 3);   /* make:4 */
    ev_alloc_t(p, 1, 0x0a, 400, s2, 2);   /* main:9 */
    ev_alloc_t(p, 1, 0x0b, 300, s3, 1);   /* gone.c:3 */
    ev_alloc_t(p, 1, 0x0c, 200, s4, 1);   /* libfoo */
    ev_alloc_t(p, 1, 0x0d, 100, s5, 2);   /* main:10 */
    ev_alloc_t(p, 1, 0x0e, 9999, sfree, 2); /* h <- main:8: freed, no leak */
    ev_alloc_t(p, 1, 0x0f, 1, s5, 2);
    ev_free_t(p, 1, 0x0e);
    return p;
}

START_TEST(leaks_biggest_stacks_text_and_json)
{
    struct mp_profile *p = build_many_leaks_profile();
    struct mp_report_run run = default_run();
    struct mp_report_options opt = { .cwd = dir, .precision = 1, .top_lines = 0, .max_tables = 0 };
    size_t n;
    size_t *idx = mp_stacks_by_live(p, &n);
    ck_assert_uint_eq(n, 12);
    const char *want_fn[] = { "h", "e", "z", "y", "x", "make", "g", "f", "main", "other", "libfoo.so+0x40", "main" };
    const uint64_t want_bytes[] = { 1200, 1100, 900, 800, 700, 600, 500, 500, 400, 300, 200, 101 };
    for (size_t i = 0; i < n; i++) {
        const struct mp_stack_info *st = mp_profile_stack(p, idx[i]);
        ck_assert_str_eq(mp_profile_line(p, st->self_line)->function, want_fn[i]);
        ck_assert_uint_eq(st->live_bytes, want_bytes[i]);
    }
    free(idx);

    char *got = text_report(p, &run, NULL, &opt);
    /* 1200+1100+900+800+700+600+500+500+400+300+200+101 = 7301 bytes (7.1 KiB) in 14 blocks */
    char *leaks = text_between(got, "\nLeaks: ", "\nFilename: ");
    expect_text(leaks, "\nLeaks: 7.1 KiB in 14 blocks never freed\n"
                       "      leaked       blocks   line\n"
                       "     1.2 KiB            1   /a.c:3 (h)\n"
                       "     1.1 KiB            1   /a.c:3 (e)\n"
                       "       900 B            2   /a.c:9 (z)\n"
                       "       800 B            1   /z.c:1 (y)\n"
                       "       700 B            1   /a.c:8 (x)\n"
                       "       600 B            1   app.c:4 (make)\n"
                       "       500 B            1   /a.c:7 (g)\n"
                       "       500 B            1   /b.c:5 (f)\n"
                       "       400 B            1   app.c:9 (main)\n"
                       "       300 B            1   /zzz-memprof-missing/gone.c:3 (other)\n"
                       "       200 B            1   libfoo.so+0x40 (/usr/lib/libfoo.so)\n"
                       "       101 B            2   app.c:10 (main)\n"
                       "  1.2 KiB in 1 block allocated from:\n"
                       "      -> /a.c:3 (h)\n"
                       "  1.1 KiB in 1 block allocated from:\n"
                       "      -> /a.c:3 (e)\n"
                       "  900 B in 2 blocks allocated from:\n"
                       "      -> /a.c:9 (z)\n");
    /* no temporaries (the freed block was not the last allocation): no section */
    ck_assert_ptr_null(strstr(got, "Temporary allocations"));
    free(leaks);
    free(got);
    mp_profile_free(p);
}
END_TEST

START_TEST(json_peak_leaks_timeline_rss)
{
    struct mp_profile *p = build_temporaries_profile();
    struct mp_report_run run = run_with_rss_at_exit();
    struct mp_report_options opt = { .cwd = dir, .precision = 1, .top_lines = 1, .max_tables = 1 };
    char *json = json_report(p, &run, NULL, &opt);
    const struct query q[] = {
        { "[d['summary'][k] for k in ['alloc_calls', 'allocated_bytes', 'free_calls', 'freed_bytes', "
          "'peak_heap_bytes', 'leaked_bytes', 'leaked_blocks', 'temporary_calls']]",
          "[5, 2558, 5, 2558, 2348, 0, 0, 4]" },
        { "[[l['function'], l['line'], l['alloc_calls'], l['peak_bytes'], l['leaked_bytes'], l['leaked_blocks'], "
          "l['temporary_calls']] for l in d['lines']]",
          "[[\"make\", 4, 1, 2048, 0, 0, 1], [\"main\", 10, 2, 300, 0, 0, 1], [\"main\", 9, 2, 0, 0, 0, 2]]" },
        { "d['peak']['heap_bytes']", "2348" },
        { "d['peak']['reached_at']", "{\"file\": \"app.c\", \"function\": \"make\", \"line\": 4}" },
        /* the JSON stack is whole: runtime frames and what lies beyond main */
        { "[[f['file'], f['line'], f['function']] for f in d['peak']['stack']]",
          "[[null, 0, \"malloc\"], [\"app.c\", 4, \"make\"], [\"app.c\", 8, \"main\"], "
          "[\"../sysdeps/nptl/libc_start_call_main.h\", 58, \"__libc_start_call_main\"]]" },
        { "[f.get('module') for f in d['peak']['stack']]",
          "[\"/lib/x86_64-linux-gnu/libc.so.6\", null, null, null]" },
        { "d['leaks']", "[]" },
        /* [seconds (6 decimals: microseconds), rss, heap at that point of the event stream] */
        { "d['timeline']",
          "[[0.001, 1048576, 100], [0.25, 2097152, 300], [1.234568, 3145728, 2348], [2.0, 1572864, 0]]" },
        /* the allocations made by each sample: 1 (100 B), 2 (400), 3 (2448), 5 (2558) */
        { "d['timeline_allocations']", "[[1, 100], [2, 400], [3, 2448], [5, 2558]]" },
        /* the most the heap held after the previous sample: 0 -> 50 -> 110 -> 0 before the last */
        { "d['timeline_heap_max']", "[100, 300, 2348, 110]" },
        /* per stack (one per user line here): bytes and blocks at the peak, temporaries (as "lines") */
        { "sorted([[d['frames'][s['user_line']]['line'], s['peak_bytes'], s['peak_blocks'], s['temporary_calls']] "
          "for s in d['stacks']])",
          "[[4, 2048, 1, 1], [9, 0, 0, 2], [10, 300, 1, 1]]" },
        { "d['rss_at_exit']",
          "{\"code_bytes\": 2097152, \"file_data_bytes\": 1048576, \"heap_bytes\": 4194304, \"shared_bytes\": 65536, "
          "\"stack_bytes\": 139264, \"total_bytes\": 7544832}" },
    };
    check_queries(json, q, sizeof q / sizeof *q);
    /* four samples to a text line */
    ck_assert_ptr_nonnull(strstr(json, "\"timeline\": [\n    [0.001000, 1048576, 100], [0.250000, 2097152, 300], "
                                       "[1.234568, 3145728, 2348], [2.000000, 1572864, 0]\n  ]"));
    free(json);
    mp_profile_free(p);

    /* Twelve leaking stacks: the ten biggest. */
    p = build_many_leaks_profile();
    run = default_run();
    json = json_report(p, &run, NULL, &opt);
    const struct query q2[] = {
        { "[[k['bytes'], k['blocks'], k['stack'][0]['function']] for k in d['leaks']]",
          "[[1200, 1, \"h\"], [1100, 1, \"e\"], [900, 2, \"z\"], [800, 1, \"y\"], [700, 1, \"x\"], "
          "[600, 1, \"malloc\"], [500, 1, \"g\"], [500, 1, \"f\"], [400, 1, \"malloc\"], [300, 1, \"other\"]]" },
        { "[[f['file'], f['line'], f['function']] for f in d['leaks'][4]['stack']]",
          "[[\"/a.c\", 8, \"x\"], [\"/a.c\", 9, \"z\"]]" },
        { "[d['summary']['leaked_bytes'], d['summary']['leaked_blocks'], d['summary']['temporary_calls']]",
          "[7301, 14, 0]" },
        /* the peak: 7300 + 9999 + 1, reached by the last allocation (main:10's 1 byte) */
        { "[d['peak']['heap_bytes'], d['peak']['reached_at']['line'], d['summary']['peak_heap_bytes']]",
          "[17300, 10, 17300]" },
    };
    check_queries(json, q2, sizeof q2 / sizeof *q2);
    free(json);
    mp_profile_free(p);
}
END_TEST


/* ------------------------------------------------------------------------ */
/* Formatting helpers                                                         */
/* ------------------------------------------------------------------------ */

static const char *size_str(int64_t bytes, int precision)
{
    static char buf[64];
    mp_format_size(buf, sizeof buf, bytes, precision);
    return buf;
}

START_TEST(format_size)
{
    ck_assert_str_eq(size_str(0, 1), "0 B");
    ck_assert_str_eq(size_str(1, 1), "1 B");
    ck_assert_str_eq(size_str(512, 1), "512 B");
    ck_assert_str_eq(size_str(1023, 1), "1023 B");
    ck_assert_str_eq(size_str(1024, 1), "1.0 KiB");
    ck_assert_str_eq(size_str(4096, 1), "4.0 KiB");
    ck_assert_str_eq(size_str(1536, 1), "1.5 KiB");
    ck_assert_str_eq(size_str(1048576, 1), "1.0 MiB");
    ck_assert_str_eq(size_str(1572864, 1), "1.5 MiB");
    ck_assert_str_eq(size_str(2147483648LL, 1), "2.0 GiB");
    ck_assert_str_eq(size_str(1099511627776LL, 1), "1.0 TiB");
    ck_assert_str_eq(size_str(2251799813685248LL, 1), "2048.0 TiB"); /* no unit past TiB */
    ck_assert_str_eq(size_str(-1, 1), "-1 B");
    ck_assert_str_eq(size_str(-1023, 1), "-1023 B");
    ck_assert_str_eq(size_str(-1024, 1), "-1.0 KiB");
    ck_assert_str_eq(size_str(-1572864, 1), "-1.5 MiB");
    ck_assert_str_eq(size_str(INT64_MIN, 1), "-8388608.0 TiB");
    ck_assert_str_eq(size_str(INT64_MAX, 1), "8388608.0 TiB");
    ck_assert_str_eq(size_str(1024, 0), "1 KiB");
    ck_assert_str_eq(size_str(1024, 3), "1.000 KiB");
    ck_assert_str_eq(size_str(1048576, 2), "1.00 MiB");
    ck_assert_str_eq(size_str(1023, 3), "1023 B");
    /* --stable: exact byte counts, with thousands separators like every count */
    ck_assert_str_eq(size_str(0, MP_PRECISION_EXACT), "0 B");
    ck_assert_str_eq(size_str(1023, MP_PRECISION_EXACT), "1,023 B");
    ck_assert_str_eq(size_str(15984, MP_PRECISION_EXACT), "15,984 B");
    ck_assert_str_eq(size_str(1572864, MP_PRECISION_EXACT), "1,572,864 B");
    ck_assert_str_eq(size_str(-480000, MP_PRECISION_EXACT), "-480,000 B");
    ck_assert_str_eq(size_str(INT64_MIN, MP_PRECISION_EXACT), "-9,223,372,036,854,775,808 B");
    /* truncation into a small buffer stays terminated */
    char small[5];
    memset(small, 'x', sizeof small);
    mp_format_size(small, sizeof small, 1572864, 1);
    ck_assert_str_eq(small, "1.5 ");
}
END_TEST

static const char *count_str(uint64_t n, size_t len)
{
    static char buf[64];
    memset(buf, 'x', sizeof buf);
    mp_format_count(buf, len, n);
    return buf;
}

START_TEST(format_count)
{
    ck_assert_str_eq(count_str(0, 64), "0");
    ck_assert_str_eq(count_str(7, 64), "7");
    ck_assert_str_eq(count_str(999, 64), "999");
    ck_assert_str_eq(count_str(1000, 64), "1,000");
    ck_assert_str_eq(count_str(12345, 64), "12,345");
    ck_assert_str_eq(count_str(123456, 64), "123,456");
    ck_assert_str_eq(count_str(1234567, 64), "1,234,567");
    ck_assert_str_eq(count_str(UINT64_MAX, 64), "18,446,744,073,709,551,615");
    /* a short buffer is always terminated and never overrun */
    const char *s = count_str(1234567, 4);
    ck_assert_uint_lt(strlen(s), 4);
    ck_assert_int_eq(s[4], 'x');
    s = count_str(5, 1);
    ck_assert_str_eq(s, "");
    /* a count with its noun: singular for exactly one, whatever the count's digits */
    char buf[64];
    ck_assert_str_eq(MP_COUNT_NOUN(buf, 0, "call", "calls"), "0 calls");
    ck_assert_str_eq(MP_COUNT_NOUN(buf, 1, "call", "calls"), "1 call");
    ck_assert_str_eq(MP_COUNT_NOUN(buf, 2, "call", "calls"), "2 calls");
    ck_assert_str_eq(MP_COUNT_NOUN(buf, 1001, "process", "processes"), "1,001 processes");
    ck_assert_str_eq(MP_COUNT_NOUN(buf, 21, "block", "blocks"), "21 blocks");
    ck_assert_str_eq(mp_plural(1, "was", "were"), "was");
    ck_assert_str_eq(mp_plural(0, "was", "were"), "were");
}
END_TEST

START_TEST(display_path)
{
    ck_assert_str_eq(mp_display_path("/home/u/proj/src/a.c", "/home/u/proj"), "src/a.c");
    ck_assert_str_eq(mp_display_path("/home/u/proj/a.c", "/home/u/proj"), "a.c");
    /* a sibling directory sharing a prefix is not under cwd */
    ck_assert_str_eq(mp_display_path("/home/u/project/a.c", "/home/u/proj"), "/home/u/project/a.c");
    ck_assert_str_eq(mp_display_path("/elsewhere/a.c", "/home/u/proj"), "/elsewhere/a.c");
    /* the path equal to cwd is not under it: shown unchanged, never empty */
    ck_assert_str_eq(mp_display_path("/home/u/proj", "/home/u/proj"), "/home/u/proj");
    /* no cwd */
    ck_assert_str_eq(mp_display_path("/a/b.c", NULL), "/a/b.c");
    ck_assert_str_eq(mp_display_path("/a/b.c", ""), "/a/b.c");
    ck_assert_ptr_null(mp_display_path(NULL, "/a"));
    /* a relative path is left alone */
    ck_assert_str_eq(mp_display_path("a/b.c", "/a"), "a/b.c");
    /* cwd "/": every absolute path lies under it */
    ck_assert_str_eq(mp_display_path("/src/a.c", "/"), "src/a.c");
}
END_TEST


/* ------------------------------------------------------------------------ */
/* The views (--show)                                                         */
/* ------------------------------------------------------------------------ */

static char *views_text(const struct mp_profile *p, unsigned show, int stable, size_t top)
{
    struct mp_sources *src = load_sources(p);
    struct mp_report_run run = default_run();
    struct mp_report_options opt = { .cwd = dir, .precision = 1, .top_lines = top, .stable = stable, .show = show };
    char *got = text_report(p, &run, src, &opt);
    mp_sources_free(src);
    return got;
}

/* build_profile() in each view, --stable (exact bytes); every number comes
 * from the events E1..E9 listed there. */
START_TEST(views_text_exact)
{
    struct mp_profile *p = build_profile();
    char *got = views_text(p, MP_VIEW_CALLS | MP_VIEW_LARGEST | MP_VIEW_SIZES | MP_VIEW_THREADS | MP_VIEW_TREE, 1, 0);
    expect_text(got,
                "memprof: ./app arg  (exit status 0)\n"
                /* by calls; the ties in the bytes order */
                "\nTop lines by allocation calls\n"
                "       calls    allocated    temporary   line\n"
                "           2      1,024 B            0   app.c:9 (main)\n"
                "           1  1,572,864 B            0   libfoo.so+0x40 (/usr/lib/libfoo.so)\n"
                "           1      4,096 B            0   app.c:4 (make)\n"
                "           1      4,096 B            0   /zzz-memprof-missing/gone.c:3 (other)\n"
                "           1      1,024 B            0   app.c:10 (main)\n"
                /* by size; the two 4 KiB entries by stack (s1 before s3) */
                "\nLargest allocations (single blocks by size; calls of that size from that stack)\n"
                "  1 call of 1,572,864 B (0 live at exit) from:\n"
                "      -> libfoo.so+0x40 (/usr/lib/libfoo.so)\n"
                "  1 call of 4,096 B (0 live at exit) from:\n"
                "      at malloc (/lib/x86_64-linux-gnu/libc.so.6)\n"
                "      -> app.c:4 (make)\n"
                "      at app.c:8 (main)\n"
                "  1 call of 4,096 B (1 live at exit) from:\n"
                "      -> /zzz-memprof-missing/gone.c:3 (other)\n"
                "  1 call of 1,024 B (1 live at exit) from:\n"
                "      at malloc (/lib/x86_64-linux-gnu/libc.so.6)\n"
                "      -> app.c:10 (main)\n"
                "  2 calls of 512 B (2 live at exit) from:\n"
                "      at malloc (/lib/x86_64-linux-gnu/libc.so.6)\n"
                "      -> app.c:9 (main)\n"
                /* 512 x2, 1024, 4096 x2, 1.5 MiB; bars: 30 # for the fullest (2 calls), 15 for 1 call */
                "\nAllocation sizes (requested bytes in power-of-two buckets: from <= size < below)\n"
                "        from        below        calls    allocated\n"
                "       512 B      1,024 B            2      1,024 B   ##############################\n"
                "     1,024 B      2,048 B            1      1,024 B   ###############\n"
                "     4,096 B      8,192 B            2      8,192 B   ##############################\n"
                " 1,048,576 B  2,097,152 B            1  1,572,864 B   ###############\n"
                /* one thread (tid 1, not shown with --stable) */
                "\nThreads (numbered in the order memprof first saw them)\n"
                "thread        calls    allocated      at peak    most held live at exit\n"
                "     1            6  1,583,104 B  1,579,008 B  1,579,008 B      6,144 B\n"
                "  Thread 1 held the most when the heap reached its peak: 1,579,008 B of 1,579,008 B (100.0%)\n"
                /* roots: main's lines, and the stacks without main from their outermost frame;
                 * shares of 1,583,104: 99.35%, 0.26%, 0.06% */
                "\nCall tree (top-down from main and thread start routines: what each call site allocated, "
                "itself and through its callees)\n"
                "   allocated   share        calls      at peak   call site\n"
                " 1,572,864 B   99.4%            1  1,572,864 B   libfoo.so+0x40 (/usr/lib/libfoo.so)\n"
                "     4,096 B    0.3%            1          0 B   app.c:8 (main)\n"
                /* main:8 only calls make: the same chain, numbers blank */
                "                                                 app.c:4 (make)\n"
                "     4,096 B    0.3%            1      4,096 B   /zzz-memprof-missing/gone.c:3 (other)\n"
                "     1,024 B    0.1%            2      1,024 B   app.c:9 (main)\n"
                "     1,024 B    0.1%            1      1,024 B   app.c:10 (main)\n"
                "\n"
                "Notes\n"
                "  1 free of a block allocated before profiling started was not counted\n"
                "  1 allocation had a stack deeper than 48 frames: outer callers are not charged\n");
    free(got);
    /* --top 2: two roots, then one row for the rest; children below 1% of the bytes fold too */
    got = views_text(p, MP_VIEW_TREE, 1, 2);
    char *tree = text_between(got, "\nCall tree", "\n\nNotes");
    expect_text(tree, "\nCall tree (top-down from main and thread start routines: what each call site allocated, "
                      "itself and through its callees)\n"
                      "   allocated   share        calls      at peak   call site\n"
                      " 1,572,864 B   99.4%            1  1,572,864 B   libfoo.so+0x40 (/usr/lib/libfoo.so)\n"
                      /* 4096 + 4096 + 1024 + 1024 = 10,240 in 5 calls, 6,144 at the peak */
                      "    10,240 B    0.6%            5      6,144 B   (4 more call sites; --top=0 shows all)");
    free(tree);
    free(got);
    mp_profile_free(p);
}
END_TEST

START_TEST(views_callers_text)
{
    struct mp_profile *p = build_profile();
    struct mp_sources *src = load_sources(p);
    struct mp_report_run run = default_run();
    const char *const callers[] = { "make", "app.c:4", "gone.c:3", "app.c:99", "nothing_here" };
    struct mp_report_options opt = { .cwd = dir, .precision = 1, .top_lines = 0, .stable = 1, .show = MP_VIEW_SUMMARY,
                                      .callers = callers, .n_callers = 5 };
    char *got = text_report(p, &run, src, &opt);
    char *part = text_between(got, "\nCallers of make:", "\n\nNotes");
    expect_text(part, "\nCallers of make: 4,096 B in 1 call\n"
                      "   allocated   share        calls      at peak   caller\n"
                      "     4,096 B  100.0%            1          0 B   app.c:8 (main)\n"
                      /* one line named: shown by its place */
                      "\nCallers of app.c:4 (make): 4,096 B in 1 call\n"
                      "   allocated   share        calls      at peak   caller\n"
                      "     4,096 B  100.0%            1          0 B   app.c:8 (main)\n"
                      "\nCallers of /zzz-memprof-missing/gone.c:3 (other): 4,096 B in 1 call\n"
                      "  (no caller inside the program: its stacks start here, in main, a thread or unknown code)\n"
                      "\nCallers of app.c:99: no allocation went through it (lines of app.c that allocated: 4, 8, 9, "
                      "10)\n"
                      "\nCallers of nothing_here: no allocation went through it (no allocation went through a "
                      "function of that name)");
    free(part);
    char err[512];
    ck_assert_uint_eq(mp_unmatched_callers(p, &opt, err, sizeof err), 2);
    ck_assert_str_eq(err, "--callers app.c:99: no allocation went through that line (lines of app.c that "
                          "allocated: 4, 8, 9, 10)");
    free(got);
    mp_sources_free(src);
    mp_profile_free(p);
}
END_TEST

/* build_temporaries_profile's samples: 1 ms, 250 ms, 1.234567890 s, 2 s, with 1, 2, 3 and 5
 * allocations (100, 400, 2448, 2558 bytes) made by then. */
START_TEST(views_rate_text)
{
    struct mp_profile *p = build_temporaries_profile();
    char *got = views_text(p, MP_VIEW_RATE, 0, 0);
    char *rate = text_between(got, "\nAllocation rate", NULL); /* no notes: none is about the rate */
    expect_text(rate, "\nAllocation rate (the run in 3 slices between RSS samples)\n"
                      "      from         to        calls      calls/s      bytes/s  heap at end\n"
                      /* 1 call, 300 B in 0.249 s: 4.0/s, 1,205 B/s */
                      "    0.001s     0.250s            1            4    1.2 KiB/s        300 B\n"
                      /* 1 call, 2,048 B in 0.984568 s (the saved report's microseconds) */
                      "    0.250s     1.235s            1            1    2.0 KiB/s      2.3 KiB\n"
                      /* 2 calls, 110 B in 0.765432 s: 2.6/s, 143.7 B/s */
                      "    1.235s     2.000s            2            3      144 B/s          0 B\n");
    free(rate);
    free(got);
    got = views_text(p, MP_VIEW_RATE, 1, 0);
    ck_assert_ptr_nonnull(strstr(got, "\nAllocation rate: left out with --stable (times vary from run to run)\n"));
    free(got);
    mp_profile_free(p);

    /* A saved report can say anything (the fuzzer found these): counts of 2^62 in a microsecond,
     * time and counts going backwards.  Rates are clamped, slices never negative. */
    p = mp_profile_new(NULL, NULL);
    const struct mp_sample hostile[] = { { 0, 4096, 0, 0, 0, 0 },
                                         { 1000, 4096, 0, (uint64_t)1 << 62, (uint64_t)1 << 62, 0 },
                                         { 500, 4096, 0, 5, 5, 0 } };
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(mp_profile_restore_sample(p, &hostile[i]), 0);
    got = views_text(p, MP_VIEW_RATE, 0, 0);
    rate = text_between(got, "\nAllocation rate", NULL);
    expect_text(rate, "\nAllocation rate (the run in 2 slices between RSS samples)\n"
                      "      from         to        calls      calls/s      bytes/s  heap at end\n"
                      "    0.000s     0.000s 4,611,686,018,427,387,904 18,446,744,073,709,551,615 8388608.0 TiB/s"
                      "          0 B\n"
                      "    0.000s     0.000s            0            0        0 B/s          0 B\n");
    free(rate);
    free(got);
    mp_profile_free(p);
}
END_TEST

/* The case: two runs that differ by one byte.  Rounded sizes hide
 * it (both "15.6 KiB" everywhere); --stable's exact bytes show it, so a
 * text diff of two --stable reports cannot miss a change. */
START_TEST(stable_reports_show_one_byte)
{
    static const uint64_t s2[] = { 0x400, 0x300 };
    struct mp_profile *a = mp_profile_new(fake_resolve, NULL), *b = mp_profile_new(fake_resolve, NULL);
    ev_alloc(a, 0x10, 15984, s2, 2, 0);
    ev_alloc(b, 0x10, 15985, s2, 2, 0);
    char *ra = views_text(a, MP_VIEWS_ALL, 0, 0), *rb = views_text(b, MP_VIEWS_ALL, 0, 0);
    ck_assert_str_eq(ra, rb); /* rounded: the same text */
    free(ra);
    free(rb);
    ra = views_text(a, MP_VIEWS_ALL, 1, 0);
    rb = views_text(b, MP_VIEWS_ALL, 1, 0);
    ck_assert_str_ne(ra, rb);
    ck_assert_ptr_nonnull(strstr(ra, "\n  allocations        1 call, 15,984 B\n"));
    ck_assert_ptr_nonnull(strstr(rb, "\n  allocations        1 call, 15,985 B\n"));
    /* and no rounded size is left anywhere in a --stable report */
    ck_assert_ptr_null(strstr(ra, "KiB"));
    ck_assert_ptr_null(strstr(ra, "MiB"));
    free(ra);
    free(rb);
    mp_profile_free(a);
    mp_profile_free(b);
}
END_TEST

START_TEST(show_and_callers_options)
{
    unsigned v;
    char err[512];
    ck_assert_int_eq(mp_parse_show("summary,tree", &v, err, sizeof err), 0);
    ck_assert_uint_eq(v, MP_VIEW_SUMMARY | MP_VIEW_TREE);
    ck_assert_int_eq(mp_parse_show("all", &v, err, sizeof err), 0);
    ck_assert_uint_eq(v, MP_VIEWS_ALL);
    ck_assert_int_eq(mp_parse_show("default", &v, err, sizeof err), 0);
    ck_assert_uint_eq(v, MP_VIEWS_DEFAULT);
    ck_assert_int_eq(mp_parse_show("+tree,-tables,+sizes", &v, err, sizeof err), 0);
    ck_assert_uint_eq(v, (MP_VIEWS_DEFAULT | MP_VIEW_TREE | MP_VIEW_SIZES) & ~MP_VIEW_TABLES);
    ck_assert_int_eq(mp_parse_show("tables,summary,calls,peak,leaks,temporary,largest,sizes,threads,rate,tree,"
                                   "callers,rss,top", &v, err, sizeof err), 0);
    ck_assert_uint_eq(v, MP_VIEWS_ALL);
    ck_assert_int_eq(mp_parse_show("", &v, err, sizeof err), -1);
    ck_assert_int_eq(mp_parse_show("bogus", &v, err, sizeof err), -1);
    ck_assert_str_eq(err, "--show: unknown view 'bogus' (views: summary, top, calls, peak, leaks, temporary, largest, "
                          "sizes, threads, rate, tree, callers, rss, tables; all; +VIEW or -VIEW changes the default)");
    ck_assert_int_eq(mp_parse_show("tree,,sizes", &v, err, sizeof err), -1);
    ck_assert_int_eq(mp_parse_show("tree,", &v, err, sizeof err), -1);
    ck_assert_int_eq(mp_parse_show("tree,+sizes", &v, err, sizeof err), -1);
    ck_assert_str_eq(err, "--show: '+sizes': give either a list of views or +VIEW/-VIEW changes to the default, not "
                          "both");
    ck_assert_int_eq(mp_parse_show("-summary,-top,-peak,-leaks,-temporary,-rss,-tables", &v, err, sizeof err), -1);
    ck_assert_str_eq(err, "--show: '-summary,-top,-peak,-leaks,-temporary,-rss,-tables' leaves no view to show");

    ck_assert_int_eq(mp_check_callers_spec("app.c:24", err, sizeof err), 0);
    ck_assert_int_eq(mp_check_callers_spec("src/app.c:24", err, sizeof err), 0);
    ck_assert_int_eq(mp_check_callers_spec("make_record", err, sizeof err), 0);
    ck_assert_int_eq(mp_check_callers_spec("ns::Table::insert", err, sizeof err), 0);
    const char *bad[] = { "", "app.c:", "app.c:0", ":12", "app.c:99999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(mp_check_callers_spec(bad[i], err, sizeof err) == -1, "'%s' accepted", bad[i]);
        char want[128];
        snprintf(want, sizeof want, "--callers takes FILE:LINE (such as app.c:24) or a function name, not '%s'",
                 bad[i]);
        ck_assert_str_eq(err, want);
    }
}
END_TEST

int main(void)
{
    if (make_dir() != 0)
        return 1;
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("text");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, text_report_exact);
    tcase_add_test(tc, text_report_precision_3);
    tcase_add_test(tc, text_report_absolute_paths_without_cwd);
    tcase_add_test(tc, text_report_limits);
    tcase_add_test(tc, text_report_signal_note_warnings);
    tcase_add_test(tc, text_report_reused_note_and_counts);
    tcase_add_test(tc, text_report_write_error);
    tcase_add_test(tc, text_report_temporaries_and_rss_at_exit);
    tcase_add_test(tc, leaks_biggest_stacks_text_and_json);
    suite_add_tcase(s, tc);
    tc = tcase_create("tables");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, tables_model);
    tcase_add_test(tc, tables_order_by_bytes_then_file_then_function);
    tcase_add_test(tc, top_lines_order);
    suite_add_tcase(s, tc);
    tc = tcase_create("json");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, json_report_fields);
    tcase_add_test(tc, json_escaping_signal_and_empty);
    tcase_add_test(tc, json_peak_leaks_timeline_rss);
    suite_add_tcase(s, tc);
    tc = tcase_create("views");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, views_text_exact);
    tcase_add_test(tc, views_callers_text);
    tcase_add_test(tc, views_rate_text);
    tcase_add_test(tc, show_and_callers_options);
    tcase_add_test(tc, stable_reports_show_one_byte);
    suite_add_tcase(s, tc);
    tc = tcase_create("format");
    tcase_add_test(tc, format_size);
    tcase_add_test(tc, format_count);
    tcase_add_test(tc, display_path);
    suite_add_tcase(s, tc);
    int failed = run_suite(s);
    remove_dir();
    return failed;
}
