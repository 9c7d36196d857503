/* memprof: reading a saved report as a process tree (json_load.h): a
 * schema-1 report is a tree of one; a schema-2 report has one schema-1
 * object per program image in "processes", each loaded by the same code as
 * a report of its own (json_load.c), with its place in the tree checked
 * here: "id" is its position (from 1), "parent" and "exec_of" name earlier
 * images, "ended" agrees with "exit", pids and times are null only in a
 * --stable report.  The tree's own fields are checked for shape; what the
 * writers derive (totals, the images that stood out) is derived again. */
#define _GNU_SOURCE
#include "json_load.h"
#include "json_load_internal.h"
#include "symbols/sources.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tree_owned {
    struct jl_owned *procs;       /* one per image */
    size_t n;
    char **warnings;              /* the tree's, strdup'd */
    size_t n_warnings;
};

static void free_tree_owned(struct tree_owned *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++)
        jl_clear_owned(&o->procs[i]);
    free(o->procs);
    for (size_t i = 0; i < o->n_warnings; i++)
        free(o->warnings[i]);
    free(o->warnings);
    free(o);
}

void mp_loaded_process_tree_free(struct mp_loaded_process_tree *t)
{
    if (!t)
        return;
    for (size_t i = 0; t->profiles && i < t->tree.n; i++)
        mp_profile_free(t->profiles[i]);
    free(t->profiles);
    free(t->runs);
    free((void *)t->tree.procs);
    mp_sources_free(t->sources);
    free_tree_owned(t->owned);
    memset(t, 0, sizeof *t);
}

static int alloc_images(struct loader *L, struct mp_loaded_process_tree *out, struct tree_owned *own, size_t n)
{
    out->profiles = calloc(n, sizeof *out->profiles);
    out->runs = calloc(n, sizeof *out->runs);
    struct mp_process_image *procs = calloc(n, sizeof *procs);
    own->procs = calloc(n, sizeof *own->procs);
    out->tree.procs = procs;
    if (!out->profiles || !out->runs || !procs || !own->procs)
        return jl_oom(L);
    return 0;
}

/* An id of an earlier image, or null: 0 then. */
static int get_link(struct loader *L, json_t *obj, const char *key, int id, int *out)
{
    json_t *v = jl_member(L, obj, key);
    if (!v)
        return -1;
    *out = 0;
    if (json_is_null(v))
        return 0;
    long long x;
    jl_enter_key(L, key);
    if (id == 1)
        return jl_fail(L, "the first image has none: expected null, found %s", jl_type_name(v));
    if (jl_check_int(L, v, 1, id - 1, &x))
        return -1;
    jl_leave(L);
    *out = (int)x;
    return 0;
}

/* The fields of an image's place in the tree (and how it ended). */
static int load_place(struct loader *L, json_t *obj, int id, int stable, struct mp_report_run *run)
{
    long long v;
    if (jl_get_int(L, obj, "id", id, id, &v))
        return -1;
    run->tree_id = id;
    json_t *pid = jl_member(L, obj, "pid");
    if (!pid)
        return -1;
    if (!(stable && json_is_null(pid))) {
        jl_enter_key(L, "pid");
        if (jl_check_int(L, pid, 0, INT_MAX, &v))
            return -1;
        jl_leave(L);
        run->pid = (int)v;
    }
    if (get_link(L, obj, "parent", id, &run->tree_parent) || get_link(L, obj, "exec_of", id, &run->tree_exec_of))
        return -1;
    json_t *forked = jl_member(L, obj, "forked");
    if (!forked)
        return -1;
    if (!json_is_boolean(forked)) {
        jl_enter_key(L, "forked");
        return jl_fail(L, "expected a boolean, found %s", jl_type_name(forked));
    }
    run->forked = json_is_true(forked);
    const char *ended;
    if (jl_get_str(L, obj, "ended", 0, &ended))
        return -1;
    jl_enter_key(L, "ended");
    if (strcmp(ended, "exit") == 0 || strcmp(ended, "signal") == 0) {
        if ((strcmp(ended, "signal") == 0) != (run->signal != 0))
            return jl_fail(L, "\"%s\" does not agree with \"exit\"", ended);
    } else if (strcmp(ended, "exec") == 0) {
        run->execed = 1;
    } else if (strcmp(ended, "let go") == 0) {
        run->let_go = run->detached = 1;
    } else if (strcmp(ended, "not followed") == 0) {
        run->unfollowed = 1;
    } else {
        return jl_fail(L, "\"%s\" is not one of \"exit\", \"signal\", \"exec\", \"let go\", \"not followed\"", ended);
    }
    if ((run->execed || run->let_go || run->unfollowed) && run->signal)
        return jl_fail(L, "\"%s\" with a signal in \"exit\"", ended);
    jl_leave(L);
    json_t *start = jl_member(L, obj, "start_seconds");
    if (!start)
        return -1;
    if (!(stable && json_is_null(start))) {
        jl_enter_key(L, "start_seconds");
        if (jl_check_seconds(L, start, &run->start_seconds))
            return -1;
        jl_leave(L);
    }
    return 0;
}

