/* memprof: reading a saved JSON report back (memprof report, memprof diff).
 *
 * The file is parsed with jansson, then every field is checked before it is
 * used: types, ranges, indices into "frames", duplicates.  Only then is the
 * profile rebuilt through the restore API, so a bad file never reaches the
 * writers.  Errors are one line: "NAME:LINE:COLUMN: PATH: problem", where
 * PATH names the field ("stacks[3].frames[2]") and LINE:COLUMN is where
 * that field's value starts in the file (jansson does not keep positions of
 * values, so json_load_locate() finds them again by scanning the text).
 *
 * What a report carries is what the writers need: self counters ("lines"),
 * inclusive counters and function ranges (the "tables" rows), every line
 * record ("frames", in profile order) and every stack ("stacks"), the
 * summary, the timeline and the run's outcome.  Derived sections ("leaks",
 * "peak.reached_at", "user_frame") are checked for shape and recomputed. */
#define _GNU_SOURCE
#include "json_load.h"
#include "format.h"
#include "sources.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_REPORT_BYTES ((size_t)1 << 30) /* 1 GiB */
#define MAX_PATH 8
#define SCHEMA 1
/* The longest timeline a profile keeps before merging neighbours. */
#define MAX_SAMPLES (2 * MP_TIMELINE_MAX)
/* Seconds in a timeline sample; far beyond any run, small enough for ns in 64 bits. */
#define MAX_SECONDS 1e10

struct path_part {
    const char *key; /* NULL: an array index */
    size_t index;
};

struct owned {
    char **command, **warnings; /* NULL-terminated; strings interned in the profile */
};

struct table_key {
    const char *file, *function; /* interned */
    size_t index;
};

struct loader {
    const char *name, *data;
    size_t len;
    char *err;
    size_t errlen;
    int failed;
    struct path_part path[MAX_PATH];
    int depth;
    int show_path;

    struct mp_profile *p;
    struct mp_sources *src;
    int stable;
    uint32_t n_frames;
    /* Frames that show the same place (--stable) form a chain from the
     * first one, the one a lookup by place finds. */
    uint32_t *next_dup;  /* per frame: the next frame in its chain, or UINT32_MAX */
    uint32_t *dup_tail;  /* per chain head: its last frame */
    uint8_t *self_done;  /* per frame: a "lines" entry set its self counters */
    uint8_t *incl_done;  /* per frame: a table row set its inclusive counters */
    uint32_t *self_next, *incl_next; /* per chain head: where an unused frame may be */
    /* Source text of table rows, set once all tables are checked. */
    struct row_text *texts;
    size_t n_texts, cap_texts;
};

struct row_text {
    const char *file; /* interned */
    int line;
    const char *text; /* in the parsed document */
    size_t order;
};

/* ---- where a field is in the text ---- */

static int is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static size_t skip_ws(const char *d, size_t n, size_t i)
{
    while (i < n && is_ws(d[i]))
        i++;
    return i;
}

static size_t skip_string(const char *d, size_t n, size_t i)
{
    for (i++; i < n && d[i] != '"'; i++)
        if (d[i] == '\\')
            i++;
    return i < n ? i + 1 : n;
}

static size_t skip_value(const char *d, size_t n, size_t i)
{
    if (i >= n)
        return n;
    if (d[i] == '"')
        return skip_string(d, n, i);
    if (d[i] == '{' || d[i] == '[') {
        size_t depth = 0;
        while (i < n) {
            char ch = d[i];
            if (ch == '"') {
                i = skip_string(d, n, i);
                continue;
            }
            if (ch == '{' || ch == '[')
                depth++;
            else if ((ch == '}' || ch == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return n;
    }
    while (i < n && !is_ws(d[i]) && d[i] != ',' && d[i] != ']' && d[i] != '}')
        i++;
    return i;
}

/* Does the JSON string at d[i] (quotes included, up to `end`) spell `key`? */
static int key_matches(const char *d, size_t i, size_t end, const char *key)
{
    size_t raw = end - i - 2, klen = strlen(key);
    if (!memchr(d + i, '\\', end - i))
        return raw == klen && memcmp(d + i + 1, key, klen) == 0;
    json_t *s = json_loadb(d + i, end - i, JSON_DECODE_ANY, NULL);
    int same = s && json_is_string(s) && json_string_length(s) == klen && memcmp(json_string_value(s), key, klen) == 0;
    json_decref(s);
    return same;
}

/* Byte offset of the value the path names, or of the deepest part of it
 * that exists.  The text is valid JSON (jansson accepted it), but every
 * step is bounded by its length anyway. */
size_t json_load_locate(const char *d, size_t n, const struct path_part *path, int depth);
size_t json_load_locate(const char *d, size_t n, const struct path_part *path, int depth)
{
    size_t at = skip_ws(d, n, 0);
    for (int k = 0; k < depth && at < n; k++) {
        size_t i = at;
        if (path[k].key) {
            if (d[i] != '{')
                return at;
            for (i = skip_ws(d, n, i + 1); i < n && d[i] == '"';) {
                size_t end = skip_string(d, n, i);
                int match = key_matches(d, i, end, path[k].key);
                i = skip_ws(d, n, end);
                if (i < n && d[i] == ':')
                    i = skip_ws(d, n, i + 1);
                if (match)
                    goto found;
                i = skip_ws(d, n, skip_value(d, n, i));
                if (i < n && d[i] == ',')
                    i = skip_ws(d, n, i + 1);
            }
            return at;
        } else {
            if (d[i] != '[')
                return at;
            i = skip_ws(d, n, i + 1);
            for (size_t e = 0; e < path[k].index; e++) {
                if (i >= n || d[i] == ']')
                    return at;
                i = skip_ws(d, n, skip_value(d, n, i));
                if (i < n && d[i] == ',')
                    i = skip_ws(d, n, i + 1);
            }
            if (i >= n || d[i] == ']')
                return at;
        }
    found:
        at = i;
    }
    return at;
}

/* Line and column (1-based; columns count characters, as jansson's do). */
static void line_column(const char *d, size_t n, size_t at, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < at && i < n; i++) {
        if (d[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)d[i] & 0xC0) != 0x80) {
            c++;
        }
        if (l == INT_MAX || c == INT_MAX)
            break;
    }
    *line = l;
    *col = c;
}

/* ---- errors ---- */

static void path_string(const struct loader *L, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int k = 0; k < L->depth && k < MAX_PATH && o < len; k++) {
        int w = L->path[k].key ? snprintf(buf + o, len - o, "%s%s", k ? "." : "", L->path[k].key)
                               : snprintf(buf + o, len - o, "[%zu]", L->path[k].index);
        if (w < 0)
            break;
        o += (size_t)w;
    }
}

