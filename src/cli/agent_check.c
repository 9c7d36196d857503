/* memprof: will the agent load in the image a process just exec'd?  At the
 * PTRACE_EVENT_EXEC stop the kernel has built the new image: /proc/PID/exe
 * is the new program and /proc/PID/environ its environment, before the
 * loader ran.  The agent loads when the program is dynamically linked,
 * LD_PRELOAD names it and MEMPROF_RING_FD names the ring's descriptor,
 * still open, or MEMPROF_RING_PATH names memprof's (a process that closed
 * its descriptors, as daemons do). */
#define _GNU_SOURCE
#include "agent_check.h"
#include "supervise/launch.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ENVIRON (1 << 20)

/* The environment block of pid (NUL-separated), or NULL. */
static char *read_environ(pid_t pid, size_t *len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char *buf = malloc(MAX_ENVIRON + 1);
    *len = buf ? fread(buf, 1, MAX_ENVIRON, f) : 0;
    fclose(f);
    if (buf)
        buf[*len] = '\0';
    return buf;
}

static const char *env_value(const char *env, size_t len, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < len; i += strlen(env + i) + 1)
        if (strncmp(env + i, name, n) == 0 && env[i + n] == '=')
            return env + i + n + 1;
    return NULL;
}

/* LD_PRELOAD's list (colons or spaces) holds `agent`. */
static int preloads(const char *list, const char *agent)
{
    size_t n = strlen(agent);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ": ");
        if (len == n && strncmp(p, agent, n) == 0)
            return 1;
        p += len;
        p += strspn(p, ": ");
    }
    return 0;
}

int mp_agent_will_load(pid_t pid, const char *agent, int ring_fd, char *why, size_t whylen)
{
    char path[64], exe[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(why, whylen, "its program cannot be read");
        return 0;
    }
    exe[n] = '\0';
    char proc_exe[64];
    snprintf(proc_exe, sizeof proc_exe, "/proc/%d/exe", (int)pid);
    if (mp_exe_kind(proc_exe) == MP_EXE_STATIC) {
        snprintf(why, whylen, "it is statically linked");
        return 0;
    }
    size_t len;
    char *env = read_environ(pid, &len);
    if (!env) {
        snprintf(why, whylen, "its environment cannot be read");
        return 0;
    }
    const char *preload = env_value(env, len, "LD_PRELOAD"), *fd = env_value(env, len, "MEMPROF_RING_FD");
    /* a process that closed the descriptor finds the ring through memprof's /proc/PID/fd */
    int by_path = env_value(env, len, "MEMPROF_RING_PATH") != NULL;
    char want[32];
    snprintf(want, sizeof want, "%d", ring_fd);
    int ok = 0;
    if (!preload)
        snprintf(why, whylen, "its environment has no LD_PRELOAD (cleared, as env -i does)");
    else if (!preloads(preload, agent))
        snprintf(why, whylen, "its LD_PRELOAD was replaced and no longer names memprof's agent");
    else if ((!fd || strcmp(fd, want) != 0) && !by_path)
        snprintf(why, whylen, "its environment lost MEMPROF_RING_FD");
    else
        ok = 1;
    free(env);
    if (!ok)
        return 0;
    char fd_path[64], target[64];
    snprintf(fd_path, sizeof fd_path, "/proc/%d/fd/%d", (int)pid, ring_fd);
    ssize_t t = readlink(fd_path, target, sizeof target - 1);
    if (!by_path && (t <= 0 || (target[t] = '\0', strncmp(target, "/memfd:memprof-ring", 19) != 0))) {
        snprintf(why, whylen, "it closed memprof's event ring (descriptor %d)", ring_fd);
        return 0;
    }
    return 1;
}

int mp_agent_check_image(pid_t pid, const char *agent, int ring_fd, char *note, size_t notelen)
{
    char why[200];
    if (mp_agent_will_load(pid, agent, ring_fd, why, sizeof why))
        return 1;
    char exe[256] = "the program", link[64];
    snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(link, exe, sizeof exe - 1);
    if (n > 0)
        exe[n] = '\0';
    snprintf(note, notelen, "memprof's agent cannot load in %s: %s; the breakpoint engine recorded its heap instead",
             exe, why);
    return 0;
}
