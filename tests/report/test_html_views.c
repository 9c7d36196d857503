/* memprof tests: the HTML report carries what the text report shows for
 * the same options: every --show view (the same text, section by section),
 * line mode's memory_profiler tables (--function), and a saved report
 * renders to the same page as the live run.  Numbers come from the
 * fixture's own annotations (tests/fixtures/demo.c, README). */
#define _GNU_SOURCE
#include "harness.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmp_path(const char *name)
{
    char *p = NULL;
    ck_assert_int_ge(asprintf(&p, "%s/%s", test_tmp_dir(), name), 0);
    return p;
}

static struct run_output memprof_run(char *const *args)
{
    char *argv[64] = { (char *)memprof_path() };
    size_t n = 1;
    for (; args[n - 1]; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 300, &o), 0);
    return o;
}

static void memprof_ok(char *const *args, char **out)
{
    struct run_output o = memprof_run(args);
    ck_assert_msg(o.status == 0, "memprof %s ... exited %d: %s", args[0], o.status, o.err);
    if (out)
        *out = strdup(strcmp(args[0], "report") == 0 ? o.out : o.err);
    run_output_free(&o);
}

/* 12928 -> "12,928 B" (--stable's exact sizes) */
static void exact(char *buf, size_t len, unsigned long long v)
{
    char digits[32], grouped[48];
    int n = snprintf(digits, sizeof digits, "%llu", v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            grouped[o++] = ',';
        grouped[o++] = digits[i];
    }
    grouped[o] = '\0';
    snprintf(buf, len, "%s B", grouped);
}

/* The text a reader of the HTML section `id` sees: each heading and each
 * preformatted block on its lines, as the text report lays them out
 * ("\nHeading\nrows..."), entities decoded. */
static char *section_as_text(const char *page, const char *id)
{
    char key[128];
    snprintf(key, sizeof key, "<h2 id=\"%s\">", id);
    const char *at = strstr(page, key);
    ck_assert_msg(at != NULL, "no section %s in the HTML report", id);
    const char *end = strstr(at + 1, "<h2");
    size_t cap = strlen(at) + 1, o = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    int in_tag = 0, keep = 0;
    for (const char *s = at; *s && (!end || s < end); s++) {
        if (*s == '<') {
            in_tag = 1;
            if (!strncmp(s, "<h2", 3) || !strncmp(s, "<h3", 3)) {
                text[o++] = '\n';
                keep = 1;
            } else if (!strncmp(s, "</h2>", 5) || !strncmp(s, "</h3>", 5)) {
                text[o++] = '\n';
                keep = 0;
            } else if (!strncmp(s, "<pre", 4)) {
                keep = 1;
            } else if (!strncmp(s, "</pre>", 6)) {
                keep = 0;
            }
            continue;
        }
        if (in_tag) {
            in_tag = *s != '>';
            continue;
        }
        if (!keep)
            continue;
        if (*s == '&') {
            static const char *const ent[][2] = { { "&lt;", "<" }, { "&gt;", ">" }, { "&amp;", "&" } };
            for (size_t e = 0; e < 3; e++)
                if (!strncmp(s, ent[e][0], strlen(ent[e][0]))) {
                    text[o++] = ent[e][1][0];
                    s += strlen(ent[e][0]) - 1;
                    break;
                }
            continue;
        }
        text[o++] = *s;
    }
    text[o] = '\0';
    return text;
}

