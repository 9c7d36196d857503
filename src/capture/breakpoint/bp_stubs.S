/* memprof: the breakpoint engine's code inside the target (see bp_stubs.h).
 * Position-independent: copied as is; it finds everything through the data
 * page at its start.  Runs at a function's entry (free) or right after an
 * allocator returned, so it may use only registers the calling convention
 * lets a callee clobber and that carry no argument (free: rdi is one) or
 * result (rax). */
#include "bp_stubs.h"

#define SYS_RT_SIGACTION 13
#define SYS_GETPID 39
#define SYS_GETTID 186
#define SYS_TGKILL 234
#define SYS_RT_SIGRETURN 15
#define SYS_SCHED_YIELD 24
#define SYS_NANOSLEEP 35
#define SIGTRAP 5
#define SA_RESETHAND 0x80000000
#define TRAP_TRACE 2
#define UC_RIP 168              /* ucontext_t: uc_mcontext.gregs[REG_RIP] */
#define UC_EFL 176              /* gregs[REG_EFL] */
#define EFL_TF 0x100
#define EFL_RF 0x10000

    .section .rodata
    .p2align 12
    .globl mp_stub_blob_start, mp_stub_blob_end, mp_stub_code, mp_stub_free, mp_stub_ret0
    .globl mp_stub_ret_common, mp_stub_sigtrap, mp_stub_restorer, mp_stub_client, mp_stub_copies
    .globl mp_stub_fast0, mp_stub_fast_tid_slot, mp_stub_fast_tid_free, mp_stub_back_off
mp_stub_blob_start:
d_block:
    .fill MP_STUB_DATA_BYTES, 1, 0

/* Does memprof still hold its mutex?  ZF clear: yes. */
.macro memprof_alive
    testl $MP_STUB_OWNER_MASK, d_block+MP_STUB_D_LOCK(%rip)
.endm

/* A position the reader never reaches is waited on for at most this many
 * polls for memprof to set the head back (it does within milliseconds),
 * then the record is dropped: about 0.9 s on the Xeon this was measured
 * on (a pause and a few loads each; pause costs 10 to 140 cycles by CPU),
 * the agent's budget (agent.c, UNREACHABLE_BUDGET_NS). */
#define FAR_POLLS (1 << 26)
/* Where the polls left are counted: the red zone below rsp, under what
 * fast_common keeps there (a signal handler's frame goes below it). */
#define RZ_FAR_POLLS -120
/* A full ring is waited on as the agent waits (agent.c, back_off): 64
 * polls with a pause, then 32 with sched_yield, then 20 us naps, so that
 * a waiting writer leaves the CPU to memprof's reader (spinning, it took
 * the reader's time on a busy machine).  The polls so far: in the red
 * zone too, above the far polls. */
#define RZ_WAITS -112
#define WAIT_SPINS 64
#define WAIT_YIELDS 96

/* rdx <- a reserved ring position, r10 <- its record, once the record is
 * free for this lap (the reader in memprof drains meanwhile), then claimed
 * for thread \tid (a 64-bit register, upper half zero) of this process
 * (ring.h, Holes).  A slot memprof revoked meanwhile (it took the thread
 * for dead: its sequence number is exactly the next lap's) goes to
 * \revoked: nothing may be written.  A position the reader never reaches
 * (the target wrote over the ring's head or tail: far from the tail, or
 * behind it when first looked at, where its slot may look revoked) is
 * traded for a new one once memprof has set the head back, as the agent
 * does; if memprof does not within FAR_POLLS polls, the record is dropped
 * (to \revoked), counted in the data page's MP_STUB_D_DROPS when
 * \count_drops (memprof adds that count to the ring's damage; the header
 * is the target's to write over, so nothing of the stubs' is kept there).
 * To \gone if memprof goes away meanwhile.  Any other sequence number was
 * written by the target: memprof repairs it, the writer waits.  Clobbers
 * \tmp (\tmp32: its low half; never r11 in the return stubs, which keep k
 * there). */
.macro reserve_record tid, revoked, gone, tmp, tmp32, count_drops=1
.Lagain\@:
    mov $1, %edx
    mov d_block+MP_STUB_D_HEAD(%rip), %r10
    lock xadd %rdx, (%r10)
