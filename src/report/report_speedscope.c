/* memprof: speedscope's file format (--format=speedscope;
 * https://www.speedscope.app/file-format-schema.json), one "sampled"
 * profile per weight: bytes allocated (shown first), allocation calls,
 * bytes at the heap peak, bytes leaked, temporary allocations.  A sample is
 * a distinct stack (outermost frame first, cut at main like the flame
 * graph), its weight what the stack allocated (held, leaked, ...); the
 * weights of a profile add up to the JSON summary's figure (endValue).
 * Frames are shared by the profiles: "function (file:line)" (--frames) with
 * the file and line as speedscope's own fields. */
#include "memprof/report.h"
#include "format.h"
#include "report_stacks.h"
#include "svg.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#ifndef MEMPROF_VERSION
#define MEMPROF_VERSION "dev"
#endif

struct frames {
    struct mp_strtab names;
    struct mp_hashidx index;
    const char **name;
    uint32_t *line;       /* a line record shown with the name */
    uint32_t n, cap;
};

struct frame_key {
    const struct frames *f;
    const char *name;
};

static int same_frame(const void *ctx, uint32_t id)
{
    const struct frame_key *k = ctx;
    return k->f->name[id] == k->name;
}

/* The frame index of a label (interned in f), created when new; -1 on ENOMEM. */
static int64_t frame_index(struct frames *f, const char *label, uint32_t line)
{
    struct frame_key k = { f, mp_strtab_intern(&f->names, label) };
    if (!k.name)
        return -1;
    uint64_t h = mp_hash_u64((uint64_t)(uintptr_t)k.name);
    uint32_t id = mp_hashidx_find(&f->index, h, same_frame, &k);
    if (id != UINT32_MAX)
        return id;
    if (f->n == f->cap) {
        uint32_t cap = f->cap ? f->cap * 2 : 256;
        const char **a = realloc(f->name, cap * sizeof *a);
        if (a)
            f->name = a;
        uint32_t *b = a ? realloc(f->line, cap * sizeof *b) : NULL;
        if (!b)
            return -1;
        f->line = b;
        f->cap = cap;
    }
    id = f->n++;
    f->name[id] = k.name;
    f->line[id] = line;
    return mp_hashidx_insert(&f->index, h, id) == 0 ? (int64_t)id : -1;
}

/* Per tree node: its frame index. */
static int index_tree(struct frames *f, const struct mp_tree *t, int64_t *idx)
{
    for (uint32_t i = 1; i < t->n; i++)
        if ((idx[i] = frame_index(f, t->nodes[i].label, t->nodes[i].line)) < 0)
            return -1;
    return 0;
}

/* The samples and weights of one tree: every node that stacks end at, in
 * depth-first order (children sorted by name). */
static int write_profile(FILE *out, const struct mp_tree *t, const int64_t *idx, enum mp_weight w)
{
    uint32_t *todo = malloc((t->n ? t->n : 1) * sizeof *todo);
    uint32_t *path = malloc((t->max_depth + 1) * sizeof *path);
    if (!todo || !path) {
        free(todo);
        free(path);
        return -1;
    }
    fprintf(out, "{\"type\": \"sampled\", \"name\": \"%s\", \"unit\": \"%s\", \"startValue\": 0, \"endValue\": %" PRIu64
                 ",\n     \"samples\": [",
            mp_weight_title(w), mp_weight_is_bytes(w) ? "bytes" : "none", t->nodes[0].value);
    /* pass 0 writes the samples, pass 1 the weights, in the same order */
    for (int pass = 0; pass < 2; pass++) {
        size_t n = 0, written = 0;
        todo[n++] = 0;
        while (n) {
            uint32_t id = todo[--n];
            const struct mp_tree_node *node = &t->nodes[id];
            if (id && node->self) {
                fputs(written++ ? (written % 8 == 1 ? ",\n      " : ", ") : "", out);
                if (pass == 0) {
                    uint32_t d = 0;
                    for (uint32_t up = id; up; up = t->nodes[up].parent)
                        path[d++] = up;
                    fputc('[', out);
                    for (uint32_t k = d; k-- > 0;)
                        fprintf(out, "%" PRId64 "%s", idx[path[k]], k ? ", " : "");
                    fputc(']', out);
                } else {
                    fprintf(out, "%" PRIu64, node->self);
                }
            }
            size_t first = n;
            for (uint32_t c = node->first_child; c != UINT32_MAX; c = t->nodes[c].next_sibling)
                todo[n++] = c;
            for (size_t a = first, b = n; a + 1 < b; a++, b--) {
                uint32_t tmp = todo[a];
                todo[a] = todo[b - 1];
                todo[b - 1] = tmp;
            }
        }
        fprintf(out, pass == 0 ? "],\n     \"weights\": [" : "]}");
    }
    free(todo);
    free(path);
    return 0;
}

int mp_write_speedscope(FILE *out, const struct mp_profile *p, const struct mp_report_run *run,
                        const struct mp_report_options *opt)
{
    struct mp_tree trees[MP_WEIGHT_COUNT];
    int64_t *idx[MP_WEIGHT_COUNT] = { 0 };
    struct frames f;
    int rc = -1, built = 0;
    memset(&f, 0, sizeof f);
    mp_strtab_init(&f.names);
    mp_hashidx_init(&f.index);
    for (; built < MP_WEIGHT_COUNT; built++) {
        struct mp_tree *t = &trees[built];
        if (mp_tree_build(t, p, (enum mp_weight)built, 1, opt) != 0 || mp_tree_sort(t, 0) != 0 ||
            !(idx[built] = malloc(t->n * sizeof *idx[built])) || index_tree(&f, t, idx[built]) != 0) {
            built++;
            goto out;
        }
    }
    char cmd[512];
    mp_run_command(cmd, sizeof cmd, run);
    fprintf(out, "{\"$schema\": \"https://www.speedscope.app/file-format-schema.json\",\n \"exporter\": \"memprof "
                 "%s\",\n \"name\": ", MEMPROF_VERSION);
    mp_json_string(out, cmd);
    fprintf(out, ",\n \"activeProfileIndex\": 0,\n \"shared\": {\"frames\": [");
    for (uint32_t i = 0; i < f.n; i++) {
        const struct mp_line_stats *l = mp_profile_line(p, f.line[i]);
        fprintf(out, "%s{\"name\": ", i ? (i % 2 ? ", " : ",\n   ") : "\n   ");
        mp_json_string(out, f.name[i]);
        if (l->file) {
            fprintf(out, ", \"file\": ");
            mp_json_string(out, mp_display_path(l->file, opt->cwd));
            fprintf(out, ", \"line\": %d", l->line);
        }
        fputc('}', out);
    }
    fprintf(out, "]},\n \"profiles\": [");
    rc = 0;
    for (int w = 0; w < MP_WEIGHT_COUNT && rc == 0; w++) {
        fprintf(out, "%s\n    ", w ? "," : "");
        rc = write_profile(out, &trees[w], idx[w], (enum mp_weight)w);
    }
    fprintf(out, "\n ]}\n");
out:
    for (int w = 0; w < built; w++) {
        mp_tree_free(&trees[w]);
        free(idx[w]);
    }
    free(f.name);
    free(f.line);
    mp_strtab_free(&f.names);
    mp_hashidx_free(&f.index);
    fflush(out);
    return rc || ferror(out) ? -1 : 0;
}