__attribute__((format(printf, 2, 3))) static int fail(struct loader *L, const char *fmt, ...)
{
    if (L->failed)
        return -1;
    L->failed = 1;
    char msg[512], path[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int depth = L->depth < MAX_PATH ? L->depth : MAX_PATH;
    size_t at = json_load_locate(L->data, L->len, L->path, depth);
    int line, col;
    line_column(L->data, L->len, at, &line, &col);
    path_string(L, path, sizeof path);
    if (L->show_path && path[0])
        snprintf(L->err, L->errlen, "%s:%d:%d: %s: %s", L->name, line, col, path, msg);
    else
        snprintf(L->err, L->errlen, "%s:%d:%d: %s", L->name, line, col, msg);
    return -1;
}

static int oom(struct loader *L)
{
    return fail(L, "out of memory");
}

static void enter_key(struct loader *L, const char *key)
{
    if (L->depth < MAX_PATH)
        L->path[L->depth] = (struct path_part){ key, 0 };
    L->depth++;
}

static void enter_index(struct loader *L, size_t i)
{
    if (L->depth < MAX_PATH)
        L->path[L->depth] = (struct path_part){ NULL, i };
    L->depth++;
}

static void leave(struct loader *L)
{
    L->depth--;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return json_integer_value(v) < 0 ? "a negative integer" : "an integer";
    case JSON_REAL: return "a number with a fraction or exponent";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "something else";
}

/* ---- typed fields; each reports its own errors ---- */

static json_t *member(struct loader *L, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        fail(L, "missing field \"%s\"", key);
    return v;
}

static int expect_object(struct loader *L, json_t *v)
{
    return json_is_object(v) ? 0 : fail(L, "expected an object, found %s", type_name(v));
}

static int expect_array(struct loader *L, json_t *v)
{
    return json_is_array(v) ? 0 : fail(L, "expected an array, found %s", type_name(v));
}

static int check_u64(struct loader *L, json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return fail(L, "expected a non-negative integer, found %s", type_name(v));
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* A counter; `*is_null` (when given) accepts null, which --stable writes for
 * what varies between runs. */
static int get_u64(struct loader *L, json_t *obj, const char *key, uint64_t *out, int *is_null)
{
    json_t *v = member(L, obj, key);
    if (!v)
        return -1;
    enter_key(L, key);
    int rc = 0;
    *out = 0;
    if (is_null && json_is_null(v))
        *is_null = 1;
    else if (is_null && !json_is_integer(v))
        rc = fail(L, "expected a non-negative integer or null, found %s", type_name(v));
    else
        rc = check_u64(L, v, out);
    leave(L);
    return rc;
}

static int check_int(struct loader *L, json_t *v, long long lo, long long hi, long long *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return json_is_integer(v) ? fail(L, "%lld is out of range (%lld to %lld)", (long long)json_integer_value(v), lo, hi)
                                  : fail(L, "expected an integer, found %s", type_name(v));
    *out = json_integer_value(v);
    return 0;
}

static int get_int(struct loader *L, json_t *obj, const char *key, long long lo, long long hi, long long *out)
{
    json_t *v = member(L, obj, key);
    if (!v)
        return -1;
    enter_key(L, key);
    int rc = check_int(L, v, lo, hi, out);
    leave(L);
    return rc;
}

/* A string (NUL-free: jansson refuses \u0000), or NULL for null when allowed. */
static int get_str(struct loader *L, json_t *obj, const char *key, int allow_null, const char **out)
{
    json_t *v = member(L, obj, key);
    if (!v)
        return -1;
    *out = NULL;
    if (allow_null && json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        enter_key(L, key);
        fail(L, "expected a string%s, found %s", allow_null ? " or null" : "", type_name(v));
        leave(L);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int get_typed(struct loader *L, json_t *obj, const char *key, int want_array, int allow_null, json_t **out)
{
    json_t *v = member(L, obj, key);
    *out = v;
    if (!v)
        return -1;
    if (allow_null && json_is_null(v)) {
        *out = NULL;
        return 0;
    }
    enter_key(L, key);
    int rc = want_array ? expect_array(L, v) : expect_object(L, v);
    leave(L);
    return rc;
}

/* A time or duration in seconds: a finite non-negative number. */
static int check_seconds(struct loader *L, json_t *v, double *out)
{
    if (!json_is_number(v))
        return fail(L, "expected a number of seconds, found %s", type_name(v));
    double s = json_number_value(v);
    if (!(s >= 0 && s <= MAX_SECONDS))
        return fail(L, "%g seconds is out of range (0 to %g)", s, MAX_SECONDS);
    *out = s;
    return 0;
}

/* ---- places: {"file", "line", "function"[, "module"]} ---- */

struct place {
    const char *file, *function, *module;
    int line;
};

static int get_place(struct loader *L, json_t *v, struct place *pl)
{
    long long line;
    memset(pl, 0, sizeof *pl);
    if (expect_object(L, v) || get_str(L, v, "file", 1, &pl->file) || get_int(L, v, "line", 0, INT_MAX, &line) ||
        get_str(L, v, "function", 0, &pl->function))
        return -1;
    pl->line = (int)line;
    if (!pl->file && get_str(L, v, "module", 1, &pl->module))
        return -1;
    return 0;
}

/* Is line record l shown as this place? */
static int shown_as(const struct loader *L, const struct mp_line_stats *l, const struct place *pl)
{
    if ((l->file == NULL) != (pl->file == NULL) || (l->file && strcmp(l->file, pl->file)) || l->line != pl->line ||
        strcmp(mp_display_function(l->function, L->stable), pl->function))
        return 0;
    return l->file || strcmp(l->module, pl->module ? pl->module : "[unknown]") == 0;
}

static const char *describe(const struct place *pl, char *buf, size_t len)
{
    if (pl->file)
        snprintf(buf, len, "%s:%d (%s)", pl->file, pl->line, pl->function);
    else
        snprintf(buf, len, "%s (%s)", pl->function, pl->module ? pl->module : "null");
    return buf;
}

/* The frame shown at this place whose `used` flag is clear; UINT32_MAX
 * after failing.  `next` keeps each chain's search amortised O(1). */
static uint32_t find_frame(struct loader *L, const struct place *pl, uint8_t *used, uint32_t *next)
{
    char buf[300];
    struct mp_line_stats *l = mp_profile_restore_line(L->p, pl->file, pl->line, pl->function, pl->module);
    if (!l) {
        oom(L);
        return UINT32_MAX;
    }
    uint32_t i = mp_profile_line_index(L->p, l);
    /* (A record made by this lookup is left behind, but the load fails.) */
    if (i >= L->n_frames) {
        fail(L, "%s is not in \"frames\"", describe(pl, buf, sizeof buf));
        return UINT32_MAX;
    }
    uint32_t head = i;
    for (i = next[head]; i != UINT32_MAX && used[i]; i = L->next_dup[i])
        ;
    if (i == UINT32_MAX) {
        fail(L, "%s is listed twice", describe(pl, buf, sizeof buf));
        return UINT32_MAX;
    }
    used[i] = 1;
    next[head] = i;
    return i;
}

/* ---- sections ---- */

static int load_frames(struct loader *L, json_t *root)
{
    json_t *frames;
    if (get_typed(L, root, "frames", 1, 0, &frames))
        return -1;
    size_t n = json_array_size(frames);
    if (n >= UINT32_MAX)
        return fail(L, "too many frames");
    L->n_frames = (uint32_t)n;
    size_t alloc = n ? n : 1;
    L->next_dup = malloc(alloc * sizeof *L->next_dup);
    L->dup_tail = malloc(alloc * sizeof *L->dup_tail);
    L->self_next = malloc(alloc * sizeof *L->self_next);
    L->incl_next = malloc(alloc * sizeof *L->incl_next);
    L->self_done = calloc(alloc, 1);
    L->incl_done = calloc(alloc, 1);
    if (!L->next_dup || !L->dup_tail || !L->self_next || !L->incl_next || !L->self_done || !L->incl_done)
        return oom(L);
    enter_key(L, "frames");
    for (size_t i = 0; i < n; i++) {
        struct place pl;
        enter_index(L, i);
        L->next_dup[i] = UINT32_MAX;
        L->dup_tail[i] = L->self_next[i] = L->incl_next[i] = (uint32_t)i;
        if (get_place(L, json_array_get(frames, i), &pl))
            return -1;
        struct mp_line_stats *l = mp_profile_restore_line(L->p, pl.file, pl.line, pl.function, pl.module);
        if (!l)
            return oom(L);
        uint32_t got = mp_profile_line_index(L->p, l);
        if (got != i) {
            /* --stable shows every "[unknown]+0x..." as "[unknown]": give the
             * repeat a distinct name that it shows the same way. */
            if (!L->stable || strcmp(pl.function, "[unknown]") != 0)
                return fail(L, "repeats frames[%u]", got);
            char name[64];
            snprintf(name, sizeof name, "[unknown]+0x%zx", i);
            l = mp_profile_restore_line(L->p, pl.file, pl.line, name, pl.module);
            if (!l)
                return oom(L);
            if (mp_profile_line_index(L->p, l) != i)
                return fail(L, "repeats frames[%u]", got);
            L->next_dup[L->dup_tail[got]] = (uint32_t)i;
            L->dup_tail[got] = (uint32_t)i;
        }
        leave(L);
    }
    leave(L);
    return 0;
}

static int load_stacks(struct loader *L, json_t *root)
{
    json_t *stacks;
    if (get_typed(L, root, "stacks", 1, 0, &stacks))
        return -1;
    enter_key(L, "stacks");
    uint32_t *lines = NULL;
    size_t cap = 0;
    int rc = -1;
    for (size_t i = 0; i < json_array_size(stacks); i++) {
        json_t *s = json_array_get(stacks, i), *frames;
        struct mp_stack_info info;
        long long user;
        memset(&info, 0, sizeof info);
        enter_index(L, i);
        if (expect_object(L, s) || get_typed(L, s, "frames", 1, 0, &frames) ||
            get_int(L, s, "user_line", 0, (long long)L->n_frames - 1, &user) ||
            get_u64(L, s, "alloc_calls", &info.alloc_calls, NULL) ||
            get_u64(L, s, "allocated_bytes", &info.allocated_bytes, NULL) ||
            get_u64(L, s, "leaked_bytes", &info.live_bytes, NULL) ||
            get_u64(L, s, "leaked_blocks", &info.live_blocks, NULL))
            goto out;
        size_t n = json_array_size(frames);
        if (n >= UINT32_MAX) {
            fail(L, "too many frames");
            goto out;
        }
        if (n > cap) {
            uint32_t *g = realloc(lines, n * sizeof *g);
            if (!g) {
                oom(L);
                goto out;
            }
            lines = g;
            cap = n;
        }
        enter_key(L, "frames");
        for (size_t j = 0; j < n; j++) {
            long long f;
            enter_index(L, j);
            if (check_int(L, json_array_get(frames, j), 0, (long long)L->n_frames - 1, &f))
                goto out;
            lines[j] = (uint32_t)f;
            leave(L);
        }
        leave(L);
        info.self_line = (uint32_t)user;
        if (mp_profile_restore_stack(L->p, lines, (uint32_t)n, &info) == UINT32_MAX) {
            oom(L);
            goto out;
        }
        leave(L);
    }
    leave(L);
    rc = 0;
out:
    free(lines);
    return rc;
}

static int load_lines(struct loader *L, json_t *root)
{
    json_t *lines;
    if (get_typed(L, root, "lines", 1, 0, &lines))
        return -1;
    enter_key(L, "lines");
    for (size_t i = 0; i < json_array_size(lines); i++) {
        json_t *v = json_array_get(lines, i);
        struct place pl;
        struct mp_line_stats c;
        enter_index(L, i);
        if (get_place(L, v, &pl) || get_u64(L, v, "alloc_calls", &c.alloc_calls, NULL) ||
            get_u64(L, v, "allocated_bytes", &c.allocated_bytes, NULL) ||
            get_u64(L, v, "free_calls", &c.free_calls, NULL) || get_u64(L, v, "freed_bytes", &c.freed_bytes, NULL) ||
            get_u64(L, v, "peak_bytes", &c.peak_bytes, NULL) || get_u64(L, v, "leaked_bytes", &c.live_bytes, NULL) ||
            get_u64(L, v, "leaked_blocks", &c.live_blocks, NULL) ||
            get_u64(L, v, "temporary_calls", &c.temporary_calls, NULL))
            return -1;
        uint32_t f = find_frame(L, &pl, L->self_done, L->self_next);
        if (f == UINT32_MAX)
            return -1;
        struct mp_line_stats *l = (struct mp_line_stats *)mp_profile_line(L->p, f);
        l->alloc_calls = c.alloc_calls;
        l->allocated_bytes = c.allocated_bytes;
        l->free_calls = c.free_calls;
        l->freed_bytes = c.freed_bytes;
        l->peak_bytes = c.peak_bytes;
        l->live_bytes = c.live_bytes;
        l->live_blocks = c.live_blocks;
        l->temporary_calls = c.temporary_calls;
        leave(L);
    }
    leave(L);
    return 0;
}

static int cmp_table_keys(const void *a, const void *b)
{
    const struct table_key *x = a, *y = b;
    if (x->file != y->file)
        return (uintptr_t)x->file < (uintptr_t)y->file ? -1 : 1;
    if (x->function != y->function)
        return (uintptr_t)x->function < (uintptr_t)y->function ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

struct row {
    long long line, increment;
    uint64_t mem, occurrences, allocated;
    const char *text;
};

static int get_row(struct loader *L, json_t *v, struct row *r)
{
    return expect_object(L, v) || get_int(L, v, "line", 1, INT_MAX, &r->line) ||
                   get_u64(L, v, "mem_usage_bytes", &r->mem, NULL) ||
                   get_int(L, v, "increment_bytes", LLONG_MIN, LLONG_MAX, &r->increment) ||
                   get_u64(L, v, "occurrences", &r->occurrences, NULL) ||
                   get_u64(L, v, "allocated_bytes", &r->allocated, NULL) || get_str(L, v, "text", 1, &r->text)
               ? -1
               : 0;
}

/* One table: its rows are the consecutive lines of the function; rows that
 * allocated name a frame, which gets the inclusive counters and the
 * function's range, so the tables come out the same again. */
static int load_table(struct loader *L, json_t *t, struct table_key *key, const char ***no_text, size_t *n_no_text)
{
    const char *file, *function;
    json_t *rows;
    if (expect_object(L, t) || get_str(L, t, "file", 0, &file) || get_str(L, t, "function", 0, &function) ||
        get_typed(L, t, "rows", 1, 0, &rows))
        return -1;
    key->file = mp_profile_intern(L->p, file);
    key->function = mp_profile_intern(L->p, function);
    if (!key->file || !key->function)
        return oom(L);
    size_t n = json_array_size(rows);
    enter_key(L, "rows");
    if (n == 0)
        return fail(L, "a table has at least one row");
    long long first = 0;
    size_t with_data = 0, with_text = 0;
    for (size_t r = 0; r < n; r++) {
        struct row row;
        enter_index(L, r);
        if (get_row(L, json_array_get(rows, r), &row))
            return -1;
        if (r == 0)
            first = row.line;
        if (row.line != first + (long long)r) {
            enter_key(L, "line");
            return fail(L, "expected line %lld: rows are the function's consecutive lines", first + (long long)r);
        }
        if (row.text) {
            with_text++;
            if (L->n_texts == L->cap_texts) {
                size_t cap = L->cap_texts ? 2 * L->cap_texts : 64;
                struct row_text *g = realloc(L->texts, cap * sizeof *g);
                if (!g)
                    return oom(L);
                L->texts = g;
                L->cap_texts = cap;
            }
            L->texts[L->n_texts] = (struct row_text){ key->file, (int)row.line, row.text, L->n_texts };
            L->n_texts++;
        }
        if (row.occurrences == 0) {
            if (row.mem || row.increment || row.allocated)
                return fail(L, "a line with no occurrences has nonzero counters");
            leave(L);
            continue;
        }
        with_data++;
        struct place pl = { key->file, key->function, NULL, (int)row.line };
        uint32_t f = find_frame(L, &pl, L->incl_done, L->incl_next);
        if (f == UINT32_MAX)
            return -1;
        struct mp_line_stats *l = (struct mp_line_stats *)mp_profile_line(L->p, f);
        l->func_file = key->file;
        l->func_first_line = (int)first;
        l->func_last_line = (int)(first + (long long)n - 1);
        l->incl_calls = row.occurrences;
        l->incl_bytes = row.allocated;
        l->incl_live_bytes = (uint64_t)row.increment;
        l->incl_freed_bytes = row.allocated - (uint64_t)row.increment;
        l->incl_max_live_bytes = row.mem;
        leave(L);
    }
    if (with_data == 0)
        return fail(L, "no row has occurrences: a table lists a function that allocated");
    leave(L);
    if (with_text == 0) {
        /* A source file that could not be read when the report was made. */
        const char **g = realloc(*no_text, (*n_no_text + 1) * sizeof *g);
        if (!g)
            return oom(L);
        *no_text = g;
        g[(*n_no_text)++] = key->file;
    }
    return 0;
}

/* The live run noted source files it could not read; the report shows them
 * as tables without any text.  mp_sources only learns a file is missing by
 * failing to read it, so ask it to read those that cannot be read here
 * either, in the order the live run asked (line records in order).  One that
 * can be read here is left alone: its text must not appear from nowhere. */
static void note_missing_sources(struct loader *L, const char **no_text, size_t n)
{
    if (n == 0)
        return;
    for (size_t i = 0; i < mp_profile_line_count(L->p); i++) {
        const struct mp_line_stats *l = mp_profile_line(L->p, i);
        if (!l->func_file || !l->incl_calls)
            continue;
        for (size_t k = 0; k < n; k++) {
            if (no_text[k] != l->func_file)
                continue;
            if (access(l->func_file, R_OK) != 0)
                mp_sources_load(L->src, l->func_file);
            no_text[k] = NULL; /* asked once */
        }
    }
}

static int cmp_row_texts(const void *a, const void *b)
{
    const struct row_text *x = a, *y = b;
    if (x->file != y->file)
        return (uintptr_t)x->file < (uintptr_t)y->file ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

/* mp_sources keeps a slot for every line up to the last one it was given,
 * so line numbers cost memory: the lines of all files together may not
 * exceed 16 M plus 16 per byte of the report (real reports come nowhere
 * near).  Each file gets its last line first, so its array grows once. */
static int set_source_texts(struct loader *L)
{
    struct row_text *t = L->texts;
    size_t n = L->n_texts;
    qsort(t, n, sizeof *t, cmp_row_texts);
    uint64_t slots = 0, budget = ((uint64_t)1 << 24) + 16 * (uint64_t)L->len;
    for (size_t i = 0; i < n; i++)
        if (i + 1 == n || t[i + 1].file != t[i].file)
            slots += (uint64_t)t[i].line;
    if (slots > budget) {
        enter_key(L, "tables");
        return fail(L, "source lines up to %" PRIu64 " in all: too many for a report of %zu bytes", slots, L->len);
    }
    for (size_t start = 0; start < n;) {
        size_t end = start;
        while (end < n && t[end].file == t[start].file)
            end++;
        if (mp_sources_set_line(L->src, t[end - 1].file, t[end - 1].line, t[end - 1].text) != 0)
            return oom(L);
        for (size_t i = start; i < end; i++) /* in file order: the last text of a line wins */
            if (mp_sources_set_line(L->src, t[i].file, t[i].line, t[i].text) != 0)
                return oom(L);
        start = end;
    }
    return 0;
}

static int load_tables(struct loader *L, json_t *root)
{
    json_t *tables;
    if (get_typed(L, root, "tables", 1, 0, &tables))
        return -1;
    size_t n = json_array_size(tables), n_no_text = 0;
    struct table_key *keys = malloc((n ? n : 1) * sizeof *keys);
    const char **no_text = NULL;
    if (!keys)
        return oom(L);
    int rc = -1;
    enter_key(L, "tables");
    for (size_t i = 0; i < n; i++) {
        enter_index(L, i);
        keys[i].index = i;
        if (load_table(L, json_array_get(tables, i), &keys[i], &no_text, &n_no_text))
            goto out;
        leave(L);
    }
    /* Two tables of one function would merge into one spanning both. */
    qsort(keys, n, sizeof *keys, cmp_table_keys);
    for (size_t i = 1; i < n; i++) {
        if (keys[i].file == keys[i - 1].file && keys[i].function == keys[i - 1].function) {
            enter_index(L, keys[i].index);
            fail(L, "a second table for %s in %s (first: tables[%zu])", keys[i].function, keys[i].file,
                 keys[i - 1].index);
            goto out;
        }
    }
    leave(L);
    if (set_source_texts(L))
        goto out;
    note_missing_sources(L, no_text, n_no_text);
    rc = 0;
out:
    free(keys);
    free(no_text);
    return rc;
}

static int place_matches_stack(const struct loader *L, json_t *stack, const struct mp_stack_info *st,
                               const struct place *reached, const struct place *frames)
{
    if (json_array_size(stack) != st->n_frames || !shown_as(L, mp_profile_line(L->p, st->self_line), reached))
        return 0;
    for (uint32_t i = 0; i < st->n_frames; i++)
        if (!shown_as(L, mp_profile_line(L->p, st->frame_lines[i]), &frames[i]))
            return 0;
    return 1;
}

/* "peak": the stack that reached the peak, found among "stacks" by what it
 * shows (stacks that show the same lines write the same report). */
static int load_peak(struct loader *L, json_t *root, struct mp_totals *t)
{
    json_t *peak, *stack, *reached_at, *user_frame;
    t->peak_stack = UINT32_MAX;
    if (get_typed(L, root, "peak", 0, 1, &peak) || !peak)
        return L->failed ? -1 : 0;
    enter_key(L, "peak");
    uint64_t heap;
    struct place reached;
    if (get_u64(L, peak, "heap_bytes", &heap, NULL) || get_typed(L, peak, "stack", 1, 0, &stack) ||
        !(reached_at = member(L, peak, "reached_at")) || !(user_frame = member(L, peak, "user_frame")))
        return -1;
    if (heap != t->peak_heap_bytes) {
        enter_key(L, "heap_bytes");
        return fail(L, "differs from summary.peak_heap_bytes");
    }
    enter_key(L, "user_frame");
    long long uf;
    if (check_int(L, user_frame, -1, INT_MAX, &uf))
        return -1;
    leave(L);
    enter_key(L, "reached_at");
    if (get_place(L, reached_at, &reached))
        return -1;
    leave(L);
    size_t n = json_array_size(stack);
    struct place *frames = malloc((n ? n : 1) * sizeof *frames);
    if (!frames)
        return oom(L);
    enter_key(L, "stack");
    for (size_t i = 0; i < n; i++) {
        enter_index(L, i);
        if (get_place(L, json_array_get(stack, i), &frames[i])) {
            free(frames);
            return -1;
        }
        leave(L);
    }
    leave(L);
    for (size_t s = 0; s < mp_profile_stack_count(L->p); s++) {
        if (place_matches_stack(L, stack, mp_profile_stack(L->p, s), &reached, frames)) {
            t->peak_stack = (uint32_t)s;
            break;
        }
    }
    free(frames);
    if (t->peak_stack == UINT32_MAX) {
        enter_key(L, "stack");
        return fail(L, "matches no entry of \"stacks\"");
    }
    leave(L);
    return 0;
}

static int load_summary(struct loader *L, json_t *root, struct mp_totals *t, struct mp_report_run *run)
{
    json_t *s, *profiled;
    const char *note, *engine;
    uint64_t peak_rss;
    int *stable_null = L->stable ? &(int){ 0 } : NULL;
    if (get_typed(L, root, "summary", 0, 0, &s))
        return -1;
    enter_key(L, "summary");
    if (get_u64(L, s, "peak_rss_bytes", &peak_rss, stable_null))
        return -1;
    run->peak_rss_bytes = peak_rss;
    json_t *wall = member(L, s, "wall_seconds");
    if (!wall)
        return -1;
    if (!(L->stable && json_is_null(wall))) {
        enter_key(L, "wall_seconds");
        if (check_seconds(L, wall, &run->wall_seconds))
            return -1;
        leave(L);
    }
    if (!(profiled = member(L, s, "heap_profiled")) || get_str(L, s, "heap_note", 1, &note) ||
        get_str(L, s, "engine", 1, &engine))
        return -1;
    if (!json_is_boolean(profiled) || json_is_true(profiled) != (note == NULL)) {
        enter_key(L, "heap_profiled");
        return json_is_boolean(profiled) ? fail(L, "must be %s when heap_note is %s", note ? "false" : "true",
                                                note ? "a string" : "null")
                                         : fail(L, "expected a boolean, found %s", type_name(profiled));
    }
    run->engine_note = mp_profile_intern(L->p, note);
    run->engine = mp_profile_intern(L->p, engine);
    if ((note && !run->engine_note) || (engine && !run->engine))
        return oom(L);
    if (get_u64(L, s, "alloc_calls", &t->alloc_calls, NULL) ||
        get_u64(L, s, "allocated_bytes", &t->allocated_bytes, NULL) ||
        get_u64(L, s, "free_calls", &t->free_calls, NULL) || get_u64(L, s, "freed_bytes", &t->freed_bytes, NULL) ||
        get_u64(L, s, "peak_heap_bytes", &t->peak_heap_bytes, NULL) ||
        get_u64(L, s, "leaked_bytes", &t->live_bytes, NULL) || get_u64(L, s, "leaked_blocks", &t->live_blocks, NULL) ||
        get_u64(L, s, "temporary_calls", &t->temporary_calls, NULL) ||
        get_u64(L, s, "events_lost", &run->events_lost, NULL) ||
        get_u64(L, s, "unknown_frees", &t->unknown_frees, NULL) ||
        get_u64(L, s, "reused_live_blocks", &t->reused_live_blocks, NULL) ||
        get_u64(L, s, "truncated_stacks", &t->truncated_stacks, NULL) ||
        get_u64(L, s, "agent_bytes", &run->agent_bytes, stable_null))
        return -1;
    leave(L);
    return 0;
}

static int load_timeline(struct loader *L, json_t *root, struct mp_report_run *run)
{
    json_t *tl, *rss;
    if (get_typed(L, root, "timeline", 1, 0, &tl))
        return -1;
    enter_key(L, "timeline");
    if (json_array_size(tl) > MAX_SAMPLES)
        return fail(L, "%zu samples: memprof keeps at most %d", json_array_size(tl), MAX_SAMPLES);
    for (size_t i = 0; i < json_array_size(tl); i++) {
        json_t *v = json_array_get(tl, i);
        struct mp_sample s;
        double t;
        enter_index(L, i);
        if (!json_is_array(v) || json_array_size(v) != 3)
            return fail(L, "expected [seconds, rss_bytes, heap_bytes], found %s", type_name(v));
        enter_index(L, 0);
        if (check_seconds(L, json_array_get(v, 0), &t))
            return -1;
        leave(L);
        enter_index(L, 1);
        if (check_u64(L, json_array_get(v, 1), &s.rss_bytes))
            return -1;
        leave(L);
        enter_index(L, 2);
        if (check_u64(L, json_array_get(v, 2), &s.heap_bytes))
            return -1;
        leave(L);
        s.time_ns = (uint64_t)(t * 1e9 + 0.5);
        if (mp_profile_restore_sample(L->p, &s) != 0)
            return oom(L);
        leave(L);
    }
    leave(L);
    if (get_typed(L, root, "rss_at_exit", 0, 1, &rss))
        return -1;
    if (rss) {
        struct mp_rss_breakdown *b = &run->rss_at_exit;
        enter_key(L, "rss_at_exit");
        if (get_u64(L, rss, "total_bytes", &b->total, NULL) || get_u64(L, rss, "heap_bytes", &b->heap, NULL) ||
            get_u64(L, rss, "stack_bytes", &b->stacks, NULL) || get_u64(L, rss, "code_bytes", &b->code, NULL) ||
            get_u64(L, rss, "file_data_bytes", &b->file_data, NULL) ||
            get_u64(L, rss, "shared_bytes", &b->shared, NULL))
            return -1;
        b->valid = 1;
        leave(L);
    }
    return 0;
}

/* An array of strings, interned; *out has n entries and a NULL after them. */
static int load_strings(struct loader *L, json_t *root, const char *key, char ***out, size_t *n_out)
{
    json_t *a;
    if (get_typed(L, root, key, 1, 0, &a))
        return -1;
    size_t n = json_array_size(a);
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        return oom(L);
    *out = v;
    *n_out = n;
    enter_key(L, key);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(a, i);
        enter_index(L, i);
        if (!json_is_string(s))
            return fail(L, "expected a string, found %s", type_name(s));
        if (!(v[i] = (char *)mp_profile_intern(L->p, json_string_value(s))))
            return oom(L);
        leave(L);
    }
    leave(L);
    return 0;
}

static int load_run(struct loader *L, json_t *root, struct mp_loaded_report *out, struct owned *own)
{
    struct mp_report_run *run = &out->run;
    json_t *exit;
    size_t n;
    if (load_strings(L, root, "command", &own->command, &n) ||
        load_strings(L, root, "warnings", &own->warnings, &run->n_warnings))
        return -1;
    run->command = own->command;
    run->warnings = (const char *const *)own->warnings;
    if (get_typed(L, root, "exit", 0, 0, &exit))
        return -1;
    enter_key(L, "exit");
    long long v;
    if (json_object_get(exit, "signal")) {
        if (json_object_get(exit, "code"))
            return fail(L, "has both \"code\" and \"signal\"");
        if (get_int(L, exit, "signal", 1, INT_MAX, &v))
            return -1;
        run->signal = (int)v;
    } else {
        if (get_int(L, exit, "code", INT_MIN, INT_MAX, &v))
            return -1;
        run->exited = 1;
        run->exit_code = (int)v;
    }
    leave(L);
    return 0;
}

static int load_root(struct loader *L, json_t *root, struct mp_loaded_report *out, struct owned *own)
{
    if (!json_is_object(root)) {
        snprintf(L->err, L->errlen, "%s: not a memprof report (the top level is %s, not an object)", L->name,
                 type_name(root));
        return -1;
    }
    json_t *schema = json_object_get(root, "schema");
    if (!schema) {
        snprintf(L->err, L->errlen, "%s: not a memprof report (no \"schema\" field)", L->name);
        return -1;
    }
    enter_key(L, "schema");
    L->show_path = 0;
    if (!json_is_integer(schema))
        return fail(L, "not a memprof report (\"schema\" is %s, not a number)", type_name(schema));
    if (json_integer_value(schema) > SCHEMA)
        return fail(L, "written by a newer memprof (schema %lld); this memprof reads schema %d",
                    (long long)json_integer_value(schema), SCHEMA);
    if (json_integer_value(schema) != SCHEMA)
        return fail(L, "unknown schema %lld; this memprof reads schema %d", (long long)json_integer_value(schema),
                    SCHEMA);
    L->show_path = 1;
    leave(L);

    json_t *stable = json_object_get(root, "stable"); /* reports before --stable lack it */
    if (stable && !json_is_boolean(stable)) {
        enter_key(L, "stable");
        return fail(L, "expected a boolean, found %s", type_name(stable));
    }
    L->stable = out->stable = json_is_true(stable);

    if (!(L->p = out->profile = mp_profile_new(NULL, NULL)) || !(L->src = out->sources = mp_sources_new()))
        return oom(L);
    struct mp_totals *t = mp_profile_restore_totals(L->p);
    if (load_run(L, root, out, own) || load_summary(L, root, t, &out->run) || load_frames(L, root) ||
        load_stacks(L, root) || load_lines(L, root) || load_tables(L, root) || load_peak(L, root, t) ||
        load_timeline(L, root, &out->run))
        return -1;
    json_t *leaks;
    if (get_typed(L, root, "leaks", 1, 0, &leaks))
        return -1;
    t->distinct_stacks = mp_profile_stack_count(L->p);
    return 0;
}

/* The error is one line: control characters (jansson quotes the text near
 * a syntax error, newlines included; a file name may have them) are
 * written as escapes. */
static void one_line(char *err, size_t errlen)
{
    char tmp[1024];
    size_t o = 0;
    for (const unsigned char *s = (const unsigned char *)err; *s && o + 5 < sizeof tmp; s++) {
        if (*s >= 0x20 && *s != 0x7f)
            tmp[o++] = (char)*s;
        else if (*s == '\n' || *s == '\t' || *s == '\r')
            o += (size_t)snprintf(tmp + o, sizeof tmp - o, "\\%c", *s == '\n' ? 'n' : *s == '\t' ? 't' : 'r');
        else
            o += (size_t)snprintf(tmp + o, sizeof tmp - o, "\\x%02x", *s);
    }
    tmp[o] = '\0';
    snprintf(err, errlen, "%s", tmp);
}

static void free_owned(struct owned *own)
{
    if (own) {
        free(own->command);
        free(own->warnings);
        free(own);
    }
}

static int load_buffer(const char *data, size_t len, const char *name, struct mp_loaded_report *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof *out);
    char dummy[1];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!name)
        name = "(report)";
    struct loader L = { .name = name, .data = data, .len = len, .err = err, .errlen = errlen, .show_path = 1 };
    if (len > MAX_REPORT_BYTES) {
        snprintf(err, errlen, "%s: larger than 1 GiB (%zu bytes): too big for a memprof report", name, len);
        return -1;
    }
    const char *nul = len ? memchr(data, '\0', len) : NULL;
    if (nul) {
        int line, col;
        line_column(data, len, (size_t)(nul - data), &line, &col);
        snprintf(err, errlen, "%s:%d:%d: NUL byte in the file: not JSON text", name, line, col);
        return -1;
    }
    json_error_t je;
    json_t *root = json_loadb(data ? data : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: %s", name, je.line, je.column, je.text);
        return -1;
    }
    struct owned *own = calloc(1, sizeof *own);
    int rc = own ? load_root(&L, root, out, own) : oom(&L);
    json_decref(root);
    free(L.next_dup);
    free(L.dup_tail);
    free(L.self_next);
    free(L.incl_next);
    free(L.self_done);
    free(L.incl_done);
    free(L.texts);
    if (rc != 0) {
        if (!err[0])
            snprintf(err, errlen, "%s: cannot load the report", name);
        free_owned(own);
        mp_sources_free(out->sources);
        mp_profile_free(out->profile);
        memset(out, 0, sizeof *out);
        return -1;
    }
    out->owned = own;
    return 0;
}

int mp_load_report_buffer(const char *data, size_t len, const char *name, struct mp_loaded_report *out, char *err,
                          size_t errlen)
{
    int rc = load_buffer(data, len, name, out, err, errlen);
    if (rc != 0 && err && errlen)
        one_line(err, errlen);
    return rc;
}

/* The whole file (or standard input), at most MAX_REPORT_BYTES + 1 bytes. */
static char *read_input(const char *path, const char *name, size_t *len, char *err, size_t errlen)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot read: %s", name, strerror(errno));
        return NULL;
    }
    struct stat st;
    memset(&st, 0, sizeof st);
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > MAX_REPORT_BYTES) {
        snprintf(err, errlen, "%s: larger than 1 GiB (%jd bytes): too big for a memprof report", name,
                 (intmax_t)st.st_size);
        if (fd != STDIN_FILENO)
            close(fd);
        return NULL;
    }
    size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 65536, n = 0;
    char *buf = malloc(cap);
    int saved = 0;
    while (buf) {
        if (n == cap) {
            if (n > MAX_REPORT_BYTES)
                break; /* one byte over is enough to refuse it */
            cap = cap > MAX_REPORT_BYTES / 2 ? MAX_REPORT_BYTES + 1 : cap * 2;
            char *g = realloc(buf, cap);
            if (!g) {
                free(buf);
                buf = NULL;
                saved = ENOMEM;
                break;
            }
            buf = g;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            saved = errno;
            free(buf);
            buf = NULL;
            break;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (!buf && !saved)
        saved = ENOMEM;
    if (fd != STDIN_FILENO)
        close(fd);
    if (!buf) {
        snprintf(err, errlen, "%s: cannot read: %s", name, strerror(saved));
        return NULL;
    }
    *len = n;
    return buf;
}

int mp_load_report(const char *path, struct mp_loaded_report *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char dummy[1];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    size_t len = 0;
    char *data = read_input(path, name, &len, err, errlen);
    if (!data) {
        one_line(err, errlen);
        return -1;
    }
    int rc = mp_load_report_buffer(data, len, name, out, err, errlen);
    free(data);
    return rc;
}

void mp_loaded_report_free(struct mp_loaded_report *r)
{
    if (!r)
        return;
    free_owned(r->owned);
    mp_sources_free(r->sources);
    mp_profile_free(r->profile);
    memset(r, 0, sizeof *r);
}
