/* memprof: the JSON report loader's line records and stacks (see
 * json_load.c): "frames" (every line record, in profile order), "lines"
 * (their self counters), "stacks" and "peak" (the stack that reached the
 * peak, found again among "stacks" by what it shows). */
#define _GNU_SOURCE
#include "json_load_internal.h"
#include "format.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- places ---- */

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
uint32_t jl_find_frame(struct loader *L, const struct place *pl, uint8_t *used, uint32_t *next)
{
    char buf[300];
    struct mp_line_stats *l = mp_profile_restore_line(L->p, pl->file, pl->line, pl->function, pl->module);
    if (!l) {
        jl_oom(L);
        return UINT32_MAX;
    }
    uint32_t i = mp_profile_line_index(L->p, l);
    /* (A record made by this lookup is left behind, but the load fails.) */
    if (i >= L->n_frames) {
        jl_fail(L, "%s is not in \"frames\"", describe(pl, buf, sizeof buf));
        return UINT32_MAX;
    }
    uint32_t head = i;
    for (i = next[head]; i != UINT32_MAX && used[i]; i = L->next_dup[i])
        ;
    if (i == UINT32_MAX) {
        jl_fail(L, "%s is listed twice", describe(pl, buf, sizeof buf));
        return UINT32_MAX;
    }
    used[i] = 1;
    next[head] = i;
    return i;
}

/* ---- leak kinds ---- */

int jl_get_leak_kinds(struct loader *L, json_t *obj, uint64_t *bytes, uint64_t *blocks, int allow_null, int *present)
{
    static const char *const names[MP_LEAK_KINDS] = { "definitely_lost", "indirectly_lost", "possibly_lost",
                                                       "still_reachable" };
    int seen = 0, nulls = 0;
    *present = 0;
    for (int k = 0; k < MP_LEAK_KINDS; k++) {
        char key[2][40];
        snprintf(key[0], sizeof key[0], "%s_bytes", names[k]);
        snprintf(key[1], sizeof key[1], "%s_blocks", names[k]);
        for (int j = 0; j < 2; j++) {
            json_t *v = json_object_get(obj, key[j]);
            seen += v != NULL;
            nulls += v && json_is_null(v);
        }
    }
    if (seen == 0 || (allow_null && nulls == 2 * MP_LEAK_KINDS))
        return 0;
    for (int k = 0; k < MP_LEAK_KINDS; k++) {
        char key[40];
        snprintf(key, sizeof key, "%s_bytes", names[k]);
        if (jl_get_u64(L, obj, key, &bytes[k], NULL))
            return -1;
        snprintf(key, sizeof key, "%s_blocks", names[k]);
        if (jl_get_u64(L, obj, key, &blocks[k], NULL))
            return -1;
    }
    *present = 1;
    return 0;
}

/* A stack's leak kinds must add up to what it leaked; its suppression is a
 * string. */
static int load_stack_leaks(struct loader *L, json_t *s, struct mp_stack_info *info, const char **suppressed)
{
    int present;
    *suppressed = NULL;
    if (jl_get_leak_kinds(L, s, info->leak_bytes, info->leak_blocks, 0, &present))
        return -1;
    int classified = mp_profile_totals(L->p)->leaks_classified;
    if (present && !classified)
        return jl_fail(L, "has leak kinds but summary has none");
    if (!present && classified && info->live_blocks)
        return jl_fail(L, "missing field \"definitely_lost_bytes\" (summary has leak kinds)");
    if (present) {
        uint64_t bytes = 0, blocks = 0;
        for (int k = 0; k < MP_LEAK_KINDS; k++) {
            bytes += info->leak_bytes[k];
            blocks += info->leak_blocks[k];
        }
        char b[64], c[64];
        if (bytes != info->live_bytes || blocks != info->live_blocks)
            return jl_fail(L, "leak kinds add up to %s in %s, not leaked_bytes and leaked_blocks",
                           MP_COUNT_NOUN(b, bytes, "byte", "bytes"), MP_COUNT_NOUN(c, blocks, "block", "blocks"));
    }
    if (json_object_get(s, "suppressed") && jl_get_str(L, s, "suppressed", 0, suppressed))
        return -1;
    return 0;
}

/* ---- sections ---- */

