/* memprof tests: the exact peak heap, leaks, temporary allocations and the
 * RSS timeline, end to end.  tests/fixtures/peak*.c carry their expected
 * numbers as annotations (grammar: tests/fixtures/README, sections 1 and 4);
 * this program builds each fixture for each @build line, runs it under
 * memprof --json and compares every annotation exactly.  Cross-checks run
 * valgrind itself: massif's exact peak and memcheck's "in use at exit" must
 * equal memprof's peak heap and leaks on the fixtures. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Annotations                                                                */
/* ------------------------------------------------------------------------ */

/* Section 4's own rules: at most one annotation of a kind on a line, and
 * the totals of both kinds. */
static void parse_fixture(const char *name, struct fixture_spec *f)
{
    fixture_parse(name, f);
    for (int i = 0; i < f->n_lines; i++) {
        const struct fixture_line *a = &f->lines[i];
        ck_assert_msg(a->has_expect <= 1, "%s:%d: two @expect", f->name, a->line);
        ck_assert_msg(a->has_peak <= 1, "%s:%d: two @peak", f->name, a->line);
        ck_assert_msg(a->has_leak <= 1, "%s:%d: two @leak", f->name, a->line);
        ck_assert_msg(a->has_temporary <= 1, "%s:%d: two @temporary", f->name, a->line);
    }
    ck_assert_msg(f->has_total && f->has_peaktotal, "%s: needs @total and @peaktotal", name);
}

/* ------------------------------------------------------------------------ */
/* memprof's JSON, flattened by python3 (which also proves it is valid JSON)  */
/* ------------------------------------------------------------------------ */

struct jline {
    char file[512], function[256];
    int line;
    uint64_t alloc_calls, allocated_bytes, free_calls, freed_bytes;
    uint64_t peak_bytes, leaked_bytes, leaked_blocks, temporary_calls;
};

struct jframe {
    char file[512], function[256];
    int line;
    int stack;      /* -1: the peak's stack; k: leaks[k] */
};

struct jsample {
    uint64_t ms, rss, heap;
};

struct jreport {
    uint64_t peak_heap, leaked_bytes, leaked_blocks, temporary_calls;
    uint64_t alloc_calls, allocated_bytes, free_calls, events_lost, peak_rss;
    int has_peak;
    uint64_t peak_heap_bytes;
    struct jframe reached;
    struct jline *lines;
    size_t n_lines;
    struct jframe *frames;
    size_t n_frames;
    uint64_t leak_bytes[64], leak_blocks[64];
    size_t n_leaks;
    struct jsample *samples;
    size_t n_samples;
    int rss_at_exit_valid;
};

static const char flatten_py[] =
    "import json, sys\n"
    "d = json.load(open(sys.argv[1]))\n"
    "def f(x): return '-' if x is None else str(x)\n"
    "def o(*a): print('\\t'.join(str(x) for x in a))\n"
    "s = d['summary']\n"
    "o('S', s['peak_heap_bytes'], s['leaked_bytes'], s['leaked_blocks'], s['temporary_calls'], s['alloc_calls'],\n"
    "  s['allocated_bytes'], s['free_calls'], s['events_lost'], s['peak_rss_bytes'])\n"
    "for l in d['lines']:\n"
    "    o('L', f(l['file']), l['line'], l['function'], l['alloc_calls'], l['allocated_bytes'], l['free_calls'],\n"
    "      l['freed_bytes'], l['peak_bytes'], l['leaked_bytes'], l['leaked_blocks'], l['temporary_calls'])\n"
    "p = d['peak']\n"
    "if p is not None:\n"
    "    r = p['reached_at']\n"
    "    o('P', p['heap_bytes'], f(r['file']), r['line'], r['function'])\n"
    "    for fr in p['stack']:\n"
    "        o('F', -1, f(fr['file']), fr['line'], fr['function'])\n"
    "for k, lk in enumerate(d['leaks']):\n"
    "    o('K', lk['bytes'], lk['blocks'])\n"
    "    for fr in lk['stack']:\n"
    "        o('F', k, f(fr['file']), fr['line'], fr['function'])\n"
    "for t in d['timeline']:\n"
    "    assert len(t) == 3, t\n"
    "    o('T', round(t[0] * 1000), t[1], t[2])\n"
    "o('R', 0 if d['rss_at_exit'] is None else 1)\n";

