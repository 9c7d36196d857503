/* memprof: the session (session.h): the event ring, the images and their
 * profiles, the reader thread's side (records to the image that wrote them,
 * symbolizers opened when an image's first stack needs one and closed when
 * the image is done), and setting up and finishing a run.  The supervisor's
 * hooks are session_hooks.c; which processes are followed and with which
 * engine, session_follow.c; what the timeline gets of RSS readings,
 * session_timeline.c. */
#define _GNU_SOURCE
#include "session.h"
#include "session_timeline.h"
#include "capture/breakpoint/bpengine.h"
#include "capture/linemode/linemode.h"
#include "capture/python/py_remote.h"
#include "capture/python/py_session.h"
#include "events/py_channel.h"
#include "events/ring_reader.h"
#include "memprof/profile.h"
#include "profile/line_profile.h"
#include "supervise/supervisor.h"
#include "symbols/sym_shared.h"
#include "symbols/symbolizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pid -> image maps (each used by one thread) ---- */

static size_t slot_of(const struct pid_map *m, pid_t pid)
{
    return (size_t)(((uint64_t)(uint32_t)pid * 0x9E3779B97F4A7C15ull) >> 32) & (m->cap - 1);
}

static struct mp_image *map_get(const struct pid_map *m, pid_t pid)
{
    if (!m->cap)
        return NULL;
    for (size_t i = slot_of(m, pid);; i = (i + 1) & (m->cap - 1)) {
        if (m->pids[i] == pid)
            return m->imgs[i];
        if (m->pids[i] == 0)
            return NULL;
    }
}

static int map_put_raw(struct pid_map *m, pid_t pid, struct mp_image *img)
{
    size_t i = slot_of(m, pid);
    while (m->pids[i] != 0 && m->pids[i] != pid)
        i = (i + 1) & (m->cap - 1);
    if (m->pids[i] == 0)
        m->n++;
    m->pids[i] = pid;
    m->imgs[i] = img;
    return 0;
}

/* Deleted entries stay as tombstones (an image pointer of NULL): pids are
 * few and the map is rebuilt when it grows. */
static int map_set(struct pid_map *m, pid_t pid, struct mp_image *img)
{
    if ((m->n + 1) * 2 > m->cap) {
        struct pid_map g = { .cap = m->cap ? m->cap * 2 : 64 };
        g.pids = calloc(g.cap, sizeof *g.pids);
        g.imgs = calloc(g.cap, sizeof *g.imgs);
        if (!g.pids || !g.imgs) {
            free(g.pids);
            free(g.imgs);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->pids[i] && m->imgs[i])
                map_put_raw(&g, m->pids[i], m->imgs[i]);
        free(m->pids);
        free(m->imgs);
        *m = g;
    }
    return map_put_raw(m, pid, img);
}

static void map_free(struct pid_map *m)
{
    free(m->pids);
    free(m->imgs);
    memset(m, 0, sizeof *m);
}

struct mp_image *mp_session_image_of(struct mp_session *s, pid_t pid)
{
    return map_get(&s->sup_map, pid);
}

/* ---- commands ---- */

char **mp_copy_command(char *const *argv)
{
    size_t n = 0, bytes = 0;
    while (argv && argv[n])
        bytes += strlen(argv[n++]) + 1;
    char **v = malloc((n + 1) * sizeof *v + bytes);
    if (!v)
        return NULL;
    char *o = (char *)(v + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(argv[i]) + 1;
        memcpy(o, argv[i], len);
        v[i] = o;
        o += len;
    }
    v[n] = NULL;
    return v;
}

char **mp_process_command(pid_t pid)
{
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "re");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    if (n == 0)
        n = (size_t)snprintf(buf, sizeof buf, "[pid %d]", (int)pid) + 1;
    buf[n] = '\0';
    char *argv[256];
    size_t argc = 0;
    for (size_t i = 0; i < n && argc + 1 < sizeof argv / sizeof *argv; i += strlen(buf + i) + 1)
        argv[argc++] = buf + i;
    argv[argc] = NULL;
    return mp_copy_command(argv);
}

/* ---- images ---- */

static int resolve_frames(void *ctx, uint64_t pc, int is_return, struct mp_frame_info *out, int max);