static int load_frames(struct loader *L, struct jl_array *frames)
{
    size_t n = frames->size;
    if (n >= UINT32_MAX)
        return jl_fail(L, "too many frames");
    L->n_frames = (uint32_t)n;
    size_t alloc = n ? n : 1;
    L->next_dup = malloc(alloc * sizeof *L->next_dup);
    L->dup_tail = malloc(alloc * sizeof *L->dup_tail);
    L->self_next = malloc(alloc * sizeof *L->self_next);
    L->incl_next = malloc(alloc * sizeof *L->incl_next);
    L->self_done = calloc(alloc, 1);
    L->incl_done = calloc(alloc, 1);
    if (!L->next_dup || !L->dup_tail || !L->self_next || !L->incl_next || !L->self_done || !L->incl_done)
        return jl_oom(L);
    jl_enter_key(L, "frames");
    for (size_t i = 0; i < n; i++) {
        struct place pl;
        jl_enter_index(L, i);
        L->next_dup[i] = UINT32_MAX;
        L->dup_tail[i] = L->self_next[i] = L->incl_next[i] = (uint32_t)i;
        json_t *frame = jl_array_next(L, frames), *runtime;
        if (!frame || jl_get_place(L, frame, &pl))
            return -1;
        struct mp_line_stats *l = mp_profile_restore_line(L->p, pl.file, pl.line, pl.function, pl.module);
        if (!l)
            return jl_oom(L);
        /* reports since the call tree mark runtime frames */
        if ((runtime = json_object_get(frame, "runtime")) && !json_is_true(runtime)) {
            jl_enter_key(L, "runtime");
            return jl_fail(L, "expected true (or no \"runtime\"), found %s", jl_type_name(runtime));
        }
        uint32_t got = mp_profile_line_index(L->p, l);
        if (got != i) {
            /* --stable shows every "[unknown]+0x..." as "[unknown]": give the
             * repeat a distinct name that it shows the same way. */
            if (!L->stable || strcmp(pl.function, "[unknown]") != 0)
                return jl_fail(L, "repeats frames[%u]", got);
            char name[64];
            snprintf(name, sizeof name, "[unknown]+0x%zx", i);
            l = mp_profile_restore_line(L->p, pl.file, pl.line, name, pl.module);
            if (!l)
                return jl_oom(L);
            if (mp_profile_line_index(L->p, l) != i)
                return jl_fail(L, "repeats frames[%u]", got);
            L->next_dup[L->dup_tail[got]] = (uint32_t)i;
            L->dup_tail[got] = (uint32_t)i;
        }
        l->is_runtime = runtime != NULL;
        jl_leave(L);
    }
    jl_leave(L);
    return 0;
}

int jl_load_frames(struct loader *L, json_t *root)
{
    struct jl_array frames;
    if (jl_array_open(L, root, "frames", &frames))
        return -1;
    int rc = load_frames(L, &frames);
    jl_array_close(&frames);
    return rc;
}

static int load_stacks(struct loader *L, struct jl_array *stacks)
{
    jl_enter_key(L, "stacks");
    uint32_t *lines = NULL;
    size_t cap = 0;
    int rc = -1;
    for (size_t i = 0; i < stacks->size; i++) {
        json_t *s = jl_array_next(L, stacks), *frames;
        struct mp_stack_info info;
        long long user;
        memset(&info, 0, sizeof info);
        jl_enter_index(L, i);
        if (!s || jl_expect_object(L, s) || jl_get_typed(L, s, "frames", 1, 0, &frames) ||
            jl_get_int(L, s, "user_line", 0, (long long)L->n_frames - 1, &user) ||
            jl_get_u64(L, s, "alloc_calls", &info.alloc_calls, NULL) ||
            jl_get_u64(L, s, "allocated_bytes", &info.allocated_bytes, NULL) ||
            jl_get_u64(L, s, "leaked_bytes", &info.live_bytes, NULL) ||
            jl_get_u64(L, s, "leaked_blocks", &info.live_blocks, NULL) ||
            /* added later: reports written before lack them */
            jl_get_u64_opt(L, s, "peak_bytes", &info.peak_bytes) ||
            jl_get_u64_opt(L, s, "peak_blocks", &info.peak_blocks) ||
            jl_get_u64_opt(L, s, "temporary_calls", &info.temporary_calls) ||
            jl_get_u64_opt(L, s, "map_calls", &info.map_calls) || jl_get_u64_opt(L, s, "mapped_bytes", &info.mapped_bytes) ||
            jl_get_u64_opt(L, s, "mapped_live_bytes", &info.mapped_live_bytes))
            goto out;
        const char *suppressed;
        if (load_stack_leaks(L, s, &info, &suppressed))
            goto out;
        size_t n = json_array_size(frames);
        if (n >= UINT32_MAX) {
            jl_fail(L, "too many frames");
            goto out;
        }
        if (n > cap) {
            uint32_t *g = realloc(lines, n * sizeof *g);
            if (!g) {
                jl_oom(L);
                goto out;
            }
            lines = g;
            cap = n;
        }
        jl_enter_key(L, "frames");
        for (size_t j = 0; j < n; j++) {
            long long f;
            jl_enter_index(L, j);
            if (jl_check_int(L, json_array_get(frames, j), 0, (long long)L->n_frames - 1, &f))
                goto out;
            lines[j] = (uint32_t)f;
            jl_leave(L);
        }
        jl_leave(L);
        info.self_line = (uint32_t)user;
        uint32_t id = mp_profile_restore_stack(L->p, lines, (uint32_t)n, &info);
        if (id == UINT32_MAX) {
            jl_oom(L);
            goto out;
        }
        if (suppressed)
            mp_profile_suppress_stack(L->p, id, suppressed);
        jl_leave(L);
    }
    jl_leave(L);
    rc = 0;
out:
    free(lines);
    return rc;
}

