/* scripts/bench-maxrss.c: the peak resident memory of each process of a
 * command, for scripts/bench (GNU time's maximum RSS is the largest of a
 * process and its children, so it cannot tell memprof from the program it
 * runs, nor heaptrack's interpreter from the program).
 *
 * usage: bench-maxrss [--follow] OUT COMMAND [ARGS...]
 *
 * Runs COMMAND under ptrace and, when each traced process exits, appends
 * "NAME PEAK_KIB" to OUT: its command name (/proc/PID/comm) and VmHWM, read
 * at PTRACE_EVENT_EXIT while its memory still exists.  Without --follow only
 * COMMAND's own process is traced (so it may trace its children itself, as
 * memprof does); with --follow every process it starts is traced too.
 * Signals are passed on; job control stops are not.  Exits with COMMAND's
 * status.
 *
 * Build: gcc -O2 -o bench-maxrss bench-maxrss.c */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

static void record(FILE *out, pid_t pid)
{
    char path[64], name[64] = "?", line[256];
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(name, sizeof name, f))
            name[strcspn(name, "\n")] = '\0';
        fclose(f);
    }
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    long hwm = -1;
    int is_leader = 0;
    f = fopen(path, "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            int tgid;
            if (sscanf(line, "VmHWM: %ld", &hwm) == 1)
                continue;
            if (sscanf(line, "Tgid: %d", &tgid) == 1)
                is_leader = tgid == pid;
        }
        fclose(f);
    }
    if (is_leader && hwm >= 0) {
        fprintf(out, "%s %ld\n", name, hwm);
        fflush(out);
    }
}

int main(int argc, char **argv)
{
    int follow = 0, i = 1;
    if (i < argc && strcmp(argv[i], "--follow") == 0) {
        follow = 1;
        i++;
    }
    if (argc - i < 2) {
        fprintf(stderr, "usage: bench-maxrss [--follow] OUT COMMAND [ARGS...]\n");
        return 2;
    }
    FILE *out = fopen(argv[i], "a");
    if (!out) {
        perror(argv[i]);
        return 2;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 2;
    }
    if (child == 0) {
        raise(SIGSTOP);     /* wait to be seized */
        execvp(argv[i + 1], argv + i + 1);
        fprintf(stderr, "bench-maxrss: %s: %s\n", argv[i + 1], strerror(errno));
        _exit(127);
    }
    int status;
    if (waitpid(child, &status, WSTOPPED) != child || !WIFSTOPPED(status))
        return 2;
    long options = PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL;
    if (follow)
        options |= PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE;
    if (ptrace(PTRACE_SEIZE, child, 0, options) != 0) {
        perror("ptrace(PTRACE_SEIZE)");
        kill(child, SIGKILL);
        return 2;
    }
    kill(child, SIGCONT);
    int exit_status = 1;
    for (;;) {
        pid_t pid = waitpid(-1, &status, __WALL);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;      /* no traced process left */
        }
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (pid == child) {
                exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                if (!follow)
                    break;
            }
            continue;
        }
        if (!WIFSTOPPED(status))
            continue;
        int event = (unsigned)status >> 16;
        if (event == PTRACE_EVENT_EXIT)
            record(out, pid);
        /* A signal for it is delivered; any other stop (an event, a new
         * child's first stop, a group-stop: job control is not honoured)
         * just goes on. */
        ptrace(PTRACE_CONT, pid, 0, event == 0 ? WSTOPSIG(status) : 0);
    }
    fclose(out);
    return exit_status;
}
