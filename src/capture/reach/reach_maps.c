/* memprof: which of a stopped process's memory is a root of the
 * reachability scan, from /proc/PID/maps (see reach.h for the rules).
 *
 * malloc's own memory is told apart by what it holds (a listed block), by
 * its name ([heap]) or by the shape glibc gives a thread arena: a mapping
 * aligned to HEAP_MAX_SIZE (64 MiB) whose first word, heap_info.ar_ptr,
 * points into the first page of such a mapping.  A thread stack is the
 * mapping holding its stack pointer; a cached stack of a thread that is
 * gone is a writable mapping just above a PROT_NONE guard with glibc's
 * thread descriptor at its top (tcbhead_t: tcb and self point to itself),
 * and only its static TLS and descriptor are live: from the lowest static
 * TLS block its DTV lists, up.
 *
 * Unlike memcheck, the RELRO part of an object's data (made read-only after
 * relocation: the read-only mapping of a file just below its writable one)
 * is a root too: a static program's glibc keeps pointers to blocks of its
 * own there (_dl_find_object_init), which memcheck, unable to run static
 * programs, never had to class. */
#define _GNU_SOURCE
#include "reach_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARENA_ALIGN (64ull << 20) /* glibc's HEAP_MAX_SIZE on 64-bit */
#define RED_ZONE 128              /* below the stack pointer, still live (x86-64 ABI; memcheck too) */
#define TCB_SEARCH (16 * 1024)    /* where a stack's thread descriptor may sit, from its top */
#define MAX_DTV 4096

const struct region *reach_region_at(const struct region_list *l, uint64_t addr)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->v[mid].end <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->n && l->v[lo].start <= addr ? &l->v[lo] : NULL;
}

