/* memprof: the reachability scan's access to the stopped process: reading
 * its memory in large chunks (skipping pages it never touched), finding the
 * block a word points into, and memcheck's four heuristics for interior
 * pointers (mc_leakcheck.c, heuristic_reachedness). */
#define _GNU_SOURCE
#include "reach_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define PAGE 4096ull
#define PAGEMAP_MIN (64 * 1024) /* shorter reads do not consult the page map */
#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)

static ssize_t vm_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
    struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
    return process_vm_readv(pid, &local, 1, &remote, 1, 0);
}

/* Reads what can be read; a page that cannot is zeros (and counted). */
static void read_robust(struct reader *rd, uint64_t addr, size_t len, uint8_t *buf)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = vm_read(rd->pid, addr + done, buf + done, len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        uint64_t next = ((addr + done) | (PAGE - 1)) + 1;
        size_t skip = next - (addr + done);
        if (skip > len - done)
            skip = len - done;
        memset(buf + done, 0, skip);
        rd->unreadable += skip;
        done += skip;
    }
}

void reach_read(struct reader *rd, uint64_t addr, size_t len, uint8_t *buf)
{
    if (len < PAGEMAP_MIN || rd->pagemap_fd < 0) {
        read_robust(rd, addr, len, buf);
        rd->read += len;
        return;
    }
    /* Pages neither present nor swapped hold zeros or their file's own
     * bytes: no pointer memprof could know.  Read the others in runs. */
    uint64_t end = addr + len, pos = addr;
    while (pos < end) {
        uint64_t page = pos / PAGE;
        uint64_t entries[512];
        size_t want = (size_t)((end - 1) / PAGE - page + 1);
        if (want > 512)
            want = 512;
        ssize_t got = pread(rd->pagemap_fd, entries, want * sizeof *entries, (off_t)(page * sizeof *entries));
        if (got < (ssize_t)sizeof *entries) {
            read_robust(rd, pos, (size_t)(end - pos), buf + (pos - addr));
            rd->read += end - pos;
            return;
        }
        size_t n = (size_t)got / sizeof *entries;
        for (size_t i = 0; i < n && pos < end;) {
            int present = (entries[i] & (PM_PRESENT | PM_SWAPPED)) != 0;
            size_t j = i;
            while (j < n && ((entries[j] & (PM_PRESENT | PM_SWAPPED)) != 0) == present)
                j++;
            uint64_t run_end = (page + j) * PAGE;
            if (run_end > end)
                run_end = end;
            if (present) {
                read_robust(rd, pos, (size_t)(run_end - pos), buf + (pos - addr));
                rd->read += run_end - pos;
            } else
                memset(buf + (pos - addr), 0, (size_t)(run_end - pos));
            pos = run_end;
            i = j;
        }
    }
}

int reach_read_word(struct reader *rd, uint64_t addr, uint64_t *out)
{
    return vm_read(rd->pid, addr, out, sizeof *out) == (ssize_t)sizeof *out ? 0 : -1;
}

long reach_find(const struct mp_reach_block *b, size_t n, uint64_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { /* the first block starting after v */
        size_t mid = lo + (hi - lo) / 2;
        if (b[mid].addr <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    const struct mp_reach_block *c = &b[lo - 1];
    uint64_t extent = c->size ? c->size : 1; /* memcheck: a zero-sized block covers its address */
    return v - c->addr < extent ? (long)(lo - 1) : -1;
}

/* ---- heuristics ---- */

/* Does ptr look like a vtable: in a readable file mapping, with at least
 * two non-NULL words among the next 21 that all point into executable
 * file mappings (memcheck's aligned_ptr_above_page0_is_vtable_addr). */
static int looks_like_vtable(struct heuristics *h, uint64_t ptr)
{
    const struct region *seg = reach_region_at(h->regions, ptr);
    if (!seg || !seg->file || !seg->r)
        return 0;
    uint64_t scan_max = ptr + 20 * 8;
    if (scan_max > seg->end - 1 - 8)
        scan_max = seg->end - 1 - 8;
    int fn_ptrs = 0;
    for (uint64_t scan = ptr; scan <= scan_max; scan += 8) {
        uint64_t fn;
        if (reach_read_word(h->rd, scan, &fn) != 0)
            return 0;
        if (fn == 0)
            continue;
        const struct region *f = reach_region_at(h->regions, fn);
        if (!f || !f->file || !f->x)
            return 0;
        if (++fn_ptrs == 2)
            return 1;
    }
    return 0;
}

/* The verdict for ptr, remembered. */
static int is_vtable(struct heuristics *h, uint64_t ptr)
{
    if (h->vt_count * 2 >= h->vt_mask) {
        size_t cap = h->vt_mask ? (h->vt_mask + 1) * 2 : 256;
        uint64_t *addr = calloc(cap, sizeof *addr);
        uint8_t *yes = calloc(cap, 1);
        if (!addr || !yes) {
            free(addr);
            free(yes);
            return looks_like_vtable(h, ptr);
        }
        for (size_t i = 0; h->vt_mask && i <= h->vt_mask; i++) {
            if (!h->vt_addr[i])
                continue;
            size_t j = (size_t)(h->vt_addr[i] * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
            while (addr[j])
                j = (j + 1) & (cap - 1);
            addr[j] = h->vt_addr[i];
            yes[j] = h->vt_yes[i];
        }
        free(h->vt_addr);
        free(h->vt_yes);
        h->vt_addr = addr;
        h->vt_yes = yes;
        h->vt_mask = cap - 1;
    }
    size_t j = (size_t)(ptr * 0x9e3779b97f4a7c15ull >> 20) & h->vt_mask;
    while (h->vt_addr[j]) {
        if (h->vt_addr[j] == ptr)
            return h->vt_yes[j];
        j = (j + 1) & h->vt_mask;
    }
    h->vt_addr[j] = ptr;
    h->vt_yes[j] = (uint8_t)looks_like_vtable(h, ptr);
    h->vt_count++;
    return h->vt_yes[j];
}

int reach_heuristic(struct heuristics *h, size_t t, uint64_t v)
{
    const struct mp_reach_block *ch = &h->blocks[t];
    const uint64_t *w = h->head[t];
    uint64_t off = v - ch->addr;
    /* stdstring: length, capacity, refcount, then the characters */
    if (off == 24 && ch->size >= 24 && 24 + w[1] + 1 == ch->size && w[0] <= w[1])
        return EDGE_HEURISTIC;
    /* length64: a 64-bit length of the rest of the block (sqlite) */
    if (off == 8 && ch->size >= 8 && w[0] > 0 && ch->size - 8 == w[0])
        return EDGE_HEURISTIC;
    /* newarray: new[] of objects with a destructor, the count first */
    if (off == 8 && ch->size >= 8 && w[0] > 0 && (ch->size - 8) % w[0] == 0)
        return EDGE_HEURISTIC;
    /* multipleinheritance: a vtable pointer at the block start and at v */
    if (v % 8 == 0 && ch->size >= 8 && w[0] % 8 == 0 && w[0] >= PAGE && off + 8 <= ch->size &&
        is_vtable(h, w[0])) {
        uint64_t inner;
        if (reach_read_word(h->rd, v, &inner) == 0 && inner % 8 == 0 && inner >= PAGE && is_vtable(h, inner))
            return EDGE_HEURISTIC;
    }
    return EDGE_INTERIOR;
}

void reach_heuristics_free(struct heuristics *h)
{
    free(h->vt_addr);
    free(h->vt_yes);
    h->vt_addr = NULL;
    h->vt_yes = NULL;
    h->vt_mask = h->vt_count = 0;
}