/* Each view of the text report, run alone, against its HTML section. */
START_TEST(views_say_what_the_text_says)
{
    const char *exe = build_fixture("tests/fixtures/demo.c", "gcc", "-O0 -g", "hv-demo");
    char *json = tmp_path("hv-demo.json"), *html = tmp_path("hv-demo.html"), *again = tmp_path("hv-again.html");
    char exp[4096];
    snprintf(exp, sizeof exp, "html=%s", html);
    char *run[] = { "--stable", "--top=0", "--show=all", "--callers", "demo.c:29", "-o", "/dev/null", "--json", json,
                    "--export", exp, (char *)exe, NULL };
    memprof_ok(run, NULL);
    size_t len;
    char *page = read_file(html, &len);
    ck_assert_ptr_nonnull(page);
    static const char *const views[] = { "calls", "peak", "temporary", "largest", "sizes", "threads", "rate",
                                         "tree", "callers", "rss" };
    for (size_t i = 0; i < sizeof views / sizeof *views; i++) {
        char show[64], *text;
        snprintf(show, sizeof show, "--show=%s", views[i]);
        /* --callers adds the callers view: only with it */
        int callers = !strcmp(views[i], "callers");
        char *report[] = { "report", json, "--stable", "--top=0", show, callers ? "--callers" : NULL, "demo.c:29",
                           NULL };
        memprof_ok(report, &text);
        /* the text report: its first line names the command; then the view */
        char *body = strchr(text, '\n');
        ck_assert_ptr_nonnull(body);
        body++;
        char *notes = strstr(body, "\nNotes\n");
        if (notes)
            notes[1] = '\0';
        char key[64];
        snprintf(key, sizeof key, "<h2 id=\"%s\">", views[i]);
        if (!*body) { /* nothing to say (rss with --stable): no section either */
            ck_assert_msg(strstr(page, key) == NULL, "view %s: the text has none, the HTML has one", views[i]);
            free(text);
            continue;
        }
        char *from_html = section_as_text(page, views[i]);
        ck_assert_msg(strcmp(body, from_html) == 0, "view %s: the text report says\n%s\nthe HTML report says\n%s",
                      views[i], body, from_html);
        free(from_html);
        free(text);
    }
    /* The numbers from the source: lines 41 (100 x 128 B) and 55 (1 x 128 B)
     * fill the bucket 128 B..256 B; the calloc on line 37 (2,400 B) is
     * alone in 2 KiB..4 KiB. */
    const struct fixture_spec *f = NULL;
    struct fixture_spec spec;
    fixture_parse("demo.c", &spec);
    f = &spec;
    const struct fixture_line *l41 = fixture_line_at(f, 41), *l55 = fixture_line_at(f, 55), *l37 = fixture_line_at(f, 37);
    char *sizes = section_as_text(page, "sizes"), want[256], a[32], b[32];
    exact(a, sizeof a, l41->allocated_bytes + l55->allocated_bytes);
    snprintf(b, sizeof b, "%llu", (unsigned long long)(l41->alloc_calls + l55->alloc_calls));
    snprintf(want, sizeof want, "%12s %12s %12s %12s   ", "128 B", "256 B", b, a);
    ck_assert_msg(strstr(sizes, want) != NULL, "no '%s' in\n%s", want, sizes);
    exact(a, sizeof a, l37->allocated_bytes);
    snprintf(want, sizeof want, "%12s %12s %12s %12s   #\n", "2,048 B", "4,096 B", "1", a);
    ck_assert_msg(strstr(sizes, want) != NULL, "no '%s' in\n%s", want, sizes);
    free(sizes);
    /* The callers of copy_string's strdup (line 29): build_table's line 40
     * (100 calls, 650 B) and rename_record's line 50 (1 call, 6 B) */
    char *callers = section_as_text(page, "callers");
    exact(a, sizeof a, fixture_line_at(f, 40)->incl_bytes);
    ck_assert_msg(strstr(callers, a) && strstr(callers, "demo.c:40 (build_table)") &&
                      strstr(callers, "demo.c:50 (rename_record)"), "callers:\n%s", callers);
    free(callers);

    /* memprof report of the saved JSON: the same page */
    char *rerender[] = { "report", json, "--stable", "--top=0", "--show=all", "--callers", "demo.c:29", "--format=html", "-o",
                         again, NULL };
    memprof_ok(rerender, NULL);
    size_t len2;
    char *page2 = read_file(again, &len2);
    ck_assert_msg(len == len2 && memcmp(page, page2, len) == 0, "the HTML of %s differs from the live run's", json);
    free(page2);
    free(page);
    free(json);
    free(html);
    free(again);
}
END_TEST

/* --function build_table --metric heap: memory_profiler's table in the
 * HTML, each line's heap increment and occurrences from the source. */