int jl_load_stacks(struct loader *L, json_t *root)
{
    struct jl_array stacks;
    if (jl_array_open(L, root, "stacks", &stacks))
        return -1;
    int rc = load_stacks(L, &stacks);
    jl_array_close(&stacks);
    return rc;
}

static int load_lines(struct loader *L, struct jl_array *lines)
{
    jl_enter_key(L, "lines");
    for (size_t i = 0; i < lines->size; i++) {
        json_t *v = jl_array_next(L, lines);
        struct place pl;
        struct mp_line_stats c;
        jl_enter_index(L, i);
        if (!v || jl_get_place(L, v, &pl) || jl_get_u64(L, v, "alloc_calls", &c.alloc_calls, NULL) ||
            jl_get_u64(L, v, "allocated_bytes", &c.allocated_bytes, NULL) ||
            jl_get_u64(L, v, "free_calls", &c.free_calls, NULL) ||
            jl_get_u64(L, v, "freed_bytes", &c.freed_bytes, NULL) ||
            jl_get_u64(L, v, "peak_bytes", &c.peak_bytes, NULL) ||
            jl_get_u64(L, v, "leaked_bytes", &c.live_bytes, NULL) ||
            jl_get_u64(L, v, "leaked_blocks", &c.live_blocks, NULL) ||
            jl_get_u64(L, v, "temporary_calls", &c.temporary_calls, NULL) ||
            jl_get_u64_opt(L, v, "map_calls", &c.map_calls) || jl_get_u64_opt(L, v, "mapped_bytes", &c.mapped_bytes) ||
            jl_get_u64_opt(L, v, "unmapped_bytes", &c.unmapped_bytes) ||
            jl_get_u64_opt(L, v, "mapped_live_bytes", &c.mapped_live_bytes) ||
            jl_get_u64_opt(L, v, "peak_total_bytes", &c.peak_total_bytes) ||
            jl_get_u64_opt(L, v, "peak_total_mapped_bytes", &c.peak_total_mapped_bytes))
            return -1;
        uint32_t f = jl_find_frame(L, &pl, L->self_done, L->self_next);
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
        l->map_calls = c.map_calls;
        l->mapped_bytes = c.mapped_bytes;
        l->unmapped_bytes = c.unmapped_bytes;
        l->mapped_live_bytes = c.mapped_live_bytes;
        l->peak_total_bytes = c.peak_total_bytes;
        l->peak_total_mapped_bytes = c.peak_total_mapped_bytes;
        jl_leave(L);
    }
    jl_leave(L);
    return 0;
}

int jl_load_lines(struct loader *L, json_t *root)
{
    struct jl_array lines;
    if (jl_array_open(L, root, "lines", &lines))
        return -1;
    int rc = load_lines(L, &lines);
    jl_array_close(&lines);
    return rc;
}

/* ---- peak ---- */

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
int jl_load_peak(struct loader *L, json_t *root, struct mp_totals *t)
{
    json_t *peak, *stack, *reached_at, *user_frame;
    t->peak_stack = UINT32_MAX;
    if (jl_get_typed(L, root, "peak", 0, 1, &peak) || !peak)
        return L->failed ? -1 : 0;
    jl_enter_key(L, "peak");
    uint64_t heap;
    struct place reached;
    if (jl_get_u64(L, peak, "heap_bytes", &heap, NULL) || jl_get_typed(L, peak, "stack", 1, 0, &stack) ||
        !(reached_at = jl_member(L, peak, "reached_at")) || !(user_frame = jl_member(L, peak, "user_frame")))
        return -1;
    if (heap != t->peak_heap_bytes) {
        jl_enter_key(L, "heap_bytes");
        return jl_fail(L, "differs from summary.peak_heap_bytes");
    }
    jl_enter_key(L, "user_frame");
    long long uf;
    if (jl_check_int(L, user_frame, -1, INT_MAX, &uf))
        return -1;
    jl_leave(L);
    jl_enter_key(L, "reached_at");
    if (jl_get_place(L, reached_at, &reached))
        return -1;
    jl_leave(L);
    size_t n = json_array_size(stack);
    struct place *frames = malloc((n ? n : 1) * sizeof *frames);
    if (!frames)
        return jl_oom(L);
    jl_enter_key(L, "stack");
    for (size_t i = 0; i < n; i++) {
        jl_enter_index(L, i);
        if (jl_get_place(L, json_array_get(stack, i), &frames[i])) {
            free(frames);
            return -1;
        }
        jl_leave(L);
    }
    jl_leave(L);
    for (size_t s = 0; s < mp_profile_stack_count(L->p); s++) {
        if (place_matches_stack(L, stack, mp_profile_stack(L->p, s), &reached, frames)) {
            t->peak_stack = (uint32_t)s;
            break;
        }
    }
    free(frames);
    if (t->peak_stack == UINT32_MAX) {
        jl_enter_key(L, "stack");
        return jl_fail(L, "matches no entry of \"stacks\"");
    }
    jl_leave(L);
    return 0;
}
