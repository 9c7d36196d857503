/* memprof agent: state shared between the agent's source files, all hidden
 * inside libmemprof-agent.so.  agent_init.c owns attaching to the ring
 * (lazy init, fork handling, the agent's own text ranges); agent_forward.c
 * finds the allocator the program would have used (the next definitions in
 * lookup order) and serves the allocations made while it looks; agent.c owns
 * the C malloc family and the record-writing hot path; agent_cxx.c operator
 * new/delete, jemalloc's *allocx and malloc_usable_size. */
#ifndef MEMPROF_AGENT_INTERNAL_H
#define MEMPROF_AGENT_INTERNAL_H

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/single_threaded.h>
#include "events/ring.h"
#include "agent_stacks.h"

#define AGENT_HIDDEN __attribute__((visibility("hidden")))
#define AGENT_TLS __attribute__((tls_model("initial-exec"), visibility("hidden")))

enum agent_state {
    AGENT_UNINIT = 0,   /* nothing tried yet: the next intercepted call initialises */
    AGENT_INITING = 1,  /* one thread is initialising; others pass through unrecorded */
    AGENT_ENABLED = 2,  /* ring attached: record */
    AGENT_DISABLED = 3, /* no ring, wrong process, or forked child: pass through forever */
};

extern _Atomic int agent_state AGENT_HIDDEN;

/* Valid once agent_state == AGENT_ENABLED (published with release order). */
extern struct mp_ring_header *agent_ring AGENT_HIDDEN;
extern struct mp_ring_record *agent_records AGENT_HIDDEN;
extern uint64_t agent_ring_mask AGENT_HIDDEN;

/* The process the records are about, and the calling thread: cached (no
 * system call per record) and set again in a forked child.  The pid lives
 * in a page the kernel zeroes in a child made by fork or by clone() without
 * CLONE_VM (MADV_WIPEONFORK): a child glibc's fork did not make (no atfork
 * handlers) reads 0 and catches up (agent_refresh_pid: 0 when it is not a
 * process memprof follows).  A vfork child shares them with its parent,
 * whose memory it runs in: its records are the parent's, which is what
 * they are about. */
extern volatile uint32_t *agent_pid_cell AGENT_HIDDEN;
uint32_t agent_refresh_pid(void) AGENT_HIDDEN;
extern __thread uint32_t agent_tid AGENT_TLS;

/* Writes an MP_REC_HELLO record: this process records from now on. */
void agent_post_hello(void) AGENT_HIDDEN;

/* Records this process had to drop (the target damaged the ring: ring.h,
 * Trust), not reported yet; agent_report_drops writes them in an
 * MP_REC_DROPS record (done before the next record, and at exit). */
extern _Atomic uint64_t agent_drops_unreported AGENT_HIDDEN;
void agent_report_drops(void) AGENT_HIDDEN;
/* Does memprof still trace this process (so it still reads the ring)?
 * Asked of the kernel (TracerPid), never of the shared header. */
int agent_memprof_traces(void) AGENT_HIDDEN;

/* Recursion guard: nonzero while this thread runs agent code (our own
 * bookkeeping, libunwind, init).  Allocator calls made meanwhile go straight
 * to glibc and are not recorded. */
extern __thread int agent_busy AGENT_TLS;
/* agent_busy while the next operator new runs: malloc remembers the last
 * block it returned inside, so that when new throws, the exception object
 * libstdc++ allocated meanwhile is recorded (agent_cxx.c). */
#define AGENT_BUSY_IN_NEW 2
extern __thread void *agent_new_inner AGENT_TLS;
extern __thread size_t agent_new_inner_size AGENT_TLS;

/* Executable ranges whose frames lead a captured stack and must be dropped:
 * libunwind's text (unw_backtrace's own frame comes first) and the agent's. */
struct agent_text_range {
    uintptr_t lo, hi;
};
#define AGENT_MAX_TEXT_RANGES 4
extern struct agent_text_range agent_unwinder_text[AGENT_MAX_TEXT_RANGES] AGENT_HIDDEN;
extern int agent_unwinder_text_count AGENT_HIDDEN;
extern struct agent_text_range agent_own_text[AGENT_MAX_TEXT_RANGES] AGENT_HIDDEN;
extern int agent_own_text_count AGENT_HIDDEN;

