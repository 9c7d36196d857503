/* memprof: reading a big report a piece at a time (see json_load.c).
 *
 * A jansson document costs about ten times the text (every number and
 * object is its own allocation), and a report of a program with many
 * distinct stacks is mostly its "stacks" array.  So the top level is split
 * here: each member is found in the text, the small ones are parsed whole,
 * and the big arrays ("frames", "stacks", "lines") are parsed one element
 * at a time while the loader walks them (jl_array_next), each element freed
 * when the next one is read.  Memory is then the text, the profile being
 * rebuilt, and one element.
 *
 * The splitter only finds the extent of values (strings, brackets); jansson
 * parses every piece, so nothing is checked less than before.  Anything the
 * splitter does not expect sends the loader back to parsing the whole text
 * with jansson; so does a load that fails while some element anywhere is
 * not valid JSON (jl_lazy_valid): a syntax error is reported as jansson
 * reports it for the whole document, before any wrong field. */
#define _GNU_SOURCE
#include "json_load.h"
#include "json_load_internal.h"

#include <string.h>

/* arrays smaller than this are parsed whole (mp_load_report_piecewise_from) */
static size_t lazy_min_bytes = 256u << 10;
#define MAX_SPLIT_DEPTH 1024        /* jansson stops at 2048; deeper: the whole parse says so */
#define MAX_MEMBERS 64

static const char *const lazy_keys[] = { "frames", "stacks", "lines" };

static size_t skip_ws(const char *d, size_t n, size_t p)
{
    while (p < n && (d[p] == ' ' || d[p] == '\t' || d[p] == '\n' || d[p] == '\r'))
        p++;
    return p;
}

/* d[p] is '"': the position after the closing quote, or 0. */
static size_t skip_string(const char *d, size_t n, size_t p)
{
    for (p++; p < n; p++) {
        if (d[p] == '\\')
            p++;
        else if (d[p] == '"')
            return p + 1;
    }
    return 0;
}

/* The end of the value starting at d[p], or 0 when it is not one the
 * splitter follows (jansson then says why). */
static size_t skip_value(const char *d, size_t n, size_t p)
{
    if (p >= n)
        return 0;
    if (d[p] == '"')
        return skip_string(d, n, p);
    if (d[p] != '[' && d[p] != '{') {
        while (p < n && !strchr(",]} \t\r\n", d[p]))
            p++;
        return p;
    }
    char open[MAX_SPLIT_DEPTH]; /* the brackets open, so that each closes its own kind */
    int depth = 0;
    while (p < n) {
        char c = d[p];
        if (c == '"') {
            p = skip_string(d, n, p);
            if (!p)
                return 0;
            continue;
        }
        if (c == '[' || c == '{') {
            if (depth == MAX_SPLIT_DEPTH)
                return 0;
            open[depth++] = c;
        } else if (c == ']' || c == '}') {
            if (depth == 0 || open[depth - 1] != (c == ']' ? '[' : '{'))
                return 0;
            if (--depth == 0)
                return p + 1;
        }
        p++;
    }
    return 0;
}

/* The next element of the array whose ']' is at `end`: from *pos (just
 * after '[' for the first one, else after the previous element), its
 * extent.  1, 0 at the end of the array, -1 when the text is not what the
 * splitter follows. */
static int next_element(const char *d, size_t end, size_t *pos, int first, size_t *start, size_t *stop)
{
    size_t p = skip_ws(d, end, *pos);
    if (p == end)
        return 0;
    if (!first) {
        if (d[p] != ',')
            return -1;
        p = skip_ws(d, end, p + 1);
        if (p >= end)
            return -1; /* a trailing comma */
    }
    size_t e = skip_value(d, end, p);
    if (!e || e <= p)
        return -1;
    *start = p;
    *stop = e;
    *pos = e;
    return 1;
}

/* A piece of the text through jansson (any value), decoded to the bytes
 * memprof wrote.  NULL on any error. */
