/* memprof: the JSON report loader's internals, shared by json_load.c (entry
 * points, the run and the summary), json_load_fields.c (positions, errors,
 * typed fields), json_load_profile.c (frames, stacks, lines, peak),
 * json_load_tables.c (tables and source text) and json_load_views.c (free
 * sites, size histogram, largest allocations, threads). */
#ifndef MEMPROF_JSON_LOAD_INTERNAL_H
#define MEMPROF_JSON_LOAD_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "memprof/profile.h"
#include "memprof/run.h"

#define MAX_PATH 12

struct mp_sources;
struct mp_lm_func;
struct mp_lm_map;
struct mp_line_profile;
struct row_text; /* json_load_tables.c */

/* One step of a field's path: a key or an array index. */
struct path_part {
    const char *key; /* NULL: an array index */
    size_t index;
};

/* A big top-level array read element by element (json_load_lazy.c). */
struct jl_lazy {
    const char *key;
    size_t start, end;   /* just after its '[', and its ']' */
    size_t count;
};

/* One load: the text, the error being written and the profile being rebuilt. */
struct loader {
    const char *name, *data;
    size_t len;
    char *err;
    size_t errlen;
    char no_err[1];      /* err when the caller gave none */
    int failed;
    struct path_part path[MAX_PATH];
    int depth;
    int show_path;

    struct mp_profile *p;
    struct mp_sources *src;
    int stable;
    uint32_t n_frames;
    /* Frames that show the same place (--stable) form a chain from the
     * first one, the one a lookup by place finds. */
    uint32_t *next_dup;  /* per frame: the next frame in its chain, or UINT32_MAX */
    uint32_t *dup_tail;  /* per chain head: its last frame */
    uint8_t *self_done;  /* per frame: a "lines" entry set its self counters */
    uint8_t *incl_done;  /* per frame: a table row set its inclusive counters */
    uint32_t *self_next, *incl_next; /* per chain head: where an unused frame may be */
    /* Source text of table rows, set once all tables are checked. */
    struct row_text *texts;
    size_t n_texts, cap_texts;
    struct jl_lazy lazy[3];
    int n_lazy;
    int lazy_broken;     /* an element of a big array is not valid JSON */
};

/* A top-level array: in the document, or read from the text one element
 * at a time (each element valid until the next call). */
struct jl_array {
    json_t *dom;
    struct jl_lazy *lazy;
    size_t size, index, pos;
    json_t *cur;
};

/* A place: {"file", "line", "function"[, "module"]} */
struct place {
    const char *file, *function, *module;
    int line;
};

/* ---- json_load.c: what the tree loader (json_load_processes.c) shares ---- */

/* What a loaded report's run points to. */
struct jl_owned {
    char **command, **warnings; /* NULL-terminated; strings interned in the profile */
    struct mp_function_spans *function_spans;
    struct mp_span *spans;
    struct mp_lm_func *lm_funcs;          /* line mode's tables: the functions, */
    struct mp_lm_map *lm_map;             /* their map */
    struct mp_line_profile *line_profile; /* and the rows */
};
/* Frees what own points to (jl_clear_owned) and own itself. */
void jl_clear_owned(struct jl_owned *own);
void jl_free_owned(struct jl_owned *own);
/* The text parsed by jansson (size and NUL bytes checked first); NULL with
 * the error written. */
/* A loader over data, named name ("(report)" when NULL), its message in
 * err (nowhere when err is NULL or errlen 0), emptied. */
void jl_begin(struct loader *L, const char *data, size_t len, const char *name, char *err, size_t errlen);
/* A load failed: its message (a general one if none was said) on one line. */
void jl_end_failed(struct loader *L);
json_t *jl_parse(struct loader *L);
/* "schema": a number this memprof reads (1 or 2). */
int jl_check_schema(struct loader *L, json_t *obj, long long *schema);
/* The top level: an object with a schema this memprof reads. */
int jl_check_root(struct loader *L, json_t *root, long long *schema);
/* Reads path ("-": standard input) and hands the text to load. */
typedef int (*jl_buffer_loader)(const char *data, size_t len, const char *name, void *out, char *err, size_t errlen);
int jl_load_path(const char *path, jl_buffer_loader load, void *out, char *err, size_t errlen);
int jl_load_stable(struct loader *L, json_t *obj, int *out);
/* One process's report (schema 1) at obj, its sources into L->src. */
int jl_load_process(struct loader *L, json_t *obj, struct mp_profile **p, struct mp_report_run *run,
                    struct jl_owned *own, int *stable);
void jl_reset_object_state(struct loader *L);
void jl_one_line(char *err, size_t errlen);
char *jl_read_input(const char *path, const char *name, size_t *len, char *err, size_t errlen);

/* ---- json_load_fields.c: where a field is in the text ---- */

/* Byte offset of the value the path names, or of the deepest part of it
 * that exists.  The text is valid JSON (jansson accepted it), but every
 * step is bounded by its length anyway. */
size_t json_load_locate(const char *d, size_t n, const struct path_part *path, int depth);
/* Line and column (1-based; columns count characters, as jansson's do). */
void jl_line_column(const char *d, size_t n, size_t at, int *line, int *col);

/* ---- json_load_fields.c: errors ---- */

/* Records the first error ("NAME:LINE:COLUMN: PATH: problem") in L->err;
 * always -1. */
__attribute__((format(printf, 2, 3))) int jl_fail(struct loader *L, const char *fmt, ...);
int jl_oom(struct loader *L);
/* The path of the field being read, for the error messages. */
void jl_enter_key(struct loader *L, const char *key);
void jl_enter_index(struct loader *L, size_t i);
void jl_leave(struct loader *L);
/* "an object", "a negative integer", ...: for "expected X, found Y". */
const char *jl_type_name(const json_t *v);

