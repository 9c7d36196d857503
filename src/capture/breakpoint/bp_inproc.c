/* memprof: mapping the breakpoint engine's stubs into the target and
 * detouring free (see bp_inproc.h).  The mapping is the ring's memfd, which
 * the launched target inherited (it is not close-on-exec): mmap runs inside
 * the target through mp_inject_syscall, MAP_SHARED and read-write, at a
 * free address within +-1.5 GiB of the allocator so that free's entry can
 * jump to its stub with a rel32; then the code pages are made
 * read+execute. */
#define _GNU_SOURCE
#include "bp_inproc.h"
#include "bp_shapes.h"
#include "inject.h"
#include "events/ring.h"
#include "events/ring_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>
#include <pthread.h>

#define REACH (3ull << 29) /* 1.5 GiB */
#define BLOB_BYTES MP_STUB_BLOB_BYTES
#define PAGE 4096ull
#define SLOTS_END (BLOB_BYTES + (size_t)MP_STUB_SLOTS * MP_STUB_SLOT_BYTES) /* then the shape table */

_Static_assert(offsetof(struct mp_ring_record, kind) == 8 && offsetof(struct mp_ring_record, addr) == 16 &&
               offsetof(struct mp_ring_record, nframes) == 32 && offsetof(struct mp_ring_record, pid) == 40 &&
               offsetof(struct mp_ring_record, claim_pid) == 44 && offsetof(struct mp_ring_record, claim) == 48 &&
               offsetof(struct mp_ring_record, frames) == 56,
               "bp_stubs.S writes records with these offsets");
_Static_assert(offsetof(struct mp_stub_slot, frames) == MP_SLOT_FRAMES &&
               offsetof(struct mp_stub_slot, entry_sp) == MP_SLOT_ENTRY_SP &&
               offsetof(struct mp_stub_slot, nframes) == MP_SLOT_NFRAMES &&
               offsetof(struct mp_stub_slot, memptr) == MP_SLOT_MEMPTR &&
               offsetof(struct mp_stub_slot, inner_size) == MP_SLOT_INNER_SIZE &&
               offsetof(struct mp_stub_slot, extra) == MP_SLOT_EXTRA && offsetof(struct mp_stub_slot, tid) == MP_SLOT_TID &&
               offsetof(struct mp_stub_slot, flags) == MP_SLOT_FLAGS &&
               offsetof(struct mp_stub_slot, free_pos) == MP_SLOT_FREE_POS &&
               offsetof(struct mp_stub_slot, free_addr) == MP_SLOT_FREE_ADDR,
               "slot layout");
_Static_assert(sizeof(pthread_mutex_t) <= MP_STUB_D_ACT_OURS - MP_STUB_D_LOCK, "the mutex fits");

static void put_u64(unsigned char *block, int off, uint64_t v)
{
    memcpy(block + off, &v, sizeof v);
}

/* A free range of `len` bytes within REACH of `near`, from /proc/PID/maps:
 * the gap closest below `near` first (above the executable lies its brk heap). */
static uint64_t find_gap(pid_t pid, uint64_t near, uint64_t len)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    uint64_t prev_end = 0x10000, best = 0; /* vm.mmap_min_addr */
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) != 2)
            continue;
        if (lo > prev_end && lo - prev_end >= len + 0x10000) {
            uint64_t cand = (lo - len - 0x1000) & ~0xfffull; /* top of the gap, a guard page below lo */
            if (cand + len <= near && near - cand < REACH && cand >= prev_end)
                best = cand; /* the last such gap below near is the closest */
        }
        prev_end = hi > prev_end ? hi : prev_end;
    }
    fclose(f);
    return best;
}

/* The ring's memfd as a descriptor of the target: the one it inherited, or
 * (attached) one it opens through /proc/MEMPROF/fd/N, the path written on
 * its stack below the red zone for the call.  -1 if none. */
static int64_t target_fd(struct mp_ring_reader *ring, pid_t tid, int mem_fd, uint64_t scratch, int inherited)
{
    if (inherited)
        return mp_ring_reader_fd(ring);
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, tid, 0, &regs) != 0)
        return -1;
    char path[64], saved[64];
    int len = snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)getpid(), mp_ring_reader_fd(ring)) + 1;
    uint64_t at = (regs.rsp - 1024) & ~15ull;
    if (pread(mem_fd, saved, sizeof saved, (off_t)at) != (ssize_t)sizeof saved ||
        pwrite(mem_fd, path, (size_t)len, (off_t)at) != len)
        return -1;
    uint64_t args[6] = { at, O_RDWR | O_CLOEXEC, 0, 0, 0, 0 };
    int64_t fd;
    if (mp_inject_syscall(tid, mem_fd, scratch, SYS_open, args, &fd) != 0)
        fd = -1;
    /* Put the stack bytes back.  They lie below the red zone, where nothing
     * of the thread's lives across this stop, so a failed write harms
     * nothing; it is not worth failing the mapping for. */
    ssize_t put_back = pwrite(mem_fd, saved, sizeof saved, (off_t)at);
    (void)put_back;
    return fd;
}

