/* memprof: from a finished session to the writers' input (session_report.h):
 * which images are shown, their tree order and links, and each one's run:
 * how it ended, its peak RSS, its engine and the notes about what was not
 * counted. */
#define _GNU_SOURCE
#include "session_report.h"
#include "profile/line_profile.h"
#include "capture/linemode/linemode.h"
#include "events/ring_reader.h"
#include "events/py_channel.h"
#include "capture/python/py_session.h"
#include "memprof/profile.h"
#include "report/format.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WARNINGS 64

static int folded(const struct mp_image *img)
{
    return img->end == MP_IMAGE_EXECED && mp_profile_totals(img->profile)->alloc_calls == 0;
}

static int visible(const struct mp_image *img)
{
    return img && !img->placeholder && !img->quiet && !folded(img);
}

static const struct mp_image *chain_start(const struct mp_image *img)
{
    while (img->exec_of)
        img = img->exec_of;
    return img;
}

/* The image that replaced img with execve, or NULL. */
static const struct mp_image *successor(struct mp_session *s, const struct mp_image *img)
{
    for (size_t i = img->seq + 1; i < s->n_images; i++)
        if (s->images[i]->exec_of == img)
            return s->images[i];
    return NULL;
}

/* The shown image that stands for img: itself, the image that replaced it
 * (folded), or the nearest shown one up the tree. */
static const struct mp_image *shown_ancestor(struct mp_session *s, const struct mp_image *img)
{
    while (img && !visible(img)) {
        const struct mp_image *next = folded(img) ? successor(s, img) : NULL;
        if (next && visible(next))
            return next;
        img = chain_start(img)->parent;
    }
    return img;
}

static char *keep(struct mp_session_report *r, char *str)
{
    if (!str)
        return NULL;
    if (r->n_owned == r->cap_owned) {
        size_t cap = r->cap_owned ? r->cap_owned * 2 : 64;
        char **g = realloc(r->owned, cap * sizeof *g);
        if (!g) {
            free(str);
            return NULL;
        }
        r->owned = g;
        r->cap_owned = cap;
    }
    return r->owned[r->n_owned++] = str;
}

__attribute__((format(printf, 2, 3))) static const char *keepf(struct mp_session_report *r, const char *fmt, ...)
{
    char *str;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&str, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : keep(r, str);
}

static void add_warning(const char **list, size_t *n, const char *w)
{
    if (w && *n < MAX_WARNINGS)
        list[(*n)++] = w;
}

/* The target wrote over the ring (events/ring.h, Trust): NULL if not. */
static const char *ring_damage_note(struct mp_session *s, struct mp_session_report *r)
{
    uint64_t dropped;
    int records_hit;
    if (!mp_ring_reader_damage(s->ring, &dropped, &records_hit))
        return NULL;
    const char *hit = records_hit ? "; it also wrote over records waiting in the ring, which may be missing or "
                                    "count what it wrote" : "";
    if (!dropped)
        return keepf(r, "the target damaged memprof's event ring (shared memory in its address space), which "
                        "memprof repaired: no record was dropped%s; RSS was still measured", hit);
    char count[64];
    return keepf(r, "the target damaged memprof's event ring (shared memory in its address space): %s lost "
                    "because of it and %s missing from the heap numbers%s; RSS was still measured",
                 MP_COUNT_NOUN(count, dropped, "record was", "records were"), mp_plural(dropped, "is", "are"), hit);
}

/* RSS samples and line events the full ring made the writers drop: NULL if none. */
static const char *dropped_note(struct mp_session *s, struct mp_session_report *r)
{
    uint64_t samples, lines;
    mp_ring_reader_dropped(s->ring, &samples, &lines);
    if (s->opt->stable)
        samples = 0; /* RSS is not part of a --stable report */
    if (!samples && !lines)
        return NULL;
    char a[64], b[64];
    return keepf(r, "%s and %s were dropped: the event ring stayed full",
                 MP_COUNT_NOUN(a, samples, "RSS sample", "RSS samples"), MP_COUNT_NOUN(b, lines, "line event", "line events"));
}