/* "tree": the totals the writers derive again, the sampled total RSS they
 * cannot; events lost that no image owns. */
static int load_tree_fields(struct loader *L, json_t *root, struct mp_loaded_process_tree *out)
{
    json_t *t;
    if (jl_get_typed(L, root, "tree", 0, 0, &t))
        return -1;
    jl_enter_key(L, "tree");
    long long images;
    uint64_t u, lost;
    if (jl_get_int(L, t, "images", (long long)out->tree.n, (long long)out->tree.n, &images))
        return -1;
    static const char *const derived[] = { "heap_profiled_images", "alloc_calls", "allocated_bytes", "free_calls",
                                           "freed_bytes", "leaked_bytes", "leaked_blocks", "peak_heap_bytes" };
    for (size_t i = 0; i < sizeof derived / sizeof *derived; i++)
        if (jl_get_u64(L, t, derived[i], &u, NULL))
            return -1;
    int null_ok = 1;
    if (jl_get_u64(L, t, "peak_rss_bytes", &u, &null_ok) || jl_get_u64(L, t, "peak_heap_image", &u, &null_ok) ||
        jl_get_u64(L, t, "peak_rss_image", &u, &null_ok))
        return -1;
    if (jl_get_u64(L, t, "events_lost", &lost, NULL))
        return -1;
    uint64_t own = 0;
    for (size_t i = 0; i < out->tree.n; i++)
        own += out->runs[i].events_lost;
    if (lost < own) {
        jl_enter_key(L, "events_lost");
        return jl_fail(L, "%llu is less than the images' own %llu", (unsigned long long)lost,
                       (unsigned long long)own);
    }
    out->tree.events_lost = lost - own;
    json_t *total = jl_member(L, t, "total_rss_bytes");
    if (!total)
        return -1;
    int is_null = 0;
    if (jl_get_u64(L, t, "total_rss_bytes", &out->tree.total_rss_bytes, &is_null))
        return -1;
    if (!is_null) {
        json_t *secs = jl_member(L, t, "total_rss_seconds");
        if (!secs)
            return -1;
        jl_enter_key(L, "total_rss_seconds");
        if (jl_check_seconds(L, secs, &out->tree.total_rss_seconds))
            return -1;
        jl_leave(L);
        if (jl_get_u64(L, t, "total_rss_processes", &u, NULL))
            return -1;
        out->tree.total_rss_processes = (size_t)u;
        out->tree.total_rss_known = 1;
    }
    jl_leave(L);
    return 0;
}

static int load_tree_warnings(struct loader *L, json_t *root, struct tree_owned *own, struct mp_process_tree *tree)
{
    json_t *w;
    if (jl_get_typed(L, root, "warnings", 1, 0, &w))
        return -1;
    size_t n = json_array_size(w);
    own->warnings = calloc(n + 1, sizeof *own->warnings);
    if (!own->warnings)
        return jl_oom(L);
    jl_enter_key(L, "warnings");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(w, i);
        jl_enter_index(L, i);
        if (!json_is_string(s))
            return jl_fail(L, "expected a string, found %s", jl_type_name(s));
        if (!(own->warnings[i] = strdup(json_string_value(s))))
            return jl_oom(L);
        own->n_warnings++;
        jl_leave(L);
    }
    jl_leave(L);
    tree->warnings = (const char *const *)own->warnings;
    tree->n_warnings = n;
    return 0;
}

