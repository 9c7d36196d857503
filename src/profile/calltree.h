/* memprof: call trees made of a profile's stacks, for the report's views:
 * the top-down tree (from main to the user lines) and the bottom-up tree of
 * one target's callers (heaptrack's "merged backtraces": which callers the
 * bytes of a line or function came from, and theirs).  Pure functions of
 * the profile; O(frames of all stacks) memory. */
#ifndef MEMPROF_CALLTREE_H
#define MEMPROF_CALLTREE_H

#include <stddef.h>
#include <stdint.h>
#include "memprof/profile.h"

#define MP_TREE_TARGET UINT32_MAX /* the line of a callers tree's root */

struct mp_tree_node {
    uint32_t line;            /* line record (mp_profile_line), or MP_TREE_TARGET */
    uint32_t parent;          /* UINT32_MAX for a root */
    uint32_t first_child, n_children; /* into mp_calltree.child_ids */
    uint64_t calls, bytes;    /* allocations that went through this path */
    uint64_t peak_bytes;      /* of them, held when the heap reached its peak */
    uint64_t leaked_bytes;    /* of them, held at the end */
};

struct mp_calltree {
    struct mp_tree_node *nodes;
    size_t n_nodes;
    uint32_t *child_ids;      /* each node's children, biggest first (bytes, calls, place) */
    uint32_t *roots;          /* biggest first */
    size_t n_roots;
};

/* Top-down: each stack from main (or, when main is not on it, such as in a
 * thread, its outermost frame that is not runtime code) in to its user
 * line.  0, or -1 on ENOMEM. */
int mp_calltree_top_down(const struct mp_profile *p, struct mp_calltree *t);

/* Bottom-up: node 0 sums the allocations whose stack passes through a line
 * marked in `target` (one flag per line record; the outermost such frame
 * counts, so recursion is counted once); its children are the frames that
 * called it, theirs their callers, out to main (or a thread's start
 * routine).  0, or -1 on ENOMEM. */
int mp_calltree_callers(const struct mp_profile *p, const uint8_t *target, struct mp_calltree *t);

void mp_calltree_free(struct mp_calltree *t);

/* The part of a stack the trees use: *self the index of its user line's
 * frame, *end that of the outermost frame kept (main, else the outermost
 * frame that is not runtime code).  -1 when the user line is no frame of the
 * stack (a stack without any user frame). */
int mp_calltree_span(const struct mp_profile *p, const struct mp_stack_info *s, uint32_t *self, uint32_t *end);

#endif
