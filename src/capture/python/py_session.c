/* memprof: a CPython target, on memprof's side (see py_session.h). */
#define _GNU_SOURCE
#include "py_session.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/count.h"
#include "events/py_channel.h"
#include "py_layout.h"
#include "supervise/procfs.h"
#include "symbols/py_linetable.h"
#include "symbols/symbolizer.h"

struct py_code {
    char *file, *qualname;
    int first_line, last_line;
    uint8_t *linetable;
    uint32_t linetable_len;
    int32_t func;           /* line mode: its function in the map, or -1 */
};

struct func_extra {
    uint32_t first_point;   /* its rows' points: first_point + line - first_line */
};

struct mp_py_session {
    struct mp_py_channel *channel;
    pthread_mutex_t lock;   /* the codes: memprof -p adds them on the supervisor's thread */
    struct py_code *codes;  /* by id - 1 */
    size_t n_codes, cap_codes;
    char cwd[PATH_MAX];     /* the target's, for relative file names */
    char interpreter[PATH_MAX];
    char stdlib[PATH_MAX];  /* where "<frozen NAME>" modules' sources are */
    uint32_t version;
    int seen, layout_source, unsupported;
    int attached;           /* memprof -p: the breakpoint engine, no agent */
    char layout_problem[256];
    /* line mode */
    char **patterns;
    size_t n_patterns;
    uint32_t pattern_matched; /* bit i: pattern i matched a code object (first 32) */
    struct mp_lm_func *funcs;
    struct func_extra *extra;
    size_t n_funcs, cap_funcs;
    struct mp_lm_point *points;
    size_t n_points, cap_points;
    struct mp_lm_map map;
    /* notes */
    char notes[8][320];
    size_t n_notes;
};

struct mp_py_session *mp_py_session_new(struct mp_py_channel *channel)
{
    struct mp_py_session *s = calloc(1, sizeof *s);
    if (s) {
        s->channel = channel;
        pthread_mutex_init(&s->lock, NULL);
    }
    return s;
}

static void free_codes(struct mp_py_session *s)
{
    for (size_t i = 0; i < s->n_codes; i++) {
        free(s->codes[i].file);
        free(s->codes[i].qualname);
        free(s->codes[i].linetable);
    }
    s->n_codes = 0;
}

