/* memprof: what keeps an attached process alive if memprof dies there
 * (SIGKILL, the OOM killer): the kernel detaches its threads, and one that
 * was stopped at memprof's breakpoint, or meets one later, gets SIGTRAP,
 * whose default action kills the process.  So while attached, memprof's
 * SIGTRAP handler (bp_stubs.S) is the process's: it runs a copy of the
 * instruction under each breakpoint and goes on.  It never runs for
 * memprof's own traps while memprof lives (memprof takes them first); a
 * SIGTRAP of the program's own goes to the program's action as before.
 * The stubs stop recording on their own (the robust mutex, bp_stubs.h).
 * Supervisor thread only, every thread of the target stopped. */
#ifndef MEMPROF_BP_GUARD_H
#define MEMPROF_BP_GUARD_H

#include <stdint.h>
#include <sys/types.h>
#include "bp_inproc.h"
#include "capture/trap/emulate.h"

/* Installs the handler (the program's action kept in the data page).  0,
 * or -1. */
int mp_bp_guard_install(struct mp_bp_inproc *ip, pid_t tid, int mem_fd, uint64_t scratch);
/* A breakpoint of memprof's at addr: an INT3 over the instruction `text`
 * (decoded as emu), or a debug register (hw).  0, or -1 when the handler
 * could not carry it out (an instruction not relocated). */
int mp_bp_guard_site(struct mp_bp_inproc *ip, uint64_t addr, const uint8_t *text, const struct mp_emu *emu, int hw);
/* A fork child (stopped; its memory child_mem_fd) inherited the handler:
 * the program's action back in it.  0, or -1. */
int mp_bp_guard_clean_child(struct mp_bp_inproc *ip, pid_t child, int child_mem_fd, uint64_t scratch);
/* An allocator entry at addr (text: its first text_len bytes) made a
 * stub: an INT3 followed by a copy of the instructions covering its first
 * 5 bytes (*patch_len of them) and a jump back; the entry's bytes are then
 * replaced by a jump to it (by the caller).  A thread stopped at the INT3
 * resumes in the copy: right whether memprof handled the trap, the handler
 * did, or memprof died and the kernel dropped the SIGTRAP.  The stub's
 * address, or 0 when the instructions cannot be copied. */
uint64_t mp_bp_guard_entry_stub(struct mp_bp_inproc *ip, uint64_t addr, const uint8_t *text, size_t text_len,
                                size_t *patch_len);
/* The rt_sigreturn trampoline the program's own SIGTRAP handler was
 * installed with (memprof's handler calls that handler with memprof's
 * trampoline as its return address); 0 if none. */
uint64_t mp_bp_guard_program_restorer(const struct mp_bp_inproc *ip);
/* Leaving: the program's action back, if the program did not replace
 * memprof's meanwhile.  0, or -1. */
int mp_bp_guard_remove(struct mp_bp_inproc *ip, pid_t tid, int mem_fd, uint64_t scratch);

#endif