.Lslot\@:
    mov %rdx, %r10
    and d_block+MP_STUB_D_MASK(%rip), %r10
    imul d_block+MP_STUB_D_RECSIZE(%rip), %r10
    add d_block+MP_STUB_D_RECS(%rip), %r10
    mov (%r10), \tmp
    cmp %rdx, \tmp
    je .Lfree\@
    /* not free at first look: a position behind the tail (the head was
     * set back) is never read, whatever its slot holds */
    mov d_block+MP_STUB_D_TAIL(%rip), \tmp
    mov (\tmp), \tmp
    neg \tmp
    add %rdx, \tmp                 /* pos - tail */
    cmp d_block+MP_STUB_D_FAR(%rip), \tmp
    ja .Lfar\@
    movl $0, RZ_WAITS(%rsp)
.Lwait\@:
    mov (%r10), \tmp
    cmp %rdx, \tmp
    je .Lfree\@
    sub %rdx, \tmp
    sub d_block+MP_STUB_D_MASK(%rip), \tmp
    cmp $1, \tmp
    je \revoked                    /* seq == pos + capacity: revoked */
    mov d_block+MP_STUB_D_TAIL(%rip), \tmp
    mov (\tmp), \tmp
    neg \tmp
    add %rdx, \tmp                 /* pos - tail */
    cmp d_block+MP_STUB_D_FAR(%rip), \tmp
    ja .Lfar\@
    memprof_alive
    jz \gone
    incl RZ_WAITS(%rsp)
    cmpl $WAIT_SPINS, RZ_WAITS(%rsp)
    jae .Lback\@
    pause
    jmp .Lwait\@
.Lback\@:
    lea -128(%rsp), %rsp            /* below the red zone: the call's return address */
    call stub_back_off
    lea 128(%rsp), %rsp
    jmp .Lwait\@
.Lfar\@:
    movl $FAR_POLLS, RZ_FAR_POLLS(%rsp)
.Lfarwait\@:
    pause
    memprof_alive
    jz \gone
    mov d_block+MP_STUB_D_TAIL(%rip), \tmp
    mov (\tmp), \tmp
    neg \tmp                        /* -tail */
    mov d_block+MP_STUB_D_HEAD(%rip), %r10
    mov (%r10), %r10
    add \tmp, %r10                  /* head - tail */
    add %rdx, \tmp                  /* pos - tail */
    cmp d_block+MP_STUB_D_FAR(%rip), \tmp
    jbe .Lslot\@                    /* reachable again (the tail had been written over) */
    cmp d_block+MP_STUB_D_FAR(%rip), %r10
    jbe .Lagain\@                   /* memprof set the head back: a new position */
    decl RZ_FAR_POLLS(%rsp)
    jnz .Lfarwait\@
    .if \count_drops
    lock incq d_block+MP_STUB_D_DROPS(%rip)
    .endif
    jmp \revoked
.Lfree\@:
    mov d_block+MP_STUB_D_PID(%rip), \tmp32
    mov \tmp32, 44(%r10)            /* claim_pid */
    mov %rdx, \tmp
    shl $32, \tmp
    or \tid, \tmp
    mov \tmp, 48(%r10)              /* claim */
.endm

/* The FREE record of block \block (at the record r10, position rdx,
 * reserved for thread \tid32), one frame: \site; then committed.
 * Clobbers \tmp (\tmp32: its low half). */
.macro write_free block, tid32, site, tmp, tmp32
    movl $2, 8(%r10)                /* MP_REC_FREE */
    movl \tid32, 12(%r10)
    mov \block, 16(%r10)
    movq $0, 24(%r10)
    movq $1, 32(%r10)               /* nframes 1, truncated 0 */
    mov d_block+MP_STUB_D_PID(%rip), \tmp32
    mov \tmp32, 40(%r10)
    mov \site, \tmp
    mov \tmp, 56(%r10)
    inc %rdx
    mov %rdx, (%r10)                /* commit: seq = pos + 1 */
.endm

/* The record's pid (r10: the record; clobbers \tmp32). */
.macro record_pid tmp32
    mov d_block+MP_STUB_D_PID(%rip), \tmp32
    mov \tmp32, 40(%r10)
.endm

mp_stub_code:
    /* the trampoline: free's jump lands here when this page is mapped a
     * second time next to free (bp_inproc.c); memprof fills the address */
    jmp *0(%rip)
    .quad 0

    .p2align 4