START_TEST(line_mode_tables)
{
    const char *exe = build_fixture("tests/fixtures/demo.c", "gcc", "-O0 -g", "hv-demo-lm");
    char *html = tmp_path("hv-lm.html"), *json = tmp_path("hv-lm.json"), *again = tmp_path("hv-lm-again.html");
    char *text = NULL;
    char exp[4096];
    snprintf(exp, sizeof exp, "html=%s", html);
    char *run[] = { "--stable", "--function", "build_table", "--metric", "heap", "--json", json, "--export", exp,
                    (char *)exe, NULL };
    memprof_ok(run, &text);
    char *page = read_file(html, NULL);
    ck_assert_ptr_nonnull(page);
    char *section = strstr(page, "<h2 id=\"linemode\">Line mode (--function)</h2>");
    ck_assert_msg(section != NULL, "no line mode section");
    char *end = strstr(section + 1, "<h2");
    ck_assert_ptr_nonnull(end);
    *end = '\0';
    ck_assert_ptr_nonnull(strstr(section, "<th>Mem usage</th><th>Increment</th><th>Occurrences</th>"));
    struct fixture_spec f;
    fixture_parse("demo.c", &f);
    /* line 37, calloc: once, its 2,400 B; line 41, malloc: 100 times, 12,800
     * B; the heap after it at most what build_table allocated in all (main's
     * @incl on line 75: 15,850 B) */
    const struct fixture_line *l37 = fixture_line_at(&f, 37), *l41 = fixture_line_at(&f, 41),
                              *l75 = fixture_line_at(&f, 75);
    char want[512], a[32], b[32], c[32];
    exact(a, sizeof a, l37->allocated_bytes);
    snprintf(want, sizeof want, "<tr class=\"hot\"><td>37</td><td>%s</td><td>%s</td><td>%llu</td><td class=\"src\">"
             "\tstruct record *table = calloc(n, sizeof *table);", a, a, (unsigned long long)l37->alloc_calls);
    ck_assert_msg(strstr(section, want) != NULL, "no '%s' in\n%s", want, section);
    exact(a, sizeof a, l75->incl_bytes);
    exact(b, sizeof b, l41->allocated_bytes);
    snprintf(c, sizeof c, "%llu", (unsigned long long)l41->alloc_calls);
    snprintf(want, sizeof want, "<tr class=\"hot\"><td>41</td><td>%s</td><td>%s</td><td>%s</td>", a, b, c);
    ck_assert_msg(strstr(section, want) != NULL, "no '%s' in\n%s", want, section);
    /* and the text report's table says the same */
    snprintf(want, sizeof want, "%6d %12s %12s  %10s   ", 41, a, b, c);
    ck_assert_msg(strstr(text, want) != NULL, "no '%s' in the text report:\n%s", want, text);
    /* memprof report of the saved JSON: the same tables, in text and HTML */
    char *saved_text = NULL;
    char *report[] = { "report", json, NULL };
    memprof_ok(report, &saved_text);
    char *tables = strstr(text, "\nLine by line (--function)");
    ck_assert_ptr_nonnull(tables);
    char *tables_end = strstr(tables + 1, "\nFilename: ");
    ck_assert_ptr_nonnull(tables_end);
    tables_end = strstr(tables_end + 1, "\nFilename: "); /* the heap tables follow line mode's one table */
    ck_assert_ptr_nonnull(tables_end);
    *tables_end = '\0';
    ck_assert_msg(strstr(saved_text, tables) != NULL, "memprof report lacks the line tables:\n%s\nwant\n%s", saved_text,
                  tables);
    free(saved_text);
    char *rerender[] = { "report", json, "--format=html", "-o", again, NULL };
    memprof_ok(rerender, NULL);
    size_t l1, l2;
    free(page);
    page = read_file(html, &l1);
    char *page2 = read_file(again, &l2);
    ck_assert_msg(l1 == l2 && memcmp(page, page2, l1) == 0, "memprof report --format=html differs from the run's");
    free(page2);
    /* a saved table whose rows skip a line is refused in one line */
    char *bad = tmp_path("hv-lm-bad.json");
    size_t jl;
    char *j = read_file(json, &jl), *row = strstr(strstr(j, "\"line_tables\""), "{\"line\": 37,");
    ck_assert_ptr_nonnull(row);
    memcpy(row, "{\"line\": 73,", strlen("{\"line\": 73,"));
    FILE *f2 = fopen(bad, "w");
    ck_assert_ptr_nonnull(f2);
    fwrite(j, 1, jl, f2);
    fclose(f2);
    char *argv[] = { (char *)memprof_path(), "report", bad, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_int_eq(o.status, 1);
    ck_assert_msg(strstr(o.err, "line_tables[0].rows[") && strstr(o.err, "a table's rows are its lines in order") &&
                      count_lines(o.err) == 1, "%s", o.err);
    run_output_free(&o);
    free(j);
    free(bad);
    free(page);
    free(html);
    free(json);
    free(again);
    free(text);
}
END_TEST

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *at = s; (at = strstr(at, needle)); at++)
        n++;
    return n;
}

