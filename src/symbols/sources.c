/* memprof: loads source files into memory, split into lines. */
#define _GNU_SOURCE
#include "sources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct source_file {
    char *path;
    char *text;      /* whole file, newlines replaced by NUL */
    char **lines;    /* lines[0] is line 1 */
    size_t n_lines;
    int missing;
    int restored;    /* lines are separate copies (mp_sources_set_line), text unused */
};

struct mp_sources {
    struct source_file *files;
    size_t n, cap;
    const char **missing;
    size_t n_missing;
};

struct mp_sources *mp_sources_new(void)
{
    return calloc(1, sizeof(struct mp_sources));
}

void mp_sources_free(struct mp_sources *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        if (s->files[i].restored)
            for (size_t j = 0; j < s->files[i].n_lines; j++)
                free(s->files[i].lines[j]);
        free(s->files[i].path);
        free(s->files[i].text);
        free(s->files[i].lines);
    }
    free(s->files);
    free(s->missing);
    free(s);
}

static const struct source_file *find(const struct mp_sources *s, const char *path)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->files[i].path, path) == 0)
            return &s->files[i];
    return NULL;
}

static char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        char *g = realloc(buf, (cap *= 2) + 1);
        if (!g) {
            free(buf);
            buf = NULL;
        } else {
            buf = g;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int split_lines(struct source_file *f, size_t len)
{
    size_t cap = 64;
    f->lines = malloc(cap * sizeof *f->lines);
    if (!f->lines)
        return -1;
    char *p = f->text, *end = f->text + len;
    while (p < end) {
        if (f->n_lines == cap) {
            char **g = realloc(f->lines, (cap *= 2) * sizeof *g);
            if (!g)
                return -1;
            f->lines = g;
        }
        f->lines[f->n_lines++] = p;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        *nl = '\0';
        if (nl > p && nl[-1] == '\r')
            nl[-1] = '\0';
        p = nl + 1;
    }
    return 0;
}

void mp_sources_load(struct mp_sources *s, const char *path)
{
    if (!path || find(s, path))
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct source_file *g = realloc(s->files, cap * sizeof *g);
        if (!g)
            return;
        s->files = g;
        s->cap = cap;
    }
    struct source_file *f = &s->files[s->n];
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path)
        return;
    s->n++;
    size_t len = 0;
    f->text = read_whole(path, &len);
    if (!f->text || split_lines(f, len) != 0) {
        free(f->text);
        free(f->lines);
        f->text = NULL;
        f->lines = NULL;
        f->n_lines = 0;
        f->missing = 1;
        const char **g = realloc(s->missing, (s->n_missing + 1) * sizeof *g);
        if (g) {
            s->missing = g;
            s->missing[s->n_missing++] = f->path;
        }
    }
}

int mp_sources_set_line(struct mp_sources *s, const char *file, int line, const char *text)
{
    if (!file || line <= 0 || !text)
        return 0;
    struct source_file *f = (struct source_file *)find(s, file);
    if (!f) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 16;
            struct source_file *g = realloc(s->files, cap * sizeof *g);
            if (!g)
                return -1;
            s->files = g;
            s->cap = cap;
        }
        f = &s->files[s->n];
        memset(f, 0, sizeof *f);
        f->path = strdup(file);
        if (!f->path)
            return -1;
        f->restored = 1;
        s->n++;
    }
    if (!f->restored)
        return 0; /* read from disk already: keep that */
    if ((size_t)line > f->n_lines) {
        char **g = realloc(f->lines, (size_t)line * sizeof *g);
        if (!g)
            return -1;
        memset(g + f->n_lines, 0, ((size_t)line - f->n_lines) * sizeof *g);
        f->lines = g;
        f->n_lines = (size_t)line;
    }
    char *copy = strdup(text);
    if (!copy)
        return -1;
    free(f->lines[line - 1]);
    f->lines[line - 1] = copy;
    return 0;
}

const char *mp_sources_line(const struct mp_sources *s, const char *file, int line)
{
    if (!s || !file || line <= 0)
        return NULL;
    const struct source_file *f = find(s, file);
    if (!f || f->missing || (size_t)line > f->n_lines)
        return NULL;
    return f->lines[line - 1];
}

size_t mp_sources_missing(const struct mp_sources *s, const char *const **out)
{
    *out = s->missing;
    return s->n_missing;
}
