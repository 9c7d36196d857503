/* memprof agent: attaching to the supervisor's ring.
 *
 * Owns the agent's lifecycle state: lazy, thread-safe initialisation (from the
 * first intercepted allocator call or from the constructor, whichever comes
 * first), finding MEMPROF_RING_FD (getenv, or /proc/self/environ when libc has
 * not set up environ yet), mapping and validating the ring, locating the text
 * ranges whose frames a captured stack must skip, and what a forked child
 * does: it records too when memprof follows the process tree (the ring's
 * tree_tracer is the child's tracer), else it stops recording.
 *
 * Which processes write: the one memprof launched or attached to
 * (target_pid), and, when memprof follows the tree, every process it
 * traces (TracerPid in /proc/self/status equals tree_tracer).  A process
 * memprof does not follow (detached, --no-follow, not traced at all)
 * leaves the ring alone.  The ring is found through MEMPROF_RING_FD, or,
 * when that descriptor was closed (daemons close them all before exec),
 * MEMPROF_RING_PATH (/proc/MEMPROF_PID/fd/N).
 *
 * Init race: exactly one thread wins the UNINIT -> INITING transition.  Any
 * other thread that allocates while that init is in progress passes straight
 * to glibc unrecorded.  Init runs on the very first allocator call of the
 * process, which in practice happens on the main thread before any other
 * thread exists, so this window is only reachable by a program that creates
 * threads without ever allocating first (pthread_create itself allocates). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "agent_internal.h"

_Atomic int agent_state = AGENT_UNINIT;
static uint32_t pid_fallback; /* without MADV_WIPEONFORK (Linux < 4.14) */
volatile uint32_t *agent_pid_cell = &pid_fallback;
struct mp_ring_header *agent_ring;
struct mp_ring_record *agent_records;
struct agent_stack_table *agent_stack_table;
uint64_t agent_ring_mask;
__thread int agent_busy;
__thread void *agent_new_inner;
__thread size_t agent_new_inner_size;

struct agent_text_range agent_unwinder_text[AGENT_MAX_TEXT_RANGES];
int agent_unwinder_text_count;
struct agent_text_range agent_own_text[AGENT_MAX_TEXT_RANGES];
int agent_own_text_count;

extern char **environ;

/* Parses a non-negative decimal fd number; -1 when malformed. */
static int parse_fd(const char *s)
{
    if (s == NULL || *s == '\0')
        return -1;
    long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
        if (v > 1000000000L)
            return -1;
    }
    return (int)v;
}

/* The value of environment variable `name` (at most len - 1 bytes) into
 * out, from /proc/self/environ (NUL-separated "NAME=value" entries) with
 * raw open/read, for calls made before libc set up environ.  0, or -1. */
static int env_from_proc_environ(const char *name, char *out, size_t len)
{
    size_t name_len = strlen(name);
    int fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char chunk[1024];
    size_t matched = 0, value_len = 0;
    int in_value = 0, skipping = 0, result = -1;
    ssize_t got;
    while (result < 0 && (got = read(fd, chunk, sizeof chunk)) > 0) {
        for (ssize_t i = 0; i < got; i++) {
            char c = chunk[i];
            if (c == '\0') {
                if (in_value) {
                    out[value_len < len ? value_len : len - 1] = '\0';
                    result = value_len < len ? 0 : -1;
                    break;
                }
                matched = 0;
                skipping = 0;
            } else if (in_value) {
                if (value_len < len - 1)
                    out[value_len] = c;
                value_len++;
            } else if (!skipping) {
                if (matched < name_len ? c == name[matched] : c == '=') {
                    if (++matched == name_len + 1)
                        in_value = 1;
                } else {
                    skipping = 1;
                }
            }
        }
    }
    close(fd);
    return result;
}

static int env_value(const char *name, char *out, size_t len)
{
    if (environ != NULL) {
        const char *v = getenv(name);
        if (!v || strlen(v) >= len)
            return -1;
        memcpy(out, v, strlen(v) + 1);
        return 0;
    }
    return env_from_proc_environ(name, out, len);
}

/* Is environment variable name set to value? */
static int env_is(const char *name, const char *value)
{
    char v[32];
    return env_value(name, v, sizeof v) == 0 && strcmp(v, value) == 0;
}

static int find_ring_fd(void)
{
    char value[16];
    return env_value(MP_RING_ENV_FD, value, sizeof value) == 0 ? parse_fd(value) : -1;
}

/* The number after "TracerPid:" in /proc/self/status (0: not traced), read
 * with raw system calls (this runs in forked children too). */
