/* memprof tests: leak suppressions on their own (profile/suppress.c):
 * LeakSanitizer's pattern rules, the file format and its errors, which
 * stacks a rule takes out (function, file, module of any frame; built-in
 * rules that only apply when no frame is the program's), and what the leak
 * view (profile/leak_view.c) then counts. */
#define _GNU_SOURCE
#include "memprof/profile.h"
#include "profile/leak_view.h"
#include "profile/suppress.h"

#include "harness.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(patterns_match_like_leaksanitizer)
{
    static const struct { const char *pattern, *text; int match; } cases[] = {
        { "foo", "foo", 1 },          { "foo", "xfooy", 1 },         /* a substring by default */
        { "foo", "fo", 0 },           { "^foo", "foobar", 1 },       /* ^ anchors at the start */
        { "^foo", "xfoo", 0 },        { "bar$", "foobar", 1 },       /* $ at the end */
        { "bar$", "barx", 0 },        { "^foo$", "foo", 1 },
        { "^foo$", "foox", 0 },       { "f*o", "fxxxo", 1 },         /* * any run */
        { "a*b*c", "xaybzcw", 1 },    { "a*b*c", "acb", 0 },
        { "^*x", "abcx", 1 },         { "lib*.so", "/usr/lib/libfoo.so.6", 1 },
        { "foo", "", 0 },             { "foo", NULL, 0 },             /* nothing matches a missing name */
        { "_IO_file_doallocate", "__GI__IO_file_doallocate", 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        ck_assert_msg(mp_suppression_match(cases[i].pattern, cases[i].text) == cases[i].match,
                      "'%s' against '%s': expected %d", cases[i].pattern, cases[i].text ? cases[i].text : "(null)",
                      cases[i].match);
}
END_TEST

START_TEST(files_parse_and_errors_name_the_line)
{
    struct mp_suppressions *s = mp_suppressions_new();
    char err[256];
    ck_assert_int_eq(mp_suppressions_add_text(s, "# comment\n\n  leak:foo  \r\nleak:bar", "a.supp", err,
                                              sizeof err), 0);
    static const struct { const char *text, *error; } bad[] = {
        { "leak:ok\nrace:x\n", "b.supp:2: unknown suppression type 'race': memprof reads leak:PATTERN lines" },
        { "leak:\n", "b.supp:1: leak: needs a pattern" },
        { "foo\n", "b.supp:1: expected leak:PATTERN (LeakSanitizer's suppression format), found 'foo'" },
        { ":foo\n", "b.supp:1: expected leak:PATTERN" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        ck_assert_int_eq(mp_suppressions_add_text(s, bad[i].text, "b.supp", err, sizeof err), -1);
        ck_assert_msg(strncmp(err, bad[i].error, strlen(bad[i].error)) == 0, "got '%s'", err);
    }
    mp_suppressions_free(s);
}
END_TEST

/* ---- a profile with known stacks ---- */

static int resolve(void *ctx, uint64_t pc, int is_return, struct mp_frame_info *out, int max)
{
    (void)ctx;
    (void)is_return;
    (void)max;
    static const struct mp_frame_info frames[] = {
        [1] = { "lose_one", "/src/app.c", 10, "/usr/bin/app", 0, "/src/app.c", 8, 12 },
        [2] = { "main", "/src/app.c", 20, "/usr/bin/app", 0, "/src/app.c", 18, 30 },
        [3] = { "__GI__IO_file_doallocate", "./libio/filedoalloc.c", 101, "/lib/libc.so.6", 1, NULL, 0, 0 },
        [4] = { "libstdc++.so.6+0xa57b9", NULL, 0, "/usr/lib/libstdc++.so.6", 1, NULL, 0, 0 },
        [5] = { "_dl_init", "./elf/dl-init.c", 121, "/lib/ld-linux-x86-64.so.2", 1, NULL, 0, 0 },
        [6] = { "ctor_of_mine", "/src/plugin.c", 5, "/usr/lib/libplugin.so", 0, "/src/plugin.c", 3, 9 },
    };
    *out = frames[pc < 7 ? pc : 1];
    return 1;
}

/* Four stacks, each holding one live block of 10, 20, 40, 80 bytes:
 * the program's (lose_one <- main), stdio's (doallocate <- main), the
 * runtime's constructor (libstdc++ <- _dl_init) and the program's own
 * library constructor (ctor_of_mine <- _dl_init). */
static struct mp_profile *four_stacks(void)
{
    struct mp_profile *p = mp_profile_new(resolve, NULL);
    static const uint64_t stacks[4][2] = { { 1, 2 }, { 3, 2 }, { 4, 5 }, { 6, 5 } };
    for (int i = 0; i < 4; i++) {
        struct mp_event ev = { .kind = MP_EV_ALLOC, .tid = 1, .addr = 0x1000 * (uint64_t)(i + 1),
                               .size = 10u << i, .nframes = 2, .frames = stacks[i] };
        ck_assert_int_eq(mp_profile_add(p, &ev), 0);
    }
    return p;
}

static const char *rule_of(const struct mp_profile *p, int i)
{
    return mp_profile_stack(p, (size_t)i)->suppressed;
}

START_TEST(rules_take_stacks_out_of_the_leaks)
{
    struct mp_profile *p = four_stacks();
    struct mp_suppressions *s = mp_suppressions_new();
    ck_assert_int_eq(mp_suppressions_add_defaults(s), 0);
    ck_assert_uint_eq(mp_suppressions_apply(s, p), 2);
    ck_assert_ptr_null(rule_of(p, 0));
    ck_assert_str_eq(rule_of(p, 1), "leak:_IO_file_doallocate (built-in)");
    ck_assert_str_eq(rule_of(p, 2), "leak:_dl_init (built-in)");
    ck_assert_ptr_null(rule_of(p, 3)); /* _dl_init, but the program's own library: not the runtime's */
    struct mp_leak_sum left = mp_leaks_total(p, MP_LEAK_MASK_ALL), gone = mp_leaks_suppressed(p);
    ck_assert_uint_eq(left.bytes, 10 + 80);
    ck_assert_uint_eq(gone.bytes, 20 + 40);
    ck_assert_uint_eq(gone.blocks, 2);
    mp_suppressions_free(s);
    mp_profile_free(p);

    /* by module, by file, by function; the first rule that matches names it */
    p = four_stacks();
    s = mp_suppressions_new();
    char err[256];
    ck_assert_int_eq(mp_suppressions_add_text(s, "leak:libplugin.so\nleak:app.c$\nleak:^lose_one$\n", "x.supp", err,
                                              sizeof err), 0);
    ck_assert_uint_eq(mp_suppressions_apply(s, p), 3);
    ck_assert_str_eq(rule_of(p, 0), "leak:app.c$ (x.supp:2)");
    ck_assert_str_eq(rule_of(p, 1), "leak:app.c$ (x.supp:2)"); /* main's frame is in app.c */
    ck_assert_ptr_null(rule_of(p, 2));
    ck_assert_str_eq(rule_of(p, 3), "leak:libplugin.so (x.supp:1)");
    mp_suppressions_free(s);
    mp_profile_free(p);
}
END_TEST

/* The kinds the view counts, before and after the scan classes them. */
START_TEST(the_leak_view_counts_the_kinds_asked)
{
    struct mp_profile *p = four_stacks();
    /* not classified: every live block counts, whatever the mask */
    ck_assert_uint_eq(mp_leaks_total(p, MP_LEAK_MASK_DEFAULT).bytes, 150);
    size_t n;
    int failed;
    struct mp_live_block *live = mp_profile_live_blocks(p, &n, &failed);
    ck_assert_int_eq(failed, 0);
    ck_assert_uint_eq(n, 4);
    for (size_t i = 1; i < n; i++)
        ck_assert(live[i - 1].addr < live[i].addr);
    uint8_t kinds[4] = { MP_LEAK_DEFINITE, MP_LEAK_INDIRECT, MP_LEAK_POSSIBLE, MP_LEAK_REACHABLE };
    mp_profile_set_leak_kinds(p, live, kinds, n);
    free(live);
    const struct mp_totals *t = mp_profile_totals(p);
    ck_assert(t->leaks_classified);
    ck_assert_uint_eq(t->leak_bytes[MP_LEAK_DEFINITE], 10);
    ck_assert_uint_eq(t->leak_bytes[MP_LEAK_INDIRECT], 20);
    ck_assert_uint_eq(t->leak_bytes[MP_LEAK_POSSIBLE], 40);
    ck_assert_uint_eq(t->leak_bytes[MP_LEAK_REACHABLE], 80);
    ck_assert_uint_eq(mp_leaks_total(p, MP_LEAK_MASK_DEFAULT).bytes, 30);
    ck_assert_uint_eq(mp_leaks_total(p, MP_LEAK_MASK_ALL).bytes, 150);
    ck_assert_uint_eq(mp_leaks_total(p, MP_LEAK_BIT(MP_LEAK_POSSIBLE)).bytes, 40);
    size_t *stacks = mp_leak_stacks(p, MP_LEAK_MASK_ALL, &n);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(mp_profile_stack(p, stacks[0])->live_bytes, 80); /* biggest first */
    free(stacks);
    struct mp_leak_line *lines = mp_leak_lines(p, MP_LEAK_MASK_DEFAULT, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(lines[0].bytes, 20);
    ck_assert_str_eq(mp_profile_line(p, lines[1].line)->function, "lose_one");
    free(lines);
    mp_profile_suppress_stack(p, 1, "leak:x (test)");
    ck_assert_uint_eq(mp_leaks_total(p, MP_LEAK_MASK_DEFAULT).bytes, 10);
    ck_assert_uint_eq(mp_leaks_suppressed_kind(p, MP_LEAK_INDIRECT).bytes, 20);
    mp_profile_free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("suppress");
    TCase *tc = tcase_create("suppressions");
    tcase_add_test(tc, patterns_match_like_leaksanitizer);
    tcase_add_test(tc, files_parse_and_errors_name_the_line);
    tcase_add_test(tc, rules_take_stacks_out_of_the_leaks);
    tcase_add_test(tc, the_leak_view_counts_the_kinds_asked);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