static void jreport_free(struct jreport *r)
{
    free(r->lines);
    free(r->frames);
    free(r->samples);
    memset(r, 0, sizeof *r);
}

/* Splits a tab-separated record in place. */
static int split_tabs(char *s, char **out, int max)
{
    int n = 0;
    while (n < max) {
        out[n++] = s;
        char *t = strchr(s, '\t');
        if (!t)
            break;
        *t = '\0';
        s = t + 1;
    }
    return n;
}

static uint64_t u64(const char *s)
{
    return strtoull(s, NULL, 10);
}

static void read_report(const char *json_path, struct jreport *r)
{
    memset(r, 0, sizeof *r);
    char *argv[] = { "python3", "-c", (char *)flatten_py, (char *)json_path, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_msg(o.status == 0, "python3 could not read %s (%d): %.2000s", json_path, o.status, o.err);
    size_t cap_lines = 0, cap_frames = 0, cap_samples = 0;
    int seen_summary = 0;
    for (char *line = o.out; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *v[16];
        int n = split_tabs(line, v, 16);
        if (strcmp(v[0], "S") == 0 && n == 10) {
            seen_summary = 1;
            r->peak_heap = u64(v[1]);
            r->leaked_bytes = u64(v[2]);
            r->leaked_blocks = u64(v[3]);
            r->temporary_calls = u64(v[4]);
            r->alloc_calls = u64(v[5]);
            r->allocated_bytes = u64(v[6]);
            r->free_calls = u64(v[7]);
            r->events_lost = u64(v[8]);
            r->peak_rss = u64(v[9]);
        } else if (strcmp(v[0], "L") == 0 && n == 12) {
            if (r->n_lines == cap_lines)
                r->lines = realloc(r->lines, (cap_lines = cap_lines ? 2 * cap_lines : 64) * sizeof *r->lines);
            struct jline *l = &r->lines[r->n_lines++];
            snprintf(l->file, sizeof l->file, "%s", v[1]);
            l->line = atoi(v[2]);
            snprintf(l->function, sizeof l->function, "%s", v[3]);
            l->alloc_calls = u64(v[4]);
            l->allocated_bytes = u64(v[5]);
            l->free_calls = u64(v[6]);
            l->freed_bytes = u64(v[7]);
            l->peak_bytes = u64(v[8]);
            l->leaked_bytes = u64(v[9]);
            l->leaked_blocks = u64(v[10]);
            l->temporary_calls = u64(v[11]);
        } else if (strcmp(v[0], "P") == 0 && n == 5) {
            r->has_peak = 1;
            r->peak_heap_bytes = u64(v[1]);
            snprintf(r->reached.file, sizeof r->reached.file, "%s", v[2]);
            r->reached.line = atoi(v[3]);
            snprintf(r->reached.function, sizeof r->reached.function, "%s", v[4]);
        } else if (strcmp(v[0], "F") == 0 && n == 5) {
            if (r->n_frames == cap_frames)
                r->frames = realloc(r->frames, (cap_frames = cap_frames ? 2 * cap_frames : 64) * sizeof *r->frames);
            struct jframe *fr = &r->frames[r->n_frames++];
            fr->stack = atoi(v[1]);
            snprintf(fr->file, sizeof fr->file, "%s", v[2]);
            fr->line = atoi(v[3]);
            snprintf(fr->function, sizeof fr->function, "%s", v[4]);
        } else if (strcmp(v[0], "K") == 0 && n == 3) {
            ck_assert_uint_lt(r->n_leaks, 64);
            r->leak_bytes[r->n_leaks] = u64(v[1]);
            r->leak_blocks[r->n_leaks] = u64(v[2]);
            r->n_leaks++;
        } else if (strcmp(v[0], "T") == 0 && n == 4) {
            if (r->n_samples == cap_samples)
                r->samples =
                    realloc(r->samples, (cap_samples = cap_samples ? 2 * cap_samples : 256) * sizeof *r->samples);
            r->samples[r->n_samples++] = (struct jsample){ u64(v[1]), u64(v[2]), u64(v[3]) };
        } else if (strcmp(v[0], "R") == 0 && n == 2) {
            r->rss_at_exit_valid = atoi(v[1]);
        } else {
            ck_abort_msg("unexpected record from the JSON: %s", v[0]);
        }
        line = nl ? nl + 1 : NULL;
    }
    run_output_free(&o);
    ck_assert(seen_summary);
}

static void run_memprof(const char *exe, const char *json, const char *text, const char *interval)
{
    struct run_output o;
    char *argv[12];
    int k = 0;
    argv[k++] = (char *)memprof_path();
    argv[k++] = "--json";
    argv[k++] = (char *)json;
    if (text) {
        argv[k++] = "-o";
        argv[k++] = (char *)text;
    }
    if (interval) {
        argv[k++] = "--interval";
        argv[k++] = (char *)interval;
    }
    argv[k++] = (char *)exe;
    argv[k] = NULL;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    ck_assert_msg(o.status == 0, "memprof %s: status %d\n%.2000s", exe, o.status, o.err);
    run_output_free(&o);
}

/* ------------------------------------------------------------------------ */
/* The fixtures, annotation by annotation                                     */
/* ------------------------------------------------------------------------ */

struct per_line {
    uint64_t alloc_calls, allocated_bytes, free_calls, freed_bytes;
    uint64_t peak_bytes, leaked_bytes, leaked_blocks, temporary_calls;
};

static void check_build(const struct fixture_spec *f, int b)
{
    char tag[128], rel[256], json[4096], text[4096];
    fixture_tag(tag, sizeof tag, "peak_", f->name, b);
    snprintf(rel, sizeof rel, "tests/fixtures/%s", f->name);
    const char *exe = build_fixture(rel, f->builds[b][0], f->builds[b][1], tag);
    ck_assert_ptr_nonnull(exe);
    snprintf(json, sizeof json, "%s/%s.json", test_tmp_dir(), tag);
    snprintf(text, sizeof text, "%s/%s.txt", test_tmp_dir(), tag);
    run_memprof(exe, json, text, NULL);
    static struct jreport r;
    read_report(json, &r);
    const char *name = f->name, *where = f->builds[b][1];

    /* Totals. */
    ck_assert_uint_eq(r.events_lost, 0);
    ck_assert_msg(r.alloc_calls == f->total_calls && r.allocated_bytes == f->total_bytes &&
                      r.free_calls == f->total_frees,
                  "%s [%s]: totals %" PRIu64 " calls %" PRIu64 " bytes %" PRIu64 " frees, expected %" PRIu64
                  " %" PRIu64 " %" PRIu64,
                  name, where, r.alloc_calls, r.allocated_bytes, r.free_calls, f->total_calls, f->total_bytes,
                  f->total_frees);
    ck_assert_msg(r.peak_heap == f->peak_heap, "%s [%s]: peak heap %" PRIu64 ", expected %" PRIu64, name, where,
                  r.peak_heap, f->peak_heap);
    ck_assert_msg(r.leaked_bytes == f->leaked_bytes && r.leaked_blocks == f->leaked_blocks,
                  "%s [%s]: leaked %" PRIu64 " bytes in %" PRIu64 " blocks, expected %" PRIu64 " in %" PRIu64,
                  name, where, r.leaked_bytes, r.leaked_blocks, f->leaked_bytes, f->leaked_blocks);
    ck_assert_msg(r.temporary_calls == f->temporary_calls, "%s [%s]: temporary %" PRIu64 ", expected %" PRIu64,
                  name, where, r.temporary_calls, f->temporary_calls);

    /* Per line: sum the records of each fixture line (a line may appear
     * once per function, e.g. an inlined helper). */
    static struct per_line by_line[4096];
    memset(by_line, 0, sizeof by_line);
    uint64_t sum_peak = 0, sum_leaked = 0, sum_leaked_blocks = 0, sum_temp = 0;
    uint64_t attributed_calls = 0, attributed_bytes = 0;
    for (size_t i = 0; i < r.n_lines; i++) {
        const struct jline *l = &r.lines[i];
        sum_peak += l->peak_bytes;
        sum_leaked += l->leaked_bytes;
        sum_leaked_blocks += l->leaked_blocks;
        sum_temp += l->temporary_calls;
        /* per-line sanity: what a line holds never exceeds what it allocated */
        ck_assert_uint_le(l->peak_bytes, l->allocated_bytes);
        ck_assert_uint_le(l->leaked_bytes + l->freed_bytes, l->allocated_bytes);
        ck_assert_uint_le(l->temporary_calls, l->free_calls);
        ck_assert_uint_eq(l->leaked_blocks + l->free_calls, l->alloc_calls);
        if (!fixture_file_is(l->file, name))
            continue;
        ck_assert_msg(l->line > 0 && l->line < 4096, "%s: line %d", name, l->line);
        struct per_line *pl = &by_line[l->line];
        pl->alloc_calls += l->alloc_calls;
        pl->allocated_bytes += l->allocated_bytes;
        pl->free_calls += l->free_calls;
        pl->freed_bytes += l->freed_bytes;
        pl->peak_bytes += l->peak_bytes;
        pl->leaked_bytes += l->leaked_bytes;
        pl->leaked_blocks += l->leaked_blocks;
        pl->temporary_calls += l->temporary_calls;
        attributed_calls += l->alloc_calls;
        attributed_bytes += l->allocated_bytes;
    }
    /* Every allocation has one self line, so the lines add up to the totals. */
    ck_assert_msg(sum_peak == r.peak_heap, "%s [%s]: lines hold %" PRIu64 " at the peak, the peak is %" PRIu64, name,
                  where, sum_peak, r.peak_heap);
    ck_assert_uint_eq(sum_leaked, r.leaked_bytes);
    ck_assert_uint_eq(sum_leaked_blocks, r.leaked_blocks);
    ck_assert_uint_eq(sum_temp, r.temporary_calls);
    ck_assert_uint_eq(r.alloc_calls - attributed_calls, f->unattributed_calls);
    ck_assert_uint_eq(r.allocated_bytes - attributed_bytes, f->unattributed_bytes);

    for (int ln = 1; ln < 4096; ln++) {
        const struct per_line *o = &by_line[ln];
        const struct fixture_line *a = fixture_line_at(f, ln);
        /* Completeness: in a file with annotations of a kind, every line
         * with a non-zero value of that kind carries one. */
        if (o->alloc_calls && f->n_expect)
            ck_assert_msg(a && a->has_expect, "%s [%s]: line %d allocates, no @expect", name, where, ln);
        if (o->peak_bytes && f->n_peak)
            ck_assert_msg(a && a->has_peak, "%s [%s]: line %d holds %" PRIu64 " at the peak, no @peak", name, where,
                          ln, o->peak_bytes);
        if ((o->leaked_bytes || o->leaked_blocks) && f->n_leak)
            ck_assert_msg(a && a->has_leak, "%s [%s]: line %d leaks %" PRIu64 ", no @leak", name, where, ln,
                          o->leaked_bytes);
        if (o->temporary_calls && f->n_temporary)
            ck_assert_msg(a && a->has_temporary, "%s [%s]: line %d has %" PRIu64 " temporaries, no @temporary",
                          name, where, ln, o->temporary_calls);
        if (!a)
            continue;
        if (a->has_expect)
            ck_assert_msg(o->alloc_calls == a->alloc_calls && o->allocated_bytes == a->allocated_bytes &&
                              o->free_calls == a->free_calls && o->freed_bytes == a->freed_bytes,
                          "%s [%s]: line %d: got calls=%" PRIu64 " bytes=%" PRIu64 " frees=%" PRIu64
                          " freed=%" PRIu64 ", expected %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64,
                          name, where, ln, o->alloc_calls, o->allocated_bytes, o->free_calls, o->freed_bytes,
                          a->alloc_calls, a->allocated_bytes, a->free_calls, a->freed_bytes);
        if (a->has_peak)
            ck_assert_msg(o->peak_bytes == a->peak_bytes,
                          "%s [%s]: line %d held %" PRIu64 " at the peak, expected %" PRIu64, name, where, ln,
                          o->peak_bytes, a->peak_bytes);
        if (a->has_leak)
            ck_assert_msg(o->leaked_bytes == a->leak_bytes && o->leaked_blocks == a->leak_blocks,
                          "%s [%s]: line %d leaked %" PRIu64 " in %" PRIu64 ", expected %" PRIu64 " in %" PRIu64,
                          name, where, ln, o->leaked_bytes, o->leaked_blocks, a->leak_bytes, a->leak_blocks);
        if (a->has_temporary)
            ck_assert_msg(o->temporary_calls == a->temporary_calls,
                          "%s [%s]: line %d: %" PRIu64 " temporaries, expected %" PRIu64, name, where, ln,
                          o->temporary_calls, a->temporary_calls);
    }

    /* The peak: where it was reached, and its stack: innermost first, the
     * reaching line, then the caller's line in main. */
    ck_assert(r.has_peak);
    ck_assert_uint_eq(r.peak_heap_bytes, r.peak_heap);
    ck_assert_msg(fixture_file_is(r.reached.file, name) && r.reached.line == f->reached_line,
                  "%s [%s]: peak reached at %s:%d, expected line %d", name, where, r.reached.file, r.reached.line,
                  f->reached_line);
    int reached_at = -1, caller_at = -1, k = 0;
    for (size_t i = 0; i < r.n_frames; i++) {
        const struct jframe *fr = &r.frames[i];
        if (fr->stack != -1)
            continue;
        if (reached_at < 0 && fixture_file_is(fr->file, name) && fr->line == f->reached_line)
            reached_at = k;
        if (caller_at < 0 && fixture_file_is(fr->file, name) && fr->line == f->caller_line &&
            strcmp(fr->function, "main") == 0)
            caller_at = k;
        k++;
    }
    ck_assert_msg(reached_at >= 0 && caller_at > reached_at, "%s [%s]: peak stack: line %d at frame %d, main:%d at %d",
                  name, where, f->reached_line, reached_at, f->caller_line, caller_at);
    /* No frame of the fixture is inside the allocator: the reaching line is the first fixture frame. */
    for (size_t i = 0; i < r.n_frames; i++)
        if (r.frames[i].stack == -1 && fixture_file_is(r.frames[i].file, name)) {
            ck_assert_int_eq(r.frames[i].line, f->reached_line);
            break;
        }

    /* Leaks: the biggest stacks first; with at most 10 stacks they are all
     * there and add up to the leaked totals; each one's first fixture frame is
     * a line with an @leak. */
    ck_assert_uint_le(r.n_leaks, 10);
    uint64_t lb = 0, lk = 0;
    for (size_t i = 0; i < r.n_leaks; i++) {
        lb += r.leak_bytes[i];
        lk += r.leak_blocks[i];
        if (i)
            ck_assert_uint_ge(r.leak_bytes[i - 1], r.leak_bytes[i]);
        int found = 0;
        for (size_t j = 0; j < r.n_frames && !found; j++)
            if (r.frames[j].stack == (int)i && fixture_file_is(r.frames[j].file, name)) {
                const struct fixture_line *a = fixture_line_at(f, r.frames[j].line);
                ck_assert_msg(a && a->has_leak, "%s [%s]: leak stack %zu starts at line %d, which has no @leak",
                              name, where, i, r.frames[j].line);
                found = 1;
            }
        ck_assert_msg(found || f->unattributed_calls, "%s [%s]: leak stack %zu has no frame in the fixture", name,
                      where, i);
    }
    if (r.n_leaks < 10) {
        ck_assert_uint_eq(lb, r.leaked_bytes);
        ck_assert_uint_eq(lk, r.leaked_blocks);
    }

    /* The text report says the same. */
    char *txt = read_file(text, NULL);
    ck_assert_ptr_nonnull(txt);
    char want[600];
    snprintf(want, sizeof want, "\n  temporary          %" PRIu64 " calls\n", f->temporary_calls);
    ck_assert_msg(strstr(txt, want) != NULL, "%s [%s]: no [%s] in the text report", name, where, want);
    snprintf(want, sizeof want, ":%d (%s)\n", f->reached_line, r.reached.function);
    const char *summary_peak = strstr(txt, "\n  peak heap          ");
    ck_assert_ptr_nonnull(summary_peak);
    const char *eol = strchr(summary_peak + 1, '\n');
    ck_assert_msg(eol && (size_t)(eol + 1 - summary_peak) > strlen(want) &&
                      strncmp(eol + 1 - strlen(want), want, strlen(want)) == 0,
                  "%s [%s]: summary peak line does not end with [%s]", name, where, want);
    ck_assert_ptr_nonnull(strstr(txt, "\nLines holding the peak\n"));
    ck_assert_ptr_nonnull(strstr(txt, f->leaked_blocks ? "\nLeaks: " : "\nLeaks: none (every block was freed)\n"));
    free(txt);
    jreport_free(&r);
}

static void check_fixture(const char *name)
{
    static struct fixture_spec f;
    parse_fixture(name, &f);
    for (int b = 0; b < f.n_builds; b++)
        check_build(&f, b);
}

START_TEST(peak_c) { check_fixture("peak.c"); }
END_TEST

/* ------------------------------------------------------------------------ */
/* valgrind                                                                   */
/* ------------------------------------------------------------------------ */

/* Massif's exact peak: the largest mem_heap_B over the snapshots; the
 * snapshot marked heap_tree=peak, when there is one, must carry it. */
static uint64_t massif_peak(const char *exe, const char *tag)
{
    char out[4096], arg[4200];
    snprintf(out, sizeof out, "%s/massif_%s.out", test_tmp_dir(), tag);
    snprintf(arg, sizeof arg, "--massif-out-file=%s", out);
    char *argv[] = { "valgrind", "--tool=massif", "--peak-inaccuracy=0.0", "--heap-admin=0", arg, (char *)exe, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 300, &o), 0);
    ck_assert_msg(o.status == 0, "massif %s: %d\n%.2000s", tag, o.status, o.err);
    run_output_free(&o);
    char *text = read_file(out, NULL);
    ck_assert_msg(text != NULL, "no massif output %s", out);
    uint64_t max = 0, at_peak = 0;
    int snapshots = 0, peak_snapshots = 0;
    for (const char *p = text; (p = strstr(p, "mem_heap_B=")) != NULL; p++) {
        uint64_t v = strtoull(p + strlen("mem_heap_B="), NULL, 10);
        snapshots++;
        if (v > max)
            max = v;
        const char *tree = strstr(p, "heap_tree=");
        if (tree && strncmp(tree, "heap_tree=peak", 14) == 0) {
            const char *next = strstr(p + 1, "mem_heap_B=");
            if (!next || next > tree) {
                at_peak = v;
                peak_snapshots++;
            }
        }
    }
    free(text);
    ck_assert_int_gt(snapshots, 0);
    ck_assert_int_le(peak_snapshots, 1);
    if (peak_snapshots)
        ck_assert_msg(at_peak == max, "%s: massif's peak snapshot has %" PRIu64 ", its largest %" PRIu64, tag, at_peak,
                      max);
    return max;
}

