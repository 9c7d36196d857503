/* memprof: source lines for the reports (sources.h).  Each file is streamed
 * through a fixed buffer once per mp_sources_read; the lines of the ranges
 * asked for are copied out, the rest only counted, and reading stops after
 * the last line asked for. */
#define _GNU_SOURCE
#include "sources.h"
#include "base/hashidx.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK 65536

/* Lines first..last of a file: offsets[i] is where line first + i starts in
 * the file's text (NUL-terminated); n < last - first + 1 past the end. */
struct line_range {
    int first, last;
    size_t *offsets;
    size_t n, cap;
};

struct source_file {
    char *path;
    struct line_range *ranges;   /* read: sorted, disjoint */
    size_t n_ranges;
    struct line_range *pending;  /* asked for since the last read (first, last only) */
    size_t n_pending, cap_pending;
    int unchecked;   /* asked for, not opened yet */
    char *text;
    size_t text_len, text_cap;
    int missing;
    int restored;    /* lines are separate copies (mp_sources_set_line), nothing is read */
    char **lines;    /* restored: lines[0] is line 1 */
    size_t n_lines;
};

struct mp_sources {
    struct source_file *files;
    size_t n, cap;
    struct mp_hashidx index;     /* path -> file */
    const char **missing;
    size_t n_missing;
};

struct mp_sources *mp_sources_new(void)
{
    struct mp_sources *s = calloc(1, sizeof *s);
    if (s)
        mp_hashidx_init(&s->index);
    return s;
}

static void free_ranges(struct line_range *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(r[i].offsets);
    free(r);
}

void mp_sources_free(struct mp_sources *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        struct source_file *f = &s->files[i];
        for (size_t j = 0; f->restored && j < f->n_lines; j++)
            free(f->lines[j]);
        free(f->lines);
        free(f->path);
        free(f->text);
        free_ranges(f->ranges, f->n_ranges);
        free(f->pending);
    }
    free(s->files);
    mp_hashidx_free(&s->index);
    free(s->missing);
    free(s);
}

/* ---- files ---------------------------------------------------------------- */

struct path_key {
    const struct mp_sources *s;
    const char *path;
};

static int same_path(const void *ctx, uint32_t id)
{
    const struct path_key *k = ctx;
    return strcmp(k->s->files[id].path, k->path) == 0;
}

static uint64_t path_hash(const char *path)
{
    return mp_hash_bytes(path, strlen(path));
}

static struct source_file *find(const struct mp_sources *s, const char *path)
{
    struct path_key k = { s, path };
    uint32_t id = mp_hashidx_find(&s->index, path_hash(path), same_path, &k);
    return id == UINT32_MAX ? NULL : &s->files[id];
}

static struct source_file *add_file(struct mp_sources *s, const char *path, int restored)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct source_file *g = realloc(s->files, cap * sizeof *g);
        if (!g)
            return NULL;
        s->files = g;
        s->cap = cap;
    }
    struct source_file *f = &s->files[s->n];
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path || mp_hashidx_insert(&s->index, path_hash(path), (uint32_t)s->n) != 0) {
        free(f->path);
        return NULL;
    }
    f->restored = restored;
    s->n++;
    return f;
}

static void note_missing(struct mp_sources *s, struct source_file *f)
{
    f->missing = 1;
    const char **g = realloc(s->missing, (s->n_missing + 1) * sizeof *g);
    if (g) {
        s->missing = g;
        s->missing[s->n_missing++] = f->path;
    }
}

/* ---- asking ----------------------------------------------------------------- */

static int covered(const struct source_file *f, int first, int last)
{
    for (size_t i = 0; i < f->n_ranges; i++)
        if (f->ranges[i].first <= first && last <= f->ranges[i].last)
            return 1;
    return 0;
}

void mp_sources_want(struct mp_sources *s, const char *file, int first, int last)
{
    /* "<string>", "<frozen getpath>", "<stdin>": Python code that has no
     * file, nothing missing */
    if (!s || !file || file[0] == '<')
        return;
    if (first <= 0) {
        first = 1;
        last = INT_MAX;
    }
    struct source_file *f = find(s, file);
    if (!f) {
        if (!(f = add_file(s, file, 0)))
            return;
        f->unchecked = 1;
    }
    if (last < first || f->restored || f->missing || covered(f, first, last))
        return;
    if (f->n_pending == f->cap_pending) {
        size_t cap = f->cap_pending ? f->cap_pending * 2 : 8;
        struct line_range *g = realloc(f->pending, cap * sizeof *g);
        if (!g)
            return;
        f->pending = g;
        f->cap_pending = cap;
    }
    f->pending[f->n_pending++] = (struct line_range){ .first = first, .last = last };
}

static int compare_first(const void *a, const void *b)
{
    const struct line_range *x = a, *y = b;
    return (x->first > y->first) - (x->first < y->first);
}

/* The ranges read before and those asked for since, sorted and merged
 * (touching ones too) into *out; -1 on ENOMEM. */
static int merged_ranges(struct source_file *f, struct line_range **out, size_t *n_out)
{
    size_t n = f->n_ranges + f->n_pending;
    struct line_range *r = calloc(n ? n : 1, sizeof *r);
    if (!r)
        return -1;
    for (size_t i = 0; i < f->n_ranges; i++)
        r[i] = (struct line_range){ .first = f->ranges[i].first, .last = f->ranges[i].last };
    for (size_t i = 0; i < f->n_pending; i++)
        r[f->n_ranges + i] = (struct line_range){ .first = f->pending[i].first, .last = f->pending[i].last };
    qsort(r, n, sizeof *r, compare_first);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && (r[m - 1].last == INT_MAX || r[i].first <= r[m - 1].last + 1)) {
            if (r[i].last > r[m - 1].last)
                r[m - 1].last = r[i].last;
        } else {
            r[m++] = r[i];
        }
    }
    *out = r;
    *n_out = m;
    return 0;
}

