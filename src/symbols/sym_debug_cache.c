/* memprof symbolizer: inflated copies of compressed debug files (see
 * sym_debug_cache.h).  The copies live in memprof's private cache
 * directory (sym_cache_dir.c: owned by the user, no symlinks), and every
 * file operation is relative to its descriptor.  A copy is named after
 * the module it serves (its file name, a hash of its path) and a hash of
 * what identifies the debug file's contents (device, inode, size, change
 * times): "libc.so.6-<path hash>-<contents hash>".  It is written under a
 * temporary name, checked, fsync'd and renamed (then the directory
 * fsync'd), and the older copies for the same module are removed.  At
 * every use it must be a regular file of ours (looked at before it is
 * opened, opened without blocking: a FIFO cannot hang us), an ELF file
 * whose sections lie within it, none compressed, with the original's
 * build-id.  A fresh copy that fails that check leaves a ".bad" marker in
 * its place, so the work is not redone at every run.  Files over
 * COPY_MAX_BYTES inflated, or over a quarter of the free space, are not
 * copied; nor, for root, files owned by another user. */
#define _GNU_SOURCE
#include "sym_debug_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <elfutils/libdwelf.h>
#include <gelf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "sym_cache_dir.h"

#define NAME_MAX_KEPT 96
#define NAME_SIZE 160 /* NAME_MAX_KEPT, two hashes */
#define BUILD_ID_MAX 64
#define COPY_MAX_BYTES (256ull << 20) /* inflated in memprof's memory before it is written */
#define STALE_TMP_SECONDS 3600

/* What the original debug file tells before anything is written. */
struct original {
    unsigned char id[BUILD_ID_MAX];
    int id_len;
    uint64_t inflated; /* bytes of the copy, near enough: every section inflated */
};

static int cache_enabled(void)
{
    const char *v = getenv("MEMPROF_DEBUG_CACHE");
    return !v || !(strcmp(v, "0") == 0 || strcmp(v, "off") == 0 || strcmp(v, "no") == 0);
}

/* Does the file have a compressed DWARF section, a build-id, and nothing
 * that ties it to its directory (a .gnu_debugaltlink may name its dwz file
 * relatively)?  Fills *o. */
static int worth_inflating(Elf *elf, struct original *o)
{
    size_t shstrndx;
    if (elf_kind(elf) != ELF_K_ELF || elf_getshdrstrndx(elf, &shstrndx) != 0)
        return 0;
    int compressed = 0;
    o->inflated = 0;
    for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn)) != NULL;) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) == NULL)
            return 0;
        const char *name = elf_strptr(elf, shstrndx, shdr.sh_name);
        if (name == NULL)
            return 0;
        if (strcmp(name, ".gnu_debugaltlink") == 0 || strncmp(name, ".zdebug", 7) == 0)
            return 0;
        uint64_t size = shdr.sh_type == SHT_NOBITS ? 0 : shdr.sh_size;
        if (shdr.sh_flags & SHF_COMPRESSED) {
            GElf_Chdr chdr;
            if (gelf_getchdr(scn, &chdr) == NULL)
                return 0;
            size = chdr.ch_size; /* what the header claims: the cap below bounds it */
            if (strncmp(name, ".debug_", 7) == 0)
                compressed = 1;
        }
        if (size > COPY_MAX_BYTES || o->inflated + size > COPY_MAX_BYTES)
            return 0;
        o->inflated += size;
    }
    const void *id = NULL;
    o->id_len = (int)dwelf_elf_gnu_build_id(elf, &id);
    if (o->id_len <= 0 || o->id_len > BUILD_ID_MAX)
        return 0;
    memcpy(o->id, id, (size_t)o->id_len);
    return compressed;
}

/* Is the copy at fd whole and the original's: an ELF file whose section
 * table and sections lie within it, none of them compressed, with the
 * original's build-id? */
