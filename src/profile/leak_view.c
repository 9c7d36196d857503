/* memprof: the leaks of the chosen kinds, not suppressed, per stack and
 * per user line (see leak_view.h). */
#include "leak_view.h"
#include "tables.h"

#include <stdlib.h>
#include <string.h>

const char *mp_leak_kind_title(int kind)
{
    static const char *const titles[MP_LEAK_KINDS] = { "definitely lost", "indirectly lost", "possibly lost",
                                                        "still reachable" };
    return kind >= 0 && kind < MP_LEAK_KINDS ? titles[kind] : "live";
}

const char *mp_leak_kind_name(int kind)
{
    static const char *const names[MP_LEAK_KINDS] = { "definite", "indirect", "possible", "reachable" };
    return kind >= 0 && kind < MP_LEAK_KINDS ? names[kind] : "all";
}

struct mp_leak_sum mp_stack_leaks(const struct mp_profile *p, const struct mp_stack_info *st, unsigned mask)
{
    struct mp_leak_sum s = { 0, 0 };
    if (st->suppressed)
        return s;
    if (!mp_profile_totals(p)->leaks_classified)
        return (struct mp_leak_sum){ st->live_bytes, st->live_blocks };
    for (int k = 0; k < MP_LEAK_KINDS; k++)
        if (mask & MP_LEAK_BIT(k)) {
            s.bytes += st->leak_bytes[k];
            s.blocks += st->leak_blocks[k];
        }
    return s;
}

struct mp_leak_sum mp_leaks_total(const struct mp_profile *p, unsigned mask)
{
    struct mp_leak_sum s = { 0, 0 };
    for (size_t i = 0; i < mp_profile_stack_count(p); i++) {
        struct mp_leak_sum one = mp_stack_leaks(p, mp_profile_stack(p, i), mask);
        s.bytes += one.bytes;
        s.blocks += one.blocks;
    }
    return s;
}

struct mp_leak_sum mp_leaks_suppressed_kind(const struct mp_profile *p, int kind)
{
    struct mp_leak_sum s = { 0, 0 };
    int classified = mp_profile_totals(p)->leaks_classified;
    for (size_t i = 0; i < mp_profile_stack_count(p); i++) {
        const struct mp_stack_info *st = mp_profile_stack(p, i);
        if (!st->suppressed)
            continue;
        s.bytes += kind < 0 || !classified ? st->live_bytes : st->leak_bytes[kind];
        s.blocks += kind < 0 || !classified ? st->live_blocks : st->leak_blocks[kind];
    }
    return s;
}

struct mp_leak_sum mp_leaks_suppressed(const struct mp_profile *p)
{
    return mp_leaks_suppressed_kind(p, -1);
}

/* ---- sorted lists ---- */

static const struct mp_profile *sort_profile;

static int cmp_leak_lines(const void *a, const void *b)
{
    const struct mp_leak_line *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    if (x->blocks != y->blocks)
        return x->blocks < y->blocks ? 1 : -1;
    return mp_line_cmp_place(mp_profile_line(sort_profile, x->line), mp_profile_line(sort_profile, y->line));
}

struct mp_leak_line *mp_leak_lines(const struct mp_profile *p, unsigned mask, size_t *n)
{
    size_t n_lines = mp_profile_line_count(p);
    *n = 0;
    struct mp_leak_line *per_line = calloc(n_lines ? n_lines : 1, sizeof *per_line);
    if (!per_line)
        return NULL;
    for (size_t i = 0; i < mp_profile_stack_count(p); i++) {
        const struct mp_stack_info *st = mp_profile_stack(p, i);
        struct mp_leak_sum s = mp_stack_leaks(p, st, mask);
        if (!s.blocks || st->self_line >= n_lines)
            continue;
        per_line[st->self_line].bytes += s.bytes;
        per_line[st->self_line].blocks += s.blocks;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n_lines; i++)
        if (per_line[i].blocks)
            per_line[kept++] = (struct mp_leak_line){ i, per_line[i].bytes, per_line[i].blocks };
    sort_profile = p;
    qsort(per_line, kept, sizeof *per_line, cmp_leak_lines);
    *n = kept;
    if (!kept) {
        free(per_line);
        return NULL;
    }
    return per_line;
}

static unsigned sort_mask;

static int cmp_leak_stacks(const void *a, const void *b)
{
    const struct mp_stack_info *x = mp_profile_stack(sort_profile, *(const size_t *)a);
    const struct mp_stack_info *y = mp_profile_stack(sort_profile, *(const size_t *)b);
    struct mp_leak_sum sx = mp_stack_leaks(sort_profile, x, sort_mask), sy = mp_stack_leaks(sort_profile, y, sort_mask);
    if (sx.bytes != sy.bytes)
        return sx.bytes < sy.bytes ? 1 : -1;
    if (sx.blocks != sy.blocks)
        return sx.blocks < sy.blocks ? 1 : -1;
    return mp_stack_cmp_frames(sort_profile, x, y);
}

size_t *mp_leak_stacks(const struct mp_profile *p, unsigned mask, size_t *n)
{
    size_t n_stacks = mp_profile_stack_count(p), kept = 0;
    size_t *idx = malloc((n_stacks ? n_stacks : 1) * sizeof *idx);
    *n = 0;
    if (!idx)
        return NULL;
    for (size_t i = 0; i < n_stacks; i++)
        if (mp_stack_leaks(p, mp_profile_stack(p, i), mask).blocks)
            idx[kept++] = i;
    sort_profile = p;
    sort_mask = mask;
    qsort(idx, kept, sizeof *idx, cmp_leak_stacks);
    *n = kept;
    return idx;
}
