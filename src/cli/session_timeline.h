/* memprof: what an image's timeline gets of RSS readings (session_timeline.c). */
#ifndef MEMPROF_CLI_SESSION_TIMELINE_H
#define MEMPROF_CLI_SESSION_TIMELINE_H

#include "memprof/event.h"

#include <stdint.h>

struct mp_image;

/* An RSS reading of img: a sampler sample (MP_EV_SAMPLE) or a line mode
 * trap (MP_EV_LINE with rss_bytes).  Adds it to img's timeline when it
 * belongs there.  Returns 0 when the reading is stale (a sampler sample
 * older than the last trap's reading): nothing else may use it either
 * (the timeline keeps it, at the latest time seen, if it is the run's
 * new high). */
int mp_session_timeline_reading(struct mp_image *img, const struct mp_event *ev, uint64_t interval_ns);

#endif