mp_stub_free:                       /* free(rdi), jumped to from free's entry */
    test %rdi, %rdi
    jz 9f
    memprof_alive
    jz 7f
    mov $SYS_GETTID, %eax           /* the claim names the thread */
    syscall                         /* clobbers rcx and r11 */
    mov %eax, %esi
    /* memprof letting go while this waits for room: the position is left a
     * hole the reader counts as lost, so not counted as skipped too */
    reserve_record %rsi, 8f, 8f, %r11, %r11d
    write_free %rdi, %esi, (%rsp), %r11, %r11d /* the frame: free's return address */
8:  test %rdi, %rdi                 /* the displaced instruction's flags */
    jmp *d_block+MP_STUB_D_FREE_CONT(%rip)
7:  lock incq d_block+MP_STUB_D_SKIPPED(%rip) /* memprof let go: not recorded */
    jmp 8b
9:  test %rdi, %rdi
    jmp *d_block+MP_STUB_D_FREE_ZERO(%rip)

    .p2align 4
mp_stub_ret0:                       /* stub k: r11d = k, then the common part */
    .set k, 0
    .rept MP_STUB_SLOTS
    .byte 0x41, 0xbb                /* mov $k, %r11d (r11 keeps k to the end: bp_inproc_exit) */
    .long k
    .byte 0xe9
    .long ret_common - (. + 4)
    .set k, k + 1
    .endr

mp_stub_ret_common:
ret_common:                         /* rax: the allocator's result */
    mov %r11d, %r9d
    imul d_block+MP_STUB_D_SLOTSIZE(%rip), %r9
    add d_block+MP_STUB_D_SLOTS(%rip), %r9
    memprof_alive
    jz 3f                           /* memprof is gone: just go back */
    mov %rax, %r8                   /* r8: the block (posix_memalign: behind memptr) */
    testl $MP_SLOT_F_XALLOCX, MP_SLOT_FLAGS(%r9)
    jnz 50f
    mov MP_SLOT_MEMPTR(%r9), %rsi
    test %rsi, %rsi
    jz 4f
    xor %r8d, %r8d
    test %eax, %eax
    jnz 4f
    mov (%rsi), %r8
4:  mov MP_SLOT_FREE_POS(%r9), %rdx /* realloc: the FREE reserved before the call */
    test %rdx, %rdx
    jz 6f
    dec %rdx
    mov %rdx, %r10
    and d_block+MP_STUB_D_MASK(%rip), %r10
    imul d_block+MP_STUB_D_RECSIZE(%rip), %r10
    add d_block+MP_STUB_D_RECS(%rip), %r10
    mov $2, %esi                    /* MP_REC_FREE */
    test %r8, %r8
    jnz 5f
    testl $MP_SLOT_F_FREE_ALWAYS, MP_SLOT_FLAGS(%r9)
    jnz 5f
    xor %esi, %esi                  /* MP_REC_NOP: realloc failed, the block lives on */
5:  mov %esi, 8(%r10)
    mov MP_SLOT_TID(%r9), %esi
    mov %esi, 12(%r10)
    mov MP_SLOT_FREE_ADDR(%r9), %rsi
    mov %rsi, 16(%r10)
    movq $0, 24(%r10)
    movq $1, 32(%r10)               /* nframes 1, truncated 0 */
    record_pid %ecx
    mov MP_SLOT_RET(%r9), %rsi      /* the frame: realloc's return address */
    mov %rsi, 56(%r10)
    inc %rdx
    mov %rdx, (%r10)                /* commit */
    movq $0, MP_SLOT_FREE_POS(%r9)
6:  testl $MP_SLOT_F_NO_ALLOC, MP_SLOT_FLAGS(%r9)
    jnz 7f
    test %r8, %r8
    jz 8f
    mov MP_SLOT_TID(%r9), %esi
    reserve_record %rsi, 7f, 7f, %rcx, %ecx
    movl $1, 8(%r10)                /* MP_REC_ALLOC */
    mov %esi, 12(%r10)
    mov %r8, 16(%r10)
    mov MP_SLOT_SIZE(%r9), %rsi
    mov %rsi, 24(%r10)
    mov MP_SLOT_NFRAMES(%r9), %rsi  /* nframes and truncated */
    mov %rsi, 32(%r10)
    record_pid %ecx
    mov MP_SLOT_NFRAMES(%r9), %ecx
    lea MP_SLOT_FRAMES(%r9), %rsi
    lea 56(%r10), %rdi
    cld
    rep movsq
    inc %rdx
    mov %rdx, (%r10)                /* commit */
    jmp 7f
