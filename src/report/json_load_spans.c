/* memprof: the JSON report loader's "function_spans" (line mode: when each
 * chosen function ran; see json_load.c).  Optional: reports without line
 * mode, written with --stable or before spans were recorded lack it. */
#include "json_load_internal.h"

#include <stdlib.h>
#include <string.h>

/* [start, end] in seconds, start <= end, after the previous span. */
static int load_span(struct loader *L, json_t *v, uint64_t after_ns, struct mp_span *out)
{
    double t[2];
    if (!json_is_array(v) || json_array_size(v) != 2)
        return jl_fail(L, "expected [start_seconds, end_seconds], found %s", jl_type_name(v));
    for (size_t k = 0; k < 2; k++) {
        jl_enter_index(L, k);
        if (jl_check_seconds(L, json_array_get(v, k), &t[k]))
            return -1;
        jl_leave(L);
    }
    out->start_ns = (uint64_t)(t[0] * 1e9 + 0.5);
    out->end_ns = (uint64_t)(t[1] * 1e9 + 0.5);
    if (out->end_ns < out->start_ns)
        return jl_fail(L, "ends before it starts");
    if (out->start_ns < after_ns)
        return jl_fail(L, "starts before the previous span ends: spans are in time order");
    return 0;
}

int jl_load_function_spans(struct loader *L, json_t *root, struct mp_function_spans **out, size_t *n,
                           struct mp_span **storage)
{
    json_t *all;
    *out = NULL;
    *storage = NULL;
    *n = 0;
    if (!json_object_get(root, "function_spans"))
        return 0;
    if (jl_get_typed(L, root, "function_spans", 1, 0, &all))
        return -1;
    size_t n_funcs = json_array_size(all), n_spans = 0;
    for (size_t f = 0; f < n_funcs; f++) {
        json_t *spans = json_object_get(json_array_get(all, f), "spans");
        n_spans += json_array_size(spans); /* 0 for what is not an array: checked below */
    }
    *out = calloc(n_funcs ? n_funcs : 1, sizeof **out);
    *storage = calloc(n_spans ? n_spans : 1, sizeof **storage);
    if (!*out || !*storage)
        return jl_oom(L);
    jl_enter_key(L, "function_spans");
    struct mp_span *next = *storage;
    for (size_t f = 0; f < n_funcs; f++) {
        json_t *v = json_array_get(all, f), *spans;
        struct mp_function_spans *fs = &(*out)[f];
        jl_enter_index(L, f);
        if (jl_expect_object(L, v) || jl_get_str(L, v, "function", 0, &fs->function) ||
            jl_get_str(L, v, "file", 1, &fs->file) || jl_get_u64(L, v, "calls", &fs->calls, NULL) ||
            jl_get_typed(L, v, "spans", 1, 0, &spans))
            return -1;
        if (!(fs->function = mp_profile_intern(L->p, fs->function)) ||
            (fs->file && !(fs->file = mp_profile_intern(L->p, fs->file))))
            return jl_oom(L);
        fs->spans = next;
        fs->n_spans = json_array_size(spans);
        jl_enter_key(L, "spans");
        for (size_t i = 0; i < fs->n_spans; i++) {
            jl_enter_index(L, i);
            if (load_span(L, json_array_get(spans, i), i ? next[i - 1].end_ns : 0, &next[i]))
                return -1;
            jl_leave(L);
        }
        jl_leave(L);
        next += fs->n_spans;
        jl_leave(L);
    }
    jl_leave(L);
    *n = n_funcs;
    return 0;
}
