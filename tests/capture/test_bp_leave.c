/* memprof tests: a signal handler that would return into code memprof is
 * about to remove (capture/breakpoint/bp_leave.c), as at the detach of
 * memprof -p when a signal interrupted a thread inside the breakpoint
 * engine's stubs.
 *
 * A child of this test (its code at the same addresses as ours) spins in
 * leave_region(), an assembly routine that stands for the stubs: it waits
 * for leave_go, then computes 41 + 42 + its argument using its red zone
 * and returns.  The test stops the child there with SIGUSR1 pending and
 * steps it into the handler, so that the handler's signal frame returns
 * into the region.  The frame must be found and known to be live (the
 * thread stands at the handler's first instruction); run out, its saved
 * context must have left the region (the routine's remaining
 * instructions ran, red zone included, the frame untouched) while the
 * thread's own registers are as before.  Detached, the child finishes its
 * handlers and checks what leave_region returned: 41 + 42 + 100 = 183,
 * each handler run once; it exits 0 then (exit codes 2-6 name what broke).
 * A frame is live through a chain of frames too (a second signal delivered
 * at the first handler's entry), also when the second handler runs on an
 * alternate stack (the first frame is on the interrupted stack); a thread
 * already past its handler's first instruction does not prove its frame
 * live.  A handler that uses more stack than is read, or a context that
 * faults when stepped, is "cannot tell" (the detach then keeps the stubs),
 * never a hang nor a signal the program did not have. */
#define _GNU_SOURCE
#include "harness.h"
#include "capture/breakpoint/bp_leave.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

volatile unsigned char leave_go;
long leave_region(long arg);
extern const char leave_region_end[], leave_fault[], leave_nap[];
struct timespec leave_nap_time = { 0, 60 * 1000 * 1000 };

/* How the child sets up its handlers (set before the fork). */
enum { PLAIN, USR2_ON_ALT_STACK, USR1_DEEP, USR2_ONCE } child_mode;
#define ALT_SIZE (64 * 1024)
#define DEEP_BYTES (1536 * 1024) /* more than bp_leave.c reads of a stack */
static char *volatile alt_stack; /* the child's, read by the test */
static volatile int deep_ready;

__asm__(".pushsection .text\n"
        ".globl leave_region, leave_region_end\n"
        ".type leave_region, @function\n"
        "leave_region:\n"
        "1:  pause\n"
        "    cmpb $0, leave_go(%rip)\n"
        "    je 1b\n"
        "    mov $41, %eax\n"
        "    mov %rax, -8(%rsp)\n"   /* the red zone: the kernel put the frame below it */
        "    mov %rdi, -16(%rsp)\n"
        "    inc %eax\n"
        "    add -8(%rsp), %rax\n"
        "    add -16(%rsp), %rax\n"
        "    ret\n"
        ".globl leave_nap\n"
        "leave_nap:\n"                 /* nanosleep(&leave_nap_time, NULL) */
        "    mov $35, %eax\n"
        "    lea leave_nap_time(%rip), %rdi\n"
        "    xor %esi, %esi\n"
        "    syscall\n"
        "    ret\n"
        ".globl leave_fault\n"
        "leave_fault:\n"
        "    movq 0, %rax\n"          /* SIGSEGV */
        "    ret\n"
        "leave_region_end:\n"
        ".size leave_region, . - leave_region\n"
        ".popsection\n");

static volatile sig_atomic_t usr1_runs, usr2_runs;

static void on_usr1(int sig)
{
    (void)sig;
    usr1_runs++;
}

static void on_usr2(int sig)
{
    (void)sig;
    usr2_runs++;
}

/* A handler deep in its stack that waits for leave_go there. */
static __attribute__((noinline)) void deep(void)
{
    char big[DEEP_BYTES];
    memset(big, 1, sizeof big);
    __asm__ volatile("" : : "r"(big) : "memory");
    deep_ready = 1;
    while (!leave_go)
        ;
}

static void on_usr1_deep(int sig)
{
    (void)sig;
    usr1_runs++;
    deep();
}