8:  testl $MP_SLOT_F_COUNT_FAIL, MP_SLOT_FLAGS(%r9)
    jz 7f
    lock incq d_block+MP_STUB_D_FAILED(%rip)
7:  xor %r8d, %r8d                 /* no copy of the block's address left in a register: the leak
                                       scan reads a stopped thread's registers as roots */
    mov MP_SLOT_RET(%r9), %rcx
    movq $0, MP_SLOT_ENTRY_SP(%r9)  /* no call matches it (bpengine.c: calls in flight) */
    movq $0, MP_SLOT_BUSY(%r9)      /* the slot is free again */
    jmp *%rcx
3:  lock incq d_block+MP_STUB_D_SKIPPED(%rip) /* memprof let go: not recorded */
    jmp 7b
50: /* xallocx: rax is the block's real size.  Resized in place when that is
     * at least the size asked for: the block's FREE, then its ALLOC of
     * min(real size, size + extra) bytes (as on_return counts it) */
    xor %r8d, %r8d
    cmp MP_SLOT_SIZE(%r9), %rax
    jb 6b
    mov MP_SLOT_TID(%r9), %esi
    reserve_record %rsi, 7b, 7b, %rcx, %ecx
    mov MP_SLOT_FREE_ADDR(%r9), %r8
    write_free %r8, %esi, MP_SLOT_RET(%r9), %rcx, %ecx
    mov MP_SLOT_SIZE(%r9), %rcx
    add MP_SLOT_EXTRA(%r9), %rcx
    jc 51f
    cmp %rax, %rcx
    jbe 52f
51: mov %rax, %rcx
52: mov %rcx, MP_SLOT_SIZE(%r9)
    jmp 6b                          /* the ALLOC of r8 */

/* SIGTRAP handler (attached processes): rdi = signal, rsi = siginfo,
 * rdx = ucontext.  While memprof is attached it never sees memprof's own
 * traps (memprof takes them before any handler); it runs for the
 * program's own SIGTRAPs, and for memprof's breakpoints once memprof is
 * gone.  Every register is restored by rt_sigreturn. */
    .p2align 4
mp_stub_sigtrap:
    mov UC_RIP(%rdx), %rax
    lea d_block+MP_STUB_D_SITES(%rip), %rcx
    mov $MP_STUB_SITES, %r8d
1:  mov (%rcx), %r9                 /* a breakpoint's address; 0: no more */
    test %r9, %r9
    jz 4f
    cmpl $MP_STUB_SITE_INT3, 16(%rcx)
    jne 2f
    lea 1(%r9), %r10
    cmp %r10, %rax
    jne 3f
    mov 8(%rcx), %r10
    mov %r10, UC_RIP(%rdx)          /* run the displaced instruction, then on */
    ret
2:  cmp %r9, %rax
    jne 3f
    orq $EFL_RF, UC_EFL(%rdx)       /* a debug register: resume without trapping again */
    ret
3:  add $MP_STUB_SITE_BYTES, %rcx
    dec %r8d
    jnz 1b
4:  cmpl $TRAP_TRACE, 8(%rsi)       /* a single step memprof left behind when it died */
    jne 5f
    testq $EFL_TF, UC_EFL(%rdx)
    jz 5f
    memprof_alive
    jnz 5f
    andq $~EFL_TF, UC_EFL(%rdx)
    ret
5:  /* not memprof's: the program's own disposition */
    mov d_block+MP_STUB_D_ACT_ORIG(%rip), %rax
    cmp $1, %rax
    jbe 6f                          /* SIG_DFL or SIG_IGN */
    testl $SA_RESETHAND, d_block+MP_STUB_D_ACT_ORIG+8(%rip)
    jz 5f
    push %rdi
    push %rsi
    push %rdx
    mov $SYS_RT_SIGACTION, %eax
    mov $SIGTRAP, %edi
    lea d_block+MP_STUB_D_ACT_DFL(%rip), %rsi
    xor %edx, %edx
    mov $8, %r10d
    syscall
    pop %rdx
    pop %rsi
    pop %rdi
5:  jmp *d_block+MP_STUB_D_ACT_ORIG(%rip) /* the program's handler, as if called by the kernel */
6:  /* ignored: a SIGTRAP sent by someone is dropped; a trap (kernel-made,
     * si_code > 0) or SIG_DFL gets the default action, as without memprof */
    jb 7f
    cmpl $0, 8(%rsi)
    jg 7f
    ret
