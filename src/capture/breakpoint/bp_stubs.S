/* memprof: the breakpoint engine's code inside the target (see bp_stubs.h).
 * Position-independent: copied as is; it finds everything through the data
 * block at its start.  Runs at a function's entry (free) or right after an
 * allocator returned, so it may use only registers the calling convention
 * lets a callee clobber and that carry no argument (free: rdi is one) or
 * result (rax). */
#include "bp_stubs.h"

    .section .rodata
    .p2align 6
    .globl mp_stub_blob_start, mp_stub_blob_end, mp_stub_free, mp_stub_ret0, mp_stub_client
mp_stub_blob_start:
d_block:
    .fill MP_STUB_DATA_BYTES, 1, 0

/* rdx <- a reserved ring position, r10 <- its record, once the record is
 * free for this lap (the reader in memprof drains meanwhile), then claimed
 * for thread \tid (a 64-bit register, upper half zero) of this process
 * (ring.h, Holes).  A slot memprof revoked meanwhile (it took the thread
 * for dead) goes to \revoked: nothing may be written.  Clobbers r11. */
.macro reserve_record tid, revoked
    mov $1, %edx
    mov d_block+MP_STUB_D_HEAD(%rip), %r10
    lock xadd %rdx, (%r10)
    mov %rdx, %r10
    and d_block+MP_STUB_D_MASK(%rip), %r10
    imul d_block+MP_STUB_D_RECSIZE(%rip), %r10
    add d_block+MP_STUB_D_RECS(%rip), %r10
1:  mov (%r10), %r11
    cmp %rdx, %r11
    je 2f
    sub %rdx, %r11
    jg \revoked                    /* seq past our position: revoked */
    pause
    jmp 1b
2:  mov d_block+MP_STUB_D_PID(%rip), %r11d
    mov %r11d, 44(%r10)             /* claim_pid */
    mov %rdx, %r11
    shl $32, %r11
    or \tid, %r11
    mov %r11, 48(%r10)              /* claim */
.endm

/* The record's pid (r10: the record; clobbers r11). */
.macro record_pid
    mov d_block+MP_STUB_D_PID(%rip), %r11d
    mov %r11d, 40(%r10)
.endm

    .p2align 4
mp_stub_free:                       /* free(rdi), jumped to from free's entry */
    test %rdi, %rdi
    jz 9f
    mov $186, %eax                  /* gettid: the claim names the thread */
    syscall                         /* clobbers rcx and r11 */
    mov %eax, %esi
    reserve_record %rsi, 8f
    movl $2, 8(%r10)                /* MP_REC_FREE */
    movl %esi, 12(%r10)             /* tid */
    mov %rdi, 16(%r10)
    movq $0, 24(%r10)
    movq $1, 32(%r10)               /* nframes 1, truncated 0 */
    record_pid
    mov (%rsp), %r11                /* the frame: free's return address */
    mov %r11, 56(%r10)
    inc %rdx
    mov %rdx, (%r10)                /* commit: seq = pos + 1 */
8:  test %rdi, %rdi                 /* the displaced instruction's flags */
    jmp *d_block+MP_STUB_D_FREE_CONT(%rip)
9:  test %rdi, %rdi
    jmp *d_block+MP_STUB_D_FREE_ZERO(%rip)

    .p2align 4
mp_stub_client:                     /* memprof.h's hook points here: memprof takes the trap */
    int3
    ret

    .p2align 4
mp_stub_ret0:                       /* stub k: ecx = k, then the common part */
    .set k, 0
    .rept MP_STUB_SLOTS
    .byte 0xb9
    .long k
    .byte 0xe9
    .long ret_common - (. + 4)
    .set k, k + 1
    .endr

ret_common:                         /* rax: the allocator's result */
    mov %ecx, %r9d
    imul d_block+MP_STUB_D_SLOTSIZE(%rip), %r9
    add d_block+MP_STUB_D_SLOTS(%rip), %r9
    mov MP_SLOT_FREE_POS(%r9), %rdx /* realloc: the FREE reserved before the call */
    test %rdx, %rdx
    jz 6f
    dec %rdx
    mov %rdx, %r10
    and d_block+MP_STUB_D_MASK(%rip), %r10
    imul d_block+MP_STUB_D_RECSIZE(%rip), %r10
    add d_block+MP_STUB_D_RECS(%rip), %r10
    mov $2, %esi                    /* MP_REC_FREE */
    test %rax, %rax
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
    record_pid
    mov MP_SLOT_RET(%r9), %rsi      /* the frame: realloc's return address */
    mov %rsi, 56(%r10)
    inc %rdx
    mov %rdx, (%r10)                /* commit */
    movq $0, MP_SLOT_FREE_POS(%r9)
6:  testl $MP_SLOT_F_NO_ALLOC, MP_SLOT_FLAGS(%r9)
    jnz 7f
    test %rax, %rax
    jz 8f
    mov MP_SLOT_TID(%r9), %esi
    reserve_record %rsi, 7f
    movl $1, 8(%r10)                /* MP_REC_ALLOC */
    mov %esi, 12(%r10)
    mov %rax, 16(%r10)
    mov MP_SLOT_SIZE(%r9), %rsi
    mov %rsi, 24(%r10)
    mov MP_SLOT_NFRAMES(%r9), %rsi  /* nframes and truncated */
    mov %rsi, 32(%r10)
    record_pid
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
7:  mov MP_SLOT_RET(%r9), %rcx
    movq $0, MP_SLOT_BUSY(%r9)      /* the slot is free again */
    jmp *%rcx
mp_stub_blob_end:
    .section .note.GNU-stack,"",@progbits