static void child_main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = child_mode == USR1_DEEP ? on_usr1_deep : on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    if (child_mode == USR2_ON_ALT_STACK) {
        /* its own mapping between two PROT_NONE pages: no neighbour merges into it */
        char *m = mmap(NULL, ALT_SIZE + 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED || mprotect(m + 4096, ALT_SIZE, PROT_READ | PROT_WRITE) != 0)
            _exit(5);
        stack_t ss = { .ss_sp = m + 4096, .ss_size = ALT_SIZE, .ss_flags = 0 };
        if (sigaltstack(&ss, NULL) != 0)
            _exit(5);
        alt_stack = m + 4096;
        sa.sa_flags = SA_ONSTACK;
    }
    sa.sa_handler = on_usr2;
    sigaction(SIGUSR2, &sa, NULL);
    long r = leave_region(100);
    if (r != 183)
        _exit(2);
    if (usr1_runs != 1)
        _exit(3);
    if (usr2_runs > 1)
        _exit(4); /* (0 or 1: some tests send it) */
    if (child_mode == USR2_ONCE && usr2_runs != 1)
        _exit(6);
    _exit(0);
}

static const struct mp_addr_range region = { (uint64_t)(uintptr_t)leave_region,
                                             (uint64_t)(uintptr_t)leave_region_end };

static int wait_stop(pid_t pid, int *sig)
{
    int status;
    for (;;) {
        pid_t w = waitpid(pid, &status, __WALL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w != pid || !WIFSTOPPED(status))
            return -1;
        *sig = WSTOPSIG(status);
        return status >> 16;
    }
}

/* A child seized and stopped in leave_region() in the signal-delivery stop
 * of a SIGUSR1, then stepped into on_usr1: it stands at the handler's first
 * instruction, its frame returning into the region. */
static pid_t child_in_handler(void)
{
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0)
        child_main();
    ck_assert_int_eq(ptrace(PTRACE_SEIZE, child, 0, 0), 0);
    struct user_regs_struct regs;
    int sig = 0, tries;
    for (tries = 0; tries < 500; tries++) {
        struct timespec nap = { 0, 2 * 1000 * 1000 };
        nanosleep(&nap, NULL);
        kill(child, SIGUSR1);
        ck_assert_int_eq(wait_stop(child, &sig), 0);
        ck_assert_int_eq(sig, SIGUSR1);
        ck_assert_int_eq(ptrace(PTRACE_GETREGS, child, 0, &regs), 0);
        if (mp_addr_in_ranges(regs.rip, &region, 1))
            break;
        ck_assert_int_eq(ptrace(PTRACE_CONT, child, 0, 0), 0); /* not there yet: dropped, again */
    }
    ck_assert_int_lt(tries, 500);
    ck_assert_int_eq(ptrace(PTRACE_SINGLESTEP, child, 0, SIGUSR1), 0);
    ck_assert_int_eq(wait_stop(child, &sig), 0);
    ck_assert_int_eq(sig, SIGTRAP);
    ck_assert_int_eq(ptrace(PTRACE_GETREGS, child, 0, &regs), 0);
    uint64_t handler = (uint64_t)(uintptr_t)(child_mode == USR1_DEEP ? on_usr1_deep : on_usr1);
    ck_assert_msg(regs.rip == handler, "not at the handler's entry: rip %#llx", regs.rip);
    return child;
}

static int open_mem(pid_t child)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)child);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    return fd;
}

static void set_go(pid_t child)
{
    unsigned char one = 1;
    int fd = open_mem(child);
    ck_assert_int_eq(pwrite(fd, &one, 1, (off_t)(uintptr_t)&leave_go), 1);
    close(fd);
}

/* Delivers SIGUSR2 at the handler's entry the child stands at: it then
 * stands at on_usr2's entry, the first handler's frame under its own. */
static void into_usr2(pid_t child)
{
    int sig;
    kill(child, SIGUSR2); /* taken before the handler runs an instruction: its delivery stop */
    ck_assert_int_eq(ptrace(PTRACE_SINGLESTEP, child, 0, 0), 0);
    ck_assert_int_eq(wait_stop(child, &sig), 0);
    ck_assert_int_eq(sig, SIGUSR2);
    ck_assert_int_eq(ptrace(PTRACE_SINGLESTEP, child, 0, SIGUSR2), 0);
    ck_assert_int_eq(wait_stop(child, &sig), 0);
    ck_assert_int_eq(sig, SIGTRAP);
    struct user_regs_struct regs;
    ck_assert_int_eq(ptrace(PTRACE_GETREGS, child, 0, &regs), 0);
    ck_assert(regs.rip == (uint64_t)(uintptr_t)on_usr2);
}

