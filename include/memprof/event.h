/* memprof: the one event type every engine produces and the profile consumes.
 *
 * An engine (in-process agent, breakpoints, ...) turns each allocator call into
 * events.  Counting follows valgrind: realloc(p, n) with p != NULL and n > 0 is
 * one MP_EV_FREE of p followed by one MP_EV_ALLOC of the result; realloc(p, 0)
 * is one MP_EV_FREE; realloc(NULL, n) is one MP_EV_ALLOC; free(NULL) is nothing.
 * Sizes are the requested sizes (calloc: n * m). */
#ifndef MEMPROF_EVENT_H
#define MEMPROF_EVENT_H

#include <stdint.h>

#define MP_MAX_FRAMES 48

enum mp_event_kind {
    MP_EV_ALLOC = 1, /* a block of `size` bytes now lives at `addr` */
    MP_EV_FREE = 2,  /* the block at `addr` was released */
    MP_EV_SAMPLE = 3,/* the RSS sampler: `rss_bytes` at `time_ns` */
    MP_EV_LINE = 4,  /* line mode: thread `tid` reached line-event `addr` (an id
                        the line-mode engine gave that source line; see
                        events/line_events.h), with the process's `rss_bytes` then */
};

struct mp_event {
    enum mp_event_kind kind;
    uint32_t tid;          /* thread that made the call (MP_EV_FREE: 0 when the engine
                              does not know it) */
    uint64_t addr;         /* block address */
    uint64_t size;         /* requested bytes (MP_EV_ALLOC only) */
    uint32_t nframes;      /* number of valid entries in frames */
    uint32_t truncated;    /* nonzero when the stack was deeper than MP_MAX_FRAMES */
    const uint64_t *frames;/* return addresses, innermost first: frames[0] is the
                              return address into the code that called the allocator
                              (MP_EV_FREE: at most one frame, the free or realloc
                              call's return address; none when the engine has none) */
    uint64_t time_ns;      /* MP_EV_SAMPLE, MP_EV_LINE: nanoseconds since the target started */
    uint64_t rss_bytes;    /* MP_EV_SAMPLE: resident set size */
};

#endif
