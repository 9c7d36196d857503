/* memprof agent: leaving nothing of memprof's in programs it does not
 * profile.
 *
 * A process memprof does not follow (--no-follow, a process it let go, or
 * no memprof at all any more) must not hand LD_PRELOAD's agent entry,
 * MEMPROF_RING_FD, MEMPROF_RING_PATH or the ring's descriptor to what it
 * runs (daemons keep them for good).  So its agent takes them out of its
 * environment (here) and, in agent_init.c, closes the descriptor (a forked
 * child also unmaps the ring); a profiled process whose children memprof
 * does not follow marks the descriptor close-on-exec (its own execve is
 * still followed: the next image finds the ring through MEMPROF_RING_PATH).
 *
 * The environment is edited in place, without setenv/unsetenv (their lock
 * may be held by a thread that no longer exists after fork, and they
 * allocate): only before main (the constructor) or in a forked child. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>

#include "agent_internal.h"

extern char **environ;

/* LD_PRELOAD without the agent's own entry (static: environ points at it). */
static char preload_rest[4096];

static int is_entry(const char *entry, const char *name)
{
    size_t n = strlen(name);
    return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

/* The LD_PRELOAD entry with every word naming this library taken out (the
 * loader splits on spaces and colons); NULL when nothing is left. */
static const char *preload_without_agent(const char *entry)
{
    Dl_info self;
    if (!dladdr((void *)&preload_without_agent, &self) || !self.dli_fname)
        return entry;
    const char *agent_base = strrchr(self.dli_fname, '/');
    agent_base = agent_base ? agent_base + 1 : self.dli_fname;
    size_t out = 0;
    int kept = 0;
    memcpy(preload_rest, "LD_PRELOAD=", 11);
    out = 11;
    for (const char *p = entry + 11; *p;) {
        size_t len = strcspn(p, ": ");
        const char *base = memrchr(p, '/', len);
        base = base ? base + 1 : p;
        size_t base_len = len - (size_t)(base - p);
        int ours = (len == strlen(self.dli_fname) && strncmp(p, self.dli_fname, len) == 0) ||
                   (base_len == strlen(agent_base) && strncmp(base, agent_base, base_len) == 0);
        if (!ours && len > 0) {
            if (out + len + 2 >= sizeof preload_rest)
                return entry; /* too long to rewrite: left as it was */
            if (kept++)
                preload_rest[out++] = ':';
            memcpy(preload_rest + out, p, len);
            out += len;
        }
        p += len;
        if (*p)
            p++;
    }
    preload_rest[out] = '\0';
    return kept ? preload_rest : NULL;
}

void agent_scrub_environment(void)
{
    if (environ == NULL)
        return;
    size_t o = 0;
    for (size_t i = 0; environ[i]; i++) {
        char *e = environ[i];
        if (is_entry(e, MP_RING_ENV_FD) || is_entry(e, MP_RING_ENV_PATH))
            continue;
        if (is_entry(e, "LD_PRELOAD")) {
            const char *rest = preload_without_agent(e);
            if (!rest)
                continue;
            e = (char *)rest;
        }
        environ[o++] = e;
    }
    environ[o] = NULL;
}