void mp_py_session_free(struct mp_py_session *s)
{
    if (!s)
        return;
    free_codes(s);
    free(s->codes);
    for (size_t i = 0; i < s->n_funcs; i++) {
        free((char *)s->funcs[i].name);
        free((char *)s->funcs[i].file);
    }
    for (size_t i = 0; i < s->n_patterns; i++)
        free(s->patterns[i]);
    free(s->patterns);
    free(s->funcs);
    free(s->extra);
    free(s->points);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int mp_py_session_set_patterns(struct mp_py_session *s, const char *const *patterns, size_t n, char *err,
                               size_t errlen)
{
    size_t used = 0;
    s->patterns = calloc(n ? n : 1, sizeof *s->patterns);
    if (!s->patterns) {
        snprintf(err, errlen, "memprof: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(patterns[i]);
        if (n > 255 || used + len + 2 > MP_PY_PATTERNS_MAX || strchr(patterns[i], '\n')) {
            snprintf(err, errlen, "memprof: too many or too long Python --function patterns (%d bytes, 255 "
                     "patterns at most)", MP_PY_PATTERNS_MAX - 1);
            return -1;
        }
        memcpy(s->channel->patterns + used, patterns[i], len);
        s->channel->patterns[used + len] = '\n';
        used += len + 1;
        s->patterns[s->n_patterns++] = strdup(patterns[i]);
    }
    s->channel->patterns[used] = '\0';
    return 0;
}

void mp_py_session_reset(struct mp_py_session *s)
{
    pthread_mutex_lock(&s->lock);
    free_codes(s);
    pthread_mutex_unlock(&s->lock);
}

/* ---- the layout ---- */

/* The standard library beside the interpreter: PREFIX/bin/pythonX.Y ->
 * PREFIX/lib/pythonX.Y. */
static void find_stdlib(struct mp_py_session *s)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", s->interpreter);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return;
    *slash = '\0';
    slash = strrchr(dir, '/'); /* .../bin or .../lib */
    if (!slash)
        return;
    *slash = '\0';
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/lib/python%u.%u", dir, s->version >> 24, (s->version >> 16) & 0xff);
    if (access(path, R_OK) == 0 && strlen(path) < sizeof s->stdlib)
        snprintf(s->stdlib, sizeof s->stdlib, "%s", path);
}

int mp_py_session_layout(struct mp_py_session *s, pid_t pid, uint64_t runtime, uint32_t version,
                         struct mp_symbolizer *sym, struct mp_py_layout *layout)
{
    s->seen = 1;
    s->version = version;
    s->unsupported = 0;
    s->layout_problem[0] = '\0';
    char link[64];
    snprintf(link, sizeof link, "/proc/%d/cwd", (int)pid);
    ssize_t n = readlink(link, s->cwd, sizeof s->cwd - 1);
    s->cwd[n > 0 ? n : 0] = '\0';
    if (mp_proc_mapped_file(pid, runtime, s->interpreter, sizeof s->interpreter) != 0)
        s->interpreter[0] = '\0';
    find_stdlib(s);
    uint32_t minor = s->version >> 16;
    int known = minor == 0x030b || minor == 0x030c; /* line tables and frame chains memprof reads */
    /* MEMPROF_PYTHON_LAYOUT=builtin skips the debug information, =none reads
     * no Python frames (what an unknown version gets). */
    const char *force = getenv("MEMPROF_PYTHON_LAYOUT");
    int use_dwarf = !force || strcmp(force, "builtin") != 0;
    if (force && strcmp(force, "none") == 0)
        known = 0;
    int rc = -1;
    if (known && use_dwarf && sym)
        rc = mp_py_layout_from_dwarf(mp_symbolizer_dwarf(sym, runtime, NULL), s->version, layout,
                                     s->layout_problem, sizeof s->layout_problem);
    else if (known && use_dwarf && s->interpreter[0])
        rc = mp_py_layout_dwarf(s->interpreter, s->version, layout, s->layout_problem, sizeof s->layout_problem);
    if (rc == 0) {
        s->layout_source = 1;
    } else if (known && mp_py_layout_builtin(s->version, layout) == 0) {
        s->layout_source = 2;
    } else {
        s->unsupported = 1;
        return -1;
    }
    return 0;
}

void mp_py_session_start(struct mp_py_session *s, pid_t pid, const struct mp_event *ev, struct mp_symbolizer *sym)
{
    struct mp_py_channel *ch = s->channel;
    struct mp_py_layout layout;
    if (mp_py_session_layout(s, pid, ev->addr, (uint32_t)ev->size, sym, &layout) != 0) {
        atomic_store_explicit(&ch->state, MP_PY_UNSUPPORTED, memory_order_release);
        return;
    }
    ch->layout = layout;
    ch->layout_source = (uint32_t)s->layout_source;
    atomic_store_explicit(&ch->state, MP_PY_ANSWERED, memory_order_release);
}

void mp_py_session_attached(struct mp_py_session *s)
{
    s->attached = 1;
}

/* ---- code objects ---- */

/* "<frozen os.path>" -> STDLIB/os/path.py when that file exists. */
static char *frozen_source(const struct mp_py_session *s, const char *name, size_t len)
{
    if (!s->stdlib[0] || len < 10 || strncmp(name, "<frozen ", 8) != 0 || name[len - 1] != '>')
        return NULL;
    char module[256];
    size_t m = len - 9;
    if (m >= sizeof module)
        return NULL;
    memcpy(module, name + 8, m);
    module[m] = '\0';
    for (char *c = module; *c; c++)
        if (*c == '.')
            *c = '/';
    char path[PATH_MAX + 300];
    snprintf(path, sizeof path, "%s/%s.py", s->stdlib, module);
    if (access(path, R_OK) != 0)
        snprintf(path, sizeof path, "%s/%s/__init__.py", s->stdlib, module);
    return access(path, R_OK) == 0 ? strdup(path) : NULL;
}

/* The file name as memprof shows it: absolute, a frozen module's source. */
static char *file_name(const struct mp_py_session *s, const char *name, size_t len)
{
    char *frozen = frozen_source(s, name, len);
    if (frozen)
        return frozen;
    if (len && name[0] != '/' && name[0] != '<' && s->cwd[0]) {
        char *joined;
        if (asprintf(&joined, "%s/%.*s", s->cwd, (int)len, name) < 0)
            return NULL;
        return joined;
    }
    return strndup(name, len);
}

/* The map's function for a target code object (the same file, name and
 * first line share one: a module imported twice). */
static int32_t target_func(struct mp_py_session *s, const struct py_code *c, int *added)
{
    for (size_t i = 0; i < s->n_funcs; i++)
        if (s->funcs[i].first_line == c->first_line && strcmp(s->funcs[i].file, c->file) == 0 &&
            strcmp(s->funcs[i].name, c->qualname) == 0)
            return (int32_t)i;
    if (c->first_line <= 0 || c->last_line < c->first_line || c->last_line - c->first_line > 1000000)
        return -1;
    size_t rows = (size_t)(c->last_line - c->first_line + 1);
    if (s->n_funcs == s->cap_funcs) {
        size_t cap = s->cap_funcs ? s->cap_funcs * 2 : 8;
        struct mp_lm_func *f = realloc(s->funcs, cap * sizeof *f);
        if (f)
            s->funcs = f;
        struct func_extra *x = realloc(s->extra, cap * sizeof *x);
        if (x)
            s->extra = x;
        if (!f || !x)
            return -1;
        s->cap_funcs = cap;
    }
    if (s->n_points + rows > s->cap_points) {
        size_t cap = s->cap_points ? s->cap_points : 64;
        while (cap < s->n_points + rows)
            cap *= 2;
        struct mp_lm_point *p = realloc(s->points, cap * sizeof *p);
        if (!p)
            return -1;
        s->points = p;
        s->cap_points = cap;
    }
    char *name = strdup(c->qualname), *file = strdup(c->file);
    if (!name || !file) {
        free(name);
        free(file);
        return -1;
    }
    uint32_t f = (uint32_t)s->n_funcs++;
    s->funcs[f] = (struct mp_lm_func){ name, file, c->first_line, c->last_line, c->last_line };
    s->extra[f].first_point = (uint32_t)s->n_points;
    for (size_t r = 0; r < rows; r++, s->n_points++)
        s->points[s->n_points] = (struct mp_lm_point){ .addr = s->n_points, .func = f,
                                                        .line = c->first_line + (int)r };
    s->map.funcs = s->funcs;
    s->map.n_funcs = s->n_funcs;
    s->map.points = s->points;
    s->map.n_points = s->n_points;
    *added = 1;
    return (int32_t)f;
}

static int add_code(struct mp_py_session *s, const struct mp_event *ev);
static int resolve_locked(struct mp_py_session *s, uint64_t frame, struct mp_frame_info *out);

int mp_py_session_code(struct mp_py_session *s, const struct mp_event *ev)
{
    pthread_mutex_lock(&s->lock);
    int added = add_code(s, ev);
    pthread_mutex_unlock(&s->lock);
    return added;
}

static int add_code(struct mp_py_session *s, const struct mp_event *ev)
{
    struct mp_py_code_head head;
    if (ev->payload_len < sizeof head)
        return 0;
    memcpy(&head, ev->payload, sizeof head);
    uint64_t need = (uint64_t)sizeof head + head.filename_len + head.qualname_len + head.linetable_len;
    if (head.id == 0 || head.id > MP_PYFRAME_MAX_CODE_ID || need != ev->payload_len)
        return 0;
    if (head.id > s->cap_codes) {
        size_t cap = s->cap_codes ? s->cap_codes : 256;
        while (cap < head.id)
            cap *= 2;
        struct py_code *grown = realloc(s->codes, cap * sizeof *grown);
        if (!grown)
            return 0;
        s->codes = grown;
        s->cap_codes = cap;
    }
    while (s->n_codes < head.id)
        memset(&s->codes[s->n_codes++], 0, sizeof *s->codes);
    struct py_code *c = &s->codes[head.id - 1];
    if (c->file)
        return 0; /* described twice: keep the first */
    const char *p = (const char *)ev->payload + sizeof head;
    c->file = file_name(s, p, head.filename_len);
    c->qualname = strndup(p + head.filename_len, head.qualname_len);
    c->linetable = malloc(head.linetable_len ? head.linetable_len : 1);
    if (!c->file || !c->qualname || !c->linetable) {
        free(c->file);
        free(c->qualname);
        free(c->linetable);
        memset(c, 0, sizeof *c);
        return 0;
    }
    memcpy(c->linetable, p + head.filename_len + head.qualname_len, head.linetable_len);
    c->linetable_len = head.linetable_len;
    c->first_line = head.first_line;
    c->last_line = mp_py_last_line(c->linetable, c->linetable_len, c->first_line);
    c->func = -1;
    int added = 0;
    if (head.flags & MP_PYCODE_TARGET) {
        uint32_t pattern = (head.flags >> 8) & 0xff;
        if (pattern < 32)
            s->pattern_matched |= 1u << pattern;
        c->func = target_func(s, c, &added);
    }
    return added;
}

int mp_py_session_resolve(struct mp_py_session *s, uint64_t frame, struct mp_frame_info *out, int max)
{
    if (max < 1)
        return 0;
    pthread_mutex_lock(&s->lock);
    int n = resolve_locked(s, frame, out);
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* The strings stay valid after the lock: descriptions are only freed at
 * reset (a new image, after the profile forgot its stacks) or free. */
static int resolve_locked(struct mp_py_session *s, uint64_t frame, struct mp_frame_info *out)
{
    uint32_t id = mp_pyframe_code(frame);
    memset(out, 0, sizeof *out);
    out->module = s->interpreter[0] ? s->interpreter : "[python]";
    if (id == 0 || id > s->n_codes || !s->codes[id - 1].file) {
        out->function = "[unknown Python code]";
        return 1;
    }
    const struct py_code *c = &s->codes[id - 1];
    int line = mp_py_line_at(c->linetable, c->linetable_len, c->first_line, mp_pyframe_instr(frame));
    out->function = c->qualname;
    out->file = c->file;
    out->line = line > 0 ? line : 0;
    out->func_file = c->file;
    out->func_first_line = c->first_line;
    out->func_last_line = c->last_line;
    return 1;
}

/* ---- line mode ---- */

const struct mp_lm_map *mp_py_session_map(const struct mp_py_session *s)
{
    return &s->map;
}

int mp_py_session_line_event(struct mp_py_session *s, struct mp_event *ev)
{
    unsigned kind = mp_py_line_event_kind(ev->addr);
    uint32_t depth = mp_py_line_event_depth(ev->addr);
    if (kind == MP_LM_EV_EXIT) {
        ev->addr = mp_lm_event_id(MP_LM_EV_EXIT, depth, MP_LM_NO_FUNC);
        return 0;
    }
    uint32_t id = mp_py_line_event_code(ev->addr);
    int line = (int)mp_py_line_event_line(ev->addr);
    if (id == 0 || id > s->n_codes || s->codes[id - 1].func < 0 || !s->codes[id - 1].file)
        return -1;
    uint32_t f = (uint32_t)s->codes[id - 1].func;
    const struct mp_lm_func *fn = &s->funcs[f];
    if (line < fn->first_line || line > fn->last_line)
        return -1;
    ev->addr = mp_lm_event_id((enum mp_lm_event_kind)kind, depth,
                              s->extra[f].first_point + (uint32_t)(line - fn->first_line));
    return 0;
}

/* ---- notes ---- */

int mp_py_session_seen(const struct mp_py_session *s)
{
    return s->seen;
}

__attribute__((format(printf, 2, 3))) static void note(struct mp_py_session *s, const char *fmt, ...)
{
    if (s->n_notes == sizeof s->notes / sizeof *s->notes)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->notes[s->n_notes++], sizeof *s->notes, fmt, ap);
    va_end(ap);
}

/* The notes of what the agent counted in the channel. */
static void agent_count_notes(struct mp_py_session *s, struct mp_py_channel *ch, uint64_t pycode_broken,
                              uint64_t records_bound)
{
    char n[32], limit[32];
    uint64_t over = atomic_load(&ch->codes_over_limit), unreadable = atomic_load(&ch->unreadable_names);
    if (over)
        note(s, "%s Python code objects came after the first %s: their frames are left out of the stacks",
             MP_COUNT_STR(n, over), MP_COUNT_STR(limit, MP_PYFRAME_MAX_CODE_ID));
    if (unreadable)
        note(s, "%s Python file or function names could not be read without calling Python: shown as "
                "<unknown>", MP_COUNT_STR(n, unreadable));
    uint64_t frame_faults = atomic_load(&ch->frame_faults); /* one per record at most */
    if (frame_faults && frame_faults <= records_bound)
        note(s, "%s Python call stacks were cut short: a Python frame led to memory that is not there (the "
                "program wrote over it), so those allocations are charged to the frames read before it",
             MP_COUNT_STR(n, frame_faults));
    uint32_t replaced = atomic_load(&ch->hooks_replaced);
    if (replaced == 1)
        note(s, "Python replaced its allocator while starting (PYTHONMALLOC): memprof wrapped it again; blocks "
                "allocated in between show up as frees of blocks never seen allocated");
    else if (replaced == 2)
        note(s, "Python's debug allocator (-X dev, PYTHONMALLOC=debug) replaced memprof's wrap while Python "
                "started: memprof wrapped it again, but blocks allocated in between are counted at other "
                "addresses (frees never seen allocated, blocks never freed): run without it for exact numbers");
    if (pycode_broken)
        note(s, "%s Python code descriptions arrived incomplete: their frames show as [unknown Python code]",
             MP_COUNT_STR(n, pycode_broken));
    uint64_t conflicts = atomic_load(&ch->trace_conflicts);
    if (conflicts)
        note(s, "line mode: %s calls of the --function targets were not traced: their thread had a trace "
                "function of its own (a debugger, coverage)", MP_COUNT_STR(n, conflicts));
}

size_t mp_py_session_notes(struct mp_py_session *s, uint64_t pycode_broken, uint64_t records_bound,
                           const char **out, size_t max)
{
    struct mp_py_channel *ch = s->channel;
    char version[32];
    mp_py_version_text(s->version, version, sizeof version);
    s->n_notes = 0;
    if (s->seen && s->unsupported)
        note(s, "CPython %s (%s): memprof reads the Python frames of 3.11 and 3.12 only; allocations carry "
                "native frames", s->version ? version : "before 3.11", s->interpreter[0] ? s->interpreter : "?");
    else if (s->seen && atomic_load(&ch->layout_mismatch))
        note(s, "CPython %s: the %s layout does not fit this interpreter's objects (a build of its own?): "
                "allocations carry native frames; its debug information would give the right one", version,
             s->layout_source == 1 ? "debug information's" : "built-in");
    else if (s->seen && s->layout_problem[0] && s->layout_source == 2)
        note(s, "CPython %s: its debug information was not usable (%s); Python frames were read with memprof's "
                "built-in layout", version, s->layout_problem);
    if (s->seen && s->attached && !s->unsupported)
        note(s, "attached to CPython %s: memprof -p sees its mallocs (large objects included, with their Python "
                "lines), not the small objects of its own allocator (pymalloc): run the program under memprof for "
                "those", version);
    /* The agent's counts live in the channel, the target's memory: only an
     * interpreter that asked for a layout writes them (a program that wrote
     * over the ring gets the ring's damage note, not Python's). */
    if (s->seen)
        agent_count_notes(s, ch, pycode_broken, records_bound);
    for (size_t i = 0; i < s->n_patterns && i < 32; i++)
        if (!(s->pattern_matched & (1u << i)))
            note(s, "--function %s: no Python function of that name ran", s->patterns[i]);
    size_t n = s->n_notes < max ? s->n_notes : max;
    for (size_t i = 0; i < n; i++)
        out[i] = s->notes[i];
    return n;
}