struct mp_image *mp_session_new_image(struct mp_session *s, pid_t pid, struct mp_image *parent,
                                      struct mp_image *exec_of)
{
    if (s->n_images == s->cap_images) {
        size_t cap = s->cap_images ? s->cap_images * 2 : 16;
        struct mp_image **g = realloc(s->images, cap * sizeof *g);
        if (!g)
            return NULL;
        s->images = g;
        s->cap_images = cap;
    }
    struct mp_image *img = calloc(1, sizeof *img);
    if (!img)
        return NULL;
    img->profile = mp_profile_new(resolve_frames, img);
    if (!img->profile) {
        free(img);
        return NULL;
    }
    img->session = s;
    img->seq = (unsigned)s->n_images;
    img->pid = pid;
    img->parent = parent;
    img->exec_of = exec_of;
    img->engine = "none";
    img->start_s = (double)(mp_monotonic_ns() - s->start_ns) / 1e9;
    s->images[s->n_images++] = img;
    map_set(&s->sup_map, pid, img);
    return img;
}

enum control_kind { CTL_START, CTL_EXITING, CTL_END, CTL_MARK };
struct control { enum control_kind kind; struct mp_image *img; };

static uint64_t post(struct mp_session *s, enum control_kind kind, struct mp_image *img)
{
    struct control *c = malloc(sizeof *c);
    if (!c)
        return 0;
    c->kind = kind;
    c->img = img;
    return mp_ring_reader_post_control(s->ring, c);
}

void mp_session_start_image(struct mp_session *s, struct mp_image *img)
{
    post(s, CTL_START, img);
}

uint64_t mp_session_post_exiting(struct mp_session *s, struct mp_image *img)
{
    return post(s, CTL_EXITING, img);
}

void mp_session_post_end(struct mp_session *s, struct mp_image *img)
{
    post(s, CTL_END, img);
}

uint64_t mp_session_post_mark(struct mp_session *s, struct mp_image *img)
{
    return post(s, CTL_MARK, img);
}

/* ---- the reader thread's side ---- */

/* A symbolizer and the images that use it: the one it was opened for, and
 * the fork children that share that image's address space. */
struct mp_sym_share {
    struct mp_symbolizer *s;
    pid_t pid;
    int refs;
};

/* The image's map saved at its exit stop, or NULL (not there yet; asked
 * once /proc/PID/maps is gone, which is after that stop, so there then
 * unless the process died without one: SIGKILL). */
static const char *saved_maps(void *ctx)
{
    struct mp_image *img = ctx;
    return atomic_load_explicit(&img->maps_saved, memory_order_acquire) ? img->saved_maps : NULL;
}

static struct mp_sym_cache *shared_frames;

static struct mp_sym_share *share_open(struct mp_image *owner, char *err, size_t errlen)
{
    struct mp_sym_share *sh = calloc(1, sizeof *sh);
    if (!sh)
        return NULL;
    if (!(sh->s = mp_symbolizer_open_saved(owner->pid, saved_maps, owner, err, errlen))) {
        free(sh);
        return NULL;
    }
    mp_symbolizer_share(sh->s, shared_frames);
    sh->pid = owner->pid;
    sh->refs = 1;
    return sh;
}

static void copy_warnings(struct mp_image *img, struct mp_symbolizer *sym)
{
    const char *const *w;
    size_t n = mp_symbolizer_warnings(sym, &w);
    if (!n)
        return;
    char **g = realloc(img->sym_warnings, (img->n_sym_warnings + n) * sizeof *g);
    if (!g)
        return;
    img->sym_warnings = g;
    for (size_t i = 0; i < n; i++) {
        int dup = 0;
        for (size_t k = 0; k < img->n_sym_warnings && !dup; k++)
            dup = strcmp(img->sym_warnings[k], w[i]) == 0;
        if (!dup && (img->sym_warnings[img->n_sym_warnings] = strdup(w[i])))
            img->n_sym_warnings++;
    }
}

/* The image's stacks are all resolved: keep the warnings, free libdw's
 * state (a shared symbolizer when its last image is done). */