7:  mov $SYS_RT_SIGACTION, %eax
    mov $SIGTRAP, %edi
    lea d_block+MP_STUB_D_ACT_DFL(%rip), %rsi
    xor %edx, %edx
    mov $8, %r10d
    syscall
    mov $SYS_GETTID, %eax
    syscall
    mov %rax, %rsi
    mov $SYS_GETPID, %eax
    syscall
    mov %rax, %rdi
    mov $SIGTRAP, %edx
    mov $SYS_TGKILL, %eax
    syscall                         /* delivered when the handler returns */
    ret

    .p2align 4
mp_stub_restorer:
    mov $SYS_RT_SIGRETURN, %eax
    syscall
    hlt

/* The fast entries: entry i is `mov $i, %r11d; jmp fast_common`. */
    .p2align 4
mp_stub_fast0:
    .set k, 0
    .rept MP_STUB_SITES
    .byte 0x41, 0xbb                /* mov $k, %r11d */
    .long k
    .byte 0xe9
    .long fast_common - (. + 4)
    .set k, k + 1
    .endr

/* At an allocator's entry (r11 = the site).  Every register but r10 and
 * r11 reaches the allocator (its copy) as it came: rax, rcx, rdx, r8 and
 * r9 are kept in the red zone below rsp (the callee's to use) and put back
 * on the way out.  Red zone: -8 the site, -16..-48 rax, rcx, rdx, r8, r9,
 * -56 the shape, -64 the site's kind, -72 the slot's number. */
#define RZ_SITE -8
#define RZ_RAX -16
#define RZ_RCX -24
#define RZ_RDX -32
#define RZ_R8 -40
#define RZ_R9 -48
#define RZ_SHAPE -56
#define RZ_KIND -64
#define RZ_SLOT -72
fast_common:
    mov %r11, RZ_SITE(%rsp)
    mov %rax, RZ_RAX(%rsp)
    mov %rcx, RZ_RCX(%rsp)
    mov %rdx, RZ_RDX(%rsp)
    mov %r8, RZ_R8(%rsp)
    mov %r9, RZ_R9(%rsp)
    memprof_alive
    jz 90f                          /* memprof is gone: on into the copy */
    lea d_block+MP_STUB_D_SITE_KIND(%rip), %r10
    mov (%r10,%r11,8), %r9          /* r9: the site's kind */
    test %r9, %r9
    jz 91f
    cmp $MP_SITE_FREE, %r9
    jb 1f
    test %rdi, %rdi                 /* free(NULL) and the like: nothing to record */
    jz 90f
1:  mov (%rsp), %rax                /* the return address */
    cmp d_block+MP_STUB_D_CODE_LO(%rip), %rax
    jb 1f
    cmp d_block+MP_STUB_D_CODE_HI(%rip), %rax
    jb 93f                          /* already ours: a tail call of a recorded call */
1:  mov %rax, %r10                  /* the bucket: the return address hashed */
    mov $MP_SHAPE_HASH, %rcx
    imul %rcx, %r10
    shr $(64 - MP_SHAPE_BUCKET_BITS), %r10
    mov d_block+MP_STUB_D_BUCKETS(%rip), %rcx
    test %rcx, %rcx
    jz 91f
    mov (%rcx,%r10,8), %r10
2:  test %r10, %r10                 /* r10: a shape of the bucket */
    jz 91f                          /* unknown: the supervisor unwinds it */
    cmp MP_SHAPE_RA(%r10), %rax
    jne 5f
    mov MP_SHAPE_N(%r10), %r8d
    lea MP_SHAPE_FRAMES(%r10,%r8,8), %r8 /* off[] */
    mov $1, %ecx                    /* frame 1 on, innermost first: frame i's place is
                                       known once frames 0..i-1 matched */
3:  cmp MP_SHAPE_N(%r10), %ecx
    jae 4f
    mov (%r8,%rcx,8), %r11
    mov (%rsp,%r11), %r11
    cmp MP_SHAPE_FRAMES(%r10,%rcx,8), %r11
    jne 5f
    inc %ecx
    jmp 3b
