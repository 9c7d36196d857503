/* memprof agent: CPython targets.  Owns recognising the interpreter, asking
 * memprof for its frame layout, and wrapping its allocator.
 *
 * Recognition: from the constructor (every object relocated, main not yet
 * running), an executable or library exporting PyMem_SetAllocator (and
 * _PyRuntime since 3.7) is CPython; its version is Py_Version (3.11 and
 * later) or the text of Py_GetVersion().
 *
 * Layout: the agent posts MP_REC_PYSTART and waits (at most 30 s) for
 * memprof to answer in the ring's Python channel: a layout from the
 * interpreter's debug information or memprof's built-in table, or
 * "unsupported" (then allocations keep their native frames only).
 *
 * Allocator: the object and mem domains (pymalloc, which takes its arenas
 * from mmap, not malloc) are wrapped with PyMem_SetAllocator, tracemalloc's
 * own mechanism, before Py_Initialize: each call forwards to the allocator
 * that was there and is recorded like a malloc, with agent_busy set so the
 * raw mallocs pymalloc makes for large blocks count once.  The raw domain is
 * malloc itself, which the agent already sees.  An audit hook (added now,
 * called by the interpreter at its first audit event, outside any allocation
 * and with the GIL held) checks the wrap is still in place (PYTHONMALLOC=debug
 * or malloc replace the domains during pre-initialisation) and wraps again if
 * not; in line mode it also installs the frame-evaluation hook. */
#define _GNU_SOURCE
#include "agent_python.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct agent_py agent_py;
int agent_py_frames_on;

/* CPython's allocator API (Include/cpython/pymem.h, unchanged since 3.5). */
enum { PYMEM_DOMAIN_RAW = 0, PYMEM_DOMAIN_MEM = 1, PYMEM_DOMAIN_OBJ = 2 };
typedef struct {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr);
} py_allocator;

typedef int (*py_audit_hook)(const char *event, void *args, void *user_data);

static void (*py_get_allocator)(int domain, py_allocator *allocator);
static void (*py_set_allocator)(int domain, py_allocator *allocator);

/* The allocators the wraps forward to: the ctx of each wrap. */
struct wrapped_domain {
    py_allocator next;
    int is_object_domain;
};
static struct wrapped_domain wrapped_mem = { .is_object_domain = 0 };
static struct wrapped_domain wrapped_obj = { .is_object_domain = 1 };

#define unlikely_(x) __builtin_expect(!!(x), 0)

static inline int recording(void)
{
    return atomic_load_explicit(&agent_state, memory_order_acquire) == AGENT_ENABLED && !agent_busy;
}

/* ---- the wrap ---- */

static void *wrap_malloc(void *ctx, size_t size)
{
    struct wrapped_domain *d = ctx;
    if (!recording())
        return d->next.malloc(d->next.ctx, size);
    agent_busy = 1;
    void *p = d->next.malloc(d->next.ctx, size);
    if (p != NULL)
        agent_record_alloc(p, size);
    agent_busy = 0;
    return p;
}

static void *wrap_calloc(void *ctx, size_t nelem, size_t elsize)
{
    struct wrapped_domain *d = ctx;
    if (!recording())
        return d->next.calloc(d->next.ctx, nelem, elsize);
    agent_busy = 1;
    void *p = d->next.calloc(d->next.ctx, nelem, elsize);
    if (p != NULL)
        agent_record_alloc(p, nelem * elsize); /* success implies no overflow */
    agent_busy = 0;
    return p;
}

/* Python's realloc never frees on size 0: NULL means it failed and the old
 * block lives on. */
