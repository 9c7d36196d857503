/* memprof: reading a saved JSON report back (memprof report, memprof diff).
 *
 * The file is parsed with jansson, then every field is checked before it is
 * used: types, ranges, indices into "frames", duplicates.  Only then is the
 * profile rebuilt through the restore API, so a bad file never reaches the
 * writers.  Errors are one line: "NAME:LINE:COLUMN: PATH: problem", where
 * PATH names the field ("stacks[3].frames[2]") and LINE:COLUMN is where
 * that field's value starts in the file (jansson does not keep positions of
 * values, so json_load_locate() finds them again by scanning the text).
 *
 * What a report carries is what the writers need: self counters ("lines"),
 * inclusive counters and function ranges (the "tables" rows), every line
 * record ("frames", in profile order) and every stack ("stacks"), the
 * summary, the timeline and the run's outcome.  Derived sections ("leaks",
 * "peak.reached_at", "user_frame") are checked for shape and recomputed.
 *
 * This file owns the entry points, the top level and the run (command,
 * exit, warnings, summary, timeline); json_load_fields.c checks fields and
 * words the errors, json_load_profile.c rebuilds the line records and
 * stacks, json_load_tables.c the tables and their source text. */
#define _GNU_SOURCE
#include "json_load.h"
#include "json_load_internal.h"
#include "json_bytes.h"
#include "profile/line_profile.h"
#include "symbols/sources.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_REPORT_BYTES ((size_t)1 << 30) /* 1 GiB */
#define SCHEMA 2         /* the newest this memprof reads: a process tree */
#define SCHEMA_PROCESS 1 /* one process: a report of its own, and each entry of a tree */
/* The longest timeline a profile keeps before merging neighbours. */
#define MAX_SAMPLES (2 * MP_TIMELINE_MAX)


/* ---- the run ---- */

static int load_summary(struct loader *L, json_t *root, struct mp_totals *t, struct mp_report_run *run)
{
    json_t *s, *profiled;
    const char *note, *engine;
    uint64_t peak_rss;
    int *stable_null = L->stable ? &(int){ 0 } : NULL;
    if (jl_get_typed(L, root, "summary", 0, 0, &s))
        return -1;
    jl_enter_key(L, "summary");
    if (jl_get_u64(L, s, "peak_rss_bytes", &peak_rss, stable_null))
        return -1;
    run->peak_rss_bytes = peak_rss;
    json_t *wall = jl_member(L, s, "wall_seconds");
    if (!wall)
        return -1;
    if (!(L->stable && json_is_null(wall))) {
        jl_enter_key(L, "wall_seconds");
        if (jl_check_seconds(L, wall, &run->wall_seconds))
            return -1;
        jl_leave(L);
    }
    if (!(profiled = jl_member(L, s, "heap_profiled")) || jl_get_str(L, s, "heap_note", 1, &note) ||
        jl_get_str(L, s, "engine", 1, &engine))
        return -1;
    if (!json_is_boolean(profiled) || json_is_true(profiled) != (note == NULL)) {
        jl_enter_key(L, "heap_profiled");
        return json_is_boolean(profiled) ? jl_fail(L, "must be %s when heap_note is %s", note ? "false" : "true",
                                                   note ? "a string" : "null")
                                         : jl_fail(L, "expected a boolean, found %s", jl_type_name(profiled));
    }
    run->engine_note = mp_profile_intern(L->p, note);
    run->engine = mp_profile_intern(L->p, engine);
    if ((note && !run->engine_note) || (engine && !run->engine))
        return jl_oom(L);
    if (jl_get_u64(L, s, "alloc_calls", &t->alloc_calls, NULL) ||
        jl_get_u64(L, s, "allocated_bytes", &t->allocated_bytes, NULL) ||
        jl_get_u64(L, s, "free_calls", &t->free_calls, NULL) ||
        jl_get_u64(L, s, "freed_bytes", &t->freed_bytes, NULL) ||
        jl_get_u64(L, s, "peak_heap_bytes", &t->peak_heap_bytes, NULL) ||
        jl_get_u64(L, s, "leaked_bytes", &t->live_bytes, NULL) ||
        jl_get_u64(L, s, "leaked_blocks", &t->live_blocks, NULL) ||
        jl_get_u64(L, s, "temporary_calls", &t->temporary_calls, NULL) ||
        jl_get_u64(L, s, "events_lost", &run->events_lost, NULL) ||
        jl_get_u64(L, s, "unknown_frees", &t->unknown_frees, NULL) ||
        jl_get_u64(L, s, "reused_live_blocks", &t->reused_live_blocks, NULL) ||
        jl_get_u64(L, s, "truncated_stacks", &t->truncated_stacks, NULL) ||
        jl_get_u64(L, s, "agent_bytes", &run->agent_bytes, stable_null) ||
        jl_get_u64_opt(L, s, "unsited_free_calls", &t->unsited_free_calls) ||
        jl_get_u64_opt(L, s, "unsited_freed_bytes", &t->unsited_freed_bytes) ||
        jl_get_leak_kinds(L, s, t->leak_bytes, t->leak_blocks, 1, &t->leaks_classified) ||
        jl_load_mapped_summary(L, s, t, run))
        return -1;
    /* the breakpoint engine's reports since its fast entries (not with --stable) */
    if (json_object_get(s, "engine_stops")) {
        if (jl_get_u64(L, s, "engine_stops", &run->engine_stops, NULL))
            return -1;
        run->has_engine_stops = 1;
    }
    jl_leave(L);
    return 0;
}