static int holds_a_block(const struct region *r, const struct mp_reach_block *b, size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { /* the first block at or after r->start */
        size_t mid = lo + (hi - lo) / 2;
        if (b[mid].addr < r->start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && b[lo].addr < r->end;
}

static int is_anonymous(const char *path)
{
    return !*path || strcmp(path, "/dev/zero") == 0 || strncmp(path, "/dev/zero ", 10) == 0 ||
           strncmp(path, "[anon:", 6) == 0;
}

static int is_libc(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strncmp(base, "libc.so", 7) == 0 || (strncmp(base, "libc-", 5) == 0 && strstr(base, ".so"));
}

static enum region_kind kind_of(const struct region *r, const char *path, const struct mp_reach_options *opt)
{
    if (!r->r || !r->w)
        return REGION_SKIP;
    if (strcmp(path, "[heap]") == 0 || strncmp(path, "[anon:glibc: malloc", 19) == 0)
        return REGION_HEAP;
    if (strncmp(path, "/memfd:memprof-", 15) == 0)
        return REGION_SKIP; /* memprof's event ring and stubs */
    if (path[0] == '[' && strcmp(path, "[stack]") != 0 && strncmp(path, "[anon:", 6) != 0)
        return REGION_SKIP; /* [vvar], [vdso], [vsyscall] */
    if (strncmp(path, "/dev/", 5) == 0 && !is_anonymous(path))
        return REGION_SKIP; /* device memory: reading it may have effects */
    for (size_t i = 0; opt && opt->skip_paths && opt->skip_paths[i]; i++)
        if (*opt->skip_paths[i] && strstr(path, opt->skip_paths[i]))
            return REGION_SKIP;
    return REGION_ROOT;
}

/* glibc's thread arena: 64 MiB-aligned, heap_info.ar_ptr into the first
 * page of an arena mapping. */
static int is_arena(const struct region_list *l, const struct region *r, struct reader *rd)
{
    uint64_t ar_ptr;
    if (r->start % ARENA_ALIGN || reach_read_word(rd, r->start, &ar_ptr) != 0)
        return 0;
    uint64_t base = ar_ptr & ~(ARENA_ALIGN - 1);
    const struct region *home = reach_region_at(l, base);
    return ar_ptr - base < 4096 && home && home->start == base && !home->file && home->w;
}

/* A cached stack of a thread that is gone: the lowest address of its
 * static TLS (the live part), or 0 when r does not look like one. */
static uint64_t dead_stack_live_from(const struct region_list *l, size_t i, struct reader *rd)
{
    const struct region *r = &l->v[i];
    if (i == 0 || r->file || l->v[i - 1].end != r->start || l->v[i - 1].r || l->v[i - 1].w || l->v[i - 1].x)
        return 0;
    size_t len = r->end - r->start < TCB_SEARCH ? (size_t)(r->end - r->start) : TCB_SEARCH;
    uint64_t base = r->end - len;
    uint64_t *w = malloc(len);
    if (!w)
        return 0;
    reach_read(rd, base, len, (uint8_t *)w);
    uint64_t tcb = 0;
    for (size_t k = len / 8 - 3; k + 1 > 0 && !tcb; k--) {
        uint64_t a = base + k * 8;
        if (w[k] == a && w[k + 2] == a)
            tcb = a;
    }
    uint64_t dtv = tcb ? w[(tcb - base) / 8 + 1] : 0;
    free(w);
    if (!tcb)
        return 0;
    uint64_t live_from = tcb, n_slots;
    if (dtv && reach_read_word(rd, dtv - 16, &n_slots) == 0 && n_slots <= MAX_DTV) {
        for (uint64_t s = 1; s <= n_slots; s++) {
            uint64_t val;
            if (reach_read_word(rd, dtv + 16 * s, &val) == 0 && val >= r->start && val < live_from)
                live_from = val;
        }
    }
    return live_from & ~7ull;
}

static void classify(struct region_list *l, const uint64_t *rsp, size_t n_rsp, const struct mp_reach_block *blocks,
                     size_t n_blocks, struct reader *rd)
{
    for (size_t i = 0; i < l->n; i++) {
        struct region *r = &l->v[i];
        r->scan_from = r->start;
        const struct region *next = i + 1 < l->n ? &l->v[i + 1] : NULL;
        if (r->kind == REGION_SKIP && r->file && r->r && !r->w && !r->x && !r->shared && next &&
            next->start == r->end && next->kind == REGION_ROOT && next->file && next->inode == r->inode &&
            next->dev == r->dev)
            r->kind = REGION_ROOT; /* RELRO: data made read-only after relocation */
        if (r->kind == REGION_ROOT && !r->file && (holds_a_block(r, blocks, n_blocks) || is_arena(l, r, rd)))
            r->kind = REGION_HEAP;
    }
    for (size_t i = 0; i < l->n; i++) {
        struct region *r = &l->v[i];
        if (r->kind != REGION_ROOT || r->file)
            continue;
        int has_thread = 0;
        for (size_t t = 0; t < n_rsp; t++)
            if (rsp[t] >= r->start && rsp[t] < r->end) {
                uint64_t from = rsp[t] - RED_ZONE < r->start ? r->start : rsp[t] - RED_ZONE;
                if (!has_thread || from < r->scan_from)
                    r->scan_from = from;
                has_thread = 1;
            }
        if (!has_thread) {
            uint64_t live = dead_stack_live_from(l, i, rd);
            if (live)
                r->scan_from = live;
        }
    }
}

int reach_read_regions(pid_t pid, const uint64_t *rsp, size_t n_rsp, const struct mp_reach_block *blocks,
                       size_t n_blocks, const struct mp_reach_options *opt, struct reader *rd,
                       struct region_list *out, char *err, size_t errlen)
{
    char path[64], exe[PATH_MAX] = "";
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "cannot read %s", path);
        return -1;
    }
    struct region_list l = { 0 };
    size_t cap = 0;
    uint8_t *exe_region = NULL;
    int have_libc = 0;
    char line[PATH_MAX + 256];
    while (fgets(line, sizeof line, f)) {
        unsigned long long start, end, offset, inode;
        unsigned dev_major, dev_minor;
        char perms[8];
        int name_at = 0;
        if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &offset, &dev_major, &dev_minor,
                   &inode, &name_at) < 7 ||
            strlen(perms) < 4 || end <= start)
            continue;
        char *name = line + name_at;
        name[strcspn(name, "\n")] = '\0';
        if (l.n == cap) {
            cap = cap ? cap * 2 : 256;
            struct region *g = realloc(l.v, cap * sizeof *g);
            uint8_t *e = realloc(exe_region, cap);
            if (g)
                l.v = g;
            if (e)
                exe_region = e;
            if (!g || !e) {
                fclose(f);
                free(l.v);
                free(exe_region);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
        struct region *r = &l.v[l.n];
        memset(r, 0, sizeof *r);
        r->start = start;
        r->end = end;
        r->r = perms[0] == 'r';
        r->w = perms[1] == 'w';
        r->x = perms[2] == 'x';
        r->shared = perms[3] == 's';
        r->inode = inode;
        r->dev = (uint64_t)dev_major << 32 | dev_minor;
        r->file = name[0] && name[0] != '[' && !is_anonymous(name);
        r->malloc_owner = r->file && is_libc(name);
        have_libc |= r->malloc_owner;
        r->kind = kind_of(r, name, opt);
        exe_region[l.n] = exe[0] && strcmp(name, exe) == 0;
        l.n++;
    }
    fclose(f);
    if (!have_libc) /* a static program: malloc's state is in its own data */
        for (size_t i = 0; i < l.n; i++)
            l.v[i].malloc_owner = exe_region[i];
    free(exe_region);
    classify(&l, rsp, n_rsp, blocks, n_blocks, rd);
    *out = l;
    return 0;
}