static void *wrap_realloc(void *ctx, void *ptr, size_t size)
{
    struct wrapped_domain *d = ctx;
    if (!recording())
        return d->next.realloc(d->next.ctx, ptr, size);
    agent_busy = 1;
    void *result;
    if (ptr == NULL) {
        result = d->next.realloc(d->next.ctx, NULL, size);
    } else {
        /* the Python line freeing the old block, found before its slot is
         * reserved (reading frames may describe a code object) */
        const void *site = agent_py_frames_on ? agent_py_free_site(__builtin_return_address(0))
                                              : __builtin_return_address(0);
        uint64_t free_pos = agent_reserve();
        result = d->next.realloc(d->next.ctx, ptr, size);
        agent_commit_free(free_pos, result != NULL ? ptr : NULL, site);
    }
    if (result != NULL)
        agent_record_alloc(result, size);
    agent_busy = 0;
    return result;
}

static void wrap_free(void *ctx, void *ptr)
{
    struct wrapped_domain *d = ctx;
    if (ptr == NULL || !recording()) {
        d->next.free(d->next.ctx, ptr);
        return;
    }
    agent_busy = 1;
    if (d->is_object_domain && agent_py_frames_on)
        agent_code_freed((uintptr_t)ptr);
    agent_record_free(ptr, __builtin_return_address(0));
    d->next.free(d->next.ctx, ptr);
    agent_busy = 0;
}

/* Wraps one domain unless the wrap is already its allocator.  1 if it
 * (re)wrapped. */
static int wrap_domain(int domain, struct wrapped_domain *d)
{
    py_allocator current;
    py_get_allocator(domain, &current);
    if (current.malloc == wrap_malloc)
        return 0;
    d->next = current;
    py_allocator wrap = { d, wrap_malloc, wrap_calloc, wrap_realloc, wrap_free };
    py_set_allocator(domain, &wrap);
    return 1;
}

/* ---- the first safe point: an audit event ---- */

static _Atomic int audit_seen;
static int debug_mode; /* the raw domain has Python's debug hooks */

static int audit_hook(const char *event, void *args, void *user_data)
{
    (void)event;
    (void)args;
    (void)user_data;
    if (atomic_load_explicit(&audit_seen, memory_order_relaxed) ||
        atomic_exchange(&audit_seen, 1))
        return 0;
    int saved_errno = errno;
    /* Pre-initialisation may have replaced the domains (PYTHONMALLOC). */
    int rewrapped = wrap_domain(PYMEM_DOMAIN_MEM, &wrapped_mem);
    rewrapped |= wrap_domain(PYMEM_DOMAIN_OBJ, &wrapped_obj);
    if (rewrapped)
        atomic_store(&agent_py.channel->hooks_replaced, debug_mode ? 2 : 1);
    if (agent_py.line_mode && agent_py_frames_on)
        agent_pytrace_install();
    errno = saved_errno;
    return 0;
}

/* What the command line and environment ask of Python's allocator: its
 * debug hooks (PYTHONMALLOC=...debug, PYTHONDEVMODE, -X dev), another
 * allocator (PYTHONMALLOC), or nothing.  Options are read up to the script,
 * -c or -m. */
enum py_alloc_mode { ALLOC_DEFAULT, ALLOC_REPLACED, ALLOC_DEBUG };

static enum py_alloc_mode predicted_alloc_mode(void)
{
    const char *env = getenv("PYTHONMALLOC");
    const char *dev = getenv("PYTHONDEVMODE");
    enum py_alloc_mode mode = dev && *dev ? ALLOC_DEBUG
                              : env && *env ? (strstr(env, "debug") ? ALLOC_DEBUG : ALLOC_REPLACED)
                                            : ALLOC_DEFAULT;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    char buf[4096];
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return mode;
    buf[n] = '\0';
    const char *arg = buf + strlen(buf) + 1; /* after argv[0] */
    for (int x_value = 0; arg < buf + n; arg += strlen(arg) + 1) {
        if (x_value) {
            if (strcmp(arg, "dev") == 0)
                mode = ALLOC_DEBUG;
            x_value = 0;
        } else if (strcmp(arg, "-X") == 0) {
            x_value = 1;
        } else if (strcmp(arg, "-Xdev") == 0) {
            mode = ALLOC_DEBUG;
        } else if (arg[0] != '-' || strcmp(arg, "-c") == 0 || strcmp(arg, "-m") == 0 || strcmp(arg, "-") == 0) {
            break;
        }
    }
    return mode;
}