4:  mov MP_SHAPE_END(%r10), %ecx
    test %ecx, %ecx
    jz 6f                           /* the last frame's rule ends the stack */
    mov MP_SHAPE_END_OFF(%r10), %r11d
    mov (%rsp,%r11), %r11
    cmp $MP_SHAPE_END_ZERO, %ecx
    jne 41f
    test %r11, %r11
    jnz 5f
    jmp 6f
41: cmp d_block+MP_STUB_D_CODE_LO(%rip), %r11
    jb 5f
    cmp d_block+MP_STUB_D_CODE_HI(%rip), %r11
    jae 5f
6:  cmpl $MP_SHAPE_PASS, MP_SHAPE_KIND(%r10)
    je 7f
    cmp $MP_SITE_MAPPED, %r9
    je 61f
    cmp $MP_SITE_THROW, %r9
    jne 8f
61: cmpl $MP_SHAPE_SKIP, MP_SHAPE_KIND(%r10)
    je 92f                          /* libc's own mapping call, a throw with no call of ours open */
    jmp 91f                         /* the program's mapping call: the supervisor records it */
8:  cmpl $MP_SHAPE_RECORD, MP_SHAPE_KIND(%r10)
    je 10f
    jmp 91f
7:  mov %r11, %rax                  /* inside a recorded call: r11 is its return stub */
    jmp 93f
5:  mov MP_SHAPE_NEXT(%r10), %r10
    jmp 2b

10: mov %r10, RZ_SHAPE(%rsp)        /* a known stack, to record */
    mov %r9, RZ_KIND(%rsp)
    /* calls that cannot succeed, and the ones the supervisor decides on,
     * before a slot is taken */
    mov %rsi, %rax
    cmp $MP_SITE_REALLOC, %r9
    je 11f
    cmp $MP_SITE_REALLOCARRAY, %r9
    jne 12f
    mulq RZ_RDX(%rsp)               /* rsi * rdx (rdx is back from the red zone on the way out) */
    jc 90f                          /* overflows: fails with ENOMEM, the block untouched */
11: test %rdi, %rdi
    jz 12f
    test %rax, %rax
    jz 91f                          /* realloc(p, 0): the supervisor decides (glibc frees through
                                       free, other allocators inside) */
12: cmp $MP_SITE_FREE, %r9
    je 30f                          /* free: the record alone */
    mov $1, %r10d                   /* a free slot, claimed */
    lock xadd %r10, d_block+MP_STUB_D_NEXT_SLOT(%rip)
    mov $MP_STUB_SLOTS, %r11d
20: and $(MP_STUB_SLOTS - 1), %r10d
    mov %r10, %r9
    imul d_block+MP_STUB_D_SLOTSIZE(%rip), %r9
    add d_block+MP_STUB_D_SLOTS(%rip), %r9
    xor %eax, %eax
    mov $1, %ecx
    lock cmpxchg %rcx, MP_SLOT_BUSY(%r9)
    je 21f
    inc %r10d
    dec %r11d
    jnz 20b
    jmp 91f                         /* none: the supervisor's return trap */
21: mov %r10, RZ_SLOT(%rsp)         /* r9: slot k = r10 */
    mov $SYS_GETTID, %eax
    syscall                         /* clobbers rcx, r11 */
mp_stub_fast_tid_slot:              /* (a signal is often delivered here: bp_inproc_fast_frame) */
    mov %eax, MP_SLOT_TID(%r9)
    mov %eax, %r8d                  /* r8: the thread, for the claims */
    xor %eax, %eax
    mov %rax, MP_SLOT_FREE_POS(%r9)
    mov %rax, MP_SLOT_FREE_ADDR(%r9)
    mov %rax, MP_SLOT_MEMPTR(%r9)
    mov %rax, MP_SLOT_INNER_SIZE(%r9)
    mov %rax, MP_SLOT_EXTRA(%r9)
    movl $0, MP_SLOT_FLAGS(%r9)
    mov RZ_KIND(%rsp), %rcx
    mov %rdi, %rax                  /* rax: the size, by the site's kind */
    cmp $MP_SITE_CALLOC, %rcx
    jne 13f
    imul %rsi, %rax
    jmp 19f
13: cmp $MP_SITE_REALLOC, %rcx
    je 14f
    cmp $MP_SITE_REALLOCARRAY, %rcx
    jne 15f
    mov %rsi, %rax
    imul RZ_RDX(%rsp), %rax         /* (no overflow: checked above) */
    jmp 141f
