/* memprof: rebuilding a profile from a saved report (memprof report,
 * memprof diff): the loader creates line records and stacks and sets their
 * counters through these calls instead of feeding events. */
#include "profile_internal.h"

#include <stdlib.h>
#include <string.h>


const char *mp_profile_intern(struct mp_profile *p, const char *s)
{
    return mp_strtab_intern(&p->strings, s);
}

struct mp_line_stats *mp_profile_restore_line(struct mp_profile *p, const char *file, int line,
                                              const char *function, const char *module)
{
    struct mp_frame_info f = { .function = function ? function : "[unknown]",
                               .file = file,
                               .line = line,
                               .module = module ? module : "[unknown]" };
    uint32_t id = mp_profile_line_for_frame(p, &f);
    return id == UINT32_MAX ? NULL : &p->lines[id];
}

uint32_t mp_profile_line_index(const struct mp_profile *p, const struct mp_line_stats *l)
{
    return (uint32_t)(l - p->lines);
}

uint32_t mp_profile_restore_stack(struct mp_profile *p, const uint32_t *frame_lines, uint32_t n_frames,
                                  const struct mp_stack_info *counters)
{
    if (p->n_stacks == p->cap_stacks) {
        void *g = mp_profile_grow(p->stacks, &p->cap_stacks, sizeof *p->stacks);
        if (!g)
            return UINT32_MAX;
        p->stacks = g;
    }
    struct stack *s = &p->stacks[p->n_stacks];
    memset(s, 0, sizeof *s);
    s->frame_lines = malloc((n_frames ? n_frames : 1) * sizeof *s->frame_lines);
    if (!s->frame_lines)
        return UINT32_MAX;
    if (n_frames)
        memcpy(s->frame_lines, frame_lines, n_frames * sizeof *frame_lines);
    s->info = *counters;
    s->info.n_frames = n_frames;
    s->info.frame_lines = s->frame_lines;
    s->self_line = counters->self_line;
    return p->n_stacks++;
}

struct mp_totals *mp_profile_restore_totals(struct mp_profile *p)
{
    return &p->totals;
}

int mp_profile_restore_sample(struct mp_profile *p, const struct mp_sample *sample)
{
    return mp_profile_add_sample(p, sample);
}