/* A process tree (tests/fixtures/tree.c, "vfork 1000"): #1 mallocs 111
 * bytes; its child execs "leaf 1000", #2, which mallocs 1000, 500 and 64
 * (1,564 B) with a peak heap of 1,500 B.  The HTML has a section for each,
 * each with its own working flame graph; the one-picture formats draw #2
 * (the highest peak heap) or the image --process names, and say so. */
START_TEST(process_tree_pictures)
{
    const char *tree = build_fixture("tests/fixtures/tree.c", "gcc", "-O0 -g", "hv-tree");
    char *json = tmp_path("hv-tree.json"), *html = tmp_path("hv-tree.html"), *flame = tmp_path("hv-tree-fg.svg");
    char *again = tmp_path("hv-tree-again.html"), *one = tmp_path("hv-tree-one.html");
    char exp_html[4096], exp_flame[4096];
    snprintf(exp_html, sizeof exp_html, "html=%s", html);
    snprintf(exp_flame, sizeof exp_flame, "flamegraph=%s", flame);
    char *run[] = { "--stable", "-o", "/dev/null", "--json", json, "--export", exp_html, "--export", exp_flame,
                    "--process", "1", (char *)tree, "vfork", "1000", NULL };
    struct run_output o = memprof_run(run);
    ck_assert_msg(o.status == 0, "status %d: %s", o.status, o.err);
    /* the flame graph drew #1, as asked, and the note says what else there is */
    ck_assert_msg(strstr(o.err, "memprof: the flamegraph output shows one process of the tree, #1 ") &&
                      strstr(o.err, "(chosen by --process); 1 other: --process N draws another"),
                  "note: %s", o.err);
    ck_assert_ptr_null(strstr(o.err, "the html output shows one"));
    run_output_free(&o);
    char *svg = read_file(flame, NULL);
    ck_assert_ptr_nonnull(svg);
    ck_assert_ptr_nonnull(strstr(svg, "data-total=\"111\""));
    free(svg);
    /* --process at record time also picks the HTML's one section */
    char *page = read_file(html, NULL);
    ck_assert_ptr_nonnull(page);
    ck_assert_int_eq(count(page, "<section class=\"process\""), 1);
    ck_assert_ptr_nonnull(strstr(page, "<section class=\"process\" id=\"process-1\">"));
    free(page);

    /* memprof report: every image, each with its numbers */
    char *all[] = { "report", json, "--format=html", "-o", again, NULL };
    o = memprof_run(all);
    ck_assert_msg(o.status == 0, "report: %s", o.err);
    ck_assert_msg(strstr(o.err, "shows one process") == NULL, "html is the whole tree: %s", o.err);
    run_output_free(&o);
    page = read_file(again, NULL);
    ck_assert_ptr_nonnull(page);
    ck_assert_int_eq(count(page, "<section class=\"process\""), 2);
    const char *p1 = strstr(page, "id=\"process-1\""), *p2 = strstr(page, "id=\"process-2\"");
    ck_assert_ptr_nonnull(p1);
    ck_assert_ptr_nonnull(p2);
    ck_assert_ptr_nonnull(strstr(p1, "id=\"memprof-flamegraph-p1\" class=\"memprof-fg\""));
    ck_assert_ptr_nonnull(strstr(p2, "id=\"memprof-flamegraph-p2\" class=\"memprof-fg\""));
    /* sections come highest peak heap first: #2 (1,500 B), then #1 (111 B) */
    ck_assert_msg(p2 < p1, "#2 (the higher peak heap) comes first");
    char *d1 = strstr(p1, "data-total=\"111\""), *d2 = strstr(p2, "data-total=\"1564\"");
    ck_assert_msg(d1 && d2 && d2 < p1, "flame graph totals: #1 111, #2 1564");
    char *h1 = strstr(p1, "<td>peak heap</td><td class=\"l\">111 B"),
         *h2 = strstr(p2, "<td>peak heap</td><td class=\"l\">1,500 B");
    ck_assert_msg(h1 && h2 && h2 < p1, "peak heap: #1 111 B, #2 1,500 B");
    /* the leaf leaked 500 + 64 bytes in 2 blocks */
    ck_assert_ptr_nonnull(strstr(p2, "leaked at exit</td><td class=\"l\">564 B in 2 blocks"));
    /* the tree's table, as the text report has it */
    ck_assert_ptr_nonnull(strstr(page, "<h2 id=\"tree\">Process tree: 2 program images</h2>"));

    /* both flame graphs run their script in Chromium */
    need_program("chromium", "chromium");
    {
        char *argv[] = { (char *)repo_path("scripts/chromium"), "dom", again, "3000", NULL };
        struct run_output d;
        ck_assert_int_eq(run_cmd(argv, NULL, NULL, 180, &d), 0);
        ck_assert_msg(d.status == 0, "chromium: %s", d.err);
        ck_assert_msg(count(d.out, "class=\"memprof-fg\" width") == 2 && count(d.out, "data-live=\"1\"") == 2,
                      "both flame graphs brought to life: %d", count(d.out, "data-live=\"1\""));
        run_output_free(&d);
        char *png = tmp_path("hv-tree.png");
        chromium_screenshot(again, png, 1280, 3000);
        struct picture img;
        picture_load(png, &img);
        long ink = picture_count_ink(&img, 0xffffff);
        ck_assert_msg(ink > (long)img.width * img.height / 50, "%s looks blank", png);
        picture_free(&img);
        free(png);
    }
    free(page);

    /* --process 2: only #2's section; a number the tree lacks: an error */
    char *only[] = { "report", json, "--format=html", "--process", "2", "-o", one, NULL };
    o = memprof_run(only);
    ck_assert_msg(o.status == 0, "report --process 2: %s", o.err);
    run_output_free(&o);
    page = read_file(one, NULL);
    ck_assert_int_eq(count(page, "<section class=\"process\""), 1);
    ck_assert_ptr_nonnull(strstr(page, "id=\"process-2\""));
    free(page);
    char *bad[] = { "report", json, "--format=svg", "--process", "3", NULL };
    o = memprof_run(bad);
    ck_assert_int_eq(o.status, 2);
    ck_assert_msg(strstr(o.err, "--process 3: the tree has no process #3 (its images are #1 to #2") != NULL, "%s",
                  o.err);
    ck_assert_int_eq(count_lines(o.err), 1);
    run_output_free(&o);
    char *zero[] = { "report", json, "--process", "0", NULL };
    o = memprof_run(zero);
    ck_assert_int_eq(o.status, 2);
    ck_assert_ptr_nonnull(strstr(o.err, "--process takes a process number of the tree"));
    run_output_free(&o);
    free(json);
    free(html);
    free(flame);
    free(again);
    free(one);
}
END_TEST