/* Stacks the agent ended at a damaged frame: NULL if none. */
static const char *unwind_faults_note(struct mp_session *s, struct mp_session_report *r)
{
    uint64_t n = mp_ring_reader_unwind_faults(s->ring);
    if (!n)
        return NULL;
    char count[64];
    return keepf(r, "%s cut short: the program's unwind tables (.eh_frame) describe a frame wrongly, so %s "
                    "charged to the frames found before it",
                 MP_COUNT_NOUN(count, n, "call stack was", "call stacks were"),
                 mp_plural(n, "that allocation is", "those allocations are"));
}

/* The notes of one image, in the order the single-process report always
 * had them.  `ring_notes`: the ring's own drops belong to this image (the
 * only one shown). */
static void image_warnings(struct mp_session *s, struct mp_session_report *r, const struct mp_image *img,
                           int ring_notes, const char **list, size_t *n)
{
    char count[64];
    if (img->sym_error[0])
        add_warning(list, n, img->sym_error);
    if (img->fallback_note[0])
        add_warning(list, n, img->fallback_note);
    if (img->profile_errors)
        add_warning(list, n, "memprof ran out of memory while aggregating: some events are missing");
    if (img->leak_note[0])
        add_warning(list, n, img->leak_note);
    if (img->children_let_go)
        add_warning(list, n, keepf(r, "%s let go at once, not followed: a debugger or tracer traces its own "
                                      "children", MP_COUNT_NOUN(count, img->children_let_go, "child process was",
                                                                "child processes were")));
    if (ring_notes) {
        add_warning(list, n, dropped_note(s, r));
        add_warning(list, n, ring_damage_note(s, r));
        add_warning(list, n, unwind_faults_note(s, r));
    }
    for (size_t i = 0; i < img->n_sym_warnings; i++)
        add_warning(list, n, img->sym_warnings[i]);
    if (img->had_bp) {
        if (img->bp_warning[0] && img->bp_was_armed) /* else it is the heap's note (heap_note) */
            add_warning(list, n, img->bp_warning);
        add_warning(list, n, img->bp_notes[0][0] ? img->bp_notes[0] : NULL);
        add_warning(list, n, img->bp_notes[2][0] ? img->bp_notes[2] : NULL);
        add_warning(list, n, img->bp_notes[1][0] ? img->bp_notes[1] : NULL);
        add_warning(list, n, img->bp_notes[3][0] ? img->bp_notes[3] : NULL);
        uint64_t lost = img->bp_unreadable + img->bp_abandoned + (ring_notes ? mp_ring_reader_dropped_heap(s->ring) : 0);
        char a[64], b[64], c[64];
        if (lost)
            add_warning(list, n, keepf(r, "%s not recorded: %s, %s without a return (longjmp, thread exit, or "
                                          "still running at detach)",
                                       MP_COUNT_NOUN(a, lost, "allocator call was", "allocator calls were"),
                                       MP_COUNT_NOUN(b, img->bp_unreadable, "unreadable stack", "unreadable stacks"),
                                       MP_COUNT_NOUN(c, img->bp_abandoned, "call left", "calls left")));
    }
    if (s->linemode && img->seq == s->line_image_seq) {
        struct mp_linemode_stats lst;
        mp_linemode_stats(s->linemode, &lst);
        const char *w = mp_linemode_warning(s->linemode);
        if (w)
            add_warning(list, n, w);
        else if (!lst.armed)
            add_warning(list, n, "line mode found no image of the program to put its breakpoints in");
        if (s->opt->linemode.metric == MP_LM_METRIC_HEAP && img->engine_note[0])
            add_warning(list, n, "--metric=heap needs the heap engine: the --function tables show a heap of 0");
        char steps[64];
        if (lst.steps_with_threads)
            add_warning(list, n, keepf(r, "line mode stepped over %s while other threads ran: they may have run "
                                          "%s unseen (Occurrences can be low by up to that many)",
                                       MP_COUNT_NOUN(steps, lst.steps_with_threads, "breakpoint", "breakpoints"),
                                       mp_plural(lst.steps_with_threads, "that line", "those lines")));
        if (lst.lost_stops)
            add_warning(list, n, "a thread exited or was stopped by job control while line mode stepped it over a "
                                 "breakpoint: that stop was not passed on");
    }
    /* CPython's notes: with the first image that had the Python channel (the
     * target's first image when none had it) */
    unsigned python_seq = s->python_notes_seq != (unsigned)-1 ? s->python_notes_seq : 0;
    if (s->python && img->seq == python_seq) {
        const char *py[16];
        size_t k = mp_py_session_notes(s->python, mp_ring_reader_pycode_broken(s->ring),
                                       mp_ring_reader_records_bound(s->ring), py, 16);
        for (size_t i = 0; i < k; i++)
            add_warning(list, n, py[i]);
        uint32_t others = mp_py_session_seen(s->python) /* else the channel's count is not the agents' */
                              ? atomic_load(&mp_ring_reader_py_channel(s->ring)->other_interpreters)
                              : 0;
        if (others)
            add_warning(list, n, keepf(r, "%s of the process tree had native frames only: "
                                          "memprof reads the Python frames of one interpreter at a time, not of "
                                          "another running meanwhile or of a forked copy of it",
                                       MP_COUNT_NOUN(count, others, "Python interpreter", "Python interpreters")));
        if (s->python_lines && s->python_notes_seq == (unsigned)-1)
            add_warning(list, n, "--function on Python code needs the agent in a CPython process: no line tables");
    }
}