/* glibc sizes each thread's DTV (dynamic thread vector, calloc'd by the
 * loader in pthread_create as calloc(modules + 16, 16)) by the number of
 * objects with thread-local storage.  The agent and libunwind add
 * agent_tls_modules entries that the program would not have: calloc calls
 * from the loader's text with an element size of 16 are recorded that many
 * elements smaller, so the agent adds nothing to the counts. */
extern struct agent_text_range agent_loader_text[AGENT_MAX_TEXT_RANGES] AGENT_HIDDEN;
/* The text of the allocator library the program uses when it is not libc
 * (jemalloc, tcmalloc, mimalloc): calls it makes to its own entry points
 * (tcmalloc allocates with new for itself before main) are its bookkeeping,
 * not the program's, and are not recorded. */
extern struct agent_text_range agent_allocator_text[AGENT_MAX_TEXT_RANGES] AGENT_HIDDEN;
extern int agent_allocator_text_count AGENT_HIDDEN;
extern int agent_loader_text_count AGENT_HIDDEN;
extern size_t agent_tls_modules AGENT_HIDDEN;

static inline int agent_pc_in_ranges(const struct agent_text_range *ranges, int count, uintptr_t pc)
{
    for (int i = 0; i < count; i++)
        if (pc >= ranges[i].lo && pc < ranges[i].hi)
            return 1;
    return 0;
}

/* ---- unwinding under a fault guard (agent_unwind.c) ---- */
/* Installs the agent's SIGSEGV/SIGBUS handler (the program's dispositions
 * are kept and served by it). */
void agent_unwind_guard_install(void) AGENT_HIDDEN;
/* unw_backtrace that survives damaged unwind tables: a fault ends the
 * stack at the frames found so far and sets *faulted (the record says so:
 * MP_REC_TRUNC_FAULT). */
int agent_backtrace(void **pcs, int max, int *faulted) AGENT_HIDDEN;
/* fn(arg) under the same guard: a fault in the agent's own code (a read of
 * memory that is not there) ends it at once; -1 then, else 0.  fn must
 * take no lock and reserve no ring slot (it is left where it faulted), and
 * publish its progress with a signal fence before it reads further. */
int agent_guarded_call(void (*fn)(void *), void *arg) AGENT_HIDDEN;

/* ---- the fast walk (agent_fastunwind.c, agent_cfi.c) ---- */
enum { AGENT_RULE_SLOW = 0, AGENT_RULE_STEP = 1, AGENT_RULE_END = 2 };
struct agent_cfi_rule {
    uint8_t kind;       /* AGENT_RULE_*: END: the return address is undefined (the outermost frame) */
    uint8_t cfa_rbp;    /* CFA = rbp + cfa_off, else rsp + cfa_off; the return address at CFA - 8 */
    uint8_t rbp_saved;  /* the caller's rbp at CFA + rbp_off (else rbp is unchanged) */
    int16_t rbp_off;
    int32_t cfa_off;
};
/* The rule of code address pc from the program's .eh_frame: 0, or -1
 * (SLOW) when only libunwind can step over it. */
int agent_cfi_rule(uintptr_t pc, struct agent_cfi_rule *rule) AGENT_HIDDEN;
/* MEMPROF_AGENT_UNWINDER=libunwind: every stack is walked by libunwind
 * (the fast walk is for the common frame only; this compares them). */
#define MEMPROF_ENV_UNWINDER "MEMPROF_AGENT_UNWINDER"
/* 1 when the fast walk can be used (its table is mapped). */
int agent_fast_unwind_init(void) AGENT_HIDDEN;
/* Code was unmapped (dlclose): the rules learnt go. */
void agent_fast_unwind_forget(void) AGENT_HIDDEN;
/* The return addresses of the calling thread's stack, as unw_backtrace
 * gives them; -1 when a frame needs libunwind.  Under the fault guard:
 * agent_fast_frames holds the frames found so far. */
int agent_fast_backtrace(void **pcs, int max) AGENT_HIDDEN;
/* The stack id of process pid that the frames of the thread's last
 * agent_fast_backtrace were given (agent_fast_note_stack), when those
 * frames are the very ones of the walk it was noted for; else 0.  So a
 * thread allocating again from the same stack neither hashes it nor looks
 * it up. */
