/* memprof tests: a library closed and another loaded at the same address
 * (tests/fixtures/dl_alternate.c with dl_plugin_a.c and dl_plugin_b.c, 12
 * rounds in turn).  Each plugin's allocations must be charged to its own
 * lines, exactly as the @expect annotations of the plugin sources say
 * (derived from their loops and dl_alternate's 6 rounds each), with the
 * agent and with the breakpoint engine; no allocation may be left to
 * [unknown].  Before memprof knew of dlclose, the symbolizer and the
 * profile, which know code by address, gave the first library's names to
 * the second (or [unknown] once it was unmapped). */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_plugin(json_t *root, const char *name, struct problems *pr)
{
    static struct fixture_spec f;
    fixture_parse(name, &f);
    json_t *lines = json_object_get(root, "lines");
    for (int i = 0; i < f.n_lines; i++) {
        const struct fixture_line *e = &f.lines[i];
        uint64_t got[4] = { 0 };
        for (size_t k = 0; k < json_array_size(lines); k++) {
            json_t *l = json_array_get(lines, k);
            if (!fixture_file_is(json_string_value(json_object_get(l, "file")), name) ||
                obj_u64(l, "line") != (uint64_t)e->line)
                continue;
            got[0] += obj_u64(l, "alloc_calls");
            got[1] += obj_u64(l, "allocated_bytes");
            got[2] += obj_u64(l, "free_calls");
            got[3] += obj_u64(l, "freed_bytes");
        }
        if (got[0] != e->alloc_calls || got[1] != e->allocated_bytes || got[2] != e->free_calls ||
            got[3] != e->freed_bytes)
            problem(pr, "%s:%d: calls=%" PRIu64 " bytes=%" PRIu64 " frees=%" PRIu64 " freed=%" PRIu64
                    ", expected %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64,
                    name, e->line, got[0], got[1], got[2], got[3], e->alloc_calls, e->allocated_bytes,
                    e->free_calls, e->freed_bytes);
    }
}

static void reload(const char *engine)
{
    const char *a = build_fixture("tests/fixtures/dl_plugin_a.c", "gcc", "-O0 -g -shared -fPIC", "dl_plugin_a.so");
    ck_assert_ptr_nonnull(a);
    char pa[4096];
    snprintf(pa, sizeof pa, "%s", a);
    const char *b = build_fixture("tests/fixtures/dl_plugin_b.c", "gcc", "-O0 -g -shared -fPIC", "dl_plugin_b.so");
    ck_assert_ptr_nonnull(b);
    char pb[4096];
    snprintf(pb, sizeof pb, "%s", b);
    const char *exe = build_fixture("tests/fixtures/dl_alternate.c", "gcc", "-O0 -g", "dl_alternate");
    ck_assert_ptr_nonnull(exe);
    char json[4096], engine_opt[64];
    snprintf(json, sizeof json, "%s/dlreload_%s.json", test_tmp_dir(), engine);
    snprintf(engine_opt, sizeof engine_opt, "--engine=%s", engine);
    char *argv[] = { (char *)memprof_path(), engine_opt, "-o", "/dev/null", "--json", json, (char *)exe, pa, pb, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    ck_assert_msg(o.status == 0, "memprof: status %d\n%s", o.status, o.err);
    /* the case under test happened: each library where the previous one was */
    ck_assert_msg(strcmp(o.out, "same-address 11\n") == 0, "the loader did not reuse the address: %s", o.out);
    run_output_free(&o);

    json_error_t je;
    json_t *root = json_load_file(json, 0, &je);
    ck_assert_msg(root != NULL, "%s: %s", json, je.text);
    struct problems pr = { .len = 0 };
    check_plugin(root, "dl_plugin_a.c", &pr);
    check_plugin(root, "dl_plugin_b.c", &pr);
    json_t *lines = json_object_get(root, "lines");
    for (size_t k = 0; k < json_array_size(lines); k++) {
        json_t *l = json_array_get(lines, k);
        const char *fn = json_string_value(json_object_get(l, "function"));
        if (fn && strncmp(fn, "[unknown]", 9) == 0)
            problem(&pr, "%" PRIu64 " allocations charged to %s", obj_u64(l, "alloc_calls"), fn);
    }
    json_decref(root);
    ck_assert_msg(pr.n == 0, "--engine=%s: %d problem(s)\n%s", engine, pr.n, pr.text);
}

START_TEST(reload_agent) { reload("agent"); }
END_TEST
START_TEST(reload_breakpoint) { reload("breakpoint"); }
END_TEST

int main(void)
{
    Suite *s = suite_create("dlreload");
    TCase *tc = tcase_create("dlreload");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, reload_agent);
    tcase_add_test(tc, reload_breakpoint);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