/* "timeline_allocations" (reports since the rate view): [calls, bytes] at
 * each sample of the timeline; NULL when absent. */
static int load_timeline_allocations(struct loader *L, json_t *root, size_t n_samples, json_t **out)
{
    *out = json_object_get(root, "timeline_allocations");
    if (!*out)
        return 0;
    jl_enter_key(L, "timeline_allocations");
    if (!json_is_array(*out))
        return jl_fail(L, "expected an array, found %s", jl_type_name(*out));
    if (json_array_size(*out) != n_samples)
        return jl_fail(L, "%zu entries for %zu timeline samples", json_array_size(*out), n_samples);
    for (size_t i = 0; i < n_samples; i++) {
        json_t *v = json_array_get(*out, i);
        uint64_t x;
        jl_enter_index(L, i);
        if (!json_is_array(v) || json_array_size(v) != 2)
            return jl_fail(L, "expected [alloc_calls, allocated_bytes], found %s", jl_type_name(v));
        for (size_t k = 0; k < 2; k++) {
            jl_enter_index(L, k);
            if (jl_check_u64(L, json_array_get(v, k), &x))
                return -1;
            jl_leave(L);
        }
        jl_leave(L);
    }
    jl_leave(L);
    return 0;
}

static int load_timeline(struct loader *L, json_t *root, struct mp_report_run *run)
{
    json_t *tl, *rss, *allocs = NULL, *heap_max = NULL;
    if (jl_get_typed(L, root, "timeline", 1, 0, &tl))
        return -1;
    if (json_array_size(tl) <= MAX_SAMPLES && load_timeline_allocations(L, root, json_array_size(tl), &allocs))
        return -1;
    /* The most the heap held in each interval: reports before it lack it. */
    if (json_object_get(root, "timeline_heap_max") && jl_get_typed(L, root, "timeline_heap_max", 1, 0, &heap_max))
        return -1;
    if (heap_max && json_array_size(heap_max) != json_array_size(tl)) {
        jl_enter_key(L, "timeline_heap_max");
        return jl_fail(L, "%zu values for the %zu samples of \"timeline\"", json_array_size(heap_max),
                       json_array_size(tl));
    }
    jl_enter_key(L, "timeline");
    if (json_array_size(tl) > MAX_SAMPLES)
        return jl_fail(L, "%zu samples: memprof keeps at most %d", json_array_size(tl), MAX_SAMPLES);
    for (size_t i = 0; i < json_array_size(tl); i++) {
        json_t *v = json_array_get(tl, i);
        struct mp_sample s = { 0 };
        if (allocs) {
            s.alloc_calls = (uint64_t)json_integer_value(json_array_get(json_array_get(allocs, i), 0));
            s.allocated_bytes = (uint64_t)json_integer_value(json_array_get(json_array_get(allocs, i), 1));
        }
        double t;
        jl_enter_index(L, i);
        if (!json_is_array(v) || json_array_size(v) != 3)
            return jl_fail(L, "expected [seconds, rss_bytes, heap_bytes], found %s", jl_type_name(v));
        jl_enter_index(L, 0);
        if (jl_check_seconds(L, json_array_get(v, 0), &t))
            return -1;
        jl_leave(L);
        jl_enter_index(L, 1);
        if (jl_check_u64(L, json_array_get(v, 1), &s.rss_bytes))
            return -1;
        jl_leave(L);
        jl_enter_index(L, 2);
        if (jl_check_u64(L, json_array_get(v, 2), &s.heap_bytes))
            return -1;
        jl_leave(L);
        s.time_ns = (uint64_t)(t * 1e9 + 0.5);
        s.heap_max_bytes = s.heap_bytes;
        jl_leave(L);
        if (heap_max) {
            jl_leave(L);
            jl_enter_key(L, "timeline_heap_max");
            jl_enter_index(L, i);
            if (jl_check_u64(L, json_array_get(heap_max, i), &s.heap_max_bytes))
                return -1;
            if (s.heap_max_bytes < s.heap_bytes)
                return jl_fail(L, "is less than the heap level timeline[%zu][2]", i);
            jl_leave(L);
            jl_leave(L);
            jl_enter_key(L, "timeline");
        }
        if (mp_profile_restore_sample(L->p, &s) != 0)
            return jl_oom(L);
    }
    jl_leave(L);
    if (jl_get_typed(L, root, "rss_at_exit", 0, 1, &rss))
        return -1;
    if (rss) {
        struct mp_rss_breakdown *b = &run->rss_at_exit;
        jl_enter_key(L, "rss_at_exit");
        if (jl_get_u64(L, rss, "total_bytes", &b->total, NULL) || jl_get_u64(L, rss, "heap_bytes", &b->heap, NULL) ||
            jl_get_u64(L, rss, "stack_bytes", &b->stacks, NULL) || jl_get_u64(L, rss, "code_bytes", &b->code, NULL) ||
            jl_get_u64(L, rss, "file_data_bytes", &b->file_data, NULL) ||
            jl_get_u64(L, rss, "shared_bytes", &b->shared, NULL))
            return -1;
        b->valid = 1;
        jl_leave(L);
    }
    return 0;
}