/* Depths and the target's last image, from the links. */
static void derive(struct mp_loaded_process_tree *out)
{
    struct mp_report_run *runs = out->runs;
    size_t n = out->tree.n, last = 0;
    for (size_t i = 0; i < n; i++) {
        int up = runs[i].tree_exec_of ? runs[i].tree_exec_of : runs[i].tree_parent;
        runs[i].tree_depth = up ? runs[up - 1].tree_depth + 1 : 0;
    }
    for (int found = 1; found;) { /* follow the first image's execs */
        found = 0;
        for (size_t i = last + 1; i < n; i++)
            if (runs[i].tree_exec_of == (int)last + 1) {
                last = i;
                found = 1;
                break;
            }
    }
    out->tree.top_last = last;
}

static int load_tree_root(struct loader *L, json_t *root, struct mp_loaded_process_tree *out, struct tree_owned *own)
{
    long long schema;
    if (jl_check_root(L, root, &schema))
        return -1;
    out->schema = (int)schema;
    if (!(L->src = out->sources = mp_sources_new()))
        return jl_oom(L);
    if (schema == 1) {
        if (alloc_images(L, out, own, 1))
            return -1;
        own->n = 1;
        out->tree.n = 1;
        return jl_load_process(L, root, &out->profiles[0], &out->runs[0], &own->procs[0], &out->stable);
    }
    if (jl_load_stable(L, root, &out->stable))
        return -1;
    json_t *procs, *command, *exit;
    if (jl_get_typed(L, root, "command", 1, 0, &command) || jl_get_typed(L, root, "exit", 0, 1, &exit) ||
        jl_get_typed(L, root, "processes", 1, 0, &procs))
        return -1;
    size_t n = json_array_size(procs);
    if (n == 0) {
        jl_enter_key(L, "processes");
        return jl_fail(L, "a tree report has at least one process");
    }
    if (alloc_images(L, out, own, n))
        return -1;
    jl_enter_key(L, "processes");
    for (size_t i = 0; i < n; i++) {
        json_t *obj = json_array_get(procs, i);
        jl_enter_index(L, i);
        if (!json_is_object(obj))
            return jl_fail(L, "expected an object, found %s", jl_type_name(obj));
        int stable;
        own->n = i + 1;
        out->tree.n = i + 1; /* what mp_loaded_process_tree_free frees */
        if (jl_load_process(L, obj, &out->profiles[i], &out->runs[i], &own->procs[i], &stable))
            return -1;
        if (stable != out->stable) {
            jl_enter_key(L, "stable");
            return jl_fail(L, "%s in a tree whose \"stable\" is %s", stable ? "true" : "false",
                           out->stable ? "true" : "false");
        }
        if (load_place(L, obj, (int)i + 1, stable, &out->runs[i]))
            return -1;
        struct mp_process_image *tp = (struct mp_process_image *)&out->tree.procs[i];
        tp->profile = out->profiles[i];
        tp->run = &out->runs[i];
        jl_leave(L);
    }
    jl_leave(L);
    if (load_tree_fields(L, root, out) || load_tree_warnings(L, root, own, &out->tree))
        return -1;
    derive(out);
    return 0;
}

static int load_tree_root_ctx(struct loader *L, json_t *root, void *ctx)
{
    struct mp_loaded_process_tree *out = ctx;
    struct tree_owned *own = calloc(1, sizeof *own);
    out->owned = own;
    return own ? load_tree_root(L, root, out, own) : jl_oom(L);
}

static void undo_tree(void *ctx)
{
    mp_loaded_process_tree_free(ctx); /* leaves it zeroed */
}

int mp_load_process_tree_buffer(const char *data, size_t len, const char *name, struct mp_loaded_process_tree *out,
                                char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct loader L;
    jl_begin(&L, data, len, name, err, errlen);
    int rc = jl_parse_and_load(&L, load_tree_root_ctx, undo_tree, out);
    if (rc == 0 && out->schema == 1) { /* a tree of one: the single-process writers */
        struct mp_process_image *tp = (struct mp_process_image *)&out->tree.procs[0];
        tp->profile = out->profiles[0];
        tp->run = &out->runs[0];
    }
    if (rc != 0) {
        mp_loaded_process_tree_free(out);
        jl_end_failed(&L);
        return -1;
    }
    return 0;
}

static int load_tree_buffer(const char *data, size_t len, const char *name, void *out, char *err, size_t errlen)
{
    return mp_load_process_tree_buffer(data, len, name, out, err, errlen);
}

int mp_load_process_tree(const char *path, struct mp_loaded_process_tree *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    return jl_load_path(path, load_tree_buffer, out, err, errlen);
}
