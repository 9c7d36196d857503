/* memprof: the RSS sampler: a thread that reads /proc/PID/statm of every
 * process it is given, every interval, and posts each value into the ring
 * with the process's pid (see events/ring_reader.h), so each sample sits in
 * the event stream at the heap level of its moment.  It also sums the
 * processes sampled in the same round: the highest sum is the tree's total
 * RSS peak (--limit-total-rss). */
#ifndef MEMPROF_RSS_SAMPLER_H
#define MEMPROF_RSS_SAMPLER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mp_ring_reader;
struct mp_rss_sampler;

/* Starts sampling every interval_ns (no process yet); times count from
 * `start_ns` (CLOCK_MONOTONIC).  NULL on failure (no sampling, nothing else
 * changes). */
struct mp_rss_sampler *mp_rss_sampler_start(struct mp_ring_reader *ring, uint64_t interval_ns, uint64_t start_ns);
/* Sample process pid from now on (again: nothing changes), until removed. */
void mp_rss_sampler_add(struct mp_rss_sampler *s, pid_t pid);
void mp_rss_sampler_remove(struct mp_rss_sampler *s, pid_t pid);
/* Takes one more round now, from any thread, while process pid still
 * exists (at its exit stop): its last sample, and a sum of this moment;
 * skipped when the sampler thread is taking one at this moment. */
void mp_rss_sampler_sample_now(struct mp_rss_sampler *s, pid_t pid);

/* The highest sum of one round: bytes, when (ns since start_ns), how many
 * processes were summed, and the biggest of them (pid, bytes). */
struct mp_rss_total_peak {
    uint64_t bytes;
    uint64_t time_ns;
    size_t processes;
    pid_t biggest_pid;
    uint64_t biggest_bytes;
};
void mp_rss_sampler_total_peak(struct mp_rss_sampler *s, struct mp_rss_total_peak *out);

/* Stops the thread and frees s (NULL ok). */
void mp_rss_sampler_stop(struct mp_rss_sampler *s);

uint64_t mp_monotonic_ns(void);

#endif