uint32_t agent_fast_same_stack(uint32_t pid) AGENT_HIDDEN;
/* When pcs[skip..skip+count-1] of the thread's last agent_fast_backtrace
 * are the outer part of the walk it kept, down to its outermost frame:
 * *fold = the fold of agent_stack_hash_step over them, and 1 (no frame
 * hashed again); else 0. */
int agent_fast_stack_fold(int skip, int count, uint64_t *fold) AGENT_HIDDEN;
/* The frames the thread's last agent_fast_backtrace returned (all of the
 * walk it kept) were given stack id `id` in process pid. */
void agent_fast_note_stack(uint32_t id, uint32_t pid) AGENT_HIDDEN;
extern __thread volatile int agent_fast_frames AGENT_TLS;

/* ---- nothing of memprof's for programs it does not profile (agent_hygiene.c) ---- */
/* Takes MEMPROF_RING_FD, MEMPROF_RING_PATH and the agent's LD_PRELOAD entry
 * out of environ (in place: only before main or in a forked child). */
void agent_scrub_environment(void) AGENT_HIDDEN;
/* Is fd the ring's memfd (the one the agent found)? */
int agent_fd_is_ring(int fd) AGENT_HIDDEN;

/* Try to attach to the ring once (first caller wins; see agent_init.c). */
void agent_init(void) AGENT_HIDDEN;

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define EXPORT __attribute__((visibility("default")))

/* ---- the next allocator (agent_forward.c) ----
 * The functions the program would have called without the agent: the next
 * definition after the agent in the loader's lookup order (dlsym(RTLD_NEXT)),
 * so jemalloc, tcmalloc or mimalloc, linked or preloaded, keep serving the
 * program.  Until resolved, each pointer holds a slow path that resolves
 * first (or, on the thread that is resolving, serves the bootstrap arena),
 * so the hot path is one indirect call and no test. */
struct agent_next {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
};
extern struct agent_next agent_next AGENT_HIDDEN;

/* Resolve agent_next (idempotent; other threads wait for the one resolving). */
void agent_resolve(void) AGENT_HIDDEN;
/* A symbol's next definition after the agent, or NULL: for functions the
 * program may not have at all (C++ operator new without libstdc++, jemalloc's
 * *allocx), looked up again when called (a dlopen may have brought them). */
void *agent_find_next(const char *name) AGENT_HIDDEN;

/* Memory handed out while dlsym ran (it may allocate): never given to the
 * real allocator, never freed.  Blocks carry their size. */
#define AGENT_BOOT_BYTES (64 * 1024)
extern unsigned char agent_boot_arena[AGENT_BOOT_BYTES] AGENT_HIDDEN;
static inline int agent_is_boot(const void *p)
{
    return (uintptr_t)p - (uintptr_t)agent_boot_arena < AGENT_BOOT_BYTES;
}
size_t agent_boot_size(const void *p) AGENT_HIDDEN;

static inline void *next_malloc(size_t size)
{
    return agent_next.malloc(size);
}

static inline void next_free(void *ptr)
{
    if (unlikely(agent_is_boot(ptr)))
        return;
    agent_next.free(ptr);
}

/* ---- recording (agent.c) ---- */

/* Nonzero when this call must be recorded; initialises the agent on the
 * first call.  When it returns nonzero the caller must set agent_busy. */
static inline int agent_pc_in(const struct agent_text_range *ranges, int count, uintptr_t pc)
{
    for (int i = 0; i < count; i++)
        if (pc >= ranges[i].lo && pc < ranges[i].hi)
            return 1;
    return 0;
}

/* ---- small events written in batches (agent_batch.c) ---- */
/* The calling thread's events not written yet: `words` entries of an
 * MP_REC_BATCH record (ring.h), in word[] and, for memprof to read should
 * the process die, in its process's pending area (which the program may
 * scribble over: the record is written from word[]). */
struct agent_batch {
    uint32_t words;
    uint32_t pid;                 /* the process the area is claimed for; 0: this thread does not batch */
    uint64_t site;                /* the last site word in the batch (MP_BATCH_SITE | site), or 0 */
    struct mp_ring_pending *area; /* in the ring's mapping (ring.h) */
    uint64_t word[MP_MAX_FRAMES];
};
extern __thread struct agent_batch agent_batch AGENT_TLS;
extern int agent_py_frames_on AGENT_HIDDEN;       /* (agent_python.c) */
extern _Atomic int agent_batch_disabled AGENT_HIDDEN;   /* MP_RING_OPT_NO_BATCH, read at attach */
extern _Atomic uint32_t agent_batch_refused AGENT_HIDDEN; /* see agent_batch.c */
/* Claims a pending area for process pid and batches from now on: 1; 0
 * when this process does not batch (now). */