/* ---- json_load_fields.c: typed fields; each reports its own errors ---- */

json_t *jl_member(struct loader *L, json_t *obj, const char *key);
int jl_expect_object(struct loader *L, json_t *v);
int jl_expect_array(struct loader *L, json_t *v);
int jl_check_u64(struct loader *L, json_t *v, uint64_t *out);
/* A counter; `*is_null` (when given) accepts null, which --stable writes for
 * what varies between runs. */
int jl_get_u64(struct loader *L, json_t *obj, const char *key, uint64_t *out, int *is_null);
/* A counter added after the first reports: absent means 0. */
int jl_get_u64_opt(struct loader *L, json_t *obj, const char *key, uint64_t *out);
int jl_check_int(struct loader *L, json_t *v, long long lo, long long hi, long long *out);
int jl_get_int(struct loader *L, json_t *obj, const char *key, long long lo, long long hi, long long *out);
/* A string (NUL-free: jansson refuses \u0000), or NULL for null when allowed. */
int jl_get_str(struct loader *L, json_t *obj, const char *key, int allow_null, const char **out);
/* An array (want_array) or an object; *out is NULL for null when allowed. */
int jl_get_typed(struct loader *L, json_t *obj, const char *key, int want_array, int allow_null, json_t **out);
/* A time or duration in seconds: a finite non-negative number. */
int jl_check_seconds(struct loader *L, json_t *v, double *out);
int jl_get_place(struct loader *L, json_t *v, struct place *pl);

/* ---- json_load.c ---- */

/* Every string of v back to the bytes memprof wrote (json_bytes.h).  0, or
 * -1 when out of memory. */
int jl_decode_bytes(json_t *v);

/* ---- json_load_lazy.c: big reports a piece at a time ---- */

/* The document, with "frames", "stacks" and "lines" left in the text when
 * they are big (jl_array_open reads them); NULL when the text is not split
 * that way (an error anywhere, or an unusual shape): parse it whole. */
json_t *jl_parse_split(struct loader *L, const char *d, size_t n);
/* Every element of the big arrays is valid JSON: 1, or 0. */
int jl_lazy_valid(struct loader *L);
/* Parses L's text (big arrays a piece at a time) and loads it with load;
 * when a piece turns out not to be valid JSON, undo, then the whole text
 * parsed at once.  0, or -1 with L's error set. */
int jl_parse_and_load(struct loader *L, int (*load)(struct loader *L, json_t *root, void *ctx),
                      void (*undo)(void *ctx), void *ctx);
/* root[key], an array (errors as jl_get_typed). */
int jl_array_open(struct loader *L, json_t *root, const char *key, struct jl_array *a);
/* The next element, NULL at the end (or after an error: L->failed). */
json_t *jl_array_next(struct loader *L, struct jl_array *a);
void jl_array_close(struct jl_array *a);

/* ---- json_load_profile.c: the profile's line records and stacks ---- */

/* The eight leak-kind counters ("definitely_lost_bytes", ...), which older
 * reports do not have: *present is 0 when they are absent (or all null,
 * where allow_null), 1 when read.  Some present and others not is an
 * error. */
int jl_get_leak_kinds(struct loader *L, json_t *obj, uint64_t *bytes, uint64_t *blocks, int allow_null, int *present);

/* The frame shown at this place whose `used` flag is clear; UINT32_MAX
 * after failing.  `next` keeps each chain's search amortised O(1). */
uint32_t jl_find_frame(struct loader *L, const struct place *pl, uint8_t *used, uint32_t *next);
int jl_load_frames(struct loader *L, json_t *root);
int jl_load_stacks(struct loader *L, json_t *root);
int jl_load_lines(struct loader *L, json_t *root);
/* "peak": the stack that reached the peak, found among "stacks" by what it
 * shows (stacks that show the same lines write the same report). */
int jl_load_peak(struct loader *L, json_t *root, struct mp_totals *t);
struct mp_report_run;
/* Mapped memory and folded wrappers (json_load_mapped.c): optional parts. */
int jl_load_mapped_summary(struct loader *L, json_t *summary, struct mp_totals *t, struct mp_report_run *run);
int jl_load_peak_total(struct loader *L, json_t *root, struct mp_totals *t);
int jl_load_folded(struct loader *L, json_t *root);

/* ---- json_load_tables.c: inclusive counters, function ranges, source text ---- */

int jl_load_tables(struct loader *L, json_t *root);

/* ---- json_load_views.c: what the views need besides lines and stacks ---- */

/* "free_sites" (before the tables, which repeat their counters) */
int jl_load_free_sites(struct loader *L, json_t *root);
/* "size_histogram", "largest" (after the stacks) and "threads" */
int jl_load_views(struct loader *L, json_t *root);
/* ---- json_load_line_tables.c: line mode's "line_tables" (optional) ---- */

/* Reads root's "line_tables" into own (lm_funcs, lm_map, line_profile) and
 * points *out at the profile; *out NULL when the report has none. */
int jl_load_line_tables(struct loader *L, json_t *root, struct jl_owned *own, const struct mp_line_profile **out);

/* ---- json_load_spans.c: line mode's "function_spans" (optional) ---- */

/* Fills *out (n entries, NULL when absent) and *storage (their spans, one
 * block); the caller frees both. */
int jl_load_function_spans(struct loader *L, json_t *root, struct mp_function_spans **out, size_t *n,
                           struct mp_span **storage);

#endif