static void detach_and_check(pid_t child, const char *what)
{
    ck_assert_int_eq(ptrace(PTRACE_DETACH, child, 0, 0), 0);
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: the child ended with status %#x", what,
                  status);
}

/* Runs frame f out and checks the thread's registers are as before. */
static void run_out(pid_t child, const struct mp_sigframe *f)
{
    struct user_regs_struct before, after;
    ck_assert_int_eq(ptrace(PTRACE_GETREGS, child, 0, &before), 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)child);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    struct mp_leave_fixup none = { NULL, NULL };
    ck_assert_int_eq(mp_run_frame_out(child, child, fd, f, &region, 1, 1000, none), 0);
    uint64_t rip = 0;
    ck_assert_int_eq(pread(fd, &rip, sizeof rip, (off_t)f->rip_at), (ssize_t)sizeof rip);
    close(fd);
    ck_assert_msg(!mp_addr_in_ranges(rip, &region, 1), "the frame still returns into the region (%#llx)",
                  (unsigned long long)rip);
    ck_assert_int_eq(ptrace(PTRACE_GETREGS, child, 0, &after), 0);
    ck_assert(after.rip == before.rip && after.rsp == before.rsp && after.rdi == before.rdi &&
              after.rax == before.rax);
}

/* /proc/PID/maps lines whose path runs past the reader's 512-byte buffer:
 * a piece of a path that reads like a range ("7000000-7fff0000") is not a
 * mapping.  The line of 0x1000-0x3000 has a path of 600 bytes whose bytes
 * 511 on (counted from the line's start) read "5000-ffff000 ..."; the
 * address 0x6000 lies in no mapping (0), 0x2000 in the first (0x3000),
 * 0x9000 in the last (0xa000). */
START_TEST(maps_path_pieces_are_not_ranges)
{
    char path[601];
    memset(path, 'a', sizeof path - 1);
    path[sizeof path - 1] = 0;
    const char *head = "1000-3000 r--p 00000000 08:01 42 ";
    size_t at = 511 - strlen(head); /* where the second piece of the line starts, in the path */
    memcpy(path + at, "5000-ffff000 ", 13);
    char text[2048];
    int len = snprintf(text, sizeof text, "%s/%s\n8000-a000 rw-p 00000000 00:00 0 [stack]\n", head, path + 1);
    ck_assert_int_lt(len, (int)sizeof text);
    FILE *maps = fmemopen(text, (size_t)len, "r");
    ck_assert_ptr_nonnull(maps);
    ck_assert_uint_eq(mp_maps_mapping_end(maps, 0x6000), 0);
    ck_assert_uint_eq(mp_maps_mapping_end(maps, 0x2000), 0x3000);
    ck_assert_uint_eq(mp_maps_mapping_end(maps, 0x9000), 0xa000);
    fclose(maps);
}
END_TEST

/* The one frame that returns into the region is found, known live and run
 * out; the child then finishes. */
static void run_out_the_frame(pid_t child, const char *what)
{
    struct mp_sigframe f[4];
    ck_assert_int_eq(mp_find_signal_frames(child, child, &region, 1, f, 4), 1); /* (on_usr2's returns to on_usr1) */
    ck_assert(!f[0].restorer_inside && mp_addr_in_ranges(f[0].rip, &region, 1));
    ck_assert_int_eq(mp_sigframe_is_live(child, child, &f[0]), 1);
    set_go(child);
    run_out(child, &f[0]);
    detach_and_check(child, what);
}

START_TEST(frame_at_handler_entry_is_run_out)
{
    run_out_the_frame(child_in_handler(), "one frame run out");
}
END_TEST

/* A second signal delivered at the first handler's entry: its frame sits
 * on top, and the first one is live through it. */
START_TEST(frame_live_through_a_chain)
{
    pid_t child = child_in_handler();
    into_usr2(child);
    run_out_the_frame(child, "a frame under another");
}
END_TEST

