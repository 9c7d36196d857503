/* memprof agent: line mode for Python (--function FILE.py:NAME), the
 * numbers of memory_profiler's @profile without the decorator.
 *
 * Mechanism.  At the first audit event (the interpreter exists, the GIL is
 * held, no allocation is in progress: agent_python.c) the agent routes frame
 * evaluation through its own function (PEP 523,
 * _PyInterpreterState_SetEvalFrameFunc).  That function looks the frame's
 * code object up in the agent's table (a per-thread cache hit for all but
 * the first call of each code object) and, for a code object matching a
 * pattern (a "target"), turns on a C trace function for the thread
 * (PyEval_SetTrace) while the target runs, then turns it off again.  Code
 * that never runs under a target is never traced: the cost outside the
 * targets is the lookup per Python call and the loss of 3.11's inlined
 * Python-to-Python calls; inside, a line event per line of the target and
 * of what it calls.
 *
 * Events.  Each target frame posts MP_REC_LINE records like the native line
 * mode's: ENTRY (its definition line) when it starts, LINE for each line
 * event of the target itself, EXIT when it returns or yields, each with the
 * depth of target frames open on the thread and the RSS of that moment
 * (/proc/self/statm); the heap level comes from their place among the
 * allocation records.  An event names the code object's id and the line
 * (mp_py_line_event); memprof maps them to the rows of its tables
 * (capture/python).
 *
 * A thread that has a trace function of its own (a debugger, coverage) is
 * left alone: its target calls are counted in the channel, not traced. */
#define _GNU_SOURCE
#include "agent_python.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "events/line_events.h"

typedef void *(*eval_frame_fn)(void *tstate, void *frame, int throwflag);
typedef int (*trace_fn)(void *obj, void *frame_object, int what, void *arg);
#define PYTRACE_LINE 2

static eval_frame_fn default_eval;
static void (*set_trace)(trace_fn fn, void *obj);
static int (*frame_line)(void *frame_object);
static int statm_fd = -1;
static long page_size;

static __thread uint32_t target_depth __attribute__((tls_model("initial-exec"))); /* target frames open on this thread */
static __thread int tracing __attribute__((tls_model("initial-exec")));           /* our trace function is this thread's */

/* ---- patterns ---- */

#define MAX_PATTERNS 256
struct pattern {
    const char *file;  /* NULL: any file */
    size_t file_len;
    const char *name;
    size_t name_len;
};
static struct pattern patterns[MAX_PATTERNS];
static size_t n_patterns;

/* Glob match of text against pat ('*' and '?'), both with lengths. */
static int glob(const char *pat, size_t plen, const char *text, size_t tlen)
{
    size_t p = 0, t = 0, star_p = (size_t)-1, star_t = 0;
    while (t < tlen) {
        if (p < plen && (pat[p] == '?' || pat[p] == text[t])) {
            p++;
            t++;
        } else if (p < plen && pat[p] == '*') {
            star_p = p++;
            star_t = t;
        } else if (star_p != (size_t)-1) {
            p = star_p + 1;
            t = ++star_t;
        } else {
            return 0;
        }
    }
    while (p < plen && pat[p] == '*')
        p++;
    return p == plen;
}

static void parse_patterns(const char *text)
{
    while (*text && n_patterns < MAX_PATTERNS) {
        const char *end = strchr(text, '\n');
        if (!end)
            break;
        const char *colon = memrchr(text, ':', (size_t)(end - text));
        struct pattern *p = &patterns[n_patterns++];
        if (colon) {
            p->file = text;
            p->file_len = (size_t)(colon - text);
            p->name = colon + 1;
        } else {
            p->name = text;
        }
        p->name_len = (size_t)(end - p->name);
        text = end + 1;
    }
}

/* Not in a forked child, nor in an interpreter without the channel: its
 * code ids are not the ones memprof knows (agent_python_forked). */
static int enabled(void)
{
    return atomic_load_explicit(&agent_state, memory_order_acquire) == AGENT_ENABLED && agent_py_frames_on;
}

/* Called under the code table's lock (agent_pycode.c). */
int agent_pytrace_match(const char *file, size_t file_len, const char *qualname, size_t qualname_len)
{
    static int parsed;
    if (!parsed) {
        parse_patterns(agent_py.channel->patterns);
        parsed = 1;
    }
    const char *leaf = memrchr(qualname, '.', qualname_len);
    leaf = leaf ? leaf + 1 : qualname;
    size_t leaf_len = qualname_len - (size_t)(leaf - qualname);
    const char *base = memrchr(file, '/', file_len);
    base = base ? base + 1 : file;
    size_t base_len = file_len - (size_t)(base - file);
    for (size_t i = 0; i < n_patterns; i++) {
        const struct pattern *p = &patterns[i];
        if (!glob(p->name, p->name_len, qualname, qualname_len) && !glob(p->name, p->name_len, leaf, leaf_len))
            continue;
        if (p->file) {
            /* FILE.py matches the base name; a path with '/' the end of the path */
            int ok;
            if (memchr(p->file, '/', p->file_len)) {
                ok = glob(p->file, p->file_len, file, file_len);
                for (size_t k = 0; !ok && k < file_len; k++)
                    if (file[k] == '/')
                        ok = glob(p->file, p->file_len, file + k + 1, file_len - k - 1);
            } else {
                ok = glob(p->file, p->file_len, base, base_len);
            }
            if (!ok)
                continue;
        }
        return (int)i;
    }
    return -1;
}