static int32_t tracer_pid(void)
{
    /* raw system calls: no cancellation point (a writer waiting for room
     * asks too, holding a reserved position) */
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[4096];
    ssize_t n = syscall(SYS_read, fd, buf, sizeof buf - 1);
    syscall(SYS_close, fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *at = strstr(buf, "\nTracerPid:");
    if (!at)
        return 0;
    at += strlen("\nTracerPid:");
    while (*at == ' ' || *at == '\t')
        at++;
    int32_t v = 0;
    while (*at >= '0' && *at <= '9')
        v = v * 10 + (*at++ - '0');
    return v;
}

/* What the agent keeps of the header in its own memory, read when it
 * attached (the target may write over the header later: ring.h, Trust):
 * the thread of memprof's that follows the tree (0: none), and the tracer
 * this process had then (memprof's: while it traces the process, it reads
 * the ring). */
static int32_t ring_tree_tracer;
static int32_t memprof_tracer;

/* Is the ring meant for this process?  (see the top of this file) */
static int ring_is_for_us(const struct mp_ring_header *h)
{
    int32_t pid = (int32_t)getpid();
    for (int i = 0; i < MP_RING_SKIP_SLOTS; i++)
        if (atomic_load_explicit(&h->skip_pids[i], memory_order_relaxed) == pid)
            return 0; /* memprof records this program another way */
    if (atomic_load(&h->target_pid) == pid)
        return 1;
    return ring_tree_tracer != 0 && tracer_pid() == ring_tree_tracer;
}

int agent_memprof_traces(void)
{
    if (memprof_tracer == 0) /* not traced when it attached: the header's word is all there is */
        return !atomic_load(&agent_ring->closed);
    return tracer_pid() == memprof_tracer;
}

/* What the agent saw of the ring, for agent_hygiene.c: the memfd (device
 * and inode) behind MEMPROF_RING_FD, and whether memprof follows this
 * process's children. */
static dev_t ring_dev;
static ino_t ring_ino;
static int ring_env_fd = -1;     /* MEMPROF_RING_FD, when it is the ring */
static int children_followed;

/* Does memprof follow the children of this process (it traces it as part
 * of a tree it follows)? */
static int follows_children(void)
{
    return ring_tree_tracer != 0 && tracer_pid() == ring_tree_tracer;
}

int agent_fd_is_ring(int fd)
{
    struct stat st;
    return fd >= 0 && ring_ino != 0 && fstat(fd, &st) == 0 && st.st_dev == ring_dev && st.st_ino == ring_ino;
}

/* Maps the ring behind `fd` if it is a valid ring meant for this process. */
static int attach_ring(int fd)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size < MP_RING_HEADER_BYTES)
        return 0;
    /* Look at the header read-only first: the fd may not be ours at all. */
    struct mp_ring_header *peek = mmap(NULL, MP_RING_HEADER_BYTES, PROT_READ, MAP_SHARED, fd, 0);
    if (peek == MAP_FAILED)
        return 0;
    uint64_t capacity = peek->capacity;
    int valid = peek->magic == MP_RING_MAGIC && peek->version == MP_RING_VERSION &&
                peek->record_size == sizeof(struct mp_ring_record) && capacity != 0 &&
                (capacity & (capacity - 1)) == 0 && capacity <= (1ULL << 30) &&
                (uint64_t)st.st_size >= MP_RING_BYTES(capacity);
    if (valid) {
        ring_dev = st.st_dev;
        ring_ino = st.st_ino;
        ring_tree_tracer = atomic_load(&peek->tree_tracer);
        memprof_tracer = tracer_pid();
        children_followed = follows_children();
        valid = ring_is_for_us(peek);
    }
    munmap(peek, MP_RING_HEADER_BYTES);
    if (!valid)
        return 0;
    size_t bytes = MP_RING_BYTES(capacity);
    void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        return 0;
    agent_ring = map;
    agent_records = (struct mp_ring_record *)((char *)map + MP_RING_HEADER_BYTES);
    agent_ring_mask = capacity - 1;
    agent_mmap_enabled = (atomic_load(&agent_ring->options) & MP_RING_OPT_MMAP) != 0;
    agent_batch_disabled = (atomic_load(&agent_ring->options) & MP_RING_OPT_NO_BATCH) != 0;
    atomic_fetch_add(&agent_ring->agent_bytes, bytes);
    return 1;
}

struct text_search {
    uintptr_t anchor;
    struct agent_text_range *out;
    int count;
};

/* dl_iterate_phdr callback: if this object holds `anchor`, record its
 * executable PT_LOAD segments. */