/* ---- recognition and the layout ---- */

/* "3.10.13 (main, ...)" -> 0x030a0d00; 0 if unreadable. */
static uint32_t version_from_text(const char *text)
{
    unsigned v[3] = { 0, 0, 0 };
    int part = 0;
    for (const char *c = text; c && *c && part < 3; c++) {
        if (*c >= '0' && *c <= '9')
            v[part] = v[part] * 10 + (unsigned)(*c - '0');
        else if (*c == '.')
            part++;
        else
            break;
    }
    return v[0] ? (v[0] << 24) | (v[1] << 16) | (v[2] << 8) : 0;
}

static uint32_t interpreter_version(void)
{
    const unsigned long *hex = dlsym(RTLD_DEFAULT, "Py_Version");
    if (hex)
        return (uint32_t)*hex;
    const char *(*get_version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
    return get_version ? version_from_text(get_version()) : 0;
}

/* Posts MP_REC_PYSTART and waits for memprof's answer (30 s at most). */
static int ask_layout(uintptr_t runtime, uint32_t version)
{
    struct mp_py_channel *ch = agent_py.channel;
    /* One interpreter of the process tree at a time has the channel (and
     * Python frames): code ids are per process. */
    uint32_t idle = MP_PY_IDLE;
    if (!atomic_compare_exchange_strong(&ch->state, &idle, MP_PY_REQUESTED)) {
        atomic_fetch_add(&ch->other_interpreters, 1);
        return 0;
    }
    uint64_t pos;
    struct mp_ring_record *slot = agent_reserve_slot(&pos);
    if (!slot) {
        atomic_store(&ch->state, MP_PY_IDLE);
        return 0;
    }
    slot->kind = MP_REC_PYSTART;
    slot->addr = runtime;
    slot->size = version;
    slot->nframes = 0;
    slot->truncated = 0;
    agent_commit_slot(slot, pos);
    for (long waited_us = 0; waited_us < 30L * 1000 * 1000; waited_us += 100) {
        uint32_t state = atomic_load_explicit(&ch->state, memory_order_acquire);
        if (state == MP_PY_ANSWERED) {
            agent_py.layout = ch->layout;
            return agent_py.layout.version == version;
        }
        if (state != MP_PY_REQUESTED)
            return 0;
        struct timespec nap = { 0, 100 * 1000 };
        syscall(SYS_nanosleep, &nap, NULL);
    }
    return 0;
}

/* dl_iterate_phdr callback: the executable segments of the object that
 * holds the evaluation loop. */
static int collect_interpreter_text(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    struct mp_py_text *t = &agent_py.text;
    int holds = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        holds |= ph->p_type == PT_LOAD && t->eval_lo >= lo && t->eval_lo < lo + ph->p_memsz;
    }
    for (int i = 0; holds && i < info->dlpi_phnum && t->n < MP_PY_TEXT_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            t->lo[t->n] = info->dlpi_addr + ph->p_vaddr;
            t->hi[t->n] = t->lo[t->n] + ph->p_memsz;
            t->n++;
        }
    }
    return holds;
}

