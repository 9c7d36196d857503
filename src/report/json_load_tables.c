/* memprof: the JSON report loader's "tables" (see json_load.c).  Each table
 * is a function's consecutive lines: its rows give the inclusive counters
 * and the function's range to the frames they name, and their text becomes
 * the source lines (mp_sources) the writers show. */
#define _GNU_SOURCE
#include "json_load_internal.h"
#include "symbols/sources.h"
#include "profile/tables.h"

#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

struct table_key {
    const char *file, *function; /* interned */
    size_t index;
};

struct row_text {
    const char *file; /* interned */
    int line;
    const char *text; /* in the parsed document */
    size_t order;
};

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
    long long line, increment, mapped_increment;
    uint64_t mem, occurrences, allocated;
    uint64_t site_calls, site_bytes; /* frees called on the line (reports since the free sites) */
    uint64_t mapped_usage, mapped;  /* (mapped memory: newer files, when the profile has some) */
    const char *text;
};

static int get_mapped_increment(struct loader *L, json_t *v, struct row *r)
{
    r->mapped_increment = 0;
    return json_object_get(v, "mapped_increment_bytes")
               ? jl_get_int(L, v, "mapped_increment_bytes", LLONG_MIN, LLONG_MAX, &r->mapped_increment)
               : 0;
}

static int get_row(struct loader *L, json_t *v, struct row *r)
{
    return jl_expect_object(L, v) || jl_get_int(L, v, "line", 1, INT_MAX, &r->line) ||
                   jl_get_u64(L, v, "mem_usage_bytes", &r->mem, NULL) ||
                   jl_get_int(L, v, "increment_bytes", LLONG_MIN, LLONG_MAX, &r->increment) ||
                   jl_get_u64(L, v, "occurrences", &r->occurrences, NULL) ||
                   jl_get_u64(L, v, "allocated_bytes", &r->allocated, NULL) ||
                   jl_get_u64_opt(L, v, "site_free_calls", &r->site_calls) ||
                   jl_get_u64_opt(L, v, "site_freed_bytes", &r->site_bytes) || jl_get_str(L, v, "text", 1, &r->text) ||
                   jl_get_u64_opt(L, v, "mapped_usage_bytes", &r->mapped_usage) ||
                   jl_get_u64_opt(L, v, "mapped_bytes", &r->mapped) || get_mapped_increment(L, v, r)
               ? -1
               : 0;
}

/* A row repeats the free site counters of its line ("free_sites"). */
static int check_site(struct loader *L, const struct mp_line_stats *l, const struct row *row)
{
    if (l->site_free_calls == row->site_calls && l->site_freed_bytes == row->site_bytes)
        return 0;
    jl_enter_key(L, "site_free_calls");
    return jl_fail(L, "%" PRIu64 " frees of %" PRIu64 " bytes, but free_sites has %" PRIu64 " of %" PRIu64,
                   row->site_calls, row->site_bytes, l->site_free_calls, l->site_freed_bytes);
}

/* One table: its rows are the consecutive lines of the function; rows that
 * allocated name a frame, which gets the inclusive counters and the
 * function's range, so the tables come out the same again. */