/* An array of strings, interned; *out has n entries and a NULL after them. */
static int load_strings(struct loader *L, json_t *root, const char *key, char ***out, size_t *n_out)
{
    json_t *a;
    if (jl_get_typed(L, root, key, 1, 0, &a))
        return -1;
    size_t n = json_array_size(a);
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        return jl_oom(L);
    *out = v;
    *n_out = n;
    jl_enter_key(L, key);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(a, i);
        jl_enter_index(L, i);
        if (!json_is_string(s))
            return jl_fail(L, "expected a string, found %s", jl_type_name(s));
        if (!(v[i] = (char *)mp_profile_intern(L->p, json_string_value(s))))
            return jl_oom(L);
        jl_leave(L);
    }
    jl_leave(L);
    return 0;
}

static int load_run(struct loader *L, json_t *root, struct mp_report_run *run, struct jl_owned *own)
{
    json_t *exit;
    size_t n;
    if (load_strings(L, root, "command", &own->command, &n) ||
        load_strings(L, root, "warnings", &own->warnings, &run->n_warnings))
        return -1;
    run->command = own->command;
    run->warnings = (const char *const *)own->warnings;
    if (jl_load_function_spans(L, root, &own->function_spans, &run->n_function_spans, &own->spans))
        return -1;
    run->function_spans = own->function_spans;
    if (jl_load_line_tables(L, root, own, &run->line_profile))
        return -1;
    json_t *attach = json_object_get(root, "attach"); /* memprof -p only */
    if (attach) {
        long long pid;
        jl_enter_key(L, "attach");
        json_t *detached = jl_member(L, attach, "detached");
        if (!detached)
            return -1;
        json_t *pidv = jl_member(L, attach, "pid");
        if (!pidv)
            return -1;
        if (json_is_null(pidv)) {
            pid = -1; /* --stable: an attached run all the same */
        } else {
            jl_enter_key(L, "pid");
            if (jl_check_int(L, pidv, 1, INT_MAX, &pid))
                return -1;
            jl_leave(L);
        }
        if (!json_is_boolean(detached)) {
            jl_enter_key(L, "detached");
            return jl_fail(L, "expected a boolean, found %s", jl_type_name(detached));
        }
        run->attached_pid = (int)pid;
        run->detached = json_is_true(detached);
        jl_leave(L);
    }
    if (jl_get_typed(L, root, "exit", 0, 0, &exit))
        return -1;
    jl_enter_key(L, "exit");
    long long v;
    if (json_object_get(exit, "signal")) {
        if (json_object_get(exit, "code"))
            return jl_fail(L, "has both \"code\" and \"signal\"");
        if (jl_get_int(L, exit, "signal", 1, INT_MAX, &v))
            return -1;
        run->signal = (int)v;
    } else {
        if (jl_get_int(L, exit, "code", INT_MIN, INT_MAX, &v))
            return -1;
        run->exited = 1;
        run->exit_code = (int)v;
    }
    jl_leave(L);
    return 0;
}