/* The stubs check this mutex: held by memprof's supervisor thread while it
 * records; robust, so the kernel marks it owner-dead if memprof dies. */
static int take_lock(struct mp_bp_inproc *ip)
{
    pthread_mutex_t *m = (pthread_mutex_t *)(void *)(ip->local + MP_STUB_D_LOCK);
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) != 0)
        return -1;
    int rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) || pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) ||
             pthread_mutex_init(m, &a) || pthread_mutex_lock(m) ? -1 : 0;
    pthread_mutexattr_destroy(&a);
    ip->locked = rc == 0;
    return rc;
}

void mp_bp_inproc_let_go(struct mp_bp_inproc *ip)
{
    if (ip->locked)
        pthread_mutex_unlock((pthread_mutex_t *)(void *)(ip->local + MP_STUB_D_LOCK));
    ip->locked = 0;
}

/* The 64 KiB window where free's jump must land for its last two bytes to
 * be the original je's first two (bp_inproc.h): its first address, or 0
 * when free does not start with `test rdi,rdi; je`. */
static uint64_t alias_window(uint64_t free_addr, const uint8_t text[9])
{
    uint32_t high;
    if (text[0] != 0x48 || text[1] != 0x85 || text[2] != 0xff)
        return 0;
    if (text[3] == 0x0f && text[4] == 0x84)
        high = 0x840fu; /* je rel32 */
    else if (text[3] == 0x74)
        high = (uint32_t)text[4] << 8 | 0x74u; /* je rel8 */
    else
        return 0;
    int32_t rel = (int32_t)(high << 16);
    return free_addr + 5 + (uint64_t)(int64_t)rel;
}

/* The first code page mapped a second time in free's window (descriptor fd
 * of the target).  0, or -1 when every page of the window is taken. */
static int map_alias(struct mp_bp_inproc *ip, pid_t tid, int mem_fd, uint64_t scratch, int64_t fd, uint64_t file_off,
                     uint64_t free_addr)
{
    uint8_t text[9];
    if (pread(mem_fd, text, sizeof text, (off_t)free_addr) != (ssize_t)sizeof text)
        return -1;
    uint64_t lo = alias_window(free_addr, text);
    if (!lo)
        return -1;
    for (uint64_t page = (lo + PAGE - 1) & ~(PAGE - 1); page <= lo + 0xffff; page += PAGE) {
        if (page < 0x10000 || page >= 0x7ffffffff000ull)
            continue;
        uint64_t args[6] = { page, PAGE, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED_NOREPLACE, (uint64_t)fd,
                             file_off };
        int64_t got;
        if (mp_inject_syscall(tid, mem_fd, scratch, SYS_mmap, args, &got) != 0)
            return -1;
        if (got == (int64_t)page) {
            ip->alias = page;
            return 0;
        }
        if (got >= 0) { /* an old kernel took the address as a hint */
            uint64_t unmap[6] = { (uint64_t)got, PAGE, 0, 0, 0, 0 };
            mp_inject_syscall(tid, mem_fd, scratch, SYS_munmap, unmap, &got);
        }
    }
    return -1;
}

