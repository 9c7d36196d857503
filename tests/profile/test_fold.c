/* memprof tests: allocation wrappers folded into their callers
 * (mp_profile_fold): tests/fixtures/wrappers.c under both engines, by
 * default (xmalloc, xrealloc and xstrdup found automatically, line by line
 * as its @expect says), with --alloc-fn 'make_*' (its @fold lines), and
 * with --no-auto-alloc-fn (everything stays in the wrappers).  The totals
 * never change and equal valgrind's. */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static json_t *run_json(const char *exe, const char *const *opts, const char *tag)
{
    char json[4096];
    snprintf(json, sizeof json, "%s/fold_%s.json", test_tmp_dir(), tag);
    char *argv[16] = { (char *)memprof_path(), "-o", "/dev/null", "--json", json };
    int n = 5;
    for (; *opts; opts++)
        argv[n++] = (char *)*opts;
    argv[n++] = (char *)exe;
    argv[n] = NULL;
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    ck_assert_msg(o.status == 0, "%s: status %d\n%.1000s", tag, o.status, o.err);
    run_output_free(&o);
    json_error_t err;
    json_t *root = json_load_file(json, 0, &err);
    ck_assert_msg(root != NULL, "%s: %s", json, err.text);
    return root;
}

/* The calls of each fixture line (0 for lines the report leaves out). */
static void calls_by_line(json_t *root, const char *name, uint64_t *calls, uint64_t *bytes, uint64_t *frees)
{
    json_t *l;
    size_t i;
    json_array_foreach(json_object_get(root, "lines"), i, l) {
        int ln = (int)obj_u64(l, "line");
        if (fixture_file_is(json_string_value(json_object_get(l, "file")), name) && ln > 0 && ln < 1024) {
            calls[ln] += obj_u64(l, "alloc_calls");
            bytes[ln] += obj_u64(l, "allocated_bytes");
            frees[ln] += obj_u64(l, "free_calls");
        }
    }
}

static uint64_t calls_in(json_t *root, const char *function)
{
    uint64_t n = 0;
    json_t *l;
    size_t i;
    json_array_foreach(json_object_get(root, "lines"), i, l)
        if (strcmp(json_string_value(json_object_get(l, "function")), function) == 0)
            n += obj_u64(l, "alloc_calls");
    return n;
}

static const char *folded_names(json_t *root, char *buf, size_t len)
{
    json_t *f;
    size_t i, o = 0;
    buf[0] = '\0';
    json_array_foreach(json_object_get(root, "folded_functions"), i, f)
        o += (size_t)snprintf(buf + o, len - o, "%s%s%s", i ? " " : "", json_string_value(json_object_get(f, "function")),
                              json_is_true(json_object_get(f, "automatic")) ? "" : "(given)");
    return buf;
}

