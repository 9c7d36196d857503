/* memprof: the RSS sampler: a thread that reads the target's /proc/PID/statm
 * every interval and posts the value into the ring (see events/ring_reader.h). */
#ifndef MEMPROF_RSS_SAMPLER_H
#define MEMPROF_RSS_SAMPLER_H

#include <stdint.h>
#include <sys/types.h>

struct mp_ring_reader;
struct mp_rss_sampler;

/* Starts sampling pid every interval_ns; times count from `start_ns`
 * (CLOCK_MONOTONIC).  NULL on failure (no sampling, nothing else changes). */
struct mp_rss_sampler *mp_rss_sampler_start(struct mp_ring_reader *ring, pid_t pid, uint64_t interval_ns,
                                            uint64_t start_ns);
/* Takes one more sample now (the process still exists), from any thread;
 * skipped when the sampler thread is taking one at this moment. */
void mp_rss_sampler_sample_now(struct mp_rss_sampler *s);
/* While held, the thread takes no samples (the target sits in memprof's
 * exit stop: what it would read is memprof's wait, not the program). */
void mp_rss_sampler_hold(struct mp_rss_sampler *s, int held);
/* Stops the thread and frees s (NULL ok). */
void mp_rss_sampler_stop(struct mp_rss_sampler *s);

uint64_t mp_monotonic_ns(void);

#endif
