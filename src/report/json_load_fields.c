/* memprof: the JSON report loader's checking of fields (see json_load.c).
 *
 * Every field is checked before it is used: its type and range, each
 * helper reporting its own error.  An error is one line, "NAME:LINE:COLUMN:
 * PATH: problem", where PATH names the field ("stacks[3].frames[2]") and
 * LINE:COLUMN is where that field's value starts in the file (jansson does
 * not keep positions of values, so json_load_locate() finds them again by
 * scanning the text). */
#define _GNU_SOURCE
#include "json_load_internal.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Seconds in a timeline sample; far beyond any run, small enough for ns in 64 bits. */
#define MAX_SECONDS 1e10

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
void jl_line_column(const char *d, size_t n, size_t at, int *line, int *col)
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

int jl_fail(struct loader *L, const char *fmt, ...)
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
    jl_line_column(L->data, L->len, at, &line, &col);
    path_string(L, path, sizeof path);
    if (L->show_path && path[0])
        snprintf(L->err, L->errlen, "%s:%d:%d: %s: %s", L->name, line, col, path, msg);
    else
        snprintf(L->err, L->errlen, "%s:%d:%d: %s", L->name, line, col, msg);
    return -1;
}

int jl_oom(struct loader *L)
{
    return jl_fail(L, "out of memory");
}

void jl_enter_key(struct loader *L, const char *key)
{
    if (L->depth < MAX_PATH)
        L->path[L->depth] = (struct path_part){ key, 0 };
    L->depth++;
}

void jl_enter_index(struct loader *L, size_t i)
{
    if (L->depth < MAX_PATH)
        L->path[L->depth] = (struct path_part){ NULL, i };
    L->depth++;
}

void jl_leave(struct loader *L)
{
    L->depth--;
}

const char *jl_type_name(const json_t *v)
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

json_t *jl_member(struct loader *L, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        jl_fail(L, "missing field \"%s\"", key);
    return v;
}

int jl_expect_object(struct loader *L, json_t *v)
{
    return json_is_object(v) ? 0 : jl_fail(L, "expected an object, found %s", jl_type_name(v));
}

int jl_expect_array(struct loader *L, json_t *v)
{
    return json_is_array(v) ? 0 : jl_fail(L, "expected an array, found %s", jl_type_name(v));
}

int jl_check_u64(struct loader *L, json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return jl_fail(L, "expected a non-negative integer, found %s", jl_type_name(v));
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* A counter; `*is_null` (when given) accepts null, which --stable writes for
 * what varies between runs. */
int jl_get_u64(struct loader *L, json_t *obj, const char *key, uint64_t *out, int *is_null)
{
    json_t *v = jl_member(L, obj, key);
    if (!v)
        return -1;
    jl_enter_key(L, key);
    int rc = 0;
    *out = 0;
    if (is_null && json_is_null(v))
        *is_null = 1;
    else if (is_null && !json_is_integer(v))
        rc = jl_fail(L, "expected a non-negative integer or null, found %s", jl_type_name(v));
    else
        rc = jl_check_u64(L, v, out);
    jl_leave(L);
    return rc;
}

int jl_get_u64_opt(struct loader *L, json_t *obj, const char *key, uint64_t *out)
{
    *out = 0;
    return json_object_get(obj, key) ? jl_get_u64(L, obj, key, out, NULL) : 0;
}

int jl_check_int(struct loader *L, json_t *v, long long lo, long long hi, long long *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return json_is_integer(v)
                   ? jl_fail(L, "%lld is out of range (%lld to %lld)", (long long)json_integer_value(v), lo, hi)
                   : jl_fail(L, "expected an integer, found %s", jl_type_name(v));
    *out = json_integer_value(v);
    return 0;
}

int jl_get_int(struct loader *L, json_t *obj, const char *key, long long lo, long long hi, long long *out)
{
    json_t *v = jl_member(L, obj, key);
    if (!v)
        return -1;
    jl_enter_key(L, key);
    int rc = jl_check_int(L, v, lo, hi, out);
    jl_leave(L);
    return rc;
}

/* A string (NUL-free: jansson refuses \u0000), or NULL for null when allowed. */
int jl_get_str(struct loader *L, json_t *obj, const char *key, int allow_null, const char **out)
{
    json_t *v = jl_member(L, obj, key);
    if (!v)
        return -1;
    *out = NULL;
    if (allow_null && json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        jl_enter_key(L, key);
        jl_fail(L, "expected a string%s, found %s", allow_null ? " or null" : "", jl_type_name(v));
        jl_leave(L);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

int jl_get_typed(struct loader *L, json_t *obj, const char *key, int want_array, int allow_null, json_t **out)
{
    json_t *v = jl_member(L, obj, key);
    *out = v;
    if (!v)
        return -1;
    if (allow_null && json_is_null(v)) {
        *out = NULL;
        return 0;
    }
    jl_enter_key(L, key);
    int rc = want_array ? jl_expect_array(L, v) : jl_expect_object(L, v);
    jl_leave(L);
    return rc;
}

/* A time or duration in seconds: a finite non-negative number. */
int jl_check_seconds(struct loader *L, json_t *v, double *out)
{
    if (!json_is_number(v))
        return jl_fail(L, "expected a number of seconds, found %s", jl_type_name(v));
    double s = json_number_value(v);
    if (!(s >= 0 && s <= MAX_SECONDS))
        return jl_fail(L, "%g seconds is out of range (0 to %g)", s, MAX_SECONDS);
    *out = s;
    return 0;
}

/* ---- places: {"file", "line", "function"[, "module"]} ---- */

int jl_get_place(struct loader *L, json_t *v, struct place *pl)
{
    long long line;
    memset(pl, 0, sizeof *pl);
    if (jl_expect_object(L, v) || jl_get_str(L, v, "file", 1, &pl->file) ||
        jl_get_int(L, v, "line", 0, INT_MAX, &line) || jl_get_str(L, v, "function", 0, &pl->function))
        return -1;
    pl->line = (int)line;
    if (!pl->file && jl_get_str(L, v, "module", 1, &pl->module))
        return -1;
    return 0;
}