/* ---- events ---- */

static uint64_t rss_now(void)
{
    char buf[64];
    ssize_t n = statm_fd >= 0 ? pread(statm_fd, buf, sizeof buf - 1, 0) : -1;
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *c = buf;
    while (*c && *c != ' ')
        c++;
    uint64_t pages = 0;
    for (c++; *c >= '0' && *c <= '9'; c++)
        pages = pages * 10 + (uint64_t)(*c - '0');
    return pages * (uint64_t)page_size;
}

static void post_line_event(uint64_t event_id)
{
    if (!enabled())
        return; /* a forked child: the ring is not its own */
    uint64_t pos;
    struct mp_ring_record *slot = agent_reserve_slot(&pos);
    if (!slot)
        return;
    slot->kind = MP_REC_LINE;
    slot->addr = event_id;
    slot->size = rss_now();
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec, start = agent_py.channel->start_ns;
    slot->frames[0] = ns > start ? ns - start : 0; /* the time line mode's spans are drawn with */
    slot->nframes = 1;
    slot->truncated = 0;
    agent_commit_slot(slot, pos);
}

/* The frame being evaluated on this thread: the one a trace event is for. */
static uintptr_t current_code(void)
{
    const struct mp_py_layout *L = &agent_py.layout;
    uintptr_t tstate = (uintptr_t)agent_py.this_thread_state();
    if (!tstate)
        return 0;
    uintptr_t cframe = *(const uintptr_t *)(tstate + (uintptr_t)L->tstate_cframe);
    uintptr_t frame = cframe ? *(const uintptr_t *)(cframe + (uintptr_t)L->cframe_current_frame) : 0;
    return frame ? *(const uintptr_t *)(frame + (uintptr_t)L->frame_code) : 0;
}

static int trace_function(void *obj, void *frame_object, int what, void *arg)
{
    (void)obj;
    (void)arg;
    if (what != PYTRACE_LINE || !target_depth || !enabled())
        return 0;
    uintptr_t code = current_code();
    struct agent_code c;
    if (!code || agent_code_get(code, 0, &c) != 0 || c.target < 0 || !c.id)
        return 0;
    int line = frame_line(frame_object);
    if (line > 0)
        post_line_event(mp_py_line_event(MP_LM_EV_LINE, target_depth, c.id, (uint32_t)line));
    return 0;
}

static void *eval_hook(void *tstate, void *frame, int throwflag)
{
    const struct mp_py_layout *L = &agent_py.layout;
    if (!enabled()) /* a forked child: the code table's lock may be a dead thread's */
        return default_eval(tstate, frame, throwflag);
    uintptr_t code = *(const uintptr_t *)((uintptr_t)frame + (uintptr_t)L->frame_code);
    struct agent_code c;
    if (!code || agent_code_get(code, 0, &c) != 0 || c.target < 0 || !c.id)
        return default_eval(tstate, frame, throwflag);
    if (target_depth == 0) {
        if (*(void *const *)((uintptr_t)tstate + (uintptr_t)L->tstate_c_tracefunc) != NULL) {
            atomic_fetch_add(&agent_py.channel->trace_conflicts, 1);
            return default_eval(tstate, frame, throwflag);
        }
        set_trace(trace_function, NULL);
        tracing = 1;
    }
    uint32_t depth = ++target_depth;
    int first_line = *(const int32_t *)(code + (uintptr_t)L->code_firstlineno);
    post_line_event(mp_py_line_event(MP_LM_EV_ENTRY, depth, c.id, (uint32_t)first_line));
    void *result = default_eval(tstate, frame, throwflag);
    post_line_event(mp_py_line_event(MP_LM_EV_EXIT, depth - 1, 0, 0));
    if (--target_depth == 0 && tracing) {
        /* the program may have set a trace function of its own meanwhile */
        if (*(void *const *)((uintptr_t)tstate + (uintptr_t)L->tstate_c_tracefunc) == (void *)trace_function)
            set_trace(NULL, NULL);
        tracing = 0;
    }
    return result;
}

void agent_pytrace_install(void)
{
    default_eval = (eval_frame_fn)dlsym(RTLD_DEFAULT, "_PyEval_EvalFrameDefault");
    set_trace = (void (*)(trace_fn, void *))dlsym(RTLD_DEFAULT, "PyEval_SetTrace");
    frame_line = (int (*)(void *))dlsym(RTLD_DEFAULT, "PyFrame_GetLineNumber");
    void *(*interp_get)(void) = (void *(*)(void))dlsym(RTLD_DEFAULT, "PyInterpreterState_Get");
    void (*set_eval)(void *, eval_frame_fn) =
        (void (*)(void *, eval_frame_fn))dlsym(RTLD_DEFAULT, "_PyInterpreterState_SetEvalFrameFunc");
    if (!default_eval || !set_trace || !frame_line || !interp_get || !set_eval || agent_py.layout.tstate_c_tracefunc < 0)
        return;
    page_size = sysconf(_SC_PAGESIZE);
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        /* out of the way of the low numbers the program may expect */
        statm_fd = fcntl(fd, F_DUPFD_CLOEXEC, 512);
        if (statm_fd < 0)
            statm_fd = fd;
        else
            close(fd);
    }
    set_eval(interp_get(), eval_hook);
}
