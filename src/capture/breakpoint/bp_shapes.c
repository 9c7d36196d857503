/* memprof: the shape table of the breakpoint engine's fast entries (see
 * bp_shapes.h): adding a stack the supervisor unwound, and emptying the
 * table.  The stubs' side is fast_common in bp_stubs.S. */
#include "bp_shapes.h"

#include <string.h>

struct shape_head {
    uint64_t next, ra;
    uint32_t n, kind, end, end_off;
};
_Static_assert(offsetof(struct shape_head, next) == MP_SHAPE_NEXT && offsetof(struct shape_head, ra) == MP_SHAPE_RA &&
               offsetof(struct shape_head, n) == MP_SHAPE_N && offsetof(struct shape_head, kind) == MP_SHAPE_KIND &&
               offsetof(struct shape_head, end) == MP_SHAPE_END &&
               offsetof(struct shape_head, end_off) == MP_SHAPE_END_OFF &&
               sizeof(struct shape_head) == MP_SHAPE_FRAMES, "bp_stubs.S reads shapes with these offsets");

static uint32_t bucket_of(uint64_t ra)
{
    return (uint32_t)((ra * (uint64_t)MP_SHAPE_HASH) >> (64 - MP_SHAPE_BUCKET_BITS));
}

void mp_bp_shapes_init(struct mp_bp_inproc *ip, unsigned char *local, uint64_t remote)
{
    ip->shapes_local = local;
    ip->shapes_remote = remote;
    ip->shapes_used = 0;
    ip->n_shapes = 0;
    memset(local, 0, (size_t)MP_SHAPE_BUCKETS * 8);
    uint64_t buckets = remote;
    memcpy(ip->local + MP_STUB_D_BUCKETS, &buckets, sizeof buckets);
}

static unsigned char *local_of(const struct mp_bp_inproc *ip, uint64_t remote)
{
    return ip->shapes_local + (remote - ip->shapes_remote);
}

/* The same shape is in the table already (two threads stopped on one new
 * stack before it was added). */
static int known(const struct mp_bp_inproc *ip, const struct shape_head *h, const uint64_t *words)
{
    const uint64_t *bucket = (const uint64_t *)(const void *)ip->shapes_local + bucket_of(h->ra);
    for (uint64_t at = *bucket; at; at = ((const struct shape_head *)(const void *)local_of(ip, at))->next) {
        const struct shape_head *o = (const struct shape_head *)(const void *)local_of(ip, at);
        if (o->ra == h->ra && o->n == h->n && o->kind == h->kind && o->end == h->end && o->end_off == h->end_off &&
            memcmp(o + 1, words, (size_t)h->n * 16) == 0)
            return 1;
    }
    return 0;
}

int mp_bp_shapes_add(struct mp_bp_inproc *ip, const uint64_t *frames, int n, const struct mp_unwind_shape *sh,
                     int kind)
{
    if (!ip->shapes_local || n <= 0 || n > MP_UNWIND_SHAPE_MAX)
        return 0;
    struct shape_head h = { .ra = frames[0], .kind = (uint32_t)kind };
    if (kind == MP_SHAPE_PASS) {
        if (!sh->rsp_based || n < 2)
            return 0;
        h.n = (uint32_t)n - 1; /* the last frame is memprof's: any of its return addresses */
        h.end = MP_SHAPE_END_CODE;
        h.end_off = sh->off[n - 1];
    } else { /* MP_SHAPE_RECORD, MP_SHAPE_SKIP: the whole stack */
        if (!sh->valid)
            return 0;
        h.n = (uint32_t)n;
        h.end = sh->end_zero ? MP_SHAPE_END_ZERO : MP_SHAPE_END_RULE;
        h.end_off = sh->end_zero ? sh->end_off : 0;
    }
    uint64_t words[2 * MP_UNWIND_SHAPE_MAX];
    for (uint32_t i = 0; i < h.n; i++) {
        words[i] = frames[i];
        words[h.n + i] = sh->off[i];
    }
    if (known(ip, &h, words))
        return 0;
    size_t bytes = sizeof h + (size_t)h.n * 16;
    if (ip->shapes_used + bytes > MP_SHAPE_ARENA_BYTES)
        return -1;
    uint64_t remote = ip->shapes_remote + (uint64_t)MP_SHAPE_BUCKETS * 8 + ip->shapes_used;
    unsigned char *at = local_of(ip, remote);
    uint64_t *bucket = (uint64_t *)(void *)ip->shapes_local + bucket_of(h.ra);
    h.next = __atomic_load_n(bucket, __ATOMIC_RELAXED);
    memcpy(at, &h, sizeof h);
    memcpy(at + sizeof h, words, (size_t)h.n * 16);
    __atomic_store_n(bucket, remote, __ATOMIC_RELEASE); /* published whole */
    ip->shapes_used += bytes;
    ip->n_shapes++;
    return 1;
}

void mp_bp_shapes_flush(struct mp_bp_inproc *ip)
{
    if (!ip->shapes_local)
        return;
    uint64_t *buckets = (uint64_t *)(void *)ip->shapes_local;
    for (uint32_t i = 0; i < MP_SHAPE_BUCKETS; i++)
        __atomic_store_n(&buckets[i], 0, __ATOMIC_RELEASE);
}
