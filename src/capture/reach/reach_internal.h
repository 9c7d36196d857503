/* memprof: the reachability scan's internals, shared by reach.c (the
 * marking, memcheck's algorithm), reach_maps.c (which memory is a root)
 * and reach_mem.c (reading the process, finding pointers, heuristics). */
#ifndef MEMPROF_REACH_INTERNAL_H
#define MEMPROF_REACH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "reach.h"

/* ---- reach_mem.c: reading the process ---- */

struct reader {
    pid_t pid;
    int pagemap_fd;        /* /proc/PID/pagemap, or -1 */
    uint64_t read;         /* bytes asked of the kernel */
    uint64_t unreadable;   /* bytes it refused */
};

/* Copies [addr, addr+len) of the process into buf; pages it cannot read,
 * and pages the process never touched (zero, or the file's own content),
 * come back as zeros.  Never fails. */
void reach_read(struct reader *rd, uint64_t addr, size_t len, uint8_t *buf);
/* One word: 0, or -1 when unreadable. */
int reach_read_word(struct reader *rd, uint64_t addr, uint64_t *out);

/* ---- reach_maps.c ---- */

enum region_kind {
    REGION_ROOT,       /* scanned for pointers */
    REGION_HEAP,       /* malloc's memory: not a root (gaps may be, see options) */
    REGION_SKIP,       /* not scanned */
};

struct region {
    uint64_t start, end;
    uint64_t scan_from;    /* REGION_ROOT: where scanning starts (a stack's pointer) */
    char r, w, x, shared;
    int file;              /* backed by a file (not anonymous, not [special]) */
    int malloc_owner;      /* the object holding glibc malloc's state (libc, or a static program) */
    uint64_t inode;        /* of the file, with dev: which object it belongs to */
    uint64_t dev;
    enum region_kind kind;
};

struct region_list {
    struct region *v;
    size_t n;
};

/* The process's mappings from /proc/PID/maps, each classed.  rsp[0..n_rsp)
 * are the threads' stack pointers.  0, or -1 (err set). */
int reach_read_regions(pid_t pid, const uint64_t *rsp, size_t n_rsp, const struct mp_reach_block *blocks,
                       size_t n_blocks, const struct mp_reach_options *opt, struct reader *rd,
                       struct region_list *out, char *err, size_t errlen);
/* The region containing addr, or NULL. */
const struct region *reach_region_at(const struct region_list *l, uint64_t addr);

/* ---- reach_mem.c: blocks and heuristics ---- */

/* The block containing v (a zero-sized block covers its address), or -1. */
long reach_find(const struct mp_reach_block *b, size_t n, uint64_t v);

/* How a pointer reaches a block. */
enum { EDGE_START = 0, EDGE_INTERIOR = 1, EDGE_HEURISTIC = 2 };

struct heuristics {
    struct reader *rd;
    const struct region_list *regions;
    const struct mp_reach_block *blocks;
    const uint64_t (*head)[3];   /* the first three words of each block */
    /* vtable verdicts, by address (open addressing) */
    uint64_t *vt_addr;
    uint8_t *vt_yes;
    size_t vt_mask, vt_count;
};

/* EDGE_HEURISTIC when memcheck's default heuristics (stdstring, length64,
 * newarray, multipleinheritance) take the interior pointer v into block t
 * as reaching it, else EDGE_INTERIOR. */
int reach_heuristic(struct heuristics *h, size_t t, uint64_t v);
void reach_heuristics_free(struct heuristics *h);

#endif