/* Memcheck's "in use at exit: N bytes in M blocks", without freeres. */
static void memcheck_in_use(const char *exe, uint64_t *bytes, uint64_t *blocks)
{
    unsigned long long v[2];
    memcheck_numbers(exe, "in use at exit: ", v, 2, 0);
    *bytes = v[0];
    *blocks = v[1];
}

START_TEST(peak_and_leaks_equal_valgrinds)
{
    static const char *const builds[][4] = {
        { "tests/fixtures/peak.c", "gcc", "-O0 -g", "vgp_peak" },
        { "tests/fixtures/peak.c", "gcc", "-O2 -g", "vgp_peak_o2" },
        { "tests/fixtures/demo.c", "gcc", "-O0 -g", "vgp_demo" },
        { "tests/fixtures/cxx.cpp", "g++", "-O2 -g", "vgp_cxx" },
        { "tests/fixtures/threads.c", "gcc", "-O0 -g", "vgp_threads" },
    };
    for (size_t i = 0; i < sizeof builds / sizeof *builds; i++) {
        const char *tag = builds[i][3];
        const char *exe = build_fixture(builds[i][0], builds[i][1], builds[i][2], tag);
        ck_assert_ptr_nonnull(exe);
        uint64_t vg_peak = massif_peak(exe, tag), vg_bytes, vg_blocks;
        memcheck_in_use(exe, &vg_bytes, &vg_blocks);
        char json[4096];
        snprintf(json, sizeof json, "%s/%s.json", test_tmp_dir(), tag);
        run_memprof(exe, json, "/dev/null", NULL);
        static struct jreport r;
        read_report(json, &r);
        fprintf(stderr, "%s: peak memprof %" PRIu64 " massif %" PRIu64 "; leaked memprof %" PRIu64 " in %" PRIu64
                        ", memcheck %" PRIu64 " in %" PRIu64 "\n",
                tag, r.peak_heap, vg_peak, r.leaked_bytes, r.leaked_blocks, vg_bytes, vg_blocks);
        ck_assert_msg(r.leaked_bytes == vg_bytes && r.leaked_blocks == vg_blocks,
                      "%s: memprof leaked %" PRIu64 " bytes in %" PRIu64 " blocks, memcheck %" PRIu64 " in %" PRIu64,
                      tag, r.leaked_bytes, r.leaked_blocks, vg_bytes, vg_blocks);
        if (strstr(builds[i][0], "threads.c")) {
            /* valgrind runs one thread at a time, and here each worker runs to
             * its end before the next is scheduled: massif sees 8 DTVs
             * (2176) + the last worker's 10 x 256 = 4736, the least any
             * schedule can give (worker 7 starts after every DTV exists).
             * Natively workers may overlap, so memprof's peak is the same or
             * larger, and never more than everything allocated at once. */
            ck_assert_msg(r.peak_heap >= vg_peak && r.peak_heap <= 13696,
                          "%s: memprof peak %" PRIu64 ", massif %" PRIu64, tag, r.peak_heap, vg_peak);
        } else {
            ck_assert_msg(r.peak_heap == vg_peak, "%s: memprof peak %" PRIu64 ", massif %" PRIu64, tag, r.peak_heap,
                          vg_peak);
        }
        jreport_free(&r);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The RSS timeline                                                           */
/* ------------------------------------------------------------------------ */

START_TEST(rss_timeline_on_touch)
{
    const char *exe = build_fixture("tests/fixtures/touch.c", "gcc", "-O0 -g", "peak_touch");
    ck_assert_ptr_nonnull(exe);
    char json[4096];
    snprintf(json, sizeof json, "%s/peak_touch.json", test_tmp_dir());
    run_memprof(exe, json, "/dev/null", "1ms");
    static struct jreport r;
    read_report(json, &r);
    ck_assert_uint_eq(r.peak_heap, 67108864);
    ck_assert_uint_gt(r.peak_rss, 67108864);
    ck_assert_msg(r.n_samples >= 2, "%zu samples", r.n_samples);
    for (size_t i = 0; i < r.n_samples; i++) {
        const struct jsample *s = &r.samples[i];
        if (i)
            ck_assert_uint_ge(s->ms, r.samples[i - 1].ms);
        /* The report's peak RSS must not be below a sample of its own
         * timeline.  (Known to fail at times on kernels with per-CPU RSS
         * counters: VmHWM, which memprof reports, can be some pages below an
         * earlier statm reading of the same process.) */
        ck_assert_msg(s->rss > 0 && s->rss <= r.peak_rss,
                      "sample %zu of %zu: rss %" PRIu64 " above the reported peak RSS %" PRIu64, i, r.n_samples,
                      s->rss, r.peak_rss);
        ck_assert_msg(s->heap == 0 || s->heap == 67108864, "sample %zu: heap %" PRIu64, i, s->heap);
    }
    ck_assert(r.rss_at_exit_valid);
    jreport_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("peak");
    TCase *tc = tcase_create("fixtures");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, peak_c);
    tcase_add_test(tc, rss_timeline_on_touch);
    tcase_add_test(tc, peak_and_leaks_equal_valgrinds);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