14: mov %rsi, %rax
141: mov %rdi, MP_SLOT_FREE_ADDR(%r9) /* realloc of a block: its FREE below; of NULL: none */
    jmp 19f
15: cmp $MP_SITE_ARG1, %rcx
    jne 16f
    mov %rsi, %rax
    jmp 19f
16: cmp $MP_SITE_POSIX_MEMALIGN, %rcx
    jne 17f
    mov RZ_RDX(%rsp), %rax
    mov %rdi, MP_SLOT_MEMPTR(%r9)
    jmp 19f
17: cmp $MP_SITE_NEW, %rcx
    jne 171f
    movl $MP_SLOT_F_NEW, MP_SLOT_FLAGS(%r9)
    jmp 19f
171: cmp $MP_SITE_NEW_NOTHROW, %rcx
    jne 18f
    movl $MP_SLOT_F_NEW_NOTHROW, MP_SLOT_FLAGS(%r9)
    jmp 19f
18: cmp $MP_SITE_XALLOCX, %rcx
    jne 181f
    mov %rsi, %rax
    mov %rdi, MP_SLOT_FREE_ADDR(%r9) /* the return stub writes its FREE and ALLOC */
    mov RZ_RDX(%rsp), %rcx
    mov %rcx, MP_SLOT_EXTRA(%r9)
    movl $MP_SLOT_F_XALLOCX, MP_SLOT_FLAGS(%r9)
    jmp 19f
181: cmp $MP_SITE_FREE_CALL, %rcx
    jne 19f
    /* operator delete and the like: the FREE now, before the memory goes;
     * the slot only ends the call (calls inside it pass on) */
    movl $MP_SLOT_F_NO_ALLOC, MP_SLOT_FLAGS(%r9)
    reserve_record %r8, 28f, 27f, %rcx, %ecx, 0
    write_free %rdi, %r8d, (%rsp), %rcx, %ecx
    xor %eax, %eax
    mov %rax, MP_SLOT_SIZE(%r9)
    mov %rax, MP_SLOT_NFRAMES(%r9)  /* nframes and truncated 0: the return records nothing */
    jmp 26f
19: mov %rax, MP_SLOT_SIZE(%r9)
    mov MP_SLOT_FREE_ADDR(%r9), %rax
    test %rax, %rax
    jz 24f
    testl $MP_SLOT_F_XALLOCX, MP_SLOT_FLAGS(%r9)
    jnz 24f
    /* realloc of a block: its FREE's place in the ring, before the memory
     * can be reused (ring.h) */
    reserve_record %r8, 28f, 27f, %rcx, %ecx, 0
    inc %rdx
    mov %rdx, MP_SLOT_FREE_POS(%r9) /* position + 1; the return stub commits it */
    jmp 24f
27: movq $0, MP_SLOT_BUSY(%r9)      /* memprof went away: nothing recorded */
    jmp 90f
28: movq $0, MP_SLOT_BUSY(%r9)      /* the position was revoked or unreachable: the supervisor
                                       decides (a stop records the call: nothing is dropped) */
    jmp 91f
24: mov RZ_SHAPE(%rsp), %r10
    mov MP_SHAPE_N(%r10), %ecx
    mov %rcx, MP_SLOT_NFRAMES(%r9)  /* nframes, truncated 0 */
25: dec %ecx
    js 26f
    mov MP_SHAPE_FRAMES(%r10,%rcx,8), %rax
    mov %rax, MP_SLOT_FRAMES(%r9,%rcx,8)
    jmp 25b
26: mov (%rsp), %rax
    mov %rax, MP_SLOT_RET(%r9)
    mov %rsp, MP_SLOT_ENTRY_SP(%r9) /* last: the supervisor matches calls on it */
    lock incq d_block+MP_STUB_D_FAST(%rip)
    mov RZ_SLOT(%rsp), %r10         /* the call returns through return stub k */
    imul $MP_STUB_RET_STUB_BYTES, %r10, %r10
    add d_block+MP_STUB_D_RET0(%rip), %r10
    mov %r10, (%rsp)
    jmp 90f

30: /* free: its FREE record, before the memory goes */
    mov $SYS_GETTID, %eax
    syscall                         /* clobbers rcx, r11 */
mp_stub_fast_tid_free:              /* (and here) */
    mov %eax, %r8d
    reserve_record %r8, 91f, 90f, %rcx, %ecx, 0
    write_free %rdi, %r8d, (%rsp), %rcx, %ecx
    lock incq d_block+MP_STUB_D_FAST(%rip)
    /* fall through: on into the copy */

