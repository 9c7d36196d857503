/* memprof tests: what the Python tests share (see py_harness.h). */
#define _GNU_SOURCE
#include "py_harness.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* ---- the fixtures' annotations ---- */

static int64_t py_field(const char *text, const char *name)
{
    const char *at = strstr(text, name);
    ck_assert_msg(at != NULL, "annotation without %s: %s", name, text);
    return strtoll(at + strlen(name), NULL, 10);
}

void load_fixture(const char *name, struct py_fixture *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", repo_path(name));
    char *text = read_file(f->path, NULL);
    ck_assert_msg(text != NULL, "cannot read %s", f->path);
    int line = 1;
    for (char *p = text; *p; line++) {
        char *end = strchr(p, '\n');
        if (end)
            *end = '\0';
        const char *hash = strstr(p, "# @");
        if (hash && !strstr(p, "Annotations") && f->n < 64) {
            struct py_expect *e = &f->lines[f->n++];
            e->line = line;
            const char *a;
            if ((a = strstr(hash, "@expect "))) {
                e->has_expect = 1;
                e->calls = (uint64_t)py_field(a, "calls=");
                e->bytes = (uint64_t)py_field(a, "bytes=");
            }
            if ((a = strstr(hash, "@peak "))) {
                e->has_peak = 1;
                e->peak = (uint64_t)py_field(a, "bytes=");
            }
            if ((a = strstr(hash, "@temporary "))) {
                e->has_temporary = 1;
                e->temporary = (uint64_t)py_field(a, "calls=");
            }
            if ((a = strstr(hash, "@leak "))) {
                e->has_leak = 1;
                e->leak_bytes = (uint64_t)py_field(a, "bytes=");
                e->leak_blocks = (uint64_t)py_field(a, "blocks=");
            }
            if ((a = strstr(hash, "@freed "))) {
                e->has_freed = 1;
                e->freed_calls = (uint64_t)py_field(a, "calls=");
                e->freed_bytes = (uint64_t)py_field(a, "bytes=");
            }
            if ((a = strstr(hash, "@lines "))) {
                e->has_lines = 1;
                e->occurrences = (uint64_t)py_field(a, "occurrences=");
                e->has_heap = strstr(a, "heap=") != NULL;
                if (e->has_heap)
                    e->heap = py_field(a, "heap=");
            }
        }
        if (!end)
            break;
        p = end + 1;
    }
    free(text);
    ck_assert_msg(f->n > 0, "%s has no annotations", name);
}

/* ---- running memprof ---- */

static char json_path[PATH_MAX];

/* memprof [args] --json FILE -o FILE.txt PYTHON fixture: the JSON report. */
json_t *py_profile(const char *const *args, const char *fixture, char *const env[], struct run_output *o)
{
    static int runs;
    snprintf(json_path, sizeof json_path, "%s/python-%d.json", test_tmp_dir(), runs++);
    char text_path[PATH_MAX + 8];
    snprintf(text_path, sizeof text_path, "%s.txt", json_path);
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)memprof_path();
    for (int i = 0; args && args[i]; i++)
        argv[n++] = (char *)args[i];
    argv[n++] = "--json";
    argv[n++] = json_path;
    argv[n++] = "-o";
    argv[n++] = text_path;
    argv[n++] = PYTHON;
    argv[n++] = (char *)fixture;
    argv[n] = NULL;
    ck_assert_int_eq(run_cmd(argv, NULL, env, 300, o), 0);
    ck_assert_msg(o->status == 0, "memprof %s: status %d: %s", fixture, o->status, o->err);
    json_error_t jerr;
    json_t *root = json_load_file(json_path, 0, &jerr);
    ck_assert_msg(root != NULL, "%s: %s", json_path, jerr.text);
    return root;
}

int fixture_line_of(const char *path, const char *text)
{
    char *src = read_file(path, NULL);
    ck_assert_msg(src != NULL, "cannot read %s", path);
    char *at = strstr(src, text);
    ck_assert_msg(at != NULL, "%s: no \"%s\"", path, text);
    int line = 1;
    for (char *q = src; q < at; q++)
        line += *q == '\n';
    free(src);
    return line;
}

int is_fixture_file(const char *file, const char *fixture)
{
    const char *base = strrchr(fixture, '/');
    base = base ? base + 1 : fixture;
    size_t fl = file ? strlen(file) : 0, bl = strlen(base);
    return fl >= bl && strcmp(file + fl - bl, base) == 0 && (fl == bl || file[fl - bl - 1] == '/');
}

/* The "lines" entry of the fixture's line `line`, or NULL. */
json_t *line_entry(json_t *root, const char *fixture, int line)
{
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(root, "lines"), i, l)
    {
        const char *file = json_string_value(json_object_get(l, "file"));
        if (file && is_fixture_file(file, fixture) && json_integer_value(json_object_get(l, "line")) == line)
            return l;
    }
    return NULL;
}

const char *warnings_text(json_t *root, char *buf, size_t len)
{
    size_t i, used = 0;
    json_t *w;
    buf[0] = '\0';
    json_array_foreach(json_object_get(root, "warnings"), i, w)
        used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s\n", json_string_value(w));
    return buf;
}

