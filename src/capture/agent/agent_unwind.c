/* memprof agent: capturing a stack without ever crashing the program.
 *
 * libunwind trusts the program's unwind tables (.eh_frame): a binary whose
 * tables are damaged (it runs fine natively, where nothing reads them)
 * makes unw_backtrace read wild addresses.  So the agent unwinds under a
 * fault guard: its own SIGSEGV and SIGBUS handler, which, while this
 * thread is inside unw_backtrace, jumps back out (the stack ends at the
 * frames found so far, and its record says so: MP_REC_TRUNC_FAULT),
 * and otherwise does exactly what the program's own disposition says.
 *
 * The program keeps its handlers: sigaction() and signal() for SIGSEGV and
 * SIGBUS are interposed, so the program installs and reads its own
 * disposition while the agent's handler stays first.  A fault inside the
 * loader's dl_iterate_phdr (which holds the loader's lock while libunwind
 * looks at a module's tables) is caught in the callback and returns from
 * it, so the lock is released as usual; libunwind's sigprocmask calls keep
 * SIGSEGV and SIGBUS deliverable while it unwinds for the agent.
 *
 * The same guard serves the agent's other reads of memory it does not own
 * (agent_guarded_call: a Python process's frames, agent_pyframes.c). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <ucontext.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "agent_internal.h"

#define EXPORT __attribute__((visibility("default")))

extern int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/* per thread: inside a guarded unwind (1), and inside a guarded callback
 * of dl_iterate_phdr (2).  The jump buffers live on the stack of the
 * unwinding call: they hold the caller's registers (pointers to blocks,
 * often), and the leak scan takes a thread's TLS for roots but not the
 * stack below its stack pointer, so a block the program lost would look
 * reachable from a buffer kept in TLS. */
#define LOCAL_TLS __attribute__((tls_model("initial-exec")))
static __thread int guard_depth LOCAL_TLS;
static __thread sigjmp_buf *unwind_jump LOCAL_TLS;
static __thread sigjmp_buf *callback_jump LOCAL_TLS;
static __thread int callback_faulted LOCAL_TLS;

static int guard_installed;
static struct sigaction program_action[2]; /* SIGSEGV, SIGBUS: what the program asked for */

static int guarded_index(int sig)
{
    return sig == SIGSEGV ? 0 : sig == SIGBUS ? 1 : -1;
}