static int copy_is_whole(int fd, const struct original *o)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid())
        return 0;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (elf == NULL)
        return 0;
    int whole = elf_kind(elf) == ELF_K_ELF;
    GElf_Ehdr ehdr;
    size_t shnum = 0;
    if (whole && (gelf_getehdr(elf, &ehdr) == NULL || elf_getshdrnum(elf, &shnum) != 0 ||
                  ehdr.e_shoff + (uint64_t)shnum * ehdr.e_shentsize > (uint64_t)st.st_size))
        whole = 0;
    for (Elf_Scn *scn = NULL; whole && (scn = elf_nextscn(elf, scn)) != NULL;) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) == NULL || (shdr.sh_flags & SHF_COMPRESSED) ||
            (shdr.sh_type != SHT_NOBITS && (shdr.sh_offset > (uint64_t)st.st_size ||
                                            shdr.sh_size > (uint64_t)st.st_size - shdr.sh_offset)))
            whole = 0;
    }
    const void *id = NULL;
    whole = whole && dwelf_elf_gnu_build_id(elf, &id) == o->id_len && memcmp(id, o->id, (size_t)o->id_len) == 0;
    elf_end(elf);
    return whole;
}

static uint64_t fnv1a(const void *data, size_t len, uint64_t h)
{
    const unsigned char *b = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* The module's part of a copy's name, "libc.so.6-<path hash>-" (copies of
 * the same module share it), into prefix; then the whole name into name. */
static int copy_names(const char *label, const struct stat *st, char *prefix, size_t prefix_size, char *name,
                      size_t name_size)
{
    const uint64_t parts[] = { st->st_dev, st->st_ino, (uint64_t)st->st_size, (uint64_t)st->st_mtim.tv_sec,
                               (uint64_t)st->st_mtim.tv_nsec, (uint64_t)st->st_ctim.tv_sec,
                               (uint64_t)st->st_ctim.tv_nsec };
    const uint64_t basis = 1469598103934665603ull;
    const char *slash = strrchr(label, '/');
    const char *base = slash ? slash + 1 : label;
    int n = snprintf(prefix, prefix_size, "%.*s-%08llx-", NAME_MAX_KEPT, base[0] && base[0] != '.' ? base : "debug",
                     (unsigned long long)(fnv1a(label, strlen(label), basis) & 0xffffffffull));
    if (n < 0 || (size_t)n >= prefix_size)
        return -1;
    n = snprintf(name, name_size, "%s%016llx", prefix, (unsigned long long)fnv1a(parts, sizeof parts, basis));
    return n < 0 || (size_t)n >= name_size ? -1 : 0;
}

/* Copies fd's bytes into out. */
static int copy_bytes(int fd, int out)
{
    char buf[1 << 16];
    for (off_t at = 0;;) {
        ssize_t n = pread(fd, buf, sizeof buf, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? 0 : -1;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return -1;
            done += w;
        }
        at += n;
    }
}

/* Is `name` in the directory a regular file of ours (not followed)? */
static int ours_at(int dir, const char *name, struct stat *st)
{
    return fstatat(dir, name, st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st->st_mode) && st->st_uid == geteuid();
}

/* Opens the copy `name`: its fd; -1 when there is none, -2 when something
 * that is not a regular file of ours is there (left alone), -3 when ours
 * is not whole or not the original's. */
static int open_copy(int dir, const char *name, const struct original *o)
{
    struct stat st;
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? -1 : -2;
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
        return -2;
    /* O_NONBLOCK: should a FIFO take its place since, the open does not wait */
    int fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? -1 : -2;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        close(fd);
        return -2;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 || !copy_is_whole(fd, o)) {
        close(fd);
        return -3;
    }
    return fd;
}

/* Removes what older runs left for the same module: copies of older
 * versions of its debug file, their markers, and temporary files over an
 * hour old (a run that died while writing).  Only regular files of ours. */