int mp_bp_inproc_map(struct mp_bp_inproc *ip, struct mp_ring_reader *ring, pid_t pid, pid_t tid, int mem_fd,
                     uint64_t scratch, uint64_t near, int inherited, uint64_t free_for_alias)
{
    size_t blob = (size_t)(mp_stub_blob_end - mp_stub_blob_start);
    if (blob > BLOB_BYTES)
        return -1;
    uint64_t offset, total;
    unsigned char *local = mp_ring_reader_extra(ring, SLOTS_END + MP_SHAPE_TABLE_BYTES, &offset, &total);
    if (!local)
        return -1;
    int64_t fd = target_fd(ring, tid, mem_fd, scratch, inherited);
    if (fd < 0)
        return -1;
    uint64_t hint = find_gap(tid, near, total); /* any thread's maps are the process's */
    uint64_t args[6] = { hint, total, PROT_READ | PROT_WRITE, MAP_SHARED | (hint ? MAP_FIXED_NOREPLACE : 0),
                         (uint64_t)fd, 0 };
    int64_t got, ignored;
    int irc = mp_inject_syscall(tid, mem_fd, scratch, SYS_mmap, args, &got);
    uint64_t code = (uint64_t)got + offset + MP_STUB_DATA_BYTES;
    if (irc == 0 && got >= 0) {
        /* the code was written through memprof's mapping: read+execute only in the target */
        ip->local = local;
        mp_bp_inproc_let_go(ip);
        memset(local, 0, SLOTS_END); /* the shape table's arena is only read where its buckets lead */
        memcpy(local, mp_stub_blob_start, blob);
        uint64_t prot[6] = { code, MP_STUB_CODE_BYTES, PROT_READ | PROT_EXEC, 0, 0, 0 };
        if (mp_inject_syscall(tid, mem_fd, scratch, SYS_mprotect, prot, &ignored) != 0 || ignored != 0 ||
            take_lock(ip) != 0) {
            uint64_t unmap[6] = { (uint64_t)got, total, 0, 0, 0, 0 };
            mp_inject_syscall(tid, mem_fd, scratch, SYS_munmap, unmap, &ignored);
            irc = -1;
        }
    }
    ip->alias = 0;
    if (irc == 0 && got >= 0 && free_for_alias)
        map_alias(ip, tid, mem_fd, scratch, fd, offset + MP_STUB_DATA_BYTES, free_for_alias);
    if (!inherited) { /* the mapping keeps the memfd; the descriptor goes */
        uint64_t close_args[6] = { (uint64_t)fd, 0, 0, 0, 0, 0 };
        mp_inject_syscall(tid, mem_fd, scratch, SYS_close, close_args, &ignored);
    }
    if (irc != 0 || got < 0)
        return -1;
    ip->slots = (struct mp_stub_slot *)(local + BLOB_BYTES);
    ip->ring_remote = (uint64_t)got;
    ip->ring_bytes = total;
    ip->remote = (uint64_t)got + offset;
    ip->next_slot = 0;
    ip->free_addr = 0;
    ip->ring = ring;
    ip->drops_reported = 0; /* the blob's data page starts at 0 */
    uint64_t cap = (offset - MP_RING_HEADER_BYTES) / sizeof(struct mp_ring_record);
    put_u64(local, MP_STUB_D_HEAD, ip->ring_remote + offsetof(struct mp_ring_header, head));
    put_u64(local, MP_STUB_D_RECS, ip->ring_remote + MP_RING_HEADER_BYTES);
    put_u64(local, MP_STUB_D_MASK, cap - 1);
    put_u64(local, MP_STUB_D_TAIL, ip->ring_remote + offsetof(struct mp_ring_header, tail));
    put_u64(local, MP_STUB_D_FAR, 2 * cap + MP_RING_MAX_WAITERS);
    put_u64(local, MP_STUB_D_RECSIZE, sizeof(struct mp_ring_record));
    put_u64(local, MP_STUB_D_SLOTS, ip->remote + BLOB_BYTES);
    put_u64(local, MP_STUB_D_SLOTSIZE, MP_STUB_SLOT_BYTES);
    uint32_t pid32 = (uint32_t)pid;
    memcpy(local + MP_STUB_D_PID, &pid32, sizeof pid32);
    put_u64(local, MP_STUB_D_CODE_LO, ip->remote + MP_STUB_DATA_BYTES);
    put_u64(local, MP_STUB_D_CODE_HI, ip->remote + BLOB_BYTES);
    put_u64(local, MP_STUB_D_RET0, ip->remote + (uint64_t)(mp_stub_ret0 - mp_stub_blob_start));
    ip->shapes_local = NULL; /* no table: the fast entries stop every call (bp_shapes.h) */
    /* the trampoline at the start of the code jumps to the free stub */
    put_u64(local, MP_STUB_DATA_BYTES + MP_STUB_C_TRAMP + 6, ip->remote + (uint64_t)(mp_stub_free - mp_stub_blob_start));
    return 0;
}

