/* memprof: mapping the breakpoint engine's stubs into the target and
 * detouring free (see bp_inproc.h).  The mapping is the ring's memfd, which
 * the launched target inherited (it is not close-on-exec): mmap runs inside
 * the target through mp_inject_syscall, MAP_SHARED and executable, at a
 * free address within +-1.5 GiB of the allocator so that free's entry can
 * jump to its stub with a rel32. */
#define _GNU_SOURCE
#include "bp_inproc.h"
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

#define REACH (3ull << 29) /* 1.5 GiB */
#define BLOB_BYTES 8192

_Static_assert(offsetof(struct mp_ring_record, kind) == 8 && offsetof(struct mp_ring_record, addr) == 16 &&
               offsetof(struct mp_ring_record, nframes) == 32 && offsetof(struct mp_ring_record, pid) == 40 &&
               offsetof(struct mp_ring_record, claim_pid) == 44 && offsetof(struct mp_ring_record, claim) == 48 &&
               offsetof(struct mp_ring_record, frames) == 56,
               "bp_stubs.S writes records with these offsets");
_Static_assert(offsetof(struct mp_stub_slot, frames) == MP_SLOT_FRAMES &&
               offsetof(struct mp_stub_slot, entry_sp) == MP_SLOT_ENTRY_SP &&
               offsetof(struct mp_stub_slot, nframes) == MP_SLOT_NFRAMES, "slot layout");

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

int mp_bp_inproc_map(struct mp_bp_inproc *ip, struct mp_ring_reader *ring, pid_t pid, pid_t tid, int mem_fd,
                     uint64_t scratch, uint64_t near, int inherited)
{
    size_t blob = (size_t)(mp_stub_blob_end - mp_stub_blob_start);
    if (blob > BLOB_BYTES)
        return -1;
    uint64_t offset, total;
    unsigned char *local = mp_ring_reader_extra(ring, BLOB_BYTES + (size_t)MP_STUB_SLOTS * MP_STUB_SLOT_BYTES,
                                                &offset, &total);
    if (!local)
        return -1;
    int64_t fd = target_fd(ring, tid, mem_fd, scratch, inherited);
    if (fd < 0)
        return -1;
    uint64_t hint = find_gap(tid, near, total); /* any thread's maps are the process's */
    uint64_t args[6] = { hint, total, PROT_READ | PROT_WRITE | PROT_EXEC,
                         MAP_SHARED | (hint ? MAP_FIXED_NOREPLACE : 0), (uint64_t)fd, 0 };
    int64_t got;
    int irc = mp_inject_syscall(tid, mem_fd, scratch, SYS_mmap, args, &got);
    if (!inherited) { /* the mapping keeps the memfd; the descriptor goes */
        uint64_t close_args[6] = { (uint64_t)fd, 0, 0, 0, 0, 0 };
        int64_t ignored;
        mp_inject_syscall(tid, mem_fd, scratch, SYS_close, close_args, &ignored);
    }
    if (irc != 0 || got < 0)
        return -1;
    memset(local, 0, total - offset);
    memcpy(local, mp_stub_blob_start, blob);
    ip->local = local;
    ip->slots = (struct mp_stub_slot *)(local + BLOB_BYTES);
    ip->ring_remote = (uint64_t)got;
    ip->ring_bytes = total;
    ip->remote = (uint64_t)got + offset;
    ip->next_slot = 0;
    ip->free_addr = 0;
    uint64_t cap = (offset - MP_RING_HEADER_BYTES) / sizeof(struct mp_ring_record);
    put_u64(local, MP_STUB_D_HEAD, ip->ring_remote + offsetof(struct mp_ring_header, head));
    put_u64(local, MP_STUB_D_RECS, ip->ring_remote + MP_RING_HEADER_BYTES);
    put_u64(local, MP_STUB_D_MASK, cap - 1);
    put_u64(local, MP_STUB_D_RECSIZE, sizeof(struct mp_ring_record));
    put_u64(local, MP_STUB_D_SLOTS, ip->remote + BLOB_BYTES);
    put_u64(local, MP_STUB_D_SLOTSIZE, MP_STUB_SLOT_BYTES);
    uint32_t pid32 = (uint32_t)pid;
    memcpy(local + MP_STUB_D_PID, &pid32, sizeof pid32);
    return 0;
}

