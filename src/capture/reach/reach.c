/* memprof: the reachability scan (reach.h): memcheck's leak search
 * (valgrind's memcheck/mc_leakcheck.c) over a stopped process's memory.
 *
 * 1. Every listed block is read once, in address order, in windows of
 *    neighbouring blocks; each word that points into a block is an edge
 *    (target, start or interior).  Interior edges then get memcheck's
 *    heuristics.  The edges are all the marking needs afterwards.
 * 2. Roots (registers, stacks, writable data) are read and their pointers
 *    marked: a block reached by a start pointer (or a heuristic) from a
 *    root or a still-reachable block is still reachable; reached any other
 *    way, possibly lost.  A block that changes state is visited again.
 * 3. Every block still unreached, in address order, leads a clique: the
 *    unreached blocks it reaches are indirectly lost, it stays definitely
 *    lost (a leader reached later by another clique joins it).
 *
 * One more rule memcheck does not need (its allocator is its own): glibc's
 * main_arena, in libc's data, points at free chunks and the top chunk,
 * and a chunk header lies inside the last 8 bytes of the block before it.
 * Such a pointer (exactly where the next chunk header of a block would
 * be, found in the data of the object that holds malloc's state) is
 * malloc's bookkeeping, not the program's, and is not followed. */
#define _GNU_SOURCE
#include "reach_internal.h"
#include "base/count.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <time.h>
#include <unistd.h>

#define WINDOW (4u << 20)  /* bytes read at once */
#define MAX_EDGES (1ull << 28) /* 2 GiB of edges: beyond, memprof gives up rather than swap */
#define MAX_GAP (64u << 10) /* neighbouring blocks closer than this are read together */

enum { UNREACHED, INDIRECT, POSSIBLE, REACHABLE };

struct edge {
    uint32_t target;
    uint32_t kind;   /* while reading: the offset into the target (clamped); then EDGE_* */
};