/* The same with on_usr2 on an alternate stack (SA_ONSTACK): the thread's
 * stack is then not the one holding on_usr1's frame, which must still be
 * found (the interrupted context's stack is read too), live and run out. */
START_TEST(frame_under_a_handler_on_an_alternate_stack)
{
    child_mode = USR2_ON_ALT_STACK;
    pid_t child = child_in_handler();
    into_usr2(child);
    struct user_regs_struct regs;
    uint64_t alt = 0;
    int fd = open_mem(child);
    ck_assert_int_eq(pread(fd, &alt, sizeof alt, (off_t)(uintptr_t)&alt_stack), (ssize_t)sizeof alt);
    close(fd);
    ck_assert_int_eq(ptrace(PTRACE_GETREGS, child, 0, &regs), 0);
    ck_assert_msg(alt && regs.rsp >= alt && regs.rsp < alt + ALT_SIZE, "on_usr2 is not on the alternate stack");
    run_out_the_frame(child, "a frame under a handler on an alternate stack");
}
END_TEST

/* on_usr1 uses 1.5 MiB of stack below its frame, more than is read: the
 * frame is not found, and that must say "cannot tell", not "none". */
START_TEST(frame_under_a_deep_handler_cannot_be_told)
{
    child_mode = USR1_DEEP;
    pid_t child = child_in_handler();
    ck_assert_int_eq(ptrace(PTRACE_CONT, child, 0, 0), 0);
    int fd = open_mem(child), ready = 0, sig;
    for (int tries = 0; tries < 5000 && !ready; tries++) {
        struct timespec nap = { 0, 1000 * 1000 };
        nanosleep(&nap, NULL);
        ck_assert_int_eq(pread(fd, &ready, sizeof ready, (off_t)(uintptr_t)&deep_ready), (ssize_t)sizeof ready);
    }
    close(fd);
    ck_assert(ready);
    ck_assert_int_eq(ptrace(PTRACE_INTERRUPT, child, 0, 0), 0);
    ck_assert_int_eq(wait_stop(child, &sig), PTRACE_EVENT_STOP);
    struct mp_sigframe f[4];
    ck_assert_int_eq(mp_find_signal_frames(child, child, &region, 1, f, 4), -1);
    set_go(child);
    detach_and_check(child, "a deep handler");
}
END_TEST

/* A saved context at an instruction that faults: running it out gives up
 * (it used to step it forever), the frame and the thread as they were, and
 * the fault is not queued for the program (which would die of it). */
START_TEST(faulting_context_is_given_up)
{
    pid_t child = child_in_handler();
    struct mp_sigframe f[4];
    ck_assert_int_eq(mp_find_signal_frames(child, child, &region, 1, f, 4), 1);
    uint64_t fault = (uint64_t)(uintptr_t)leave_fault, back = 0;
    int fd = open_mem(child);
    ck_assert_int_eq(pwrite(fd, &fault, sizeof fault, (off_t)f[0].rip_at), (ssize_t)sizeof fault);
    struct mp_sigframe at_fault = f[0];
    at_fault.rip = fault;
    struct user_regs_struct before, after;
    ck_assert_int_eq(ptrace(PTRACE_GETREGS, child, 0, &before), 0);
    struct mp_leave_fixup none = { NULL, NULL };
    ck_assert_int_eq(mp_run_frame_out(child, child, fd, &at_fault, &region, 1, 1000, none), -1);
    ck_assert_int_eq(ptrace(PTRACE_GETREGS, child, 0, &after), 0);
    ck_assert(after.rip == before.rip && after.rsp == before.rsp);
    ck_assert_int_eq(pread(fd, &back, sizeof back, (off_t)f[0].rip_at), (ssize_t)sizeof back);
    ck_assert(back == fault);
    ck_assert_int_eq(pwrite(fd, &f[0].rip, sizeof f[0].rip, (off_t)f[0].rip_at), (ssize_t)sizeof f[0].rip);
    close(fd);
    set_go(child);
    detach_and_check(child, "a faulting context given up");
}
END_TEST

/* A thread standing at an instruction that faults is not stepped forever
 * either. */
