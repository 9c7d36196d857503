/* memprof: /proc readers: VmHWM (exact peak RSS) and statm (current RSS). */
#define _GNU_SOURCE
#include "procfs.h"
#include "memprof/run.h"
#include <elf.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint64_t mp_proc_status_number(pid_t pid, const char *field)
{
    char path[64], buf[4096], key[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    snprintf(key, sizeof key, "\n%s:", field);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = strstr(buf, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

uint64_t mp_proc_vmhwm(pid_t pid)
{
    return mp_proc_status_number(pid, "VmHWM") * 1024;
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

enum mapping_class { MAP_HEAP, MAP_STACK, MAP_CODE, MAP_FILE_DATA, MAP_SHARED };

static enum mapping_class classify(const char *perms, const char *path, int behind_guard_page)
{
    if (strcmp(path, "[heap]") == 0)
        return MAP_HEAP;
    if (strcmp(path, "[stack]") == 0)
        return MAP_STACK;
    if (strcmp(path, "[vdso]") == 0 || strcmp(path, "[vsyscall]") == 0 || strcmp(path, "[vvar]") == 0)
        return MAP_CODE;
    if (perms[3] == 's' || strncmp(path, "/memfd:", 7) == 0 || strncmp(path, "/SYSV", 5) == 0 ||
        strncmp(path, "/dev/shm/", 9) == 0)
        return MAP_SHARED;
    if (path[0] == '/')
        return perms[2] == 'x' ? MAP_CODE : MAP_FILE_DATA;
    return behind_guard_page ? MAP_STACK : MAP_HEAP;
}

int mp_proc_rss_breakdown(pid_t pid, struct mp_rss_breakdown *out)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char line[4096], perms[8] = "", name[4096] = "";
    unsigned long start, end, prev_end = 0;
    int prev_was_guard = 0, behind_guard = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) == 3 && strchr(line, ' ')) {
            /* A mapping header: the path is the 6th field, possibly absent. */
            int fields = 0;
            const char *p = line;
            name[0] = '\0';
            while (*p && fields < 5) {
                while (*p && *p != ' ')
                    p++;
                while (*p == ' ')
                    p++;
                fields++;
            }
            snprintf(name, sizeof name, "%s", p);
            name[strcspn(name, "\n")] = '\0';
            behind_guard = prev_was_guard && prev_end == start;
            prev_was_guard = strcmp(perms, "---p") == 0 && end - start == 4096;
            prev_end = end;
            continue;
        }
        if (sscanf(line, "Rss: %llu kB", &kb) == 1) {
            uint64_t bytes = kb * 1024;
            out->total += bytes;
            switch (classify(perms, name, behind_guard)) {
            case MAP_HEAP: out->heap += bytes; break;
            case MAP_STACK: out->stacks += bytes; break;
            case MAP_CODE: out->code += bytes; break;
            case MAP_FILE_DATA: out->file_data += bytes; break;
            case MAP_SHARED: out->shared += bytes; break;
            }
        }
    }
    fclose(f);
    out->valid = 1;
    return 0;
}

int mp_proc_auxv(pid_t pid, unsigned long type, uint64_t *value)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/auxv", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    Elf64_auxv_t aux[128];
    ssize_t n = read(fd, aux, sizeof aux);
    close(fd);
    for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof *aux; i++) {
        if (aux[i].a_type == type) {
            *value = aux[i].a_un.a_val;
            return 0;
        }
        if (aux[i].a_type == AT_NULL)
            break;
    }
    return -1;
}

char *mp_proc_read(pid_t pid, const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap);
    ssize_t got;
    while (buf && (got = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)got;
        if (cap - len < 4096) {
            char *g = realloc(buf, cap * 2);
            if (!g) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = g;
            cap *= 2;
        }
    }
    close(fd);
    if (buf)
        buf[len] = '\0';
    return buf;
}

int mp_proc_mapped_file(pid_t pid, uint64_t addr, char *path, size_t len)
{
    char name[64], line[4096 + 128];
    snprintf(name, sizeof name, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(name, "re");
    if (!f)
        return -1;
    int rc = -1;
    while (rc != 0 && fgets(line, sizeof line, f)) {
        unsigned long long lo, hi;
        int file_at = 0;
        if (sscanf(line, "%llx-%llx %*s %*s %*s %*s %n", &lo, &hi, &file_at) < 2 || !file_at)
            continue;
        if (addr < lo || addr >= hi || line[file_at] != '/')
            continue;
        line[strcspn(line, "\n")] = '\0';
        snprintf(path, len, "%s", line + file_at);
        rc = 0;
    }
    fclose(f);
    return rc;
}
