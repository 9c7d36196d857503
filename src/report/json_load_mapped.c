/* memprof: the JSON report loader's optional parts (see json_load.c): mapped
 * memory ("mapped_*" and "peak_total*" fields, "peak_total") and folded
 * allocation wrappers ("folded_functions").  Files written before these
 * existed lack them: then the profile has no mapped memory and nothing
 * folded. */
#define _GNU_SOURCE
#include "json_load_internal.h"
#include "format.h"
#include "memprof/run.h"

#include <string.h>

int jl_load_mapped_summary(struct loader *L, json_t *s, struct mp_totals *t, struct mp_report_run *run)
{
    json_t *profiled = json_object_get(s, "mapped_profiled");
    if (profiled && !json_is_boolean(profiled)) {
        jl_enter_key(L, "mapped_profiled");
        return jl_fail(L, "expected a boolean, found %s", jl_type_name(profiled));
    }
    run->mapped_profiled = json_is_true(profiled);
    if (jl_get_u64_opt(L, s, "map_calls", &t->map_calls) || jl_get_u64_opt(L, s, "mapped_bytes", &t->mapped_bytes) ||
        jl_get_u64_opt(L, s, "unmap_calls", &t->unmap_calls) ||
        jl_get_u64_opt(L, s, "unmapped_bytes", &t->unmapped_bytes) ||
        jl_get_u64_opt(L, s, "mapped_live_bytes", &t->mapped_live_bytes) ||
        jl_get_u64_opt(L, s, "peak_mapped_bytes", &t->peak_mapped_bytes) ||
        jl_get_u64_opt(L, s, "peak_total_bytes", &t->peak_total_bytes) ||
        jl_get_u64_opt(L, s, "peak_total_mapped_bytes", &t->peak_total_mapped_bytes))
        return -1;
    return 0;
}

/* "peak_total": the stack that reached the peak of heap + mapped, found
 * again as a stack charged to the line it names. */
int jl_load_peak_total(struct loader *L, json_t *root, struct mp_totals *t)
{
    t->peak_total_stack = UINT32_MAX;
    json_t *peak = json_object_get(root, "peak_total");
    if (!peak || json_is_null(peak))
        return 0;
    jl_enter_key(L, "peak_total");
    uint64_t bytes, mapped;
    struct place reached;
    json_t *at;
    if (jl_expect_object(L, peak) || jl_get_u64(L, peak, "bytes", &bytes, NULL) ||
        jl_get_u64(L, peak, "mapped_bytes", &mapped, NULL) || !(at = jl_member(L, peak, "reached_at")))
        return -1;
    if (bytes != t->peak_total_bytes || mapped != t->peak_total_mapped_bytes)
        return jl_fail(L, "differs from summary.peak_total_bytes / peak_total_mapped_bytes");
    jl_enter_key(L, "reached_at");
    if (jl_get_place(L, at, &reached))
        return -1;
    for (size_t i = 0; i < mp_profile_stack_count(L->p); i++) {
        const struct mp_line_stats *l = mp_profile_line(L->p, mp_profile_stack(L->p, i)->self_line);
        if ((l->file == NULL) == (reached.file == NULL) && (!l->file || strcmp(l->file, reached.file) == 0) &&
            l->line == reached.line && strcmp(mp_display_function(l->function, L->stable), reached.function) == 0) {
            t->peak_total_stack = (uint32_t)i;
            break;
        }
    }
    if (t->peak_total_stack == UINT32_MAX)
        return jl_fail(L, "no stack of \"stacks\" is charged to this line");
    jl_leave(L);
    jl_leave(L);
    return 0;
}

int jl_load_folded(struct loader *L, json_t *root)
{
    json_t *list = json_object_get(root, "folded_functions");
    if (!list)
        return 0;
    jl_enter_key(L, "folded_functions");
    if (jl_expect_array(L, list))
        return -1;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *v = json_array_get(list, i), *automatic;
        struct mp_folded f;
        jl_enter_index(L, i);
        if (jl_expect_object(L, v) || jl_get_str(L, v, "function", 0, &f.function) ||
            !(automatic = jl_member(L, v, "automatic")) || jl_get_u64(L, v, "calls", &f.calls, NULL))
            return -1;
        if (!json_is_boolean(automatic)) {
            jl_enter_key(L, "automatic");
            return jl_fail(L, "expected a boolean, found %s", jl_type_name(automatic));
        }
        f.automatic = json_is_true(automatic);
        if (mp_profile_restore_folded(L->p, &f) != 0)
            return jl_oom(L);
        jl_leave(L);
    }
    jl_leave(L);
    return 0;
}
