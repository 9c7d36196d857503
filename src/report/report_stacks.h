/* memprof: the call stacks as the pictures and exports see them (flame
 * graph, folded stacks, speedscope, massif, pprof): a weight per stack,
 * frames named "function (file:line)", stacks cut at main, and the merged
 * call tree. */
#ifndef MEMPROF_REPORT_STACKS_H
#define MEMPROF_REPORT_STACKS_H

#include <stddef.h>
#include <stdint.h>
#include "base/hashidx.h"
#include "base/strtab.h"
#include "memprof/profile.h"
#include "memprof/report.h"

/* The stack's weight of kind w. */
uint64_t mp_stack_weight(const struct mp_stack_info *st, enum mp_weight w);
/* The weight's total over the whole run (the summary's figure). */
uint64_t mp_weight_total(const struct mp_profile *p, enum mp_weight w);
/* "bytes allocated", "allocation calls", ...: what the weight measures. */
const char *mp_weight_title(enum mp_weight w);
/* 1 when the weight counts bytes, 0 when it counts calls. */
int mp_weight_is_bytes(enum mp_weight w);

/* How many of the stack's frames (innermost first) are shown: up to and
 * including main when main is on it (the C runtime's start-up frames say
 * nothing), else all of them. */
uint32_t mp_stack_shown_frames(const struct mp_profile *p, const struct mp_stack_info *st);

/* A frame's name: "function (file:line)" (opt->frames == MP_FRAMES_LINE and
 * the frame has line info) or "function"; with --stable, raw addresses are
 * left out.  Interned in t (NULL on ENOMEM). */
const char *mp_frame_label(struct mp_strtab *t, const struct mp_line_stats *l, const struct mp_report_options *opt);

/* ---- The call tree: stacks merged frame by frame ---- */

struct mp_tree_node {
    const char *label;       /* interned in the tree's labels */
    uint32_t line;           /* a line record shown with this label (the first seen) */
    uint32_t parent;         /* UINT32_MAX for the root */
    uint32_t first_child, next_sibling; /* UINT32_MAX: none */
    uint32_t depth;          /* the root is 0 */
    uint64_t value;          /* the weight of the stacks through this node */
    uint64_t self;           /* the weight of the stacks that end here */
};

struct mp_tree {
    struct mp_tree_node *nodes; /* nodes[0] is the root (label "all") */
    uint32_t n, cap;
    uint32_t max_depth;
    struct mp_hashidx index;    /* (parent, label) -> node */
    struct mp_strtab labels;
};

/* Merges every stack with a nonzero weight w.  outermost_first: the root's
 * children are the outermost frames (main), as in a flame graph; else the
 * allocation sites, as in massif's tree.  0, or -1 on ENOMEM. */
int mp_tree_build(struct mp_tree *t, const struct mp_profile *p, enum mp_weight w, int outermost_first,
                  const struct mp_report_options *opt);
/* Orders every node's children: by label (flame graphs), or by value, biggest
 * first, then label (massif).  0, or -1 on ENOMEM. */
int mp_tree_sort(struct mp_tree *t, int by_value);
void mp_tree_free(struct mp_tree *t);

#endif