/* ---- the top level ---- */

json_t *jl_parse(struct loader *L)
{
    const char *name = L->name, *data = L->data;
    size_t len = L->len;
    if (len > MAX_REPORT_BYTES) {
        snprintf(L->err, L->errlen, "%s: larger than 1 GiB (%zu bytes): too big for a memprof report", name, len);
        return NULL;
    }
    const char *nul = len ? memchr(data, '\0', len) : NULL;
    if (nul) {
        int line, col;
        jl_line_column(data, len, (size_t)(nul - data), &line, &col);
        snprintf(L->err, L->errlen, "%s:%d:%d: NUL byte in the file: not JSON text", name, line, col);
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(data ? data : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(L->err, L->errlen, "%s:%d:%d: %s", name, je.line, je.column, je.text);
        return NULL;
    }
    if (jl_decode_bytes(root) != 0) { /* the bytes memprof wrote (json_bytes.h) */
        json_decref(root);
        jl_oom(L);
        return NULL;
    }
    return root;
}

/* "schema": a number this memprof reads; *schema set.  0, or -1. */
int jl_check_schema(struct loader *L, json_t *obj, long long *schema)
{
    json_t *v = json_object_get(obj, "schema");
    if (!v) {
        if (L->depth == 0)
            snprintf(L->err, L->errlen, "%s: not a memprof report (no \"schema\" field)", L->name);
        else
            return jl_fail(L, "not a memprof report (no \"schema\" field)");
        return -1;
    }
    jl_enter_key(L, "schema");
    int saved = L->show_path;
    L->show_path = L->depth > 1;
    if (!json_is_integer(v))
        return jl_fail(L, "not a memprof report (\"schema\" is %s, not a number)", jl_type_name(v));
    if (json_integer_value(v) > SCHEMA)
        return jl_fail(L, "written by a newer memprof (schema %lld); this memprof reads schemas 1 and %d",
                       (long long)json_integer_value(v), SCHEMA);
    if (json_integer_value(v) < SCHEMA_PROCESS)
        return jl_fail(L, "unknown schema %lld; this memprof reads schemas 1 and %d", (long long)json_integer_value(v),
                       SCHEMA);
    L->show_path = saved;
    jl_leave(L);
    *schema = json_integer_value(v);
    return 0;
}

int jl_load_stable(struct loader *L, json_t *obj, int *out)
{
    json_t *stable = json_object_get(obj, "stable"); /* reports before --stable lack it */
    if (stable && !json_is_boolean(stable)) {
        jl_enter_key(L, "stable");
        return jl_fail(L, "expected a boolean, found %s", jl_type_name(stable));
    }
    *out = json_is_true(stable);
    return 0;
}

/* The loader's state about one report object, before the next one. */
void jl_reset_object_state(struct loader *L)
{
    free(L->next_dup);
    free(L->dup_tail);
    free(L->self_next);
    free(L->incl_next);
    free(L->self_done);
    free(L->incl_done);
    free(L->texts);
    L->next_dup = L->dup_tail = L->self_next = L->incl_next = NULL;
    L->self_done = L->incl_done = NULL;
    L->texts = NULL;
    L->n_texts = L->cap_texts = 0;
    L->n_frames = 0;
}

/* One process's report (schema 1): its profile into *p, its run into *run;
 * source text into L->src. */
int jl_load_process(struct loader *L, json_t *obj, struct mp_profile **p, struct mp_report_run *run,
                    struct jl_owned *own, int *stable)
{
    long long schema;
    if (jl_check_schema(L, obj, &schema))
        return -1;
    if (schema != SCHEMA_PROCESS) {
        jl_enter_key(L, "schema");
        return jl_fail(L, "a process of a tree is a schema 1 report, not schema %lld", schema);
    }
    if (jl_load_stable(L, obj, stable))
        return -1;
    L->stable = *stable;
    jl_reset_object_state(L);
    if (!(L->p = *p = mp_profile_new(NULL, NULL)))
        return jl_oom(L);
    struct mp_totals *t = mp_profile_restore_totals(L->p);
    if (load_run(L, obj, run, own) || load_summary(L, obj, t, run) || jl_load_frames(L, obj) ||
        jl_load_stacks(L, obj) || jl_load_lines(L, obj) || jl_load_free_sites(L, obj) || jl_load_tables(L, obj) ||
        jl_load_peak(L, obj, t) || jl_load_peak_total(L, obj, t) || jl_load_folded(L, obj) ||
        load_timeline(L, obj, run) || jl_load_views(L, obj))
        return -1;
    json_t *leaks;
    if (jl_get_typed(L, obj, "leaks", 1, 0, &leaks))
        return -1;
    t->distinct_stacks = mp_profile_stack_count(L->p);
    return 0;
}

int jl_check_root(struct loader *L, json_t *root, long long *schema)
{
    if (!json_is_object(root)) {
        snprintf(L->err, L->errlen, "%s: not a memprof report (the top level is %s, not an object)", L->name,
                 jl_type_name(root));
        return -1;
    }
    return jl_check_schema(L, root, schema);
}

static int load_root(struct loader *L, json_t *root, struct mp_loaded_report *out, struct jl_owned *own)
{
    long long schema;
    if (jl_check_root(L, root, &schema))
        return -1;
    if (schema != SCHEMA_PROCESS) {
        snprintf(L->err, L->errlen, "%s: a process tree report (schema %lld): read it with mp_load_process_tree", L->name,
                 schema);
        return -1;
    }
    if (!(L->src = out->sources = mp_sources_new()))
        return jl_oom(L);
    return jl_load_process(L, root, &out->profile, &out->run, own, &out->stable);
}

/* Every string value back to the bytes memprof wrote (json_bytes.h).
 * Strings with no U+EF80-U+EFFF in them (all but a few) stay as they are. */
int jl_decode_bytes(json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if (!memmem(s, len, "\xee\xbe", 2) && !memmem(s, len, "\xee\xbf", 2))
            return 0;
        char *copy = malloc(len + 1);
        if (!copy)
            return -1;
        memcpy(copy, s, len + 1);
        size_t n = mp_json_bytes_decode(copy, len);
        int rc = json_string_setn_nocheck(v, copy, n);
        free(copy);
        return rc;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (jl_decode_bytes(json_array_get(v, i)) != 0)
                return -1;
    } else if (json_is_object(v)) {
        const char *key;
        json_t *member;
        json_object_foreach(v, key, member)
            if (jl_decode_bytes(member) != 0)
                return -1;
    }
    return 0;
}

