/* memprof: reading a process's memory figures from /proc. */
#ifndef MEMPROF_PROCFS_H
#define MEMPROF_PROCFS_H

#include <stdint.h>
#include <sys/types.h>

/* The number after "FIELD:" in /proc/PID/status (kB figures stay in kB),
 * 0 if unavailable. */
uint64_t mp_proc_status_number(pid_t pid, const char *field);
/* Entry `type` (AT_ENTRY, AT_BASE, ...) of /proc/PID/auxv: 0, or -1 when
 * unreadable or absent. */
int mp_proc_auxv(pid_t pid, unsigned long type, uint64_t *value);
/* The whole of /proc/PID/NAME ("maps") as a NUL-terminated string to
 * free(), or NULL. */
char *mp_proc_read(pid_t pid, const char *name);
/* Peak resident set size (VmHWM) in bytes, 0 if unavailable. */
uint64_t mp_proc_vmhwm(pid_t pid);
/* The path of the file mapped at `addr` in pid (from /proc/PID/maps, with
 * " (deleted)" left on).  0, or -1 when no file is mapped there. */
int mp_proc_mapped_file(pid_t pid, uint64_t addr, char *path, size_t len);

/* A /proc/PID/statm reader kept open: pread is about 1 us. */
struct mp_statm { int fd; long page_size; };
int mp_statm_open(struct mp_statm *s, pid_t pid);
uint64_t mp_statm_rss(struct mp_statm *s); /* bytes, 0 on error */
void mp_statm_close(struct mp_statm *s);

struct mp_rss_breakdown;
/* Classifies the resident memory of pid by mapping (reads /proc/PID/smaps,
 * milliseconds on big processes: call once).  0, or -1 if unreadable. */
int mp_proc_rss_breakdown(pid_t pid, struct mp_rss_breakdown *out);

#endif