static int collect_text_of_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct text_search *s = data;
    int holds_anchor = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && s->anchor >= lo && s->anchor < lo + ph->p_memsz)
            holds_anchor = 1;
    }
    if (!holds_anchor)
        return 0;
    for (int i = 0; i < info->dlpi_phnum && s->count < AGENT_MAX_TEXT_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
            s->out[s->count].lo = lo;
            s->out[s->count].hi = lo + ph->p_memsz;
            s->count++;
        }
    }
    return 1;
}

static int text_ranges_of(uintptr_t anchor, struct agent_text_range *out)
{
    struct text_search s = {anchor, out, 0};
    dl_iterate_phdr(collect_text_of_object, &s);
    return s.count;
}

struct agent_text_range agent_loader_text[AGENT_MAX_TEXT_RANGES];
int agent_loader_text_count;
struct agent_text_range agent_allocator_text[AGENT_MAX_TEXT_RANGES];
int agent_allocator_text_count;
size_t agent_tls_modules;

/* dl_iterate_phdr callback: the dynamic loader's executable segments. */
static int collect_loader_text(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    const char *base = strrchr(info->dlpi_name, '/');
    base = base ? base + 1 : info->dlpi_name;
    if (strncmp(base, "ld-linux", 8) != 0)
        return 0;
    for (int i = 0; i < info->dlpi_phnum && agent_loader_text_count < AGENT_MAX_TEXT_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
            agent_loader_text[agent_loader_text_count].lo = lo;
            agent_loader_text[agent_loader_text_count].hi = lo + ph->p_memsz;
            agent_loader_text_count++;
        }
    }
    return 1;
}

static int in_ranges(const struct agent_text_range *r, int n, uintptr_t pc)
{
    for (int i = 0; i < n; i++)
        if (pc >= r[i].lo && pc < r[i].hi)
            return 1;
    return 0;
}

/* dl_iterate_phdr callback: count objects with TLS that are the agent or
 * libunwind (they are there only because of memprof). */
static int count_agent_tls(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    if (info->dlpi_tls_modid == 0)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (in_ranges(agent_own_text, agent_own_text_count, lo) ||
            in_ranges(agent_unwinder_text, agent_unwinder_text_count, lo)) {
            agent_tls_modules++;
            break;
        }
    }
    return 0;
}

/* The allocator library's text, when malloc is not libc's own (see
 * agent_internal.h). */
static void find_allocator_text(void)
{
    struct agent_text_range libc[AGENT_MAX_TEXT_RANGES];
    int n_libc = text_ranges_of((uintptr_t)&gnu_get_libc_version, libc);
    uintptr_t m = (uintptr_t)agent_next.malloc;
    if (!in_ranges(libc, n_libc, m) && !in_ranges(agent_own_text, agent_own_text_count, m))
        agent_allocator_text_count = text_ranges_of(m, agent_allocator_text);
}

/* pthread_atfork's prepare handler: the events waiting go out in the
 * parent (agent_batch.c). */
static void before_fork(void)
{
    agent_batch_flush_waiting();
}

/* pthread_atfork's child handler: a new process, with this thread only. */
static void in_forked_child(void)
{
    *agent_pid_cell = (uint32_t)getpid();
    agent_tid = 0; /* the calling thread's cached tid was the parent's */
    agent_batch_forked();
    atomic_store(&agent_drops_unreported, 0); /* the parent's, reported by the parent */
    if (atomic_load(&agent_state) != AGENT_ENABLED)
        return;
    if (!ring_is_for_us(agent_ring)) {
        atomic_store(&agent_state, AGENT_DISABLED);
        if (!follows_children()) { /* nothing of memprof's for what it runs */
            agent_scrub_environment();
            if (agent_fd_is_ring(ring_env_fd))
                close(ring_env_fd);
            munmap(agent_ring, MP_RING_BYTES(agent_ring_mask + 1));
            agent_ring = NULL;
        }
        return;
    }
    int was_busy = agent_busy;
    agent_busy = 1;
    agent_post_hello();
    agent_python_forked();
    agent_busy = was_busy;
}

uint32_t agent_refresh_pid(void)
{
    in_forked_child(); /* what glibc's fork would have run */
    return atomic_load(&agent_state) == AGENT_ENABLED ? *agent_pid_cell : 0;
}

/* The page that holds the pid, zeroed by the kernel in a fork child. */
static void map_pid_cell(void)
{
    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        return;
    if (madvise(page, 4096, MADV_WIPEONFORK) != 0) {
        munmap(page, 4096);
        return;
    }
    agent_pid_cell = page;
    atomic_fetch_add(&agent_ring->agent_bytes, 4096);
}

