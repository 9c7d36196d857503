/* memprof: periodic RSS sampling (statm via pread, about 1 us a read). */
#define _GNU_SOURCE
#include "rss_sampler.h"
#include "supervise/procfs.h"
#include "events/ring_reader.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct mp_rss_sampler {
    struct mp_ring_reader *ring;
    struct mp_statm statm;
    uint64_t interval_ns, start_ns;
    pthread_t thread;
    pthread_mutex_t lock;  /* one sample at a time: the thread and sample_now */
    pthread_cond_t wake;
    _Atomic int stop;  /* also cancels a sample waiting for room in the ring */
    _Atomic int held;  /* mp_rss_sampler_hold: the thread skips its samples */
};

uint64_t mp_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* wait_us: how long a full ring may hold the sample up before it is dropped. */
static void take_sample(struct mp_rss_sampler *s, long wait_us)
{
    uint64_t rss = mp_statm_rss(&s->statm);
    if (rss)
        mp_ring_reader_post_sample(s->ring, 0, mp_monotonic_ns() - s->start_ns, rss, wait_us, &s->stop);
}

static void *sampler_thread(void *arg)
{
    struct mp_rss_sampler *s = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        if (!atomic_load(&s->held))
            take_sample(s, 10 * 1000 * 1000); /* a busy reader catches up; stop cancels */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + s->interval_ns;
        until.tv_sec += (time_t)(ns / 1000000000u);
        until.tv_nsec = (long)(ns % 1000000000u);
        while (!s->stop && pthread_cond_timedwait(&s->wake, &s->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

struct mp_rss_sampler *mp_rss_sampler_start(struct mp_ring_reader *ring, pid_t pid, uint64_t interval_ns,
                                            uint64_t start_ns)
{
    struct mp_rss_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->ring = ring;
    s->interval_ns = interval_ns;
    s->start_ns = start_ns;
    if (mp_statm_open(&s->statm, pid) != 0) {
        free(s);
        return NULL;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&s->lock, NULL);
    if (pthread_create(&s->thread, NULL, sampler_thread, s) != 0) {
        mp_statm_close(&s->statm);
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
    }
    return s;
}

void mp_rss_sampler_sample_now(struct mp_rss_sampler *s)
{
    if (!s)
        return;
    /* The supervisor's thread: never wait on the sampler.  If it is busy it
     * is posting a sample of this very moment anyway. */
    if (pthread_mutex_trylock(&s->lock) != 0)
        return;
    take_sample(s, 50 * 1000);
    pthread_mutex_unlock(&s->lock);
}

void mp_rss_sampler_hold(struct mp_rss_sampler *s, int held)
{
    if (s)
        atomic_store(&s->held, held);
}

void mp_rss_sampler_stop(struct mp_rss_sampler *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, 1); /* before the lock: a waiting sample gives up */
    pthread_mutex_lock(&s->lock);
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    mp_statm_close(&s->statm);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
