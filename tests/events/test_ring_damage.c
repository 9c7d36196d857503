/* memprof tests: the ring's trust boundary end to end.  A program that
 * scribbles over memprof's event ring (tests/fixtures/ring_scribble.c:
 * random header, 0xff fill, random fill, torn records, forged stack records
 * (MP_REC_STACK, MP_REC_ALLOC_ID), a truncated memfd, a
 * writer that claims a slot and never fills it) must not crash or hang
 * memprof, nor change its own fate: the same output and exit status as
 * natively (exit 7, or death by SIGUSR1).  memprof says the ring was
 * damaged, with how many records it dropped, and still reports what it
 * saw: at least the allocations made before the damage that had left the
 * ring (the fixture's first 20,000 rounds, less one ring's worth that may
 * still have been in it), never more than valgrind counts.
 *
 * A header written over (random bytes, or 0xff in every word: the closed
 * flag set, the head and tail at their largest) costs nothing: the agent
 * keeps what it needs in its own memory and takes new positions once the
 * reader has set the head back, so every allocation and free is counted,
 * exactly valgrind's totals (same program, mode "none"), and the fixture's
 * malloc line in work() has its 2 x 20,000 calls (from its source); the
 * note says no record was dropped. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 20000          /* ring_scribble.c: rounds before the damage */
#define RING_SLOTS 4096       /* MP_RING_DEFAULT_CAPACITY */

/* The fixture, dynamic (the agent) or static (the breakpoint engine,
 * whose stubs write into the same ring from inside the program). */
static const char *fixture(int is_static)
{
    static char exe[2][4096];
    if (!exe[is_static][0]) {
        char flags[512];
        snprintf(flags, sizeof flags, "-O1 -g -I%s -I%s%s", repo_path("src"), repo_path("include"),
                 is_static ? " -static" : "");
        const char *built = build_fixture("tests/fixtures/ring_scribble.c", "gcc", flags,
                                          is_static ? "ring_scribble_static" : "ring_scribble");
        ck_assert_ptr_nonnull(built);
        snprintf(exe[is_static], sizeof exe[is_static], "%s", built);
    }
    return exe[is_static];
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The line of work()'s malloc in the fixture's source. */
static int work_malloc_line(void)
{
    size_t len;
    char *src = read_file(repo_path("tests/fixtures/ring_scribble.c"), &len);
    ck_assert_ptr_nonnull(src);
    const char *at = strstr(src, "unsigned char *p = malloc(size);");
    ck_assert_ptr_nonnull(at);
    int line = 1;
    for (const char *c = src; c < at; c++)
        line += *c == '\n';
    free(src);
    return line;
}

static uint64_t line_alloc_calls(json_t *root, int line)
{
    json_t *lines = json_object_get(root, "lines"), *l;
    size_t i;
    json_array_foreach(lines, i, l) {
        const char *file = json_string_value(json_object_get(l, "file"));
        if (file && strstr(file, "ring_scribble.c") && json_integer_value(json_object_get(l, "line")) == line)
            return obj_u64(l, "alloc_calls");
    }
    return 0;
}

enum expect { NO_NOTE, NOTE, NOTE_NOTHING_LOST };

/* Runs the fixture in `mode` natively and under memprof; checks fate,
 * output, the note and the totals.  expect: whether the report must say
 * the ring was damaged, and (NOTE_NOTHING_LOST) that nothing was lost,
 * with valgrind's exact totals.  is_static: under the breakpoint engine. */
static void check_engine_mode(const char *mode, enum expect expect, int is_static, const char *seed)
{
    int expect_note = expect != NO_NOTE;
    const char *exe = fixture(is_static);
    struct run_output native;
    char *nargv[] = {(char *)exe, (char *)mode, (char *)seed, NULL};
    ck_assert_int_eq(run_cmd(nargv, NULL, NULL, 60, &native), 0);

    char report[512], json[512];
    snprintf(report, sizeof report, "%s/scribble_%s%s.txt", test_tmp_dir(), mode, is_static ? "_static" : "");
    snprintf(json, sizeof json, "%s/scribble_%s%s.json", test_tmp_dir(), mode, is_static ? "_static" : "");
    char *argv[] = {(char *)memprof_path(), "-o", report, "--json", json, (char *)exe, (char *)mode, (char *)seed,
                    NULL};
    struct run_output o;
    double t0 = now_s();
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 90, &o), 0);
    double took = now_s() - t0;
    ck_assert_msg(o.status == native.status, "%s: memprof exited %d, the program natively %d\n%.3000s", mode,
                  o.status, native.status, o.err);
    ck_assert_msg(strcmp(o.out, native.out) == 0, "%s: output differs: '%s' vs '%s'", mode, o.out, native.out);
    ck_assert_msg(!strstr(o.err, "AddressSanitizer") && !strstr(o.err, "runtime error"), "%s:\n%.3000s", mode,
                  o.err);
    ck_assert_msg(took < 60, "%s: %.1f s", mode, took);

    size_t len;
    char *text = read_file(report, &len);
    ck_assert_msg(text != NULL, "%s: no report\n%.2000s", mode, o.err);
    const char *note = strstr(text, "the target damaged memprof's event ring");
    if (expect_note)
        ck_assert_msg(note != NULL, "%s: no note about the damage in\n%.4000s", mode, text);
    else
        ck_assert_msg(note == NULL, "%s: a note about damage that memprof prevented\n%.4000s", mode, text);

    json_error_t jerr;
    json_t *root = json_load_file(json, 0, &jerr);
    ck_assert_msg(root != NULL, "%s: %s", mode, jerr.text);
    uint64_t calls = summary_u64(root, "alloc_calls");
    ck_assert_msg(calls >= ROUNDS - RING_SLOTS, "%s: %llu allocation calls seen", mode, (unsigned long long)calls);
    if (expect == NOTE_NOTHING_LOST && !is_static) { /* valgrind does not see a static program's malloc */
        uint64_t v_allocs, v_frees, v_bytes;
        valgrind_totals(exe, 0, &v_allocs, &v_frees, &v_bytes); /* mode "none": the same calls */
        ck_assert_uint_eq(calls, v_allocs);
        ck_assert_uint_eq(summary_u64(root, "free_calls"), v_frees);
        ck_assert_uint_eq(summary_u64(root, "allocated_bytes"), v_bytes);
    }
    if (expect == NOTE_NOTHING_LOST) {
        ck_assert_uint_eq(line_alloc_calls(root, work_malloc_line()), 2 * ROUNDS);
        ck_assert_msg(strstr(note, "which memprof repaired: no record was dropped; RSS") != NULL, "%s: %.600s",
                      mode, note);
    }
    /* torn and forged records may change kind; torn, forge and stall start
     * a thread (its allocations are not in valgrind's run, where there is
     * no ring); valgrind does not see a static program's malloc */
    if (strncmp(mode, "torn", 4) != 0 && strcmp(mode, "forge") != 0 && strcmp(mode, "stall") != 0 && !is_static) {
        static uint64_t valgrind_allocs;
        if (!valgrind_allocs) {
            uint64_t v_frees, v_bytes;
            valgrind_totals(exe, 0, &valgrind_allocs, &v_frees, &v_bytes); /* mode "none" */
        }
        ck_assert_msg(calls <= valgrind_allocs, "%s: %llu allocation calls, valgrind counts %llu", mode,
                      (unsigned long long)calls, (unsigned long long)valgrind_allocs);
    }
    json_decref(root);
    free(text);
    run_output_free(&o);
    run_output_free(&native);
}