/* The ring through MEMPROF_RING_FD, else through MEMPROF_RING_PATH (the
 * inherited descriptor was closed). */
static int attach_any_ring(void)
{
    int fd = find_ring_fd();
    int ok = attach_ring(fd);
    if (agent_fd_is_ring(fd))
        ring_env_fd = fd;
    if (ok)
        return 1;
    char path[64];
    if (env_value(MP_RING_ENV_PATH, path, sizeof path) != 0 || strncmp(path, "/proc/", 6) != 0)
        return 0;
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ok = attach_ring(fd);
    close(fd); /* the mapping keeps the memfd */
    return ok;
}

static int attach(void)
{
    *agent_pid_cell = (uint32_t)getpid();
    if (!attach_any_ring())
        return 0;
    map_pid_cell();
    *agent_pid_cell = (uint32_t)getpid();
    if (agent_pid_cell != &pid_fallback) /* the table, like the pid, must start afresh in a child */
        agent_stack_table = agent_stacks_create();
    agent_own_text_count = text_ranges_of((uintptr_t)&attach, agent_own_text);
    agent_unwinder_text_count = text_ranges_of((uintptr_t)&unw_backtrace, agent_unwinder_text);
    find_allocator_text();
    dl_iterate_phdr(collect_loader_text, NULL);
    dl_iterate_phdr(count_agent_tls, NULL);
    /* No shared cache: its lock would stay held if a fault in damaged unwind
     * tables ends an unwind (agent_unwind.c); the per-thread trace cache of
     * unw_backtrace keeps steady-state unwinding fast. */
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_NONE);
    if (!env_is(MEMPROF_ENV_UNWINDER, "libunwind"))
        agent_fast_unwind_init();
    /* Warm libunwind up (its one-time init takes a lock and masks signals). */
    void *warmup[4];
    unw_backtrace(warmup, 4);
    agent_unwind_guard_install();
    if (pthread_atfork(before_fork, NULL, in_forked_child) != 0)
        return 0; /* cannot protect the ring from a child: stay out */
    agent_client_enable();
    agent_batch_start();
    atomic_fetch_add(&agent_ring->agent_inits, 1);
    if (!children_followed && agent_fd_is_ring(ring_env_fd)) /* its execve is followed: the path serves */
        fcntl(ring_env_fd, F_SETFD, fcntl(ring_env_fd, F_GETFD) | FD_CLOEXEC);
    return 1;
}

void agent_init(void)
{
    int expected = AGENT_UNINIT;
    if (!atomic_compare_exchange_strong(&agent_state, &expected, AGENT_INITING))
        return;
    int saved_errno = errno;
    int was_busy = agent_busy;
    agent_busy = 1;
    agent_resolve(); /* first: everything below may allocate */
    int ok = attach();
    /* HELLO first: memprof forgets the ids an earlier image of this
     * process gave its stacks there (an exec), so no other thread may
     * record before it */
    if (ok)
        agent_post_hello();
    atomic_store_explicit(&agent_state, ok ? AGENT_ENABLED : AGENT_DISABLED,
                          memory_order_release);
    agent_busy = was_busy;
    errno = saved_errno;
}

__attribute__((constructor)) static void agent_constructor(void)
{
    if (atomic_load_explicit(&agent_state, memory_order_relaxed) == AGENT_UNINIT)
        agent_init();
    /* Before main, one thread: a program memprof does not profile, whose
     * children it does not follow either, passes nothing of memprof's on
     * (agent_hygiene.c). */
    if (atomic_load(&agent_state) == AGENT_DISABLED && !children_followed) {
        agent_scrub_environment();
        if (agent_fd_is_ring(ring_env_fd))
            close(ring_env_fd);
    }
    /* Every object is relocated now, before main: a CPython interpreter
     * can be recognised and its allocator wrapped before Py_Initialize. */
    if (atomic_load_explicit(&agent_state, memory_order_acquire) == AGENT_ENABLED)
        agent_python_start();
}

/* At exit: the events waiting and the records dropped since the last
 * record are written now. */
__attribute__((destructor)) static void agent_destructor(void)
{
    if (!agent_busy)
        agent_batch_end(); /* and events are written one by one from now on */
    if (atomic_load(&agent_drops_unreported) != 0 && atomic_load(&agent_state) == AGENT_ENABLED) {
        int was_busy = agent_busy;
        agent_busy = 1;
        agent_report_drops();
        agent_busy = was_busy;
    }
}
