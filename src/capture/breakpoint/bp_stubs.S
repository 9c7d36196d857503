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
 * free for this lap (the reader in memprof drains meanwhile). */
.macro reserve_record
    mov $1, %edx
    mov d_block+MP_STUB_D_HEAD(%rip), %r10
    lock xadd %rdx, (%r10)
    mov %rdx, %r10
    and d_block+MP_STUB_D_MASK(%rip), %r10
    imul d_block+MP_STUB_D_RECSIZE(%rip), %r10
    add d_block+MP_STUB_D_RECS(%rip), %r10
1:  cmp %rdx, (%r10)
    je 2f
    pause
    jmp 1b
2:
.endm

    .p2align 4
mp_stub_free:                       /* free(rdi), jumped to from free's entry */
    test %rdi, %rdi
    jz 9f
    reserve_record
    movl $2, 8(%r10)                /* MP_REC_FREE */
    movl $0, 12(%r10)
    mov %rdi, 16(%r10)
    movq $0, 24(%r10)
    movq $1, 32(%r10)               /* nframes 1, truncated 0 */
    mov (%rsp), %r11                /* the frame: free's return address */
    mov %r11, 40(%r10)
    inc %rdx
    mov %rdx, (%r10)                /* commit: seq = pos + 1 */
    test %rdi, %rdi                 /* the displaced instruction's flags */
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
    movl $0, 12(%r10)
    mov MP_SLOT_FREE_ADDR(%r9), %rsi
    mov %rsi, 16(%r10)
    movq $0, 24(%r10)
    movq $1, 32(%r10)               /* nframes 1, truncated 0 */
    mov MP_SLOT_RET(%r9), %rsi      /* the frame: realloc's return address */
    mov %rsi, 40(%r10)
    inc %rdx
    mov %rdx, (%r10)                /* commit */
    movq $0, MP_SLOT_FREE_POS(%r9)
6:  testl $MP_SLOT_F_NO_ALLOC, MP_SLOT_FLAGS(%r9)
    jnz 7f
    test %rax, %rax
    jz 8f
    reserve_record
    movl $1, 8(%r10)                /* MP_REC_ALLOC */
    mov MP_SLOT_TID(%r9), %esi
    mov %esi, 12(%r10)
    mov %rax, 16(%r10)
    mov MP_SLOT_SIZE(%r9), %rsi
    mov %rsi, 24(%r10)
    mov MP_SLOT_NFRAMES(%r9), %rsi  /* nframes and truncated */
    mov %rsi, 32(%r10)
    mov MP_SLOT_NFRAMES(%r9), %ecx
    lea MP_SLOT_FRAMES(%r9), %rsi
    lea 40(%r10), %rdi
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