/* ---- reading ------------------------------------------------------------------ */

static int append_text(struct source_file *f, const char *p, size_t len)
{
    if (f->text_len + len + 1 > f->text_cap) {
        size_t cap = f->text_cap ? f->text_cap : 4096;
        while (f->text_len + len + 1 > cap)
            cap *= 2;
        char *g = realloc(f->text, cap);
        if (!g)
            return -1;
        f->text = g;
        f->text_cap = cap;
    }
    memcpy(f->text + f->text_len, p, len);
    f->text_len += len;
    return 0;
}

/* The line that started at `start` in the text is complete. */
static int end_line(struct source_file *f, struct line_range *r, size_t start)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        size_t *g = realloc(r->offsets, cap * sizeof *g);
        if (!g)
            return -1;
        r->offsets = g;
        r->cap = cap;
    }
    r->offsets[r->n++] = start;
    return append_text(f, "", 1);   /* its NUL */
}

/* Stream the file, keeping the lines of f->ranges.  0, or -1 when it cannot
 * be read (or memory runs out). */
static int read_ranges(struct source_file *f)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char *buf = malloc(READ_CHUNK);
    int rc = buf ? 0 : -1;
    int lineno = 1, open_line = 0;
    size_t r = 0, start = 0;
    while (rc == 0 && r < f->n_ranges) {
        ssize_t got = read(fd, buf, READ_CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            rc = got < 0 ? -1 : 0;
            /* A last line without a newline is a line (kept as is). */
            if (rc == 0 && open_line)
                rc = end_line(f, &f->ranges[r], start);
            break;
        }
        const char *p = buf, *end = buf + got;
        while (rc == 0 && p < end) {
            if (lineno < f->ranges[r].first) {
                /* Not asked for: only count lines up to the next range. */
                const char *nl;
                while (lineno < f->ranges[r].first && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
                    lineno++;
                    p = nl + 1;
                }
                if (lineno < f->ranges[r].first)
                    break;  /* the rest of the buffer is in an unwanted line */
                continue;
            }
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *stop = nl ? nl : end;
            if (!open_line) {
                start = f->text_len;
                open_line = 1;
            }
            rc = append_text(f, p, (size_t)(stop - p));
            if (!nl || rc != 0)
                break;
            if (f->text_len > start && f->text[f->text_len - 1] == '\r')
                f->text_len--;
            rc = end_line(f, &f->ranges[r], start);
            open_line = 0;
            lineno++;
            while (r < f->n_ranges && f->ranges[r].last < lineno)
                r++;
            if (r == f->n_ranges)
                break;      /* past the last line asked for */
            p = nl + 1;
        }
    }
    free(buf);
    close(fd);
    return rc;
}

static void read_file(struct mp_sources *s, struct source_file *f)
{
    struct line_range *ranges;
    size_t n;
    if (merged_ranges(f, &ranges, &n) != 0)
        return;
    free_ranges(f->ranges, f->n_ranges);
    f->ranges = ranges;
    f->n_ranges = n;
    f->n_pending = 0;
    f->unchecked = 0;
    f->text_len = 0;
    if (read_ranges(f) != 0) {
        free_ranges(f->ranges, f->n_ranges);
        free(f->text);
        f->ranges = NULL;
        f->n_ranges = 0;
        f->text = NULL;
        f->text_len = f->text_cap = 0;
        note_missing(s, f);
    }
}

void mp_sources_read(struct mp_sources *s)
{
    for (size_t i = 0; s && i < s->n; i++)
        if ((s->files[i].n_pending || s->files[i].unchecked) && !s->files[i].restored && !s->files[i].missing)
            read_file(s, &s->files[i]);
}

void mp_sources_load(struct mp_sources *s, const char *file)
{
    mp_sources_want(s, file, 0, 0);
    mp_sources_read(s);
}

/* ---- saved reports ---------------------------------------------------------------- */

int mp_sources_set_line(struct mp_sources *s, const char *file, int line, const char *text)
{
    if (!file || line <= 0 || !text)
        return 0;
    struct source_file *f = find(s, file);
    if (!f && !(f = add_file(s, file, 1)))
        return -1;
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

/* ---- looking up ------------------------------------------------------------------- */

const char *mp_sources_line(const struct mp_sources *s, const char *file, int line)
{
    if (!s || !file || line <= 0)
        return NULL;
    const struct source_file *f = find(s, file);
    if (!f || f->missing)
        return NULL;
    if (f->restored)
        return (size_t)line <= f->n_lines ? f->lines[line - 1] : NULL;
    size_t lo = 0, hi = f->n_ranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->ranges[mid].last < line)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == f->n_ranges || f->ranges[lo].first > line)
        return NULL;
    size_t i = (size_t)(line - f->ranges[lo].first);
    return i < f->ranges[lo].n ? f->text + f->ranges[lo].offsets[i] : NULL;
}

size_t mp_sources_missing(const struct mp_sources *s, const char *const **out)
{
    *out = s->missing;
    return s->n_missing;
}