START_TEST(faulting_thread_is_given_up)
{
    pid_t child = child_in_handler();
    struct user_regs_struct regs, at_fault;
    ck_assert_int_eq(ptrace(PTRACE_GETREGS, child, 0, &regs), 0);
    at_fault = regs;
    at_fault.rip = (uint64_t)(uintptr_t)leave_fault;
    ck_assert_int_eq(ptrace(PTRACE_SETREGS, child, 0, &at_fault), 0);
    ck_assert_int_eq(mp_step_out_of(child, &child, 1, &region, 1, 1000), -1);
    ck_assert_int_eq(ptrace(PTRACE_GETREGS, child, 0, &at_fault), 0);
    ck_assert(at_fault.rip == (uint64_t)(uintptr_t)leave_fault);
    ck_assert_int_eq(ptrace(PTRACE_SETREGS, child, 0, &regs), 0);
    set_go(child);
    detach_and_check(child, "a faulting thread given up");
}
END_TEST

/* A thread that went on inside its handler: nothing says its frame is not
 * a stale copy the stack kept, so it is not proven live (the detach then
 * falls back on the mapping of known points, or keeps the stubs). */
START_TEST(frame_not_proven_inside_the_handler)
{
    pid_t child = child_in_handler();
    int sig;
    ck_assert_int_eq(ptrace(PTRACE_SINGLESTEP, child, 0, 0), 0); /* the handler's first instruction */
    ck_assert_int_eq(wait_stop(child, &sig), 0);
    struct mp_sigframe f[4];
    ck_assert_int_eq(mp_find_signal_frames(child, child, &region, 1, f, 4), 1);
    ck_assert_int_eq(mp_sigframe_is_live(child, child, &f[0]), 0);
    set_go(child); /* the handler returns into the region, which finishes as ever */
    detach_and_check(child, "a frame left as it was");
}
END_TEST

static volatile int sending;
static pid_t send_to;

static void *send_usr2(void *arg)
{
    (void)arg;
    while (sending) {
        kill(send_to, SIGUSR2);
        struct timespec ms = { 0, 1000 * 1000 };
        nanosleep(&ms, NULL);
    }
    return NULL;
}

/* A step that waits in a system call (60 ms) while a signal comes every
 * millisecond: each one is the same signal at the same rip, yet none is a
 * fault of the instruction's; the thread is stepped out, and the signal
 * is queued for it (the child requires on_usr2 to have run exactly once:
 * pending, they merge). */
START_TEST(signals_during_a_waiting_step_are_held)
{
    child_mode = USR2_ONCE;
    pid_t child = child_in_handler();
    struct user_regs_struct regs, at_nap;
    ck_assert_int_eq(ptrace(PTRACE_GETREGS, child, 0, &regs), 0);
    at_nap = regs;
    at_nap.rip = (uint64_t)(uintptr_t)leave_nap; /* its ret goes to the handler's restorer */
    ck_assert_int_eq(ptrace(PTRACE_SETREGS, child, 0, &at_nap), 0);
    pthread_t sender;
    send_to = child;
    sending = 1;
    ck_assert_int_eq(pthread_create(&sender, NULL, send_usr2, NULL), 0);
    int rc = mp_step_out_of(child, &child, 1, &region, 1, 1000);
    sending = 0;
    pthread_join(sender, NULL);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(ptrace(PTRACE_SETREGS, child, 0, &regs), 0);
    set_go(child);
    detach_and_check(child, "signals during a waiting step");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bp_leave");
    TCase *tc = tcase_create("bp_leave");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, maps_path_pieces_are_not_ranges);
    tcase_add_test(tc, frame_at_handler_entry_is_run_out);
    tcase_add_test(tc, frame_live_through_a_chain);
    tcase_add_test(tc, frame_not_proven_inside_the_handler);
    tcase_add_test(tc, frame_under_a_handler_on_an_alternate_stack);
    tcase_add_test(tc, frame_under_a_deep_handler_cannot_be_told);
    tcase_add_test(tc, faulting_context_is_given_up);
    tcase_add_test(tc, faulting_thread_is_given_up);
    tcase_add_test(tc, signals_during_a_waiting_step_are_held);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