/* The notes at the text report's end are the HTML's notes: a program
 * whose source file is gone gets "source file ... not found". */
START_TEST(notes_as_the_text_has_them)
{
    char *dir = tmp_path("hv-gone"), *src = tmp_path("hv-gone/gone.c"), *exe = tmp_path("hv-gone/gone");
    char *html = tmp_path("hv-gone/gone.html"), *text = NULL;
    mkdir(dir, 0755);
    size_t len;
    char *code = read_file(repo_path("tests/fixtures/demo.c"), &len);
    ck_assert_ptr_nonnull(code);
    FILE *f = fopen(src, "w");
    ck_assert_ptr_nonnull(f);
    fwrite(code, 1, len, f);
    fclose(f);
    free(code);
    char *cc[] = { "gcc", "-O0", "-g", "-o", exe, src, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(cc, NULL, NULL, 120, &o), 0);
    ck_assert_msg(o.status == 0, "gcc: %s", o.err);
    run_output_free(&o);
    ck_assert_int_eq(unlink(src), 0);
    char exp[4096];
    snprintf(exp, sizeof exp, "html=%s", html);
    char *run[] = { "--export", exp, exe, NULL };
    memprof_ok(run, &text);
    /* the path as the text shows it (relative to the current directory) */
    char *note = strstr(text, "  source file ");
    ck_assert_ptr_nonnull(note);
    char *end = strstr(note, "hv-gone/gone.c not found: its Line Contents column is empty\n");
    ck_assert_ptr_nonnull(end);
    char want[4200];
    snprintf(want, sizeof want, "<ul class=\"note\">\n<li>%.*shv-gone/gone.c not found: its Line Contents column "
             "is empty</li>\n</ul>\n", (int)(end - note - 2), note + 2);
    char *page = read_file(html, NULL);
    ck_assert_ptr_nonnull(page);
    ck_assert_msg(strstr(page, want) != NULL, "no '%s' in the HTML", want);
    free(page);
    free(text);
    free(dir);
    free(src);
    free(exe);
    free(html);
}
END_TEST

