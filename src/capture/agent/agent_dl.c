/* memprof agent: dlclose.  A library closed and another loaded at the same
 * addresses would make return addresses recorded in the first one resolve
 * to the second (the symbolizer and the profile know code by address).  So
 * before the library goes, the caller waits until memprof's reader has
 * taken every record written so far (their return addresses are resolved
 * while the library is still there); after it went, an MP_REC_MODMAP
 * record tells the reader that what was unmapped may be other code from
 * now on. */
#define _GNU_SOURCE
#include "agent_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CATCH_UP_MAX_NS (2ull * 1000 * 1000 * 1000)

static int (*real_dlclose)(void *);

/* Waits (bounded: a writer killed mid-record never commits) until the
 * reader is past every position reserved before the call. */
static void wait_for_reader(void)
{
    uint64_t head = atomic_load_explicit(&agent_ring->head, memory_order_acquire);
    struct timespec nap = { 0, 50 * 1000 };
    for (uint64_t waited = 0; atomic_load_explicit(&agent_ring->tail, memory_order_acquire) < head &&
                              waited < CATCH_UP_MAX_NS;
         waited += (uint64_t)nap.tv_nsec)
        syscall(SYS_nanosleep, &nap, NULL);
}

static void post_modmap(void)
{
    /* reserved and claimed as every record is (ring.h, Holes) */
    agent_commit_range(agent_reserve(), MP_REC_MODMAP, NULL, 0, 0);
}

__attribute__((visibility("default"))) int dlclose(void *handle)
{
    int saved = errno;
    if (!real_dlclose) {
        agent_busy++; /* dlsym may allocate */
        real_dlclose = (int (*)(void *))dlsym(RTLD_NEXT, "dlclose");
        agent_busy--;
        if (!real_dlclose)
            return -1;
    }
    int recording = atomic_load_explicit(&agent_state, memory_order_acquire) == AGENT_ENABLED && !agent_busy;
    agent_batch_flush_waiting(); /* their sites may be code of the library */
    if (recording)
        wait_for_reader();
    errno = saved;
    int rc = real_dlclose(handle);
    agent_fast_unwind_forget(); /* other code may come where it was */
    if (recording) {
        saved = errno;
        post_modmap();
        errno = saved;
    }
    return rc;
}