static void remove_older(int dir, const char *prefix, const char *keep)
{
    int fd = dup(dir);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    size_t plen = strlen(prefix);
    time_t now = time(NULL);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        struct stat st;
        if (strncmp(e->d_name, prefix, plen) != 0 || strcmp(e->d_name, keep) == 0 || !ours_at(dir, e->d_name, &st))
            continue;
        if (strstr(e->d_name + plen, ".tmp.") && now - st.st_mtime < STALE_TMP_SECONDS)
            continue; /* perhaps being written by another run now */
        unlinkat(dir, e->d_name, 0);
    }
    closedir(d);
}

/* Leaves the marker of a copy that was made and failed its check. */
static void mark_bad(int dir, const char *name)
{
    char marker[NAME_SIZE + 8];
    snprintf(marker, sizeof marker, "%s.bad", name);
    int fd = openat(dir, marker, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
}

static int has_marker(int dir, const char *name)
{
    char marker[NAME_SIZE + 8];
    struct stat st;
    snprintf(marker, sizeof marker, "%s.bad", name);
    return fstatat(dir, marker, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Is there room for the copy: a quarter of the free space at most? */
static int has_room(int dir, uint64_t bytes)
{
    struct statvfs vfs;
    return fstatvfs(dir, &vfs) == 0 && bytes <= (uint64_t)vfs.f_bavail * vfs.f_frsize / 4;
}

/* Writes the inflated copy of fd as `name` in dir: under a temporary name,
 * inflated in place, checked, fsync'd, renamed, the directory fsync'd.  A
 * copy that fails the check is marked bad instead. */
static int write_copy(int fd, int dir, const char *name, const struct original *o)
{
    char tmp[NAME_SIZE + 48];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d.%lx", name, (int)getpid(), (unsigned long)ts.tv_nsec);
    int out = openat(dir, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0)
        return -1;
    int ok = copy_bytes(fd, out) == 0;
    Elf *elf = ok ? elf_begin(out, ELF_C_RDWR, NULL) : NULL;
    ok = elf != NULL;
    for (Elf_Scn *scn = NULL; ok && (scn = elf_nextscn(elf, scn)) != NULL;) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) == NULL)
            ok = 0;
        else if ((shdr.sh_flags & SHF_COMPRESSED) && elf_compress(scn, 0, 0) < 0)
            ok = 0;
    }
    ok = ok && elf_update(elf, ELF_C_WRITE) >= 0;
    if (elf)
        elf_end(elf);
    int not_right = ok && !copy_is_whole(out, o);
    ok = ok && !not_right && fsync(out) == 0;
    ok = close(out) == 0 && ok;
    ok = ok && renameat(dir, tmp, dir, name) == 0;
    if (!ok) {
        unlinkat(dir, tmp, 0);
        if (not_right) /* made but not right: do not make it again at every run (a failed
                          fsync or rename may pass: tried again next run) */
            mark_bad(dir, name);
        return -1;
    }
    fsync(dir);
    return 0;
}

/* The last time a compressed debug file was read without a cache because
 * a directory was not private: what the report's notes say about it.  Per
 * thread: the count is compared around libdwfl's call in the thread that
 * made it (memprof resolves frames in its ring reader's thread). */
static _Thread_local char refusal_note[2 * 4096 + 512];
static _Thread_local unsigned refusals;

static void note_refusal(const struct sym_cache_refusal *why)
{
    if (why->owner != geteuid())
        snprintf(refusal_note, sizeof refusal_note,
                 "memprof keeps no debug cache: %s belongs to user %u, not to you, so compressed debug "
                 "information is inflated at every run (set XDG_CACHE_HOME to a directory of yours, or "
                 "MEMPROF_DEBUG_CACHE=0 to silence this)", why->dir, (unsigned)why->owner);
    else
        snprintf(refusal_note, sizeof refusal_note,
                 "memprof keeps no debug cache: %s is writable by its group or others, so compressed debug "
                 "information is inflated at every run (chmod 700 %s, or MEMPROF_DEBUG_CACHE=0 to silence this)",
                 why->dir, why->dir);
    refusals++;
}