static void check_mode(const char *mode, enum expect expect)
{
    check_engine_mode(mode, expect, 0, NULL);
}

START_TEST(random_header) { check_mode("header", NOTE_NOTHING_LOST); }
END_TEST
/* the closed flag, head and tail all ones: the agent records on */
START_TEST(ff_header) { check_mode("ffheader", NOTE_NOTHING_LOST); }
END_TEST
START_TEST(ff_header_then_killed) { check_mode("ffheader:kill", NOTE_NOTHING_LOST); }
END_TEST
/* stack records and allocations by stack id, forged (ring.h: MP_REC_STACK,
 * MP_REC_ALLOC_ID) */
START_TEST(forged_stack_records) { check_mode("forge", NOTE); }
END_TEST
START_TEST(fill_ff) { check_mode("fill", NOTE); }
END_TEST
START_TEST(fill_ff_then_killed) { check_mode("fill:kill", NOTE); }
END_TEST
START_TEST(random_fill) { check_mode("random", NOTE); }
END_TEST
START_TEST(torn_records) { check_mode("torn", NOTE); }
END_TEST
START_TEST(torn_then_killed) { check_mode("torn:kill", NOTE); }
END_TEST
/* sealed: the memfd cannot shrink under memprof's mapping (no SIGBUS) */
START_TEST(truncated_memfd) { check_mode("shrink", NO_NOTE); }
END_TEST
/* a writer that claims a slot and never fills it, alive to the end */
START_TEST(stalled_writer) { check_mode("stall", NOTE); }
END_TEST
/* The breakpoint engine's stubs follow the same protocol: with the head
 * thrown far away (random seeds 1-4), or wrapped around behind the tail
 * (0xff in every word: a position's slot may then look revoked), a stub's
 * position is one the reader never reaches, and it takes a new one once
 * memprof has set the head back, as the agent does: nothing is lost (seeds
 * 1 and 4 hung the program when the stubs took any sequence number past
 * their position for a revocation and waited behind any other; dropping
 * such records lost up to all 40,000 of the rounds after the damage);
 * behind a stalled writer, they wait until memprof revokes its slot. */
START_TEST(random_header_stubs)
{
    static const char *const seeds[] = { "1", "2", "3", "4" };
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++)
        check_engine_mode("header", NOTE_NOTHING_LOST, 1, seeds[i]);
    check_engine_mode("ffheader", NOTE_NOTHING_LOST, 1, NULL);
}
END_TEST
START_TEST(stalled_writer_stubs) { check_engine_mode("stall", NOTE, 1, NULL); }
END_TEST

int main(void)
{
    Suite *s = suite_create("ring_damage");
    TCase *tc = tcase_create("ring_damage");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, random_header);
    tcase_add_test(tc, ff_header);
    tcase_add_test(tc, ff_header_then_killed);
    tcase_add_test(tc, forged_stack_records);
    tcase_add_test(tc, fill_ff);
    tcase_add_test(tc, fill_ff_then_killed);
    tcase_add_test(tc, random_fill);
    tcase_add_test(tc, torn_records);
    tcase_add_test(tc, torn_then_killed);
    tcase_add_test(tc, truncated_memfd);
    tcase_add_test(tc, stalled_writer);
    tcase_add_test(tc, random_header_stubs);
    tcase_add_test(tc, stalled_writer_stubs);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