static json_t *parse_piece(const char *d, size_t start, size_t stop)
{
    json_error_t je;
    json_t *v = json_loadb(d + start, stop - start, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (v && jl_decode_bytes(v) != 0) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

static int is_lazy_key(const char *key, size_t len)
{
    for (size_t i = 0; i < sizeof lazy_keys / sizeof *lazy_keys; i++)
        if (strlen(lazy_keys[i]) == len && memcmp(lazy_keys[i], key, len) == 0)
            return (int)i;
    return -1;
}

json_t *jl_parse_split(struct loader *L, const char *d, size_t n)
{
    struct {
        size_t key, key_len, start, stop;
    } m[MAX_MEMBERS];
    size_t n_m = 0;
    size_t p = skip_ws(d, n, 0);
    if (p >= n || d[p] != '{')
        return NULL;
    p = skip_ws(d, n, p + 1);
    if (p < n && d[p] == '}')
        return NULL; /* {}: nothing to gain */
    for (;;) {
        if (p >= n || d[p] != '"' || n_m == MAX_MEMBERS)
            return NULL;
        size_t k = p + 1, ke = skip_string(d, n, p);
        if (!ke || memchr(d + k, '\\', ke - 1 - k))
            return NULL; /* escaped keys: not memprof's */
        p = skip_ws(d, n, ke);
        if (p >= n || d[p] != ':')
            return NULL;
        p = skip_ws(d, n, p + 1);
        size_t e = skip_value(d, n, p);
        if (!e || e <= p)
            return NULL;
        for (size_t i = 0; i < n_m; i++)
            if (m[i].key_len == ke - 1 - k && memcmp(d + m[i].key, d + k, ke - 1 - k) == 0)
                return NULL; /* a duplicate: jansson says so */
        m[n_m].key = k;
        m[n_m].key_len = ke - 1 - k;
        m[n_m].start = p;
        m[n_m].stop = e;
        n_m++;
        p = skip_ws(d, n, e);
        if (p < n && d[p] == ',') {
            p = skip_ws(d, n, p + 1);
            continue;
        }
        if (p < n && d[p] == '}' && skip_ws(d, n, p + 1) == n)
            break;
        return NULL;
    }
    json_t *root = json_object();
    if (!root)
        return NULL;
    L->n_lazy = 0;
    for (size_t i = 0; i < n_m; i++) {
        char key[64];
        if (m[i].key_len >= sizeof key)
            goto fail;
        memcpy(key, d + m[i].key, m[i].key_len);
        key[m[i].key_len] = '\0';
        int lazy = is_lazy_key(key, m[i].key_len);
        json_t *v;
        if (lazy >= 0 && d[m[i].start] == '[' && m[i].stop - m[i].start >= lazy_min_bytes) {
            /* only counted here (jl_lazy_valid parses them when the load
             * fails, to tell a syntax error from a wrong field) */
            struct jl_lazy *z = &L->lazy[L->n_lazy];
            size_t pos = 0, s, e, end = m[i].stop - 1;
            z->key = lazy_keys[lazy];
            z->start = m[i].start + 1;
            z->end = end;
            z->count = 0;
            int rc;
            for (pos = z->start; (rc = next_element(d, end, &pos, z->count == 0, &s, &e)) == 1; z->count++)
                ;
            if (rc < 0)
                goto fail;
            L->n_lazy++;
            v = json_array(); /* a stand-in: jl_array_open reads the text */
        } else {
            v = parse_piece(d, m[i].start, m[i].stop);
        }
        if (!v || json_object_set_new(root, key, v) != 0)
            goto fail;
    }
    return root;
fail:
    json_decref(root);
    L->n_lazy = 0;
    return NULL;
}

void mp_load_report_piecewise_from(size_t bytes)
{
    lazy_min_bytes = bytes;
}

int jl_lazy_valid(struct loader *L)
{
    for (int i = 0; i < L->n_lazy; i++) {
        struct jl_lazy *z = &L->lazy[i];
        size_t pos = z->start, s, e;
        for (size_t k = 0; k < z->count; k++) {
            json_t *elem = next_element(L->data, z->end, &pos, k == 0, &s, &e) == 1 ? parse_piece(L->data, s, e) : NULL;
            if (!elem)
                return 0;
            json_decref(elem);
        }
    }
    return 1;
}

int jl_array_open(struct loader *L, json_t *root, const char *key, struct jl_array *a)
{
    memset(a, 0, sizeof *a);
    if (jl_get_typed(L, root, key, 1, 0, &a->dom))
        return -1;
    a->size = json_array_size(a->dom);
    for (int i = 0; i < L->n_lazy; i++)
        if (strcmp(L->lazy[i].key, key) == 0) {
            a->lazy = &L->lazy[i];
            a->size = a->lazy->count;
            a->pos = a->lazy->start;
        }
    return 0;
}

json_t *jl_array_next(struct loader *L, struct jl_array *a)
{
    if (a->index >= a->size)
        return NULL;
    if (!a->lazy)
        return json_array_get(a->dom, a->index++);
    json_decref(a->cur);
    a->cur = NULL;
    size_t s, e;
    if (next_element(L->data, a->lazy->end, &a->pos, a->index == 0, &s, &e) != 1 ||
        !(a->cur = parse_piece(L->data, s, e))) {
        L->lazy_broken = 1; /* the caller parses the whole text again for jansson's error */
        snprintf(L->err, L->errlen, "%s: not valid JSON", L->name);
        L->failed = 1;
        return NULL;
    }
    a->index++;
    return a->cur;
}

void jl_array_close(struct jl_array *a)
{
    json_decref(a->cur);
    a->cur = NULL;
}
