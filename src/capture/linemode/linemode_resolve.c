/* memprof: line mode, resolution (mp_linemode_resolve).  Reads the
 * executable file before the launch, so a bad name is an error before
 * anything runs: the --function patterns (NAME or FILE:NAME, fnmatch globs,
 * FILE compared with the definition file's basename, or its path when the
 * pattern has a '/') are matched against the definitions DWARF pass 1 finds
 * (linemode_dwarf.c); a pattern that matches none is explained by
 * linemode_unmatched.c; DWARF pass 2 collects the points of the chosen
 * functions, which become the map the breakpoints use (linemode.c). */
#define _GNU_SOURCE
#include "linemode_resolve_internal.h"
#include "symbols/sym_strings.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct cand *sort_cands;

static int cmp_cand_place(const void *a, const void *b)
{
    const struct cand *x = &sort_cands[*(const size_t *)a], *y = &sort_cands[*(const size_t *)b];
    int c = strcmp(x->file ? x->file : "", y->file ? y->file : "");
    if (!c)
        c = (x->line > y->line) - (x->line < y->line);
    if (!c)
        c = strcmp(x->name, y->name);
    return c;
}

/* ---- the result ---- */

static int cmp_raw(const void *a, const void *b)
{
    const struct raw_point *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    if (x->prio != y->prio)
        return x->prio - y->prio;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_point_addr(const void *key, const void *elem)
{
    uint64_t a = *(const uint64_t *)key, b = ((const struct mp_lm_point *)elem)->addr;
    return (a > b) - (a < b);
}

static int build_points(struct resolver *r, struct mp_linemode *lm)
{
    struct raw_point *raw = r->points.items;
    if (r->points.n)
        qsort(raw, r->points.n, sizeof *raw, cmp_raw);
    size_t cap = r->points.n + r->entries.n;
    lm->points = calloc(cap ? cap : 1, sizeof *lm->points);
    if (!lm->points)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < r->points.n; i++) {
        if (i + 1 < r->points.n && raw[i + 1].addr == raw[i].addr)
            continue; /* the last row at an address wins */
        lm->points[n++] = (struct mp_lm_point){ raw[i].addr, raw[i].func, raw[i].line, 0, 0 };
    }
    /* entries: flag the row there, or add one on the declaration line */
    struct raw_point *ent = r->entries.items;
    size_t n_rows = n;
    for (size_t i = 0; i < r->entries.n; i++) {
        struct mp_lm_point *p = n_rows ? bsearch(&ent[i].addr, lm->points, n_rows, sizeof *p, cmp_point_addr) : NULL;
        if (p) {
            p->entry = 1;
            continue;
        }
        int dup = 0;
        for (size_t j = n_rows; j < n; j++)
            dup |= lm->points[j].addr == ent[i].addr;
        if (!dup) {
            int line = ent[i].line > 0 ? ent[i].line : 0;
            lm->points[n++] = (struct mp_lm_point){ ent[i].addr, ent[i].func, line, 1, 0 };
        }
    }
    /* leave points: rows of unprofiled functions around inlined copies,
     * outside every copy and where no point is */
    uint64_t *lv = r->leaves.items;
    const struct range *cp = r->copies.items;
    if (r->leaves.n)
        qsort(lv, r->leaves.n, sizeof *lv, cmp_u64);
    size_t n_lines = n;
    qsort(lm->points, n, sizeof *lm->points, cmp_u64);
    struct mp_lm_point *grown = r->leaves.n ? realloc(lm->points, (n + r->leaves.n) * sizeof *grown) : lm->points;
    if (!grown)
        return -1;
    lm->points = grown;
    for (size_t i = 0; i < r->leaves.n; i++) {
        if (i && lv[i] == lv[i - 1])
            continue;
        int inside = n_lines && bsearch(&lv[i], lm->points, n_lines, sizeof *lm->points, cmp_point_addr);
        for (size_t k = 0; k < r->copies.n && !inside; k++)
            inside = lv[i] >= cp[k].lo && lv[i] < cp[k].hi;
        if (!inside)
            lm->points[n++] = (struct mp_lm_point){ lv[i], MP_LM_NO_FUNC, 0, 0, 1 };
    }
    lm->n_points = n;
    qsort(lm->points, n, sizeof *lm->points, cmp_u64); /* addr is the first member */
    /* anchors: unique, and not where a frame starts anyway */
    uint64_t *anc = r->anchors.items;
    if (r->anchors.n)
        qsort(anc, r->anchors.n, sizeof *anc, cmp_u64);
    lm->anchors = calloc(r->anchors.n ? r->anchors.n : 1, sizeof *lm->anchors);
    if (!lm->anchors)
        return -1;
    for (size_t i = 0; i < r->anchors.n; i++) {
        if (i && anc[i] == anc[i - 1])
            continue;
        const struct mp_lm_point *p = n ? bsearch(&anc[i], lm->points, n, sizeof *p, cmp_point_addr) : NULL;
        if (p && p->entry)
            continue;
        lm->anchors[lm->n_anchors++] = anc[i];
    }
    /* table extents */
    for (size_t i = 0; i < n; i++) {
        if (lm->points[i].leave)
            continue;
        struct mp_lm_func *f = &lm->funcs[lm->points[i].func];
        int line = lm->points[i].line;
        if (line <= 0)
            continue;
        if (f->first_line <= 0 || line < f->first_line)
            f->first_line = line;
        if (line > f->last_line)
            f->last_line = line;
    }
    return 0;
}

