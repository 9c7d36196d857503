/* memprof: PC -> function, file, line (with inline chains) through elfutils libdwfl.
 *
 * Each distinct PC is resolved once and cached.  Modules come from
 * /proc/PID/maps (refreshed on a miss, so dlopen'd libraries are found), separate
 * debug files by build-id and .gnu_debuglink, the vdso from process memory.
 * CUs are found through the library's own CU range map when .debug_aranges is
 * missing (clang).  Without debug info a frame gets the ELF symbol name or
 * module+offset, and one warning per module is queued. */
#ifndef MEMPROF_SYMBOLIZER_H
#define MEMPROF_SYMBOLIZER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "memprof/frame.h"

struct mp_symbolizer;

/* Open for a live process (the supervisor's target).  NULL on failure with
 * a message in errbuf. */
struct mp_symbolizer *mp_symbolizer_open(pid_t pid, char *errbuf, size_t errlen);
/* The same for a process that may end before its stacks are resolved:
 * when /proc/PID/maps can no longer be read, saved(ctx) is asked for what
 * it said while the process still existed (NULL: not known), and modules
 * are reported from that.  The text is copied. */
struct mp_symbolizer *mp_symbolizer_open_saved(pid_t pid, const char *(*saved)(void *ctx), void *ctx,
                                               char *errbuf, size_t errlen);
/* Frames resolved by any symbolizer sharing `cache` (sym_shared.h: the
 * symbolizers of one process tree) are not resolved again by this one. */
struct mp_sym_cache;
void mp_symbolizer_share(struct mp_symbolizer *s, struct mp_sym_cache *cache);

/* Forget all modules and cached PCs (after execve the address space is new). */
void mp_symbolizer_reset(struct mp_symbolizer *s);

/* Matches mp_resolve_fn (ctx is the symbolizer). */
int mp_symbolizer_resolve(void *s, uint64_t pc, int is_return_address,
                          struct mp_frame_info *out, int max);

/* A range of the target's addresses. */
struct mp_code_range {
    uint64_t lo, hi; /* [lo, hi) */
};

/* The target's modules changed (dlclose; MP_EV_MODMAP, in event order):
 * read its map again; every module gone since the last time (unmapped, or
 * replaced by another file at its addresses) has its cached PCs dropped and
 * is passed to gone (may be NULL).  Returns how many. */
size_t mp_symbolizer_modules_changed(struct mp_symbolizer *s, void (*gone)(void *ctx, uint64_t lo, uint64_t hi),
                                     void *ctx);

/* The debug information (libdw's Dwarf) of the module mapped at `addr`, for
 * readers of more than lines (CPython's struct layouts), or NULL; *path (if
 * path) its file name.  Valid until reset or close.  Sharing it means its
 * compressed sections are decompressed once. */
typedef struct Dwarf Dwarf;
Dwarf *mp_symbolizer_dwarf(struct mp_symbolizer *s, uint64_t addr, const char **path);

/* Warnings gathered so far (one per module without debug info, ...), each a
 * full sentence without newline.  Valid until close. */
size_t mp_symbolizer_warnings(struct mp_symbolizer *s, const char *const **out);

void mp_symbolizer_close(struct mp_symbolizer *s);

#endif