/* --alloc-fn globs that folded nothing in any image: a typo, or a function
 * that never allocated. */
static void unmatched_alloc_fns(struct mp_session *s, struct mp_session_report *r, const char **list, size_t *n)
{
    for (size_t g = 0; g < s->opt->n_alloc_fns; g++) {
        int matched = 0;
        for (size_t i = 0; i < s->n_images && !matched; i++) {
            const struct mp_folded *folded;
            size_t n_folded = s->images[i]->profile ? mp_profile_folded(s->images[i]->profile, &folded) : 0;
            for (size_t f = 0; f < n_folded && !matched; f++)
                matched = !folded[f].automatic && fnmatch(s->opt->alloc_fns[g], folded[f].function, 0) == 0;
        }
        if (!matched)
            add_warning(list, n, keepf(r, "--alloc-fn '%s' matched no function that allocated", s->opt->alloc_fns[g]));
    }
}

static uint64_t peak_rss(const struct mp_image *img)
{
    const struct mp_sample *samples;
    size_t n = mp_profile_timeline(img->profile, &samples);
    uint64_t peak = img->vmhwm;
    for (size_t i = 0; i < n; i++)
        if (samples[i].rss_bytes > peak)
            peak = samples[i].rss_bytes;
    return peak;
}

/* Why the image's heap was not measured, or NULL: a heap nothing measured
 * must not pass for an empty one (heap_profiled: false, limits fail). */
static const char *heap_note(const struct mp_image *img)
{
    if (img->engine_note[0])
        return img->engine_note;
    if (strcmp(img->engine, "agent") == 0 && !img->agent_started)
        return "memprof's agent never started in the program (it lost LD_PRELOAD or memprof's descriptor, or could "
               "not be loaded)";
    if (img->had_bp && !img->bp_was_armed)
        return img->bp_warning[0] ? img->bp_warning : "the breakpoint engine never found the allocator in the program";
    return NULL;
}

static void fill_run(struct mp_session *s, struct mp_session_report *r, const struct mp_image *img,
                     struct mp_report_run *run)
{
    run->command = img->command;
    run->exited = img->end == MP_IMAGE_EXITED && !img->signal;
    run->exit_code = img->exit_code;
    run->signal = img->signal;
    run->peak_rss_bytes = peak_rss(img);
    run->wall_seconds = img->end_s > img->start_s ? img->end_s - img->start_s : 0;
    run->engine = img->engine;
    run->engine_note = heap_note(img);
    run->mapped_profiled = s->opt->mmap;
    run->events_lost = img->events_lost + img->bp_unreadable + img->bp_abandoned;
    run->agent_bytes = img->agent_bytes + img->agent_bytes_bp;
    run->has_engine_stops = img->had_bp && img->bp_armed_or_trapped;
    run->engine_stops = img->bp_stops;
    run->rss_at_exit = img->rss_at_exit;
    run->pid = img->pid;
    run->forked = img->forked;
    run->execed = img->end == MP_IMAGE_EXECED;
    run->let_go = img->end == MP_IMAGE_LET_GO;
    run->detached = run->let_go;
    run->unfollowed = img->end == MP_IMAGE_UNFOLLOWED;
    run->start_seconds = img->start_s;
    if (s->lines && img->seq == s->line_image_seq) {
        run->line_profile = s->lines;
        if (!r->function_spans)
            r->function_spans = mp_line_profile_function_spans(s->lines, &r->n_function_spans);
        run->function_spans = r->function_spans;
        run->n_function_spans = r->function_spans ? r->n_function_spans : 0;
    }
}