START_TEST(wrappers_c)
{
    static struct fixture_spec f;
    fixture_parse("wrappers.c", &f);
    static struct problems pr;
    memset(&pr, 0, sizeof pr);
    for (int b = 0; b < f.n_builds; b++) {
        char tag[160], what[300], names[512];
        fixture_tag(tag, sizeof tag, "", "wrappers.c", b);
        const char *exe = build_fixture("tests/fixtures/wrappers.c", f.builds[b][0], f.builds[b][1], tag);
        ck_assert_ptr_nonnull(exe);
        for (int e = 0; e < 2; e++) {
            const char *engine = e ? "--engine=breakpoint" : "--engine=agent";
            snprintf(what, sizeof what, "wrappers.c [%s] %s", f.builds[b][1], engine);
            /* default: found automatically */
            const char *def[] = { engine, NULL };
            json_t *root = run_json(exe, def, tag);
            static uint64_t calls[1024], bytes[1024], frees[1024];
            memset(calls, 0, sizeof calls), memset(bytes, 0, sizeof bytes), memset(frees, 0, sizeof frees);
            calls_by_line(root, f.name, calls, bytes, frees);
            for (int ln = 1; ln < 1024; ln++) {
                const struct fixture_line *x = fixture_line_at(&f, ln);
                uint64_t wc = x && x->has_expect ? x->alloc_calls : 0, wb = x && x->has_expect ? x->allocated_bytes : 0,
                         wf = x && x->has_expect ? x->free_calls : 0;
                if (calls[ln] != wc || bytes[ln] != wb || frees[ln] != wf)
                    problem(&pr, "%s: line %d: %" PRIu64 " calls %" PRIu64 " bytes %" PRIu64 " frees, expected %" PRIu64
                                 " %" PRIu64 " %" PRIu64, what, ln, calls[ln], bytes[ln], frees[ln], wc, wb, wf);
            }
            if (strcmp(folded_names(root, names, sizeof names), "xmalloc xrealloc xstrdup") != 0)
                problem(&pr, "%s: folded \"%s\"", what, names);
            if (summary_u64(root, "alloc_calls") != f.total_calls || summary_u64(root, "allocated_bytes") != f.total_bytes ||
                summary_u64(root, "free_calls") != f.total_frees)
                problem(&pr, "%s: the totals changed", what);
            json_decref(root);
            /* a glob */
            const char *glob[] = { engine, "--alloc-fn", "make_*", NULL };
            root = run_json(exe, glob, tag);
            memset(calls, 0, sizeof calls);
            calls_by_line(root, f.name, calls, bytes, frees);
            for (int k = 0; k < f.n_lines; k++) {
                const struct fixture_line *x = &f.lines[k];
                uint64_t want = x->has_fold ? x->fold_calls : x->has_expect ? x->alloc_calls : 0;
                if (calls[x->line] != want)
                    problem(&pr, "%s --alloc-fn 'make_*': line %d: %" PRIu64 " calls, expected %" PRIu64, what, x->line,
                            calls[x->line], want);
            }
            if (strcmp(folded_names(root, names, sizeof names), "make_node(given) xmalloc xrealloc xstrdup") != 0)
                problem(&pr, "%s --alloc-fn: folded \"%s\"", what, names);
            json_decref(root);
            /* none found automatically */
            const char *none[] = { engine, "--no-auto-alloc-fn", NULL };
            root = run_json(exe, none, tag);
            if (calls_in(root, "xmalloc") != 17 || calls_in(root, "xrealloc") != 5 ||
                json_array_size(json_object_get(root, "folded_functions")) != 0)
                problem(&pr, "%s --no-auto-alloc-fn: xmalloc %" PRIu64 " xrealloc %" PRIu64 " calls, expected 17 5", what,
                        calls_in(root, "xmalloc"), calls_in(root, "xrealloc"));
            json_decref(root);
        }
        uint64_t allocs, vfrees, vbytes;
        valgrind_totals(exe, 1, &allocs, &vfrees, &vbytes);
        if (allocs != f.total_calls || vfrees != f.total_frees || vbytes != f.total_bytes)
            problem(&pr, "wrappers.c [%s]: valgrind disagrees with @total", f.builds[b][1]);
    }
    ck_assert_msg(pr.n == 0, "%d problem(s):\n%s", pr.n, pr.text);
}
END_TEST

/* The text report names what it folded. */
START_TEST(report_names_the_wrappers)
{
    const char *exe = build_fixture("tests/fixtures/wrappers.c", "gcc", "-O0 -g", "fold_text");
    ck_assert_ptr_nonnull(exe);
    char *argv[] = { (char *)memprof_path(), "--stable", "--alloc-fn", "no_such_function", (char *)exe, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 120, &o), 0);
    ck_assert_int_eq(o.status, 0);
    ck_assert_msg(strstr(o.err, "  allocation wrappers charged to their callers: xmalloc (found, 17 calls), xrealloc "
                                "(found, 5 calls), xstrdup (found, 3 calls); --no-auto-alloc-fn keeps the ones found\n"),
                  "%s", o.err);
    ck_assert_msg(strstr(o.err, "--alloc-fn 'no_such_function' matched no function that allocated"), "%s", o.err);
    run_output_free(&o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fold");
    TCase *tc = tcase_create("fold");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, wrappers_c);
    tcase_add_test(tc, report_names_the_wrappers);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