/* The program's disposition for a fault or signal the agent did not cause. */
static void forward(int sig, siginfo_t *info, void *context)
{
    struct sigaction *a = &program_action[guarded_index(sig)];
    if (a->sa_flags & SA_SIGINFO ? a->sa_sigaction == NULL : a->sa_handler == SIG_DFL || a->sa_handler == SIG_IGN) {
        int ignored = !(a->sa_flags & SA_SIGINFO) && a->sa_handler == SIG_IGN;
        if (ignored && info->si_code <= 0)
            return; /* sent by kill(): ignored, as the program asked */
        /* the default action: a fault happens again on return, a signal
         * sent by kill() is sent again */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        __sigaction(sig, &dfl, NULL);
        if (info->si_code <= 0)
            raise(sig);
        return;
    }
    sigset_t saved;
    pthread_sigmask(SIG_BLOCK, &a->sa_mask, &saved);
    if (a->sa_flags & SA_SIGINFO) {
        void (*handler)(int, siginfo_t *, void *) = a->sa_sigaction;
        if (a->sa_flags & SA_RESETHAND)
            a->sa_handler = SIG_DFL, a->sa_flags &= ~SA_SIGINFO;
        handler(sig, info, context);
    } else {
        void (*handler)(int) = a->sa_handler;
        if (a->sa_flags & SA_RESETHAND)
            a->sa_handler = SIG_DFL;
        handler(sig);
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
}

/* A fault of libunwind's (or the agent's) own code: not one of a signal
 * handler of the program's that interrupted the unwind. */
static int fault_is_ours(const void *context)
{
    uintptr_t pc = (uintptr_t)((const ucontext_t *)context)->uc_mcontext.gregs[REG_RIP];
    return agent_pc_in_ranges(agent_unwinder_text, agent_unwinder_text_count, pc) ||
           agent_pc_in_ranges(agent_own_text, agent_own_text_count, pc);
}

static void on_fault(int sig, siginfo_t *info, void *context)
{
    if (guard_depth != 0 && info->si_code > 0 && !fault_is_ours(context)) {
        forward(sig, info, context);
        return;
    }
    if (guard_depth == 2 && info->si_code > 0) {
        guard_depth = 1;
        callback_faulted = 1;
        siglongjmp(*callback_jump, 1);
    }
    if (guard_depth == 1 && info->si_code > 0) {
        guard_depth = 0;
        siglongjmp(*unwind_jump, 1);
    }
    forward(sig, info, context);
}

void agent_unwind_guard_install(void)
{
    struct sigaction ours;
    memset(&ours, 0, sizeof ours);
    ours.sa_sigaction = on_fault;
    /* NODEFER: jumping out leaves nothing blocked; ONSTACK: the program's
     * alternate stack, if it has one, serves its handler as before */
    ours.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | SA_RESTART;
    sigemptyset(&ours.sa_mask);
    if (__sigaction(SIGSEGV, &ours, &program_action[0]) != 0)
        return;
    if (__sigaction(SIGBUS, &ours, &program_action[1]) != 0) {
        __sigaction(SIGSEGV, &program_action[0], NULL);
        return;
    }
    guard_installed = 1;
}

/* Which walk this thread is in, for the fault path: the fast one
 * (agent_fast_frames counts what it found) or libunwind's (which fills
 * the zeroed buffer in order). */
static __thread volatile int in_libunwind LOCAL_TLS;

static int libunwind_backtrace(void **pcs, int max)
{
    in_libunwind = 1;
    /* after a fault, the frames before the first empty entry were found */
    memset(pcs, 0, (size_t)max * sizeof *pcs);
    return unw_backtrace(pcs, max);
}

int agent_backtrace(void **pcs, int max, int *faulted)
{
    if (!guard_installed) {
        int n = agent_fast_backtrace(pcs, max);
        return n >= 0 ? n : unw_backtrace(pcs, max);
    }
    sigjmp_buf jump;
    unwind_jump = &jump;
    if (sigsetjmp(jump, 0) != 0) {
        guard_depth = 0;
        *faulted = 1;
        if (!in_libunwind) /* the frame being looked at when it faulted is not one */
            return agent_fast_frames > 0 ? agent_fast_frames - 1 : 0;
        int n = 0;
        while (n < max && pcs[n] != NULL)
            n++;
        return n;
    }
    in_libunwind = 0;
    agent_fast_frames = 0;
    guard_depth = 1;
    int n = agent_fast_backtrace(pcs, max);
    if (n < 0)
        n = libunwind_backtrace(pcs, max);
    guard_depth = 0;
    return n;
}

int agent_guarded_call(void (*fn)(void *), void *arg)
{
    if (!guard_installed || guard_depth != 0) {
        fn(arg);
        return 0;
    }
    sigjmp_buf jump;
    unwind_jump = &jump;
    if (sigsetjmp(jump, 0) != 0) {
        guard_depth = 0;
        return -1;
    }
    guard_depth = 1;
    fn(arg);
    guard_depth = 0;
    return 0;
}

/* ---- the loader's module walk, used by libunwind under the loader's lock ---- */

typedef int (*phdr_callback)(struct dl_phdr_info *, size_t, void *);
typedef int (*dl_iterate_phdr_fn)(phdr_callback, void *);
static dl_iterate_phdr_fn next_dl_iterate_phdr;

struct guarded_call {
    phdr_callback callback;
    void *data;
};

static int guarded_callback(struct dl_phdr_info *info, size_t size, void *data)
{
    struct guarded_call *call = data;
    sigjmp_buf jump;
    callback_jump = &jump;
    if (sigsetjmp(jump, 0) != 0)
        return 1; /* a fault in the tables: stop the walk (the lock is released) */
    guard_depth = 2;
    int rc = call->callback(info, size, call->data);
    guard_depth = 1;
    return rc;
}

EXPORT int dl_iterate_phdr(phdr_callback callback, void *data)
{
    if (!next_dl_iterate_phdr)
        next_dl_iterate_phdr = (dl_iterate_phdr_fn)dlsym(RTLD_NEXT, "dl_iterate_phdr");
    if (guard_depth != 1 || !next_dl_iterate_phdr)
        return next_dl_iterate_phdr ? next_dl_iterate_phdr(callback, data) : -1;
    struct guarded_call call = {callback, data};
    callback_faulted = 0;
    int rc = next_dl_iterate_phdr(guarded_callback, &call);
    guard_depth = 1;
    if (callback_faulted) {
        guard_depth = 0;
        siglongjmp(*unwind_jump, 1); /* out of the unwinder, the lock released */
    }
    return rc;
}

/* libunwind blocks every signal around its cache and module walks
 * (sigprocmask): a fault while SIGSEGV is blocked would kill the program
 * outright.  Inside a guarded unwind, faults stay deliverable.  Otherwise
 * this is glibc's sigprocmask (pthread_sigmask: the same function). */
static int set_mask(int how, const sigset_t *set, sigset_t *old)
{
    int rc = pthread_sigmask(how, set, old);
    if (rc == 0)
        return 0;
    errno = rc; /* sigprocmask's convention: -1 and errno (EINVAL for a bad `how`) */
    return -1;
}

EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    if (guard_depth == 0 || set == NULL || how == SIG_UNBLOCK)
        return set_mask(how, set, old);
    sigset_t without_faults = *set;
    sigdelset(&without_faults, SIGSEGV);
    sigdelset(&without_faults, SIGBUS);
    return set_mask(how, &without_faults, old);
}

