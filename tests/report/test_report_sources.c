/* memprof: the source text in memprof's own reports, end to end.
 *
 * memprof reads only the lines its tables show; these tests run it on
 * fixtures and compare every table row's text with the fixture file's line,
 * read here independently: the text report (a few tables) and the JSON
 * report (every table), and a fixture whose source is gone by report time. */
#define _GNU_SOURCE
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

struct source {
    char *text;
    char **lines;   /* lines[i]: line i + 1 */
    int n;
};

static void source_read(struct source *s, const char *path)
{
    size_t len;
    s->text = read_file(path, &len);
    ck_assert_msg(s->text != NULL, "cannot read %s", path);
    s->lines = calloc(len + 1, sizeof *s->lines);
    s->n = 0;
    for (char *p = s->text; *p;) {
        s->lines[s->n++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
}

static const char *source_line(const struct source *s, int line)
{
    return line >= 1 && line <= s->n ? s->lines[line - 1] : "";
}

static char *absolute(const char *display)
{
    if (display[0] == '/')
        return strdup(display);
    char cwd[4096], *out;
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_ge(asprintf(&out, "%s/%s", cwd, display), 0);
    return out;
}

/* Every row of every JSON table carries its file's line; returns the tables. */
static size_t check_json_tables(const char *json_path, struct problems *pr)
{
    json_error_t err;
    json_t *root = json_load_file(json_path, 0, &err);
    ck_assert_msg(root != NULL, "%s: %s", json_path, err.text);
    json_t *tables = json_object_get(root, "tables");
    ck_assert(json_is_array(tables));
    size_t n = json_array_size(tables), rows = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(tables, i);
        char *path = absolute(json_string_value(json_object_get(t, "file")));
        struct source src;
        source_read(&src, path);
        json_t *r;
        size_t k;
        json_array_foreach(json_object_get(t, "rows"), k, r) {
            int line = (int)json_integer_value(json_object_get(r, "line"));
            const char *text = json_string_value(json_object_get(r, "text"));
            if (!text || strcmp(text, source_line(&src, line)) != 0)
                problem(pr, "%s:%d: JSON text \"%s\", the file has \"%s\"\n", path, line, text ? text : "(null)",
                        source_line(&src, line));
            rows++;
        }
        free(src.lines);
        free(src.text);
        free(path);
    }
    ck_assert_uint_gt(rows, 10);
    json_decref(root);
    return n;
}

/* The text report's tables: "Filename: F", a header whose "Line Contents"
 * says where each row's text starts, then the rows.  Returns the number of
 * tables. */
static size_t check_text_tables(const char *report, struct problems *pr)
{
    size_t tables = 0;
    struct source src = { 0 };
    char *copy = strdup(report), *save = NULL, *path = NULL;
    int in_rows = 0;
    size_t text_col = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "Filename: ", 10) == 0) {
            free(src.lines);
            free(src.text);
            free(path);
            path = absolute(line + 10);
            source_read(&src, path);
            tables++;
            in_rows = 0;
        } else if (strncmp(line, "Line #", 6) == 0 && strstr(line, "Line Contents")) {
            text_col = (size_t)(strstr(line, "Line Contents") - line);
        } else if (strncmp(line, "=====", 5) == 0) {
            in_rows = path != NULL && text_col > 0;
        } else if (in_rows) {
            int n;
            if (sscanf(line, "%6d", &n) != 1 || strlen(line) < text_col) {
                in_rows = 0;
                continue;
            }
            const char *text = line + text_col;
            if (strcmp(text, source_line(&src, n)) != 0 && !(text[0] == '\0' && source_line(&src, n)[0] == '\0'))
                problem(pr, "%s:%d: text report \"%s\", the file has \"%s\"\n", path, n, text, source_line(&src, n));
        }
    }
    free(src.lines);
    free(src.text);
    free(path);
    free(copy);
    return tables;
}

START_TEST(every_table_row_shows_its_line)
{
    const char *exe = build_fixture("tests/fixtures/basic.c", "gcc", "-O2 -g", "report_sources_basic");
    ck_assert_ptr_nonnull(exe);
    char json[4096];
    snprintf(json, sizeof json, "%s/report_sources.json", test_tmp_dir());
    char *argv[] = { (char *)memprof_path(), "--tables", "1", "--json", json, (char *)exe, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_msg(o.status == 0, "memprof failed: %s", o.err);
    struct problems pr = { .n = 0 };
    ck_assert_uint_eq(check_text_tables(o.err, &pr), 1);
    ck_assert_uint_gt(check_json_tables(json, &pr), 1);   /* more tables than the text shows */
    ck_assert_msg(pr.n == 0, "%s", pr.text);
    ck_assert_ptr_null(strstr(o.err, "not found"));
    run_output_free(&o);
    unlink(json);
}
END_TEST

/* The source moved away before the report: empty text and one note. */
START_TEST(missing_source_is_noted)
{
    char *dir, *src, *exe, *cmd;
    ck_assert_int_ge(asprintf(&dir, "%s/report_sources_gone", test_tmp_dir()), 0);
    ck_assert_int_ge(asprintf(&src, "%s/gone.c", dir), 0);
    ck_assert_int_ge(asprintf(&exe, "%s/gone", dir), 0);
    ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s' && mkdir -p '%s' && cp '%s' '%s' && gcc -O0 -g -o '%s' '%s' && rm '%s'",
                              dir, dir, repo_path("tests/fixtures/basic.c"), src, exe, src, src), 0);
    ck_assert_int_eq(system(cmd), 0);
    char *argv[] = { (char *)memprof_path(), exe, NULL };
    struct run_output o;
    ck_assert_int_eq(run_cmd(argv, NULL, NULL, 60, &o), 0);
    ck_assert_msg(o.status == 0, "memprof failed: %s", o.err);
    /* The path is shown relative to the working directory when under it. */
    const char *note = "report_sources_gone/gone.c not found: its Line Contents column is empty";
    const char *hit = strstr(o.err, note);
    ck_assert_msg(hit != NULL, "no note for %s in:\n%s", src, o.err);
    ck_assert_ptr_null(strstr(hit + 1, note));   /* once */
    run_output_free(&o);
    free(dir), free(src), free(exe), free(cmd);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_sources");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_table_row_shows_its_line);
    tcase_add_test(tc, missing_source_is_noted);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