struct scan {
    const struct mp_reach_block *b;
    size_t n;
    uint64_t lo, hi;           /* the blocks' extent */
    struct reader rd;
    struct region_list regions;
    struct heuristics heur;
    uint64_t (*head)[3];
    struct edge *edges;
    size_t n_edges, cap_edges;
    size_t *first;             /* block i's edges: edges[first[i] .. first[i+1]) */
    uint8_t *state, *pending;
    uint32_t *stack;
    size_t top;
    struct mp_reach_stats *stats;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long find(const struct scan *s, uint64_t v)
{
    if (v < s->lo || v >= s->hi)
        return -1;
    return reach_find(s->b, s->n, v);
}

/* ---- 1. the blocks' own pointers ---- */

/* An edge of the block whose edges start at `since`. */
static int add_edge(struct scan *s, size_t since, uint32_t target, uint64_t off)
{
    uint32_t kind = off > UINT32_MAX - 1 ? UINT32_MAX : (uint32_t)off;
    if (s->n_edges > since && s->edges[s->n_edges - 1].target == target && s->edges[s->n_edges - 1].kind == kind)
        return 0; /* the same pointer again */
    if (s->n_edges == s->cap_edges) {
        size_t cap = s->cap_edges ? s->cap_edges * 2 : 4096;
        if (cap > MAX_EDGES)
            return -1;
        struct edge *g = realloc(s->edges, cap * sizeof *g);
        if (!g)
            return -1;
        s->edges = g;
        s->cap_edges = cap;
    }
    s->edges[s->n_edges++] = (struct edge){ target, kind };
    return 0;
}

/* The words of block i in buf (its bytes [from, from+len) of the block). */
static int scan_block_part(struct scan *s, size_t i, uint64_t from, const uint8_t *buf, size_t len)
{
    const struct mp_reach_block *c = &s->b[i];
    uint64_t a = (from + 7) & ~7ull, end = (from + len) & ~7ull;
    if (from == c->addr)
        for (int k = 0; k < 3; k++)
            if (c->addr + 8 * (k + 1) <= c->addr + c->size && (uint64_t)8 * (k + 1) <= len)
                memcpy(&s->head[i][k], buf + 8 * k, 8);
    for (; a < end; a += 8) {
        uint64_t v;
        memcpy(&v, buf + (a - from), 8);
        long t = find(s, v);
        if (t >= 0 && add_edge(s, s->first[i], (uint32_t)t, v - s->b[t].addr) != 0)
            return -1;
    }
    return 0;
}

static int read_blocks(struct scan *s)
{
    uint8_t *buf = malloc(WINDOW);
    if (!buf)
        return -1;
    uint64_t before = s->rd.read;
    size_t i = 0;
    while (i < s->n) {
        const struct mp_reach_block *c = &s->b[i];
        s->first[i] = s->n_edges;
        if (c->size > WINDOW) { /* a big block on its own, piece by piece */
            for (uint64_t off = 0; off < c->size; off += WINDOW) {
                size_t len = c->size - off < WINDOW ? (size_t)(c->size - off) : WINDOW;
                reach_read(&s->rd, c->addr + off, len, buf);
                if (scan_block_part(s, i, c->addr + off, buf, len) != 0)
                    goto oom;
            }
            i++;
            continue;
        }
        size_t j = i + 1;
        uint64_t end = c->addr + c->size;
        while (j < s->n && s->b[j].size <= WINDOW && s->b[j].addr - end <= MAX_GAP &&
               s->b[j].addr + s->b[j].size - c->addr <= WINDOW) {
            if (s->b[j].addr + s->b[j].size > end)
                end = s->b[j].addr + s->b[j].size;
            j++;
        }
        reach_read(&s->rd, c->addr, (size_t)(end - c->addr), buf);
        for (size_t k = i; k < j; k++) {
            s->first[k] = s->n_edges;
            if (scan_block_part(s, k, s->b[k].addr, buf + (s->b[k].addr - c->addr), (size_t)s->b[k].size) != 0)
                goto oom;
        }
        i = j;
    }
    s->first[s->n] = s->n_edges;
    s->stats->heap_bytes = s->rd.read - before;
    free(buf);
    /* heuristics, now that every block's first words are known */
    for (size_t e = 0; e < s->n_edges; e++) {
        uint32_t off = s->edges[e].kind;
        s->edges[e].kind = off == 0 ? EDGE_START
                           : off == UINT32_MAX
                               ? EDGE_INTERIOR
                               : (uint32_t)reach_heuristic(&s->heur, s->edges[e].target, s->b[s->edges[e].target].addr + off);
    }
    s->stats->edges = s->n_edges;
    return 0;
oom:
    free(buf);
    return -1;
}

/* ---- 2. from the roots ---- */

static void push(struct scan *s, uint32_t i)
{
    if (!s->pending[i]) {
        s->pending[i] = 1;
        s->stack[s->top++] = i;
    }
}

/* memcheck's lc_push_without_clique_if_a_chunk_ptr */
static void reach(struct scan *s, uint32_t t, int edge, int prior_definite)
{
    if (s->state[t] == REACHABLE)
        return;
    if (edge != EDGE_INTERIOR && prior_definite) {
        s->state[t] = REACHABLE;
        push(s, t);
    } else if (s->state[t] == UNREACHED) {
        s->state[t] = POSSIBLE;
        push(s, t);
    }
}

static void process_without_clique(struct scan *s)
{
    while (s->top) {
        uint32_t b = s->stack[--s->top];
        s->pending[b] = 0;
        int definite = s->state[b] != POSSIBLE;
        for (size_t e = s->first[b]; e < s->first[b + 1]; e++)
            reach(s, s->edges[e].target, (int)s->edges[e].kind, definite);
    }
}

/* A word found in a root. */
static void root_word(struct scan *s, uint64_t v, int malloc_owner)
{
    long t = find(s, v);
    if (t < 0)
        return;
    const struct mp_reach_block *c = &s->b[t];
    uint64_t off = v - c->addr;
    if (malloc_owner && off) {
        uint64_t chunk = (c->size + 8 + 15) & ~15ull;
        if (chunk < 32)
            chunk = 32;
        if (off == chunk - 16) /* main_arena's pointer to the next chunk's header */
            return;
    }
    reach(s, (uint32_t)t, off == 0 ? EDGE_START : reach_heuristic(&s->heur, (size_t)t, v), 1);
}

static int scan_range(struct scan *s, uint64_t from, uint64_t to, int malloc_owner, uint8_t *buf)
{
    from = (from + 7) & ~7ull;
    to &= ~7ull;
    while (from < to) {
        size_t len = to - from < WINDOW ? (size_t)(to - from) : WINDOW;
        uint64_t before = s->rd.read;
        reach_read(&s->rd, from, len, buf);
        s->stats->root_bytes += s->rd.read - before;
        for (size_t k = 0; k + 8 <= len; k += 8) {
            uint64_t v;
            memcpy(&v, buf + k, 8);
            if (v >= s->lo && v < s->hi)
                root_word(s, v, malloc_owner);
        }
        from += len;
    }
    return 0;
}

static size_t first_at_or_after(const struct scan *s, uint64_t addr)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->b[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int scan_roots(struct scan *s, const struct mp_reach_options *opt)
{
    uint8_t *buf = malloc(WINDOW);
    if (!buf)
        return -1;
    for (size_t i = 0; i < s->regions.n; i++) {
        const struct region *r = &s->regions.v[i];
        if (r->kind == REGION_ROOT) {
            scan_range(s, r->scan_from, r->end, r->malloc_owner, buf);
        } else if (r->kind == REGION_HEAP && opt && opt->heap_gaps_are_roots) {
            /* blocks memprof never saw may live between the ones it did */
            uint64_t pos = r->start;
            for (size_t b = first_at_or_after(s, r->start); b < s->n; b++) {
                const struct mp_reach_block *c = &s->b[b];
                if (c->addr >= r->end)
                    break;
                if (c->addr + (c->size ? c->size : 1) <= pos)
                    continue;
                if (c->addr > pos)
                    scan_range(s, pos, c->addr, 0, buf);
                pos = c->addr + (c->size ? c->size : 1);
            }
            if (pos < r->end)
                scan_range(s, pos, r->end, 0, buf);
        }
    }
    free(buf);
    return 0;
}

/* ---- 3. cliques of lost blocks ---- */

static void process_clique(struct scan *s, uint32_t leader)
{
    while (s->top) {
        uint32_t b = s->stack[--s->top];
        s->pending[b] = 0;
        for (size_t e = s->first[b]; e < s->first[b + 1]; e++) {
            uint32_t t = s->edges[e].target;
            if (s->state[t] == UNREACHED && t != leader) {
                push(s, t);
                s->state[t] = INDIRECT;
            }
        }
    }
}

static int sorted(const struct mp_reach_block *b, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (b[i].addr < b[i - 1].addr + (b[i - 1].size ? b[i - 1].size : 1))
            return 0;
    return 1;
}

int mp_reach_classify(pid_t pid, const pid_t *tids, size_t n_tids, const struct mp_reach_block *blocks, size_t n,
                      const struct mp_reach_options *opt, uint8_t *kinds, struct mp_reach_stats *stats, char *err,
                      size_t errlen)
{
    struct mp_reach_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    double t0 = now();
    if (n == 0)
        return 0;
    if (!sorted(blocks, n) || n >= UINT32_MAX) {
        snprintf(err, errlen, "the block list is not sorted by address, or blocks overlap");
        return -1;
    }
    struct scan s;
    memset(&s, 0, sizeof s);
    s.b = blocks;
    s.n = n;
    s.lo = blocks[0].addr;
    s.hi = blocks[n - 1].addr + (blocks[n - 1].size ? blocks[n - 1].size : 1);
    s.stats = stats;
    s.rd.pid = pid;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/pagemap", (int)pid);
    s.rd.pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = -1;
    struct user_regs_struct *regs = calloc(n_tids ? n_tids : 1, sizeof *regs);
    uint64_t *rsp = calloc(n_tids ? n_tids : 1, sizeof *rsp);
    size_t n_regs = 0;
    s.head = calloc(n, sizeof *s.head);
    s.first = malloc((n + 1) * sizeof *s.first);
    s.state = calloc(n, 1);
    s.pending = calloc(n, 1);
    s.stack = malloc(n * sizeof *s.stack);
    if (!regs || !rsp || !s.head || !s.first || !s.state || !s.pending || !s.stack) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_tids; i++) /* a thread gone meanwhile has no registers left */
        if (ptrace(PTRACE_GETREGS, tids[i], 0, &regs[n_regs]) == 0)
            rsp[n_regs] = regs[n_regs].rsp, n_regs++;
    if (reach_read_regions(pid, rsp, n_regs, blocks, n, opt, &s.rd, &s.regions, err, errlen) != 0)
        goto out;
    s.heur = (struct heuristics){ .rd = &s.rd, .regions = &s.regions, .blocks = blocks,
                                  .head = (const uint64_t(*)[3])s.head };
    if (read_blocks(&s) != 0 || scan_roots(&s, opt) != 0) {
        char max[32];
        snprintf(err, errlen, s.cap_edges * 2 > MAX_EDGES ? "more than %s pointers between blocks"
                                                          : "out of memory", MP_COUNT_STR(max, MAX_EDGES));
        goto out;
    }
    for (size_t i = 0; i < n_regs; i++) {
        const struct user_regs_struct *r = &regs[i];
        const uint64_t gp[] = { r->rax, r->rcx, r->rdx, r->rbx, r->rsi, r->rdi, r->rsp, r->rbp,
                                r->r8,  r->r9,  r->r10, r->r11, r->r12, r->r13, r->r14, r->r15 };
        for (size_t k = 0; k < sizeof gp / sizeof *gp; k++)
            root_word(&s, gp[k], 0);
    }
    process_without_clique(&s);
    for (size_t i = 0; i < n; i++) {
        if (s.state[i] != UNREACHED)
            continue;
        push(&s, (uint32_t)i);
        process_clique(&s, (uint32_t)i);
    }
    static const uint8_t kind_of_state[] = { [UNREACHED] = MP_REACH_DEFINITE, [INDIRECT] = MP_REACH_INDIRECT,
                                             [POSSIBLE] = MP_REACH_POSSIBLE, [REACHABLE] = MP_REACH_REACHABLE };
    for (size_t i = 0; i < n; i++)
        kinds[i] = kind_of_state[s.state[i]];
    rc = 0;
out:
    stats->unreadable_bytes = s.rd.unreadable;
    stats->seconds = now() - t0;
    if (s.rd.pagemap_fd >= 0)
        close(s.rd.pagemap_fd);
    reach_heuristics_free(&s.heur);
    free(s.regions.v);
    free(regs);
    free(rsp);
    free(s.head);
    free(s.first);
    free(s.state);
    free(s.pending);
    free(s.stack);
    free(s.edges);
    return rc;
}