int agent_batch_claim(uint32_t pid) AGENT_HIDDEN;
/* Writes the batch (one MP_REC_BATCH record). */
void agent_batch_flush(void) AGENT_HIDDEN;
/* Writes the batch, and none in this process from now on. */
void agent_batch_stop(void) AGENT_HIDDEN;
/* The pid whose thread batches (0: none): agent_batch.c. */
extern _Atomic uint32_t agent_batch_claimed AGENT_HIDDEN;
/* Another thread's record is next: the batching thread's batch goes out
 * first, and batching ends in this process. */
void agent_batch_take_over(uint32_t pid) AGENT_HIDDEN;
/* In a forked child: the parent's batch is not the child's. */
void agent_batch_forked(void) AGENT_HIDDEN;
/* At attach (registers the exit flush) and at the agent's destructor. */
void agent_batch_start(void) AGENT_HIDDEN;
void agent_batch_end(void) AGENT_HIDDEN;
/* Writes one MP_REC_BATCH record of words[0..n), noting it in the area
 * (agent.c). */
void agent_post_batch(struct mp_ring_pending *area, const uint64_t *words, uint32_t n) AGENT_HIDDEN;

/* The batch goes out now, unless this thread is inside the agent (then it
 * goes with the agent's next record). */
static inline void agent_batch_flush_waiting(void)
{
    if (unlikely(agent_batch.words != 0) && !agent_busy)
        agent_batch_flush();
}

/* May the calling thread append events of process pid to its batch?
 * (Python frames: agent_record_free's callers do not batch.) */
static inline int agent_batch_open(uint32_t pid)
{
    if (likely(agent_batch.pid == pid && pid != 0))
        return __libc_single_threaded;
    return agent_batch_refused != pid && agent_batch_claim(pid);
}

/* Room for `need` more words (the batch goes out when full). */
static inline uint32_t agent_batch_room(uint32_t need)
{
    if (unlikely(agent_batch.words + need > MP_MAX_FRAMES))
        agent_batch_flush();
    return agent_batch.words;
}

/* Appends a word (at n) to the batch and to its area. */
static inline void agent_batch_put(uint32_t n, uint64_t word)
{
    agent_batch.word[n] = word;
    agent_batch.area->word[n] = word;
}

/* Publishes the words appended: from here memprof finds them even if the
 * process dies now. */
static inline void agent_batch_publish(uint32_t words)
{
    atomic_signal_fence(memory_order_seq_cst); /* the entry before its count */
    agent_batch.words = words;
    atomic_store_explicit(&agent_batch.area->words, words, memory_order_relaxed);
}

/* An allocation of a stack with an id, appended: 1; 0 when it must be
 * written now.  With agent_busy set. */
static inline int agent_batch_alloc(const void *addr, size_t size, uint32_t id, uint32_t pid)
{
    if ((uintptr_t)addr > MP_BATCH_ADDR_MASK || !agent_batch_open(pid))
        return 0; /* a client block's address has MP_CLIENT_BLOCK set */
    uint32_t n = agent_batch_room(2);
    agent_batch_put(n, MP_BATCH_ALLOC | (uint64_t)id << MP_BATCH_ID_SHIFT | (uint64_t)(uintptr_t)addr);
    agent_batch_put(n + 1, size);
    agent_batch_publish(n + 2);
    return 1;
}

/* A free (of a block the caller releases after this), appended: 1; 0
 * when it must be written now.  With agent_busy set. */
static inline int agent_batch_free(const void *addr, const void *site)
{
    if ((uintptr_t)addr > MP_BATCH_ADDR_MASK || unlikely(agent_py_frames_on) || !agent_batch_open(*agent_pid_cell))
        return 0;
    uint64_t site_word = MP_BATCH_SITE | (uint64_t)(uintptr_t)site;
    uint32_t n = agent_batch_room(site_word == agent_batch.site ? 1 : 2);
    if (site_word != agent_batch.site) {
        agent_batch_put(n++, site_word);
        agent_batch.site = site_word;
    }
    agent_batch_put(n, (uint64_t)(uintptr_t)addr);
    agent_batch_publish(n + 1);
    return 1;
}

