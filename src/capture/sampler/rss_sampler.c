/* memprof: periodic RSS sampling of every followed process (statm via
 * pread, about 1 us a read), and the tree's total per round. */
#define _GNU_SOURCE
#include "rss_sampler.h"
#include "supervise/procfs.h"
#include "events/ring_reader.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sampled {
    pid_t pid;
    struct mp_statm statm;
};

struct mp_rss_sampler {
    struct mp_ring_reader *ring;
    uint64_t interval_ns, start_ns;
    pthread_t thread;
    pthread_mutex_t lock;  /* the process list, and one sample at a time */
    pthread_cond_t wake;
    _Atomic int stop;  /* also cancels a sample waiting for room in the ring */
    struct sampled *procs;
    size_t n, cap;
    struct mp_rss_total_peak peak;
};

uint64_t mp_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* wait_us: how long a full ring may hold a sample up before it is dropped.
 * With the lock held. */
static uint64_t take_sample(struct mp_rss_sampler *s, struct sampled *p, uint64_t now, long wait_us)
{
    uint64_t rss = mp_statm_rss(&p->statm);
    if (rss)
        mp_ring_reader_post_sample(s->ring, p->pid, now, rss, wait_us, &s->stop);
    return rss;
}

static void take_round(struct mp_rss_sampler *s, long wait_us)
{
    uint64_t now = mp_monotonic_ns() - s->start_ns, total = 0, biggest = 0;
    size_t counted = 0;
    pid_t biggest_pid = 0;
    for (size_t i = 0; i < s->n && !s->stop; i++) {
        uint64_t rss = take_sample(s, &s->procs[i], now, wait_us);
        if (!rss)
            continue;
        total += rss;
        counted++;
        if (rss > biggest) {
            biggest = rss;
            biggest_pid = s->procs[i].pid;
        }
    }
    if (total > s->peak.bytes)
        s->peak = (struct mp_rss_total_peak){ total, now, counted, biggest_pid, biggest };
}

static void *sampler_thread(void *arg)
{
    struct mp_rss_sampler *s = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        take_round(s, 10 * 1000 * 1000); /* a busy reader catches up; stop cancels */
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

struct mp_rss_sampler *mp_rss_sampler_start(struct mp_ring_reader *ring, uint64_t interval_ns, uint64_t start_ns)
{
    struct mp_rss_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->ring = ring;
    s->interval_ns = interval_ns;
    s->start_ns = start_ns;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&s->lock, NULL);
    if (pthread_create(&s->thread, NULL, sampler_thread, s) != 0) {
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
    }
    return s;
}

static long find(const struct mp_rss_sampler *s, pid_t pid)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->procs[i].pid == pid)
            return (long)i;
    return -1;
}

void mp_rss_sampler_add(struct mp_rss_sampler *s, pid_t pid)
{
    if (!s)
        return;
    struct sampled p = { .pid = pid };
    if (mp_statm_open(&p.statm, pid) != 0)
        return;
    pthread_mutex_lock(&s->lock);
    long i = find(s, pid);
    if (i >= 0) { /* the same pid again (exec): a fresh descriptor */
        mp_statm_close(&s->procs[i].statm);
        s->procs[i] = p;
        p.statm.fd = -1;
    } else if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct sampled *g = realloc(s->procs, cap * sizeof *g);
        if (g) {
            s->procs = g;
            s->cap = cap;
        }
    }
    if (i < 0 && s->n < s->cap)
        s->procs[s->n++] = p;
    else if (i < 0)
        mp_statm_close(&p.statm); /* out of memory: not sampled */
    pthread_mutex_unlock(&s->lock);
}

void mp_rss_sampler_remove(struct mp_rss_sampler *s, pid_t pid)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    long i = find(s, pid);
    if (i >= 0) {
        mp_statm_close(&s->procs[i].statm);
        s->procs[i] = s->procs[--s->n];
    }
    pthread_mutex_unlock(&s->lock);
}

void mp_rss_sampler_sample_now(struct mp_rss_sampler *s, pid_t pid)
{
    if (!s)
        return;
    /* The supervisor's thread: never wait on the sampler.  If it is busy it
     * is posting a sample of this very moment anyway. */
    if (pthread_mutex_trylock(&s->lock) != 0)
        return;
    if (find(s, pid) >= 0)
        take_round(s, 50 * 1000); /* every process: the sum of this moment counts too */
    pthread_mutex_unlock(&s->lock);
}

void mp_rss_sampler_total_peak(struct mp_rss_sampler *s, struct mp_rss_total_peak *out)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    *out = s->peak;
    pthread_mutex_unlock(&s->lock);
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
    for (size_t i = 0; i < s->n; i++)
        mp_statm_close(&s->procs[i].statm);
    free(s->procs);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