/* ---- the program's own dispositions ---- */

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    int i = guarded_index(sig);
    if (i < 0 || !guard_installed)
        return __sigaction(sig, act, old);
    struct sigaction previous = program_action[i];
    if (act)
        program_action[i] = *act;
    if (old)
        *old = previous;
    return 0;
}

EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    act.sa_flags = SA_RESTART; /* glibc's signal(): BSD semantics */
    sigemptyset(&act.sa_mask);
    sigaddset(&act.sa_mask, sig);
    if (sigaction(sig, &act, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}

/* glibc's other ways to set a disposition call its sigaction internally,
 * past the one above: each is served here the way glibc does it, through
 * the sigaction above.  bsd_signal and ssignal are signal; sysv_signal
 * (signal() itself in a program built with a strict -std=c11, as
 * __sysv_signal) resets the disposition after one signal and does not
 * block it meanwhile; sigset(SIG_HOLD) blocks the signal, any other
 * disposition is set and unblocks it (SIG_HOLD returned when it was
 * blocked).  A raw rt_sigaction system call is beyond any interposition:
 * see the manual page. */
EXPORT sighandler_t bsd_signal(int sig, sighandler_t handler)
{
    return signal(sig, handler);
}

EXPORT sighandler_t ssignal(int sig, sighandler_t handler)
{
    return signal(sig, handler);
}

EXPORT sighandler_t sysv_signal(int sig, sighandler_t handler)
{
    if (handler == SIG_ERR || sig <= 0 || sig >= NSIG) {
        errno = EINVAL;
        return SIG_ERR;
    }
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    act.sa_flags = SA_RESETHAND | SA_NODEFER; /* glibc: SA_ONESHOT | SA_NOMASK | SA_INTERRUPT */
    sigemptyset(&act.sa_mask);
    if (sigaction(sig, &act, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}

EXPORT sighandler_t __sysv_signal(int sig, sighandler_t handler)
{
    return sysv_signal(sig, handler);
}

EXPORT sighandler_t sigset(int sig, sighandler_t disp)
{
    if (disp == SIG_ERR || sig <= 0 || sig >= NSIG) {
        errno = EINVAL;
        return SIG_ERR;
    }
    sigset_t set, was;
    sigemptyset(&set);
    sigaddset(&set, sig);
    struct sigaction act, old;
    if (disp == SIG_HOLD) {
        if (pthread_sigmask(SIG_BLOCK, &set, &was) != 0)
            return SIG_ERR;
        if (sigismember(&was, sig))
            return SIG_HOLD;
        if (sigaction(sig, NULL, &old) != 0)
            return SIG_ERR;
        return old.sa_handler;
    }
    memset(&act, 0, sizeof act);
    act.sa_handler = disp;
    sigemptyset(&act.sa_mask);
    if (sigaction(sig, &act, &old) != 0 || pthread_sigmask(SIG_UNBLOCK, &set, &was) != 0)
        return SIG_ERR;
    return sigismember(&was, sig) ? SIG_HOLD : old.sa_handler;
}