/* "&", "<", ">", '"' and "'" as the page writes them. */
static void html_escaped(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        const char *e = s[i] == '&' ? "&amp;" : s[i] == '<' ? "&lt;" : s[i] == '>' ? "&gt;" : s[i] == '"' ? "&quot;"
                      : s[i] == '\'' ? "&#39;" : NULL;
        if (e) {
            memcpy(out + o, e, strlen(e));
            o += strlen(e);
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
}

/* Every row of the text summary ("  label              value": the label in
 * 19 columns) is a row of the HTML summary with the same label and value
 * (and maybe a hint after it), and the HTML has no other; `must` are labels
 * the run must show. */
static void summary_rows_agree(const char *text, const char *page, const char *const *must, size_t n_must)
{
    const char *at = strstr(text, "\nSummary\n");
    ck_assert_ptr_nonnull(at);
    at += strlen("\nSummary\n");
    const char *table = strstr(page, "<table class=\"summary\">\n");
    ck_assert_ptr_nonnull(table);
    const char *table_end = strstr(table, "</table>");
    ck_assert_ptr_nonnull(table_end);
    size_t rows = 0, found_must = 0;
    while (strncmp(at, "  ", 2) == 0) {
        const char *eol = strchr(at, '\n');
        ck_assert_ptr_nonnull(eol);
        ck_assert_msg(eol - at > 21 && at[20] == ' ', "not a summary row: %.*s", (int)(eol - at), at);
        size_t label_len = 19;
        while (label_len && at[2 + label_len - 1] == ' ')
            label_len--;
        char label[64], value[4096], want[4300];
        html_escaped(label, sizeof label, at + 2, label_len);
        html_escaped(value, sizeof value, at + 21, (size_t)(eol - at - 21));
        snprintf(want, sizeof want, "<tr><td>%s</td><td class=\"l\">%s", label, value);
        const char *row = strstr(table, want);
        ck_assert_msg(row && row < table_end, "the HTML summary has no row [%s]:\n%.*s", want,
                      (int)(table_end - table), table);
        /* then the cell ends, or a hint of what the number is follows */
        row += strlen(want);
        ck_assert_msg(!strncmp(row, "</td></tr>\n", 11) || !strncmp(row, " <span class=\"muted\">(", strlen(" <span class=\"muted\">(")),
                      "row [%s] goes on: %.80s", want, row);
        for (size_t i = 0; i < n_must; i++)
            found_must += strcmp(label, must[i]) == 0;
        rows++;
        at = eol + 1;
    }
    ck_assert_uint_eq(found_must, n_must);
    size_t html_rows = 0;
    for (const char *r = strstr(table, "<tr>"); r && r < table_end; r = strstr(r + 1, "<tr>"))
        html_rows++;
    ck_assert_uint_eq(html_rows, rows);
}

/* The HTML summary carries every row the text summary has, from the same
 * run: the allocation rate, mapped memory (mapped.c maps and unmaps), the
 * agent's bytes, and the breakpoint engine's stops. */
START_TEST(summary_as_the_text_has_it)
{
    const char *exe = build_fixture("tests/fixtures/mapped.c", "gcc", "-O0 -g", "hv-mapped");
    char *html = tmp_path("hv-mapped.html");
    char exp[4096];
    snprintf(exp, sizeof exp, "html=%s", html);
    static const char *const agent_rows[] = { "peak RSS", "allocations", "allocation rate", "frees", "peak heap",
                                              "temporary", "leaked at exit", "mapped", "peak mapped",
                                              "peak heap + mapped", "mapped at exit", "memprof&#39;s agent" };
    static const char *const bp_rows[] = { "memprof&#39;s stubs", "engine stops" };
    for (int e = 0; e < 2; e++) {
        char *text = NULL;
        char *run[] = { "--export", exp, e ? "--engine=breakpoint" : "--engine=agent", (char *)exe, NULL };
        memprof_ok(run, &text);
        char *page = read_file(html, NULL);
        ck_assert_ptr_nonnull(page);
        if (e)
            summary_rows_agree(text, page, bp_rows, 2);
        else
            summary_rows_agree(text, page, agent_rows, sizeof agent_rows / sizeof *agent_rows);
        free(page);
        free(text);
    }
    free(html);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("html_views");
    TCase *tc = tcase_create("html_views");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, views_say_what_the_text_says);
    tcase_add_test(tc, line_mode_tables);
    tcase_add_test(tc, process_tree_pictures);
    tcase_add_test(tc, notes_as_the_text_has_them);
    tcase_add_test(tc, summary_as_the_text_has_it);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
