/* memprof: whether the agent can load in a freshly exec'd image. */
#ifndef MEMPROF_AGENT_CHECK_H
#define MEMPROF_AGENT_CHECK_H

#include <stddef.h>
#include <sys/types.h>

/* pid is stopped at PTRACE_EVENT_EXEC.  1 when the agent (path `agent`)
 * will load and reach the ring (descriptor ring_fd); else 0 and why (a
 * phrase: "its environment has no LD_PRELOAD ..."). */
int mp_agent_will_load(pid_t pid, const char *agent, int ring_fd, char *why, size_t whylen);

/* The same, with the sentence for the report's notes when it will not:
 * "memprof's agent cannot load in EXE: WHY; the breakpoint engine recorded
 * its heap instead". */
int mp_agent_check_image(pid_t pid, const char *agent, int ring_fd, char *note, size_t notelen);

#endif
