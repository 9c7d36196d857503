/* memprof: a followed process's blocks classed as memcheck would (leak
 * kinds), at its end (every thread held at its exit stop) or when memprof
 * -p detaches, once the event ring has delivered everything the process
 * wrote before that moment. */
#define _GNU_SOURCE
#include "session.h"
#include "leak_scan.h"
#include "events/ring_reader.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define CATCH_UP_US (2 * 1000 * 1000)

void mp_session_classify_leaks(struct mp_session *s, struct mp_image *img, const pid_t *tids, size_t n,
                               uint64_t ticket)
{
    img->leak_note[0] = '\0';
    if (img->quiet || img->engine_note[0] || strcmp(img->engine ? img->engine : "none", "none") == 0)
        return; /* no heap recorded: nothing to class */
    /* Its threads are stopped for good: a record one of them reserved and
     * never wrote (killed mid-record by exit_group) is passed, counted lost. */
    mp_ring_reader_freeze_pid(s->ring, img->pid);
    int caught_up = ticket != 0;
    for (long waited = 0; caught_up && !mp_ring_reader_control_done(s->ring, ticket); waited += 100) {
        if (waited >= CATCH_UP_US) {
            caught_up = 0;
            break;
        }
        struct timespec ts = { 0, 100 * 1000 };
        nanosleep(&ts, NULL);
    }
    mp_ring_reader_freeze_pid(s->ring, 0);
    if (!caught_up) {
        snprintf(img->leak_note, sizeof img->leak_note,
                 "leak kinds were not computed: memprof's event ring did not catch up with the process in time");
        return;
    }
    mp_classify_leaks(img->profile, img->pid, tids, n, s->attach, img->leak_note, sizeof img->leak_note);
}