/* Inlined into the exported functions: __builtin_return_address(0) is then
 * their caller. */
__attribute__((always_inline)) static inline int should_record(void)
{
    int state = atomic_load_explicit(&agent_state, memory_order_acquire);
    if (likely(state == AGENT_ENABLED))
        return !agent_busy && !(unlikely(agent_allocator_text_count) &&
                                agent_pc_in(agent_allocator_text, agent_allocator_text_count,
                                            (uintptr_t)__builtin_return_address(0)));
    if (state == AGENT_UNINIT && !agent_busy) {
        agent_init();
        return atomic_load_explicit(&agent_state, memory_order_acquire) == AGENT_ENABLED;
    }
    return 0;
}

/* Captures the caller's stack and writes a record of this kind (MP_REC_ALLOC,
 * MP_REC_MAP, MP_REC_REMAP_TO) for addr. */
void agent_record_stack(uint32_t kind, const void *addr, size_t size) AGENT_HIDDEN;
static inline void agent_record_alloc(const void *addr, size_t size)
{
    agent_record_stack(MP_REC_ALLOC, addr, size);
}
/* Writes a FREE record; its one frame is site, the return address of the
 * free (realloc, delete...) call. */
void agent_record_free(const void *addr, const void *site) AGENT_HIDDEN;
/* A slot reserved now and filled later (realloc's FREE goes in before the
 * memory can be reused): agent_reserve, then agent_commit_free with the
 * block (NULL: nothing, a NOP record). */
#define AGENT_NO_SLOT UINT64_MAX /* agent_reserve: the record is dropped (ring.h, Holes) */
uint64_t agent_reserve(void) AGENT_HIDDEN;
void agent_commit_free(uint64_t pos, const void *addr, const void *site) AGENT_HIDDEN;
/* A reserved slot filled with a stackless range record (MP_REC_UNMAP,
 * MP_REC_REMAP_FROM; MP_REC_NOP: the call failed). */
void agent_commit_range(uint64_t pos, uint32_t kind, const void *addr, uint64_t size, uint32_t flags) AGENT_HIDDEN;
/* Raw slots, for records of other kinds (Python code descriptions): tid
 * and pid filled in; NULL when the record must be dropped (as
 * agent_reserve's AGENT_NO_SLOT). */
struct mp_ring_record *agent_reserve_slot(uint64_t *pos) AGENT_HIDDEN;
void agent_commit_slot(struct mp_ring_record *slot, uint64_t pos) AGENT_HIDDEN;

/* ---- stacks named once (agent_stacks.c) ---- */
/* NULL: every ALLOC record carries its whole stack. */
extern struct agent_stack_table *agent_stack_table AGENT_HIDDEN;

/* ---- the annotation API (agent_client.c) ---- */
/* Points the copies of memprof.h's hook in the loaded objects at the agent. */
void agent_client_enable(void) AGENT_HIDDEN;

/* ---- mapped memory (agent_mmap.c) ---- */
extern int agent_mmap_enabled AGENT_HIDDEN;  /* MP_RING_OPT_MMAP, read at attach */

/* ---- Python (agent_python.c, agent_pyframes.c, agent_pytrace.c) ---- */

/* Nonzero once the Python frames of allocating threads are read. */
extern int agent_py_frames_on AGENT_HIDDEN;
/* agent_record_stack in a Python process: the stack merges the Python
 * frames the interpreter runs into the native ones. */
void agent_py_record_stack(uint32_t kind, const void *addr, size_t size) AGENT_HIDDEN;
/* A free's site in a Python process: the Python line that released the
 * memory (its innermost Python frame), else native_site.  Call it before
 * reserving a slot: it may describe a code object (slots of its own). */
const void *agent_py_free_site(const void *native_site) AGENT_HIDDEN;
static inline const void *agent_free_site(const void *native_site)
{
    return unlikely(agent_py_frames_on) ? agent_py_free_site(native_site) : native_site;
}
/* From the constructor, once the ring is attached: is this CPython?  Then
 * wrap its allocator domains and get the frame layout from memprof. */
void agent_python_start(void) AGENT_HIDDEN;
/* In a forked child: native frames only (see agent_python.c). */
void agent_python_forked(void) AGENT_HIDDEN;

#endif
