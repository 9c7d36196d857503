/* memprof: line mode, the error for a --function pattern that matched no
 * function definition: defined in another file, without DWARF, in a shared
 * library, or unknown, with the closest defined names as suggestions (edit
 * distance over the DWARF definitions and the ELF function symbols). */
#define _GNU_SOURCE
#include "linemode_resolve_internal.h"
#include "symbols/sym_strings.h"

#include <fnmatch.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SUGGESTIONS 5

/* ---- how close a name is to what was typed ---- */

static size_t edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    size_t *row = malloc((m + 1) * sizeof *row);
    if (!row)
        return (size_t)-1;
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    size_t d = row[m];
    free(row);
    return d;
}

/* How far `name` is from what the user typed: the edit distance, or one
 * more than the distance to a prefix of `name` about as long as `typed`
 * ("tuch" is 1 from "touch" and 2 from "touch_all"). */
static size_t closeness(const char *typed, const char *name)
{
    size_t best = edit_distance(typed, name), n = strlen(typed), m = strlen(name);
    for (size_t k = n ? n - 1 : 0; k <= n + 1 && k < m; k++) {
        char prefix[256];
        snprintf(prefix, sizeof prefix, "%.*s", (int)k, name);
        size_t d = edit_distance(typed, prefix) + 1;
        if (d < best)
            best = d;
    }
    return best;
}

static size_t close_enough(const char *typed)
{
    size_t n = strlen(typed) / 3 + 1;
    return n < 2 ? 2 : n;
}

struct suggestion {
    const char *name;
    size_t distance;
};

static int cmp_suggestion(const void *a, const void *b)
{
    const struct suggestion *x = a, *y = b;
    if (x->distance != y->distance)
        return x->distance < y->distance ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* ---- the message ---- */

/* Defined function names: DWARF definitions and ELF function symbols. */
static void add_name(struct vec *names, struct sym_string_pool *pool, const char *name)
{
    if (!name || !*name)
        return;
    const char *pooled = sym_strings_intern(pool, name);
    const char **slot = pooled ? lm_vec_push(names) : NULL;
    if (slot)
        *slot = pooled;
}

static int symbol_kind(Dwfl_Module *mod, const char *name, struct sym_string_pool *pool, struct vec *defined)
{
    /* 1: a defined function symbol; 2: an undefined one (from a shared library) */
    int kind = 0;
    int n = mod ? dwfl_module_getsymtab(mod) : -1;
    for (int i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        GElf_Word shndx;
        const char *s = dwfl_module_getsym_info(mod, i, &sym, &addr, &shndx, NULL, NULL);
        if (!s || GELF_ST_TYPE(sym.st_info) != STT_FUNC)
            continue;
        char plain[512];
        snprintf(plain, sizeof plain, "%s", s);
        char *at = strchr(plain, '@');
        if (at)
            *at = '\0';
        int undefined = sym.st_shndx == SHN_UNDEF;
        if (!undefined && defined)
            add_name(defined, pool, plain);
        if (name && fnmatch(name, plain, 0) == 0)
            kind = undefined ? (kind ? kind : 2) : 1;
    }
    return kind;
}

static void append(char *err, size_t errlen, const char *fmt, const char *s)
{
    size_t used = strlen(err);
    if (used < errlen)
        snprintf(err + used, errlen - used, fmt, s);
}

void lm_explain_unmatched(struct resolver *r, Dwfl_Module *mod, const char *path, const struct pattern *p,
                          char *err, size_t errlen)
{
    int glob = strpbrk(p->name, "*?[") != NULL;
    /* defined in DWARF, but not in the file asked for */
    const struct cand *c = r->cands.items;
    int other_file = 0;
    for (size_t i = 0; i < r->cands.n; i++)
        other_file |= lm_name_matches(p, c[i].name, c[i].linkage);
    struct vec names = { .size = sizeof(const char *) };
    int sym = symbol_kind(mod, p->name, r->strings, &names);
    int declared = 0;
    const char *const *d = r->decls.items;
    for (size_t i = 0; i < r->decls.n; i++)
        declared |= fnmatch(p->name, d[i], 0) == 0;
    if (other_file) {
        snprintf(err, errlen, "memprof: no function '%s' defined in a file matching '%s' in %s; it is defined in:",
                 p->name, p->file, path);
        int shown = 0;
        for (size_t i = 0; i < r->cands.n && shown < MAX_SUGGESTIONS; i++)
            if (lm_name_matches(p, c[i].name, c[i].linkage) && c[i].file) {
                append(err, errlen, shown ? ", %s" : " %s", lm_basename_of(c[i].file));
                shown++;
            }
    } else if (sym == 1) {
        snprintf(err, errlen,
                 "memprof: function '%s' in %s has no line information (no DWARF for it): "
                 "rebuild it with -g to profile it line by line",
                 p->name, path);
    } else if (sym == 2 || declared) {
        snprintf(err, errlen,
                 "memprof: '%s' is not defined in %s but in a shared library: line mode profiles "
                 "functions of the main executable only",
                 p->name, path);
    } else {
        snprintf(err, errlen, glob ? "memprof: no function matches '%s' in %s" : "memprof: no function '%s' in %s",
                 p->text, path);
        for (size_t i = 0; i < r->cands.n; i++)
            add_name(&names, r->strings, c[i].name);
        const char **nm = names.items;
        struct suggestion *sug = calloc(names.n ? names.n : 1, sizeof *sug);
        size_t n_sug = 0;
        for (size_t i = 0; sug && i < names.n; i++) {
            int dup = 0;
            for (size_t j = 0; j < n_sug && !dup; j++)
                dup = sug[j].name == nm[i];
            if (dup)
                continue;
            if (nm[i][0] == '_' && p->name[0] != '_')
                continue; /* _start, __libc_csu_init, ...: not what anyone meant */
            size_t dist = closeness(p->name, nm[i]);
            if (dist <= close_enough(p->name))
                sug[n_sug++] = (struct suggestion){ nm[i], dist };
        }
        if (n_sug) {
            qsort(sug, n_sug, sizeof *sug, cmp_suggestion);
            for (size_t i = 0; i < n_sug && i < MAX_SUGGESTIONS; i++)
                append(err, errlen, i ? ", %s" : "; did you mean: %s", sug[i].name);
            append(err, errlen, "%s", "?");
        }
        free(sug);
    }
    free(names.items);
}
