/* memprof: line mode's resolution internals, shared by linemode_resolve.c
 * (the entry point, the points), linemode_dwarf.c (the DWARF
 * passes) and linemode_unmatched.c (the errors for names that match no
 * function), all on linemode_patterns.c.  Calls run one way: resolve ->
 * dwarf, unmatched -> patterns. */
#ifndef MEMPROF_LINEMODE_RESOLVE_INTERNAL_H
#define MEMPROF_LINEMODE_RESOLVE_INTERNAL_H

#include "linemode_internal.h"

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stddef.h>
#include <stdint.h>

struct sym_string_pool;

/* One --function argument: NAME or FILE:NAME. */
struct pattern {
    char *file;        /* NULL: any file */
    char *name;
    const char *text;  /* as given */
    int matched;
};

/* A function definition found by pass 1. */
struct cand {
    Dwarf_Off off;
    const char *name;      /* pooled */
    const char *linkage;   /* pooled demangled linkage name, or NULL */
    const char *file;      /* pooled absolute path, or NULL */
    int line;
    int chosen;            /* func index + 1, 0: not chosen */
};

/* A chosen definition: its DIE and its function index. */
struct chosen {
    Dwarf_Off off;
    uint32_t func;
};

/* A point as pass 2 finds it, before sorting and deduplication. */
struct raw_point {
    uint64_t addr;
    uint32_t func;
    int line;
    int prio;          /* 0: a call point, 1: a line-table row (wins) */
    size_t seq;
};

/* Addresses lo to hi (hi excluded). */
struct range {
    Dwarf_Addr lo, hi;
};

/* A growable array of `size`-byte items. */
struct vec {
    void *items;
    size_t n, cap, size;
};

/* One mp_linemode_resolve call. */
struct resolver {
    Dwarf *dw;
    struct sym_string_pool *strings;
    struct pattern *pats;
    size_t n_pats;
    struct vec cands;      /* struct cand: definitions */
    struct vec decls;      /* const char *: names only declared (defined elsewhere) */
    struct vec chosen;     /* struct chosen, sorted by off after pass 1 */
    struct vec funcs;      /* struct mp_lm_func */
    struct vec func_pattern; /* size_t: the pattern that chose each function */
    struct vec points;     /* struct raw_point */
    struct vec entries;    /* struct raw_point: entry addresses of out-of-line copies */
    struct vec anchors;    /* uint64_t */
    struct vec ranges;     /* struct range: scratch, the copy's ranges */
    struct vec excluded;   /* struct range: scratch, ranges of functions inlined into it */
    struct vec copies;     /* struct range: every inlined copy of a chosen function */
    struct vec leaves;     /* uint64_t: rows of unprofiled functions holding inlined copies */
    struct vec leave_done; /* Dwarf_Off: those functions, once their rows were taken */
    size_t seq;
    int oom;
};

/* ---- linemode_patterns.c: patterns and shared helpers (a leaf) ---- */

/* Appends a zeroed item to v; NULL when out of memory. */
void *lm_vec_push(struct vec *v);
const char *lm_basename_of(const char *path);
/* r->pats from the --function texts; 0, or -1 when out of memory. */
int lm_parse_patterns(struct resolver *r, const char *const *texts, size_t n);
/* Does the pattern's NAME match the function's name or its linkage name? */
int lm_name_matches(const struct pattern *p, const char *name, const char *linkage);
/* Does the pattern's FILE (none: any) match the definition file?  The
 * basename is compared, or the path when the pattern has a '/'. */
int lm_file_matches(const struct pattern *p, const char *file);

/* ---- linemode_dwarf.c: the DWARF passes ---- */

/* Orders struct chosen by DIE offset (r->chosen is sorted so before pass 2). */
int lm_cmp_chosen(const void *a, const void *b);
/* Every compile unit: pass 1 collects the definitions (r->cands, r->decls),
 * pass 2 the points of the copies of the chosen functions. */
void lm_for_each_cu(struct resolver *r, int pass);

/* ---- linemode_unmatched.c: a pattern that matched nothing ---- */

/* The error for pattern p, which matched no definition in `path`. */
void lm_explain_unmatched(struct resolver *r, Dwfl_Module *mod, const char *path, const struct pattern *p,
                          char *err, size_t errlen);

#endif
