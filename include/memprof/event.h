/* memprof: the one event type every engine produces and the profile consumes.
 *
 * An engine (in-process agent, breakpoints, ...) turns each allocator call into
 * events.  Counting follows valgrind: realloc(p, n) with p != NULL and n > 0 is
 * one MP_EV_FREE of p followed by one MP_EV_ALLOC of the result; realloc(p, 0)
 * is one MP_EV_FREE; realloc(NULL, n) is one MP_EV_ALLOC; free(NULL) is nothing.
 * Sizes are the requested sizes (calloc: n * m).
 *
 * Mapped memory (the program's own mmap, mremap, munmap, brk and sbrk, none
 * made inside an allocator call) is a second kind: MP_EV_MAP when anonymous
 * private pages (or brk's area) appear, MP_EV_UNMAP when a range goes (any
 * range: the profile knows which parts it counts), and mremap as
 * MP_EV_REMAP_FROM (the old range, sent before the call) then MP_EV_REMAP_TO
 * (the new one) from the same thread: the new range counts when the old one
 * did.  mmap and mremap sizes are page-rounded, as the kernel maps them;
 * brk's are the bytes the break moved.
 *
 * Blocks annotated with memprof.h's MEMPROF_ALLOC/FREE (a program's own
 * pools) are MP_EV_ALLOC/FREE with MP_CLIENT_BLOCK set in addr: a pool's
 * object may start where the pool's own malloc'ed chunk starts. */
#ifndef MEMPROF_EVENT_H
#define MEMPROF_EVENT_H

#include <stdint.h>

#define MP_MAX_FRAMES 48
#define MP_CLIENT_BLOCK (1ULL << 63)

enum mp_event_kind {
    MP_EV_ALLOC = 1, /* a block of `size` bytes now lives at `addr` */
    MP_EV_FREE = 2,  /* the block at `addr` was released */
    MP_EV_SAMPLE = 3,/* the RSS sampler: `rss_bytes` at `time_ns` */
    MP_EV_LINE = 4,  /* line mode: thread `tid` reached line-event `addr` (an id
                        the line-mode engine gave that source line; see
                        events/line_events.h), with the process's `rss_bytes` then */
    MP_EV_MAP = 5,   /* `size` bytes of mapped memory now live at `addr` (with a stack) */
    MP_EV_UNMAP = 6, /* [addr, addr + size) is unmapped */
    MP_EV_REMAP_FROM = 7, /* mremap's old range [addr, addr + size); flags MP_EV_F_DONTUNMAP */
    MP_EV_REMAP_TO = 8,   /* mremap's new range (with a stack) */
    MP_EV_AGENT = 9, /* the agent started recording in process `pid`; `size` is the
                        memory it maps there (its event ring).  Not a heap event */
    MP_EV_LOST = 10, /* `size` events of process `pid` (0: unknown) were lost: their
                        writer died while recording.  Not a heap event */
    MP_EV_MODMAP = 11,/* the target's modules changed (dlclose): the events before were made with
                        the modules of then; a return address in code unmapped since may mean other
                        code from now on (a library loaded where the closed one was) */
    MP_EV_PYCODE = 12,/* Python: the agent describes one code object once: `addr`
                        is its id, `payload`/`payload_len` the description
                        (events/py_channel.h); frames name it (mp_pyframe) */
    MP_EV_PYSTART = 13,/* Python: the agent found CPython `size` (Py_Version) with
                        _PyRuntime at `addr` and waits for its struct layout
                        (events/py_channel.h) */
};

#define MP_EV_F_DONTUNMAP 1 /* MREMAP_DONTUNMAP: the old range stays mapped */

struct mp_event {
    enum mp_event_kind kind;
    uint32_t tid;          /* thread that made the call (MP_EV_FREE: 0 when the engine
                              does not know it) */
    uint32_t pid;          /* process whose memory it is about (a process tree shares
                              one event stream; a vfork child reports its parent's) */
    uint64_t addr;         /* block address */
    uint64_t size;         /* requested bytes (MP_EV_ALLOC), mapped bytes (MP_EV_MAP ...) */
    uint32_t nframes;      /* number of valid entries in frames */
    uint32_t truncated;    /* nonzero when the stack was deeper than MP_MAX_FRAMES */
    const uint64_t *frames;/* return addresses, innermost first: frames[0] is the
                              return address into the code that called the allocator
                              (MP_EV_FREE: at most one frame, the free or realloc
                              call's return address; none when the engine has none);
                              in a Python process, Python frames (mp_pyframe) stand
                              where the interpreter's evaluation loop ran them */
    uint64_t time_ns;      /* MP_EV_SAMPLE, MP_EV_LINE: nanoseconds since the target started */
    uint64_t rss_bytes;    /* MP_EV_SAMPLE: resident set size */
    uint32_t flags;        /* MP_EV_REMAP_FROM: MP_EV_F_* */
    const uint8_t *payload;/* MP_EV_PYCODE: the description, valid during the call */
    uint32_t payload_len;
    uint64_t *stack_memo;  /* MP_EV_ALLOC: a word that stays with these frames (the
                              engine's name for the stack) where the profile may keep
                              its own id for them, or NULL; the engine sets it to 0
                              whenever the name is given to other frames */
};

/* A Python frame in `frames`: the code object the agent described under
 * `code_id` (MP_EV_PYCODE, always before the first event naming it) and the
 * instruction it was at (index of the code unit, 0xffffffff before the
 * first).  The tag makes it an address no user-space code can have. */
#define MP_PYFRAME_TAG 0xfe00000000000000ull
#define MP_PYFRAME_MAX_CODE_ID 0xffffffu
static inline uint64_t mp_pyframe(uint32_t code_id, uint32_t instr)
{
    return MP_PYFRAME_TAG | ((uint64_t)(code_id & MP_PYFRAME_MAX_CODE_ID) << 32) | instr;
}
static inline int mp_is_pyframe(uint64_t frame) { return (frame >> 56) == (MP_PYFRAME_TAG >> 56); }
static inline uint32_t mp_pyframe_code(uint64_t frame) { return (uint32_t)(frame >> 32) & MP_PYFRAME_MAX_CODE_ID; }
static inline uint32_t mp_pyframe_instr(uint64_t frame) { return (uint32_t)frame; }

#endif
