/* memprof: classing the blocks a process holds when it ends (or when
 * memprof detaches) as memcheck would: the profile's live blocks go to the
 * reachability scan (capture/reach) and its verdicts back to the profile.
 * One call per process end; the caller has every thread stopped and the
 * event ring drained up to that moment.  Also reads the suppression files
 * (profile/suppress.h) before anything runs. */
#define _GNU_SOURCE
#include "leak_scan.h"
#include "capture/reach/reach.h"
#include "profile/suppress.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mp_classify_leaks(struct mp_profile *p, pid_t pid, const pid_t *tids, size_t n_tids, int attached, char *note,
                      size_t notelen)
{
    size_t n;
    int failed;
    struct mp_live_block *live = mp_profile_live_blocks(p, &n, &failed);
    struct mp_reach_block *blocks = malloc((n ? n : 1) * sizeof *blocks);
    uint8_t *kinds = malloc(n ? n : 1);
    if (failed || !blocks || !kinds) {
        snprintf(note, notelen, "leak kinds were not computed: memprof ran out of memory");
        free(live);
        free(blocks);
        free(kinds);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        blocks[i] = (struct mp_reach_block){ live[i].addr, live[i].size };
    static const char *const skip[] = { "libmemprof-agent", NULL };
    struct mp_reach_options opt = { .heap_gaps_are_roots = attached, .skip_paths = skip };
    struct mp_reach_stats st;
    char err[256];
    int rc = mp_reach_classify(pid, tids, n_tids, blocks, n, &opt, kinds, &st, err, sizeof err);
    if (rc == 0)
        mp_profile_set_leak_kinds(p, live, kinds, n);
    else
        snprintf(note, notelen, "leak kinds were not computed: %s", err);
    if (getenv("MEMPROF_DEBUG_REACH"))
        fprintf(stderr, "memprof: reachability: %zu blocks, %llu bytes of roots, %llu of blocks, %llu edges, "
                        "%llu unreadable, %.3f s\n", n, (unsigned long long)st.root_bytes,
                (unsigned long long)st.heap_bytes, (unsigned long long)st.edges,
                (unsigned long long)st.unreadable_bytes, st.seconds);
    free(live);
    free(blocks);
    free(kinds);
    return rc;
}

struct mp_suppressions *mp_load_suppressions(const char *const *files, size_t n, int no_defaults, char *err,
                                             size_t errlen)
{
    struct mp_suppressions *s = mp_suppressions_new();
    if (!s || (!no_defaults && mp_suppressions_add_defaults(s) != 0)) {
        snprintf(err, errlen, "memprof: out of memory");
        mp_suppressions_free(s);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        FILE *f = fopen(files[i], "re");
        char *text = NULL;
        size_t len = 0;
        if (f) {
            FILE *m = open_memstream(&text, &len);
            char buf[4096];
            size_t got;
            while (m && (got = fread(buf, 1, sizeof buf, f)) > 0)
                fwrite(buf, 1, got, m);
            if (m)
                fclose(m);
        }
        int e = errno;
        if (!f || ferror(f) || !text) {
            snprintf(err, errlen, "memprof: cannot read suppressions file %s: %s", files[i],
                     strerror(f && !ferror(f) ? ENOMEM : e));
            if (f)
                fclose(f);
            free(text);
            mp_suppressions_free(s);
            return NULL;
        }
        fclose(f);
        char why[512];
        if (strlen(text) != len) {
            snprintf(err, errlen, "memprof: %s is not a text file of leak:PATTERN lines (it holds a NUL byte)", files[i]);
            free(text);
            mp_suppressions_free(s);
            return NULL;
        }
        int rc = mp_suppressions_add_text(s, text, files[i], why, sizeof why);
        free(text);
        if (rc != 0) {
            snprintf(err, errlen, "memprof: %s", why);
            mp_suppressions_free(s);
            return NULL;
        }
    }
    return s;
}