/* Each chosen function's own lines end before the next function defined
 * in its file (the definitions pass 1 found); rows of later or earlier
 * lines in its code were inlined from elsewhere. */
static void bound_lines(struct resolver *r)
{
    const struct cand *c = r->cands.items;
    struct mp_lm_func *funcs = r->funcs.items;
    for (size_t f = 0; f < r->funcs.n; f++) {
        int next = 0;
        for (size_t i = 0; i < r->cands.n; i++)
            if (c[i].file == funcs[f].file && c[i].line > funcs[f].first_line && (!next || c[i].line < next))
                next = c[i].line;
        funcs[f].end_line = next ? next - 1 : 0;
    }
}

/* ---- entry point ---- */

static void free_resolver(struct resolver *r)
{
    for (size_t i = 0; i < r->n_pats; i++) {
        free(r->pats[i].file);
        free(r->pats[i].name);
    }
    free(r->pats);
    free(r->cands.items);
    free(r->decls.items);
    free(r->chosen.items);
    free(r->func_pattern.items);
    free(r->points.items);
    free(r->entries.items);
    free(r->anchors.items);
    free(r->ranges.items);
    free(r->excluded.items);
    free(r->copies.items);
    free(r->leaves.items);
    free(r->leave_done.items);
}

static const Dwfl_Callbacks offline_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