static void close_symbolizer(struct mp_image *img)
{
    if (img->sym) {
        copy_warnings(img, img->sym->s);
        if (--img->sym->refs == 0) {
            mp_symbolizer_close(img->sym->s);
            free(img->sym);
        }
        img->sym = NULL;
    }
    if (img->own_sym) {
        copy_warnings(img, img->own_sym);
        mp_symbolizer_close(img->own_sym);
        img->own_sym = NULL;
    }
}

static int unknown_frames(struct mp_frame_info *out, int max)
{
    static char unknown_fn[] = "[unknown]";
    if (max < 1)
        return 0;
    memset(out, 0, sizeof *out);
    out->function = unknown_fn;
    out->module = unknown_fn;
    return 1;
}

/* The symbolizer for the image (reader thread): opened when its first
 * stack needs it, for the process; a fork child uses its parent's. */
static struct mp_symbolizer *image_symbolizer(struct mp_image *img)
{
    if (!img->sym && !img->sym_tried) {
        img->sym_tried = 1;
        img->sym = share_open(img, img->sym_error, sizeof img->sym_error);
    }
    return img->sym ? img->sym->s : NULL;
}

static int resolve_frames(void *ctx, uint64_t pc, int is_return, struct mp_frame_info *out, int max)
{
    struct mp_image *img = ctx;
    if (mp_is_pyframe(pc)) /* only the image that has the Python channel has them */
        return mp_py_session_resolve(img->session->python, pc, out, max);
    if (!image_symbolizer(img))
        return unknown_frames(out, max);
    int n = mp_symbolizer_resolve(img->sym->s, pc, is_return, out, max);
    if (img->sym->pid == img->pid || n < 1 || strcmp(out[0].module, "[unknown]") != 0)
        return n;
    /* not in the parent's modules: something this child mapped itself */
    if (!img->own_sym && !img->own_sym_tried) {
        char err[256];
        img->own_sym_tried = 1;
        img->own_sym = mp_symbolizer_open_saved(img->pid, saved_maps, img, err, sizeof err);
        mp_symbolizer_share(img->own_sym, shared_frames);
    }
    return img->own_sym ? mp_symbolizer_resolve(img->own_sym, pc, is_return, out, max) : n;
}

/* A fork child's image starts: it shares its parent's symbolizer (opened now
 * for the parent if it has none yet: the parent still exists, its exit is
 * held until this message is handled). */
static void share_with_parent(struct mp_image *img)
{
    struct mp_image *p = img->parent;
    if (!img->forked || !p || p->placeholder)
        return;
    if (!p->sym && !p->sym_tried && !p->reader_done) {
        p->sym_tried = 1;
        p->sym = share_open(p, p->sym_error, sizeof p->sym_error);
    }
    if (p->sym) {
        img->sym = p->sym;
        img->sym->refs++;
        img->sym_tried = 1;
    }
}

static void forget_code(void *ctx, uint64_t lo, uint64_t hi)
{
    struct mp_image *img = ctx;
    mp_profile_forget_code(img->profile, lo, hi);
}

/* A library of the image's process was closed (reader thread): addresses
 * of code unmapped since may be other code from now on.  Its own
 * symbolizer reads the map again and forgets what it knew there; one it
 * shares with its parent (a fork child) is left to the parent: the child
 * opens its own, and everything it resolved is resolved again. */
static void modules_changed(struct mp_image *img)
{
    if (img->sym && img->sym->pid == img->pid) {
        mp_symbolizer_modules_changed(img->sym->s, forget_code, img);
    } else if (img->sym) {
        if (--img->sym->refs == 0) {
            mp_symbolizer_close(img->sym->s);
            free(img->sym);
        }
        img->sym = NULL;
        img->sym_tried = 0;
        mp_profile_forget_code(img->profile, 0, UINT64_MAX);
    }
    if (img->own_sym)
        mp_symbolizer_modules_changed(img->own_sym, forget_code, img);
}

/* An agent found CPython in img's process and has the channel: answer it
 * (an earlier owner's code objects are forgotten: ids are per process). */