/* The error is one line: control characters (jansson quotes the text near
 * a syntax error, newlines included; a file name may have them) are
 * written as escapes. */
void jl_one_line(char *err, size_t errlen)
{
    char tmp[1024];
    size_t o = 0;
    for (const unsigned char *s = (const unsigned char *)err; *s && o + 5 < sizeof tmp; s++) {
        if (*s >= 0x20 && *s != 0x7f)
            tmp[o++] = (char)*s;
        else if (*s == '\n' || *s == '\t' || *s == '\r')
            o += (size_t)snprintf(tmp + o, sizeof tmp - o, "\\%c", *s == '\n' ? 'n' : *s == '\t' ? 't' : 'r');
        else
            o += (size_t)snprintf(tmp + o, sizeof tmp - o, "\\x%02x", *s);
    }
    tmp[o] = '\0';
    snprintf(err, errlen, "%s", tmp);
}

void jl_clear_owned(struct jl_owned *own)
{
    free(own->command);
    free(own->warnings);
    free(own->function_spans);
    free(own->spans);
    mp_line_profile_free(own->line_profile);
    free(own->lm_map);
    free(own->lm_funcs);
}

void jl_free_owned(struct jl_owned *own)
{
    if (own) {
        jl_clear_owned(own);
        free(own);
    }
}

void jl_begin(struct loader *L, const char *data, size_t len, const char *name, char *err, size_t errlen)
{
    memset(L, 0, sizeof *L);
    L->name = name ? name : "(report)";
    L->data = data;
    L->len = len;
    L->err = err && errlen ? err : L->no_err;
    L->errlen = err && errlen ? errlen : sizeof L->no_err;
    L->err[0] = '\0';
    L->show_path = 1;
}

void jl_end_failed(struct loader *L)
{
    if (!L->err[0])
        snprintf(L->err, L->errlen, "%s: cannot load the report", L->name);
    jl_one_line(L->err, L->errlen);
}