int mp_linemode_resolve(const char *path, const char *const *patterns, size_t n_patterns,
                        struct mp_linemode **out, char *err, size_t errlen)
{
    *out = NULL;
    struct mp_linemode *lm = calloc(1, sizeof *lm);
    if (lm)
        lm->mem_fd = lm->task_fd = lm->statm.fd = -1;
    struct resolver r;
    memset(&r, 0, sizeof r);
    r.cands.size = sizeof(struct cand);
    r.decls.size = sizeof(const char *);
    r.chosen.size = sizeof(struct chosen);
    r.funcs.size = sizeof(struct mp_lm_func);
    r.func_pattern.size = sizeof(size_t);
    r.points.size = sizeof(struct raw_point);
    r.entries.size = sizeof(struct raw_point);
    r.anchors.size = sizeof(uint64_t);
    r.ranges.size = sizeof(struct range);
    r.excluded.size = sizeof(struct range);
    r.copies.size = sizeof(struct range);
    r.leaves.size = sizeof(uint64_t);
    r.leave_done.size = sizeof(Dwarf_Off);
    int rc = 1;
    Dwfl *dwfl = NULL;
    struct stat st;
    if (!lm || !(lm->strings = sym_strings_create()) || lm_parse_patterns(&r, patterns, n_patterns) != 0) {
        snprintf(err, errlen, "memprof: out of memory");
        goto done;
    }
    r.strings = lm->strings;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "memprof: cannot read %s: %s", path, strerror(errno));
        goto done;
    }
    lm->exe_dev = st.st_dev;
    lm->exe_ino = st.st_ino;
    dwfl = dwfl_begin(&offline_callbacks);
    Dwfl_Module *mod = dwfl ? dwfl_report_offline(dwfl, path, path, -1) : NULL;
    if (!mod) {
        snprintf(err, errlen, "memprof: cannot read %s as an ELF file: %s", path, dwfl_errmsg(-1));
        goto done;
    }
    dwfl_report_end(dwfl, NULL, NULL);
    GElf_Addr elf_bias;
    Elf *elf = dwfl_module_getelf(mod, &elf_bias);
    GElf_Ehdr ehdr;
    if (!elf || !gelf_getehdr(elf, &ehdr)) {
        snprintf(err, errlen, "memprof: cannot read %s as an ELF file", path);
        goto done;
    }
    lm->map.elf_entry = ehdr.e_entry;
    Dwarf_Addr dw_bias;
    r.dw = dwfl_module_getdwarf(mod, &dw_bias);
    if (r.dw)
        lm_for_each_cu(&r, 1);
    /* match: tables in the order of the patterns, then by file and line */
    struct cand *c = r.cands.items;
    size_t *order = calloc(r.cands.n ? r.cands.n : 1, sizeof *order);
    if (!order) {
        snprintf(err, errlen, "memprof: out of memory");
        goto done;
    }
    for (size_t k = 0; k < r.n_pats; k++) {
        size_t n_order = 0;
        for (size_t i = 0; i < r.cands.n; i++)
            if (lm_name_matches(&r.pats[k], c[i].name, c[i].linkage) && lm_file_matches(&r.pats[k], c[i].file))
                order[n_order++] = i;
        sort_cands = c;
        if (n_order)
            qsort(order, n_order, sizeof *order, cmp_cand_place);
        for (size_t j = 0; j < n_order; j++) {
            size_t i = order[j];
            r.pats[k].matched = 1;
            if (c[i].chosen)
                continue;
            struct mp_lm_func *f = lm_vec_push(&r.funcs);
            struct chosen *ch = lm_vec_push(&r.chosen);
            size_t *fp = lm_vec_push(&r.func_pattern);
            if (!f || !ch || !fp) {
                snprintf(err, errlen, "memprof: out of memory");
                free(order);
                goto done;
            }
            f->name = c[i].name;
            f->file = c[i].file;
            f->first_line = c[i].line;
            *fp = k;
            c[i].chosen = (int)r.funcs.n;
            ch->off = c[i].off;
            ch->func = (uint32_t)(r.funcs.n - 1);
        }
    }
    free(order);
    for (size_t k = 0; k < r.n_pats; k++) {
        if (!r.pats[k].matched) {
            lm_explain_unmatched(&r, mod, path, &r.pats[k], err, errlen);
            rc = 2;
            goto done;
        }
    }
    if (r.chosen.n)
        qsort(r.chosen.items, r.chosen.n, sizeof(struct chosen), lm_cmp_chosen);
    bound_lines(&r);
    lm_for_each_cu(&r, 2);
    lm->funcs = r.funcs.items;
    lm->n_funcs = r.funcs.n;
    r.funcs.items = NULL;
    if (r.oom || build_points(&r, lm) != 0) {
        snprintf(err, errlen, "memprof: out of memory");
        goto done;
    }
    /* a function without lines gets no table; a name whose functions all
     * lack them (a glob: all it matched) is an error */
    for (size_t k = 0; k < r.n_pats; k++) {
        int with_lines = 0;
        const char *first = NULL;
        const size_t *fp = r.func_pattern.items;
        for (size_t f = 0; f < lm->n_funcs; f++) {
            if (fp[f] != k)
                continue;
            if (!first)
                first = lm->funcs[f].name;
            if (lm->funcs[f].file && lm->funcs[f].last_line > 0)
                with_lines = 1;
        }
        if (first && !with_lines) {
            snprintf(err, errlen,
                     "memprof: function '%s' in %s has no line information: rebuild it with -g to "
                     "profile it line by line",
                     first, path);
            rc = 2;
            goto done;
        }
    }
    lm->map.funcs = lm->funcs;
    lm->map.n_funcs = lm->n_funcs;
    lm->map.points = lm->points;
    lm->map.n_points = lm->n_points;
    lm->map.anchors = lm->anchors;
    lm->map.n_anchors = lm->n_anchors;
    rc = 0;
done:
    free(r.funcs.items);
    free_resolver(&r);
    if (dwfl)
        dwfl_end(dwfl);
    if (rc != 0) {
        mp_linemode_free(lm);
        return rc;
    }
    *out = lm;
    return 0;
}

const struct mp_lm_map *mp_linemode_map(const struct mp_linemode *lm)
{
    return &lm->map;
}