static void python_start(struct mp_session *s, struct mp_image *img, const struct mp_event *ev)
{
    if (s->python_image && s->python_image != img)
        mp_py_session_reset(s->python);
    s->python_image = img;
    if (s->python_notes_seq == (unsigned)-1)
        s->python_notes_seq = img->seq;
    if (s->python_lines && s->line_image_seq == (unsigned)-1)
        s->line_image_seq = img->seq;
    mp_py_session_start(s->python, img->pid, ev, image_symbolizer(img)); /* (its debug information) */
}

/* The image that had the channel is done: another interpreter may take it. */
static void python_release(struct mp_session *s, struct mp_image *img)
{
    if (img != s->python_image)
        return;
    s->python_image = NULL;
    atomic_store(&mp_ring_reader_py_channel(s->ring)->state, MP_PY_IDLE);
}

/* Python's events: 1 when ev was one. */
static int python_event(struct mp_session *s, struct mp_image *img, const struct mp_event *ev)
{
    switch (ev->kind) {
    case MP_EV_PYSTART:
        /* the agent asks only once it has the channel (IDLE -> REQUESTED):
         * anything else is a record the target wrote over (ring.h, Trust) */
        if (atomic_load(&mp_ring_reader_py_channel(s->ring)->state) == MP_PY_REQUESTED)
            python_start(s, img, ev);
        return 1;
    case MP_EV_PYCODE:
        if (img == s->python_image && mp_py_session_code(s->python, ev) && s->python_lines && s->lines)
            mp_line_profile_refresh(s->lines);
        return 1;
    case MP_EV_LINE:
        if (!s->python_lines)
            return 0;
        if (s->lines && img == s->python_image && img->seq == s->line_image_seq) {
            struct mp_event line = *ev;
            if (mp_py_session_line_event(s->python, &line) == 0)
                mp_line_profile_add(s->lines, &line, mp_profile_totals(img->profile)->live_bytes);
        }
        return 1;
    default:
        return 0;
    }
}

static struct mp_image *reader_image(struct mp_session *s, uint32_t pid)
{
    if (s->last_hint && s->last_hint->pid == (pid_t)pid)
        return s->last_hint;
    struct mp_image *img = map_get(&s->reader_map, (pid_t)pid);
    if (img)
        s->last_hint = img;
    return img;
}

static void control_sink(void *ctx, void *message)
{
    struct mp_session *s = ctx;
    struct control *c = message;
    struct mp_image *img = c->img;
    s->last_hint = NULL;
    switch (c->kind) {
    case CTL_START:
        map_set(&s->reader_map, img->pid, img);
        share_with_parent(img);
        break;
    case CTL_EXITING: /* every record of it is in: nothing more to resolve */
        img->reader_done = 1;
        close_symbolizer(img);
        python_release(s, img);
        break;
    case CTL_END:
        img->reader_done = 1;
        close_symbolizer(img);
        python_release(s, img);
        if (map_get(&s->reader_map, img->pid) == img) {
            map_set(&s->reader_map, img->pid, NULL);
            mp_ring_reader_forget_stacks(s->ring, img->pid);
        }
        break;
    case CTL_MARK: /* a place in the ring (mp_session_post_mark): nothing to do */
        break;
    }
    free(c);
}

static void sink_event(void *ctx, const struct mp_event *ev)
{
    struct mp_session *s = ctx;
    struct mp_image *img = reader_image(s, ev->pid);
    if (!img) {
        if (ev->kind == MP_EV_PYSTART) /* nobody to profile it: its agent must not wait */
            atomic_store(&mp_ring_reader_py_channel(s->ring)->state, MP_PY_IDLE);
        if (ev->kind == MP_EV_LOST)
            s->lost_unknown += ev->size;
        else if (ev->kind == MP_EV_ALLOC || ev->kind == MP_EV_FREE)
            s->foreign_events++;
        return;
    }
    switch (ev->kind) {
    case MP_EV_AGENT:
        img->agent_started = 1;
        img->agent_bytes = ev->size;
        return;
    case MP_EV_LOST:
        img->events_lost += ev->size;
        return;
    case MP_EV_MODMAP:
        modules_changed(img);
        return;
    default:
        break;
    }
    if (ev->kind >= MP_EV_LINE && python_event(s, img, ev))
        return;
    if (img->quiet)
        return; /* --follow-only: followed for its children, not profiled */
    if (ev->kind == MP_EV_SAMPLE || (ev->kind == MP_EV_LINE && ev->rss_bytes)) {
        if (!mp_session_timeline_reading(img, ev, s->opt->interval_ns))
            return; /* stale */
    } else if (mp_profile_add(img->profile, ev) != 0) {
        img->profile_errors++;
    }
    if (s->lines && img->seq == s->line_image_seq && (img->pid == s->top_pid || s->python_lines) &&
        (ev->kind == MP_EV_LINE || ev->kind == MP_EV_SAMPLE))
        mp_line_profile_add(s->lines, ev, mp_profile_totals(img->profile)->live_bytes);
}