int jl_parse_and_load(struct loader *L, int (*load)(struct loader *L, json_t *root, void *ctx),
                      void (*undo)(void *ctx), void *ctx)
{
    /* a big report a piece at a time (json_load_lazy.c); what the splitter
     * does not take, and anything that fails while a piece is not valid
     * JSON, is parsed whole (jl_parse: its checks, jansson's own errors) */
    const char *data = L->data, *name = L->name;
    size_t len = L->len, errlen = L->errlen;
    char *err = L->err == L->no_err ? NULL : L->err;
    json_t *root = data && len && len <= MAX_REPORT_BYTES && !memchr(data, '\0', len) ? jl_parse_split(L, data, len)
                                                                                       : NULL;
    int split = root != NULL, rc;
    for (;;) {
        if (!root && !(root = jl_parse(L))) {
            rc = -1;
            break;
        }
        rc = load(L, root, ctx);
        json_decref(root);
        root = NULL;
        if (rc == 0 || !split || (!L->lazy_broken && jl_lazy_valid(L)))
            break;
        /* a syntax error in a part read later: as the whole parse reports it */
        undo(ctx);
        jl_reset_object_state(L);
        jl_begin(L, data, len, name, err, err ? errlen : 0);
        split = 0;
    }
    jl_reset_object_state(L);
    return rc;
}

struct report_load {
    struct mp_loaded_report *out;
    struct jl_owned *own;
};

static int load_report_root(struct loader *L, json_t *root, void *ctx)
{
    struct report_load *r = ctx;
    r->own = calloc(1, sizeof *r->own);
    return r->own ? load_root(L, root, r->out, r->own) : jl_oom(L);
}

static void undo_report(void *ctx)
{
    struct report_load *r = ctx;
    jl_free_owned(r->own);
    r->own = NULL;
    mp_sources_free(r->out->sources);
    mp_profile_free(r->out->profile);
    memset(r->out, 0, sizeof *r->out);
}

int mp_load_report_buffer(const char *data, size_t len, const char *name, struct mp_loaded_report *out, char *err,
                          size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct loader L;
    jl_begin(&L, data, len, name, err, errlen);
    struct report_load r = { out, NULL };
    if (jl_parse_and_load(&L, load_report_root, undo_report, &r) != 0) {
        undo_report(&r);
        jl_end_failed(&L);
        return -1;
    }
    out->owned = r.own;
    return 0;
}

/* The whole file (or standard input), at most MAX_REPORT_BYTES + 1 bytes. */
char *jl_read_input(const char *path, const char *name, size_t *len, char *err, size_t errlen)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot read: %s", name, strerror(errno));
        return NULL;
    }
    struct stat st;
    memset(&st, 0, sizeof st);
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > MAX_REPORT_BYTES) {
        snprintf(err, errlen, "%s: larger than 1 GiB (%jd bytes): too big for a memprof report", name,
                 (intmax_t)st.st_size);
        if (fd != STDIN_FILENO)
            close(fd);
        return NULL;
    }
    size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 65536, n = 0;
    char *buf = malloc(cap);
    int saved = 0;
    while (buf) {
        if (n == cap) {
            if (n > MAX_REPORT_BYTES)
                break; /* one byte over is enough to refuse it */
            cap = cap > MAX_REPORT_BYTES / 2 ? MAX_REPORT_BYTES + 1 : cap * 2;
            char *g = realloc(buf, cap);
            if (!g) {
                free(buf);
                buf = NULL;
                saved = ENOMEM;
                break;
            }
            buf = g;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            saved = errno;
            free(buf);
            buf = NULL;
            break;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (!buf && !saved)
        saved = ENOMEM;
    if (fd != STDIN_FILENO)
        close(fd);
    if (!buf) {
        snprintf(err, errlen, "%s: cannot read: %s", name, strerror(saved));
        return NULL;
    }
    *len = n;
    return buf;
}

int jl_load_path(const char *path, jl_buffer_loader load, void *out, char *err, size_t errlen)
{
    char dummy[1];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    size_t len = 0;
    char *data = jl_read_input(path, name, &len, err, errlen);
    if (!data) {
        jl_one_line(err, errlen);
        return -1;
    }
    int rc = load(data, len, name, out, err, errlen);
    free(data);
    return rc;
}

static int load_report_buffer(const char *data, size_t len, const char *name, void *out, char *err, size_t errlen)
{
    return mp_load_report_buffer(data, len, name, out, err, errlen);
}

int mp_load_report(const char *path, struct mp_loaded_report *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    return jl_load_path(path, load_report_buffer, out, err, errlen);
}

void mp_loaded_report_free(struct mp_loaded_report *r)
{
    if (!r)
        return;
    jl_free_owned(r->owned);
    mp_sources_free(r->sources);
    mp_profile_free(r->profile);
    memset(r, 0, sizeof *r);
}