int mp_bp_inproc_detour_free(struct mp_bp_inproc *ip, int mem_fd, uint64_t free_addr, pid_t pid, const pid_t *tids,
                             size_t n)
{
    if (!ip->remote)
        return -1;
    uint8_t text[9];
    if (pread(mem_fd, text, sizeof text, (off_t)free_addr) != (ssize_t)sizeof text)
        return -1;
    if (text[0] != 0x48 || text[1] != 0x85 || text[2] != 0xff)
        return -1; /* not test rdi,rdi */
    uint64_t cont, zero;
    int32_t rel;
    if (text[3] == 0x0f && text[4] == 0x84) { /* je rel32 */
        memcpy(&rel, text + 5, sizeof rel);
        cont = free_addr + 9;
    } else if (text[3] == 0x74) { /* je rel8 */
        rel = (int8_t)text[4];
        cont = free_addr + 5;
    } else {
        return -1;
    }
    zero = cont + (uint64_t)(int64_t)rel;
    uint64_t stub = ip->alias ? ip->alias + MP_STUB_C_TRAMP
                              : ip->remote + (uint64_t)(mp_stub_free - mp_stub_blob_start);
    int64_t jump = (int64_t)(stub - (free_addr + 5));
    if (jump != (int32_t)jump)
        return -1;
    uint8_t jmp[5] = { 0xe9 };
    int32_t rel32 = (int32_t)jump;
    memcpy(jmp + 1, &rel32, sizeof rel32);
    if (ip->alias && (jmp[3] != text[3] || jmp[4] != text[4]))
        return -1; /* cannot happen: the window was chosen for it */
    if (!ip->alias && tids) {
        /* the plain jump: nobody may be, or come back, between free's two instructions */
        struct mp_addr_range inside = { free_addr + 1, free_addr + 5 };
        if (mp_step_out_of(pid, tids, n, &inside, 1, 16) != 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            struct mp_sigframe f[8];
            int nf = mp_find_signal_frames(pid, tids[i], &inside, 1, f, 8);
            if (nf < 0)
                return -1;
            for (int k = 0; k < nf; k++) { /* a handler returns to free's je: to where it would have jumped */
                uint64_t to = f[k].rdi ? cont : zero;
                if (pwrite(mem_fd, &to, sizeof to, (off_t)f[k].rip_at) != (ssize_t)sizeof to)
                    return -1;
            }
        }
    }
    put_u64(ip->local, MP_STUB_D_FREE_CONT, cont);
    put_u64(ip->local, MP_STUB_D_FREE_ZERO, zero);
    atomic_thread_fence(memory_order_seq_cst);
    memcpy(ip->free_saved, text, sizeof ip->free_saved);
    if (pwrite(mem_fd, jmp, sizeof jmp, (off_t)free_addr) != (ssize_t)sizeof jmp)
        return -1;
    ip->free_addr = free_addr;
    return 0;
}

