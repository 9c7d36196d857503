/* memprof: nothing of memprof's for a program it lets go at its exec.
 *
 * A setuid or setgid program (or one --no-follow-exec names) runs on
 * unprofiled.  The agent's hygiene (agent_hygiene.c) cannot clean up after
 * memprof there: the loader does not preload it into a setuid program
 * (AT_SECURE).  So while the process is stopped at its exec, memprof
 * closes in it every descriptor that is the ring's memfd (the same device
 * and inode as memprof's own: a descriptor the program reused for a file
 * of its own is left alone), with a close() run through the stopped
 * thread, the only one left after an exec (at the program's entry, the
 * loader's first bytes, put back at once). */
#define _GNU_SOURCE
#include "session.h"
#include "capture/breakpoint/inject.h"
#include "events/ring_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <unistd.h>

int mp_session_close_ring_in(struct mp_session *s, pid_t pid)
{
    struct stat ring;
    if (fstat(mp_ring_reader_fd(s->ring), &ring) != 0)
        return -1;
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int mem = -1, failed = 0;
    struct user_regs_struct regs;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0')
            continue;
        char path[96];
        struct stat st;
        snprintf(path, sizeof path, "%s/%ld", dir, fd);
        if (stat(path, &st) != 0 || st.st_dev != ring.st_dev || st.st_ino != ring.st_ino)
            continue;
        if (mem < 0) { /* the scratch bytes: where the thread stands, the program's entry */
            char mem_path[64];
            snprintf(mem_path, sizeof mem_path, "/proc/%d/mem", (int)pid);
            if (ptrace(PTRACE_GETREGS, pid, 0, &regs) != 0 || (mem = open(mem_path, O_RDWR | O_CLOEXEC)) < 0) {
                failed = 1;
                break;
            }
        }
        const uint64_t args[6] = {(uint64_t)fd};
        int64_t ret;
        if (mp_inject_syscall_at_exec(pid, mem, regs.rip, SYS_close, args, &ret) != 0 || ret != 0)
            failed = 1;
    }
    closedir(d);
    if (mem >= 0)
        close(mem);
    return failed ? -1 : 0;
}
