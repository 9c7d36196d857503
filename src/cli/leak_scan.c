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
#include "memprof/event.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The scan's block list from the profile's live blocks (sorted by their
 * tagged addresses: the pieces a program annotated with <memprof/memprof.h>
 * carry MP_CLIENT_BLOCK, so they all come after the allocator's blocks).
 * The pieces get their real addresses, merged in address order.  An
 * allocator block that holds pieces (a pool's chunk from malloc) is left
 * out, as memcheck leaves out a malloc block holding MALLOCLIKE blocks
 * (mc_leakcheck.c): its pieces are classed themselves, and it counts as
 * still reachable (outside[i] set).  Returns the number of blocks to scan;
 * live_of[j] is the live block that scan block j stands for. */
static size_t scan_list(const struct mp_live_block *live, size_t n, struct mp_reach_block *blocks, size_t *live_of,
                        uint8_t *outside)
{
    size_t h = 0;
    while (h < n && !(live[h].addr & MP_CLIENT_BLOCK))
        h++;
    size_t *order = live_of; /* merged order first, compacted below */
    size_t a = 0, c = h, m = 0;
    while (a < h || c < n) {
        /* on equal addresses the allocator's block first: it may hold the piece */
        if (c == n || (a < h && live[a].addr <= (live[c].addr & ~MP_CLIENT_BLOCK)))
            order[m++] = a++;
        else
            order[m++] = c++;
    }
    memset(outside, 0, n);
    size_t chunk = SIZE_MAX;   /* the last allocator block in address order */
    for (size_t i = 0; i < n; i++) {
        const struct mp_live_block *b = &live[order[i]];
        if (!(b->addr & MP_CLIENT_BLOCK)) {
            chunk = order[i];
            continue;
        }
        uint64_t at = b->addr & ~MP_CLIENT_BLOCK;
        if (chunk != SIZE_MAX && at >= live[chunk].addr && at + b->size <= live[chunk].addr + live[chunk].size &&
            at < live[chunk].addr + (live[chunk].size ? live[chunk].size : 1))
            outside[chunk] = 1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = order[i];
        if (outside[l])
            continue;
        blocks[k] = (struct mp_reach_block){ live[l].addr & ~MP_CLIENT_BLOCK, live[l].size };
        live_of[k++] = l;
    }
    return k;
}

int mp_classify_leaks(struct mp_profile *p, pid_t pid, const pid_t *tids, size_t n_tids, int attached, char *note,
                      size_t notelen)
{
    size_t n;
    int failed;
    struct mp_live_block *live = mp_profile_live_blocks(p, &n, &failed);
    struct mp_reach_block *blocks = malloc((n ? n : 1) * sizeof *blocks);
    size_t *live_of = malloc((n ? n : 1) * sizeof *live_of);
    uint8_t *kinds = malloc(n ? n : 1), *live_kinds = malloc(n ? n : 1);
    if (failed || !blocks || !live_of || !kinds || !live_kinds) {
        snprintf(note, notelen, "leak kinds were not computed: memprof ran out of memory");
        free(live);
        free(blocks);
        free(live_of);
        free(kinds);
        free(live_kinds);
        return -1;
    }
    size_t n_scan = scan_list(live, n, blocks, live_of, live_kinds);
    static const char *const skip[] = { "libmemprof-agent", NULL };
    struct mp_reach_options opt = { .heap_gaps_are_roots = attached, .skip_paths = skip };
    struct mp_reach_stats st;
    char err[256];
    int rc = mp_reach_classify(pid, tids, n_tids, blocks, n_scan, &opt, kinds, &st, err, sizeof err);
    if (rc == 0) {
        /* live_kinds holds 1 where a chunk of pieces was left out of the scan */
        for (size_t i = 0; i < n; i++)
            live_kinds[i] = live_kinds[i] ? MP_REACH_REACHABLE : MP_REACH_DEFINITE;
        for (size_t j = 0; j < n_scan; j++)
            live_kinds[live_of[j]] = kinds[j];
        mp_profile_set_leak_kinds(p, live, live_kinds, n);
    } else {
        snprintf(note, notelen, "leak kinds were not computed: %s", err);
    }
    if (getenv("MEMPROF_DEBUG_REACH"))
        fprintf(stderr, "memprof: reachability: %zu blocks, %llu bytes of roots, %llu of blocks, %llu edges, "
                        "%llu unreadable, %.3f s\n", n_scan, (unsigned long long)st.root_bytes,
                (unsigned long long)st.heap_bytes, (unsigned long long)st.edges,
                (unsigned long long)st.unreadable_bytes, st.seconds);
    free(live);
    free(blocks);
    free(live_of);
    free(kinds);
    free(live_kinds);
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