int mp_bp_inproc_take_slot(struct mp_bp_inproc *ip)
{
    if (!ip->remote)
        return -1;
    for (uint32_t i = 0; i < MP_STUB_SLOTS; i++) {
        uint32_t k = (ip->next_slot + i) % MP_STUB_SLOTS;
        uint64_t idle = 0;
        if (__atomic_compare_exchange_n(&ip->slots[k].busy, &idle, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            ip->next_slot = (k + 1) % MP_STUB_SLOTS;
            return (int)k;
        }
    }
    return -1;
}

void mp_bp_inproc_release_slot(struct mp_bp_inproc *ip, int slot)
{
    if (slot < 0 || !ip->remote)
        return;
    __atomic_store_n(&ip->slots[slot].entry_sp, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&ip->slots[slot].busy, 0, __ATOMIC_RELEASE);
}

int mp_bp_inproc_enable_fast(struct mp_bp_inproc *ip)
{
    if (!ip->remote || !ip->local)
        return -1;
    mp_bp_shapes_init(ip, ip->local + SLOTS_END, ip->remote + SLOTS_END);
    return 0;
}

uint64_t mp_bp_inproc_fast_site(struct mp_bp_inproc *ip, uint64_t stub, int kind)
{
    uint64_t copies = ip->remote + (uint64_t)(mp_stub_copies - mp_stub_blob_start);
    if (!ip->remote || stub < copies || (stub - copies) % MP_STUB_COPY_BYTES)
        return 0;
    uint64_t i = (stub - copies) / MP_STUB_COPY_BYTES;
    if (i >= MP_STUB_SITES)
        return 0;
    put_u64(ip->local, MP_STUB_D_SITE_COPY + (int)i * 8, stub);
    put_u64(ip->local, MP_STUB_D_SITE_KIND + (int)i * 8, (uint64_t)kind);
    return ip->remote + (uint64_t)(mp_stub_fast0 - mp_stub_blob_start) + i * MP_STUB_FAST_BYTES;
}

int mp_bp_inproc_is_code(const struct mp_bp_inproc *ip, uint64_t addr)
{
    return ip->remote && addr >= ip->remote + MP_STUB_DATA_BYTES && addr < ip->remote + BLOB_BYTES;
}

static uint64_t data_u64(const struct mp_bp_inproc *ip, size_t off)
{
    if (!ip->local || !ip->remote)
        return 0;
    return __atomic_load_n((const uint64_t *)(const void *)(ip->local + off), __ATOMIC_RELAXED);
}

uint64_t mp_bp_inproc_fast_calls(const struct mp_bp_inproc *ip)
{
    return data_u64(ip, MP_STUB_D_FAST);
}

uint64_t mp_bp_inproc_fast_passed(const struct mp_bp_inproc *ip)
{
    return data_u64(ip, MP_STUB_D_PASSED);
}

uint64_t mp_bp_inproc_ret_stub(const struct mp_bp_inproc *ip, int slot)
{
    return ip->remote + (uint64_t)(mp_stub_ret0 - mp_stub_blob_start) + (uint64_t)slot * MP_STUB_RET_STUB_BYTES;
}

uint64_t mp_bp_inproc_failed_reallocs(const struct mp_bp_inproc *ip)
{
    if (!ip->local || !ip->remote)
        return 0;
    return __atomic_load_n((const uint64_t *)(const void *)(ip->local + MP_STUB_D_FAILED), __ATOMIC_RELAXED);
}

uint64_t mp_bp_inproc_skipped(const struct mp_bp_inproc *ip)
{
    if (!ip->local || !ip->remote)
        return 0;
    return __atomic_load_n((const uint64_t *)(const void *)(ip->local + MP_STUB_D_SKIPPED), __ATOMIC_RELAXED);
}

void mp_bp_inproc_report_drops(struct mp_bp_inproc *ip)
{
    if (!ip->ring || !ip->remote || !ip->local)
        return; /* not mapped (any more) */
    uint64_t n = data_u64(ip, MP_STUB_D_DROPS);
    if (n == ip->drops_reported)
        return;
    /* the target can write the counter too: one that went back is damage
     * of an unknown number of records (the reader bounds the count) */
    mp_ring_reader_add_drops(ip->ring, n > ip->drops_reported ? n - ip->drops_reported : 0);
    ip->drops_reported = n;
}

int mp_bp_inproc_clean_child(const struct mp_bp_inproc *ip, int child_mem_fd)
{
    if (!ip->free_addr)
        return 0;
    return pwrite(child_mem_fd, ip->free_saved, sizeof ip->free_saved, (off_t)ip->free_addr) ==
                   (ssize_t)sizeof ip->free_saved ? 0 : -1;
}

int mp_bp_inproc_restore_free(struct mp_bp_inproc *ip, int mem_fd)
{
    if (!ip->free_addr)
        return 0;
    if (pwrite(mem_fd, ip->free_saved, sizeof ip->free_saved, (off_t)ip->free_addr) != (ssize_t)sizeof ip->free_saved)
        return -1;
    ip->free_addr = 0;
    return 0;
}

int mp_bp_inproc_unmap_in(const struct mp_bp_inproc *ip, pid_t tid, int mem_fd, uint64_t scratch)
{
    if (!ip->remote)
        return 0;
    int rc = 0;
    int64_t got;
    if (ip->alias) {
        uint64_t args[6] = { ip->alias, PAGE, 0, 0, 0, 0 };
        if (mp_inject_syscall(tid, mem_fd, scratch, SYS_munmap, args, &got) != 0 || got != 0)
            rc = -1;
    }
    uint64_t args[6] = { ip->ring_remote, ip->ring_bytes, 0, 0, 0, 0 };
    if (mp_inject_syscall(tid, mem_fd, scratch, SYS_munmap, args, &got) != 0 || got != 0)
        rc = -1;
    return rc;
}

int mp_bp_inproc_unmap(struct mp_bp_inproc *ip, pid_t tid, int mem_fd, uint64_t scratch)
{
    int rc = mp_bp_inproc_unmap_in(ip, tid, mem_fd, scratch);
    mp_bp_inproc_reset(ip);
    return rc;
}

void mp_bp_inproc_reset(struct mp_bp_inproc *ip)
{
    /* keeps `local` (memprof's mapping of the memfd) for the next image */
    mp_bp_inproc_report_drops(ip);
    ip->remote = ip->ring_remote = 0;
    ip->alias = 0;
    ip->free_addr = 0;
    ip->next_slot = 0;
    ip->guarded = 0;
    ip->n_sites = 0;
    ip->shapes_local = NULL;
    if (ip->local)
        memset(ip->local + MP_STUB_D_SITES, 0, (size_t)MP_STUB_SITES * MP_STUB_SITE_BYTES);
}

void *mp_bp_inproc_local(const struct mp_bp_inproc *ip, uint64_t remote)
{
    if (!ip->remote || remote < ip->remote || remote >= ip->remote + BLOB_BYTES)
        return NULL;
    return ip->local + (remote - ip->remote);
}
