/* memprof: the leaks as the report and the CI gate see them: the blocks
 * live at exit of the chosen kinds (--leak-kinds), their stacks not
 * suppressed, summed per stack and per user line.  Before the reachability
 * scan classes them (or when it could not), every live block counts. */
#ifndef MEMPROF_LEAK_VIEW_H
#define MEMPROF_LEAK_VIEW_H

#include <stddef.h>
#include <stdint.h>
#include "memprof/profile.h"

#define MP_LEAK_BIT(kind) (1u << (kind))
#define MP_LEAK_MASK_ALL 0xfu
#define MP_LEAK_MASK_DEFAULT (MP_LEAK_BIT(MP_LEAK_DEFINITE) | MP_LEAK_BIT(MP_LEAK_INDIRECT))

struct mp_leak_sum {
    uint64_t bytes, blocks;
};

/* memcheck's words: "definitely lost", ...; and the --leak-kinds names:
 * "definite", "indirect", "possible", "reachable". */
const char *mp_leak_kind_title(int kind);
const char *mp_leak_kind_name(int kind);

/* Stack st's live blocks of the kinds in mask (all of them when the
 * profile is not classified); nothing when it is suppressed. */
struct mp_leak_sum mp_stack_leaks(const struct mp_profile *p, const struct mp_stack_info *st, unsigned mask);
/* The same over every stack. */
struct mp_leak_sum mp_leaks_total(const struct mp_profile *p, unsigned mask);
/* Every live block whose stack is suppressed, whatever its kind. */
struct mp_leak_sum mp_leaks_suppressed(const struct mp_profile *p);
/* Suppressed blocks of one kind. */
struct mp_leak_sum mp_leaks_suppressed_kind(const struct mp_profile *p, int kind);

struct mp_leak_line {
    size_t line;            /* mp_profile_line index of the user line */
    uint64_t bytes, blocks;
};
/* User lines holding leaks of the kinds in mask, most bytes first (ties by
 * blocks, then place): an array the caller frees; NULL and *n 0 when none
 * or on ENOMEM. */
struct mp_leak_line *mp_leak_lines(const struct mp_profile *p, unsigned mask, size_t *n);
/* Stacks holding leaks of the kinds in mask, most bytes first; caller frees. */
size_t *mp_leak_stacks(const struct mp_profile *p, unsigned mask, size_t *n);

#endif