static void hint_event(void *ctx, uint32_t pid, uint64_t addr)
{
    struct mp_session *s = ctx;
    struct mp_image *img = reader_image(s, pid);
    if (img)
        mp_profile_prefetch(img->profile, addr);
}

/* ---- set up and finish ---- */

int mp_session_init(struct mp_session *s, const struct mp_options *opt, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->opt = opt;
    s->line_image_seq = (unsigned)-1;
    s->python_notes_seq = (unsigned)-1;
    s->frames = shared_frames = mp_sym_cache_new(); /* NULL: each image resolves its own */
    s->ring = mp_ring_reader_create(MP_RING_DEFAULT_CAPACITY, err, errlen);
    if (!s->ring)
        return -1;
    mp_ring_reader_set_hint(s->ring, hint_event);
    mp_ring_reader_set_control_sink(s->ring, control_sink);
    if (mp_ring_reader_start(s->ring, sink_event, s) != 0) {
        snprintf(err, errlen, "cannot start the reader thread: %s", strerror(errno));
        return -1;
    }
    s->reader_running = 1;
    return 0;
}

void mp_session_finish(struct mp_session *s, const struct mp_run_result *result)
{
    mp_rss_sampler_total_peak(s->sampler, &s->total_peak);
    mp_rss_sampler_stop(s->sampler);
    s->sampler = NULL;
    if (s->reader_running) {
        mp_ring_reader_stop(s->ring, NULL); /* what it skips arrives as MP_EV_LOST */
        s->reader_running = 0;
    }
    mp_ring_reader_close(s->ring);
    /* the target's last image ends with the target */
    struct mp_image *top = mp_session_image_of(s, s->top_pid);
    if (top && top->end == MP_IMAGE_RUNNING) {
        top->end = result->detached ? MP_IMAGE_LET_GO : MP_IMAGE_EXITED;
        top->exit_code = result->exit_code;
        top->signal = result->signal;
        if (result->peak_rss_bytes > top->vmhwm)
            top->vmhwm = result->peak_rss_bytes;
        top->end_s = result->wall_seconds;
    }
    for (size_t i = 0; i < s->n_images; i++) {
        struct mp_image *img = s->images[i];
        mp_session_drop_engine(s, img);
        close_symbolizer(img);
    }
    if (s->lines) {
        struct mp_image *li = s->line_image_seq < s->n_images ? s->images[s->line_image_seq] : NULL;
        mp_line_profile_finish(s->lines, li ? mp_profile_totals(li->profile)->live_bytes : 0);
    }
}

void mp_session_free(struct mp_session *s)
{
    mp_rss_sampler_stop(s->sampler);
    mp_ring_reader_destroy(s->ring); /* stops the reader first */
    for (size_t i = 0; i < s->n_images; i++) {
        struct mp_image *img = s->images[i];
        mp_bpengine_free(img->bp);
        close_symbolizer(img);
        for (size_t k = 0; k < img->n_sym_warnings; k++)
            free(img->sym_warnings[k]);
        free(img->sym_warnings);
        mp_profile_free(img->profile);
        free(img->command);
        free(img->saved_maps);
        free(img);
    }
    free(s->images);
    map_free(&s->sup_map);
    map_free(&s->reader_map);
    mp_sym_cache_free(s->frames);
    shared_frames = NULL;
    mp_line_profile_free(s->lines);
    mp_linemode_free(s->linemode);
    mp_py_remote_free(s->python_remote);
    mp_py_session_free(s->python);
    memset(s, 0, sizeof *s);
}