static int load_table(struct loader *L, json_t *t, struct table_key *key, const char ***no_text, size_t *n_no_text)
{
    const char *file, *function;
    json_t *rows;
    if (jl_expect_object(L, t) || jl_get_str(L, t, "file", 0, &file) || jl_get_str(L, t, "function", 0, &function) ||
        jl_get_typed(L, t, "rows", 1, 0, &rows))
        return -1;
    key->file = mp_profile_intern(L->p, file);
    key->function = mp_profile_intern(L->p, function);
    if (!key->file || !key->function)
        return jl_oom(L);
    size_t n = json_array_size(rows);
    jl_enter_key(L, "rows");
    if (n == 0)
        return jl_fail(L, "a table has at least one row");
    long long first = 0;
    size_t with_data = 0, with_text = 0;
    for (size_t r = 0; r < n; r++) {
        struct row row;
        jl_enter_index(L, r);
        if (get_row(L, json_array_get(rows, r), &row))
            return -1;
        if (r == 0)
            first = row.line;
        if (row.line != first + (long long)r) {
            jl_enter_key(L, "line");
            return jl_fail(L, "expected line %lld: rows are the function's consecutive lines", first + (long long)r);
        }
        if (row.text) {
            with_text++;
            if (L->n_texts == L->cap_texts) {
                size_t cap = L->cap_texts ? 2 * L->cap_texts : 64;
                struct row_text *g = realloc(L->texts, cap * sizeof *g);
                if (!g)
                    return jl_oom(L);
                L->texts = g;
                L->cap_texts = cap;
            }
            L->texts[L->n_texts] = (struct row_text){ key->file, (int)row.line, row.text, L->n_texts };
            L->n_texts++;
        }
        if (row.occurrences == 0 && (row.mem || row.increment || row.allocated))
            return jl_fail(L, "a line with no occurrences has nonzero counters");
        if (row.mapped == 0 && (row.mapped_usage || row.mapped_increment))
            return jl_fail(L, "a line that mapped nothing has nonzero mapped counters");
        if (row.occurrences == 0 && row.mapped == 0 && row.site_calls == 0) {
            if (row.site_bytes)
                return jl_fail(L, "a line with no frees has freed bytes");
            jl_leave(L);
            continue;
        }
        with_data++;
        struct place pl = { key->file, key->function, NULL, (int)row.line };
        uint32_t f = jl_find_frame(L, &pl, L->incl_done, L->incl_next);
        if (f == UINT32_MAX)
            return -1;
        struct mp_line_stats *l = (struct mp_line_stats *)mp_profile_line(L->p, f);
        if (check_site(L, l, &row))
            return -1;
        l->func_file = key->file;
        l->func_first_line = (int)first;
        l->func_last_line = (int)(first + (long long)n - 1);
        l->incl_calls = row.occurrences;
        l->incl_bytes = row.allocated;
        l->incl_live_bytes = (uint64_t)row.increment;
        l->incl_freed_bytes = row.allocated - (uint64_t)row.increment;
        l->incl_max_live_bytes = row.mem;
        l->incl_max_mapped_bytes = row.mapped_usage;
        l->incl_mapped_live_bytes = (uint64_t)row.mapped_increment;
        l->incl_mapped_bytes = row.mapped;
        jl_leave(L);
    }
    if (with_data == 0)
        return jl_fail(L, "no row has occurrences or frees: a table lists a function that allocated or freed");
    jl_leave(L);
    if (with_text == 0) {
        /* A source file that could not be read when the report was made. */
        const char **g = realloc(*no_text, (*n_no_text + 1) * sizeof *g);
        if (!g)
            return jl_oom(L);
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
        if (!l->func_file || !mp_line_has_table_data(l))
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
    if (n == 0) /* a report without tables */
        return 0;
    qsort(t, n, sizeof *t, cmp_row_texts);
    uint64_t slots = 0, budget = ((uint64_t)1 << 24) + 16 * (uint64_t)L->len;
    for (size_t i = 0; i < n; i++)
        if (i + 1 == n || t[i + 1].file != t[i].file)
            slots += (uint64_t)t[i].line;
    if (slots > budget) {
        jl_enter_key(L, "tables");
        return jl_fail(L, "source lines up to %" PRIu64 " in all: too many for a report of %zu bytes", slots, L->len);
    }
    for (size_t start = 0; start < n;) {
        size_t end = start;
        while (end < n && t[end].file == t[start].file)
            end++;
        if (mp_sources_set_line(L->src, t[end - 1].file, t[end - 1].line, t[end - 1].text) != 0)
            return jl_oom(L);
        for (size_t i = start; i < end; i++) /* in file order: the last text of a line wins */
            if (mp_sources_set_line(L->src, t[i].file, t[i].line, t[i].text) != 0)
                return jl_oom(L);
        start = end;
    }
    return 0;
}

int jl_load_tables(struct loader *L, json_t *root)
{
    json_t *tables;
    if (jl_get_typed(L, root, "tables", 1, 0, &tables))
        return -1;
    size_t n = json_array_size(tables), n_no_text = 0;
    struct table_key *keys = malloc((n ? n : 1) * sizeof *keys);
    const char **no_text = NULL;
    if (!keys)
        return jl_oom(L);
    int rc = -1;
    jl_enter_key(L, "tables");
    for (size_t i = 0; i < n; i++) {
        jl_enter_index(L, i);
        keys[i].index = i;
        if (load_table(L, json_array_get(tables, i), &keys[i], &no_text, &n_no_text))
            goto out;
        jl_leave(L);
    }
    /* Two tables of one function would merge into one spanning both. */
    qsort(keys, n, sizeof *keys, cmp_table_keys);
    for (size_t i = 1; i < n; i++) {
        if (keys[i].file == keys[i - 1].file && keys[i].function == keys[i - 1].function) {
            jl_enter_index(L, keys[i].index);
            jl_fail(L, "a second table for %s in %s (first: tables[%zu])", keys[i].function, keys[i].file,
                    keys[i - 1].index);
            goto out;
        }
    }
    jl_leave(L);
    if (set_source_texts(L))
        goto out;
    note_missing_sources(L, no_text, n_no_text);
    rc = 0;
out:
    free(keys);
    free(no_text);
    return rc;
}
