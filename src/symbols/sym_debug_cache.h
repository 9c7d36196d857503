/* memprof symbolizer: separate debug files with compressed DWARF, inflated
 * once.  Debian's -dbg and -dbgsym packages ship their DWARF compressed
 * (SHF_COMPRESSED); libdw inflates every debug section of a file when it
 * opens it (libc6-dbg: 4 MB on disk, 40-60 ms of zlib at every run).  The
 * first run writes an inflated copy into memprof's cache directory
 * ($XDG_CACHE_HOME/memprof/debug, else ~/.cache/memprof/debug); later runs
 * map that copy.  MEMPROF_DEBUG_CACHE=0 turns it off; a directory that
 * cannot be written or is not the user's alone, or any failure, means the
 * original file is read as before. */
#ifndef MEMPROF_SYM_DEBUG_CACHE_H
#define MEMPROF_SYM_DEBUG_CACHE_H

#include <elfutils/libdwfl.h>

/* A Dwfl_Callbacks.find_debuginfo: dwfl_standard_find_debuginfo's file, or
 * its inflated copy from the cache. */
int sym_debug_cache_find(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                         const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
                         char **debuginfo_file_name);

/* The inflated copy of the debug file open at fd, made now if missing:
 * an fd and *cached_path (malloc'd), or -1 when the file has no compressed
 * debug section or no build-id, is not the one with build_id (when given),
 * is too big, or the cache cannot be used safely (sym_cache_dir.h).
 * label: the module's file name (the copy is named after it, and replaces
 * older copies made for it). */
int sym_debug_cache_open(int fd, const char *label, const unsigned char *build_id, int id_len, char **cached_path);

/* How many times a compressed debug file was read without a cache because
 * a directory of the cache is not private (group- or other-writable, or
 * another user's), and *note: the last such time, as a one-line note for
 * the report naming the directory and the fix (chmod 700 DIR, or
 * MEMPROF_DEBUG_CACHE=0 to silence it).  Per thread: a caller compares
 * the count before and after libdwfl reads a module's debug file. */
unsigned sym_debug_cache_refusals(const char **note);

#endif