static int find_eval_loop(void)
{
    void *eval = dlsym(RTLD_DEFAULT, "_PyEval_EvalFrameDefault");
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (!eval || !dladdr1(eval, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym || sym->st_size == 0)
        return 0;
    agent_py.text.eval_lo = (uintptr_t)eval;
    agent_py.text.eval_hi = (uintptr_t)eval + sym->st_size;
    dl_iterate_phdr(collect_interpreter_text, NULL);
    return 1;
}

/* The layout agrees with the interpreter's own type objects: code and
 * bytes objects have the sizes it says (tp_basicsize follows ob_type,
 * ob_size and tp_name).  A build the built-in table does not describe (a
 * debug build with Py_TRACE_REFS, a patched one) fails this. */
static int layout_fits(void)
{
    const struct mp_py_layout *L = &agent_py.layout;
    const char *bytes_type = dlsym(RTLD_DEFAULT, "PyBytes_Type");
    int64_t code_size = *(const int64_t *)(agent_py.code_type + (uintptr_t)L->object_type + 24);
    int64_t bytes_size = bytes_type ? *(const int64_t *)(bytes_type + L->object_type + 24) : -1;
    return code_size == L->code_code_adaptive && bytes_size == L->bytes_sval + 1;
}

void agent_python_start(void)
{
    int saved_errno = errno, was_busy = agent_busy;
    agent_busy = 1; /* dlsym may allocate: not the program's */
    /* _PyRuntime (3.7 and later) marks the interpreter's object; older ones
     * are found by their allocator API, and get the unsupported note. */
    void *runtime = dlsym(RTLD_DEFAULT, "_PyRuntime");
    if (!runtime)
        runtime = dlsym(RTLD_DEFAULT, "PyMem_SetAllocator");
    py_get_allocator = (void (*)(int, py_allocator *))dlsym(RTLD_DEFAULT, "PyMem_GetAllocator");
    py_set_allocator = (void (*)(int, py_allocator *))dlsym(RTLD_DEFAULT, "PyMem_SetAllocator");
    int (*add_audit_hook)(py_audit_hook, void *) =
        (int (*)(py_audit_hook, void *))dlsym(RTLD_DEFAULT, "PySys_AddAuditHook");
    if (!runtime || !py_get_allocator || !py_set_allocator) {
        agent_busy = was_busy;
        errno = saved_errno;
        return; /* not CPython */
    }
    agent_py.channel = mp_ring_py_channel(agent_ring);
    agent_py.line_mode = agent_py.channel->patterns[0] != '\0';
    uint32_t version = interpreter_version();
    agent_py.this_thread_state = (void *(*)(void))dlsym(RTLD_DEFAULT, "PyGILState_GetThisThreadState");
    agent_py.code_type = (uintptr_t)dlsym(RTLD_DEFAULT, "PyCode_Type");
    int frames = ask_layout((uintptr_t)runtime, version) && agent_py.this_thread_state && agent_py.code_type &&
                 find_eval_loop();
    if (frames && !layout_fits()) {
        frames = 0; /* reading frames with it could crash the program */
        atomic_store(&agent_py.channel->layout_mismatch, 1);
    }
    /* The audit hook's entry is allocated now (PyMem_RawMalloc) and freed
     * at exit (PyMem_RawFree): add it only when it is needed (the domains
     * will be replaced, or line mode), and when the raw domain will get
     * the debug hooks, put them in place first (PyMem_SetupDebugHooks, as
     * pre-initialisation will again over plain malloc), so the entry
     * carries the header their free checks. */
    enum py_alloc_mode mode = predicted_alloc_mode();
    void (*setup_debug_hooks)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "PyMem_SetupDebugHooks");
    if (add_audit_hook && (mode != ALLOC_DEFAULT || agent_py.line_mode) &&
        (mode != ALLOC_DEBUG || setup_debug_hooks)) {
        if (mode == ALLOC_DEBUG) {
            setup_debug_hooks();
            debug_mode = 1;
        }
        add_audit_hook(audit_hook, NULL);
    }
    wrap_domain(PYMEM_DOMAIN_MEM, &wrapped_mem);
    wrap_domain(PYMEM_DOMAIN_OBJ, &wrapped_obj);
    atomic_store(&agent_py.channel->hooks_installed, 1);
    agent_py_frames_on = frames;
    agent_busy = was_busy;
    errno = saved_errno;
}

/* A forked child numbers the code objects it describes from its parent's
 * counter: its ids would name other code in memprof's table.  Its Python
 * objects are still seen, exactly, with native frames. */
void agent_python_forked(void)
{
    if (!agent_py_frames_on)
        return;
    agent_py_frames_on = 0;
    atomic_fetch_add(&agent_py.channel->other_interpreters, 1);
}