/* The row of the fixture's line `line` in its function's table (the
 * <module> table spans the whole file, blank inside the functions: the row
 * that freed the most is the function's). */
json_t *table_row(json_t *root, const char *fixture, int line)
{
    size_t t, k;
    json_t *table, *row, *best = NULL;
    json_array_foreach(json_object_get(root, "tables"), t, table)
    {
        const char *file = json_string_value(json_object_get(table, "file"));
        if (!file || !is_fixture_file(file, fixture))
            continue;
        json_array_foreach(json_object_get(table, "rows"), k, row)
        {
            if (json_integer_value(json_object_get(row, "line")) == line &&
                (!best || obj_u64(row, "site_freed_bytes") > obj_u64(best, "site_freed_bytes")))
                best = row;
        }
    }
    return best;
}

/* Every @expect/@peak/@temporary/@leak/@freed of the fixture against the report. */
void check_annotations(json_t *root, const struct py_fixture *f, struct problems *p)
{
    for (int i = 0; i < f->n; i++) {
        const struct py_expect *e = &f->lines[i];
        if (e->has_freed) {
            json_t *row = table_row(root, f->path, e->line);
            uint64_t calls = row ? obj_u64(row, "site_free_calls") : 0, bytes = row ? obj_u64(row, "site_freed_bytes") : 0;
            if (calls != e->freed_calls || bytes != e->freed_bytes)
                problem(p, "line %d freed %llu blocks, %llu bytes; the source says %llu, %llu", e->line,
                        (unsigned long long)calls, (unsigned long long)bytes, (unsigned long long)e->freed_calls,
                        (unsigned long long)e->freed_bytes);
        }
        if (!e->has_expect && !e->has_peak && !e->has_temporary && !e->has_leak)
            continue;
        json_t *l = line_entry(root, f->path, e->line);
        if (!l) {
            problem(p, "line %d: not in the report", e->line);
            continue;
        }
        uint64_t calls = obj_u64(l, "alloc_calls"), bytes = obj_u64(l, "allocated_bytes");
        if (e->has_expect && (calls != e->calls || bytes != e->bytes))
            problem(p, "line %d: %llu calls, %llu bytes; the source says %llu calls, %llu bytes", e->line,
                    (unsigned long long)calls, (unsigned long long)bytes, (unsigned long long)e->calls,
                    (unsigned long long)e->bytes);
        if (e->has_peak && obj_u64(l, "peak_bytes") != e->peak)
            problem(p, "line %d: %llu bytes at the peak, the source says %llu", e->line,
                    (unsigned long long)obj_u64(l, "peak_bytes"), (unsigned long long)e->peak);
        if (e->has_temporary && obj_u64(l, "temporary_calls") != e->temporary)
            problem(p, "line %d: %llu temporaries, the source says %llu", e->line,
                    (unsigned long long)obj_u64(l, "temporary_calls"), (unsigned long long)e->temporary);
        if (e->has_leak && (obj_u64(l, "leaked_bytes") != e->leak_bytes || obj_u64(l, "leaked_blocks") != e->leak_blocks))
            problem(p, "line %d: %llu bytes in %llu blocks at exit, the source says %llu in %llu", e->line,
                    (unsigned long long)obj_u64(l, "leaked_bytes"), (unsigned long long)obj_u64(l, "leaked_blocks"),
                    (unsigned long long)e->leak_bytes, (unsigned long long)e->leak_blocks);
    }
}

/* The frames of every stack whose user line is (fixture, line): calls fn
 * with the frame list (innermost first). */
int for_stacks_of(json_t *root, const char *fixture, int line, stack_fn fn, void *ctx)
{
    json_t *frames = json_object_get(root, "frames");
    size_t i;
    json_t *s;
    int n = 0;
    json_array_foreach(json_object_get(root, "stacks"), i, s)
    {
        json_t *user = json_array_get(frames, (size_t)json_integer_value(json_object_get(s, "user_line")));
        const char *file = json_string_value(json_object_get(user, "file"));
        if (!file || !is_fixture_file(file, fixture) || json_integer_value(json_object_get(user, "line")) != line)
            continue;
        fn(ctx, frames, json_object_get(s, "frames"));
        n++;
    }
    return n;
}

json_t *frame_at(json_t *table, json_t *stack_frames, size_t k)
{
    return json_array_get(table, (size_t)json_integer_value(json_array_get(stack_frames, k)));
}

int frame_is_python(json_t *frame)
{
    const char *file = json_string_value(json_object_get(frame, "file"));
    size_t len = file ? strlen(file) : 0;
    return len > 3 && (strcmp(file + len - 3, ".py") == 0 || file[0] == '<');
}


int py_run_suite(Suite *s)
{
    if (access(PYTHON, X_OK) != 0) {
        printf("no %s: scripts/install-deps installs it\n", PYTHON);
        srunner_free(srunner_create(s));
        return 1;
    }
    return run_suite(s);
}
