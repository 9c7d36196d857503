/* memprof: what an image's timeline gets of its RSS readings.  Two sources
 * read a process's RSS: the sampler thread, every --interval, and line mode
 * (--function), at each trap with the thread stopped there, the same
 * moments as the function spans' ends.  Both are timeline samples, so a
 * span on the timeline holds the memory its function used whatever the
 * sampler's timing; but --interval still sets the timeline's resolution:
 * a trap's reading goes on the timeline when --interval has passed since
 * the timeline's last sample, or when it is a new high (the peak's moment
 * is exact), not at every trap (millions of them would merge the timeline's
 * neighbours by trap density, not by time).  A sampler reading older than
 * the last trap's (its round began before that trap) or than the
 * timeline's last sample is stale: it is dropped, for the timeline (which stays in time order) and for the line
 * profile's last RSS alike. */
#include "session_timeline.h"
#include "session.h"

#include "memprof/profile.h"

static uint64_t last_sample_ns(const struct mp_profile *p, int *any)
{
    const struct mp_sample *tl;
    size_t n = mp_profile_timeline(p, &tl);
    *any = n != 0;
    return n ? tl[n - 1].time_ns : 0;
}

int mp_session_timeline_reading(struct mp_image *img, const struct mp_event *ev, uint64_t interval_ns)
{
    struct mp_event sample = { .kind = MP_EV_SAMPLE, .pid = ev->pid, .time_ns = ev->time_ns,
                               .rss_bytes = ev->rss_bytes };
    int any;
    uint64_t last_ns = last_sample_ns(img->profile, &any);
    int high = !any || ev->rss_bytes > img->timeline_high_rss;
    if (ev->kind == MP_EV_SAMPLE) {
        int stale = (img->timeline_had_trap && ev->time_ns < img->timeline_trap_ns) ||
                    (any && ev->time_ns < last_ns);
        if (stale && !high)
            return 0;
        if (stale) { /* late, but the run's new high: on the timeline at the latest time
                        seen, not to the line profile (its last RSS stays the trap's) */
            sample.time_ns = img->timeline_had_trap && img->timeline_trap_ns > last_ns ? img->timeline_trap_ns
                                                                                      : last_ns;
            img->timeline_high_rss = ev->rss_bytes;
            if (mp_profile_add(img->profile, &sample) != 0)
                img->profile_errors++;
            return 0;
        }
    } else {
        if (!img->timeline_had_trap || ev->time_ns > img->timeline_trap_ns)
            img->timeline_trap_ns = ev->time_ns;
        img->timeline_had_trap = 1;
        if (!high && any && (ev->time_ns < last_ns || ev->time_ns - last_ns < interval_ns))
            return 1; /* thinned: the line profile still has it */
        if (any && sample.time_ns < last_ns)
            sample.time_ns = last_ns; /* a new high behind a sampler sample: the peak stays */
    }
    if (high)
        img->timeline_high_rss = ev->rss_bytes;
    if (mp_profile_add(img->profile, &sample) != 0)
        img->profile_errors++;
    return 1;
}