int mp_bp_inproc_detour_free(struct mp_bp_inproc *ip, int mem_fd, uint64_t free_addr)
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
    uint64_t stub = ip->remote + (uint64_t)(mp_stub_free - mp_stub_blob_start);
    int64_t jump = (int64_t)(stub - (free_addr + 5));
    if (jump != (int32_t)jump)
        return -1;
    put_u64(ip->local, MP_STUB_D_FREE_CONT, cont);
    put_u64(ip->local, MP_STUB_D_FREE_ZERO, zero);
    atomic_thread_fence(memory_order_seq_cst);
    uint8_t jmp[5] = { 0xe9 };
    int32_t rel32 = (int32_t)jump;
    memcpy(jmp + 1, &rel32, sizeof rel32);
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
        if (__atomic_load_n(&ip->slots[k].busy, __ATOMIC_ACQUIRE) == 0) {
            ip->next_slot = (k + 1) % MP_STUB_SLOTS;
            return (int)k;
        }
    }
    return -1;
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

int mp_bp_inproc_clean_child(const struct mp_bp_inproc *ip, int child_mem_fd)
{
    if (!ip->free_addr)
        return 0;
    return pwrite(child_mem_fd, ip->free_saved, sizeof ip->free_saved, (off_t)ip->free_addr) ==
                   (ssize_t)sizeof ip->free_saved ? 0 : -1;
}

int mp_bp_inproc_in_stubs(const struct mp_bp_inproc *ip, uint64_t rip)
{
    return ip->remote && rip >= ip->remote && rip < ip->remote + BLOB_BYTES;
}

int mp_bp_inproc_leave_stubs(const struct mp_bp_inproc *ip, pid_t pid, pid_t tid)
{
    for (int steps = 0; steps < 1000000; steps++) {
        struct user_regs_struct regs;
        if (ptrace(PTRACE_GETREGS, tid, 0, &regs) != 0)
            return -1;
        if (!mp_bp_inproc_in_stubs(ip, regs.rip))
            return 0;
        if (ptrace(PTRACE_SINGLESTEP, tid, 0, 0) != 0)
            return -1;
        int status;
        while (waitpid(tid, &status, __WALL) < 0)
            if (errno != EINTR)
                return -1;
        if (!WIFSTOPPED(status))
            return -1;
        int sig = WSTOPSIG(status);
        if ((status >> 16) == 0 && sig != SIGTRAP)
            syscall(SYS_tgkill, pid, tid, sig); /* queued again: delivered once detached */
    }
    return -1;
}

int mp_bp_inproc_unmap(struct mp_bp_inproc *ip, pid_t tid, int mem_fd, uint64_t scratch)
{
    if (!ip->remote)
        return 0;
    int rc = 0;
    if (ip->free_addr && pwrite(mem_fd, ip->free_saved, sizeof ip->free_saved, (off_t)ip->free_addr) !=
                             (ssize_t)sizeof ip->free_saved)
        rc = -1;
    uint64_t args[6] = { ip->ring_remote, ip->ring_bytes, 0, 0, 0, 0 };
    int64_t got;
    if (mp_inject_syscall(tid, mem_fd, scratch, SYS_munmap, args, &got) != 0 || got != 0)
        rc = -1;
    mp_bp_inproc_reset(ip);
    return rc;
}

void mp_bp_inproc_reset(struct mp_bp_inproc *ip)
{
    /* keeps `local` (memprof's mapping of the memfd) for the next image */
    ip->remote = ip->ring_remote = 0;
    ip->free_addr = 0;
    ip->next_slot = 0;
}