static int by_order(const void *a, const void *b)
{
    const struct mp_image *x = *(const struct mp_image *const *)a, *y = *(const struct mp_image *const *)b;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct order { struct mp_session *s; struct mp_session_report *r; const struct mp_image **shown; size_t n;
               int *id_of_seq; int next_id; size_t placed; const struct mp_image **up; };

/* The image shown as this one's predecessor in the tree: the image it
 * replaced (exec), else the one that forked its process. */
static const struct mp_image *tree_up(struct order *o, const struct mp_image *img, int *via_exec)
{
    const struct mp_image *e = img->exec_of;
    while (e && !visible(e))
        e = e->exec_of;
    *via_exec = e != NULL;
    if (e)
        return e;
    const struct mp_image *p = chain_start(img)->parent;
    return p ? shown_ancestor(o->s, p) : NULL;
}

static void place(struct order *o, const struct mp_image *img, int depth)
{
    struct mp_report_run *run = &o->r->runs[o->placed];
    o->r->images[o->placed] = (struct mp_image *)img;
    o->id_of_seq[img->seq] = ++o->next_id;
    run->tree_id = o->next_id;
    run->tree_depth = depth;
    o->placed++;
    /* children: shown images whose predecessor is img, in creation order */
    for (size_t i = 0; i < o->n; i++)
        if (o->up[i] == img)
            place(o, o->shown[i], depth + 1);
}

int mp_session_report_build(struct mp_session *s, const struct mp_run_result *result,
                            struct mp_session_report *out)
{
    memset(out, 0, sizeof *out);
    size_t n = 0;
    for (size_t i = 0; i < s->n_images; i++)
        n += visible(s->images[i]);
    if (n == 0)
        return -1;
    const struct mp_image **shown = calloc(n, sizeof *shown), **up = calloc(n, sizeof *up);
    int *id_of_seq = calloc(s->n_images, sizeof *id_of_seq);
    out->procs = calloc(n, sizeof *out->procs);
    out->runs = calloc(n, sizeof *out->runs);
    out->images = calloc(n, sizeof *out->images);
    out->warnings = calloc(n, sizeof *out->warnings);
    out->tree_warnings = calloc(MAX_WARNINGS, sizeof *out->tree_warnings);
    int ok = shown && up && id_of_seq && out->procs && out->runs && out->images && out->warnings && out->tree_warnings;
    size_t k = 0;
    for (size_t i = 0; ok && i < s->n_images; i++)
        if (visible(s->images[i]))
            shown[k++] = s->images[i];
    if (ok) /* siblings in the order their forks and execs happened */
        qsort(shown, n, sizeof *shown, by_order);
    struct order o = { s, out, shown, n, id_of_seq, 0, 0, up };
    int via_exec;
    for (size_t i = 0; ok && i < n; i++)
        up[i] = tree_up(&o, shown[i], &via_exec);
    for (size_t i = 0; ok && i < n; i++)
        if (!up[i])
            place(&o, shown[i], 0); /* a root: the target's first image */
    for (size_t i = 0; ok && o.placed < n && i < n; i++)
        if (!id_of_seq[shown[i]->seq])
            place(&o, shown[i], 0); /* cannot happen: links only go to earlier shown images */
    for (size_t i = 0; ok && i < n; i++) {
        const struct mp_image *img = out->images[i];
        struct mp_report_run *run = &out->runs[i];
        fill_run(s, out, img, run);
        const struct mp_image *u = tree_up(&o, img, &via_exec);
        const struct mp_image *p = shown_ancestor(s, chain_start(img)->parent);
        run->tree_exec_of = via_exec ? id_of_seq[u->seq] : 0;
        run->tree_parent = p ? id_of_seq[p->seq] : 0;
        out->procs[i] = (struct mp_process_image){ img->profile, run };
        if (!(out->warnings[i] = calloc(MAX_WARNINGS, sizeof *out->warnings[i]))) {
            ok = 0;
            break;
        }
        size_t nw = 0;
        image_warnings(s, out, img, n == 1, out->warnings[i], &nw);
        if (n == 1)
            unmatched_alloc_fns(s, out, out->warnings[i], &nw);
        run->warnings = out->warnings[i];
        run->n_warnings = nw;
        if (img->pid == s->top_pid && mp_session_image_of(s, s->top_pid) == img)
            out->tree.top_last = i;
    }
    free(shown);
    free(up);
    free(id_of_seq);
    if (!ok)
        return -1;
    out->tree.procs = out->procs;
    out->tree.n = n;
    if (n == 1) {
        /* the single-process report, as it always was: the run's times are the launch's */
        struct mp_report_run *run = &out->runs[0];
        run->tree_id = run->tree_parent = run->tree_exec_of = run->tree_depth = 0;
        run->pid = run->forked = run->execed = run->let_go = run->unfollowed = 0;
        run->start_seconds = 0;
        run->detached = result->detached;
        run->attached_pid = s->attach ? s->top_pid : 0;
        run->wall_seconds = result->wall_seconds;
        run->events_lost += s->lost_unknown + mp_ring_reader_dropped_heap(s->ring);
        return 0;
    }
    struct mp_process_tree *t = &out->tree;
    t->events_lost = s->lost_unknown;
    if (s->total_peak.bytes) {
        t->total_rss_known = 1;
        t->total_rss_bytes = s->total_peak.bytes;
        t->total_rss_seconds = (double)s->total_peak.time_ns / 1e9;
        t->total_rss_processes = s->total_peak.processes;
    }
    size_t nw = 0;
    add_warning(out->tree_warnings, &nw, dropped_note(s, out));
    add_warning(out->tree_warnings, &nw, ring_damage_note(s, out));
    add_warning(out->tree_warnings, &nw, unwind_faults_note(s, out));
    char count[64];
    if (mp_ring_reader_dropped_heap(s->ring))
        add_warning(out->tree_warnings, &nw, keepf(out, "%s of breakpoint engines %s dropped: the event ring stayed "
                                                        "full for 10 s",
                                                   MP_COUNT_NOUN(count, mp_ring_reader_dropped_heap(s->ring),
                                                                 "allocator event", "allocator events"),
                                                   mp_plural(mp_ring_reader_dropped_heap(s->ring), "was", "were")));
    unmatched_alloc_fns(s, out, out->tree_warnings, &nw);
    if (s->foreign_events)
        add_warning(out->tree_warnings, &nw, keepf(out, "%s from processes memprof does not follow: not counted",
                                                   MP_COUNT_NOUN(count, s->foreign_events, "allocator event came",
                                                                 "allocator events came")));
    for (size_t i = 0; i < n; i++) {
        const struct mp_report_run *run = &out->runs[i];
        if (run->unfollowed)
            add_warning(out->tree_warnings, &nw, keepf(out, "#%d %s: %s", run->tree_id,
                                                       run->command && run->command[0] ? run->command[0] : "?",
                                                       run->engine_note));
        else if (run->let_go)
            add_warning(out->tree_warnings, &nw, keepf(out, "#%d %s was still running when memprof let it go: its "
                                                            "numbers stop there", run->tree_id,
                                                       run->command && run->command[0] ? run->command[0] : "?"));
    }
    t->warnings = out->tree_warnings;
    t->n_warnings = nw;
    for (size_t i = 0; i < n && s->total_peak.biggest_pid; i++)
        if (out->runs[i].pid == s->total_peak.biggest_pid && !out->runs[i].execed)
            t->total_rss_biggest = out->runs[i].tree_id;
    return 0;
}

void mp_session_report_free(struct mp_session_report *r)
{
    for (size_t i = 0; i < r->n_owned; i++)
        free(r->owned[i]);
    free(r->owned);
    for (size_t i = 0; r->warnings && i < r->tree.n; i++)
        free(r->warnings[i]);
    free(r->warnings);
    free(r->tree_warnings);
    free(r->procs);
    free(r->runs);
    free(r->images);
    free(r->function_spans);
    memset(r, 0, sizeof *r);
}