90: mov RZ_SITE(%rsp), %r11         /* on into copy i, past its INT3 */
    lea d_block+MP_STUB_D_SITE_COPY(%rip), %r10
    mov (%r10,%r11,8), %r10
    inc %r10
    jmp 99f
91: memprof_alive                   /* (a thread a signal held in here while memprof let go: */
    jz 90b                          /* on into the copy, never to the INT3 nobody takes) */
    mov RZ_SITE(%rsp), %r11         /* to copy i's INT3: the supervisor decides */
    lea d_block+MP_STUB_D_SITE_COPY(%rip), %r10
    mov (%r10,%r11,8), %r10
99: mov RZ_RAX(%rsp), %rax
    mov RZ_RCX(%rsp), %rcx
    mov RZ_RDX(%rsp), %rdx
    mov RZ_R8(%rsp), %r8
    mov RZ_R9(%rsp), %r9
    jmp *%r10

93: /* a call inside a recorded one (rax: the recorded call's return
     * address, ours): passed on.  malloc's size goes into the recorded
     * call's slot: if that is an operator new that throws, the last block
     * malloc gave inside is its exception object (bp_fast.c).  A throw
     * inside one stops: the return address must be put back first */
    cmp $MP_SITE_THROW, %r9
    je 91b
    cmp $MP_SITE_MALLOC, %r9
    jne 92f
    sub d_block+MP_STUB_D_RET0(%rip), %rax
    cmp $(MP_STUB_SLOTS * MP_STUB_RET_STUB_BYTES), %rax
    jae 91b                         /* it returns through a trap: the supervisor keeps the size */
    imul $5958, %rax, %rcx          /* k = rax / 11 (exact for rax < 2^16 / 11 * 11) */
    shr $16, %rcx
    imul $MP_STUB_RET_STUB_BYTES, %rcx, %r8
    cmp %rax, %r8
    jne 91b
    imul d_block+MP_STUB_D_SLOTSIZE(%rip), %rcx
    add d_block+MP_STUB_D_SLOTS(%rip), %rcx
    mov %rdi, MP_SLOT_INNER_SIZE(%rcx)
92: lock incq d_block+MP_STUB_D_PASSED(%rip)
    jmp 90b

/* One wait for room in the ring (reserve_record, after WAIT_SPINS
 * polls): sched_yield, or a 20 us nap past WAIT_YIELDS polls.  Called
 * with rsp 128 bytes below the waiter's (whose red zone holds RZ_WAITS);
 * every register is kept (the system calls clobber rax, rcx and r11).
 * A signal frame that returns here or to the call is run out at detach
 * (bp_leave.h: mp_run_frame_out; a call not yet made is skipped). */
mp_stub_back_off:
stub_back_off:
    push %rax
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r11
#define BACK_OFF_WAITS (6 * 8 + 8 + 128 + RZ_WAITS) /* RZ_WAITS from here */
    cmpl $WAIT_YIELDS, BACK_OFF_WAITS(%rsp)
    jae 1f
    mov $SYS_SCHED_YIELD, %eax
    syscall
    jmp 2f
1:  movl $WAIT_YIELDS, BACK_OFF_WAITS(%rsp)
    push $20000                     /* struct timespec { 0, 20000 ns } */
    push $0
    mov %rsp, %rdi
    xor %esi, %esi
    mov $SYS_NANOSLEEP, %eax
    syscall
    add $16, %rsp
2:  pop %r11
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rax
    ret

    .p2align 4
mp_stub_client:                     /* memprof.h's hook points here: memprof takes the trap */
    int3
    ret

    .p2align 4
mp_stub_copies:                     /* bp_guard.c writes them through memprof's mapping */
    .fill MP_STUB_SITES * MP_STUB_COPY_BYTES, 1, 0xcc
mp_stub_blob_end:
    .org mp_stub_blob_start + MP_STUB_BLOB_BYTES /* fails ("move .org backwards") when the stubs do not fit */
    .if MP_STUB_RET_STUB_BYTES != 11 || MP_STUB_SLOTS * MP_STUB_RET_STUB_BYTES >= 65536 / 11 * 11
    .error "fast_common divides by MP_STUB_RET_STUB_BYTES with 5958 / 2^16"
    .endif
    .section .note.GNU-stack,"",@progbits
