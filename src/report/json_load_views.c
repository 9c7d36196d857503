/* memprof: the JSON report loader's sections for the views beyond lines
 * and stacks (see json_load.c): "free_sites" (frees called on each line),
 * "size_histogram", "largest" and "threads".  Reports written before these
 * views lack them: the profile then has none, and the views say so by
 * showing nothing. */
#define _GNU_SOURCE
#include "json_load_internal.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The optional array `key` of root, or NULL (absent); -1 after failing. */
static int optional_array(struct loader *L, json_t *root, const char *key, json_t **out)
{
    *out = json_object_get(root, key);
    if (!*out || json_is_array(*out))
        return 0;
    jl_enter_key(L, key);
    return jl_fail(L, "expected an array, found %s", jl_type_name(*out));
}

int jl_load_free_sites(struct loader *L, json_t *root)
{
    json_t *a;
    if (optional_array(L, root, "free_sites", &a) || !a)
        return L->failed ? -1 : 0;
    jl_enter_key(L, "free_sites");
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *v = json_array_get(a, i);
        long long frame;
        uint64_t calls, bytes;
        jl_enter_index(L, i);
        if (jl_expect_object(L, v) || jl_get_int(L, v, "frame", 0, (long long)L->n_frames - 1, &frame) ||
            jl_get_u64(L, v, "free_calls", &calls, NULL) || jl_get_u64(L, v, "freed_bytes", &bytes, NULL))
            return -1;
        struct mp_line_stats *l = (struct mp_line_stats *)mp_profile_line(L->p, (size_t)frame);
        if (l->site_free_calls) {
            jl_enter_key(L, "frame");
            return jl_fail(L, "frames[%lld] is listed twice", frame);
        }
        if (!calls) {
            jl_enter_key(L, "free_calls");
            return jl_fail(L, "a free site made at least one call");
        }
        l->site_free_calls = calls;
        l->site_freed_bytes = bytes;
        jl_leave(L);
    }
    jl_leave(L);
    return 0;
}

static int load_histogram(struct loader *L, json_t *root)
{
    json_t *a;
    if (optional_array(L, root, "size_histogram", &a) || !a)
        return L->failed ? -1 : 0;
    struct mp_size_bucket *h = mp_profile_restore_histogram(L->p);
    long long last = -1;
    jl_enter_key(L, "size_histogram");
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *v = json_array_get(a, i);
        long long bits;
        uint64_t calls, bytes;
        jl_enter_index(L, i);
        if (jl_expect_object(L, v) || jl_get_int(L, v, "bits", 0, MP_SIZE_BUCKETS - 1, &bits) ||
            jl_get_u64(L, v, "calls", &calls, NULL) || jl_get_u64(L, v, "bytes", &bytes, NULL))
            return -1;
        if (bits <= last) {
            jl_enter_key(L, "bits");
            return jl_fail(L, "buckets go by growing bits, each once (the previous one has %lld)", last);
        }
        if (!calls) {
            jl_enter_key(L, "calls");
            return jl_fail(L, "only buckets that got calls are listed");
        }
        last = bits;
        h[bits] = (struct mp_size_bucket){ calls, bytes };
        jl_leave(L);
    }
    jl_leave(L);
    return 0;
}

static int load_largest(struct loader *L, json_t *root)
{
    json_t *a;
    if (optional_array(L, root, "largest", &a) || !a)
        return L->failed ? -1 : 0;
    jl_enter_key(L, "largest");
    if (json_array_size(a) > MP_LARGEST_KEPT)
        return jl_fail(L, "%zu entries: memprof keeps at most %d", json_array_size(a), MP_LARGEST_KEPT);
    long long n_stacks = (long long)mp_profile_stack_count(L->p);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *v = json_array_get(a, i), *user_line;
        struct mp_largest e;
        long long stack_index;
        jl_enter_index(L, i);
        if (jl_expect_object(L, v) || jl_get_u64(L, v, "size", &e.size, NULL) ||
            jl_get_u64(L, v, "calls", &e.calls, NULL) || jl_get_u64(L, v, "leaked_blocks", &e.live_blocks, NULL) ||
            jl_get_int(L, v, "stack_index", 0, n_stacks - 1, &stack_index) ||
            jl_get_typed(L, v, "user_line", 0, 0, &user_line)) /* the stack's user line, for readers: derived */
            return -1;
        e.stack = (uint32_t)stack_index;
        if (!e.calls || e.live_blocks > e.calls) {
            jl_enter_key(L, e.calls ? "leaked_blocks" : "calls");
            return jl_fail(L, "an entry has at least one call and at most as many leaked blocks as calls");
        }
        const struct mp_largest *kept;
        size_t n = mp_profile_largest(L->p, &kept);
        for (size_t k = 0; k < n; k++)
            if (kept[k].size == e.size && kept[k].stack == e.stack)
                return jl_fail(L, "repeats largest[%zu] (one entry per size and stack)", k);
        if (mp_profile_restore_largest(L->p, &e) != 0)
            return jl_oom(L);
        jl_leave(L);
    }
    jl_leave(L);
    return 0;
}

static int load_threads(struct loader *L, json_t *root)
{
    json_t *a;
    if (optional_array(L, root, "threads", &a) || !a)
        return L->failed ? -1 : 0;
    jl_enter_key(L, "threads");
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *v = json_array_get(a, i);
        struct mp_thread_stats t;
        long long number;
        uint64_t tid;
        int tid_null = 0;
        memset(&t, 0, sizeof t);
        jl_enter_index(L, i);
        if (jl_expect_object(L, v) || jl_get_int(L, v, "thread", 1, LLONG_MAX, &number) ||
            jl_get_u64(L, v, "tid", &tid, L->stable ? &tid_null : NULL) ||
            jl_get_u64(L, v, "alloc_calls", &t.alloc_calls, NULL) ||
            jl_get_u64(L, v, "allocated_bytes", &t.allocated_bytes, NULL) ||
            jl_get_u64(L, v, "free_calls", &t.free_calls, NULL) ||
            jl_get_u64(L, v, "freed_bytes", &t.freed_bytes, NULL) ||
            jl_get_u64(L, v, "peak_bytes", &t.peak_bytes, NULL) ||
            jl_get_u64(L, v, "max_live_bytes", &t.max_live_bytes, NULL) ||
            jl_get_u64(L, v, "leaked_bytes", &t.live_bytes, NULL) ||
            jl_get_u64(L, v, "leaked_blocks", &t.live_blocks, NULL))
            return -1;
        if (number != (long long)i + 1) {
            jl_enter_key(L, "thread");
            return jl_fail(L, "expected %zu: threads are numbered from 1 in order", i + 1);
        }
        if (tid > UINT32_MAX) {
            jl_enter_key(L, "tid");
            return jl_fail(L, "%" PRIu64 " is not a thread id", tid);
        }
        t.tid = (uint32_t)tid;
        if (mp_profile_restore_thread(L->p, &t) != 0)
            return jl_oom(L);
        jl_leave(L);
    }
    jl_leave(L);
    return 0;
}

int jl_load_views(struct loader *L, json_t *root)
{
    return load_histogram(L, root) || load_largest(L, root) || load_threads(L, root) ? -1 : 0;
}
