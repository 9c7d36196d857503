/* memprof: the JSON report loader's "line_tables" (line mode, --function:
 * memory_profiler's tables; see json_load.c), read back into a line
 * profile (profile/line_profile.h) so that memprof report writes them as the
 * run did.  Optional: reports without line mode lack it.  Each table's rows
 * are its lines in order, one metric ("metric": rss or heap); their source
 * text goes to the sources the writers read. */
#include "json_load_internal.h"
#include "profile/line_profile.h"
#include "symbols/sources.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct saved_row {
    long long line, increment;
    uint64_t mem, occurrences;
    const char *text;
};

static int load_row(struct loader *L, json_t *v, long long after, struct saved_row *r)
{
    if (jl_expect_object(L, v) || jl_get_int(L, v, "line", 1, INT32_MAX, &r->line) ||
        jl_get_u64(L, v, "mem_usage_bytes", &r->mem, NULL) ||
        jl_get_int(L, v, "increment_bytes", -INT64_MAX, INT64_MAX, &r->increment) ||
        jl_get_u64(L, v, "occurrences", &r->occurrences, NULL) || jl_get_str(L, v, "text", 1, &r->text))
        return -1;
    if (r->line != after + 1)
        return jl_fail(L, "line %lld after line %lld: a table's rows are its lines in order", r->line, after);
    return 0;
}

int jl_load_line_tables(struct loader *L, json_t *root, struct jl_owned *own, const struct mp_line_profile **out)
{
    json_t *all;
    *out = NULL;
    if (!json_object_get(root, "line_tables"))
        return 0;
    if (jl_get_typed(L, root, "line_tables", 1, 0, &all))
        return -1;
    size_t n = json_array_size(all);
    own->lm_funcs = calloc(n ? n : 1, sizeof *own->lm_funcs);
    own->lm_map = calloc(1, sizeof *own->lm_map);
    if (!own->lm_funcs || !own->lm_map)
        return jl_oom(L);
    int metric = MP_LM_METRIC_RSS;
    jl_enter_key(L, "line_tables");
    /* first the functions and their line ranges (the map), then the rows */
    for (size_t f = 0; f < n; f++) {
        json_t *v = json_array_get(all, f), *rows;
        const char *m;
        struct mp_lm_func *fn = &own->lm_funcs[f];
        jl_enter_index(L, f);
        if (jl_expect_object(L, v) || jl_get_str(L, v, "file", 0, &fn->file) ||
            jl_get_str(L, v, "function", 0, &fn->name) || jl_get_str(L, v, "metric", 0, &m) ||
            jl_get_typed(L, v, "rows", 1, 0, &rows))
            return -1;
        if (strcmp(m, "rss") && strcmp(m, "heap"))
            return jl_fail(L, "\"metric\": \"%s\", expected \"rss\" or \"heap\"", m);
        metric = strcmp(m, "heap") == 0 ? MP_LM_METRIC_HEAP : MP_LM_METRIC_RSS;
        if (!(fn->file = mp_profile_intern(L->p, fn->file)) || !(fn->name = mp_profile_intern(L->p, fn->name)))
            return jl_oom(L);
        size_t k = json_array_size(rows);
        if (k) {
            json_t *first = json_object_get(json_array_get(rows, 0), "line");
            fn->first_line = json_is_integer(first) && json_integer_value(first) > 0 &&
                                     json_integer_value(first) < INT32_MAX - (json_int_t)k
                                 ? (int)json_integer_value(first) : 1;
            fn->last_line = fn->end_line = fn->first_line + (int)k - 1;
        }
        jl_leave(L);
    }
    own->lm_map->funcs = own->lm_funcs;
    own->lm_map->n_funcs = n;
    if (!(own->line_profile = mp_line_profile_restored(own->lm_map, (enum mp_lm_metric)metric)))
        return jl_oom(L);
    for (size_t f = 0; f < n; f++) {
        json_t *rows = json_object_get(json_array_get(all, f), "rows");
        const struct mp_lm_func *fn = &own->lm_funcs[f];
        size_t k = json_array_size(rows);
        jl_enter_index(L, f);
        jl_enter_key(L, "rows");
        /* the last line first: the sources keep a slot for every line up to it */
        for (size_t i = k; i-- > 0;) {
            struct saved_row r;
            jl_enter_index(L, i);
            if (load_row(L, json_array_get(rows, i), i ? fn->first_line + (long long)i - 1 : fn->first_line - 1, &r))
                return -1;
            if (mp_line_profile_set_row(own->line_profile, f, (int)r.line, r.occurrences, r.mem, r.increment) != 0)
                return jl_oom(L);
            if (r.text && L->src && mp_sources_set_line(L->src, fn->file, (int)r.line, r.text) != 0)
                return jl_oom(L);
            jl_leave(L);
        }
        jl_leave(L);
        jl_leave(L);
    }
    jl_leave(L);
    *out = own->line_profile;
    return 0;
}
