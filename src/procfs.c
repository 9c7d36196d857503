/* memprof: /proc readers: VmHWM (exact peak RSS) and statm (current RSS). */
#define _GNU_SOURCE
#include "procfs.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint64_t mp_proc_vmhwm(pid_t pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = strstr(buf, "\nVmHWM:");
    if (!p)
        return 0;
    return strtoull(p + 7, NULL, 10) * 1024;
}

int mp_statm_open(struct mp_statm *s, pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    s->page_size = sysconf(_SC_PAGESIZE);
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    return s->fd < 0 ? -1 : 0;
}

uint64_t mp_statm_rss(struct mp_statm *s)
{
    char buf[128];
    if (s->fd < 0)
        return 0;
    ssize_t n = pread(s->fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end;
    strtoull(buf, &end, 10); /* size */
    return strtoull(end, NULL, 10) * (uint64_t)s->page_size;
}

void mp_statm_close(struct mp_statm *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}