unsigned sym_debug_cache_refusals(const char **note)
{
    *note = refusal_note;
    return refusals;
}

int sym_debug_cache_open(int fd, const char *label, const unsigned char *build_id, int id_len, char **cached_path)
{
    struct stat st;
    if (!cache_enabled() || label == NULL || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    if (st.st_uid != geteuid() && st.st_uid != 0) /* root does not copy what another user made */
        return -1;
    elf_version(EV_CURRENT);
    struct original o;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    int worth = elf && worth_inflating(elf, &o);
    if (elf)
        elf_end(elf);
    /* the file must be the module's (a stale link in .build-id is not) */
    if (!worth || (build_id && (id_len != o.id_len || memcmp(build_id, o.id, (size_t)id_len) != 0)))
        return -1;
    char prefix[NAME_SIZE], name[NAME_SIZE];
    if (copy_names(label, &st, prefix, sizeof prefix, name, sizeof name) != 0)
        return -1;
    char *dir_path = NULL;
    struct sym_cache_refusal why;
    int dir = sym_cache_dir_open("debug", &dir_path, &why);
    if (dir < 0) {
        if (why.dir[0])
            note_refusal(&why);
        return -1;
    }
    int cached = has_marker(dir, name) ? -2 : open_copy(dir, name, &o);
    if (cached == -3 && unlinkat(dir, name, 0) == 0) /* ours and damaged: made again */
        cached = -1;
    if (cached == -1 && has_room(dir, o.inflated + (uint64_t)st.st_size) && write_copy(fd, dir, name, &o) == 0) {
        remove_older(dir, prefix, name);
        cached = open_copy(dir, name, &o);
    }
    close(dir);
    if (cached < 0 || asprintf(cached_path, "%s/%s", dir_path, name) < 0) {
        if (cached >= 0)
            close(cached);
        free(dir_path);
        return -1;
    }
    free(dir_path);
    return cached;
}

/* libdwfl's standard search looks in /usr/lib/debug/.build-id first and
 * opens what it finds there itself (a descriptor returned afterwards would
 * not be read): so that place is looked at here first, as libdwfl would
 * with the default search path, and its file replaced by its copy. */
static int find_by_build_id(Dwfl_Module *mod, const char *label, char **debuginfo_file_name)
{
    const unsigned char *id;
    GElf_Addr vaddr;
    int len = dwfl_module_build_id(mod, &id, &vaddr);
    if (len < 2 || len > BUILD_ID_MAX)
        return -1;
    char path[64 + 2 * BUILD_ID_MAX + 16];
    int at = snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%02x/", id[0]);
    for (int i = 1; i < len; i++)
        at += snprintf(path + at, sizeof path - (size_t)at, "%02x", id[i]);
    snprintf(path + at, sizeof path - (size_t)at, ".debug");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -1;
    char *cached_path = NULL;
    int cached = sym_debug_cache_open(fd, label ? label : path, id, len, &cached_path);
    close(fd);
    if (cached < 0)
        return -1;
    free(*debuginfo_file_name);
    *debuginfo_file_name = cached_path;
    return cached;
}

int sym_debug_cache_find(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                         const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
                         char **debuginfo_file_name)
{
    int cached = cache_enabled() ? find_by_build_id(mod, file_name, debuginfo_file_name) : -1;
    if (cached >= 0)
        return cached;
    int fd = dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file, debuglink_crc,
                                          debuginfo_file_name);
    if (fd < 0)
        return fd;
    const unsigned char *id = NULL;
    GElf_Addr vaddr;
    int len = dwfl_module_build_id(mod, &id, &vaddr);
    char *cached_path = NULL;
    cached = sym_debug_cache_open(fd, file_name ? file_name : *debuginfo_file_name, len > 0 ? id : NULL,
                                  len > 0 ? len : 0, &cached_path);
    if (cached < 0)
        return fd;
    close(fd);
    free(*debuginfo_file_name);
    *debuginfo_file_name = cached_path;
    return cached;
}
