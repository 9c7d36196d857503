/* memprof: pairing the source files of two reports (memprof diff), so that
 * two checkouts or build directories compare line by line.
 *
 * Each path is first rewritten as the user asked, like patch: --strip N
 * takes off the smallest prefix holding N slashes (both reports), then the
 * first --map OLD=NEW whose OLD is a leading part of the path (whole
 * components) replaces it with NEW (the old report's paths).  Files whose
 * rewritten paths are equal pair up.  The rest pair by the longest trailing
 * part of their paths they share, in whole components (a/app.c and
 * c/app.c share app.c; src/x/util.c prefers src/x/util.c to lib/util.c),
 * which is their path relative to the common source root when the trees
 * are alike, and still finds a file that moved; a pair is made only when it
 * is the only best one for both files, so two candidates as good as each
 * other stay unpaired (--map decides then). */
#include "diff_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* patch -pN: the path after its first n slashes (the last component if it
 * has fewer). */
static const char *strip_path(const char *path, int n)
{
    const char *p = path;
    for (int i = 0; i < n; i++) {
        const char *slash = strchr(p, '/');
        if (!slash) {
            const char *base = strrchr(path, '/');
            return base ? base + 1 : path;
        }
        p = slash + 1;
    }
    return p;
}

/* The first map whose OLD prefix (whole components) starts path: NEW + rest
 * in buf; else path. */
static const char *map_path(const char *path, const struct mp_diff_paths *paths, char *buf, size_t len)
{
    for (size_t i = 0; i < paths->n_maps; i++) {
        const char *map = paths->maps[i], *eq = strchr(map, '=');
        if (!eq)
            continue;
        size_t n = (size_t)(eq - map);
        while (n > 1 && map[n - 1] == '/')
            n--; /* "a/" and "a" name the same directory */
        if (n == 0 || strncmp(path, map, n) != 0 || (path[n] && path[n] != '/' && map[n - 1] != '/'))
            continue;
        const char *rest = path + n, *to = eq + 1;
        size_t tn = strlen(to);
        while (tn > 1 && to[tn - 1] == '/')
            tn--;
        if (*rest == '/' && tn == 0)
            rest++; /* OLD= with an empty NEW: the path relative to OLD */
        snprintf(buf, len, "%.*s%s", (int)tn, to, rest);
        return buf;
    }
    return path;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* How many trailing path components a and b share. */
static int common_tail(const char *a, const char *b)
{
    size_t i = strlen(a), j = strlen(b);
    int n = 0;
    for (;;) {
        size_t ai = i, bj = j;
        while (ai > 0 && a[ai - 1] != '/')
            ai--;
        while (bj > 0 && b[bj - 1] != '/')
            bj--;
        if (i - ai != j - bj || i == ai || strncmp(a + ai, b + bj, i - ai) != 0)
            return n;
        n++;
        if (ai == 0 || bj == 0)
            return n;
        i = ai - 1;
        j = bj - 1;
    }
}

struct candidate {
    size_t o, n;
    int score;
};

static int cmp_candidates(const void *a, const void *b)
{
    const struct candidate *x = a, *y = b;
    if (x->score != y->score)
        return y->score - x->score;
    if (x->o != y->o)
        return x->o < y->o ? -1 : 1;
    return (x->n > y->n) - (x->n < y->n);
}

/* Is (o, n) the only best pair left for o and for n at this score? */
static int unambiguous(const struct candidate *c, size_t k, size_t count, const uint8_t *old_used,
                       const uint8_t *new_used)
{
    for (size_t j = 0; j < count && c[j].score >= c[k].score; j++) {
        if (j == k || c[j].score != c[k].score)
            continue;
        if ((c[j].o == c[k].o && !new_used[c[j].n]) || (c[j].n == c[k].n && !old_used[c[j].o]))
            return 0;
    }
    return 1;
}

int mp_diff_pair_files(struct mp_diff_files *f, const struct mp_diff_paths *paths)
{
    size_t no = f->n_old, nn = f->n_new;
    char buf[4096];
    /* rewritten paths */
    for (size_t i = 0; i < no; i++) {
        const char *p = map_path(strip_path(f->old_files[i].path, paths->strip), paths, buf, sizeof buf);
        if (!(f->old_files[i].rewritten = mp_strtab_intern(f->strings, p)))
            return -1;
    }
    for (size_t j = 0; j < nn; j++)
        if (!(f->new_files[j].rewritten = mp_strtab_intern(f->strings, strip_path(f->new_files[j].path, paths->strip))))
            return -1;
    uint8_t *old_used = calloc(no ? no : 1, 1), *new_used = calloc(nn ? nn : 1, 1);
    if (!old_used || !new_used) {
        free(old_used);
        free(new_used);
        return -1;
    }
    /* equal rewritten paths (interned: equal pointers) */
    for (size_t i = 0; i < no; i++)
        for (size_t j = 0; j < nn && !old_used[i]; j++)
            if (!new_used[j] && f->old_files[i].rewritten == f->new_files[j].rewritten) {
                f->old_files[i].key = f->new_files[j].key = f->new_files[j].rewritten;
                old_used[i] = new_used[j] = 1;
            }
    /* the longest shared tail, when it is the only best one */
    size_t count = 0, cap = 0;
    struct candidate *c = NULL;
    int failed = 0;
    for (size_t i = 0; i < no && !failed; i++) {
        if (old_used[i])
            continue;
        for (size_t j = 0; j < nn; j++) {
            if (new_used[j] || strcmp(base_name(f->old_files[i].rewritten), base_name(f->new_files[j].rewritten)))
                continue;
            if (count == cap) {
                cap = cap ? 2 * cap : 16;
                struct candidate *g = realloc(c, cap * sizeof *g);
                if (!g) {
                    failed = 1;
                    break;
                }
                c = g;
            }
            c[count++] = (struct candidate){ i, j, common_tail(f->old_files[i].rewritten, f->new_files[j].rewritten) };
        }
    }
    if (!failed) {
        if (count)
            qsort(c, count, sizeof *c, cmp_candidates);
        for (size_t k = 0; k < count; k++) {
            if (old_used[c[k].o] || new_used[c[k].n] || !unambiguous(c, k, count, old_used, new_used))
                continue;
            f->old_files[c[k].o].key = f->new_files[c[k].n].key = f->new_files[c[k].n].rewritten;
            old_used[c[k].o] = new_used[c[k].n] = 1;
        }
        /* the rest keep their own (rewritten) path: unpaired */
        for (size_t i = 0; i < no; i++)
            if (!old_used[i])
                f->old_files[i].key = f->old_files[i].rewritten;
        for (size_t j = 0; j < nn; j++)
            if (!new_used[j])
                f->new_files[j].key = f->new_files[j].rewritten;
    }
    free(c);
    free(old_used);
    free(new_used);
    return failed ? -1 : 0;
}
